"""Data-subject requests: export everything held about a person, or erase it everywhere, each audited.

Erasure (GDPR art. 17) removes the person's contacts and, with them, their activities, predictions and the
reasons stored on them, reps' feedback on those predictions, email drafts, score writeback outcomes and
pending rescoring; the cached text embeddings of their activity texts; the stored webhook payloads and sync
error entries that name them. Deals stay (they are the company's) without the link to the person. A
tombstone (`salesai.core.ErasedPerson`: CRM ids and a hash of the email, no personal data) keeps the next
sync from importing them again and keeps them out of training frames.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from crm_connectors.models import ScoreWrite, SyncRun, WebhookEvent
from ml.models import Feedback, GeneratedEmail, PendingScoring, Prediction, TextEmbedding
from salesai.core.models import Contact, ErasedPerson
from salesai.core.services import audit_log_record, person_tombstone_add
from salesai.privacy.selectors import (
    Person,
    person_activities,
    person_export_collect,
    person_find,
    person_sync_errors,
    person_webhook_events,
    value_mentions,
)

ERASED_PAYLOAD = {"erased": "personal data erased on request"}
ERASED_TEXT = "[erased]"


@dataclass
class ErasureReport:
    contacts: int = 0
    activities: int = 0
    predictions: int = 0
    feedback: int = 0
    email_drafts: int = 0
    score_writes: int = 0
    text_embeddings: int = 0
    webhook_events_redacted: int = 0
    sync_error_entries_removed: int = 0
    company_reasons_removed: int = 0
    tombstones: int = 0


def person_data_export(
    *, organization_id: int, email: str | None = None, contact_id: int | None = None, actor_id: int | None = None
) -> dict:
    """Everything held about the person (JSON-ready: dates as ISO text, decimals as text); audited.
    Raises PersonNotFound."""
    person = person_find(organization_id=organization_id, email=email, contact_id=contact_id)
    data = json.loads(json.dumps(person_export_collect(person=person), cls=DjangoJSONEncoder))
    audit_log_record(
        action="person.export",
        organization_id=organization_id,
        actor_id=actor_id,
        target_type="core.contact",
        target_id=",".join(map(str, person.contact_ids)),
        detail={
            "contact_ids": person.contact_ids,
            "email_sha256": [ErasedPerson.email_key(address) for address in person.emails],
        },
    )
    return data


def person_erase(
    *, organization_id: int, email: str | None = None, contact_id: int | None = None, actor_id: int | None = None
) -> ErasureReport:
    """Erase the person everywhere (see the module docstring), atomically; audited with counts only.
    Raises PersonNotFound."""
    with transaction.atomic():
        person = person_find(organization_id=organization_id, email=email, contact_id=contact_id)
        report = ErasureReport()
        activities = person_activities(person=person)
        report.text_embeddings = _text_embeddings_erase(activities.values_list("subject", "body"))
        report.company_reasons_removed = _company_reasons_scrub(person)
        report.webhook_events_redacted = _webhook_payloads_redact(person)
        report.sync_error_entries_removed = _sync_errors_scrub(person)

        predictions = Prediction.objects.filter(contact_id__in=person.contact_ids)
        report.feedback = Feedback.objects.filter(prediction__in=predictions).delete()[0]
        report.predictions = predictions.delete()[0]
        report.email_drafts = GeneratedEmail.objects.filter(contact_id__in=person.contact_ids).delete()[0]
        report.score_writes = ScoreWrite.objects.filter(contact_id__in=person.contact_ids).delete()[0]
        PendingScoring.objects.filter(organization_id=organization_id, contact_id__in=person.contact_ids).delete()
        report.activities = activities.delete()[0]
        report.contacts = Contact.objects.filter(pk__in=person.contact_ids).delete()[1].get("core.Contact", 0)
        report.tombstones = person_tombstone_add(
            organization_id=organization_id, emails=person.emails, records=person.records
        )
        audit_log_record(
            action="person.erase",
            organization_id=organization_id,
            actor_id=actor_id,
            target_type="core.contact",
            target_id=",".join(map(str, person.contact_ids)),
            detail={
                "contact_ids": person.contact_ids,
                **asdict(report),
                "email_sha256": [ErasedPerson.email_key(address) for address in person.emails],
            },
        )
    return report


def _text_embeddings_erase(texts: object) -> int:
    """Cached embeddings are keyed by the sha256 of the exact text the models encode: recompute the keys of
    the person's activity texts and drop those rows (another organisation's identical text is re-encoded)."""
    from ml.engine.text_encoder import text_sha256
    from ml.features.text import activity_text  # pandas-backed: only when erasing

    digests = {text_sha256(text) for text in (activity_text(subject=s, body=b) for s, b in texts) if text}
    deleted = 0
    chunk = sorted(digests)
    for start in range(0, len(chunk), 500):
        deleted += TextEmbedding.objects.filter(content_sha256__in=chunk[start : start + 500]).delete()[0]
    return deleted


def _company_reasons_scrub(person: Person) -> int:
    """Churn reasons of their companies may quote a sentence they wrote: drop reasons that name them."""
    removed = 0
    company_ids = Contact.objects.filter(pk__in=person.contact_ids, company__isnull=False).values("company_id")
    texts = {
        line
        for subject, body in person_activities(person=person).values_list("subject", "body")
        for line in f"{subject}\n{body}".splitlines()
        if len(line.strip()) >= 12
    }
    for prediction in Prediction.objects.filter(company_id__in=company_ids):
        kept = [
            factor
            for factor in prediction.top_factors or []
            if not value_mentions(factor, person)
            and not any(text in json.dumps(factor, ensure_ascii=False) for text in texts)
        ]
        if len(kept) != len(prediction.top_factors or []):
            removed += len(prediction.top_factors) - len(kept)
            prediction.top_factors = kept
            prediction.save(update_fields=["top_factors"])
    return removed


def _webhook_payloads_redact(person: Person) -> int:
    """The delivery row stays (its event id keeps a redelivery from being processed again); its payload and
    headers go, and it is marked processed so no replay or sweep reads it."""
    ids = [event.pk for event in person_webhook_events(person=person)]
    return WebhookEvent.objects.filter(pk__in=ids).update(
        payload=ERASED_PAYLOAD,
        headers={},
        status=WebhookEvent.Status.PROCESSED,
        error="payload erased on a data-subject request",
    )


def _sync_errors_scrub(person: Person) -> int:
    removed = 0
    for run, entries in list(person_sync_errors(person=person)):
        run.errors = [entry for entry in run.errors or [] if entry not in entries]
        summary = run.error_summary or ""
        for address in person.emails:
            summary = _replace_case_insensitive(summary, address, ERASED_TEXT)
        run.error_summary = summary
        SyncRun.objects.filter(pk=run.pk).update(errors=run.errors, error_summary=run.error_summary)
        removed += len(entries)
    return removed


def _replace_case_insensitive(text: str, needle: str, replacement: str) -> str:
    return re.sub(re.escape(needle), replacement, text, flags=re.IGNORECASE)
