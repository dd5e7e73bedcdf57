"""Salesforce Outbound Messages: URL secret + OrganizationId, SOAP Ack, one event per Notification."""

import pytest

from crm_connectors.models import WebhookEvent
from crm_connectors.salesforce.webhook import ACK_BODY
from crm_connectors.services import connection_create
from crm_connectors.sync import connection_sync
from crm_connectors.webhook_processing import webhook_event_process
from salesai.core.models import Contact
from tests.crm_connectors.salesforce.fake_server import FakeSalesforce
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

ORG_ID = "00D000000000001AAA"
SECRET = "url-secret-0123456789"


@pytest.fixture
def fake():
    with FakeSalesforce() as server:
        yield server


@pytest.fixture
def connection(fake):
    return connection_create(
        organization=OrganizationFactory(),
        kind="salesforce",
        name="salesforce",
        config={"base_url": fake.url, "organization_id": ORG_ID},
        credentials={
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "refresh_token": fake.refresh_token,
            "webhook_secret": SECRET,
        },
    )


def outbound_message(*notifications: tuple[str, str, dict], org_id: str = ORG_ID) -> bytes:
    """notifications: (notification id, sObject type, fields)."""
    parts = []
    for notification_id, sobject, fields in notifications:
        values = "".join(f"<sf:{name}>{value}</sf:{name}>" for name, value in fields.items())
        parts.append(
            f"<Notification><Id>{notification_id}</Id>"
            f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{values}</sObject>'
            f"</Notification>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body>"
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org_id}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
        '<SessionId xsi:nil="true"/><EnterpriseUrl>https://x.my.salesforce.com/services/Soap/c/61.0</EnterpriseUrl>'
        f"{''.join(parts)}"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def post(client, connection, body: bytes, *, secret: str = SECRET):
    return client.post(f"/webhooks/salesforce/{connection.pk}/{secret}/", data=body, content_type="text/xml")


def test_outbound_message_is_stored_per_notification_and_acked(client, connection):
    body = outbound_message(
        ("04l1", "Contact", {"Id": "003000000000001AAA", "Email": "a@b.test"}),
        ("04l2", "Lead", {"Id": "00Q000000000001AAA"}),
    )
    response = post(client, connection, body)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content == ACK_BODY
    assert b"<Ack>true</Ack>" in response.content
    events = {e.event_id: e.payload for e in WebhookEvent.objects.filter(connection=connection)}
    assert events["04l1"] == {
        "organization_id": ORG_ID,
        "action_id": "04k000000000001AAA",
        "sobject": "Contact",
        "fields": {"Id": "003000000000001AAA", "Email": "a@b.test"},
    }
    assert events["04l2"]["sobject"] == "Lead"
    # Salesforce retries until acked: the same notification again is a no-op.
    assert post(client, connection, body).status_code == 200
    assert WebhookEvent.objects.filter(connection=connection).count() == 2


def test_15_character_org_id_matches(client, connection):
    body = outbound_message(("04l1", "Contact", {"Id": "003000000000001AAA"}), org_id=ORG_ID[:15])
    assert post(client, connection, body).status_code == 200


def test_wrong_organization_is_403_and_nothing_stored(client, connection):
    body = outbound_message(("04l1", "Contact", {"Id": "003000000000001AAA"}), org_id="00D000000000009AAA")
    response = post(client, connection, body)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden")
    assert not WebhookEvent.objects.exists()


def test_wrong_or_missing_secret_is_404_and_nothing_stored(client, connection):
    body = outbound_message(("04l1", "Contact", {"Id": "003000000000001AAA"}))
    assert post(client, connection, body, secret="guess").status_code == 404
    response = client.post(f"/webhooks/salesforce/{connection.pk}/", data=body, content_type="text/xml")
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<not xml", "invalid_xml"),
        (b"<a/>", "not_an_outbound_message"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "dtd_not_allowed"),
        (outbound_message(), "no_notifications"),
        (outbound_message(("04l1", "Contact", {"Email": "no-id@x.test"})), "bad_notification"),
    ],
)
def test_malformed_message_is_400(client, connection, body, code):
    response = post(client, connection, body)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert not WebhookEvent.objects.exists()


def test_processing_rereads_the_record_and_rescores(
    fake, connection, rescore_calls, django_capture_on_commit_callbacks
):
    contact_id = fake.add("Contact", FirstName="Ada", LastName="Lovelace", Email="ada@acme.test")
    connection_sync(connection_id=connection.pk)
    fake.update("Contact", contact_id, Email="ada@new.test", Title="CEO")
    payload = {
        "organization_id": ORG_ID,
        "action_id": "a",
        "sobject": "Contact",
        "fields": {"Id": contact_id, "Title": "CEO"},
    }
    event = WebhookEvent.objects.create(connection=connection, event_id="04l1", payload=payload)
    with django_capture_on_commit_callbacks(execute=True):
        event = webhook_event_process(event_id=event.pk)
    assert (event.status, event.error) == ("processed", "")
    assert any(f"Id = '{contact_id}'" in query for query in fake.queries())
    contact = Contact.objects.get(connection=connection, external_id=contact_id)
    assert contact.email == "ada@new.test"
    assert rescore_calls == [{"organization_id": connection.organization_id, "contact_ids": [contact.pk]}]


def test_a_deleted_record_is_soft_deleted_on_reread(fake, connection):
    contact_id = fake.add("Contact", FirstName="Gone", LastName="Soon")
    connection_sync(connection_id=connection.pk)
    fake.delete("Contact", contact_id)
    payload = {"organization_id": ORG_ID, "action_id": "a", "sobject": "Contact", "fields": {"Id": contact_id}}
    event = WebhookEvent.objects.create(connection=connection, event_id="04l1", payload=payload)
    assert webhook_event_process(event_id=event.pk).status == "processed"
    assert Contact.objects.get(connection=connection, external_id=contact_id).deleted_at is not None


def test_score_only_message_is_not_reread_or_rescored(
    fake, connection, rescore_calls, django_capture_on_commit_callbacks
):
    fields = {"Id": "003000000000001AAA", "SalesAI_Lead_Score__c": "87", "LastModifiedDate": "2026-01-01T00:00:00Z"}
    event = WebhookEvent.objects.create(
        connection=connection,
        event_id="04l1",
        payload={"organization_id": ORG_ID, "action_id": "a", "sobject": "Contact", "fields": fields},
    )
    before = len(fake.requests)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_process(event_id=event.pk).status == "processed"
    assert len(fake.requests) == before
    assert rescore_calls == []
