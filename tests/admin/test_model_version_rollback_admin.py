"""The admin's "Roll back to previous champion" action."""

from ml.model_versions import model_version_promote
from ml.models import ModelVersion
from salesai.core.models import Membership
from tests.admin.conftest import staff_client
from tests.factories import ModelVersionFactory


def _roll_back(client, *model_versions):
    return client.post(
        "/admin/ml/modelversion/",
        {"action": "roll_back_to_previous_champion", "_selected_action": [mv.id for mv in model_versions]},
        follow=True,
    )


def test_manager_rolls_back_to_the_previous_champion(tenant_a):
    previous = tenant_a.model_version
    newer = ModelVersionFactory(organization=tenant_a.organization)
    model_version_promote(model_version_id=previous.id)
    model_version_promote(model_version_id=newer.id)
    client, _ = staff_client(tenant_a, Membership.Role.MANAGER)

    response = _roll_back(client, newer, previous)  # two versions of one task: one rollback

    assert "is the champion again" in response.content.decode()
    previous.refresh_from_db()
    newer.refresh_from_db()
    assert (previous.status, newer.status) == (ModelVersion.Status.CHAMPION, ModelVersion.Status.RETIRED)


def test_rollback_needs_a_previous_champion_and_a_managing_role(tenant_a):
    champion = model_version_promote(model_version_id=tenant_a.model_version.id)
    manager, _ = staff_client(tenant_a, Membership.Role.MANAGER)
    rep, _ = staff_client(tenant_a, Membership.Role.REP)

    nothing_before = _roll_back(manager, champion)
    by_rep = _roll_back(rep, champion)

    assert "no previous champion" in nothing_before.content.decode()
    assert "Only admins and managers" in by_rep.content.decode()
    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.CHAMPION
