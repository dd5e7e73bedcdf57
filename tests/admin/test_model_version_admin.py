from ml.models import ModelVersion
from salesai.core.models import Membership
from tests.admin.conftest import staff_client
from tests.factories import ModelVersionFactory


def _promote(client, *model_versions):
    return client.post(
        "/admin/ml/modelversion/",
        {"action": "promote_to_champion", "_selected_action": [mv.id for mv in model_versions]},
        follow=True,
    )


def test_manager_promotes_to_champion(tenant_a):
    client, _ = staff_client(tenant_a, Membership.Role.MANAGER)

    response = _promote(client, tenant_a.model_version)

    assert "is now the champion" in response.content.decode()
    tenant_a.model_version.refresh_from_db()
    assert tenant_a.model_version.status == ModelVersion.Status.CHAMPION


def test_promote_needs_exactly_one_and_a_managing_role(tenant_a):
    other = ModelVersionFactory(organization=tenant_a.organization)
    manager, _ = staff_client(tenant_a, Membership.Role.MANAGER)
    rep, _ = staff_client(tenant_a, Membership.Role.REP)

    two = _promote(manager, tenant_a.model_version, other)
    by_rep = _promote(rep, other)

    assert "Select exactly one model version" in two.content.decode()
    assert "Only admins and managers" in by_rep.content.decode()
    assert not ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).exists()
