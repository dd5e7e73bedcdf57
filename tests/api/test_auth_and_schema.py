"""Token auth, the standard error body for anonymous callers, the OpenAPI schema and the health check."""

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.factories import MembershipFactory


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


def test_obtain_token_and_use_it(anonymous, tenant_a):
    user = MembershipFactory(organization=tenant_a.organization).user  # password "pw-for-tests"

    response = anonymous.post(
        "/api/v1/auth/token/", {"username": user.username, "password": "pw-for-tests"}, format="json"
    )
    token = response.json()["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    contacts = anonymous.get("/api/v1/contacts/")

    assert response.status_code == 200
    assert contacts.status_code == 200
    assert contacts.json()["results"][0]["id"] == tenant_a.contact.id


def test_bad_credentials_get_the_standard_body(anonymous, db):
    response = anonymous.post("/api/v1/auth/token/", {"username": "nobody", "password": "x"}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"] == "Unable to log in with provided credentials."
    assert "non_field_errors" in error["fields"]


def test_unauthenticated_is_401_with_standard_body(anonymous, db):
    response = anonymous.get("/api/v1/contacts/")

    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided."}
    }
    assert response.headers["WWW-Authenticate"] == "Token"


def test_invalid_token_is_401(anonymous, db):
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = anonymous.get("/api/v1/contacts/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_schema_is_served_as_yaml_and_json(api_rep):
    as_yaml = api_rep.get("/api/schema/")
    as_json = api_rep.get("/api/schema/", {"format": "json"})

    assert as_yaml.status_code == 200
    document = yaml.safe_load(as_yaml.content)
    assert document["openapi"].startswith("3.")
    assert "/api/v1/contacts/{id}/" in document["paths"]
    assert "/api/v1/connections/{id}/sync/" in document["paths"]
    assert as_json.status_code == 200
    assert as_json.json()["info"]["title"] == "SalesAI API"


def test_schema_generates_without_warnings(tmp_path, db):
    # --fail-on-warn turns any drf-spectacular warning (untyped field, unresolvable path...) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert (tmp_path / "schema.yaml").stat().st_size > 1000


def test_swagger_ui_is_served_without_a_cdn_or_inline_script(rep_a, client):
    client.force_login(rep_a)
    response = client.get("/api/docs/")
    script = client.get("/api/docs/", {"script": ""})

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html  # assets come from drf-spectacular-sidecar's static files
    assert "<script>" not in html.replace(" ", "")  # the start-up script is a file: the CSP allows no inline one
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_schema_and_docs_need_a_login_by_default(anonymous, db):
    schema = anonymous.get("/api/schema/", {"format": "json"})
    docs = anonymous.get("/api/docs/")
    script = anonymous.get("/api/docs/", {"script": ""})

    assert schema.status_code == 401 and schema.json()["error"]["code"] == "not_authenticated"
    assert docs.status_code == 302 and docs.headers["Location"].startswith("/accounts/login/?next=/api/docs/")
    assert script.status_code == 302


def test_a_setting_opens_schema_and_docs(anonymous, db, settings):
    settings.API_DOCS_PUBLIC = True

    assert anonymous.get("/api/schema/").status_code == 200
    assert anonymous.get("/api/docs/").status_code == 200


def test_healthz_reports_the_database(anonymous, db):
    response = anonymous.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"db": "ok"}


def test_root_redirects_to_the_app(anonymous, db):
    response = anonymous.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/app/"


def test_healthz_is_503_when_the_database_is_down(anonymous, db, monkeypatch):
    from django.db import DatabaseError

    from salesai.api import health

    class DownDatabase:
        def cursor(self):
            raise DatabaseError("connection refused")

    monkeypatch.setattr(health, "connection", DownDatabase())

    response = anonymous.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"db": "error"}
