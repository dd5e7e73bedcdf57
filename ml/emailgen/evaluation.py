"""`email_eval`: draft emails for N contacts of an organisation through the real services and measure them.

Three steps, each usable alone:
- `email_eval_cases` picks N contacts that have an email address, deterministically for a seed, and gives
  each an intent the CRM can support (a meeting to follow up, an open deal to nudge, a won deal to renew, a
  lost deal to win back), so every intent is exercised. Opted-out and suppressed contacts are NOT filtered:
  their refusal is part of what is measured.
- `email_eval_run` requests and generates each draft synchronously (`email_draft_create` +
  `email_draft_generate`, no worker) and turns every stored row into an `EvalRow`, re-checking what shipped:
  `draft_check` again on every READY draft against its fact sheet rebuilt from the CRM, and the compliance
  footer and the contact's right to be emailed re-verified independently of the pipeline's own verdict.
- `email_eval_summarize` (pure: rows in, figures out) aggregates the rows, overall and per intent (drafts
  shipped, sentences that cite facts vs courtesy sentences, rejections by violation code, fallback rate,
  latency); `email_eval_table` prints them.
- `email_eval_model_warm` loads the local model before the first case, so its load time is reported on its
  own (with the process's peak RSS) and the latencies are those of a warm worker.

Like factsheet.py this module reads the ORM; the figures themselves are computed without Django.
"""

from __future__ import annotations

import random
import resource
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import F

from ml.email_services import (
    EmailRefused,
    email_backend_get,
    email_draft_create,
    email_draft_generate,
    email_settings_get,
)
from ml.emailgen.factsheet import fact_sheet_build, fact_sheet_refusal
from ml.engine.emailgen.guardrails import draft_check
from ml.engine.emailgen.types import INTENTS, LENGTHS, TONES
from ml.models import EmailSettings, GeneratedEmail
from salesai.core.models import Activity, Contact, Deal, Organization

GROUNDING_PREFIX = "ungrounded_"


class EvalSetupError(Exception):
    """The organisation cannot be evaluated as configured (the message says what to fix)."""


@dataclass(frozen=True)
class EvalCase:
    contact_id: int
    intent: str
    deal_id: int | None
    tone: str
    length: str


@dataclass
class EvalRow:
    """One request and what came of it: everything the summary is computed from."""

    contact_id: int
    intent: str
    status: str  # ready | failed | refused | invalid
    email_id: int | None = None
    refusal_code: str = ""
    backend: str = ""
    model: str = ""
    fallback_used: bool = False
    latency_seconds: float | None = None
    subject_chars: int = 0
    body_chars: int = 0  # the message without the compliance footer
    caught: list[str] = field(default_factory=list)  # violation codes of every attempt the guardrails stopped
    shipped: list[str] = field(default_factory=list)  # violation codes draft_check finds in the shipped text
    compliance: dict[str, bool] = field(default_factory=dict)  # ready drafts only: check -> passed
    error: str = ""
    model_attempts: int = 0  # generations tried (the composer is not one)
    sentences_cited: int = 0  # ready drafts: sentences of the message that cite facts
    sentences_courtesy: int = 0  # ready drafts: sentences that claim nothing (courtesy, call to action, frame)

    @property
    def compliant(self) -> bool:
        return bool(self.compliance) and all(self.compliance.values())


# --- choosing the cases -------------------------------------------------------------------------------------
def email_eval_cases(*, organization_id: int, n: int, seed: int = 0) -> list[EvalCase]:
    """N contacts with an email address (fewer when the organisation has fewer), intents in rotation.

    An intent the contact's CRM history cannot support (a follow-up without a meeting) is given to the next
    contact that can; when no contact can, the slot becomes a first touch. Same data + seed -> same cases.
    """
    contacts = list(
        Contact.objects.filter(organization_id=organization_id, deleted_at__isnull=True)
        .exclude(email="")
        .order_by("id")
        .values_list("id", flat=True)
    )
    rng = random.Random(seed)
    rng.shuffle(contacts)
    eligible = _eligible(organization_id=organization_id)
    pools = {intent: [c for c in contacts if intent == "first_touch" or c in eligible[intent]] for intent in INTENTS}
    cursor = dict.fromkeys(INTENTS, 0)
    used: set[int] = set()
    cases: list[EvalCase] = []
    for slot in range(min(n, len(contacts))):
        intent = INTENTS[slot % len(INTENTS)]
        contact_id = _next_unused(pools[intent], cursor, intent, used)
        if contact_id is None:
            intent = "first_touch"
            contact_id = _next_unused(pools[intent], cursor, intent, used)
        used.add(contact_id)
        cases.append(
            EvalCase(
                contact_id=contact_id,
                intent=intent,
                deal_id=eligible[intent].get(contact_id) if intent != "first_touch" else None,
                tone=TONES[(slot // len(INTENTS)) % len(TONES)],
                length=LENGTHS[slot % len(LENGTHS)],
            )
        )
    return cases


def _next_unused(pool: list[int], cursor: dict[str, int], intent: str, used: set[int]) -> int | None:
    while cursor[intent] < len(pool):
        contact_id = pool[cursor[intent]]
        cursor[intent] += 1
        if contact_id not in used:
            return contact_id
    return None


def _eligible(*, organization_id: int) -> dict[str, dict[int, int | None]]:
    """intent -> {contact id: the deal the draft is about (None = let the fact sheet choose)}."""
    deals = Deal.objects.filter(organization_id=organization_id, deleted_at__isnull=True, contact__isnull=False)
    newest = deals.order_by("contact_id", F("close_date").desc(nulls_last=True), "-id")

    def latest(status: str) -> dict[int, int | None]:
        found: dict[int, int | None] = {}
        for contact_id, deal_id in newest.filter(status=status).values_list("contact_id", "id"):
            found.setdefault(contact_id, deal_id)
        return found

    met = Activity.objects.filter(
        organization_id=organization_id, deleted_at__isnull=True, kind=Activity.Kind.MEETING, contact__isnull=False
    ).values_list("contact_id", flat=True)
    customers = Contact.objects.filter(
        organization_id=organization_id, lifecycle_stage=Contact.LifecycleStage.CUSTOMER
    ).values_list("id", flat=True)
    won, lost = latest(Deal.Status.WON), latest(Deal.Status.LOST)
    return {
        "first_touch": {},
        "meeting_follow_up": dict.fromkeys(met),
        "deal_nudge": latest(Deal.Status.OPEN),
        "renewal": {**dict.fromkeys(customers), **won},
        "win_back": lost,
    }


# --- running them -------------------------------------------------------------------------------------------
def email_eval_preflight(*, organization: Organization) -> list[str]:
    """Problems that would make every draft fail, in words that say what to change."""
    problems = []
    email_settings = EmailSettings.objects.filter(organization=organization).first()
    if email_settings is None or not email_settings.sender_postal_address.strip():
        problems.append(
            f"organisation '{organization.slug}' has no sender postal address in its email settings, so every "
            "draft would fail the compliance footer; set it in the admin (Email settings)"
            + (" or re-run `manage.py demo_seed`" if organization.slug == "demo" else "")
        )
    return problems


def email_eval_run(
    *,
    organization: Organization,
    cases: Sequence[EvalCase],
    backend_kind: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[EvalRow]:
    """Request and generate one draft per case, synchronously, and measure each stored row. Ctrl-C stops
    early and keeps the rows measured so far (a local model on CPU can take minutes per draft)."""
    problems = email_eval_preflight(organization=organization)
    if problems:
        raise EvalSetupError("; ".join(problems))
    rows: list[EvalRow] = []
    for number, case in enumerate(cases, start=1):
        try:
            rows.append(_eval_case(organization=organization, case=case, backend_kind=backend_kind))
        except KeyboardInterrupt:
            if progress is not None:
                progress(f"interrupted: summarising the {len(rows)} finished request(s)")
            break
        if progress is not None:
            row = rows[-1]
            latency = f" {row.latency_seconds:.2f}s" if row.latency_seconds is not None else ""
            progress(
                f"[{number}/{len(cases)}] contact {case.contact_id} {case.intent}: {row.status}"
                f"{f' ({row.refusal_code})' if row.refusal_code else ''}{f' {row.backend}' if row.backend else ''}"
                f"{' fallback' if row.fallback_used else ''}{latency}"
            )
    return rows


def _eval_case(*, organization: Organization, case: EvalCase, backend_kind: str | None) -> EvalRow:
    row = EvalRow(contact_id=case.contact_id, intent=case.intent, status="invalid")
    try:
        email = email_draft_create(
            organization_id=organization.id,
            contact_id=case.contact_id,
            intent=case.intent,
            options={"tone": case.tone, "length": case.length},
            deal_id=case.deal_id,
        )
    except EmailRefused as exc:
        row.status, row.refusal_code, row.error = "refused", str(exc.code), " ".join(exc.messages)
        return row
    except ValidationError as exc:
        row.error = " ".join(exc.messages)
        return row
    email = email_draft_generate(email_id=email.id, backend_kind=backend_kind)
    return email_eval_row(email=email)


def email_eval_row(*, email: GeneratedEmail) -> EvalRow:
    """The figures of one stored draft, re-checked: the shipped text goes through draft_check again, and the
    footer and the contact's consent are verified here rather than taken from the stored report."""
    report = email.guardrail_report or {}
    row = EvalRow(
        contact_id=email.contact_id,
        intent=email.intent,
        status=email.status,
        email_id=email.id,
        refusal_code="refused_at_generation" if email.status == GeneratedEmail.Status.REFUSED else "",
        backend=email.backend,
        model=email.model_name,
        fallback_used=email.fallback_used,
        latency_seconds=email.latency_seconds,
        caught=[
            violation.get("code", "")
            for attempt in report.get("attempts") or []
            for violation in attempt.get("violations") or []
        ],
        error=email.error,
        model_attempts=sum(attempt.get("backend") not in ("", "composer") for attempt in report.get("attempts") or []),
    )
    citations = [c for c in email.citations or [] if isinstance(c, dict)]
    row.sentences_cited = sum(bool(c.get("fact_ids")) for c in citations)
    row.sentences_courtesy = len(citations) - row.sentences_cited
    if email.status != GeneratedEmail.Status.READY:
        return row
    contact = Contact.objects.select_related("company").get(pk=email.contact_id)
    email_settings = email_settings_get(organization_id=email.organization_id)
    # The sheet is rebuilt from the CRM as of generation, so the re-check does not trust the stored copy.
    fact_sheet = fact_sheet_build(
        contact=contact,
        deal=email.deal,
        sender=email.requested_by,
        email_settings=email_settings,
        now=email.finished_at or email.created_at,
    )
    shipped = draft_check(
        subject=email.subject, body=email.body, fact_sheet=fact_sheet, length=(email.options or {}).get("length")
    )
    row.shipped = [violation.code for violation in shipped.violations]
    footer = fact_sheet.footer.render()
    body = email.body.rstrip()
    row.subject_chars = len(email.subject)
    row.body_chars = len(body[: -len(footer)].rstrip() if footer and body.endswith(footer) else body)
    row.compliance = {
        "footer_at_end": bool(footer) and body.endswith(footer),
        "unsubscribe_line": bool(email_settings.unsubscribe_text.strip())
        and email_settings.unsubscribe_text.strip() in body,
        "postal_address": bool(email_settings.sender_postal_address.strip())
        and email_settings.sender_postal_address.strip() in body,
        "contact_may_be_emailed": fact_sheet_refusal(contact=contact, organization_id=email.organization_id) is None,
    }
    return row


# --- the figures --------------------------------------------------------------------------------------------
def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "mean": None, "p50": None, "p95": None}
    array = np.asarray(values, dtype=float)
    return {
        "n": len(values),
        "mean": float(array.mean()),
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
    }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def email_eval_intent_figures(rows: Sequence[EvalRow]) -> dict[str, Any]:
    """Per intent: requests, drafts shipped (ready), by which backend, fallback rate, cited vs courtesy
    sentences of the shipped drafts, rejections by violation code, model attempts and latency."""
    ready = [row for row in rows if row.status == GeneratedEmail.Status.READY]
    fallbacks = sum(row.fallback_used for row in ready)
    return {
        "requests": len(rows),
        "shipped": len(ready),
        "shipped_by_backend": dict(Counter(row.backend for row in ready)),
        "fallback": {"count": fallbacks, "rate": _rate(fallbacks, len(ready))},
        "sentences": {
            "cited": sum(row.sentences_cited for row in ready),
            "courtesy": sum(row.sentences_courtesy for row in ready),
        },
        "rejections_by_code": dict(Counter(code for row in rows for code in row.caught)),
        "model_attempts": sum(row.model_attempts for row in rows),
        "latency_seconds": _percentiles([row.latency_seconds for row in ready if row.latency_seconds is not None]),
    }


def email_eval_summarize(rows: Sequence[EvalRow]) -> dict[str, Any]:
    """All figures of a run, computed only from the rows."""
    ready = [row for row in rows if row.status == GeneratedEmail.Status.READY]
    drafted = [row for row in rows if row.email_id is not None and row.status != GeneratedEmail.Status.REFUSED]
    caught = Counter(code for row in rows for code in row.caught)
    shipped = Counter(code for row in ready for code in row.shipped)
    compliance_checks = Counter()
    for row in ready:
        compliance_checks.update(check for check, passed in row.compliance.items() if not passed)
    by_backend: dict[str, list[float]] = defaultdict(list)
    for row in drafted:
        if row.latency_seconds is not None:
            by_backend[row.backend or "none"].append(row.latency_seconds)
    fallbacks = sum(row.fallback_used for row in ready)
    return {
        "requests": len(rows),
        "intents": dict(Counter(row.intent for row in rows)),
        "drafts": len(drafted),
        "ready": len(ready),
        "failed": sum(row.status == GeneratedEmail.Status.FAILED for row in rows),
        "invalid": sum(row.status == "invalid" for row in rows),
        "refused": {
            "total": sum(row.status == GeneratedEmail.Status.REFUSED for row in rows),
            "by_reason": dict(Counter(row.refusal_code for row in rows if row.status == GeneratedEmail.Status.REFUSED)),
        },
        "violations_caught": {
            "total": sum(caught.values()),
            "grounding": sum(count for code, count in caught.items() if code.startswith(GROUNDING_PREFIX)),
            "drafts_with_any": sum(bool(row.caught) for row in rows),
            "by_code": dict(caught),
        },
        "violations_shipped": {
            "total": sum(shipped.values()),
            "grounding": sum(count for code, count in shipped.items() if code.startswith(GROUNDING_PREFIX)),
            "by_code": dict(shipped),
        },
        "compliance": {
            "passed": sum(row.compliant for row in ready),
            "pass_rate": _rate(sum(row.compliant for row in ready), len(ready)),
            "failures_by_check": dict(compliance_checks),
        },
        "fallback": {"count": fallbacks, "rate": _rate(fallbacks, len(ready))},
        "shipped_by_backend": dict(Counter(row.backend for row in ready)),
        "sentences": {
            "cited": sum(row.sentences_cited for row in ready),
            "courtesy": sum(row.sentences_courtesy for row in ready),
        },
        "model_attempts": sum(row.model_attempts for row in rows),
        "by_intent": {
            intent: email_eval_intent_figures([row for row in rows if row.intent == intent])
            for intent in sorted({row.intent for row in rows})
        },
        "subject_chars": _percentiles([row.subject_chars for row in ready]),
        "body_chars": _percentiles([row.body_chars for row in ready]),
        "latency_seconds": {
            "overall": _percentiles([value for values in by_backend.values() for value in values]),
            "by_backend": {backend: _percentiles(values) for backend, values in sorted(by_backend.items())},
        },
    }


def email_eval_report(*, rows: Sequence[EvalRow], params: dict[str, Any]) -> dict[str, Any]:
    return {"params": params, "summary": email_eval_summarize(rows), "rows": [asdict(row) for row in rows]}


def email_eval_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table for the terminal."""

    def number(value: float | None, digits: int = 2) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    def percent(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    refused, compliance, fallback = summary["refused"], summary["compliance"], summary["fallback"]
    caught, shipped = summary["violations_caught"], summary["violations_shipped"]
    lines = [
        ("requests", str(summary["requests"])),
        ("  intents", ", ".join(f"{k} {v}" for k, v in sorted(summary["intents"].items())) or "—"),
        ("drafts generated", str(summary["drafts"])),
        ("  ready", str(summary["ready"])),
        ("  failed", str(summary["failed"])),
        (
            "refused",
            f"{refused['total']}"
            + (
                " (" + ", ".join(f"{k} {v}" for k, v in sorted(refused["by_reason"].items())) + ")"
                if refused["by_reason"]
                else ""
            ),
        ),
        ("invalid requests", str(summary["invalid"])),
        (
            "violations caught",
            f"{caught['total']} ({caught['grounding']} grounding) in {caught['drafts_with_any']} request(s)",
        ),
        *[(f"  {code}", str(count)) for code, count in sorted(caught["by_code"].items())],
        ("violations SHIPPED", f"{shipped['total']} ({shipped['grounding']} grounding)"),
        *[(f"  {code}", str(count)) for code, count in sorted(shipped["by_code"].items())],
        ("compliance pass rate", f"{percent(compliance['pass_rate'])} ({compliance['passed']}/{summary['ready']})"),
        *[(f"  failed: {check}", str(count)) for check, count in sorted(compliance["failures_by_check"].items())],
        ("fallback rate", f"{percent(fallback['rate'])} ({fallback['count']}/{summary['ready']})"),
        ("shipped by backend", ", ".join(f"{k} {v}" for k, v in sorted(summary["shipped_by_backend"].items())) or "—"),
        (
            "sentences shipped",
            f"{summary['sentences']['cited']} cite facts, {summary['sentences']['courtesy']} claim nothing",
        ),
        ("model attempts", f"{summary['model_attempts']} for {summary['requests']} request(s)"),
        (
            "subject chars mean / p95",
            f"{number(summary['subject_chars']['mean'], 1)} / {number(summary['subject_chars']['p95'], 1)}",
        ),
        (
            "body chars mean / p95",
            f"{number(summary['body_chars']['mean'], 1)} / "
            f"{number(summary['body_chars']['p95'], 1)}  (without the footer)",
        ),
    ]
    latency = summary["latency_seconds"]
    for name, figures in [("overall", latency["overall"]), *latency["by_backend"].items()]:
        lines.append(
            (
                f"latency p50 / p95 ({name})",
                f"{number(figures['p50'])} s / {number(figures['p95'])} s  (n={figures['n']})",
            )
        )
    for intent, figures in summary.get("by_intent", {}).items():
        rejected = ", ".join(f"{code} {count}" for code, count in sorted(figures["rejections_by_code"].items()))
        lines.append(
            (
                f"{intent}",
                f"shipped {figures['shipped']}/{figures['requests']}, fallback {percent(figures['fallback']['rate'])}, "
                f"sentences {figures['sentences']['cited']} cited / {figures['sentences']['courtesy']} courtesy, "
                f"p50 {number(figures['latency_seconds']['p50'])} s / p95 {number(figures['latency_seconds']['p95'])} s"
                + (f"; rejected: {rejected}" if rejected else ""),
            )
        )
    worker = summary.get("worker") or {}
    if worker:
        lines.append(
            (
                "worker",
                f"runtime {worker.get('runtime') or '—'}, model load {number(worker.get('model_load_seconds'))} s, "
                f"peak RSS {number(worker.get('peak_rss_mb'), 0)} MB",
            )
        )
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in lines)


def email_eval(
    *,
    organization: Organization,
    n: int,
    seed: int = 0,
    backend_kind: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Pick the cases, run them and return the full report (params, summary, rows)."""
    started = time.perf_counter()
    cases = email_eval_cases(organization_id=organization.id, n=n, seed=seed)
    email_settings = email_settings_get(organization_id=organization.id)
    worker = email_eval_model_warm(email_settings=email_settings, backend_kind=backend_kind)
    rows = email_eval_run(organization=organization, cases=cases, backend_kind=backend_kind, progress=progress)
    worker["peak_rss_mb"] = peak_rss_mb()
    params = {
        "organization": organization.slug,
        "n": n,
        "seed": seed,
        "backend": backend_kind or email_settings.backend,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "interrupted": len(rows) < len(cases),
    }
    report = email_eval_report(rows=rows, params=params)
    report["summary"]["worker"] = worker
    return report


def peak_rss_mb() -> float:
    """This process's peak resident memory (the eval runs drafts in-process, like one worker)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def email_eval_model_warm(*, email_settings: EmailSettings, backend_kind: str | None) -> dict[str, Any]:
    """Load the local model (if the run uses one) and time it: {"runtime", "model_load_seconds"}."""
    kind = backend_kind or email_settings.backend
    if kind != EmailSettings.Backend.LOCAL:
        return {"runtime": None, "model_load_seconds": None}
    from ml.engine.emailgen.backends import BackendError
    from ml.engine.emailgen.backends.llamacpp import LlamaCppBackend, model_open

    try:
        backend = email_backend_get(email_settings=email_settings, kind=kind)
    except (BackendError, ValueError):
        return {"runtime": None, "model_load_seconds": None}
    started = time.perf_counter()
    try:
        if isinstance(backend, LlamaCppBackend):
            model_open(path=backend.model_path, threads=backend.threads or 1)
            runtime = "llamacpp"
        else:
            from ml.engine.emailgen.backends.local import LocalBackend, model_load

            if not isinstance(backend, LocalBackend):
                return {"runtime": None, "model_load_seconds": None}
            model_load(model_path=backend.model_path, gguf_file=backend.gguf_file, device=backend.device)
            runtime = "transformers"
    except BackendError:
        return {"runtime": None, "model_load_seconds": None}
    return {"runtime": runtime, "model_load_seconds": round(time.perf_counter() - started, 3)}
