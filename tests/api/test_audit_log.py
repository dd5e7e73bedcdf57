"""Promotions, rollbacks and connection changes made through the API are audited with who made them."""

import pytest

from ml.models import ModelVersion
from salesai.core.models import AuditLogEntry

pytestmark = pytest.mark.django_db


def test_promote_and_rollback_are_audited_with_the_user(api_manager, manager_a, tenant_a):
    first, second = (
        tenant_a.model_version,
        ModelVersion.objects.create(
            organization=tenant_a.organization,
            task=tenant_a.model_version.task,
            version=99,
            architecture="x",
            artifact_path="x.pt",
        ),
    )

    api_manager.post(f"/api/v1/model-versions/{first.id}/promote/")
    api_manager.post(f"/api/v1/model-versions/{second.id}/promote/")
    response = api_manager.post(
        "/api/v1/model-versions/rollback/",
        {"organization": tenant_a.organization.slug, "task": first.task},
        format="json",
    )

    assert response.status_code == 200
    entries = list(AuditLogEntry.objects.order_by("id").values_list("action", "actor_id", "target_id"))
    assert entries == [
        ("model_version.promote", manager_a.id, str(first.id)),
        ("model_version.promote", manager_a.id, str(second.id)),
        ("model_version.rollback", manager_a.id, str(first.id)),
    ]
    assert AuditLogEntry.objects.filter(organization=tenant_a.organization).count() == 3


def test_connection_changes_are_audited_without_config_or_secrets(api_manager, manager_a, tenant_a, fake_connector):
    response = api_manager.patch(
        f"/api/v1/connections/{tenant_a.connection.id}/",
        {"config": {"base_url": "http://crm.local/v2"}, "credentials": {"api_key": "new-secret-5531"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    entry = AuditLogEntry.objects.get(action="connection.update")
    assert (entry.actor_id, entry.organization_id, entry.target_id) == (
        manager_a.id,
        tenant_a.organization.id,
        str(tenant_a.connection.id),
    )
    assert entry.detail["fields"] == ["config"] and entry.detail["credentials_replaced"] is True
    assert "new-secret-5531" not in str(entry.detail) and "crm.local" not in str(entry.detail)
