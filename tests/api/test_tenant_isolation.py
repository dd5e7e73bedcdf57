"""A member of organisation A never sees, reaches or references organisation B's rows."""

import pytest

from ml.models import Feedback
from tests.api.conftest import SECRET, Tenant, ids

# (URL segment, Tenant attribute)
ENDPOINTS = [
    ("contacts", "contact"),
    ("companies", "company"),
    ("deals", "deal"),
    ("activities", "activity"),
    ("predictions", "prediction"),
    ("feedback", "feedback"),
    ("connections", "connection"),
    ("sync-runs", "sync_run"),
    ("model-versions", "model_version"),
]


@pytest.mark.parametrize(("segment", "attribute"), ENDPOINTS)
def test_list_shows_own_rows_only(api_manager, tenant_a: Tenant, tenant_b: Tenant, segment, attribute):
    response = api_manager.get(f"/api/v1/{segment}/")

    assert response.status_code == 200
    listed = ids(response)
    assert getattr(tenant_a, attribute).id in listed
    assert getattr(tenant_b, attribute).id not in listed


@pytest.mark.parametrize(("segment", "attribute"), ENDPOINTS)
def test_other_organisations_row_is_404(api_manager, tenant_a: Tenant, tenant_b: Tenant, segment, attribute):
    own = api_manager.get(f"/api/v1/{segment}/{getattr(tenant_a, attribute).id}/")
    foreign = api_manager.get(f"/api/v1/{segment}/{getattr(tenant_b, attribute).id}/")

    assert own.status_code == 200
    assert foreign.status_code == 404
    assert foreign.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_sync_and_promote_on_foreign_rows_are_404(api_manager, tenant_a: Tenant, tenant_b: Tenant):
    sync = api_manager.post(f"/api/v1/connections/{tenant_b.connection.id}/sync/", {"full": True}, format="json")
    promote = api_manager.post(f"/api/v1/model-versions/{tenant_b.model_version.id}/promote/")
    update = api_manager.patch(
        f"/api/v1/connections/{tenant_b.connection.id}/", {"sync_interval_minutes": 5}, format="json"
    )

    assert (sync.status_code, promote.status_code, update.status_code) == (404, 404, 404)
    assert tenant_b.connection.sync_runs.count() == 1  # only the fixture's run


def test_feedback_on_foreign_prediction_is_a_field_error(api_manager, tenant_a: Tenant, tenant_b: Tenant):
    response = api_manager.post(
        "/api/v1/feedback/", {"prediction": tenant_b.prediction.id, "verdict": "agree"}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    # Worded exactly like an id that does not exist at all, so nothing about B leaks.
    assert error["fields"] == {"prediction": [f'Invalid pk "{tenant_b.prediction.id}" - object does not exist.']}
    assert Feedback.objects.filter(prediction=tenant_b.prediction).count() == 1  # only the fixture's


def test_connection_for_foreign_organisation_is_rejected(api_manager, tenant_a, tenant_b, fake_connector):
    for reference in (tenant_b.organization.slug, tenant_b.organization.id, "no-such-org"):
        response = api_manager.post(
            "/api/v1/connections/",
            {"organization": reference, "kind": "fake", "name": "sneaky", "config": {"base_url": "http://x"}},
            format="json",
        )
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["organization"] == [
            "Unknown organisation, or you are not a member of it."
        ]
    assert not tenant_b.organization.crm_connections.filter(name="sneaky").exists()


def test_filter_by_foreign_organisation_slug_returns_nothing(api_manager, tenant_a, tenant_b):
    response = api_manager.get("/api/v1/contacts/", {"organization": tenant_b.organization.slug})

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_no_response_contains_credentials(api_manager, tenant_a, tenant_b):
    for segment, _ in ENDPOINTS:
        listing = api_manager.get(f"/api/v1/{segment}/")
        assert SECRET not in listing.content.decode()
    detail = api_manager.get(f"/api/v1/connections/{tenant_a.connection.id}/")
    assert SECRET not in detail.content.decode()
    assert "credentials" not in detail.json()
    assert detail.json()["has_credentials"] is True
