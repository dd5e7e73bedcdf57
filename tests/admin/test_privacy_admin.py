"""Contact admin actions: export a person's data, erase a person (organisation admins only); audited.
Promotions and connection changes made in the admin are audited too."""

import json

from crm_connectors.models import CRMConnection
from ml.models import ModelVersion
from salesai.core.models import AuditLogEntry, Contact, Membership
from tests.admin.conftest import staff_client


def _action(client, action, ids):
    return client.post("/admin/core/contact/", {"action": action, "_selected_action": ids})


def test_an_organisation_admin_exports_and_erases_a_person(tenant_a):
    client, user = staff_client(tenant_a, Membership.Role.ADMIN)

    export = _action(client, "export_personal_data", [tenant_a.contact.id])
    erase = _action(client, "erase_personal_data", [tenant_a.contact.id])

    assert export["Content-Type"] == "application/json"
    assert [c["id"] for c in json.loads(export.content)["contacts"]] == [tenant_a.contact.id]
    assert erase.status_code == 302 and not Contact.objects.filter(pk=tenant_a.contact.id).exists()
    assert list(AuditLogEntry.objects.order_by("id").values_list("action", "actor_id")) == [
        ("person.export", user.id),
        ("person.erase", user.id),
    ]


def test_a_manager_cannot_erase(tenant_a):
    client, _ = staff_client(tenant_a, Membership.Role.MANAGER)

    _action(client, "erase_personal_data", [tenant_a.contact.id])

    assert Contact.objects.filter(pk=tenant_a.contact.id).exists() and not AuditLogEntry.objects.exists()


def test_another_tenants_contact_cannot_be_selected(tenant_a, tenant_b):
    client, _ = staff_client(tenant_a, Membership.Role.ADMIN)

    _action(client, "erase_personal_data", [tenant_b.contact.id])

    assert Contact.objects.filter(pk=tenant_b.contact.id).exists()


def test_admin_promotion_and_connection_change_are_audited(tenant_a, fake_connector):
    client, user = staff_client(tenant_a, Membership.Role.MANAGER)

    client.post(
        "/admin/ml/modelversion/", {"action": "promote_to_champion", "_selected_action": [tenant_a.model_version.id]}
    )
    client.post(
        f"/admin/crm_connectors/crmconnection/{tenant_a.connection.id}/change/",
        {
            "organization": tenant_a.organization.id,
            "kind": "fake",
            "name": tenant_a.connection.name,
            "config": '{"base_url": "http://crm.local"}',
            "new_credentials": "",
            "is_active": "on",
            "sync_interval_minutes": "45",
            "cursor": "{}",
        },
    )

    assert ModelVersion.objects.get(pk=tenant_a.model_version.id).status == "champion"
    assert CRMConnection.objects.get(pk=tenant_a.connection.id).sync_interval_minutes == 45
    entries = {entry.action: entry for entry in AuditLogEntry.objects.all()}
    assert entries["model_version.promote"].actor_id == user.id
    assert entries["connection.update"].actor_id == user.id
    assert "sync_interval_minutes" in entries["connection.update"].detail["fields"]
    assert entries["connection.update"].detail["credentials_replaced"] is False
    assert client.get("/admin/core/auditlogentry/").status_code == 200
