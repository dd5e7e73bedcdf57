"""Webhook events survive a broker outage: stored, acknowledged, and sent by the outbox sweep once it is back.

Reproduces the stranded-webhook finding: with the broker down the events were committed, the enqueue failed,
the CRM got a 500, and its retry was answered 200 as a duplicate and never enqueued.
"""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm_connectors.models import WebhookEvent
from crm_connectors.outbox import outbox_sweep
from crm_connectors.tasks import process_webhook_event
from tests.crm_connectors.broker import broker_down, private_sync_queue
from tests.crm_connectors.webhooks.conftest import HUBSPOT_SECRET, hubspot_event, hubspot_post
from tests.factories import CRMConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection():
    return CRMConnectionFactory(kind="hubspot", credentials={"token": "t", "client_secret": HUBSPOT_SECRET})


def ticket_event(event_id: int) -> dict:
    # A ticket event is processed without calling HubSpot (we sync no tickets): processing itself is the point.
    return hubspot_event(event_id, 900 + event_id, kind="ticket.creation")


def post(client, connection, *events):
    return hubspot_post(client, connection, json.dumps(list(events)).encode())


def test_broker_down_events_are_acknowledged_and_all_processed_after_recovery(
    client, connection, django_capture_on_commit_callbacks
):
    with private_sync_queue() as queue:
        with broker_down():
            for event_id in range(1, 11):
                with django_capture_on_commit_callbacks(execute=True):
                    response = post(client, connection, ticket_event(event_id))
                assert response.status_code == 200, response.content  # stored: the CRM must not retry
            with django_capture_on_commit_callbacks(execute=True):
                assert post(client, connection, ticket_event(1)).status_code == 200  # the CRM's redelivery
            assert outbox_sweep().webhook_events == 0  # still down: nothing sent, nothing lost
        assert queue.take() == []
        events = WebhookEvent.objects.filter(connection=connection)
        assert events.count() == 10
        assert set(events.values_list("status", "enqueued_at")) == {("received", None)}

        swept = outbox_sweep()  # the broker is back
        assert swept.webhook_events == 10
        assert queue.run_all() and set(events.values_list("status", flat=True)) == {"processed"}
        assert outbox_sweep().webhook_events == 0  # processed events are never sent again


def test_a_redelivery_of_an_unprocessed_event_sends_it_again(client, connection, django_capture_on_commit_callbacks):
    with private_sync_queue() as queue:
        with django_capture_on_commit_callbacks(execute=True):
            post(client, connection, ticket_event(1))
        assert len(queue.take()) == 1  # sent, but (say) lost with a broker restart: never processed
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, connection, ticket_event(1)).status_code == 200
        sent = queue.take()
        event = WebhookEvent.objects.get(event_id="1")
        assert sent == [("crm_connectors.tasks.process_webhook_event", (event.pk,), {})]

        assert process_webhook_event(event.pk) == "processed"
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, connection, ticket_event(1)).status_code == 200
        assert queue.take() == []  # processed: a redelivery is only a duplicate


def test_the_sweep_resends_events_whose_task_was_lost_after_the_resend_delay(connection, settings):
    settings.OUTBOX_RESEND_AFTER_SECONDS = 300
    now = timezone.now()
    lost = WebhookEvent.objects.create(
        connection=connection, event_id="1", payload=ticket_event(1), enqueued_at=now - timedelta(seconds=301)
    )
    WebhookEvent.objects.create(  # sent a moment ago: probably waiting in the queue, left alone
        connection=connection, event_id="2", payload=ticket_event(2), enqueued_at=now - timedelta(seconds=10)
    )
    WebhookEvent.objects.create(connection=connection, event_id="3", payload=ticket_event(3), status="failed")
    with private_sync_queue() as queue:
        assert outbox_sweep(now=now).webhook_events == 1
        assert queue.take() == [("crm_connectors.tasks.process_webhook_event", (lost.pk,), {})]
        lost.refresh_from_db()
        assert lost.enqueued_at == now  # the next sweep waits another delay before sending it again
        assert outbox_sweep(now=now).webhook_events == 0


def test_replay_command_processes_stuck_received_events(connection, capsys):
    stuck = WebhookEvent.objects.create(connection=connection, event_id="1", payload=ticket_event(1))
    failed = WebhookEvent.objects.create(
        connection=connection, event_id="2", payload=ticket_event(2), status="failed", error="boom"
    )
    call_command("webhook_replay", "--received", "--connection", str(connection.pk))
    stuck.refresh_from_db()
    failed.refresh_from_db()
    assert stuck.status == "processed" and failed.status == "failed"
    assert f"event {stuck.pk} (1): processed" in capsys.readouterr().out

    call_command("webhook_replay", "--failed", "--received", "--connection", str(connection.pk))
    failed.refresh_from_db()
    assert failed.status == "processed"


def test_the_sweep_has_a_beat_entry_after_migrate():
    from django_celery_beat.models import PeriodicTask

    from salesai.celery import app

    entry = PeriodicTask.objects.get(name="crm-outbox-sweep")
    assert entry.enabled and entry.interval.every == 60 and entry.interval.period == "seconds"
    assert entry.task == "crm_connectors.tasks.outbox_sweep" and entry.task in app.tasks
