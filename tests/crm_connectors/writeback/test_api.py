from unittest import mock

from crm_connectors.models import CRMConnection
from salesai.core.models import Membership
from tests.api.conftest import client_for, make_tenant, member


def as_hubspot(connection: CRMConnection) -> CRMConnection:
    connection.kind = "hubspot"
    connection.config = {"base_url": "http://127.0.0.1:9"}
    connection.save()
    return connection


def test_manager_queues_a_writeback(db, django_capture_on_commit_callbacks):
    tenant = make_tenant("acme")
    connection = as_hubspot(tenant.connection)
    client = client_for(member(tenant.organization, Membership.Role.MANAGER))
    with (
        mock.patch("crm_connectors.tasks.writeback_connection.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(f"/api/v1/connections/{connection.id}/writeback/")
    assert response.status_code == 202, response.content
    assert response.json() == {"connection_id": connection.id, "status": "queued"}
    delay.assert_called_once_with(connection_id=connection.id)


def test_other_tenants_connection_is_404_and_reps_are_refused(db):
    tenant_a, tenant_b = make_tenant("acme"), make_tenant("globex")
    as_hubspot(tenant_b.connection)
    manager = client_for(member(tenant_a.organization, Membership.Role.MANAGER))
    rep = client_for(member(tenant_b.organization, Membership.Role.REP))
    with mock.patch("crm_connectors.tasks.writeback_connection.delay") as delay:
        foreign = manager.post(f"/api/v1/connections/{tenant_b.connection.id}/writeback/")
        refused = rep.post(f"/api/v1/connections/{tenant_b.connection.id}/writeback/")
    assert foreign.status_code == 404
    assert refused.status_code == 403
    delay.assert_not_called()


def test_csv_connection_is_a_400_with_the_reason(db):
    tenant = make_tenant("acme")
    tenant.connection.kind = "csv"
    tenant.connection.save()
    client = client_for(member(tenant.organization, Membership.Role.ADMIN))
    response = client.post(f"/api/v1/connections/{tenant.connection.id}/writeback/")
    assert response.status_code == 400
    assert "cannot take scores back" in str(response.json())
