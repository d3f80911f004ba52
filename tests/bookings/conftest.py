from __future__ import annotations

import pytest

from tests.factories import OperatorFactory, SessionFactory, StudentFactory


@pytest.fixture
def operator(db):
    return OperatorFactory()


@pytest.fixture
def student(db):
    return StudentFactory()


@pytest.fixture
def session(db):
    return SessionFactory(capacity=5)
