from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:
    """Queued imports keep their file: never in the project's media/ directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
