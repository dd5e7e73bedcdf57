"""The lead model's text columns: point in time, mean + newest activity embedding, cached, with evidence."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ml.features.lead import TEXT_PREFIX, lead_schema, lead_training_frame
from ml.features.text import (
    LEAD_TEXT_COLUMNS,
    TEXT_FACTOR,
    kind_label,
    lead_text_columns_at,
    lead_text_inputs,
    text_token_vectors,
)
from ml.text.cache import text_embeddings_get
from tests.factories import ActivityFactory, ContactFactory, OrganizationFactory

AS_OF = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _activity(contact, days_before, body, kind="note"):
    return ActivityFactory(
        organization=contact.organization,
        contact=contact,
        occurred_at=AS_OF - timedelta(days=days_before),
        subject="",
        body=body,
        kind=kind,
    )


@pytest.mark.django_db
def test_text_inputs_are_point_in_time_mean_and_newest_with_their_texts():
    org = OrganizationFactory()
    talker, silent = ContactFactory(organization=org), ContactFactory(organization=org)
    _activity(talker, 9, "Asked for pricing.", kind="email")
    _activity(talker, 2, "Budget approved. Wants the contract.")
    _activity(talker, 0, "AT AS_OF: signed")  # not known strictly before as_of
    _activity(talker, -4, "FUTURE: countersigned")

    inputs = lead_text_inputs(organization_id=org.id, contact_ids=[silent.id, talker.id], as_of=AS_OF)

    vectors = text_embeddings_get(texts=["Asked for pricing.", "Budget approved. Wants the contract."])
    assert list(inputs.columns.index) == [silent.id, talker.id]
    assert list(inputs.columns.columns) == [spec.name for spec in LEAD_TEXT_COLUMNS]
    np.testing.assert_allclose(inputs.columns.loc[talker.id, "text_recent"], vectors.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(inputs.columns.loc[talker.id, "text_last"], vectors[1], atol=1e-6)
    assert inputs.columns.loc[silent.id, "text_recent"] is None and inputs.columns.loc[silent.id, "text_last"] is None
    assert inputs.evidence.documents == [
        [],
        [("Email", "Asked for pricing."), ("Note", "Budget approved. Wants the contract.")],
    ]
    # The evidence rebuilds the same columns from the same embeddings (what explanations rely on).
    rebuilt = inputs.evidence.columns(vectors)
    np.testing.assert_allclose(rebuilt["text_recent"], inputs.columns.loc[talker.id, "text_recent"], atol=1e-6)


@pytest.mark.django_db
def test_rescoring_reuses_cached_embeddings(encode_calls):
    org = OrganizationFactory()
    contact = ContactFactory(organization=org)
    _activity(contact, 3, "Following up on the proposal.")
    lead_text_inputs(organization_id=org.id, contact_ids=[contact.id], as_of=AS_OF)
    assert encode_calls == [["Following up on the proposal."]]
    encode_calls.clear()
    lead_text_inputs(organization_id=org.id, contact_ids=[contact.id], as_of=AS_OF + timedelta(days=1))
    lead_text_columns_at(organization_id=org.id, contact_ids_at=[(AS_OF, [contact.id])])
    assert encode_calls == []


@pytest.mark.django_db
def test_training_frames_carry_text_as_of_each_snapshot():
    org = OrganizationFactory()
    contact = ContactFactory(organization=org, remote_created_at=AS_OF - timedelta(days=200))
    _activity(contact, 100, "Early note.")
    _activity(contact, 10, "Late note.")
    snapshots = [AS_OF - timedelta(days=50), AS_OF]
    frame, _labels = lead_training_frame(organization_id=org.id, snapshots=snapshots, text=True)
    early, late = text_embeddings_get(texts=["Early note.", "Late note."])
    first, second = frame.sort_values("as_of").itertuples()
    np.testing.assert_allclose(first.text_last, early, atol=1e-6)  # the late note did not exist yet
    np.testing.assert_allclose(second.text_last, late, atol=1e-6)
    np.testing.assert_allclose(second.text_recent, (early + late) / 2, atol=1e-6)
    schema = lead_schema(frame)
    assert schema.text_columns == ["text_recent", "text_last"]
    assert {schema.column(name).group for name in schema.text_columns} == {TEXT_FACTOR}
    plain, _ = lead_training_frame(organization_id=org.id, snapshots=snapshots)
    assert not any(name.startswith(TEXT_PREFIX) for name in plain.columns) and lead_schema(plain).text_columns == []


def test_token_vectors_and_kind_labels():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    mean, last = text_token_vectors(vectors, last_k=2)
    np.testing.assert_allclose(mean, [0.5, 1.0])
    np.testing.assert_allclose(last, [1.0, 1.0])
    assert text_token_vectors(np.zeros((0, 2))) == (None, None)
    assert all(spec.name.startswith(TEXT_PREFIX) for spec in LEAD_TEXT_COLUMNS)
    assert (kind_label("meeting"), kind_label("unknown")) == ("Meeting", "Activity")
