"""Sticky overrides: a rep's override is served until new evidence about the contact arrives."""

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from ml import feedback_services, scoring_services, training_services
from ml.models import Feedback, Prediction, ScoringRun
from ml.overrides import scores_serve
from salesai.core.models import Contact
from tests.factories import (
    ActivityFactory,
    ContactFactory,
    DealFactory,
    FeedbackFactory,
    PredictionFactory,
    UserFactory,
)
from tests.ml.crm_data import synthetic_org_create

pytestmark = pytest.mark.django_db

TINY = {"d_token": 16, "n_heads": 2, "n_layers": 1, "epochs": 8, "batch_size": 64, "test_fraction": 0.3}


def _override(contact: Contact, *, value: float, hours_ago: float = 1.0, reason: str = "") -> Feedback:
    Prediction.objects.filter(contact=contact).update(is_current=False)  # one current prediction per contact
    prediction = PredictionFactory(organization=contact.organization, contact=contact, probability=0.3)
    feedback = FeedbackFactory(
        prediction=prediction,
        verdict="override",
        override_value=value,
        reason=reason,
        user=UserFactory(username="rep-anna"),
    )
    Feedback.objects.filter(pk=feedback.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))
    return feedback


def _serve(contact: Contact, model: float = 0.3):
    return scores_serve(contact_ids=[contact.id], probabilities=np.array([model]))


def test_a_standing_override_is_served_with_the_models_own_probability_beside_it():
    contact = ContactFactory()
    ActivityFactory(organization=contact.organization, contact=contact)  # 3 days old: before the override
    _override(contact, value=0.9, reason="Budget approved on the call")
    served = _serve(contact, model=0.25)
    assert served.probabilities[0] == pytest.approx(0.9) and served.model_probabilities[0] == pytest.approx(0.25)
    assert served.sources == [Prediction.Source.OVERRIDE] and served.overrides == 1
    assert "rep-anna" in served.notes[0] and "Budget approved" in served.notes[0] and "0.25" in served.notes[0]


def test_the_newest_override_counts():
    contact = ContactFactory()
    _override(contact, value=0.9, hours_ago=5)
    _override(contact, value=0.1, hours_ago=1)
    assert _serve(contact).probabilities[0] == pytest.approx(0.1)


@pytest.mark.parametrize("evidence", ["activity", "deal_created", "deal_changed_in_crm"])
def test_new_evidence_newer_than_the_override_ends_it(evidence: str):
    contact = ContactFactory()
    _override(contact, value=0.9, hours_ago=2)
    now = timezone.now()
    if evidence == "activity":
        ActivityFactory(organization=contact.organization, contact=contact, occurred_at=now)
    elif evidence == "deal_created":
        DealFactory(organization=contact.organization, contact=contact)
    elif evidence == "deal_changed_in_crm":
        deal = DealFactory(organization=contact.organization, contact=contact)
        type(deal).objects.filter(pk=deal.pk).update(created_at=now - timedelta(days=9), remote_updated_at=now)
    served = _serve(contact, model=0.3)
    assert served.sources == [Prediction.Source.MODEL] and served.probabilities[0] == pytest.approx(0.3)
    assert served.notes == [""]


def test_a_crm_update_of_the_contact_itself_does_not_end_the_override():
    # Writing our score back into the CRM bumps the contact's modification time: that is no new evidence.
    contact = ContactFactory()
    _override(contact, value=0.9, hours_ago=2)
    Contact.objects.filter(pk=contact.pk).update(remote_updated_at=timezone.now())
    served = _serve(contact, model=0.3)
    assert served.sources == [Prediction.Source.OVERRIDE] and served.probabilities[0] == pytest.approx(0.9)


def test_an_old_deal_change_does_not_end_a_newer_override():
    contact = ContactFactory()
    deal = DealFactory(organization=contact.organization, contact=contact)
    earlier = timezone.now() - timedelta(days=5)
    type(deal).objects.filter(pk=deal.pk).update(created_at=earlier, remote_updated_at=earlier)
    _override(contact, value=0.8)
    assert _serve(contact).sources == [Prediction.Source.OVERRIDE]


def test_rescoring_keeps_the_override_until_new_evidence_then_serves_the_model(settings: Any):
    settings.ML_MIN_TRAINING_ROWS = 100
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    organization = synthetic_org_create(contacts=320, seed=3)
    training_services.model_train(organization_id=organization.id, params=TINY)
    scoring_services.contacts_score(organization_id=organization.id)
    current = Prediction.objects.filter(organization=organization, is_current=True).order_by("probability").first()
    assert current.source == Prediction.Source.MODEL and current.model_probability == current.probability
    feedback_services.feedback_create(
        prediction_id=current.id, user_id=UserFactory().id, verdict="override", override_value=0.97, reason="Signed LOI"
    )

    result = scoring_services.contacts_score(organization_id=organization.id)
    assert result.overrides_kept == 1 and ScoringRun.objects.get(pk=result.scoring_run_id).overrides_kept == 1
    kept = Prediction.objects.get(contact_id=current.contact_id, is_current=True)
    assert (kept.source, kept.probability, kept.score) == (Prediction.Source.OVERRIDE, 0.97, 97)
    assert kept.model_probability == pytest.approx(current.probability, abs=1e-6)  # the model's view stays visible
    assert "Signed LOI" in kept.note
    others = Prediction.objects.filter(organization=organization, is_current=True).exclude(pk=kept.pk)
    assert set(others.values_list("source", flat=True)) == {Prediction.Source.MODEL}

    ActivityFactory(organization=organization, contact_id=current.contact_id, occurred_at=timezone.now())
    scoring_services.contacts_score(organization_id=organization.id, contact_ids=[current.contact_id])
    fresh = Prediction.objects.get(contact_id=current.contact_id, is_current=True)
    assert fresh.source == Prediction.Source.MODEL and fresh.probability == fresh.model_probability
    assert fresh.note == ""
