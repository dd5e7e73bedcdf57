"""Processing stored HubSpot events: re-read through batch/read, upsert like a sync page, rescore, replay."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm_connectors.models import WebhookEvent
from crm_connectors.services import connection_create
from crm_connectors.sync import connection_sync
from crm_connectors.webhook_processing import webhook_event_process
from salesai.core.models import Contact
from tests.crm_connectors.hubspot.fake_server import FakeHubSpot
from tests.crm_connectors.webhooks.conftest import HUBSPOT_SECRET, hubspot_event
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    with FakeHubSpot(contacts=6, companies=2, deals=2, engagements=0) as server:
        yield server


@pytest.fixture
def connection(fake):
    connection = connection_create(
        organization=OrganizationFactory(),
        kind="hubspot",
        name="hubspot",
        config={"base_url": fake.url, "requests_per_second": 0, "search_requests_per_second": 0},
        credentials={"token": fake.token, "client_secret": HUBSPOT_SECRET},
    )
    connection_sync(connection_id=connection.pk)
    return connection


def store(connection, payload: dict) -> WebhookEvent:
    return WebhookEvent.objects.create(connection=connection, event_id=str(payload["eventId"]), payload=payload)


def batch_reads(fake: FakeHubSpot) -> list:
    return [req for req in fake.requests if req.path.endswith("/batch/read") and "/v3/objects/" in req.path]


def test_partial_event_rereads_the_record_and_rescores_it(
    fake, connection, rescore_calls, django_capture_on_commit_callbacks
):
    contact_id = fake.record_id("contacts", 2)
    fake.modify("contacts", 2, firstname="Renamed", lifecyclestage="opportunity")
    event = store(connection, hubspot_event(1, contact_id))
    fake.requests.clear()

    with django_capture_on_commit_callbacks(execute=True):
        event = webhook_event_process(event_id=event.pk)

    assert (event.status, event.attempts, event.error) == ("processed", 1, "")
    assert event.processed_at is not None
    reads = batch_reads(fake)
    assert len(reads) == 1 and reads[0].body["inputs"] == [{"id": contact_id}]
    contact = Contact.objects.get(connection=connection, external_id=contact_id)
    assert (contact.first_name, contact.lifecycle_stage) == ("Renamed", "opportunity")
    assert rescore_calls == [{"organization_id": connection.organization_id, "contact_ids": [contact.pk]}]


def test_an_event_for_an_unchanged_record_does_not_rescore(
    fake, connection, rescore_calls, django_capture_on_commit_callbacks
):
    event = store(connection, hubspot_event(1, fake.record_id("contacts", 1)))
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_process(event_id=event.pk).status == "processed"
    assert len(batch_reads(fake)) == 1
    assert rescore_calls == []


def test_score_only_change_is_processed_without_reading_or_rescoring(
    fake, connection, rescore_calls, django_capture_on_commit_callbacks
):
    contact_id = fake.record_id("contacts", 3)
    fake.modify("contacts", 3, firstname="Changed elsewhere")  # even if something else changed, the echo reads nothing
    event = store(connection, hubspot_event(1, contact_id, propertyName="salesai_lead_score", propertyValue="87"))
    fake.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        event = webhook_event_process(event_id=event.pk)
    assert event.status == "processed"
    assert fake.requests == []
    assert rescore_calls == []
    assert Contact.objects.get(connection=connection, external_id=contact_id).first_name != "Changed elsewhere"


def test_deletion_event_soft_deletes(fake, connection, rescore_calls, django_capture_on_commit_callbacks):
    contact_id = fake.record_id("contacts", 4)
    event = store(connection, hubspot_event(1, contact_id, kind="contact.deletion"))
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_process(event_id=event.pk).status == "processed"
    contact = Contact.objects.get(connection=connection, external_id=contact_id)
    assert contact.deleted_at is not None
    assert rescore_calls == []


def test_a_record_hubspot_no_longer_has_is_soft_deleted_on_reread(fake, connection):
    fake.archive("contacts", 5)
    event = store(connection, hubspot_event(1, fake.record_id("contacts", 5)))
    assert webhook_event_process(event_id=event.pk).status == "processed"
    assert Contact.objects.get(connection=connection, external_id=fake.record_id("contacts", 5)).deleted_at is not None


def test_processing_twice_is_a_no_op(fake, connection):
    event = store(connection, hubspot_event(1, fake.record_id("contacts", 0)))
    webhook_event_process(event_id=event.pk)
    fake.requests.clear()
    again = webhook_event_process(event_id=event.pk)
    assert (again.status, again.attempts) == ("processed", 1)
    assert fake.requests == []


def test_failed_event_keeps_payload_and_error_and_replays_after_the_fix(
    fake, connection, rescore_calls, capsys, django_capture_on_commit_callbacks
):
    contact_id = fake.record_id("contacts", 1)
    fake.modify("contacts", 1, firstname="AfterOutage")
    payload = hubspot_event(1, contact_id)
    event = store(connection, payload)
    fake.fault = lambda req: (
        (403, {}, {"status": "error", "category": "MISSING_SCOPES", "message": "scope missing"})
        if req.path.endswith("/batch/read")
        else None
    )

    failed = webhook_event_process(event_id=event.pk)
    assert (failed.status, failed.attempts, failed.payload) == ("failed", 1, payload)
    assert "403" in failed.error or "scope" in failed.error
    assert Contact.objects.get(connection=connection, external_id=contact_id).first_name != "AfterOutage"

    with pytest.raises(CommandError):
        call_command("webhook_replay", str(event.pk))
    assert WebhookEvent.objects.get(pk=event.pk).attempts == 2

    fake.fault = None  # the cause is fixed
    with django_capture_on_commit_callbacks(execute=True):
        call_command("webhook_replay", str(event.pk))
    replayed = WebhookEvent.objects.get(pk=event.pk)
    assert (replayed.status, replayed.attempts, replayed.error) == ("processed", 3, "")
    assert f"event {event.pk} (1): processed" in capsys.readouterr().out
    contact = Contact.objects.get(connection=connection, external_id=contact_id)
    assert contact.first_name == "AfterOutage"
    assert rescore_calls == [{"organization_id": connection.organization_id, "contact_ids": [contact.pk]}]


def test_replay_all_failed_of_a_connection(fake, connection):
    events = [store(connection, hubspot_event(n, fake.record_id("contacts", n))) for n in range(3)]
    fake.fault = lambda req: (
        (403, {}, {"status": "error", "message": "no"}) if req.path.endswith("/batch/read") else None
    )
    for event in events[:2]:
        webhook_event_process(event_id=event.pk)
    assert list(WebhookEvent.objects.order_by("pk").values_list("status", flat=True)) == [
        "failed",
        "failed",
        "received",
    ]
    fake.fault = None
    call_command("webhook_replay", "--failed", "--connection", str(connection.pk))
    assert list(WebhookEvent.objects.order_by("pk").values_list("status", flat=True)) == [
        "processed",
        "processed",
        "received",
    ]


def test_replay_command_arguments(connection):
    with pytest.raises(CommandError, match="no webhook event"):
        call_command("webhook_replay", "999999")
    with pytest.raises(CommandError):
        call_command("webhook_replay")
    with pytest.raises(CommandError, match="--connection"):
        call_command("webhook_replay", "--failed")


def test_delivery_to_processed_record_end_to_end(
    client, fake, connection, rescore_calls, monkeypatch, django_capture_on_commit_callbacks
):
    """HTTP delivery -> stored -> task on commit (run eagerly here) -> re-read -> upserted -> rescoring asked."""
    import json

    from crm_connectors import tasks
    from tests.crm_connectors.webhooks.conftest import hubspot_post

    monkeypatch.setattr(
        tasks.process_webhook_event, "delay", lambda event_id: tasks.process_webhook_event.apply(args=[event_id]).get()
    )
    contact_id = fake.record_id("contacts", 0)
    fake.modify("contacts", 0, jobtitle="Chief Webhook Officer")
    body = json.dumps(
        [hubspot_event(42, contact_id), hubspot_event(43, contact_id, propertyName="salesai_lead_score")]
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        assert hubspot_post(client, connection, body).status_code == 200
    assert dict(WebhookEvent.objects.values_list("event_id", "status")) == {"42": "processed", "43": "processed"}
    contact = Contact.objects.get(connection=connection, external_id=contact_id)
    assert contact.job_title == "Chief Webhook Officer"
    assert rescore_calls == [{"organization_id": connection.organization_id, "contact_ids": [contact.pk]}]
