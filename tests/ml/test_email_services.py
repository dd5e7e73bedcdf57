"""Email draft services: request (validation, refusals, on-commit enqueue), generation (composer, fake
backends, fallbacks, crashes, idempotency) and the rep's accept / edit / reject."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ml import email_services, tasks
from ml.email_services import (
    EmailDraftConflict,
    EmailEditUnverified,
    EmailRefused,
    email_backend_get,
    email_draft_accept,
    email_draft_edit,
    email_draft_generate,
    email_draft_reject,
    email_draft_request,
)
from ml.emailgen.factsheet import fact_sheet_build
from ml.engine.emailgen import backends as emailgen_backends
from ml.engine.emailgen import pipeline
from ml.engine.emailgen.backends import BackendError
from ml.engine.emailgen.guardrails import draft_check
from ml.engine.emailgen.types import GenerationResult
from ml.models import EmailSettings, EmailSuppression, GeneratedEmail
from salesai.core.models import Activity
from tests.factories import ActivityFactory, ContactFactory, DealFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

ADDRESS = "Hafenstrasse 7, 20457 Hamburg, Germany"


@pytest.fixture
def organization():
    return OrganizationFactory(name="Northwind")


@pytest.fixture
def email_settings(organization):
    return EmailSettings.objects.create(
        organization=organization, backend=EmailSettings.Backend.COMPOSER, sender_postal_address=ADDRESS
    )


@pytest.fixture
def contact(organization, email_settings):
    contact = ContactFactory(organization=organization, first_name="Dana", last_name="Okafor")
    DealFactory(
        organization=organization,
        contact=contact,
        company=contact.company,
        name="Fleet rollout",
        amount=Decimal("48500"),
        currency="EUR",
        stage="negotiation",
    )
    ActivityFactory(
        organization=organization,
        contact=contact,
        kind=Activity.Kind.MEETING,
        subject="Discovery call",
        occurred_at=timezone.now() - timedelta(days=2),
    )
    return contact


@pytest.fixture
def rep():
    return UserFactory(first_name="Sam", last_name="Reyes")


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(tasks.generate_email, "delay", lambda email_id: calls.append(email_id))
    return calls


class FakeBackend:
    """Scripted backend: returns the next text, or raises when the script says so."""

    name = "openai"
    model_name = "fake-model"

    def __init__(self, script: list[str | Exception]) -> None:
        self.script = list(script)
        self.calls: list[list[dict[str, str]]] = []

    def generate(
        self, messages, *, max_new_tokens: int, temperature: float, seed: int, json_schema=None
    ) -> GenerationResult:
        self.calls.append(messages)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return GenerationResult(text=step, backend=self.name, model=self.model_name, seconds=0.01)


@pytest.fixture
def use_backend(monkeypatch):
    def use(backend: Any) -> None:
        monkeypatch.setattr(email_services, "email_backend_get", lambda **kwargs: backend)

    return use


def draft_request(contact, **kwargs) -> GeneratedEmail:
    params = {"organization_id": contact.organization_id, "contact_id": contact.id, "intent": "deal_nudge"}
    return email_draft_request(**{**params, **kwargs})


def ready_email(contact, rep) -> GeneratedEmail:
    email = draft_request(contact, requested_by_id=rep.id)
    return email_draft_generate(email_id=email.id)


# --- request ----------------------------------------------------------------------------------------------
def test_request_stores_a_queued_draft_and_enqueues_after_commit(
    contact, rep, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        email = draft_request(contact, options={"tone": "formal"}, requested_by_id=rep.id)
        assert enqueued == []  # not before the commit
    for callback in callbacks:
        callback()

    assert enqueued == [email.id]
    stored = GeneratedEmail.objects.get(pk=email.id)
    assert (stored.status, stored.intent, stored.organization_id) == ("queued", "deal_nudge", contact.organization_id)
    assert stored.options == {"tone": "formal", "length": "short"}
    assert stored.requested_by == rep


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"intent": "sell_harder"}, "intent"),
        ({"options": {"tone": "angry"}}, "tone"),
        ({"options": {"length": "epic"}}, "length"),
        ({"options": {"colour": "blue"}}, "colour"),
    ],
)
def test_bad_input_is_a_field_error_and_stores_nothing(contact, enqueued, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        draft_request(contact, **kwargs)

    assert field in caught.value.message_dict
    assert not GeneratedEmail.objects.exists()


def test_a_deal_of_another_organisation_is_rejected(contact, enqueued):
    foreign = DealFactory(organization=OrganizationFactory())

    with pytest.raises(ValidationError) as caught:
        draft_request(contact, deal_id=foreign.id)

    assert "deal" in caught.value.message_dict


def test_a_contact_of_another_organisation_does_not_exist(contact, enqueued):
    with pytest.raises(type(contact).DoesNotExist):
        email_draft_request(organization_id=OrganizationFactory().id, contact_id=contact.id, intent="renewal")


@pytest.mark.parametrize("case", ["opted_out", "suppressed", "no_email_address"])
def test_refused_contacts_store_and_enqueue_nothing(
    organization, contact, enqueued, case, django_capture_on_commit_callbacks
):
    if case == "opted_out":
        contact.opted_out = True
    elif case == "no_email_address":
        contact.email = ""
    else:
        contact.email = "Dana.Okafor@Example.TEST"
        EmailSuppression.objects.create(organization=organization, email="dana.okafor@example.test")
    contact.save()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(EmailRefused) as caught:
        draft_request(contact)

    assert caught.value.code == case
    assert caught.value.message
    assert not GeneratedEmail.objects.exists()
    assert enqueued == []


# --- generation -------------------------------------------------------------------------------------------
def test_composer_draft_is_ready_grounded_and_carries_the_footer(contact, rep, enqueued):
    email = ready_email(contact, rep)

    assert email.status == GeneratedEmail.Status.READY, email.error
    assert email.backend == "composer"
    assert email.deal.name == "Fleet rollout"  # the contact's open deal, recorded on the draft
    assert email.subject and email.body
    assert email.body.rstrip().endswith(ADDRESS)
    assert email.fact_sheet["contact_first_name"] == "Dana"
    assert any(fact["id"].endswith(".amount") for fact in email.fact_sheet["facts"])
    assert email.guardrail_report["passed"] is True
    assert email.guardrail_report["attempts"] is not None
    assert email.latency_seconds is not None and email.finished_at is not None
    assert email.citations and all("fact_ids" in citation for citation in email.citations)
    # The stored text passes the guardrails again against the stored facts.
    sheet = fact_sheet_build(
        contact=email.contact,
        deal=email.deal,
        sender=email.requested_by,
        email_settings=EmailSettings.objects.get(organization_id=email.organization_id),
        now=timezone.now(),
    )
    assert draft_check(subject=email.subject, body=email.body, fact_sheet=sheet).passed


def test_generation_is_idempotent(contact, rep, enqueued, monkeypatch):
    email = ready_email(contact, rep)
    monkeypatch.setattr(pipeline, "draft_generate", lambda **kwargs: pytest.fail("ran twice"))

    again = email_draft_generate(email_id=email.id)

    assert (again.status, again.subject, again.body) == (email.status, email.subject, email.body)


def test_an_unreachable_backend_falls_back_to_the_composer(contact, rep, enqueued, use_backend):
    backend = FakeBackend([BackendError("connection refused by 127.0.0.1:9")])
    use_backend(backend)

    email = ready_email(contact, rep)

    assert email.status == GeneratedEmail.Status.READY
    assert email.fallback_used is True
    assert email.backend == "composer"
    attempts = email.guardrail_report["attempts"]
    assert backend.calls  # it was tried
    assert any("connection refused" in attempt["error"] for attempt in attempts)
    assert email.guardrail_report["fallback_used"] is True


def test_an_invented_amount_is_never_shipped(contact, rep, enqueued, use_backend):
    invented = (
        "Subject: A special offer\n\nHi Dana,\n\nWe can give you a discount of EUR 9,999 if you sign by "
        "Friday.\n\nBest,\nSam Reyes"
    )
    use_backend(FakeBackend([invented]))

    email = ready_email(contact, rep)

    assert email.status == GeneratedEmail.Status.READY
    assert "9,999" not in email.body
    assert email.fallback_used is True
    violations = [v["code"] for attempt in email.guardrail_report["attempts"] for v in attempt["violations"]]
    assert "ungrounded_amount" in violations


def test_the_requested_options_and_examples_reach_the_pipeline(organization, contact, rep, enqueued, monkeypatch):
    previous = GeneratedEmail.objects.create(
        organization=organization,
        contact=ContactFactory(organization=organization),
        intent="deal_nudge",
        status="ready",
        rep_action="accepted",
        final_subject="Checking in",
        final_body="Hi Lee, any news?",
        acted_at=timezone.now(),
    )
    seen: dict[str, Any] = {}
    real = pipeline.draft_generate

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(pipeline, "draft_generate", spy)
    email = draft_request(contact, options={"tone": "direct", "length": "medium"})

    email_draft_generate(email_id=email.id)

    assert (seen["options"].intent, seen["options"].tone, seen["options"].length) == ("deal_nudge", "direct", "medium")
    assert seen["backend"] is None  # composer-only organisation
    assert [text for text in seen["examples"] if previous.final_body in text]


def test_a_backend_that_cannot_be_configured_leaves_the_composer(contact, rep, enqueued, monkeypatch):
    def broken(**kwargs):
        raise BackendError("no base URL configured for the OpenAI-compatible backend")

    monkeypatch.setattr(email_services, "email_backend_get", broken)

    email = ready_email(contact, rep)

    assert email.status == GeneratedEmail.Status.READY
    assert email.backend == "composer"
    assert "no base URL" in email.guardrail_report["backend_error"]


def test_a_crash_is_stored_as_failed(contact, rep, enqueued, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(pipeline, "draft_generate", crash)

    email = ready_email(contact, rep)

    assert email.status == GeneratedEmail.Status.FAILED
    assert "CUDA out of memory" in email.error
    assert GeneratedEmail.objects.get(pk=email.id).finished_at is not None


def test_a_contact_who_opted_out_meanwhile_is_refused_at_generation(contact, rep, enqueued):
    email = draft_request(contact)
    contact.opted_out = True
    contact.save()

    email = email_draft_generate(email_id=email.id)

    assert email.status == GeneratedEmail.Status.REFUSED
    assert "opted out" in email.error
    assert email.body == ""


def test_no_postal_address_fails_with_a_clear_reason(contact, rep, enqueued, email_settings):
    email_settings.sender_postal_address = ""
    email_settings.save()

    email = ready_email(contact, rep)

    assert email.status == GeneratedEmail.Status.FAILED
    assert "postal address" in email.error


def test_missing_settings_are_created_with_the_defaults(enqueued):
    organization = OrganizationFactory()
    contact = ContactFactory(organization=organization)
    email = draft_request(contact)

    email_draft_generate(email_id=email.id)

    created = EmailSettings.objects.get(organization=organization)
    assert created.backend == EmailSettings.Backend.LOCAL
    assert GeneratedEmail.objects.get(pk=email.id).status == GeneratedEmail.Status.FAILED  # no address yet


def test_the_task_runs_the_service_and_skips_missing_rows(contact, rep, enqueued):
    email = draft_request(contact)

    summary = tasks.generate_email(email.id)
    missing = tasks.generate_email(email.id + 1000)

    assert summary["status"] == "ready"
    assert GeneratedEmail.objects.get(pk=email.id).status == "ready"
    assert missing["skipped"] == "no such email"


# --- backend choice ---------------------------------------------------------------------------------------
@pytest.fixture
def configured(monkeypatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(emailgen_backends, "backend_from_config", lambda **kwargs: calls.append(kwargs) or "backend")
    monkeypatch.setattr(emailgen_backends, "local_model_default", lambda: ("/models/smollm2", "smol.gguf"))
    return calls


def test_local_backend_defaults_to_the_bundled_model(email_settings, configured, settings):
    settings.EMAIL_LOCAL_MODEL = ""
    email_settings.backend = EmailSettings.Backend.LOCAL

    assert email_backend_get(email_settings=email_settings) == "backend"
    assert configured[0]["kind"] == "local"
    assert (configured[0]["local_model"], configured[0]["gguf_file"]) == ("/models/smollm2", "smol.gguf")


def test_local_model_of_the_settings_then_of_the_organisation(email_settings, configured, settings):
    settings.EMAIL_LOCAL_MODEL, settings.EMAIL_LOCAL_GGUF_FILE = "/srv/qwen", "q.gguf"
    email_settings.backend = EmailSettings.Backend.LOCAL
    email_backend_get(email_settings=email_settings)
    email_settings.local_model = "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    email_backend_get(email_settings=email_settings)

    assert (configured[0]["local_model"], configured[0]["gguf_file"]) == ("/srv/qwen", "q.gguf")
    assert (configured[1]["local_model"], configured[1]["gguf_file"]) == ("HuggingFaceTB/SmolLM2-1.7B-Instruct", "")


def test_openai_backend_gets_the_endpoint_and_the_stored_key(email_settings, configured, settings):
    settings.EMAIL_HTTP_TIMEOUT, settings.EMAIL_HTTP_RETRIES = 7.5, 4
    email_settings.backend = EmailSettings.Backend.OPENAI
    email_settings.openai_base_url = "http://vllm:8000/v1"
    email_settings.openai_model = "qwen2.5-7b"
    email_settings.openai_credentials = {"api_key": "sk-test"}
    email_settings.save()
    email_settings.refresh_from_db()

    email_backend_get(email_settings=email_settings)

    call = configured[0]
    assert (call["kind"], call["openai_base_url"], call["openai_model"]) == (
        "openai",
        "http://vllm:8000/v1",
        "qwen2.5-7b",
    )
    assert (call["api_key"], call["timeout"], call["retries"]) == ("sk-test", 7.5, 4)


def test_the_kind_can_be_overridden(email_settings, configured):
    email_backend_get(email_settings=email_settings, kind="openai")

    assert configured[0]["kind"] == "openai"


# --- the rep's verdict ------------------------------------------------------------------------------------
def test_accept_copies_the_draft_as_final(contact, rep, enqueued):
    email = ready_email(contact, rep)

    accepted = email_draft_accept(email_id=email.id, user_id=rep.id)

    assert accepted.rep_action == GeneratedEmail.RepAction.ACCEPTED
    assert (accepted.final_subject, accepted.final_body) == (email.subject, email.body)
    assert accepted.acted_by == rep and accepted.acted_at is not None


def test_edit_keeps_the_final_text_and_a_unified_diff(contact, rep, enqueued):
    email = ready_email(contact, rep)
    body = email.body.replace("Dana", "Dana (and team)", 1) + "\n\nP.S. Happy to help."

    edited = email_draft_edit(email_id=email.id, user_id=rep.id, subject="Quick question", body=body)

    assert edited.rep_action == GeneratedEmail.RepAction.EDITED
    assert (edited.final_subject, edited.final_body) == ("Quick question", body.strip())
    assert edited.edit_diff.startswith("--- draft\n+++ final\n")
    assert f"-Subject: {email.subject}\n" in edited.edit_diff
    assert "+Subject: Quick question\n" in edited.edit_diff
    assert "+P.S. Happy to help.\n" in edited.edit_diff
    assert (edited.subject, edited.body) == (email.subject, email.body)  # the draft itself is kept


def test_an_edit_that_changes_nothing_or_blanks_the_text_is_refused(contact, rep, enqueued):
    email = ready_email(contact, rep)

    for subject, body, field in [(email.subject, email.body, "body"), ("", "x", "subject"), ("s", "  ", "body")]:
        with pytest.raises(ValidationError) as caught:
            email_draft_edit(email_id=email.id, user_id=rep.id, subject=subject, body=body)
        assert field in caught.value.message_dict
    assert GeneratedEmail.objects.get(pk=email.id).rep_action == ""


def test_reject_needs_a_reason(contact, rep, enqueued):
    email = ready_email(contact, rep)

    with pytest.raises(ValidationError) as caught:
        email_draft_reject(email_id=email.id, user_id=rep.id, reason="   ")
    rejected = email_draft_reject(email_id=email.id, user_id=rep.id, reason="Wrong contact person")

    assert "reason" in caught.value.message_dict
    assert (rejected.rep_action, rejected.reject_reason) == ("rejected", "Wrong contact person")


def test_acting_twice_or_on_a_draft_that_is_not_ready_conflicts(contact, rep, enqueued):
    email = ready_email(contact, rep)
    email_draft_accept(email_id=email.id, user_id=rep.id)
    queued = draft_request(contact)

    with pytest.raises(EmailDraftConflict):
        email_draft_reject(email_id=email.id, user_id=rep.id, reason="changed my mind")
    with pytest.raises(EmailDraftConflict):
        email_draft_accept(email_id=queued.id, user_id=rep.id)

    assert GeneratedEmail.objects.get(pk=email.id).rep_action == "accepted"
    assert GeneratedEmail.objects.get(pk=queued.id).rep_action == ""


def test_an_edit_is_rechecked_and_what_cannot_be_verified_is_shown_then_sent_as_own_words(contact, rep, enqueued):
    contact.company.name = "Smith, Lee and Partners"  # punctuation inside the name must not hide it
    contact.company.save()
    email = ready_email(contact, rep)
    company = contact.company.name
    invented = f"I'm the new account manager at {company}, as promised."
    body = email.body.replace("Dana,", f"Dana,\n\n{invented}", 1)

    with pytest.raises(EmailEditUnverified) as caught:
        email_draft_edit(email_id=email.id, user_id=rep.id, subject=email.subject, body=body)
    issues = {issue["code"]: issue for issue in caught.value.issues}
    assert {"role_confusion", "promise"} <= issues.keys()
    assert issues["promise"]["sentence"] == invented and issues["promise"]["message"]
    assert GeneratedEmail.objects.get(pk=email.id).rep_action == ""  # nothing saved

    edited = email_draft_edit(email_id=email.id, user_id=rep.id, subject=email.subject, body=body, own_words=True)
    assert edited.rep_action == GeneratedEmail.RepAction.EDITED and edited.sent_as_own_words
    check = edited.guardrail_report["edit_check"]
    assert check["own_words"] and not check["passed"] and {i["code"] for i in check["issues"]} >= {"promise"}
    assert edited.guardrail_report["passed"]  # the draft's own verdict is kept beside it


def test_an_edit_without_the_compliance_footer_is_refused_even_as_own_words(contact, rep, enqueued):
    email = ready_email(contact, rep)
    footer_line = email.body.strip().splitlines()[-1]
    body = email.body.replace(footer_line, "")

    with pytest.raises(ValidationError) as caught:
        email_draft_edit(email_id=email.id, user_id=rep.id, subject=email.subject, body=body, own_words=True)
    assert "body" in caught.value.message_dict and not isinstance(caught.value, EmailEditUnverified)
    assert GeneratedEmail.objects.get(pk=email.id).rep_action == ""


def test_an_edit_posted_with_crlf_line_ends_keeps_its_footer(contact, rep, enqueued):
    email = ready_email(contact, rep)
    body = (email.body + "\n\nP.S. Thanks for your time.").replace("\n", "\r\n")  # as a browser posts a textarea

    edited = email_draft_edit(email_id=email.id, user_id=rep.id, subject=email.subject, body=body)

    assert edited.guardrail_report["edit_check"]["passed"] and "\r" not in edited.final_body
