"""Reads that only the manager pages need."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, Q, QuerySet

from crm_connectors.models import SyncRun
from ml.churn_selectors import churn_predictions_current_list
from ml.models import GeneratedEmail
from salesai.core.models import Contact, Deal
from salesai.core.selectors import organization_ids_for_user


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
    return Deal.objects.filter(scope, organization_id=contact.organization_id, deleted_at__isnull=True).order_by(
        F("close_date").desc(nulls_last=True), "name", "id"
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
        cited = [
            facts.get(fact_id) or CitedFact(id=fact_id, label=fact_id, value="")
            for fact_id in citation.get("fact_ids", [])
        ]
        sentences.append(
            CitedSentence(
                index=int(citation.get("sentence_index", len(sentences))),
                text=str(citation.get("sentence", "")),
                facts=cited,
            )
        )

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


# --- accounts at churn risk (the _churn_risk.html include) --------------------------------------------------
@dataclass(frozen=True)
class ChurnRiskAccount:
    company_id: int
    company_name: str
    probability: float
    risk_percent: int
    top_reason: str  # the factor that raised the risk most; "" when none was recorded


def churn_risk_accounts_for_user(
    *, user: AbstractBaseUser | AnonymousUser, limit: int = 10, organization_id: int | None = None
) -> list[ChurnRiskAccount]:
    """The accounts with the highest current churn risk in the user's organisations (narrowed to one of them
    with `organization_id`; another organisation's id gives nothing), riskiest first."""
    allowed = list(organization_ids_for_user(user=user))
    if organization_id is not None:
        allowed = [o for o in allowed if o == organization_id]
    if not allowed or limit <= 0:
        return []
    return [
        ChurnRiskAccount(
            company_id=prediction.company_id,
            company_name=prediction.company.name,
            probability=prediction.probability,
            risk_percent=int(round(prediction.probability * 100)),
            top_reason=_top_raising_factor(prediction.top_factors),
        )
        for prediction in churn_predictions_current_list(organization_ids=allowed, limit=limit)
    ]


def _top_raising_factor(factors: Any) -> str:
    raising = [f for f in factors or [] if isinstance(f, dict) and f.get("direction") == "+"]
    if not raising:
        return ""
    best = max(raising, key=lambda f: abs(float(f.get("weight") or 0.0)))
    return str(best.get("label") or best.get("feature") or "")
