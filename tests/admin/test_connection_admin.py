"""CRMConnection admin: credentials are write-only; "Sync now" queues a run for those allowed."""

import json

from crm_connectors.models import CRMConnection, SyncRun
from salesai.core.models import Membership
from tests.admin.conftest import staff_client
from tests.api.conftest import SECRET

NEW_SECRET = "rotated-secret-9931"


def change_form_data(connection, **overrides):
    data = {
        "organization": connection.organization_id,
        "kind": connection.kind,
        "name": connection.name,
        "config": '{"base_url": "http://crm.local"}',
        "new_credentials": "",
        "is_active": "on",
        "sync_interval_minutes": "30",
        "cursor": "{}",
    }
    return data | overrides


def test_change_page_never_shows_credentials(admin_client, tenant_a, fake_connector):
    url = f"/admin/crm_connectors/crmconnection/{tenant_a.connection.id}/change/"

    page = admin_client.get(url).content.decode()
    listing = admin_client.get("/admin/crm_connectors/crmconnection/").content.decode()

    assert SECRET not in page and SECRET not in listing
    assert 'name="credentials"' not in page
    assert 'name="new_credentials"' in page


def test_new_credentials_replace_the_stored_ones(admin_client, tenant_a, fake_connector):
    url = f"/admin/crm_connectors/crmconnection/{tenant_a.connection.id}/change/"

    response = admin_client.post(
        url, change_form_data(tenant_a.connection, new_credentials=f'{{"api_key": "{NEW_SECRET}"}}')
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    tenant_a.connection.refresh_from_db()
    assert tenant_a.connection.credentials == {"api_key": NEW_SECRET}
    assert NEW_SECRET not in admin_client.get(url).content.decode()


def test_blank_new_credentials_keep_the_stored_ones(admin_client, tenant_a, fake_connector):
    url = f"/admin/crm_connectors/crmconnection/{tenant_a.connection.id}/change/"

    response = admin_client.post(url, change_form_data(tenant_a.connection))

    assert response.status_code == 302
    tenant_a.connection.refresh_from_db()
    assert tenant_a.connection.credentials == {"api_key": SECRET}
    assert tenant_a.connection.sync_interval_minutes == 30


def test_invalid_credentials_json_is_not_echoed_back(admin_client, tenant_a, fake_connector):
    url = f"/admin/crm_connectors/crmconnection/{tenant_a.connection.id}/change/"

    response = admin_client.post(url, change_form_data(tenant_a.connection, new_credentials='["typed-secret-x"]'))

    assert response.status_code == 200  # re-rendered with an error
    assert "Credentials must be a JSON object." in response.content.decode()
    assert "typed-secret-x" not in response.content.decode()


def _run_action(client, action, connection):
    return client.post(
        "/admin/crm_connectors/crmconnection/",
        {"action": action, "_selected_action": [connection.id]},
        follow=True,
    )


def test_sync_now_queues_a_run(tenant_a):
    client, _ = staff_client(tenant_a, Membership.Role.MANAGER)

    response = _run_action(client, "full_sync_now", tenant_a.connection)

    assert "Queued 1 sync(s)." in response.content.decode()
    run = SyncRun.objects.filter(connection=tenant_a.connection).latest("id")
    assert run.id != tenant_a.sync_run.id
    assert (run.mode, run.status) == ("full", "queued")


def test_rep_staff_cannot_sync(tenant_a):
    client, _ = staff_client(tenant_a, Membership.Role.REP)

    response = _run_action(client, "sync_now", tenant_a.connection)

    assert "only admins and managers" in response.content.decode()
    assert SyncRun.objects.filter(connection=tenant_a.connection).count() == 1


def test_a_csv_connection_cannot_point_at_another_organisations_folder(tenant_a, tmp_path, settings):
    settings.CSV_IMPORT_ROOTS = [str(tmp_path)]
    (tmp_path / "globex" / "export").mkdir(parents=True)
    client, _ = staff_client(tenant_a, Membership.Role.ADMIN)

    response = client.post(
        "/admin/crm_connectors/crmconnection/add/",
        {
            "organization": tenant_a.organization.id,
            "kind": "csv",
            "name": "steal",
            "config": json.dumps({"path": str(tmp_path / "globex" / "export"), "mapping": {"objects": {}}}),
            "new_credentials": "",
            "is_active": "on",
            "sync_interval_minutes": "30",
            "cursor": "{}",
        },
    )

    assert response.status_code == 200 and "outside the folders CSV imports may read" in response.content.decode()
    assert not CRMConnection.objects.filter(name="steal").exists()
