"""Salesforce opportunities for the deal models: owner and closed dates, OpportunityStage probabilities,
OpportunityHistory backfill (SOQL), and deal scores written into two Opportunity fields."""

import datetime as dt

import pytest

from crm_connectors.deal_sync import deal_reference_sync
from crm_connectors.models import DealScoreWrite
from crm_connectors.services import connection_create
from crm_connectors.sync import connection_sync
from crm_connectors.writeback import connection_writeback
from ml.models import Task
from salesai.core.deal_history import deal_snapshots_as_of
from salesai.core.models import Deal, DealHistory, PipelineStage
from tests.crm_connectors.salesforce.fake_server import FakeSalesforce
from tests.factories import OrganizationFactory, PredictionFactory

pytestmark = pytest.mark.django_db
DEAL_FIELDS = {"Opportunity": {"SalesAI_Win_Probability__c": "double", "SalesAI_Expected_Close__c": "date"}}


@pytest.fixture
def fake():
    with FakeSalesforce(custom_fields=DEAL_FIELDS) as server:
        yield server


@pytest.fixture
def connection(fake):
    return connection_create(
        organization=OrganizationFactory(),
        kind="salesforce",
        name="salesforce",
        config={"base_url": fake.url},
        credentials={
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "refresh_token": fake.refresh_token,
        },
    )


@pytest.fixture
def opportunities(fake):
    owner = fake.add_user("rep@example.test")
    open_id = fake.add(
        "Opportunity",
        Name="Open",
        Amount=1000.0,
        StageName="Prospecting",
        CloseDate="2026-02-01",
        OwnerId=owner,
        IsClosed=False,
        IsWon=False,
    )
    fake.advance(days=10)
    fake.update("Opportunity", open_id, StageName="Needs Analysis", CloseDate="2026-03-01")
    fake.advance(days=10)
    fake.update("Opportunity", open_id, Amount=1500.0)
    won_id = fake.add(
        "Opportunity",
        Name="Won",
        Amount=500.0,
        StageName="Negotiation/Review",
        CloseDate="2026-01-25",
        OwnerId=owner,
        IsClosed=False,
        IsWon=False,
    )
    fake.advance(days=2)
    fake.update("Opportunity", won_id, StageName="Closed Won", IsClosed=True, IsWon=True, CloseDate="2026-01-23")
    return open_id, won_id


def test_owner_and_closed_date_come_with_the_opportunity(fake, connection, opportunities):
    assert connection_sync(connection_id=connection.pk, full=True).status == "succeeded"
    open_deal = Deal.objects.get(external_id=opportunities[0])
    won = Deal.objects.get(external_id=opportunities[1])
    assert open_deal.owner_email == won.owner_email == "rep@example.test"
    assert (open_deal.closed_at, won.closed_at) == (None, dt.datetime(2026, 1, 23, tzinfo=dt.UTC))


def test_stage_probabilities_and_opportunity_history_backfill(fake, connection, opportunities):
    connection_sync(connection_id=connection.pk, full=True)
    summary = deal_reference_sync(connection_id=connection.pk)
    assert (summary.stages, summary.deals_backfilled) == (7, 2)
    stages = PipelineStage.objects.filter(organization=connection.organization)
    assert stages.get(stage="Needs Analysis").probability == 0.2
    assert (stages.get(stage="Closed Won").is_won, stages.get(stage="Closed Lost").is_closed) == (True, True)

    deal = Deal.objects.get(external_id=opportunities[0])
    rows = DealHistory.objects.filter(deal=deal, source="backfill")
    assert list(rows.filter(field="stage").values_list("old_value", "new_value")) == [
        ("", "Prospecting"),
        ("Prospecting", "Needs Analysis"),
    ]
    assert list(rows.filter(field="amount").values_list("new_value", flat=True)) == ["1000.00", "1500.00"]
    first = rows.filter(field="stage").first().changed_at
    early = {s.deal_id: s for s in deal_snapshots_as_of(organization_id=connection.organization_id, as_of=first)}
    assert (early[deal.pk].stage, early[deal.pk].amount, early[deal.pk].stage_probability) == (
        "Prospecting",
        1000,
        0.1,
    )
    late = {
        s.deal_id: s
        for s in deal_snapshots_as_of(organization_id=connection.organization_id, as_of=first + dt.timedelta(days=15))
    }
    assert late[deal.pk].close_date_pushes == 1 and late[deal.pk].stage == "Needs Analysis"
    won = Deal.objects.get(external_id=opportunities[1])
    assert DealHistory.objects.filter(deal=won, field="status", new_value="won", source="backfill").exists()
    assert any("FROM OpportunityHistory WHERE OpportunityId IN" in q for q in fake.queries())


def test_deal_scores_go_into_opportunity_fields(fake, connection, opportunities):
    connection_sync(connection_id=connection.pk, full=True)
    deal = Deal.objects.get(external_id=opportunities[0])
    PredictionFactory(
        organization=connection.organization,
        contact=None,
        deal=deal,
        task=Task.DEAL_WIN,
        probability=0.44,
        details={"expected_close": "2026-04-15"},
    )
    summary = connection_writeback(connection_id=connection.pk)
    assert summary.deals.written == 1, summary.as_text()
    stored = fake.records["Opportunity"][opportunities[0]]
    assert (stored["SalesAI_Win_Probability__c"], stored["SalesAI_Expected_Close__c"]) == (44, "2026-04-15")
    assert DealScoreWrite.objects.get(deal=deal).status == "written"
    assert connection_writeback(connection_id=connection.pk).deals.unchanged == 1


def test_missing_opportunity_fields_stop_the_deal_part_with_a_clear_error(connection, opportunities):
    connection.config = {**connection.config}
    fake_less = FakeSalesforce()  # no custom fields at all
    with fake_less:
        connection.config["base_url"] = fake_less.url
        connection.save()
        opportunity = fake_less.add("Opportunity", Name="X", StageName="Prospecting", IsClosed=False, IsWon=False)
        connection_sync(connection_id=connection.pk, full=True)
        deal = Deal.objects.get(connection=connection, external_id=opportunity)
        PredictionFactory(
            organization=connection.organization, contact=None, deal=deal, task=Task.DEAL_WIN, probability=0.5
        )
        summary = connection_writeback(connection_id=connection.pk)
    assert summary.deals.failed == 1 and "SalesAI_Win_Probability__c" in summary.deals.error
