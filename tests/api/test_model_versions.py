"""Model versions are read-only except promotion, which only admins and managers may do."""

from ml.models import ModelVersion
from tests.factories import ModelVersionFactory


def test_manager_promotes_a_candidate(api_manager, tenant_a):
    candidate = ModelVersionFactory(organization=tenant_a.organization)

    response = api_manager.post(f"/api/v1/model-versions/{candidate.id}/promote/")

    assert response.status_code == 200, response.content
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.CHAMPION
    assert response.json()["status"] == "champion"


def test_rep_cannot_promote(api_rep, tenant_a):
    response = api_rep.post(f"/api/v1/model-versions/{tenant_a.model_version.id}/promote/")

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied",
        "message": "Only admins and managers of this organisation can do this.",
    }
    tenant_a.model_version.refresh_from_db()
    assert tenant_a.model_version.status == ModelVersion.Status.CANDIDATE


def test_model_versions_are_read_only(api_manager, tenant_a):
    response = api_manager.patch(
        f"/api/v1/model-versions/{tenant_a.model_version.id}/", {"status": "champion"}, format="json"
    )

    assert response.status_code == 405
    assert "artifact_path" not in api_manager.get(f"/api/v1/model-versions/{tenant_a.model_version.id}/").json()


def test_service_validation_error_becomes_a_standard_400(api_manager, tenant_a, monkeypatch):
    from django.core.exceptions import ValidationError

    from salesai.api.views import ml as ml_views

    def refuse(*, model_version_id, actor_id=None):
        raise ValidationError("The candidate's ROC-AUC is below the champion's.")

    monkeypatch.setattr(ml_views, "model_version_promote", refuse)

    response = api_manager.post(f"/api/v1/model-versions/{tenant_a.model_version.id}/promote/")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "The candidate's ROC-AUC is below the champion's.",
            "fields": {"non_field_errors": ["The candidate's ROC-AUC is below the champion's."]},
        }
    }


def test_a_version_says_which_family_serves_and_why(api_manager, tenant_a):
    gate = {
        "promote": True,
        "family": "logistic",
        "reasons": ["logistic serves: transformer is significantly worse"],
        "family_choice": {
            "family": "logistic",
            "comparisons": [{"a": "transformer", "b": "logistic", "difference": -0.04, "low": -0.06, "high": -0.02}],
        },
    }
    version = ModelVersionFactory(
        organization=tenant_a.organization,
        architecture="logistic",
        metrics={"roc_auc": 0.8, "family": "logistic", "gate": gate},
    )

    body = api_manager.get(f"/api/v1/model-versions/{version.id}/").json()

    assert body["family"] == "logistic" and body["gate"] == gate
    assert api_manager.get(f"/api/v1/model-versions/{tenant_a.model_version.id}/").json()["family"] == "transformer"
