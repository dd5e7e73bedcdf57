"""Churn risk into Pipedrive organizations: the custom field found or created, one PATCH per changed record."""

import uuid

import pytest

from crm_connectors.models import CompanyScoreWrite, CRMConnection
from crm_connectors.pipedrive.connector import PipedriveConnector
from crm_connectors.services import connection_create
from crm_connectors.writeback import connection_writeback
from tests.crm_connectors.pipedrive.conftest import FakeTime
from tests.crm_connectors.pipedrive.fake_server import FakePipedrive
from tests.crm_connectors.writeback.conftest import churn_predict
from tests.factories import OrganizationFactory

FAST = {"token_rate_per_second": 1_000_000, "token_burst": 1_000_000}


@pytest.fixture
def fake(monkeypatch):
    fake_time = FakeTime()
    monkeypatch.setattr(PipedriveConnector, "sleep", fake_time.sleep)
    monkeypatch.setattr(PipedriveConnector, "clock", fake_time.clock)
    with FakePipedrive(api_token=f"pd-{uuid.uuid4().hex}") as server:
        yield server


def pd_connection(fake: FakePipedrive, **config) -> CRMConnection:
    return connection_create(
        organization=OrganizationFactory(),
        kind="pipedrive",
        name="pipedrive",
        config={"base_url": fake.url, **FAST, **config},
        credentials={"token": fake.api_token},
    )


def patches(fake: FakePipedrive) -> list[str]:
    return [path for method, path, _ in fake.requests if method == "PATCH"]


def test_field_created_then_one_patch_per_changed_organization(db, fake, churn_scored):
    org_ids = [fake.add("organizations", name=f"Org {i}") for i in range(3)]
    connection = pd_connection(fake)
    companies = churn_scored(connection, {str(org_id): 30 + n for n, org_id in enumerate(org_ids)})

    summary = connection_writeback(connection_id=connection.pk)

    assert (summary.churn.written, summary.churn.failed) == (3, 0)
    created = [f for f in fake.fields["organizations"] if f["field_name"] == "SalesAI churn risk"]
    assert len(created) == 1 and created[0]["field_type"] == "double"
    key = created[0]["field_code"]
    connection.refresh_from_db()
    assert connection.config["churn_property"] == key  # remembered: found without a lookup next time
    assert "score_property" not in connection.config  # no lead scores: the person field was left alone
    assert patches(fake) == [f"/api/v2/organizations/{org_id}" for org_id in org_ids]
    assert [fake.records["organizations"][o]["custom_fields"][key] for o in org_ids] == [30, 31, 32]
    assert fake.tokens_spent == 10 + 10 + 3 * 5  # field list, field create, three PATCHes

    fake.requests.clear()
    churn_predict(companies[2], 97)
    again = connection_writeback(connection_id=connection.pk)
    assert fake.requests == [("PATCH", f"/api/v2/organizations/{org_ids[2]}", {})]
    assert (again.churn.written, again.churn.unchanged) == (1, 2)
    assert fake.records["organizations"][org_ids[2]]["custom_fields"][key] == 97


def test_refusals_are_recorded_per_record_and_retried(db, fake, churn_scored):
    ok, refused = fake.add("organizations", name="Ok"), fake.add("organizations", name="Refused")
    fake.write_rejects = {refused: "Field value is invalid"}
    connection = pd_connection(fake)
    churn_scored(connection, {str(ok): 11, str(refused): 12, "999999": 13})

    summary = connection_writeback(connection_id=connection.pk)

    assert (summary.churn.written, summary.churn.failed) == (1, 2)
    errors = {row.external_id: row.error for row in CompanyScoreWrite.objects.filter(status="failed")}
    assert "400" in errors[str(refused)] and "invalid" in errors[str(refused)]
    assert "404" in errors["999999"]

    fake.write_rejects = {}
    fake.requests.clear()
    retry = connection_writeback(connection_id=connection.pk)
    assert sorted(patches(fake)) == sorted([f"/api/v2/organizations/{refused}", "/api/v2/organizations/999999"])
    assert not [r for r in fake.requests if r[1].endswith("organizationFields")]  # the key was kept
    assert (retry.churn.written, retry.churn.failed, retry.churn.unchanged) == (1, 1, 1)
    key = CRMConnection.objects.get(pk=connection.pk).config["churn_property"]
    assert fake.records["organizations"][refused]["custom_fields"][key] == 12


def test_no_churn_prediction_sends_nothing(db, fake, scored):
    person = fake.add("persons", name="P")
    fake.add("organizations", name="Unscored")
    connection = pd_connection(fake)
    scored(connection, {str(person): 44})

    summary = connection_writeback(connection_id=connection.pk)

    assert summary.written == 1 and summary.churn.considered == 0
    assert not [path for _, path, _ in fake.requests if "organization" in path]
    assert CompanyScoreWrite.objects.count() == 0
