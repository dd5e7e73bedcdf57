"""The API edge: malformed input is a 400 with a machine-readable reason, never a 500."""

import json

import pytest
import yaml
from django.core.management import call_command

from tests.api.conftest import ids


@pytest.mark.parametrize("offset", ["-17:00", "+16:00", "+99:00"])
def test_a_utc_offset_no_database_accepts_is_a_400(api_manager, tenant_a, offset):
    response = api_manager.get("/api/v1/activities/", {"occurred_before": f"2026-01-01T00:00:00{offset}"})

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and "occurred_before" in error["fields"]


def test_a_real_offset_is_compared_in_utc(api_manager, tenant_a):
    occurred = tenant_a.activity.occurred_at

    before = api_manager.get(
        "/api/v1/activities/", {"occurred_before": occurred.strftime("%Y-%m-%dT%H:%M:%S") + "-14:00"}
    )
    after = api_manager.get(
        "/api/v1/activities/", {"occurred_after": occurred.strftime("%Y-%m-%dT%H:%M:%S") + "+14:00"}
    )

    assert before.status_code == 200 and ids(before) == [tenant_a.activity.id]  # 14 h later than the activity
    assert after.status_code == 200 and ids(after) == [tenant_a.activity.id]  # 14 h earlier


@pytest.mark.parametrize(
    "config",
    [
        {"base_url": "http://crm.local", "bad\u0000key": 1},
        {"base_url": "http://crm.local\u0000"},
        {"base_url": "http://crm.local", "nested": [{"deep": "a\u0000b"}]},
    ],
)
def test_a_nul_anywhere_in_a_json_body_is_a_400(api_manager, tenant_a, fake_connector, config):
    body = {"kind": "fake", "name": "With NUL", "config": config}

    response = api_manager.post("/api/v1/connections/", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "nul_character"


def test_a_deeply_nested_body_is_a_400(api_manager, tenant_a, fake_connector):
    deep = "[" * 5000 + "]" * 5000
    raw = '{"kind": "fake", "name": "Deep", "config": {"base_url": "http://crm.local", "x": ' + deep + "}}"

    response = api_manager.post("/api/v1/connections/", raw, content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "too_deep"


def test_nesting_within_the_limit_is_accepted(api_manager, tenant_a, fake_connector, settings):
    nested = {"base_url": "http://crm.local", "x": json.loads("[" * 10 + "]" * 10)}

    response = api_manager.post("/api/v1/connections/", {"kind": "fake", "name": "Ok", "config": nested}, format="json")

    assert response.status_code == 201, response.content


def test_a_body_over_the_limit_is_a_413(api_manager, tenant_a, fake_connector, settings):
    settings.API_MAX_BODY_BYTES = 1000
    body = {"kind": "fake", "name": "Big", "config": {"base_url": "http://crm.local", "pad": "x" * 2000}}

    response = api_manager.post("/api/v1/connections/", body, format="json")

    assert response.status_code == 413, response.content
    assert response.json()["error"]["code"] == "too_large"


def test_invalid_json_is_a_400_with_the_parse_error_code(api_manager, tenant_a):
    response = api_manager.post("/api/v1/connections/", "{nope", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_a_nul_in_a_query_parameter_is_a_400(api_manager, tenant_a):
    response = api_manager.get("/api/v1/contacts/", {"search": "a\u0000b"})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "nul_character"


def test_the_schema_lists_every_rep_action_the_api_returns(tmp_path, db):
    call_command("spectacular", "--file", str(tmp_path / "schema.yaml"))
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())

    email = schema["components"]["schemas"]["GeneratedEmail"]["properties"]["rep_action"]
    values = set()
    for option in email.get("oneOf", [email]) + email.get("allOf", []) + email.get("anyOf", []):
        ref = option.get("$ref", "")
        target = schema["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else option
        values.update(target.get("enum", []))
    assert values >= {"", "accepted", "edited", "rejected"}
