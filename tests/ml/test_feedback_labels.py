"""Reps' feedback changes the next training set: labels and weights of the rows it concerns, nothing else."""

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml import training_services
from ml.engine import baselines, training
from ml.engine.feedback_labels import FeedbackLabel, FeedbackWeights, feedback_training_set
from ml.engine.training import holdout_split
from ml.features.lead import lead_training_frame
from ml.models import Feedback
from salesai.core.models import Contact
from tests.factories import FeedbackFactory, ModelVersionFactory, PredictionFactory
from tests.ml.crm_data import synthetic_org_create

S = datetime(2026, 1, 1, tzinfo=UTC)
HORIZON = 90
WEIGHTS = FeedbackWeights(agree_weight=1.5, disagree_weight=0.5, override_weight=0.5)
TINY = {"d_token": 16, "n_heads": 2, "n_layers": 1, "epochs": 4, "batch_size": 64, "test_fraction": 0.3}


def _training_set():
    """Six contacts at one snapshot; rows 0-3 train, 4 valid, 5 test."""
    frame = pd.DataFrame({"lead_source": list("abcdef"), "as_of": [S] * 6}, index=pd.Index([1, 2, 3, 4, 5, 6]))
    labels = np.array([0, 1, 0, 0, 1, 0])
    split = (np.array([0, 1, 2, 3]), np.array([4]), np.array([5]))
    return frame, labels, split


def _apply(feedback, converted_at=None):
    frame, labels, split = _training_set()
    return feedback_training_set(
        frame=frame,
        labels=labels,
        split=split,
        feedback=feedback,
        converted_at=converted_at or {},
        horizon_days=HORIZON,
        weights=WEIGHTS,
    )


def _verdict(contact_id, days, verdict, *, model=0.3, value=None):
    return FeedbackLabel(
        contact_id=contact_id,
        given_at=S + timedelta(days=days),
        verdict=verdict,
        model_probability=model,
        override_value=value,
    )


def test_no_feedback_leaves_the_training_set_exactly_as_it_was():
    frame, labels, split = _training_set()
    result = _apply([])
    assert result.weights is None and result.changed_rows == 0
    assert result.frame is not None and result.frame.equals(frame)
    np.testing.assert_array_equal(result.labels, labels)
    for got, want in zip(result.split, split, strict=True):
        np.testing.assert_array_equal(got, want)


def test_an_override_becomes_a_soft_label_on_the_row_and_a_weighted_copy():
    result = _apply([_verdict(1, 10, "override", value=0.8)])
    # Observed 0, rep says 0.8, half-way: target 0.4 = label 1 with weight 0.4 plus label 0 with weight 0.6.
    assert result.changed_rows == 1
    assert (result.labels[0], result.weights[0]) == (1, pytest.approx(0.4))
    assert len(result.frame) == 7 and result.frame.index[6] == 1
    assert (result.labels[6], result.weights[6]) == (0, pytest.approx(0.6))
    assert 6 in result.split[0]  # the copy trains; it is never held out
    np.testing.assert_array_equal(result.weights[1:6], np.ones(5))  # every other row untouched
    np.testing.assert_array_equal(result.labels[1:6], [1, 0, 0, 1, 0])


def test_disagree_pulls_towards_the_opposite_call_and_agree_weighs_up():
    result = _apply(
        [
            _verdict(3, 5, "disagree", model=0.2),  # the model said "no" on a row that did not convert
            _verdict(4, 5, "agree", model=0.1),
            _verdict(2, 5, "disagree", model=0.2),  # the model said "no", it converted: the outcome already agrees
        ]
    )
    assert result.changed_rows == 2
    assert (result.labels[2], result.weights[2]) == (1, pytest.approx(0.5))  # target 0.5: the row + a copy
    assert (result.labels[3], result.weights[3]) == (0, pytest.approx(1.5))
    assert (result.labels[1], result.weights[1]) == (1, 1.0)


def test_only_feedback_given_inside_the_label_window_and_before_conversion_counts():
    converted = {2: S + timedelta(days=20)}
    ignored = _apply(
        [
            _verdict(1, -1, "override", value=1.0),  # before the snapshot
            _verdict(3, HORIZON + 1, "override", value=1.0),  # after the label window closed
            _verdict(2, 30, "override", value=0.0),  # after the contact converted: must not teach the past
        ],
        converted_at=converted,
    )
    assert ignored.weights is None and ignored.changed_rows == 0
    counted = _apply([_verdict(2, 19, "override", value=0.0)], converted_at=converted)  # the day before
    assert counted.changed_rows == 1 and counted.labels[1] == 1 and counted.weights[1] == pytest.approx(0.5)


def test_held_out_rows_keep_their_outcomes_and_the_newest_verdict_wins():
    result = _apply(
        [
            _verdict(5, 5, "override", value=0.0),  # valid row
            _verdict(6, 5, "override", value=1.0),  # test row
            _verdict(1, 5, "override", value=1.0),
            _verdict(1, 8, "agree"),  # newer: wins
        ]
    )
    assert result.changed_rows == 1
    assert (result.labels[0], result.weights[0]) == (0, pytest.approx(1.5))
    assert list(result.labels[4:6]) == [1, 0] and list(result.weights[4:6]) == [1.0, 1.0]


def test_weights_are_validated():
    with pytest.raises(ValueError):
        FeedbackWeights(override_weight=1.5)
    with pytest.raises(ValueError):
        FeedbackWeights(agree_weight=0)


# --- from the database --------------------------------------------------------------------------------------
def _give(contact: Contact, *, at: datetime, verdict: str = "override", value: float | None = 0.9) -> Feedback:
    version = ModelVersionFactory(organization=contact.organization)
    prediction = PredictionFactory(
        organization=contact.organization, contact=contact, model_version=version, probability=0.2
    )
    feedback = FeedbackFactory(prediction=prediction, verdict=verdict, override_value=value)
    Feedback.objects.filter(pk=feedback.pk).update(created_at=at)  # created_at is auto_now_add
    return feedback


@pytest.mark.django_db
def test_reps_feedback_in_the_database_changes_the_next_training_set():
    organization = synthetic_org_create(contacts=120, seed=5)
    frame, labels = lead_training_frame(organization_id=organization.id, horizon_days=HORIZON)
    split = holdout_split(np.asarray(labels), groups=frame.index.to_numpy(), valid_fraction=0.15, test_fraction=0.15)
    unchanged = training_services._feedback_training_set(
        organization_id=organization.id, frame=frame, labels=labels, split=split, horizon_days=HORIZON
    )
    assert unchanged.weights is None and unchanged.frame is frame

    # A never-converted training row: an override inside its window relabels it (soft) and adds a copy.
    never = set(
        Contact.objects.filter(organization=organization, converted_at__isnull=True).values_list("id", flat=True)
    )
    row = next(int(r) for r in split[0] if frame.index[r] in never)
    contact = Contact.objects.get(pk=frame.index[row])
    _give(contact, at=frame["as_of"].iloc[row].to_pydatetime() + timedelta(days=3))
    # A converted training row, with an override written after the conversion: ignored.
    positive = next(int(r) for r in split[0] if labels.iloc[r] == 1)
    converted = Contact.objects.get(pk=frame.index[positive])
    _give(converted, at=converted.converted_at + timedelta(minutes=1), value=0.0)

    changed = training_services._feedback_training_set(
        organization_id=organization.id, frame=frame, labels=labels, split=split, horizon_days=HORIZON
    )
    rows_of_contact = [int(r) for r in split[0] if frame.index[r] == contact.id]
    assert changed.changed_rows >= 1 and row in rows_of_contact
    assert changed.labels[row] == 1 and changed.weights[row] == pytest.approx(0.45)  # 0.5 * 0 + 0.5 * 0.9
    assert len(changed.frame) == len(frame) + changed.changed_rows
    positive_rows = [int(r) for r in split[0] if frame.index[r] == converted.id]
    assert all(changed.weights[r] == 1.0 and changed.labels[r] == labels.iloc[r] for r in positive_rows)


@pytest.mark.django_db
def test_training_passes_the_feedback_weights_to_the_transformer_and_the_baselines(settings: Any, monkeypatch):
    settings.ML_MIN_TRAINING_ROWS = 100
    settings.ML_GATE_REQUIRE_BEATS_BASELINE = False
    organization = synthetic_org_create(contacts=240, seed=4)
    frame, _ = lead_training_frame(organization_id=organization.id, horizon_days=HORIZON)
    newest = frame["as_of"].max().to_pydatetime()
    for contact in Contact.objects.filter(organization=organization, converted_at__isnull=True)[:30]:
        _give(contact, at=newest + timedelta(days=1), value=1.0)
    seen: dict[str, Any] = {}

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(**kwargs):
            seen[name] = kwargs.get("sample_weight")
            return real(**kwargs)

        monkeypatch.setattr(module, name, wrapper)

    spy(training, "train_tabular_model")
    spy(baselines, "logistic_baseline_fit")
    spy(baselines, "lightgbm_baseline_fit")
    version = training_services.model_train(
        organization_id=organization.id, params={**TINY, "baseline_lightgbm_configs": 1}
    )
    changed = version.metrics["feedback"]["rows_changed"]
    assert changed > 0
    assert all(
        seen[name] is not None for name in ("train_tabular_model", "logistic_baseline_fit", "lightgbm_baseline_fit")
    )
    weights = np.asarray(seen["train_tabular_model"])
    assert len(weights) == len(frame) + changed and (weights != 1.0).sum() >= changed
