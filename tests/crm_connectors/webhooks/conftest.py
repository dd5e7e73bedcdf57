import time

import pytest

from crm_connectors import rescoring
from crm_connectors.hubspot import webhook as hubspot_webhook
from crm_connectors.hubspot.connector import HubSpotConnector
from crm_connectors.models import CRMConnection
from crm_connectors.salesforce.connector import SalesforceConnector

HUBSPOT_SECRET = "8b5c3e2a-1f4d-4c6b-9a7e-0d2f1e3c4b5a"


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch):
    monkeypatch.setattr(HubSpotConnector, "sleep", staticmethod(lambda seconds: None))
    monkeypatch.setattr(SalesforceConnector, "sleep", staticmethod(lambda seconds: None))


@pytest.fixture
def rescore_calls(monkeypatch):
    """Every rescoring request the `records_changed` receiver makes (instead of enqueueing ML tasks)."""
    calls: list[dict] = []
    monkeypatch.setattr(rescoring, "scoring_enqueue", lambda **kwargs: calls.append(kwargs))
    return calls


def hubspot_event(event_id: int, object_id: str | int, *, kind: str = "contact.propertyChange", **extra) -> dict:
    return {
        "eventId": event_id,
        "subscriptionId": 2001,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": 1767225590000,
        "subscriptionType": kind,
        "attemptNumber": 0,
        "objectId": int(object_id),
        **({"propertyName": "lifecyclestage", "propertyValue": "lead"} if kind.endswith("propertyChange") else {}),
        **extra,
    }


def hubspot_post(
    client,
    connection: CRMConnection,
    body: bytes,
    *,
    version: str = "v3",
    secret: str = HUBSPOT_SECRET,
    timestamp_ms: int | None = None,
):
    """POST `body` to the connection's endpoint, signed the way HubSpot signs with `version`."""
    return hubspot_signed_post(
        client, f"/webhooks/hubspot/{connection.pk}/", body, version=version, secret=secret, timestamp_ms=timestamp_ms
    )


def hubspot_signed_post(
    client,
    path: str,
    body: bytes,
    *,
    version: str = "v3",
    secret: str = HUBSPOT_SECRET,
    timestamp_ms: int | None = None,
):
    """POST `body` to `path`, signed the way HubSpot signs with `version` (v1, v2 or v3)."""
    uri = f"http://testserver{path}"
    headers = {}
    if version == "v3":
        timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        headers["HTTP_X_HUBSPOT_REQUEST_TIMESTAMP"] = timestamp
        headers["HTTP_X_HUBSPOT_SIGNATURE_V3"] = hubspot_webhook.signature_v3(
            secret=secret, method="POST", uri=uri, body=body, timestamp=timestamp
        )
    elif version == "v2":
        headers["HTTP_X_HUBSPOT_SIGNATURE_VERSION"] = "v2"
        headers["HTTP_X_HUBSPOT_SIGNATURE"] = hubspot_webhook.signature_v2(
            secret=secret, method="POST", uri=uri, body=body
        )
    else:
        headers["HTTP_X_HUBSPOT_SIGNATURE_VERSION"] = "v1"
        headers["HTTP_X_HUBSPOT_SIGNATURE"] = hubspot_webhook.signature_v1(secret=secret, body=body)
    return client.post(path, data=body, content_type="application/json", **headers)
