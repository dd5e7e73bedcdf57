from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.engine.text_encoder import EMBEDDING_DIM
from ml.features.text import (
    activity_embeddings_pool,
    activity_text,
    contact_text_frame,
    contact_texts_build,
    lead_text_features,
)
from ml.text.cache import text_embeddings_get
from tests.factories import ActivityFactory, ContactFactory, OrganizationFactory

AS_OF = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _activity(contact, days_before, subject="", body="", **fields):
    return ActivityFactory(
        organization=contact.organization,
        contact=contact,
        occurred_at=AS_OF - timedelta(days=days_before),
        subject=subject,
        body=body,
        **fields,
    )


@pytest.mark.django_db
def test_text_written_at_or_after_as_of_is_excluded():
    org = OrganizationFactory()
    contact = ContactFactory(organization=org)
    _activity(contact, 10, subject="Intro", body="Nice to meet you.")
    _activity(contact, 2, body="Can we see a demo?")
    _activity(contact, 0, body="AT AS_OF: we signed")  # occurred exactly at as_of: not known before it
    _activity(contact, -3, body="FUTURE: contract countersigned")

    frame = contact_text_frame(organization_id=org.id, contact_ids=[contact.id], as_of=AS_OF)

    assert frame.loc[contact.id, "text"] == "Intro\nNice to meet you.\n\nCan we see a demo?"
    assert "signed" not in frame.loc[contact.id, "text"]


@pytest.mark.django_db
def test_text_frame_keeps_last_n_in_order_and_skips_other_orgs_and_deleted():
    org = OrganizationFactory()
    contact, silent = ContactFactory(organization=org), ContactFactory(organization=org)
    for day in (30, 20, 10, 5):
        _activity(contact, day, body=f"note {day}")
    _activity(contact, 1, body="deleted note", deleted_at=AS_OF)
    stranger = ContactFactory()  # another organisation
    _activity(stranger, 1, body="not ours")

    frame = contact_text_frame(
        organization_id=org.id, contact_ids=[silent.id, contact.id, stranger.id], as_of=AS_OF, last_n=2
    )

    assert list(frame.index) == [silent.id, contact.id, stranger.id]
    assert frame["text"].tolist() == ["", "note 10\n\nnote 5", ""]


@pytest.mark.django_db
def test_lead_text_features_mean_pool_recent_activity_embeddings():
    org = OrganizationFactory()
    talker, silent = ContactFactory(organization=org), ContactFactory(organization=org)
    _activity(talker, 40, body="old message outside the last two")
    _activity(talker, 9, subject="Pricing", body="Send the quote please.")
    _activity(talker, 3, body="Budget approved.")
    _activity(talker, -1, body="after as_of: must not count")
    _activity(silent, 5)  # no subject, no body: no text

    features = lead_text_features(organization_id=org.id, contact_ids=[talker.id, silent.id], as_of=AS_OF, last_k=2)

    expected = text_embeddings_get(texts=["Pricing\nSend the quote please.", "Budget approved."]).mean(axis=0)
    assert features.shape == (2, EMBEDDING_DIM)
    assert features.dtype == np.float32
    np.testing.assert_allclose(features[0], expected, atol=1e-6)
    assert not features[1].any()


@pytest.mark.django_db
def test_lead_text_features_reuse_cached_embeddings(encode_calls):
    org = OrganizationFactory()
    contact = ContactFactory(organization=org)
    _activity(contact, 4, body="Following up on the proposal.")
    lead_text_features(organization_id=org.id, contact_ids=[contact.id], as_of=AS_OF)
    assert encode_calls == [["Following up on the proposal."]]

    encode_calls.clear()
    lead_text_features(organization_id=org.id, contact_ids=[contact.id], as_of=AS_OF + timedelta(days=1))
    assert encode_calls == []


def test_pool_is_point_in_time_and_pure():
    activities = pd.DataFrame(
        {
            "contact_id": [1, 1, 1, 2],
            "occurred_at": [AS_OF - timedelta(days=3), AS_OF - timedelta(days=1), AS_OF, AS_OF - timedelta(days=1)],
            "text": ["a", "b", "at as_of", "c"],
        }
    )
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [100.0, 100.0], [2.0, 2.0]], dtype=np.float32)

    pooled = activity_embeddings_pool(activities, vectors, contact_ids=[2, 3, 1], as_of=AS_OF, last_k=5)

    np.testing.assert_allclose(pooled, [[2.0, 2.0], [0.0, 0.0], [0.5, 0.5]])
    last_one = activity_embeddings_pool(activities, vectors, contact_ids=[1], as_of=AS_OF, last_k=1)
    np.testing.assert_allclose(last_one, [[0.0, 1.0]])


def test_pure_text_build_and_validation():
    activities = pd.DataFrame({"contact_id": [7], "occurred_at": [AS_OF - timedelta(hours=1)], "text": ["hi"]})
    assert contact_texts_build(activities, contact_ids=[7, 8], as_of=AS_OF)["text"].tolist() == ["hi", ""]
    with pytest.raises(ValueError):
        contact_texts_build(activities, contact_ids=[7], as_of=datetime(2025, 6, 1))  # naive datetime
    with pytest.raises(ValueError):
        activity_embeddings_pool(activities, np.zeros((2, 3)), contact_ids=[7], as_of=AS_OF)


def test_activity_text_joins_subject_and_body():
    assert activity_text(subject=" Re: pricing ", body="Yes.\n") == "Re: pricing\nYes."
    assert activity_text(subject="", body="  ") == ""
    assert activity_text(subject=None, body="body only") == "body only"
