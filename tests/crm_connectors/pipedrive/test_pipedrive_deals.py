"""Pipedrive deals for the deal models: owners (GET /v1/users), won/lost times, stage probabilities per
pipeline, the deal changelog as history, and deal scores written into two deal custom fields."""

import datetime as dt

import pytest

from crm_connectors.deal_sync import deal_reference_sync
from crm_connectors.sync import connection_sync
from crm_connectors.writeback import connection_writeback
from ml.models import Task
from salesai.core.deal_history import deal_snapshots_as_of
from salesai.core.models import Deal, DealHistory, PipelineStage
from tests.factories import PredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(fake, pipedrive_connection):
    fake.seed(organizations=1, persons=1, deals=3)
    deal_id = fake.records["deals"] and min(fake.records["deals"])
    fake.tick(3600)
    fake.update("deals", deal_id, stage_id=2, value=150, expected_close_date="2026-04-30", owner_id=8)
    fake.tick(3600)
    fake.update("deals", deal_id, status="won", close_time="2026-02-01T09:00:00Z")
    connection = pipedrive_connection()
    assert connection_sync(connection_id=connection.pk, full=True).status == "succeeded"
    return connection, deal_id


def test_owner_emails_and_won_lost_times(fake, synced):
    connection, deal_id = synced
    deals = {d.external_id: d for d in Deal.objects.filter(connection=connection)}
    won = deals[str(deal_id)]
    assert won.owner_email == "pat@example.com" and won.status == "won"
    assert won.closed_at == dt.datetime(2026, 2, 1, 9, tzinfo=dt.UTC)
    assert {d.owner_email for d in deals.values()} <= {"olga@example.com", "pat@example.com"}
    assert all(d.closed_at is None for d in deals.values() if d.status == "open")


def test_stages_per_pipeline_and_changelog_backfill(fake, synced):
    connection, deal_id = synced
    summary = deal_reference_sync(connection_id=connection.pk)
    assert summary.stages == 3
    stages = PipelineStage.objects.filter(organization=connection.organization)
    assert {(s.pipeline, s.stage, s.probability) for s in stages} == {
        ("Sales", "Qualified", 0.2),
        ("Sales", "Proposal", 0.6),
        ("Renewals", "Renewal due", 0.8),
    }
    deal = Deal.objects.get(connection=connection, external_id=str(deal_id))
    rows = DealHistory.objects.filter(deal=deal, source="backfill")
    assert list(rows.filter(field="stage").values_list("old_value", "new_value")) == [
        ("", "Qualified"),
        ("Qualified", "Proposal"),
    ]
    assert list(rows.filter(field="owner_email").values_list("new_value", flat=True)) == [
        "olga@example.com",
        "pat@example.com",
    ]
    assert rows.filter(field="amount").last().new_value == "150.00"
    created = deal.remote_created_at
    early = {s.deal_id: s for s in deal_snapshots_as_of(organization_id=connection.organization_id, as_of=created)}
    assert (early[deal.pk].stage, early[deal.pk].amount, early[deal.pk].stage_probability) == ("Qualified", 100, 0.2)
    assert early[deal.pk].close_date == dt.date(2026, 3, 31)
    changed = rows.get(field="stage", new_value="Proposal").changed_at
    later = deal_snapshots_as_of(organization_id=connection.organization_id, as_of=changed, include_closed=True)
    snapshot = next(s for s in later if s.deal_id == deal.pk)
    assert (snapshot.stage, snapshot.close_date_pushes, snapshot.status) == ("Proposal", 1, "open")
    # Deals without changes have no changelog: nothing is made up for them.
    assert deal_reference_sync(connection_id=connection.pk).deals_backfilled == 0
    calls = [path for method, path, _ in fake.requests if path.endswith("/changelog")]
    assert len(calls) == 3


def test_deal_scores_go_into_deal_fields_created_once(fake, synced):
    connection, deal_id = synced
    deal = Deal.objects.get(connection=connection, external_id=str(deal_id))
    PredictionFactory(
        organization=connection.organization,
        contact=None,
        deal=deal,
        task=Task.DEAL_WIN,
        probability=0.81,
        details={"expected_close": "2026-05-15"},
    )
    summary = connection_writeback(connection_id=connection.pk)
    assert summary.deals.written == 1, summary.as_text()
    connection.refresh_from_db()
    win_key, close_key = connection.config["win_probability_property"], connection.config["expected_close_property"]
    custom = fake.records["deals"][deal_id]["custom_fields"]
    assert (custom[win_key], custom[close_key]) == (81, "2026-05-15")
    assert {f["field_type"] for f in fake.fields["deals"] if f["field_code"] in (win_key, close_key)} == {
        "double",
        "date",
    }
    assert connection_writeback(connection_id=connection.pk).deals.unchanged == 1
