"""Feedback through the API: tied to the caller, validated with field errors in the standard body."""

import pytest

from ml.models import Feedback
from tests.api.conftest import ids


def post(client, **data):
    return client.post("/api/v1/feedback/", data, format="json")


def test_rep_posts_override_feedback_as_themself(api_rep, rep_a, tenant_a):
    response = post(
        api_rep,
        prediction=tenant_a.prediction.id,
        verdict="override",
        override_value=0.8,
        reason="Budget confirmed on the call",
    )

    assert response.status_code == 201, response.content
    created = Feedback.objects.get(id=response.json()["id"])
    assert created.user == rep_a
    assert created.organization == tenant_a.organization
    assert (created.verdict, created.override_value) == ("override", 0.8)
    assert created.reason == "Budget confirmed on the call"
    assert response.json()["user"] == rep_a.username
    assert created.id in ids(api_rep.get("/api/v1/feedback/", {"prediction": tenant_a.prediction.id}))


def test_user_field_in_input_is_ignored(api_rep, rep_a, manager_a, tenant_a):
    response = post(api_rep, prediction=tenant_a.prediction.id, verdict="disagree", user=manager_a.id)

    assert response.status_code == 201
    assert Feedback.objects.get(id=response.json()["id"]).user == rep_a


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"verdict": "override"}, "override_value"),  # override without a value
        ({"verdict": "override", "override_value": 1.5}, "override_value"),
        ({"verdict": "override", "override_value": -0.1}, "override_value"),
        ({"verdict": "agree", "override_value": 0.5}, "override_value"),  # only overrides carry a value
        ({"verdict": "maybe"}, "verdict"),
        ({}, "verdict"),
    ],
)
def test_bad_input_is_400_with_field_errors(api_rep, tenant_a, data, field):
    before = Feedback.objects.count()

    response = post(api_rep, prediction=tenant_a.prediction.id, **data)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert isinstance(error["fields"][field], list) and error["fields"][field]
    assert Feedback.objects.count() == before


def test_missing_prediction_is_a_field_error(api_rep, tenant_a):
    response = post(api_rep, verdict="agree")

    assert response.status_code == 400
    assert "prediction" in response.json()["error"]["fields"]
