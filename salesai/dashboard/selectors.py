"""Reads that only the manager pages need."""

from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, QuerySet

from crm_connectors.models import SyncRun
from ml.models import GeneratedEmail
from salesai.core.models import Contact, Deal


def sync_run_recent_list(*, organization_id: int, limit: int = 10) -> QuerySet[SyncRun]:
    return (
        SyncRun.objects.filter(connection__organization_id=organization_id)
        .select_related("connection")
        .order_by("-queued_at", "-id")[:limit]
    )


def deal_choices_for_contact(*, contact: Contact) -> QuerySet[Deal]:
    """Deals a draft to this contact may be about: the contact's own and their company's, newest first."""
    scope = Q(contact_id=contact.id)
    if contact.company_id is not None:
        scope |= Q(company_id=contact.company_id)
    return (
        Deal.objects.filter(scope, organization_id=contact.organization_id, deleted_at__isnull=True)
        .order_by(F("close_date").desc(nulls_last=True), "name", "id")
    )


def generated_email_recent_for_contact(*, contact_id: int, limit: int = 5) -> QuerySet[GeneratedEmail]:
    return GeneratedEmail.objects.filter(contact_id=contact_id).order_by("-created_at", "-id")[:limit]


# --- the review page: a draft's stored JSON, shaped for the template ----------------------------------------
@dataclass(frozen=True)
class CitedFact:
    id: str
    label: str
    value: str


@dataclass(frozen=True)
class CitedSentence:
    index: int
    text: str
    facts: list[CitedFact]


@dataclass(frozen=True)
class AttemptRow:
    number: int
    backend: str
    model: str
    seconds: float | None
    passed: bool
    violations: list[dict[str, Any]]
    error: str


@dataclass(frozen=True)
class EmailReview:
    sentences: list[CitedSentence]
    attempts: list[AttemptRow]
    caught: list[dict[str, Any]]  # violations found in any attempt (what the guardrails stopped)
    shipped_passed: bool | None  # the verdict on the text shown; None before generation finished
    shipped_violations: list[dict[str, Any]]


def generated_email_review(*, email: GeneratedEmail) -> EmailReview:
    """Each sentence with the facts it cites (labels and values from the fact sheet the draft was checked
    against, so the page shows what the guardrails saw) and every attempt with what it was stopped for."""
    facts = {
        fact.get("id"): CitedFact(id=fact.get("id", ""), label=fact.get("label", ""), value=fact.get("value", ""))
        for fact in (email.fact_sheet or {}).get("facts", [])
        if isinstance(fact, dict)
    }
    sentences = []
    for citation in email.citations or []:  # Citation.as_dict rows: sentence_index, sentence, fact_ids
        cited = [facts.get(fact_id) or CitedFact(id=fact_id, label=fact_id, value="")
                 for fact_id in citation.get("fact_ids", [])]
        sentences.append(CitedSentence(index=int(citation.get("sentence_index", len(sentences))),
                                       text=str(citation.get("sentence", "")), facts=cited))

    report = email.guardrail_report or {}
    attempts = [
        AttemptRow(
            number=number,
            backend=attempt.get("backend", ""),
            model=attempt.get("model", ""),
            seconds=attempt.get("seconds"),
            passed=bool(attempt.get("passed")),
            violations=list(attempt.get("violations") or []),
            error=attempt.get("error", ""),
        )
        for number, attempt in enumerate(report.get("attempts") or [], start=1)
    ]
    caught = [violation for attempt in attempts for violation in attempt.violations]
    return EmailReview(
        sentences=sentences,
        attempts=attempts,
        caught=caught,
        shipped_passed=report.get("passed") if report else None,
        shipped_violations=list(report.get("violations") or []),
    )

