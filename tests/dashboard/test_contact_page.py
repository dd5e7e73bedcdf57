"""/app/contacts/<id>/: score, every factor, activities, history, and the feedback form."""

from django.test import Client

from ml.models import Feedback
from tests.factories import ActivityFactory, PredictionFactory


def test_contact_page_shows_score_factors_activities_and_history(client_a, tenant_a):
    older = PredictionFactory(
        organization=tenant_a.organization,
        contact=tenant_a.contact,
        model_version=tenant_a.model_version,
        probability=0.31,
        is_current=False,
    )
    call = ActivityFactory(
        organization=tenant_a.organization, contact=tenant_a.contact, kind="call", subject="Discovery call booked"
    )

    response = client_a.get(f"/app/contacts/{tenant_a.contact.id}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-testid="score">{tenant_a.prediction.score}</span>' in html
    assert "Lead source = Referral" in html and "No activity for 30 days" in html
    assert call.subject in html and tenant_a.activity.subject in html
    assert f'<td class="num">{older.score}</td>' in html  # history keeps superseded scores
    assert 'name="csrfmiddlewaretoken"' in html
    assert f'name="prediction_id" value="{tenant_a.prediction.id}"' in html


def test_foreign_contact_is_404(client_a, tenant_a, tenant_b):
    assert client_a.get(f"/app/contacts/{tenant_b.contact.id}/").status_code == 404
    assert (
        client_a.post(
            f"/app/contacts/{tenant_b.contact.id}/feedback/",
            {"prediction_id": tenant_b.prediction.id, "verdict": "agree"},
        ).status_code
        == 404
    )


def test_feedback_form_records_the_users_verdict(client_a, rep_a, tenant_a):
    url = f"/app/contacts/{tenant_a.contact.id}/feedback/"

    response = client_a.post(
        url,
        {
            "prediction_id": tenant_a.prediction.id,
            "verdict": "override",
            "override_score": "70",
            "reason": "Champion left the company",
        },
        follow=True,
    )

    feedback = Feedback.objects.get(user=rep_a)
    assert (feedback.prediction, feedback.verdict, feedback.override_value) == (tenant_a.prediction, "override", 0.7)
    assert feedback.reason == "Champion left the company"
    assert response.redirect_chain == [(f"/app/contacts/{tenant_a.contact.id}/", 302)]
    assert "Thanks — your feedback was recorded." in response.content.decode()


def test_override_without_estimate_is_rejected_on_the_page(client_a, rep_a, tenant_a):
    response = client_a.post(
        f"/app/contacts/{tenant_a.contact.id}/feedback/",
        {"prediction_id": tenant_a.prediction.id, "verdict": "override"},
    )

    assert response.status_code == 400
    assert "Give your own estimate when you override the score." in response.content.decode()
    assert not Feedback.objects.filter(user=rep_a).exists()


def test_prediction_of_another_contact_or_org_is_refused(client_a, rep_a, tenant_a, tenant_b):
    other_contact_prediction = PredictionFactory(organization=tenant_a.organization)

    for prediction in (tenant_b.prediction, other_contact_prediction):
        response = client_a.post(
            f"/app/contacts/{tenant_a.contact.id}/feedback/", {"prediction_id": prediction.id, "verdict": "agree"}
        )
        assert response.status_code == 400
        assert "That score no longer exists" in response.content.decode()
    assert not Feedback.objects.filter(user=rep_a).exists()


def test_feedback_post_needs_a_csrf_token(rep_a, tenant_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep_a)

    response = client.post(
        f"/app/contacts/{tenant_a.contact.id}/feedback/", {"prediction_id": tenant_a.prediction.id, "verdict": "agree"}
    )

    assert response.status_code == 403
    assert not Feedback.objects.filter(user=rep_a).exists()
