import pytest

from crm_connectors.models import ScoreWrite
from crm_connectors.services import connection_create
from crm_connectors.writeback import connection_writeback
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot
from tests.crm_connectors.writeback.conftest import rescore
from tests.factories import OrganizationFactory

PROPERTY = "salesai_lead_score"


@pytest.fixture
def hub():
    with FakeHubSpot(contacts=240) as fake:
        yield fake


@pytest.fixture
def connection(db, hub):
    return connection_create(
        organization=OrganizationFactory(),
        kind="hubspot",
        name="hubspot",
        config={"base_url": hub.url, "requests_per_second": 0, "search_requests_per_second": 0},
        credentials={"token": hub.token},
    )


def batch_updates(hub: FakeHubSpot) -> list[list[dict]]:
    return [req.body["inputs"] for req in hub.requests if req.path.endswith("/batch/update")]


def stored_score(hub: FakeHubSpot, index: int):
    return hub.properties_of("contacts", index).get(PROPERTY)


def test_batches_of_100_with_207_partial_failure_then_retry_writes_only_the_failed(hub, connection, scored):
    scores = {hub.record_id("contacts", i): i % 101 for i in range(230)}
    scored(connection, scores)
    hub.archive("contacts", 7)  # gone from HubSpot: OBJECT_NOT_FOUND in the 207
    rejected = {hub.record_id("contacts", 120), hub.record_id("contacts", 229)}
    hub.write_rejects = dict.fromkeys(rejected, "value is not a number")

    summary = connection_writeback(connection_id=connection.pk)

    assert [len(inputs) for inputs in batch_updates(hub)] == [100, 100, 30]
    assert (summary.considered, summary.written, summary.failed, summary.unchanged) == (230, 227, 3, 0)
    # The property was missing: created once, as a number.
    creates = [req for req in hub.requests if req.method == "POST" and req.path == "/crm/v3/properties/contacts"]
    assert len(creates) == 1 and creates[0].body["type"] == "number" and creates[0].body["name"] == PROPERTY
    assert stored_score(hub, 0) == "0" and stored_score(hub, 119) == "18"
    assert stored_score(hub, 120) is None
    failed = {row.external_id: row.error for row in ScoreWrite.objects.filter(status=ScoreWrite.Status.FAILED)}
    assert set(failed) == rejected | {hub.record_id("contacts", 7)}
    assert "value is not a number" in failed[hub.record_id("contacts", 120)]
    assert "OBJECT_NOT_FOUND" in failed[hub.record_id("contacts", 7)]
    assert ScoreWrite.objects.filter(status=ScoreWrite.Status.WRITTEN).count() == 227

    hub.write_rejects = {}
    hub.requests.clear()
    retry = connection_writeback(connection_id=connection.pk)

    assert [sorted(item["id"] for item in inputs) for inputs in batch_updates(hub)] == [
        sorted(rejected | {hub.record_id("contacts", 7)})
    ]
    assert not [req for req in hub.requests if req.method == "POST" and req.path == "/crm/v3/properties/contacts"]
    assert (retry.written, retry.failed, retry.unchanged) == (2, 1, 227)
    assert stored_score(hub, 120) == str(120 % 101)
    still_failed = ScoreWrite.objects.get(external_id=hub.record_id("contacts", 7))
    assert still_failed.status == ScoreWrite.Status.FAILED and still_failed.attempts == 2


def test_unchanged_scores_are_not_rewritten_and_a_changed_one_is(hub, connection, scored):
    contacts = scored(connection, {hub.record_id("contacts", i): 40 + i for i in range(5)})
    connection_writeback(connection_id=connection.pk)
    assert len(batch_updates(hub)) == 1

    hub.requests.clear()
    second = connection_writeback(connection_id=connection.pk)
    assert hub.requests == []  # nothing changed: not a single API call
    assert (second.written, second.unchanged) == (0, 5)

    rescore(contacts[3], 91)
    third = connection_writeback(connection_id=connection.pk)
    assert [[(item["id"], item["properties"])] for item in batch_updates(hub)[0]] == [
        [(hub.record_id("contacts", 3), {PROPERTY: "91"})]
    ]
    assert (third.written, third.unchanged) == (1, 4)
    assert ScoreWrite.objects.get(contact=contacts[3]).score == 91


def test_existing_property_is_not_created_again(hub, connection, scored):
    hub.add_property("contacts", PROPERTY, "number", "number")
    scored(connection, {hub.record_id("contacts", 0): 55})
    summary = connection_writeback(connection_id=connection.pk)
    assert summary.written == 1
    assert not [req for req in hub.requests if req.method == "POST" and req.path == "/crm/v3/properties/contacts"]


def test_missing_property_with_creation_turned_off_stops_with_a_clear_error(hub, db, scored):
    connection = connection_create(
        organization=OrganizationFactory(),
        kind="hubspot",
        name="hubspot",
        config={
            "base_url": hub.url,
            "requests_per_second": 0,
            "search_requests_per_second": 0,
            "score_property": "custom_score",
            "create_score_property": False,
        },
        credentials={"token": hub.token},
    )
    scored(connection, {hub.record_id("contacts", 0): 55})
    summary = connection_writeback(connection_id=connection.pk)
    assert "custom_score" in summary.error and "does not exist" in summary.error
    assert batch_updates(hub) == []
    row = ScoreWrite.objects.get()
    assert row.status == ScoreWrite.Status.FAILED and "custom_score" in row.error


def test_transient_errors_on_a_batch_are_retried_by_the_client(hub, connection, scored):
    scored(connection, {hub.record_id("contacts", i): 20 for i in range(3)})
    failures = [503, 429]

    def flaky(req):
        if req.path.endswith("/batch/update") and failures:
            status = failures.pop(0)
            return status, {"Retry-After": "1"} if status == 429 else {}, {"status": "error", "message": "try again"}
        return None

    hub.fault = flaky
    summary = connection_writeback(connection_id=connection.pk)
    assert len(batch_updates(hub)) == 3  # two refused attempts, then the one that landed
    assert (summary.written, summary.failed) == (3, 0)
    assert [stored_score(hub, i) for i in range(3)] == ["20", "20", "20"]
