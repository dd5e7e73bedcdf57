import uuid

import pytest

from crm_connectors.models import CRMConnection, ScoreWrite
from crm_connectors.pipedrive.connector import PipedriveConnector
from crm_connectors.services import connection_create
from crm_connectors.writeback import connection_writeback
from tests.crm_connectors.pipedrive.conftest import FakeTime
from tests.crm_connectors.pipedrive.fake_server import PERSON_SCORE, FakePipedrive
from tests.crm_connectors.writeback.conftest import rescore
from tests.factories import OrganizationFactory

FAST = {"token_rate_per_second": 1_000_000, "token_burst": 1_000_000}


@pytest.fixture
def clock(monkeypatch) -> FakeTime:
    fake_time = FakeTime()
    monkeypatch.setattr(PipedriveConnector, "sleep", fake_time.sleep)
    monkeypatch.setattr(PipedriveConnector, "clock", fake_time.clock)
    return fake_time


@pytest.fixture
def fake(clock):
    with FakePipedrive(api_token=f"pd-{uuid.uuid4().hex}") as server:
        yield server


def pd_connection(fake: FakePipedrive, **config) -> CRMConnection:
    return connection_create(
        organization=OrganizationFactory(),
        kind="pipedrive",
        name="pipedrive",
        config={"base_url": fake.url, **config},
        credentials={"token": fake.api_token},
    )


def patches(fake: FakePipedrive) -> list[str]:
    return [path for method, path, _ in fake.requests if method == "PATCH"]


def test_field_created_then_one_patch_per_changed_person(db, fake, scored):
    person_ids = [fake.add("persons", name=f"P{i}") for i in range(4)]
    connection = pd_connection(fake, **FAST)
    contacts = scored(connection, {str(pid): 10 * (n + 1) for n, pid in enumerate(person_ids)})

    summary = connection_writeback(connection_id=connection.pk)

    assert (summary.written, summary.failed) == (4, 0)
    created = [f for f in fake.fields["persons"] if f["field_name"] == "SalesAI lead score"]
    assert len(created) == 1 and created[0]["field_type"] == "double"
    key = created[0]["field_code"]
    connection.refresh_from_db()
    assert connection.config["score_property"] == key  # remembered: found without a lookup next time
    assert patches(fake) == [f"/api/v2/persons/{pid}" for pid in person_ids]
    assert [fake.records["persons"][pid]["custom_fields"][key] for pid in person_ids] == [10, 20, 30, 40]
    assert fake.tokens_spent == 10 + 10 + 4 * 5  # field list, field create, four PATCHes

    fake.requests.clear()
    rescore(contacts[1], 99)
    again = connection_writeback(connection_id=connection.pk)
    assert fake.requests == [("PATCH", f"/api/v2/persons/{person_ids[1]}", {})]
    assert (again.written, again.unchanged) == (1, 3)
    assert fake.records["persons"][person_ids[1]]["custom_fields"][key] == 99


def test_configured_key_is_used_and_refusals_are_recorded_per_record(db, fake, scored):
    ok, refused = fake.add("persons", name="Ok"), fake.add("persons", name="Refused")
    fake.write_rejects = {refused: "Field value is invalid"}
    connection = pd_connection(fake, score_property=PERSON_SCORE, **FAST)
    scored(connection, {str(ok): 61, str(refused): 62, "999999": 63})

    summary = connection_writeback(connection_id=connection.pk)

    assert not [r for r in fake.requests if r[1].endswith("personFields")]
    assert (summary.written, summary.failed) == (1, 2)
    assert fake.records["persons"][ok]["custom_fields"][PERSON_SCORE] == 61
    errors = {row.external_id: row.error for row in ScoreWrite.objects.filter(status=ScoreWrite.Status.FAILED)}
    assert "400" in errors[str(refused)] and "invalid" in errors[str(refused)]
    assert "404" in errors["999999"]


def test_writes_respect_the_token_rate_and_stop_at_the_daily_budget(db, fake, clock, scored):
    person_ids = [fake.add("persons", name=f"P{i}") for i in range(6)]
    # 10 tokens per second; a day's budget that fits 3 PATCHes (3 x 5 tokens), not more (the key is configured).
    connection = pd_connection(
        fake, score_property=PERSON_SCORE, token_rate_per_second=10, token_burst=10, daily_token_budget=15
    )
    scored(connection, {str(pid): 70 for pid in person_ids})

    summary = connection_writeback(connection_id=connection.pk)

    assert len(patches(fake)) == 3 and fake.tokens_spent == 15
    assert (summary.written, summary.failed) == (3, 3)
    assert sum(clock.sleeps) >= (15 - 10) / 10 - 1e-6  # the bucket made the writes wait for their tokens
    failed = ScoreWrite.objects.filter(status=ScoreWrite.Status.FAILED)
    assert failed.count() == 3 and all("budget" in row.error for row in failed)
