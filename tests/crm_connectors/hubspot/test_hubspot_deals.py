"""HubSpot deals for the deal models: owners, closed dates, pipeline stages with probabilities, history from
`propertiesWithHistory`, webhook changes as history, and deal scores written into deal properties."""

import datetime as dt

import pytest
from django.core.management import call_command

from crm_connectors.deal_sync import deal_reference_sync
from crm_connectors.models import DealScoreWrite, WebhookEvent
from crm_connectors.sync import connection_sync
from crm_connectors.webhook_processing import webhook_event_process
from crm_connectors.writeback import connection_writeback
from ml.models import Task
from salesai.core.deal_history import deal_snapshots_as_of
from salesai.core.models import Deal, DealHistory, PipelineStage
from tests.crm_connectors.hubspot.fake_server import BASE_MS, OWNERS, FakeHubSpot
from tests.crm_connectors.webhooks.conftest import hubspot_event
from tests.factories import PredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(sleeps):
    with FakeHubSpot(contacts=10, companies=3, deals=6, engagements=0) as server:
        yield server


@pytest.fixture
def synced(fake, hub_connection):
    connection = hub_connection(fake)
    assert connection_sync(connection_id=connection.pk, full=True).status == "succeeded"
    return connection


def _deal(connection, fake, index):
    return Deal.objects.get(connection=connection, external_id=fake.record_id("deals", index))


def test_sync_resolves_owner_ids_to_emails_and_keeps_when_closed_deals_closed(fake, synced):
    for index in range(6):
        assert _deal(synced, fake, index).owner_email == OWNERS[index % 3][1]
    won = _deal(synced, fake, 3)  # DEAL_STAGES[3] is closedwon: its close date is when it closed
    assert won.status == "won" and won.closed_at == dt.datetime.fromtimestamp(BASE_MS / 1000 + 3 * 86_400, dt.UTC)
    assert _deal(synced, fake, 0).closed_at is None
    owners_calls = [r for r in fake.requests if r.path == "/crm/v3/owners"]
    assert len(owners_calls) == len(OWNERS)  # paged through once per run, one owner per page in the fake


def test_pipeline_stages_and_history_backfill(fake, synced):
    summary = deal_reference_sync(connection_id=synced.pk)
    assert summary.stages == 9 and summary.deals_backfilled == 6
    stages = PipelineStage.objects.filter(organization=synced.organization)
    assert set(stages.values_list("pipeline", flat=True)) == {"default", "partners"}
    assert stages.get(pipeline="default", stage="qualifiedtobuy").probability == 0.4
    won = stages.get(pipeline="partners", stage="1003")
    assert (won.is_closed, won.is_won) == (True, True)

    deal = _deal(synced, fake, 2)  # contractsent, after appointmentscheduled 5 days after creation
    stage_rows = list(
        DealHistory.objects.filter(deal=deal, field="stage").values_list("old_value", "new_value", "source")
    )
    assert stage_rows == [
        ("", "appointmentscheduled", "backfill"),
        ("appointmentscheduled", "contractsent", "backfill"),
    ]
    created = dt.datetime.fromtimestamp((BASE_MS - 30 * 86_400_000 + 2 * 1000) / 1000, dt.UTC)
    early = {s.deal_id: s for s in deal_snapshots_as_of(organization_id=synced.organization_id, as_of=created)}
    assert early[deal.pk].stage == "appointmentscheduled" and early[deal.pk].stage_probability == 0.2
    later = {
        s.deal_id: s
        for s in deal_snapshots_as_of(organization_id=synced.organization_id, as_of=created + dt.timedelta(days=8))
    }
    assert later[deal.pk].stage == "contractsent" and later[deal.pk].close_date_pushes == 1
    # Status history comes from the closed stages.
    won_deal = _deal(synced, fake, 3)
    assert DealHistory.objects.filter(deal=won_deal, field="status", new_value="won", source="backfill").exists()

    again = deal_reference_sync(connection_id=synced.pk)
    assert again.deals_backfilled == 0  # each deal once


def test_the_command_reports_what_it_stored(fake, synced, capsys):
    call_command("crm_deal_history", str(synced.pk), "--limit", "2")
    assert "9 pipeline stages stored; 2 deals backfilled" in capsys.readouterr().out


def test_a_webhook_deal_change_is_history_from_the_webhook(fake, synced):
    deal_external_id = fake.record_id("deals", 1)
    fake.modify("deals", 1, dealstage="contractsent", amount="2500")
    event = WebhookEvent.objects.create(
        connection=synced,
        event_id="e1",
        payload=hubspot_event(1, deal_external_id, kind="deal.propertyChange", propertyName="dealstage"),
    )
    assert webhook_event_process(event_id=event.pk).status == "processed"
    rows = DealHistory.objects.filter(deal__external_id=deal_external_id, source="webhook")
    assert set(rows.values_list("field", "new_value")) == {("stage", "contractsent"), ("amount", "2500.00")}


def test_deal_scores_go_into_deal_properties_and_only_changes_are_written_again(fake, synced):
    deals = [_deal(synced, fake, i) for i in range(2)]
    for deal, (probability, close) in zip(deals, ((0.62, "2026-03-31"), (0.1, None)), strict=True):
        PredictionFactory(
            organization=synced.organization,
            contact=None,
            deal=deal,
            task=Task.DEAL_WIN,
            probability=probability,
            details={"expected_close": close} if close else {},
        )
    summary = connection_writeback(connection_id=synced.pk)
    assert (summary.deals.written, summary.deals.failed) == (2, 0), summary.as_text()
    record = fake.properties_of("deals", 0)
    assert (record["salesai_win_probability"], record["salesai_expected_close"]) == ("62", "2026-03-31")
    assert fake.extra_properties["deals"]["salesai_expected_close"][0] == "date"
    assert DealScoreWrite.objects.get(deal=deals[0]).expected_close == dt.date(2026, 3, 31)

    assert connection_writeback(connection_id=synced.pk).deals.unchanged == 2
    current = deals[0].predictions.get(is_current=True)
    current.details = {"expected_close": "2026-04-30"}
    current.save()
    again = connection_writeback(connection_id=synced.pk)
    assert (again.deals.written, again.deals.unchanged) == (1, 1)
    assert fake.properties_of("deals", 0)["salesai_expected_close"] == "2026-04-30"


def test_our_own_deal_score_write_coming_back_is_an_echo(fake, synced):
    deal_external_id = fake.record_id("deals", 1)
    event = WebhookEvent.objects.create(
        connection=synced,
        event_id="echo",
        payload=hubspot_event(
            2, deal_external_id, kind="deal.propertyChange", propertyName="salesai_win_probability", propertyValue="62"
        ),
    )
    fake.requests.clear()
    assert webhook_event_process(event_id=event.pk).status == "processed"
    assert fake.requests == []  # nothing re-read, nothing written
