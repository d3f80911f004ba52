"""The contract: /api/v1/schema/ is what docs/openapi.yaml says, complete, and the docs page works
without the internet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
REGENERATE = "make openapi (or: python manage.py spectacular --file docs/openapi.yaml --validate --fail-on-warn)"

# DESIGN.md, "API": the student paths front ends rely on (the others are still to come).
STUDENT_PATHS = {
    "/api/v1/auth/otp/": {"post"},
    "/api/v1/auth/token/": {"post"},
    "/api/v1/auth/token/refresh/": {"post"},
    "/api/v1/auth/logout/": {"post"},
    "/api/v1/me/": {"get", "patch"},
    "/api/v1/products/": {"get"},
    "/api/v1/sessions/": {"get"},
    "/api/v1/bookings/": {"get", "post"},
    "/api/v1/bookings/{reference}/": {"get"},
    "/api/v1/bookings/{reference}/cancel/": {"post"},
    "/api/v1/bookings/{reference}/reschedule/": {"post"},
    "/api/v1/bookings/{reference}/history/": {"get"},
    "/api/v1/bookings/{reference}/pay/": {"get"},
}
AUTH_PATHS = {p for p in STUDENT_PATHS if p.startswith("/api/v1/auth/")}


def generated() -> str:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return OpenApiYamlRenderer().render(schema, renderer_context={}).decode()


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load(generated())


def test_the_committed_schema_is_what_the_code_generates():
    assert COMMITTED.read_text() == generated(), f"docs/openapi.yaml is out of date: run {REGENERATE}"


@pytest.mark.django_db
def test_the_schema_is_served_to_anyone(anonymous):
    response = anonymous.get("/api/v1/schema/")

    assert response.status_code == 200
    assert yaml.safe_load(response.content)["paths"].keys() >= STUDENT_PATHS.keys()


def test_every_path_of_the_design_is_there(schema):
    for path, methods in STUDENT_PATHS.items():
        assert methods <= set(schema["paths"][path]), path


def test_every_operation_documents_its_errors_in_the_one_shape(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path not in AUTH_PATHS and path != "/api/v1/schema/":
                assert "401" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if method in ("post", "patch"):
                assert "400" in responses, (method, path)
            for status, response in responses.items():
                if int(status) >= 400 and path != "/api/v1/schema/":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (method, path, status)
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"code", "detail", "fields"}


def test_booking_endpoints_document_their_refusals(schema):
    post = schema["paths"]["/api/v1/bookings/"]["post"]
    assert {"201", "400", "401", "403", "409", "422"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    assert "Retry-After" in schema["paths"]["/api/v1/auth/otp/"]["post"]["responses"]["429"]["headers"]


@pytest.mark.django_db
def test_the_docs_page_loads_nothing_from_the_internet_and_no_inline_script(anonymous):
    response = anonymous.get("/api/v1/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert not re.search(r"(src|href)=\"https?://", page)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert "script-src 'self'" in response["Content-Security-Policy"]
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', page):
        assert anonymous.get(asset).status_code == 200, asset
