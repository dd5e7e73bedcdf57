"""Churn risk into HubSpot companies: after the lead scores, through companies/batch/update, changed only."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm_connectors.models import CompanyScoreWrite, ScoreWrite
from crm_connectors.services import connection_create
from crm_connectors.writeback import connection_writeback
from ml.models import Task
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot
from tests.crm_connectors.writeback.conftest import churn_predict
from tests.factories import CompanyFactory, ContactFactory, OrganizationFactory, PredictionFactory

CHURN_PROPERTY = "salesai_churn_risk"


@pytest.fixture
def hub():
    with FakeHubSpot(contacts=10, companies=160) as fake:
        yield fake


def hub_connection(hub: FakeHubSpot, organization=None, name: str = "hubspot", **config):
    return connection_create(
        organization=organization or OrganizationFactory(),
        kind="hubspot",
        name=name,
        config={"base_url": hub.url, "requests_per_second": 0, "search_requests_per_second": 0, **config},
        credentials={"token": hub.token},
    )


def company_updates(hub: FakeHubSpot) -> list[list[dict]]:
    return [req.body["inputs"] for req in hub.requests if req.path == "/crm/v3/objects/companies/batch/update"]


def company_property_creates(hub: FakeHubSpot) -> list:
    return [req for req in hub.requests if req.method == "POST" and req.path == "/crm/v3/properties/companies"]


def test_churn_batches_of_100_with_207_partial_failure_then_retry_of_the_failed(hub, scored, churn_scored):
    connection = hub_connection(hub)
    scored(connection, {hub.record_id("contacts", 0): 40})
    churn_scored(connection, {hub.record_id("companies", i): (3 * i) % 101 for i in range(150)})
    hub.archive("companies", 4)  # gone from HubSpot: OBJECT_NOT_FOUND in the 207
    rejected = hub.record_id("companies", 130)
    hub.write_rejects = {rejected: "value out of range"}

    summary = connection_writeback(connection_id=connection.pk)

    assert [len(inputs) for inputs in company_updates(hub)] == [100, 50]
    assert (summary.considered, summary.written) == (1, 1)  # the lead part, on its own
    churn = summary.churn
    assert (churn.considered, churn.written, churn.failed, churn.unchanged) == (150, 148, 2, 0)
    creates = company_property_creates(hub)
    assert len(creates) == 1
    assert (creates[0].body["name"], creates[0].body["type"]) == (CHURN_PROPERTY, "number")
    assert hub.properties_of("companies", 10).get(CHURN_PROPERTY) == "30"
    assert hub.properties_of("companies", 130).get(CHURN_PROPERTY) is None
    failed = {row.external_id: row.error for row in CompanyScoreWrite.objects.filter(status="failed")}
    assert set(failed) == {rejected, hub.record_id("companies", 4)}
    assert "value out of range" in failed[rejected] and "OBJECT_NOT_FOUND" in failed[hub.record_id("companies", 4)]
    assert CompanyScoreWrite.objects.filter(status="written").count() == 148
    assert ScoreWrite.objects.count() == 1  # company outcomes are kept apart from contact outcomes

    hub.write_rejects = {}
    hub.requests.clear()
    retry = connection_writeback(connection_id=connection.pk)

    assert [sorted(item["id"] for item in inputs) for inputs in company_updates(hub)] == [
        sorted([rejected, hub.record_id("companies", 4)])
    ]
    assert company_property_creates(hub) == []
    assert (retry.churn.written, retry.churn.failed, retry.churn.unchanged) == (1, 1, 148)
    assert retry.unchanged == 1
    assert hub.properties_of("companies", 130).get(CHURN_PROPERTY) == str((3 * 130) % 101)
    still_failed = CompanyScoreWrite.objects.get(external_id=hub.record_id("companies", 4))
    assert still_failed.status == "failed" and still_failed.attempts == 2


def test_only_changed_churn_risks_are_written(hub, churn_scored):
    connection = hub_connection(hub, churn_property="my_churn")
    companies = churn_scored(connection, {hub.record_id("companies", i): 20 + i for i in range(4)})
    connection_writeback(connection_id=connection.pk)
    assert company_property_creates(hub)[0].body["name"] == "my_churn"  # the configured name

    hub.requests.clear()
    again = connection_writeback(connection_id=connection.pk)
    assert hub.requests == []  # nothing changed: not a single API call
    assert (again.churn.written, again.churn.unchanged) == (0, 4)

    churn_predict(companies[2], 88)
    third = connection_writeback(connection_id=connection.pk)
    assert company_updates(hub) == [
        [
            {
                "id": hub.record_id("companies", 2),
                "objectWriteTraceId": hub.record_id("companies", 2),
                "properties": {"my_churn": "88"},
            }
        ]
    ]
    assert (third.churn.written, third.churn.unchanged) == (1, 3)
    assert CompanyScoreWrite.objects.get(company=companies[2]).score == 88


def test_companies_without_a_current_churn_prediction_are_never_sent(hub, scored, churn_scored):
    connection = hub_connection(hub)
    other = hub_connection(hub, organization=connection.organization, name="second portal")
    churn_scored(other, {hub.record_id("companies", 1): 70})  # another connection's company
    deleted = churn_scored(connection, {hub.record_id("companies", 2): 60})[0]
    deleted.deleted_at = timezone.now()
    deleted.save()
    CompanyFactory(organization=connection.organization, connection=connection, external_id="4")  # never scored
    stale = churn_scored(connection, {hub.record_id("companies", 5): 50})[0]
    stale.predictions.update(is_current=False)  # only history left
    contact = ContactFactory(organization=connection.organization, connection=connection, external_id="6")
    PredictionFactory(organization=connection.organization, contact=contact, task=Task.CHURN, score=90)
    scored(connection, {hub.record_id("contacts", 0): 40})

    summary = connection_writeback(connection_id=connection.pk)

    assert company_updates(hub) == []
    assert not [req for req in hub.requests if "/companies" in req.path]  # not even the property check
    assert (summary.churn.considered, summary.churn.written, summary.churn.failed) == (0, 0, 0)
    assert CompanyScoreWrite.objects.count() == 0
    assert summary.written == 1


def test_missing_company_property_with_creation_off_fails_the_churn_part_only(hub, scored, churn_scored):
    connection = hub_connection(hub, create_score_property=False)
    hub.add_property("contacts", "salesai_lead_score", "number", "number")
    scored(connection, {hub.record_id("contacts", 0): 40})
    churn_scored(connection, {hub.record_id("companies", 0): 75})

    summary = connection_writeback(connection_id=connection.pk)

    assert (summary.written, summary.error) == (1, "")
    assert CHURN_PROPERTY in summary.churn.error and "does not exist" in summary.churn.error
    assert company_updates(hub) == []
    row = CompanyScoreWrite.objects.get()
    assert row.status == "failed" and CHURN_PROPERTY in row.error


def test_command_reports_the_churn_part_separately(hub, scored, churn_scored):
    connection = hub_connection(hub)
    scored(connection, {hub.record_id("contacts", 0): 40})
    churn_scored(connection, {hub.record_id("companies", 0): 75, "999999": 10})  # 999999 is not in HubSpot
    out = StringIO()
    call_command("crm_writeback", str(connection.pk), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"Writeback of connection {connection.pk}: considered=1 written=1 unchanged=0 failed=0"
    churn_line = lines.index("churn risk: considered=2 written=1 unchanged=0 failed=1")
    assert lines[churn_line + 1].startswith("  - 999999: OBJECT_NOT_FOUND")
