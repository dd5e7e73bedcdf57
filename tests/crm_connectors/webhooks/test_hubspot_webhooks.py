"""POST /webhooks/hubspot/<id>/: verified deliveries are stored once per eventId and enqueued after commit."""

import json
import time

import pytest

from crm_connectors import tasks
from crm_connectors.models import WebhookEvent
from tests.crm_connectors.webhooks.conftest import HUBSPOT_SECRET, hubspot_event, hubspot_post
from tests.factories import CRMConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection():
    return CRMConnectionFactory(kind="hubspot", credentials={"token": "t", "client_secret": HUBSPOT_SECRET})


def body_of(*events: dict) -> bytes:
    return json.dumps(list(events)).encode()


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_signed_delivery_is_stored_per_event(client, connection, version):
    response = hubspot_post(client, connection, body_of(hubspot_event(1, 501), hubspot_event(2, 502)), version=version)
    assert response.status_code == 200
    events = WebhookEvent.objects.filter(connection=connection).order_by("event_id")
    assert [(e.event_id, e.status, e.payload["objectId"]) for e in events] == [
        ("1", "received", 501),
        ("2", "received", 502),
    ]


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_bad_signature_is_401_and_nothing_is_stored(client, connection, version):
    response = hubspot_post(client, connection, body_of(hubspot_event(1, 501)), version=version, secret="wrong")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert not WebhookEvent.objects.exists()


def test_v3_outside_the_five_minute_window_is_rejected(client, connection):
    stale = int(time.time() * 1000) - 301_000
    response = hubspot_post(client, connection, body_of(hubspot_event(1, 501)), timestamp_ms=stale)
    assert response.status_code == 401
    assert "5-minute" in response.json()["error"]["message"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b'{"eventId": 1}', "not_an_event_array"),
        (b"[]", "not_an_event_array"),
        (b'[{"subscriptionType": "contact.creation", "objectId": 1}]', "missing_event_id"),
        (b'[{"eventId": 3, "objectId": 1}]', "missing_subscription_type"),
    ],
)
def test_malformed_signed_body_is_400_with_a_code(client, connection, body, code):
    response = hubspot_post(client, connection, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not WebhookEvent.objects.exists()


def test_unknown_connection_wrong_kind_and_unknown_connector_are_404(client, connection):
    body = body_of(hubspot_event(1, 501))
    csv_connection = CRMConnectionFactory(kind="csv")
    assert (
        client.post(f"/webhooks/hubspot/{connection.pk + 1000}/", body, content_type="application/json").status_code
        == 404
    )
    assert (
        client.post(f"/webhooks/hubspot/{csv_connection.pk}/", body, content_type="application/json").status_code == 404
    )
    assert client.post(f"/webhooks/csv/{csv_connection.pk}/", body, content_type="application/json").status_code == 404
    assert (
        client.post(f"/webhooks/pipedrive/{connection.pk}/", body, content_type="application/json").status_code == 404
    )
    assert not WebhookEvent.objects.exists()


def test_only_post_is_accepted(client, connection):
    assert client.get(f"/webhooks/hubspot/{connection.pk}/").status_code == 405


def test_flood_with_duplicates_and_bad_signatures_stores_each_event_once(client, connection):
    """50 deliveries: 35 distinct events, 10 redeliveries of some of them, 5 forged -> exactly 35 rows."""
    statuses = []
    for n in range(35):
        statuses.append(
            hubspot_post(
                client, connection, body_of(hubspot_event(1000 + n, 600 + n)), version=("v1", "v2", "v3")[n % 3]
            ).status_code
        )
    for n in range(10):  # HubSpot redelivers (attemptNumber > 0): same eventId
        redelivery = hubspot_event(1000 + n * 3, 600 + n * 3, attemptNumber=1)
        statuses.append(hubspot_post(client, connection, body_of(redelivery)).status_code)
    for n in range(5):
        statuses.append(
            hubspot_post(client, connection, body_of(hubspot_event(5000 + n, 700)), secret="forged").status_code
        )
    assert statuses == [200] * 45 + [401] * 5
    events = WebhookEvent.objects.filter(connection=connection)
    assert events.count() == 35
    assert set(events.values_list("event_id", flat=True)) == {str(1000 + n) for n in range(35)}
    # The first delivery is what was kept.
    assert all(payload["attemptNumber"] == 0 for payload in events.values_list("payload", flat=True))


def test_duplicates_within_one_request_are_stored_once(client, connection):
    body = body_of(hubspot_event(7, 501), hubspot_event(7, 501, attemptNumber=1), hubspot_event(8, 502))
    assert hubspot_post(client, connection, body).status_code == 200
    assert sorted(WebhookEvent.objects.values_list("event_id", flat=True)) == ["7", "8"]


def test_processing_is_enqueued_after_commit_for_new_events_only(
    client, connection, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[int] = []
    monkeypatch.setattr(tasks.process_webhook_event, "delay", lambda event_id: sent.append(event_id))
    with django_capture_on_commit_callbacks() as callbacks:
        assert (
            hubspot_post(client, connection, body_of(hubspot_event(1, 501), hubspot_event(2, 502))).status_code == 200
        )
    assert sent == []  # nothing is processed (or even enqueued) inside the request's transaction
    for callback in callbacks:
        callback()
    assert sorted(sent) == sorted(WebhookEvent.objects.values_list("pk", flat=True))
    assert len(sent) == 2
    sent.clear()
    WebhookEvent.objects.filter(event_id="2").update(status="processed")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            hubspot_post(client, connection, body_of(hubspot_event(1, 501), hubspot_event(2, 502))).status_code == 200
        )
    # A redelivery stores nothing new; the still-unprocessed event is sent again (its first send may have
    # been lost), the processed one is not.
    assert sent == [WebhookEvent.objects.get(event_id="1").pk]
    assert WebhookEvent.objects.count() == 2


def test_enqueue_sends_one_task_per_new_event(connection, monkeypatch, django_capture_on_commit_callbacks):
    from crm_connectors.hubspot.webhook import signature_v1
    from crm_connectors.webhook_types import WebhookRequest
    from crm_connectors.webhooks import webhook_receive

    sent: list[int] = []
    monkeypatch.setattr(tasks.process_webhook_event, "delay", lambda event_id: sent.append(event_id))
    body = body_of(hubspot_event(1, 501), hubspot_event(2, 502))
    request = WebhookRequest(
        method="POST",
        uri="http://x/",
        body=body,
        headers={
            "x-hubspot-signature-version": "v1",
            "x-hubspot-signature": signature_v1(secret=HUBSPOT_SECRET, body=body),
            "authorization": "Bearer secret-token",
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        receipt = webhook_receive(kind="hubspot", connection_id=connection.pk, request=request)
    assert (receipt.stored, receipt.duplicates) == (2, 0)
    assert sorted(sent) == sorted(WebhookEvent.objects.values_list("pk", flat=True))
    assert all("authorization" not in headers for headers in WebhookEvent.objects.values_list("headers", flat=True))


def test_public_base_url_setting_is_what_v2_signatures_cover(client, connection, settings):
    from crm_connectors.hubspot.webhook import signature_v2

    settings.WEBHOOK_PUBLIC_BASE_URL = "https://hooks.example.com/"
    body = body_of(hubspot_event(1, 501))
    path = f"/webhooks/hubspot/{connection.pk}/"
    public = signature_v2(secret=HUBSPOT_SECRET, method="POST", uri=f"https://hooks.example.com{path}", body=body)
    response = client.post(
        path,
        body,
        content_type="application/json",
        HTTP_X_HUBSPOT_SIGNATURE_VERSION="v2",
        HTTP_X_HUBSPOT_SIGNATURE=public,
    )
    assert response.status_code == 200
    assert hubspot_post(client, connection, body_of(hubspot_event(2, 502)), version="v2").status_code == 401


def test_task_for_a_vanished_event_does_nothing():
    assert tasks.process_webhook_event.apply(args=[987654]).get() == "missing"
