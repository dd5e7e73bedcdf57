"""Connections: managers create/update/sync; reps read; credentials go in and never come out."""

import pytest

from crm_connectors.models import CRMConnection, SyncRun
from salesai.core.models import Membership
from tests.api.conftest import SECRET, client_for, member
from tests.factories import OrganizationFactory

NEW_SECRET = "pd-token-never-echo-0815"


def create(client, **data):
    body = {
        "kind": "fake",
        "name": "Pipeline CRM",
        "config": {"base_url": "http://crm.local"},
        "credentials": {"api_token": NEW_SECRET},
    } | data
    return client.post("/api/v1/connections/", body, format="json")


def test_manager_creates_connection_in_their_only_org(api_manager, tenant_a, fake_connector):
    response = create(api_manager)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organization"] == tenant_a.organization.slug
    assert body["has_credentials"] is True
    assert "credentials" not in body
    assert NEW_SECRET not in response.content.decode()
    stored = CRMConnection.objects.get(id=body["id"])
    assert stored.credentials == {"api_token": NEW_SECRET}  # stored (encrypted at rest), just not returned


def test_unknown_kind_and_bad_config_are_field_errors(api_manager, tenant_a, fake_connector):
    unknown = create(api_manager, kind="dynamics")
    bad_config = create(api_manager, config={"base_url": 42})

    assert unknown.status_code == 400
    assert "kind" in unknown.json()["error"]["fields"]
    assert bad_config.status_code == 400
    assert "config" in bad_config.json()["error"]["fields"]
    assert not CRMConnection.objects.filter(name="Pipeline CRM").exists()


def test_duplicate_name_is_rejected_not_overwritten(api_manager, tenant_a, fake_connector):
    response = create(api_manager, name=tenant_a.connection.name, credentials={"api_key": "other"})

    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]
    tenant_a.connection.refresh_from_db()
    assert tenant_a.connection.credentials == {"api_key": SECRET}


def test_multi_org_user_must_name_the_organisation(tenant_a, fake_connector):
    second = OrganizationFactory(slug="second")
    user = member(tenant_a.organization)
    Membership.objects.create(user=user, organization=second, role=Membership.Role.ADMIN)
    client = client_for(user)

    missing = create(client)
    by_slug = create(client, organization="second")
    by_id = create(client, organization=tenant_a.organization.id, name="By id")

    assert missing.status_code == 400
    assert missing.json()["error"]["fields"]["organization"] == ["Required: you belong to several organisations."]
    assert by_slug.status_code == 201 and by_slug.json()["organization"] == "second"
    assert by_id.status_code == 201 and by_id.json()["organization"] == tenant_a.organization.slug


def test_rep_reads_but_cannot_manage(api_rep, tenant_a, fake_connector):
    listing = api_rep.get("/api/v1/connections/")
    created = create(api_rep)
    updated = api_rep.patch(
        f"/api/v1/connections/{tenant_a.connection.id}/", {"sync_interval_minutes": 5}, format="json"
    )
    synced = api_rep.post(f"/api/v1/connections/{tenant_a.connection.id}/sync/", {}, format="json")

    assert listing.status_code == 200
    for response in (created, updated, synced):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert not SyncRun.objects.filter(connection=tenant_a.connection).exclude(id=tenant_a.sync_run.id).exists()


def test_update_changes_settings_and_never_returns_credentials(api_manager, tenant_a, fake_connector):
    response = api_manager.patch(
        f"/api/v1/connections/{tenant_a.connection.id}/",
        {
            "config": {"base_url": "http://new.local"},
            "credentials": {"api_key": NEW_SECRET},
            "sync_interval_minutes": 15,
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert NEW_SECRET not in response.content.decode() and SECRET not in response.content.decode()
    tenant_a.connection.refresh_from_db()
    assert tenant_a.connection.config == {"base_url": "http://new.local"}
    assert tenant_a.connection.credentials == {"api_key": NEW_SECRET}
    assert tenant_a.connection.sync_interval_minutes == 15


def test_update_without_credentials_keeps_them(api_manager, tenant_a, fake_connector):
    response = api_manager.patch(
        f"/api/v1/connections/{tenant_a.connection.id}/", {"config": {"base_url": "http://x"}}, format="json"
    )

    assert response.status_code == 200, response.content
    tenant_a.connection.refresh_from_db()
    assert tenant_a.connection.credentials == {"api_key": SECRET}


@pytest.mark.parametrize("full", [True, False])
def test_manager_starts_a_sync(api_manager, tenant_a, full):
    response = api_manager.post(f"/api/v1/connections/{tenant_a.connection.id}/sync/", {"full": full}, format="json")

    assert response.status_code == 202, response.content
    run = SyncRun.objects.get(id=response.json()["sync_run_id"])
    assert run.connection == tenant_a.connection
    assert run.mode == ("full" if full else "incremental")
    assert response.json()["status"] == run.status


def test_sync_runs_filter_by_connection_and_status(api_manager, tenant_a):
    from tests.factories import SyncRunFactory

    failed = SyncRunFactory(connection=tenant_a.connection, status=SyncRun.Status.FAILED, errors=[{"reason": "x"}])

    by_status = api_manager.get("/api/v1/sync-runs/", {"status": "failed"}).json()["results"]
    detail = api_manager.get(f"/api/v1/sync-runs/{failed.id}/").json()

    assert [row["id"] for row in by_status] == [failed.id]
    assert by_status[0]["error_count"] == 1
    assert detail["errors"] == [{"reason": "x"}]
    assert api_manager.get("/api/v1/sync-runs/", {"connection": tenant_a.connection.id}).json()["count"] == 2
