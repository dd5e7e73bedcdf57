"""Write-side services for sales email drafts: request, generate (gpu queue), and the rep's verdict.

Request -> a QUEUED GeneratedEmail and `ml.tasks.generate_email` once the transaction commits. The task calls
`email_draft_generate`, which builds the fact sheet, runs the Django-free pipeline (`ml.engine.emailgen.pipeline`)
with the organisation's backend and stores the outcome. Accept / edit / reject record what the rep did with a
READY draft: that is the feedback few-shot retrieval (ml.emailgen.examples) learns from.
"""

from __future__ import annotations

import difflib
import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ml.emailgen.edits import email_edit_check
from ml.emailgen.examples import email_examples_select
from ml.emailgen.factsheet import deal_open_latest, fact_sheet_build, fact_sheet_refusal
from ml.engine.emailgen.types import LENGTHS, TONES, DraftOptions, DraftOutcome, FactSheet
from ml.models import EmailIntent, EmailSettings, GeneratedEmail
from ml.validators import llm_endpoint_check
from salesai.core.models import Contact, Deal

if TYPE_CHECKING:
    from ml.engine.emailgen.backends import GenerationBackend

logger = logging.getLogger(__name__)

OPTION_DEFAULTS = {"tone": TONES[0], "length": LENGTHS[0]}
SUBJECT_MAX = 300  # GeneratedEmail.final_subject
BODY_MAX = 20_000
REASON_MAX = 4_000
MISSING_ADDRESS = (
    "The organisation has no sender postal address in its email settings; every sales email must carry one. "
    "Set it in the admin (Email settings) and request the draft again."
)


class EmailRefused(ValidationError):
    """The contact must not get a sales email: `code` is "opted_out", "suppressed" or "no_email_address";
    the message says why in words a rep understands. Nothing is stored."""

    def __init__(self, *, code: str, reason: str) -> None:
        super().__init__(reason, code=code)


class EmailEditUnverified(ValidationError):
    """The edit states something the verifier cannot ground in the CRM facts; `issues` lists each sentence with
    the reason. Sending it anyway is the rep's call: `email_draft_edit(..., own_words=True)`."""

    def __init__(self, *, issues: list[dict[str, Any]]) -> None:
        super().__init__(
            "Some sentences of your edit cannot be verified against the CRM facts. Fix them, or send the edit "
            "as your own words.",
            code="unverified",
        )
        self.issues = issues


class EmailDraftConflict(ValidationError):
    """The draft is not in a state that allows the action (already acted on, not ready yet)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="conflict")


# --- request ------------------------------------------------------------------------------------------------
def email_options_clean(*, intent: str, options: dict[str, Any] | None) -> dict[str, str]:
    """Intent, tone and length checked against the choices; unknown option keys are errors (a typo should
    not silently fall back to the default)."""
    errors: dict[str, str] = {}
    if intent not in EmailIntent.values:
        errors["intent"] = f"Must be one of: {', '.join(EmailIntent.values)}."
    options = dict(options or {})
    allowed = {"tone": TONES, "length": LENGTHS}
    cleaned = dict(OPTION_DEFAULTS)
    for key, value in options.items():
        if key not in allowed:
            errors[key] = f"Unknown option; allowed: {', '.join(allowed)}."
        elif value in (None, ""):
            continue
        elif value not in allowed[key]:
            errors[key] = f"Must be one of: {', '.join(allowed[key])}."
        else:
            cleaned[key] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def email_draft_create(
    *,
    organization_id: int,
    contact_id: int,
    intent: str,
    options: dict[str, Any] | None = None,
    deal_id: int | None = None,
    requested_by_id: int | None = None,
) -> GeneratedEmail:
    """Validate and store a QUEUED draft without enqueueing it (the `email_draft` command generates it in
    process). Raises ValidationError for bad input, EmailRefused for a contact that must not be emailed and
    Contact.DoesNotExist for a contact outside the organisation."""
    cleaned = email_options_clean(intent=intent, options=options)
    contact = Contact.objects.get(pk=contact_id, organization_id=organization_id, deleted_at__isnull=True)
    if (
        deal_id is not None
        and not Deal.objects.filter(pk=deal_id, organization_id=organization_id, deleted_at__isnull=True).exists()
    ):
        raise ValidationError({"deal": "No such deal in this organisation."})
    refusal = fact_sheet_refusal(contact=contact, organization_id=organization_id)
    if refusal is not None:
        code, reason = refusal
        raise EmailRefused(code=code, reason=reason)
    return GeneratedEmail.objects.create(
        organization_id=organization_id,
        contact=contact,
        deal_id=deal_id,
        requested_by_id=requested_by_id,
        intent=intent,
        options=cleaned,
    )


def email_draft_request(
    *,
    organization_id: int,
    contact_id: int,
    intent: str,
    options: dict[str, Any] | None = None,
    deal_id: int | None = None,
    requested_by_id: int | None = None,
) -> GeneratedEmail:
    """Store a QUEUED draft and queue its generation on the gpu queue once this transaction commits."""
    email = email_draft_create(
        organization_id=organization_id,
        contact_id=contact_id,
        intent=intent,
        options=options,
        deal_id=deal_id,
        requested_by_id=requested_by_id,
    )
    from ml.tasks import generate_email  # tasks import services: import here to avoid a cycle

    transaction.on_commit(lambda: generate_email.delay(email.pk))
    return email


# --- generation ---------------------------------------------------------------------------------------------
def email_settings_get(*, organization_id: int) -> EmailSettings:
    """The organisation's email settings, created with the defaults on first use."""
    email_settings, _ = EmailSettings.objects.get_or_create(organization_id=organization_id)
    return email_settings


def email_backend_get(*, email_settings: EmailSettings, kind: str | None = None) -> GenerationBackend | None:
    """The organisation's generation backend (None = the deterministic composer only). `kind` overrides the
    configured one (commands, evaluation). The local model: the organisation's, else EMAIL_LOCAL_MODEL,
    else the bundled SmolLM2. Loading is lazy and cached per worker process by the backend module."""
    from ml.engine.emailgen.backends import backend_from_config, local_model_default

    kind = kind or email_settings.backend
    local_model, gguf_file = email_settings.local_model.strip(), ""
    if not local_model and kind == EmailSettings.Backend.LOCAL:
        if settings.EMAIL_LOCAL_MODEL:
            local_model, gguf_file = settings.EMAIL_LOCAL_MODEL, settings.EMAIL_LOCAL_GGUF_FILE
        else:
            local_model, gguf_file = local_model_default()
    credentials = email_settings.openai_credentials or {}
    if kind == EmailSettings.Backend.OPENAI and email_settings.openai_base_url.strip():
        llm_endpoint_check(email_settings.openai_base_url.strip())  # again: DNS may have changed since saving
    return backend_from_config(
        kind=kind,
        local_model=str(local_model),
        gguf_file=gguf_file,
        openai_base_url=email_settings.openai_base_url,
        openai_model=email_settings.openai_model,
        api_key=str(credentials.get("api_key", "")),
        timeout=settings.EMAIL_HTTP_TIMEOUT,
        retries=settings.EMAIL_HTTP_RETRIES,
        device=settings.ML_DEVICE,
    )


def email_draft_generate(*, email_id: int, backend_kind: str | None = None) -> GeneratedEmail:
    """Generate a QUEUED (or interrupted GENERATING) draft and store the outcome; any other row is returned
    untouched, so a redelivered task is a no-op. Never raises for a generation problem: a refusal found now
    stores REFUSED, a crash stores FAILED with the error. `backend_kind` overrides the organisation's
    backend ("local", "openai", "composer")."""
    with transaction.atomic():
        email = GeneratedEmail.objects.select_for_update().get(pk=email_id)
        if email.status not in (GeneratedEmail.Status.QUEUED, GeneratedEmail.Status.GENERATING):
            return email
        email.status = GeneratedEmail.Status.GENERATING
        email.error = ""
        email.save(update_fields=["status", "error"])

    try:
        contact = Contact.objects.select_related("company").get(pk=email.contact_id)
        refusal = None if contact.deleted_at is None else ("deleted", "The contact was deleted in the CRM.")
        refusal = refusal or fact_sheet_refusal(contact=contact, organization_id=email.organization_id)
        if refusal is not None:
            return _email_finish(email, status=GeneratedEmail.Status.REFUSED, error=refusal[1])
        email_settings = email_settings_get(organization_id=email.organization_id)
        if not email_settings.sender_postal_address.strip():
            return _email_finish(email, status=GeneratedEmail.Status.FAILED, error=MISSING_ADDRESS)
        # Record which deal the draft is about when the rep did not pick one (the contact's latest open deal).
        email.deal = email.deal or deal_open_latest(contact=contact)
        fact_sheet = fact_sheet_build(
            contact=contact,
            deal=email.deal,
            sender=email.requested_by,
            email_settings=email_settings,
            now=timezone.now(),
        )
        email.fact_sheet = fact_sheet.as_dict()
        email.save(update_fields=["deal", "fact_sheet"])
        examples = _examples(email=email, fact_sheet=fact_sheet)
        options = DraftOptions(
            intent=email.intent,
            tone=email.options.get("tone", OPTION_DEFAULTS["tone"]),
            length=email.options.get("length", OPTION_DEFAULTS["length"]),
            max_attempts=max(1, email_settings.max_attempts),
            seed=email.pk,
        )
        backend, backend_error = _backend_or_composer(email_settings=email_settings, kind=backend_kind)
        from ml.engine.emailgen.pipeline import (
            draft_generate,  # the generation stack: loaded only where drafts are made
        )

        outcome = draft_generate(
            fact_sheet=fact_sheet,
            options=options,
            backend=backend,
            examples=examples,
            max_new_tokens=settings.EMAIL_MAX_NEW_TOKENS,
            courtesy_phrases=email_settings.courtesy_phrases or (),
        )
    except Exception as exc:  # noqa: BLE001 - whatever broke, the row must not stay "generating"
        logger.exception("email draft %s failed", email_id)
        return _email_finish(email, status=GeneratedEmail.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    return _email_outcome_store(email, outcome=outcome, backend_error=backend_error)


def _examples(*, email: GeneratedEmail, fact_sheet: FactSheet) -> list[str]:
    # Few-shot examples improve a draft but are never worth failing it.
    try:
        return email_examples_select(
            organization_id=email.organization_id,
            intent=email.intent,
            fact_sheet=fact_sheet,
            exclude_email_id=email.pk,
        )
    except Exception:  # noqa: BLE001
        logger.exception("few-shot retrieval failed for email draft %s", email.pk)
        return []


def _backend_or_composer(*, email_settings: EmailSettings, kind: str | None) -> tuple[Any, str]:
    """(backend, error): a backend that cannot even be configured leaves the composer to draft, and the
    reason is kept in the guardrail report."""
    from ml.engine.emailgen.backends import BackendError

    try:
        return email_backend_get(email_settings=email_settings, kind=kind), ""
    except (BackendError, ValueError) as exc:
        logger.warning("email backend unavailable, composer only: %s", exc)
        return None, f"{type(exc).__name__}: {exc}"


def _email_outcome_store(email: GeneratedEmail, *, outcome: DraftOutcome, backend_error: str) -> GeneratedEmail:
    data = outcome.as_dict()
    report = dict(data["report"])
    report["attempts"] = data["attempts"]
    report["fallback_used"] = outcome.fallback_used
    if backend_error:
        report["backend_error"] = backend_error
    email.subject = outcome.subject[:SUBJECT_MAX]
    email.body = outcome.body
    email.citations = data["citations"]
    email.guardrail_report = report
    email.backend = outcome.backend
    email.model_name = outcome.model[:500]
    email.fallback_used = outcome.fallback_used
    email.latency_seconds = round(float(outcome.seconds), 3)
    ready = outcome.status == "ready" and outcome.report.passed
    status = GeneratedEmail.Status.READY if ready else GeneratedEmail.Status.FAILED
    error = "" if ready else (outcome.error or "The draft did not pass the guardrails.")
    return _email_finish(email, status=status, error=error)


def _email_finish(email: GeneratedEmail, *, status: str, error: str) -> GeneratedEmail:
    email.status = status
    email.error = error
    email.finished_at = timezone.now()
    email.save()
    return email


# --- the rep's verdict --------------------------------------------------------------------------------------
def _email_for_action(*, email_id: int) -> GeneratedEmail:
    """Locked row that a rep may act on: READY and not acted on yet."""
    email = GeneratedEmail.objects.select_for_update().get(pk=email_id)
    if email.rep_action:
        raise EmailDraftConflict(f"This draft was already {email.rep_action}.")
    if email.status != GeneratedEmail.Status.READY:
        raise EmailDraftConflict(f"Only a ready draft can be reviewed; this one is {email.status}.")
    return email


def _email_act(email: GeneratedEmail, *, user_id: int, action: str) -> GeneratedEmail:
    email.rep_action = action
    email.acted_by_id = user_id
    email.acted_at = timezone.now()
    email.save()
    return email


@transaction.atomic
def email_draft_accept(*, email_id: int, user_id: int) -> GeneratedEmail:
    """The rep sends the draft as it is."""
    email = _email_for_action(email_id=email_id)
    email.final_subject, email.final_body = email.subject, email.body
    return _email_act(email, user_id=user_id, action=GeneratedEmail.RepAction.ACCEPTED)


@transaction.atomic
def email_draft_edit(
    *, email_id: int, user_id: int, subject: str, body: str, own_words: bool = False
) -> GeneratedEmail:
    """The rep's own final text, re-checked by the same verifier as the draft; the unified diff against the
    draft is kept (what reps change is the most useful feedback there is). An edit the verifier cannot verify
    raises EmailEditUnverified unless `own_words`: then it is saved and recorded as the rep's own words."""
    # Browsers post textarea lines with CRLF; the draft and its footer use LF.
    subject, body = (subject or "").strip(), (body or "").replace("\r\n", "\n").strip()
    errors: dict[str, str] = {}
    if not subject:
        errors["subject"] = "A subject is required."
    elif len(subject) > SUBJECT_MAX:
        errors["subject"] = f"At most {SUBJECT_MAX} characters."
    if not body:
        errors["body"] = "A body is required."
    elif len(body) > BODY_MAX:
        errors["body"] = f"At most {BODY_MAX} characters."
    if errors:
        raise ValidationError(errors)
    email = _email_for_action(email_id=email_id)
    if subject == email.subject.strip() and body == email.body.strip():
        raise ValidationError({"body": "The edit changes nothing; accept the draft instead."})
    check = email_edit_check(
        fact_sheet_data=email.fact_sheet,
        subject=subject,
        body=body,
        courtesy_phrases=email_settings_get(organization_id=email.organization_id).courtesy_phrases,
    )
    if check.blocking:
        raise ValidationError(
            {"body": [f"{item['message']} ({item['text'] or item['code']})" for item in check.blocking]}
        )
    if check.issues and not own_words:
        raise EmailEditUnverified(issues=check.issues)
    email.guardrail_report = {**email.guardrail_report, "edit_check": check.as_dict(own_words=own_words)}
    email.sent_as_own_words = not check.verified
    email.final_subject, email.final_body = subject, body
    email.edit_diff = email_diff(
        draft_subject=email.subject, draft_body=email.body, final_subject=subject, final_body=body
    )
    return _email_act(email, user_id=user_id, action=GeneratedEmail.RepAction.EDITED)


@transaction.atomic
def email_draft_reject(*, email_id: int, user_id: int, reason: str) -> GeneratedEmail:
    """The rep discards the draft and says why."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the draft is rejected."})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"At most {REASON_MAX} characters."})
    email = _email_for_action(email_id=email_id)
    email.reject_reason = reason
    return _email_act(email, user_id=user_id, action=GeneratedEmail.RepAction.REJECTED)


def email_diff(*, draft_subject: str, draft_body: str, final_subject: str, final_body: str) -> str:
    """Unified diff of "Subject: ..." + body, draft -> final."""
    before = f"Subject: {draft_subject}\n\n{draft_body}".splitlines(keepends=True)
    after = f"Subject: {final_subject}\n\n{final_body}".splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, fromfile="draft", tofile="final", n=2)
    # A last line without a newline would glue onto the next diff line.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
