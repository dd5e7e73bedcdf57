"""POST /api/v1/model-versions/rollback/: the previous champion returns; managers and admins only."""

from ml.model_versions import model_version_promote
from ml.models import ModelVersion
from tests.factories import ModelVersionFactory


def _two_champions(tenant):
    previous = tenant.model_version
    newer = ModelVersionFactory(organization=tenant.organization)
    model_version_promote(model_version_id=previous.id)
    model_version_promote(model_version_id=newer.id)
    return previous, newer


def test_manager_rolls_back(api_manager, tenant_a):
    previous, newer = _two_champions(tenant_a)

    response = api_manager.post(
        "/api/v1/model-versions/rollback/", {"organization": "acme", "task": "lead_conversion"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["id"] == previous.id and response.json()["status"] == "champion"
    newer.refresh_from_db()
    assert newer.status == ModelVersion.Status.RETIRED


def test_rep_cannot_roll_back(api_rep, tenant_a):
    _, newer = _two_champions(tenant_a)

    response = api_rep.post("/api/v1/model-versions/rollback/", {"organization": "acme"}, format="json")

    assert response.status_code == 403
    newer.refresh_from_db()
    assert newer.status == ModelVersion.Status.CHAMPION


def test_rollback_without_a_previous_champion_or_of_a_foreign_org_is_400(api_manager, tenant_a, tenant_b):
    model_version_promote(model_version_id=tenant_a.model_version.id)
    _two_champions(tenant_b)

    nothing_before = api_manager.post("/api/v1/model-versions/rollback/", {"organization": "acme"}, format="json")
    foreign = api_manager.post("/api/v1/model-versions/rollback/", {"organization": "globex"}, format="json")

    assert nothing_before.status_code == 400
    assert nothing_before.json()["error"]["fields"] == {
        "model_version": ["There is no previous champion to roll back to."]
    }
    assert foreign.status_code == 400 and "organization" in foreign.json()["error"]["fields"]
    assert ModelVersion.objects.get(organization=tenant_b.organization, status="champion").version != (
        tenant_b.model_version.version
    )
