"""Churn risk into Salesforce Accounts: composite/sobjects PATCH, 200 per call, allOrNone=false."""

import json

from crm_connectors.models import CompanyScoreWrite
from crm_connectors.services import connection_create
from crm_connectors.writeback import connection_writeback
from tests.crm_connectors.salesforce.fake_server import FakeSalesforce
from tests.crm_connectors.writeback.conftest import churn_predict
from tests.factories import OrganizationFactory

LEAD_FIELD = "SalesAI_Lead_Score__c"
CHURN_FIELD = "SalesAI_Churn_Risk__c"


def sf_connection(fake: FakeSalesforce, **config):
    return connection_create(
        organization=OrganizationFactory(),
        kind="salesforce",
        name="salesforce",
        config={"base_url": fake.url, **config},
        credentials={
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "refresh_token": fake.refresh_token,
        },
    )


def recording(fake: FakeSalesforce) -> list[dict]:
    sent: list[dict] = []
    original = fake._collection_update
    fake._collection_update = lambda raw: (sent.append(json.loads(raw)), original(raw))[1]
    return sent


def test_accounts_in_calls_of_200_with_per_record_errors_then_retry(db, churn_scored):
    with FakeSalesforce(custom_fields={"Account": {CHURN_FIELD: "double"}}) as fake:
        accounts = [fake.add("Account", Name=f"Account {i}") for i in range(230)]
        fake.write_rejects = {accounts[17]: "Churn risk locked by a validation rule"}
        fake.delete("Account", accounts[200])
        connection = sf_connection(fake)
        churn_scored(connection, {account: (n * 3) % 101 for n, account in enumerate(accounts)})
        sent = recording(fake)

        summary = connection_writeback(connection_id=connection.pk)

        assert [len(body["records"]) for body in sent] == [200, 30]
        assert all(body["allOrNone"] is False for body in sent)
        assert {record["attributes"]["type"] for body in sent for record in body["records"]} == {"Account"}
        assert set(sent[0]["records"][0]) == {"attributes", "id", CHURN_FIELD}
        churn = summary.churn
        assert (churn.considered, churn.written, churn.failed) == (230, 228, 2)
        assert fake.records["Account"][accounts[5]][CHURN_FIELD] == 15
        assert CHURN_FIELD not in fake.records["Account"][accounts[17]]
        failed = {row.external_id: row.error for row in CompanyScoreWrite.objects.filter(status="failed")}
        assert set(failed) == {accounts[17], accounts[200]}
        assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in failed[accounts[17]]
        assert "ENTITY_IS_DELETED" in failed[accounts[200]]

        fake.write_rejects = {}
        sent.clear()
        retry = connection_writeback(connection_id=connection.pk)
        assert [sorted(record["id"] for record in body["records"]) for body in sent] == [
            sorted([accounts[17], accounts[200]])
        ]
        assert (retry.churn.written, retry.churn.failed, retry.churn.unchanged) == (1, 1, 228)
        assert fake.records["Account"][accounts[17]][CHURN_FIELD] == (17 * 3) % 101
        assert CompanyScoreWrite.objects.get(external_id=accounts[200]).attempts == 2


def test_only_changed_accounts_are_sent_to_the_configured_field(db, churn_scored):
    with FakeSalesforce(custom_fields={"Account": {"Risk__c": "double"}}) as fake:
        accounts = [fake.add("Account", Name=f"A{i}") for i in range(3)]
        connection = sf_connection(fake, churn_property="Risk__c")
        companies = churn_scored(connection, dict.fromkeys(accounts, 40))
        sent = recording(fake)
        connection_writeback(connection_id=connection.pk)
        assert len(sent) == 1 and fake.records["Account"][accounts[0]]["Risk__c"] == 40

        sent.clear()
        churn_predict(companies[1], 66)
        summary = connection_writeback(connection_id=connection.pk)
        assert [[(r["id"], r["Risk__c"]) for r in body["records"]] for body in sent] == [[(accounts[1], 66)]]
        assert (summary.churn.written, summary.churn.unchanged) == (1, 2)

        sent.clear()
        connection_writeback(connection_id=connection.pk)
        assert sent == []


def test_missing_account_field_stops_the_churn_part_but_not_the_lead_scores(db, scored, churn_scored):
    with FakeSalesforce(custom_fields={"Lead": {LEAD_FIELD: "double"}}) as fake:
        lead = fake.add("Lead", LastName="L", Company="Acme")
        account = fake.add("Account", Name="Acme")
        connection = sf_connection(fake)
        scored(connection, {lead: 55})
        churn_scored(connection, {account: 80})
        sent = recording(fake)

        summary = connection_writeback(connection_id=connection.pk)

        assert (summary.written, summary.error) == (1, "")
        assert CHURN_FIELD in summary.churn.error and "churn_property" in summary.churn.error
        assert [record["attributes"]["type"] for body in sent for record in body["records"]] == ["Lead"]
        assert CompanyScoreWrite.objects.get().status == "failed"
