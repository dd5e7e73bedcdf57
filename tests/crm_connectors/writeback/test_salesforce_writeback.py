import json

import pytest

from crm_connectors.models import ScoreWrite
from crm_connectors.services import connection_create
from crm_connectors.writeback import connection_writeback
from tests.crm_connectors.salesforce.fake_server import FakeSalesforce
from tests.crm_connectors.writeback.conftest import rescore
from tests.factories import OrganizationFactory

FIELD = "SalesAI_Lead_Score__c"


def make_fake(*, with_field: bool = True) -> FakeSalesforce:
    custom = {"Lead": {FIELD: "double"}, "Contact": {FIELD: "double"}} if with_field else {}
    return FakeSalesforce(custom_fields=custom)


@pytest.fixture
def fake_sf():
    with make_fake() as fake:
        yield fake


def sf_connection(fake: FakeSalesforce):
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


def collection_calls(fake: FakeSalesforce) -> list[tuple[str, str, dict]]:
    return [call for call in fake.requests if call[0] == "PATCH" and call[1].endswith("/composite/sobjects")]


def test_composite_200_per_call_with_per_record_errors(db, fake_sf, scored):
    leads = [fake_sf.add("Lead", LastName=f"Lead {i}", Company="Acme") for i in range(150)]
    contacts = [fake_sf.add("Contact", LastName=f"Contact {i}") for i in range(100)]
    fake_sf.write_rejects = {leads[10]: "Score locked by a validation rule"}
    fake_sf.delete("Contact", contacts[5])
    connection = sf_connection(fake_sf)
    scored(connection, {record_id: (n * 7) % 101 for n, record_id in enumerate(leads + contacts)})
    sent: list[dict] = []
    original = fake_sf._collection_update
    fake_sf._collection_update = lambda raw: (sent.append(json.loads(raw)), original(raw))[1]

    summary = connection_writeback(connection_id=connection.pk)

    assert [len(body["records"]) for body in sent] == [200, 50]
    assert all(body["allOrNone"] is False for body in sent)
    assert {r["attributes"]["type"] for r in sent[0]["records"][:150]} == {"Lead"}
    assert (summary.written, summary.failed) == (248, 2)
    assert fake_sf.records["Lead"][leads[0]][FIELD] == 0
    assert fake_sf.records["Contact"][contacts[99]][FIELD] == (249 * 7) % 101
    failed = {row.external_id: row.error for row in ScoreWrite.objects.filter(status=ScoreWrite.Status.FAILED)}
    assert set(failed) == {leads[10], contacts[5]}
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in failed[leads[10]] and "validation rule" in failed[leads[10]]
    assert "ENTITY_IS_DELETED" in failed[contacts[5]]
    assert FIELD not in fake_sf.records["Lead"][leads[10]]


def test_second_run_writes_only_changes_and_retries_failures(db, fake_sf, scored):
    lead_ids = [fake_sf.add("Lead", LastName=f"L{i}", Company="Acme") for i in range(3)]
    fake_sf.write_rejects = {lead_ids[0]: "locked"}
    connection = sf_connection(fake_sf)
    contacts = scored(connection, dict.fromkeys(lead_ids, 50))
    connection_writeback(connection_id=connection.pk)
    assert len(collection_calls(fake_sf)) == 1

    fake_sf.write_rejects = {}
    rescore(contacts[2], 77)
    fake_sf.requests.clear()
    summary = connection_writeback(connection_id=connection.pk)
    assert len(collection_calls(fake_sf)) == 1
    assert (summary.written, summary.unchanged, summary.failed) == (2, 1, 0)
    assert fake_sf.records["Lead"][lead_ids[0]][FIELD] == 50 and fake_sf.records["Lead"][lead_ids[2]][FIELD] == 77

    fake_sf.requests.clear()
    connection_writeback(connection_id=connection.pk)
    assert collection_calls(fake_sf) == []


def test_missing_field_is_a_clear_error_and_nothing_is_written(db, scored):
    with make_fake(with_field=False) as fake:
        lead = fake.add("Lead", LastName="L", Company="Acme")
        connection = sf_connection(fake)
        scored(connection, {lead: 60})
        summary = connection_writeback(connection_id=connection.pk)
        assert FIELD in summary.error and "does not create Salesforce fields" in summary.error
        assert collection_calls(fake) == []
        assert ScoreWrite.objects.get().status == ScoreWrite.Status.FAILED


def test_ids_that_are_neither_lead_nor_contact_fail_per_record(db, fake_sf, scored):
    lead = fake_sf.add("Lead", LastName="L", Company="Acme")
    connection = sf_connection(fake_sf)
    scored(connection, {lead: 60, "001000000000001AAA": 70})
    summary = connection_writeback(connection_id=connection.pk)
    assert (summary.written, summary.failed) == (1, 1)
    assert "Lead (00Q) or Contact (003)" in ScoreWrite.objects.get(external_id="001000000000001AAA").error
