"""POST /webhooks/hubspot/app/<app id>/: one URL per HubSpot app, events fanned out by portalId."""

import json
import logging
import time

import pytest

from crm_connectors import tasks
from crm_connectors.hubspot import webhook as hubspot_webhook
from crm_connectors.models import UnroutedWebhookEvent, WebhookEvent
from tests.crm_connectors.webhooks.conftest import HUBSPOT_SECRET, hubspot_event, hubspot_post, hubspot_signed_post
from tests.factories import CRMConnectionFactory

pytestmark = pytest.mark.django_db

APP_ID = 54321


def app_connection(portal: int | None, *, secret: str = HUBSPOT_SECRET, app_id=APP_ID, **fields):
    credentials = {"client_id": "cid", "client_secret": secret, "refresh_token": "r"}
    if portal is not None:
        credentials["hub_id"] = portal
    return CRMConnectionFactory(kind="hubspot", config={"app_id": app_id}, credentials=credentials, **fields)


def event(event_id: int, portal: int, object_id: int = 501, **extra) -> dict:
    return hubspot_event(event_id, object_id, portalId=portal, **extra)


def body_of(*events: dict) -> bytes:
    return json.dumps(list(events)).encode()


def app_post(client, body: bytes, *, version="v3", secret=HUBSPOT_SECRET, app_id=APP_ID, timestamp_ms=None):
    return hubspot_signed_post(
        client, f"/webhooks/hubspot/app/{app_id}/", body, version=version, secret=secret, timestamp_ms=timestamp_ms
    )


def stored(connection) -> list[tuple[str, int]]:
    return sorted((e.event_id, e.payload["portalId"]) for e in WebhookEvent.objects.filter(connection=connection))


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_a_batch_fans_out_to_each_portals_connection(client, version):
    first, second = app_connection(111), app_connection(222)
    response = app_post(client, body_of(event(1, 111), event(2, 222), event(3, 111, 502)), version=version)
    assert response.status_code == 200
    assert response.json() == {"stored": 3, "duplicates": 0, "rejected": 0, "unrouted": 0, "unknown_portals": []}
    assert stored(first) == [("1", 111), ("3", 111)]
    assert stored(second) == [("2", 222)]
    assert not UnroutedWebhookEvent.objects.exists()


def test_the_app_id_may_be_configured_as_a_string(client):
    connection = app_connection(111, app_id=str(APP_ID))
    assert app_post(client, body_of(event(1, 111))).status_code == 200
    assert stored(connection) == [("1", 111)]


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_bad_signature_is_401_and_nothing_is_stored(client, version):
    app_connection(111)
    response = app_post(client, body_of(event(1, 111), event(2, 999)), version=version, secret="not-the-app-secret")
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists() and not UnroutedWebhookEvent.objects.exists()


def test_v3_outside_the_five_minute_window_is_401(client):
    app_connection(111)
    stale = int(time.time() * 1000) - 300_001
    response = app_post(client, body_of(event(1, 111)), timestamp_ms=stale)
    assert response.status_code == 401
    assert "5-minute" in response.json()["error"]["message"]
    assert not WebhookEvent.objects.exists()


def test_a_signature_for_another_url_does_not_verify(client):
    """v2/v3 sign the URL: a delivery signed for a connection's own URL is not valid at the app URL."""
    connection = app_connection(111)
    body = body_of(event(1, 111))
    signed_elsewhere = hubspot_webhook.signature_v3(
        secret=HUBSPOT_SECRET,
        method="POST",
        uri=f"http://testserver/webhooks/hubspot/{connection.pk}/",
        body=body,
        timestamp=(timestamp := str(int(time.time() * 1000))),
    )
    response = client.post(
        f"/webhooks/hubspot/app/{APP_ID}/",
        data=body,
        content_type="application/json",
        HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=timestamp,
        HTTP_X_HUBSPOT_SIGNATURE_V3=signed_elsewhere,
    )
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_unknown_portals_are_kept_acknowledged_and_reported(client, caplog):
    known = app_connection(111)
    with caplog.at_level(logging.WARNING, logger="crm_connectors.hubspot.app_webhooks"):
        response = app_post(client, body_of(event(1, 111), event(2, 999), event(3, 998), event(4, 999, 502)))
    assert response.status_code == 200
    assert response.json() == {
        "stored": 1,
        "duplicates": 0,
        "rejected": 0,
        "unrouted": 3,
        "unknown_portals": ["998", "999"],
    }
    assert stored(known) == [("1", 111)]
    kept = sorted(UnroutedWebhookEvent.objects.values_list("app_id", "account_id", "event_id"))
    assert kept == [(str(APP_ID), "998", "3"), (str(APP_ID), "999", "2"), (str(APP_ID), "999", "4")]
    assert "998, 999" in caplog.text
    # HubSpot redelivers them (we answered 2xx, but it may anyway): still kept once.
    again = app_post(client, body_of(event(2, 999, attemptNumber=1)))
    assert again.status_code == 200 and again.json()["unrouted"] == 0
    assert UnroutedWebhookEvent.objects.count() == 3
    assert UnroutedWebhookEvent.objects.get(event_id="2").payload["attemptNumber"] == 0


def test_a_connection_without_a_portal_id_receives_nothing(client):
    unlinked = app_connection(None)
    response = app_post(client, body_of(event(1, 111)))
    assert response.status_code == 200 and response.json()["unknown_portals"] == ["111"]
    assert stored(unlinked) == []


def test_redeliveries_are_deduplicated_per_connection_across_both_urls(client):
    connection = app_connection(111)
    assert hubspot_post(client, connection, body_of(event(1, 111))).status_code == 200  # its own URL first
    response = app_post(client, body_of(event(1, 111, attemptNumber=1), event(2, 111), event(2, 111)))
    assert response.json() == {"stored": 1, "duplicates": 2, "rejected": 0, "unrouted": 0, "unknown_portals": []}
    assert stored(connection) == [("1", 111), ("2", 111)]
    assert WebhookEvent.objects.get(event_id="1").payload["attemptNumber"] == 0


def test_two_connections_of_one_portal_each_get_the_event(client):
    first, second = app_connection(111), app_connection(111)
    response = app_post(client, body_of(event(1, 111)))
    assert response.json()["stored"] == 2
    assert stored(first) == stored(second) == [("1", 111)]


def test_a_connection_claiming_the_app_with_another_secret_gets_no_other_tenants_events(client):
    """Anyone can type an app id into a connection's config: only the secret that signed routes events."""
    victim = app_connection(111)
    intruder = app_connection(222, secret="intruder-secret-value")
    forged = app_post(client, body_of(event(1, 111), event(2, 222)), secret="intruder-secret-value")
    assert forged.status_code == 200  # the intruder's secret verifies... for the intruder's own portal only
    assert stored(victim) == []
    assert stored(intruder) == [("2", 222)]
    assert forged.json()["unknown_portals"] == ["111"]
    genuine = app_post(client, body_of(event(3, 111), event(4, 222)))
    assert genuine.status_code == 200
    assert stored(victim) == [("3", 111)]
    assert stored(intruder) == [("2", 222)]


def test_unknown_app_and_inactive_connections_are_404(client):
    app_connection(111, is_active=False)
    app_connection(111, app_id=999)
    response = app_post(client, body_of(event(1, 111)))
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists() and not UnroutedWebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[]", "not_an_event_array"),
        (b'[{"subscriptionType": "x"}]', "missing_event_id"),
    ],
)
def test_malformed_signed_body_is_400(client, body, code):
    app_connection(111)
    response = app_post(client, body)
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert not WebhookEvent.objects.exists() and not UnroutedWebhookEvent.objects.exists()


def test_processing_is_enqueued_after_commit(client, monkeypatch, django_capture_on_commit_callbacks):
    first, second = app_connection(111), app_connection(222)
    sent: list[int] = []
    monkeypatch.setattr(tasks.process_webhook_event, "delay", lambda event_id: sent.append(event_id))
    with django_capture_on_commit_callbacks(execute=True):
        assert app_post(client, body_of(event(1, 111), event(2, 222), event(3, 999))).status_code == 200
    assert sorted(sent) == sorted(WebhookEvent.objects.values_list("pk", flat=True))
    assert {WebhookEvent.objects.get(pk=pk).connection_id for pk in sent} == {first.pk, second.pk}


def test_unrouted_events_are_listed_for_superusers_only(client, admin_client, django_user_model):
    app_connection(111)
    app_post(client, body_of(event(1, 31337)))
    listing = admin_client.get("/admin/crm_connectors/unroutedwebhookevent/")
    assert listing.status_code == 200 and b"31337" in listing.content
    staff = django_user_model.objects.create_user(username="staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/crm_connectors/unroutedwebhookevent/").status_code == 403
