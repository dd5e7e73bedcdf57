"""Everything SalesAI holds about one person of one organisation, found by email or contact id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.forms.models import model_to_dict

from crm_connectors.models import ScoreWrite, SyncRun, WebhookEvent
from ml.models import Feedback, GeneratedEmail, Prediction
from salesai.core.models import Activity, Contact, Deal, ErasedPerson


class PersonNotFound(Exception):
    """No contact of the organisation matches: callers answer 404 (the same as another tenant's person)."""


@dataclass(frozen=True)
class Person:
    """One person as the organisation's CRM copies know them: possibly several contacts (several connections,
    duplicates) sharing an email address."""

    organization_id: int
    contact_ids: list[int]
    emails: list[str]  # lower-cased, non-empty
    records: list[tuple[int | None, str]]  # (connection id, external id) of each contact

    @property
    def needles(self) -> list[str]:
        """Strings whose presence in a stored payload or error report means it is about this person."""
        return [*self.emails, *(external_id for _, external_id in self.records if external_id)]


def person_find(*, organization_id: int, email: str | None = None, contact_id: int | None = None) -> Person:
    """The person with this email (any case) or this contact id, plus every other contact of the
    organisation with the same email; PersonNotFound when none is the organisation's."""
    wanted = Q()
    if email and email.strip():
        wanted |= Q(email__iexact=email.strip())
    if contact_id is not None:
        wanted |= Q(pk=contact_id)
    if not wanted:
        raise PersonNotFound("give an email address or a contact id")
    contacts = list(Contact.objects.filter(wanted, organization_id=organization_id))
    emails = {c.email.strip().lower() for c in contacts if c.email.strip()}
    if emails:  # the same person under another connection (or a duplicate) is the same person
        same = Q()
        for address in emails:
            same |= Q(email__iexact=address)
        contacts = list(
            Contact.objects.filter(same | Q(pk__in=[c.pk for c in contacts]), organization_id=organization_id)
        )
    if not contacts:
        raise PersonNotFound("no such person in this organisation")
    return Person(
        organization_id=organization_id,
        contact_ids=sorted(c.pk for c in contacts),
        emails=sorted(emails | ({email.strip().lower()} if email and email.strip() else set())),
        records=sorted({(c.connection_id, c.external_id) for c in contacts}, key=str),
    )


def person_activities(*, person: Person) -> QuerySet[Activity]:
    return Activity.objects.filter(organization_id=person.organization_id, contact_id__in=person.contact_ids)


def person_webhook_events(*, person: Person) -> Iterator[WebhookEvent]:
    """The organisation's stored webhook deliveries that carry one of the person's emails or CRM ids."""
    prefilter = Q()
    for needle in person.needles:
        prefilter |= Q(payload__icontains=needle)
    events = WebhookEvent.objects.filter(prefilter, connection__organization_id=person.organization_id)
    for event in events.iterator(chunk_size=500):
        if value_mentions(event.payload, person):
            yield event


def person_sync_errors(*, person: Person) -> Iterator[tuple[SyncRun, list[dict]]]:
    """Sync runs of the organisation whose row-error report names the person, with those entries."""
    prefilter = Q()
    for needle in person.needles:
        prefilter |= Q(errors__icontains=needle) | Q(error_summary__icontains=needle)
    runs = SyncRun.objects.filter(prefilter, connection__organization_id=person.organization_id)
    for run in runs.iterator(chunk_size=200):
        entries = [entry for entry in run.errors or [] if _error_is_about(entry, run.connection_id, person)]
        if entries or any(email in (run.error_summary or "").lower() for email in person.emails):
            yield run, entries


def person_export_collect(*, person: Person) -> dict[str, Any]:
    """Every row SalesAI holds about the person, as JSON-ready dicts (GDPR art. 15)."""
    contacts = Contact.objects.filter(pk__in=person.contact_ids)
    predictions = Prediction.objects.filter(contact_id__in=person.contact_ids)
    return {
        "organization_id": person.organization_id,
        "emails": person.emails,
        "contacts": _rows(contacts),
        "activities": _rows(person_activities(person=person)),
        "deals": _rows(Deal.objects.filter(contact_id__in=person.contact_ids)),
        "predictions": _rows(predictions),  # each with its reasons (top_factors)
        "feedback": _rows(Feedback.objects.filter(prediction__in=predictions)),
        "email_drafts": _rows(GeneratedEmail.objects.filter(contact_id__in=person.contact_ids)),
        "score_writes": _rows(ScoreWrite.objects.filter(contact_id__in=person.contact_ids)),
        "webhook_events": [
            {
                "id": e.pk,
                "connection_id": e.connection_id,
                "event_id": e.event_id,
                "received_at": e.received_at,
                "status": e.status,
                "payload": e.payload,
            }
            for e in person_webhook_events(person=person)
        ],
        "sync_errors": [
            {"sync_run_id": run.pk, "connection_id": run.connection_id, "queued_at": run.queued_at, "errors": entries}
            for run, entries in person_sync_errors(person=person)
        ],
        "erased": ErasedPerson.objects.filter(
            organization_id=person.organization_id,
            email_sha256__in=[ErasedPerson.email_key(email) for email in person.emails],
        ).exists(),
    }


def _rows(queryset: QuerySet) -> list[dict[str, Any]]:
    model = queryset.model
    excluded = {"credentials"}
    names = [f.name for f in model._meta.concrete_fields if f.name not in excluded]
    return [model_to_dict(row, fields=names) | {"id": row.pk, **_timestamps(row)} for row in queryset]


def _timestamps(row: Any) -> dict[str, Any]:
    # model_to_dict leaves out non-editable fields (auto_now_add): the export keeps them.
    return {f.name: getattr(row, f.name) for f in row._meta.concrete_fields if not f.editable and not f.primary_key}


def _error_is_about(entry: dict, connection_id: int, person: Person) -> bool:
    if entry.get("external_id") and (connection_id, entry["external_id"]) in set(person.records):
        return True
    return value_mentions(entry, person)


def value_mentions(value: Any, person: Person) -> bool:
    """Whether any string or number inside `value` is one of the person's CRM ids or contains their email."""
    ids = {external_id for _, external_id in person.records if external_id}
    for leaf in _leaves(value):
        text = str(leaf)
        if text in ids or any(email in text.lower() for email in person.emails):
            return True
    return False


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    elif value is not None:
        yield value
