"""Churn features: labels from the churn-date property or lost renewals, point-in-time snapshots, no leakage,
and the activity sequence's padding and order."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone

from ml.engine.activity_sequences import PAD, direction_index, kind_index, sequence_steps
from ml.features.churn import SNAPSHOT_SPACING_DAYS, churn_schema, churn_scoring_frame, churn_training_frame
from salesai.core.models import Activity, Deal
from tests.factories import ActivityFactory, CompanyFactory, ContactFactory, DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


@pytest.fixture
def accounts():
    """Three customers: one churned (churn-date property), one lost its renewal deal, one still here;
    plus a company that never bought. The data runs until today (the latest activity)."""
    now = timezone.now().replace(microsecond=0)
    org = OrganizationFactory(slug="churners")
    churned = CompanyFactory(
        organization=org, properties={"churn_date": (now - 40 * DAY).date().isoformat(), "tier": "gold"}
    )
    renewal = CompanyFactory(organization=org, properties={"tier": "silver"})
    loyal = CompanyFactory(organization=org, properties={"churn_date": "", "tier": "gold"})
    prospect = CompanyFactory(organization=org)
    since = now - 300 * DAY
    for company in (churned, renewal, loyal):
        ContactFactory(organization=org, company=company, converted_at=since, remote_created_at=since - 30 * DAY)
    ContactFactory(organization=org, company=prospect)
    DealFactory(
        organization=org,
        company=renewal,
        name="Annual renewal 2026",
        status=Deal.Status.LOST,
        close_date=(now - 100 * DAY).date(),
    )
    for company in (churned, renewal, loyal):
        for days in (250, 200, 150, 100, 60, 41, 10, 1):
            ActivityFactory(
                organization=org,
                contact=company.contacts.first(),
                kind=Activity.Kind.NOTE,
                direction="",
                subject="",
                body=f"note {days} days ago",
                occurred_at=now - days * DAY,
            )
    return {
        "org": org,
        "now": now,
        "since": since,
        "churned": churned,
        "renewal": renewal,
        "loyal": loyal,
        "prospect": prospect,
    }


def test_labels_follow_the_churn_date_and_lost_renewals(accounts):
    built = churn_training_frame(organization_id=accounts["org"].id, text=False)
    frame, labels = built.frame, built.labels
    assert accounts["prospect"].id not in set(frame.index)  # never a customer: never a row
    end = accounts["now"] - 1 * DAY  # the latest activity
    for key in ("churned", "renewal"):
        company = accounts[key]
        churned_at = pd.Timestamp(accounts["now"] - (40 if key == "churned" else 100) * DAY).normalize()
        rows = frame.index == company.id
        snapshots, y = frame.loc[rows, "as_of"], labels[rows]
        assert len(snapshots) > 2
        assert (snapshots < churned_at).all()  # no snapshot after churn
        assert ((snapshots > churned_at - 90 * DAY) == (y == 1)).all()  # positive exactly in the 90 days before
        assert y.sum() >= 1 and (y == 0).sum() >= 1
        assert (snapshots + pd.Timedelta(days=90) <= end).all()
    loyal = frame.index == accounts["loyal"].id
    assert labels[loyal].sum() == 0 and loyal.sum() > 2
    # Every SNAPSHOT_SPACING_DAYS from one spacing after the sale.
    snapshots = frame.loc[loyal, "as_of"].sort_values()
    assert snapshots.iloc[0] == pd.Timestamp(accounts["since"]) + pd.Timedelta(days=SNAPSHOT_SPACING_DAYS)
    assert (snapshots.diff().dropna() == pd.Timedelta(days=SNAPSHOT_SPACING_DAYS)).all()


def test_features_only_use_what_happened_before_the_snapshot(accounts):
    org = accounts["org"]
    before = churn_training_frame(organization_id=org.id, text=False)
    # Activity and a deal at and just after the loyal customer's last snapshot: no row may change.
    loyal = accounts["loyal"]
    last = before.frame.loc[before.frame.index == loyal.id, "as_of"].max().to_pydatetime()
    for moment in (last, last + timedelta(hours=1)):
        ActivityFactory(
            organization=org,
            contact=loyal.contacts.first(),
            kind=Activity.Kind.EMAIL,
            direction=Activity.Direction.INBOUND,
            occurred_at=moment,
        )
    DealFactory(organization=org, company=loyal, status=Deal.Status.OPEN, remote_created_at=last)
    after = churn_training_frame(organization_id=org.id, text=False)
    rows_before = before.frame[before.frame.index == loyal.id].drop(columns="as_of").reset_index(drop=True)
    rows_after = after.frame[after.frame.index == loyal.id].drop(columns="as_of").reset_index(drop=True)
    pd.testing.assert_frame_equal(rows_before, rows_after)
    assert np.array_equal(before.sequences.kind, after.sequences.kind)


def test_the_churn_date_is_never_a_feature(accounts):
    built = churn_training_frame(organization_id=accounts["org"].id, text=False)
    names = {c.name for c in churn_schema(built.frame).columns}
    assert "prop__tier" in names
    assert not any("churn" in name for name in names)


def test_scoring_rows_are_current_customers(accounts):
    built = churn_scoring_frame(organization_id=accounts["org"].id, as_of=accounts["now"], text=False)
    assert list(built.frame.index) == [accounts["loyal"].id]
    assert built.frame["days_since_last_activity"].iloc[0] == pytest.approx(1.0)
    accounts["loyal"].deleted_at = accounts["now"]
    accounts["loyal"].save()
    assert len(churn_scoring_frame(organization_id=accounts["org"].id, as_of=accounts["now"], text=False)) == 0


def test_sequences_are_left_padded_newest_last(accounts):
    built = churn_scoring_frame(organization_id=accounts["org"].id, as_of=accounts["now"], text=False)
    sequence = built.sequences
    assert sequence.length == 16
    kinds = sequence.kind[0]
    assert (kinds[:8] == PAD).all() and (kinds[8:] == kind_index("note")).all()  # 8 activities, 8 pads
    ages = np.expm1(sequence.numeric[0, 8:, 0])
    assert np.allclose(ages, [250, 200, 150, 100, 60, 41, 10, 1], atol=1e-3)  # oldest first
    assert np.allclose(np.expm1(sequence.numeric[0, 9:, 1]), [50, 50, 50, 40, 19, 31, 9], atol=1e-3)


def test_sequence_steps_keep_the_last_k_before_the_snapshot():
    times = np.arange(10, dtype=np.int64) * 86_400 * 10**9
    positions, numbers = sequence_steps(times_ns=times, before=7, length=4, snapshot_ns=int(times[7]))
    assert list(positions) == [3, 4, 5, 6]
    assert np.allclose(np.expm1(numbers[:, 0]), [4, 3, 2, 1])
    empty, nothing = sequence_steps(times_ns=times, before=0, length=4, snapshot_ns=0)
    assert len(empty) == 0 and nothing.shape == (0, 2)
    assert kind_index("unknown-kind") == kind_index("task") + 1 and direction_index(None) == 1
