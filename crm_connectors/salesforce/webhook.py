"""Salesforce Outbound Messages: a SOAP `notifications` envelope, answered with `<Ack>true</Ack>`.

Outbound Messages cannot sign requests, so each connection gets a secret in its webhook URL (credential
`webhook_secret`), and the message's OrganizationId must be the connection's org (config `organization_id`).
Each `Notification` (its `Id` is the event id) carries one sObject with only the fields the admin selected,
so processing re-reads the record.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

from crm_connectors.base import InboundEvent
from crm_connectors.salesforce.mapping import SOBJECTS
from crm_connectors.webhook_types import EventPlan, WebhookDenied, WebhookMalformed, WebhookRequest

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
DEFAULT_SCORE_PROPERTY = "SalesAI_Lead_Score__c"
DEFAULT_CHURN_PROPERTY = "SalesAI_Churn_Risk__c"  # on Accounts
DEFAULT_WIN_FIELD = "SalesAI_Win_Probability__c"  # on Opportunities, as salesforce/writeback.py names them
DEFAULT_CLOSE_FIELD = "SalesAI_Expected_Close__c"
# Fields Salesforce changes on every save: they say nothing about what the user changed.
_SYSTEM_FIELDS = frozenset({"Id", "SystemModstamp", "LastModifiedDate", "LastModifiedById"})
_OBJECT_TYPES = {sobject: object_type for object_type, sobjects in SOBJECTS.items() for sobject in sobjects}
# DTDs can define entity bombs and external entities; a real Outbound Message never has one.
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)

ACK_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>'
    b"</soapenv:Body>"
    b"</soapenv:Envelope>"
)


def verify(*, request: WebhookRequest, config: Mapping[str, Any], credentials: Mapping[str, Any], now_ms: int) -> None:
    secret = str(credentials.get("webhook_secret") or "")
    if not secret or not hmac.compare_digest((request.url_secret or "").encode(), secret.encode()):
        raise WebhookDenied("unknown webhook URL", status=404)  # no hint that the connection exists
    expected_org = str(config.get("organization_id") or "")
    organization_id = _organization_id(_notifications(request.body))
    # Salesforce ids come as 15 (case-sensitive) or 18 characters; the first 15 identify the org.
    if not expected_org or organization_id[:15] != expected_org[:15]:
        raise WebhookDenied("OrganizationId is not this connection's organisation", status=403)


def parse(*, body: bytes) -> list[InboundEvent]:
    notifications = _notifications(body)
    organization_id = _organization_id(notifications)
    action_id = _text(notifications.find(f"{{{OUTBOUND_NS}}}ActionId"))
    events = []
    for position, notification in enumerate(notifications.findall(f"{{{OUTBOUND_NS}}}Notification")):
        notification_id = _text(notification.find(f"{{{OUTBOUND_NS}}}Id"))
        sobject = notification.find(f"{{{OUTBOUND_NS}}}sObject")
        if not notification_id or sobject is None:
            raise WebhookMalformed("bad_notification", f"notification {position} lacks its Id or sObject")
        sobject_type = (sobject.get(f"{{{XSI_NS}}}type") or "").rpartition(":")[2]
        fields = {_local(child.tag): _value(child) for child in sobject}
        if not sobject_type or not fields.get("Id"):
            raise WebhookMalformed("bad_notification", f"notification {position}'s sObject lacks its type or Id")
        payload = {
            "organization_id": organization_id,
            "action_id": action_id,
            "sobject": sobject_type,
            "fields": fields,
        }
        events.append(InboundEvent(event_id=notification_id, payload=payload))
    if not events:
        raise WebhookMalformed("no_notifications", "the message holds no Notification")
    return events


def event_plan(*, payload: Mapping[str, Any], config: Mapping[str, Any]) -> EventPlan:
    object_type = _OBJECT_TYPES.get(str(payload.get("sobject")))
    if object_type is None:
        return EventPlan(None)
    fields = payload.get("fields") or {}
    own = {
        str(config.get("score_property") or DEFAULT_SCORE_PROPERTY),
        str(config.get("churn_property") or DEFAULT_CHURN_PROPERTY),
        str(config.get("win_probability_property") or DEFAULT_WIN_FIELD),
        str(config.get("expected_close_property") or DEFAULT_CLOSE_FIELD),
    }
    changed = set(fields) - _SYSTEM_FIELDS
    if changed and changed <= own:  # only fields our writeback sets: our own echo
        return EventPlan(object_type, score_only=True)
    return EventPlan(object_type, refetch_ids=[str(fields["Id"])])


def acknowledgement() -> tuple[bytes, str]:
    return ACK_BODY, "text/xml; charset=utf-8"


def _notifications(body: bytes) -> ElementTree.Element:
    if _DTD.search(body):
        raise WebhookMalformed("dtd_not_allowed", "XML with a DOCTYPE or ENTITY is refused")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise WebhookMalformed("invalid_xml", "the body is not well-formed XML") from None
    notifications = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if root.tag != f"{{{SOAP_NS}}}Envelope" or notifications is None:
        raise WebhookMalformed("not_an_outbound_message", "expected a SOAP Envelope with outbound notifications")
    return notifications


def _organization_id(notifications: ElementTree.Element) -> str:
    organization_id = _text(notifications.find(f"{{{OUTBOUND_NS}}}OrganizationId"))
    if not organization_id:
        raise WebhookMalformed("missing_organization_id", "the message has no OrganizationId")
    return organization_id


def _text(element: ElementTree.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _value(element: ElementTree.Element) -> str | None:
    if element.get(f"{{{XSI_NS}}}nil") == "true":
        return None
    return element.text or ""
