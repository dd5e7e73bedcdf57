"""Signed input that used to answer 500: limits at the webhook edge, per request (400/413 with a code) and per
event (stored rejected, the rest of the batch accepted). Run on PostgreSQL, a NUL in a JSON string is what
jsonb refuses; on SQLite the rejection is the same, by the same check."""

import base64
import json

import pytest
from django.core.management import call_command

from crm_connectors.models import UnroutedWebhookEvent, WebhookEvent
from tests.crm_connectors.broker import private_sync_queue
from tests.crm_connectors.webhooks.conftest import HUBSPOT_SECRET, hubspot_event, hubspot_post, hubspot_signed_post
from tests.factories import CRMConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection():
    return CRMConnectionFactory(kind="hubspot", credentials={"token": "t", "client_secret": HUBSPOT_SECRET})


def body_of(*events: dict) -> bytes:
    return json.dumps(list(events)).encode()


def test_a_nul_in_one_event_of_a_100_event_batch_rejects_that_event_only(
    client, connection, django_capture_on_commit_callbacks
):
    events = [hubspot_event(i, 500 + i) for i in range(1, 101)]
    events[36]["propertyValue"] = "lead\u0000"
    with private_sync_queue() as queue:
        with django_capture_on_commit_callbacks(execute=True):
            response = hubspot_post(client, connection, body_of(*events))
        sent = {args[0] for _, args, _ in queue.take()}
    assert response.status_code == 200, response.content
    stored = WebhookEvent.objects.filter(connection=connection)
    assert stored.count() == 100
    assert stored.filter(status="received").count() == 99
    rejected = stored.get(status="rejected")
    assert rejected.event_id == "37" and rejected.error.startswith("nul_in_value")
    assert rejected.payload["propertyValue"] == "lead\ufffd" and rejected.payload["objectId"] == 537
    assert sent == set(stored.filter(status="received").values_list("pk", flat=True))  # the rejected one is not


def test_an_event_id_longer_than_the_column_is_rejected_and_its_redelivery_deduplicated(client, connection):
    long_id = "9" * 300
    body = body_of(hubspot_event(long_id, 501), hubspot_event(2, 502))
    assert hubspot_post(client, connection, body).status_code == 200
    rejected = WebhookEvent.objects.get(status="rejected")
    assert rejected.event_id.startswith("sha256:") and rejected.payload["eventId"] == long_id
    assert rejected.error.startswith("event_id_too_long")
    assert WebhookEvent.objects.get(event_id="2").status == "received"

    assert hubspot_post(client, connection, body).status_code == 200  # HubSpot's retry
    assert WebhookEvent.objects.count() == 2


def test_a_string_over_the_length_limit_rejects_its_event(client, connection, settings):
    settings.WEBHOOK_MAX_STRING_CHARS = 100
    body = body_of(hubspot_event(1, 501, propertyValue="x" * 101), hubspot_event(2, 502))
    assert hubspot_post(client, connection, body).status_code == 200
    rejected = WebhookEvent.objects.get(event_id="1")
    assert rejected.status == "rejected" and rejected.error.startswith("value_too_long")
    assert rejected.payload["propertyValue"] == "x" * 100 + "...[1 more]"


@pytest.mark.parametrize("credentials_hub_id", [None, 62515])  # with a hub id the portal check reads the body first
def test_json_nested_100000_deep_is_a_400_too_deep(client, credentials_hub_id):
    credentials = {"token": "t", "client_secret": HUBSPOT_SECRET}
    if credentials_hub_id:
        credentials["hub_id"] = credentials_hub_id
    connection = CRMConnectionFactory(kind="hubspot", credentials=credentials)
    body = b"[" * 100_000 + b"]" * 100_000
    response = hubspot_post(client, connection, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_deep"
    assert not WebhookEvent.objects.exists()


def test_json_deeper_than_the_setting_is_a_400_too_deep(client, connection, settings):
    settings.WEBHOOK_MAX_JSON_DEPTH = 8
    nested: dict = {"v": 1}
    for _ in range(8):
        nested = {"n": nested}
    response = hubspot_post(client, connection, body_of(hubspot_event(1, 501, extra=nested)))
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_deep"
    assert hubspot_post(client, connection, body_of(hubspot_event(1, 501, extra={"n": 1}))).status_code == 200


def test_a_body_over_the_size_limit_is_a_413(client, connection, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2000
    events = [hubspot_event(i, 500 + i) for i in range(1, 30)]
    response = hubspot_post(client, connection, body_of(*events))
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert not WebhookEvent.objects.exists()


def test_a_pipedrive_event_with_a_nul_is_stored_rejected_and_acknowledged(client):
    connection = CRMConnectionFactory(
        kind="pipedrive", credentials={"token": "t", "webhook_user": "u", "webhook_password": "p"}
    )
    payload = {
        "data": {"id": 7, "name": "Ada\u0000"},
        "previous": {},
        "meta": {"id": "evt-1", "action": "change", "entity": "person", "entity_id": "7", "version": "2.0"},
    }
    auth = "Basic " + base64.b64encode(b"u:p").decode()
    response = client.post(
        f"/webhooks/pipedrive/{connection.pk}/",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(connection=connection)
    assert (event.event_id, event.status, event.payload["data"]["name"]) == ("evt-1", "rejected", "Ada\ufffd")


def test_app_webhook_events_with_a_nul_are_kept_routed_or_not(client):
    CRMConnectionFactory(
        kind="hubspot",
        config={"app_id": 54321},
        credentials={"client_id": "c", "client_secret": HUBSPOT_SECRET, "refresh_token": "r", "hub_id": 62515},
    )
    body = body_of(
        hubspot_event(1, 501, propertyValue="a\u0000"),
        hubspot_event(2, 502),
        hubspot_event(3, 503, portalId=777, propertyValue="b\u0000"),
    )
    response = hubspot_signed_post(client, "/webhooks/hubspot/app/54321/", body)
    assert response.status_code == 200, response.content
    assert response.json()["stored"] == 1 and response.json()["rejected"] == 1 and response.json()["unrouted"] == 1
    assert dict(WebhookEvent.objects.values_list("event_id", "status")) == {"1": "rejected", "2": "received"}
    assert UnroutedWebhookEvent.objects.get().payload["propertyValue"] == "b\ufffd"


def test_a_rejected_event_can_be_replayed(client, connection, capsys):
    body = body_of(hubspot_event(1, 501, kind="ticket.creation", subject="x\u0000"))
    assert hubspot_post(client, connection, body).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == "rejected"
    call_command("webhook_replay", str(event.pk))
    event.refresh_from_db()
    assert event.status == "processed"
