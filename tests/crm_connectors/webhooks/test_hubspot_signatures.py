"""HubSpot's signature algorithms against the test vectors of shared/crm-specs/hubspot/CONTRACT.md 7.6."""

import pytest

from crm_connectors.hubspot import webhook
from crm_connectors.webhook_types import WebhookDenied, WebhookRequest
from tests.crm_connectors.webhooks.conftest import HUBSPOT_SECRET

URI = "https://hooks.example.com/hubspot/webhook?tenant=acme"
TIMESTAMP = "1767225600000"
BODY = (
    b'[{"eventId":100,"subscriptionId":2001,"portalId":62515,"appId":54321,"occurredAt":1767225590000,'
    b'"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":501,"propertyName":"lifecyclestage",'
    b'"propertyValue":"lead","changeSource":"CRM_UI"}]'
)
V1 = "682fe0477e730fb87c3dccc3ab4c80fb7feb8d35383c2d18223a89723d4d59b7"
V2 = "8cfee12895bb71b1ba3751835912798dcb51ac2aa892cdffb8338e3e3ce6dcff"
V3 = "Jq0nUv1Nm1SBWr5Dg/ZGMHqnCOW8mBOQ0dLbhHY4PBQ="
CREDENTIALS = {"client_secret": HUBSPOT_SECRET}


def request(headers: dict[str, str], *, body: bytes = BODY, uri: str = URI) -> WebhookRequest:
    return WebhookRequest(method="POST", uri=uri, headers=headers, body=body)


def v3_headers(signature: str = V3) -> dict[str, str]:
    return {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": TIMESTAMP}


def test_the_vector_body_is_the_documented_one():
    assert len(BODY) == 253


def test_signatures_match_the_vectors():
    assert webhook.signature_v1(secret=HUBSPOT_SECRET, body=BODY) == V1
    assert webhook.signature_v2(secret=HUBSPOT_SECRET, method="POST", uri=URI, body=BODY) == V2
    assert webhook.signature_v3(secret=HUBSPOT_SECRET, method="POST", uri=URI, body=BODY, timestamp=TIMESTAMP) == V3


@pytest.mark.parametrize(
    "headers",
    [
        {"x-hubspot-signature-version": "v1", "x-hubspot-signature": V1},
        {"x-hubspot-signature-version": "v2", "x-hubspot-signature": V2},
        {"x-hubspot-signature-version": "v1", "x-hubspot-signature": V1.upper()},  # hex case does not matter
        v3_headers(),
    ],
)
def test_vectors_verify(headers):
    webhook.verify(request=request(headers), config={}, credentials=CREDENTIALS, now_ms=int(TIMESTAMP) + 1000)


def test_v3_wins_over_a_wrong_v1_header():
    headers = {**v3_headers(), "x-hubspot-signature-version": "v1", "x-hubspot-signature": "0" * 64}
    webhook.verify(request=request(headers), config={}, credentials=CREDENTIALS, now_ms=int(TIMESTAMP))


def test_v3_uri_with_decodable_escapes_is_retried_decoded():
    encoded_uri = "https://hooks.example.com/hubspot/webhook?tenant%3Aacme"
    decoded_sig = webhook.signature_v3(
        secret=HUBSPOT_SECRET,
        method="POST",
        uri="https://hooks.example.com/hubspot/webhook?tenant:acme",
        body=BODY,
        timestamp=TIMESTAMP,
    )
    webhook.verify(
        request=request(v3_headers(decoded_sig), uri=encoded_uri),
        config={},
        credentials=CREDENTIALS,
        now_ms=int(TIMESTAMP),
    )


@pytest.mark.parametrize(
    ("headers", "body", "uri", "now_ms"),
    [
        ({"x-hubspot-signature-version": "v1", "x-hubspot-signature": V1}, BODY.replace(b"501", b"502"), URI, 0),
        ({"x-hubspot-signature-version": "v2", "x-hubspot-signature": V2}, BODY, URI.replace("https", "http"), 0),
        (v3_headers(), BODY.replace(b"lead", b"leaf"), URI, int(TIMESTAMP)),
        (v3_headers(), BODY, URI.replace("https", "http"), int(TIMESTAMP)),
        (v3_headers(), BODY, URI, int(TIMESTAMP) + 300_001),  # the contract's replay-guard vector
        (v3_headers(), BODY, URI, int(TIMESTAMP) - 300_001),  # from the future
        ({"x-hubspot-signature-v3": V3}, BODY, URI, int(TIMESTAMP)),  # no timestamp
        ({"x-hubspot-signature-version": "v9", "x-hubspot-signature": V1}, BODY, URI, 0),
        ({}, BODY, URI, 0),
    ],
)
def test_bad_signatures_are_denied(headers, body, uri, now_ms):
    with pytest.raises(WebhookDenied) as denied:
        webhook.verify(request=request(headers, body=body, uri=uri), config={}, credentials=CREDENTIALS, now_ms=now_ms)
    assert denied.value.status == 401


def test_v3_inside_the_window_edge_is_accepted():
    webhook.verify(request=request(v3_headers()), config={}, credentials=CREDENTIALS, now_ms=int(TIMESTAMP) + 300_000)


def test_a_connection_without_client_secret_is_forbidden():
    with pytest.raises(WebhookDenied) as denied:
        webhook.verify(request=request(v3_headers()), config={}, credentials={"token": "x"}, now_ms=int(TIMESTAMP))
    assert denied.value.status == 403


@pytest.mark.parametrize(
    ("payload", "object_type", "refetch", "deleted", "score_only"),
    [
        (
            {"subscriptionType": "contact.propertyChange", "objectId": 5, "propertyName": "email"},
            "contacts",
            ["5"],
            [],
            False,
        ),
        (
            {"subscriptionType": "contact.propertyChange", "objectId": 5, "propertyName": "salesai_lead_score"},
            "contacts",
            [],
            [],
            True,
        ),
        ({"subscriptionType": "company.creation", "objectId": 7}, "companies", ["7"], [], False),
        ({"subscriptionType": "deal.deletion", "objectId": 9}, "deals", [], ["9"], False),
        ({"subscriptionType": "contact.privacyDeletion", "objectId": 5}, "contacts", [], ["5"], False),
        (
            {"subscriptionType": "contact.merge", "objectId": 5, "primaryObjectId": 5, "mergedObjectIds": [5, 6]},
            "contacts",
            ["5"],
            ["6"],
            False,
        ),
        ({"subscriptionType": "ticket.creation", "objectId": 5}, None, [], [], False),
    ],
)
def test_event_plans(payload, object_type, refetch, deleted, score_only):
    plan = webhook.event_plan(payload=payload, config={})
    assert (plan.object_type, plan.refetch_ids, plan.deleted_ids, plan.score_only) == (
        object_type,
        refetch,
        deleted,
        score_only,
    )


def test_configured_score_property_is_the_echo():
    payload = {"subscriptionType": "contact.propertyChange", "objectId": 5, "propertyName": "my_score"}
    assert webhook.event_plan(payload=payload, config={"score_property": "my_score"}).score_only
    assert not webhook.event_plan(payload=payload, config={}).score_only


def test_events_of_another_portal_are_forbidden_when_the_hub_id_is_known():
    headers = {"x-hubspot-signature-version": "v1", "x-hubspot-signature": V1}
    own = {**CREDENTIALS, "hub_id": 62515}
    webhook.verify(request=request(headers), config={}, credentials=own, now_ms=0)
    with pytest.raises(WebhookDenied) as denied:
        webhook.verify(request=request(headers), config={}, credentials={**CREDENTIALS, "hub_id": 99}, now_ms=0)
    assert denied.value.status == 403
