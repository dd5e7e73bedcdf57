"""email_eval: deterministic cases over every intent, drafts through the real services, figures from the rows."""

import json
import re
from datetime import date, timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ml.email_services import email_draft_create, email_draft_generate
from ml.emailgen.evaluation import (
    EvalRow,
    EvalSetupError,
    email_eval,
    email_eval_cases,
    email_eval_row,
    email_eval_summarize,
)
from ml.engine.emailgen.types import INTENTS, GenerationResult
from ml.models import EmailSettings, EmailSuppression, GeneratedEmail, ProductCatalogueEntry
from salesai.core.models import Activity, Contact, Deal
from tests.factories import ActivityFactory, CompanyFactory, ContactFactory, DealFactory, OrganizationFactory

ADDRESS = "Evalco GmbH, 3 Test Lane, 20095 Hamburg"


@pytest.fixture
def org(db):
    """12 contacts with an address (2 opted out, 1 suppressed), 1 without; deals and meetings for every intent."""
    organization = OrganizationFactory(slug="evalco", name="Evalco")
    EmailSettings.objects.create(organization=organization, backend="composer", sender_postal_address=ADDRESS)
    ProductCatalogueEntry.objects.create(organization=organization, name="Forecasting", list_price=59, currency="EUR")
    company = CompanyFactory(organization=organization, name="Northwind Traders")
    contacts = [ContactFactory(organization=organization, company=company) for _ in range(9)]
    ContactFactory(organization=organization, company=company, opted_out=True)
    ContactFactory(organization=organization, company=company, opted_out=True)
    suppressed = ContactFactory(organization=organization, company=company, email="Gone@Northwind.test")
    EmailSuppression.objects.create(organization=organization, email="gone@northwind.test", reason="complaint")
    ContactFactory(organization=organization, company=company, email="")
    close = date.today() + timedelta(days=20)
    for status, contact in (("open", contacts[0]), ("open", contacts[1]), ("won", contacts[2]), ("lost", contacts[3])):
        DealFactory(
            organization=organization,
            company=company,
            contact=contact,
            status=status,
            amount=18500,
            close_date=close,
            stage="negotiation" if status == "open" else "closed",
        )
    for contact in contacts[4:6]:
        ActivityFactory(
            organization=organization,
            contact=contact,
            kind=Activity.Kind.MEETING,
            subject="Pipeline review",
            occurred_at=timezone.now() - timedelta(days=2),
        )
    organization.suppressed_contact = suppressed
    return organization


def test_cases_are_deterministic_exercise_every_intent_and_skip_contacts_without_address(org):
    cases = email_eval_cases(organization_id=org.id, n=100, seed=5)

    assert email_eval_cases(organization_id=org.id, n=100, seed=5) == cases
    assert len(cases) == 12 and len({case.contact_id for case in cases}) == 12  # each contact once
    without_address = Contact.objects.get(organization=org, email="")
    assert without_address.id not in {case.contact_id for case in cases}
    assert {case.intent for case in cases} == set(INTENTS)
    for case in cases:
        if case.intent == "deal_nudge":
            assert Deal.objects.get(pk=case.deal_id).status == "open"
        if case.intent == "win_back":
            assert Deal.objects.get(pk=case.deal_id).status == "lost"
        if case.intent == "meeting_follow_up":
            assert Activity.objects.filter(contact_id=case.contact_id, kind="meeting").exists()
    assert [case.contact_id for case in email_eval_cases(organization_id=org.id, n=4, seed=5)] == [
        case.contact_id for case in cases[:4]
    ]


def test_eval_counts_refusals_and_ships_no_violation(org):
    report = email_eval(organization=org, n=100, seed=1)

    summary, rows = report["summary"], report["rows"]
    stored = GeneratedEmail.objects.filter(organization=org)
    ready = stored.filter(status="ready")
    assert summary["requests"] == 12 == len(rows)
    assert summary["refused"] == {"total": 3, "by_reason": {"opted_out": 2, "suppressed": 1}}
    assert summary["drafts"] == stored.count() == 9
    assert summary["ready"] == ready.count() == 9
    assert summary["violations_shipped"] == {"total": 0, "grounding": 0, "by_code": {}}
    assert summary["compliance"]["pass_rate"] == 1.0
    assert summary["fallback"]["count"] == ready.filter(fallback_used=True).count()
    assert 0.0 <= summary["fallback"]["rate"] <= 1.0
    assert summary["fallback"]["rate"] == ready.filter(fallback_used=True).count() / ready.count()
    assert summary["shipped_by_backend"] == {"composer": 9}
    latencies = sorted(ready.values_list("latency_seconds", flat=True))
    assert summary["latency_seconds"]["overall"]["p50"] == pytest.approx(float(np.percentile(latencies, 50)))
    assert summary["latency_seconds"]["by_backend"]["composer"]["n"] == 9
    subjects = [len(subject) for subject in ready.values_list("subject", flat=True)]
    assert summary["subject_chars"]["mean"] == pytest.approx(np.mean(subjects))
    refused_ids = {row["contact_id"] for row in rows if row["status"] == "refused"}
    assert org.suppressed_contact.id in refused_ids
    assert not stored.filter(contact_id__in=refused_ids).exists()  # a refusal stores nothing


OUTLINE_START = "keep every fact exactly as written, with its id):\n"  # the structured prompt's cited outline
INVENTOR = "Zebediah"  # contacts of this first name get a model that invents a discount


class ScriptedChatBackend:
    """Stands in for an OpenAI-compatible endpoint: rewrites the outline faithfully, except for INVENTOR's
    drafts, where it makes up a discount every time (so the guardrails stop it and the composer takes over)."""

    name = "openai"
    model_name = "scripted-chat"

    def generate(self, messages, *, max_new_tokens, temperature, seed, json_schema=None):
        prompt = messages[-1]["content"]
        if f"To: {INVENTOR}" in prompt:
            offer = "Good news: we can give you 35% off if you sign this week."
            text = json.dumps({"subject": "A special offer", "sentences": [{"text": offer, "facts": []}]})
        else:
            text = prompt.split(OUTLINE_START, 1)[1].split("\n", 1)[0]  # the cited outline, one JSON line
        return GenerationResult(text=text, backend=self.name, model=self.model_name, seconds=0.01)


def test_fallbacks_and_caught_violations_are_counted_per_draft(org, monkeypatch):
    EmailSettings.objects.filter(organization=org).update(max_attempts=2)
    inventors = Contact.objects.filter(organization=org, opted_out=False).exclude(email="").order_by("id")[:3]
    Contact.objects.filter(pk__in=[c.pk for c in inventors]).update(first_name=INVENTOR)
    monkeypatch.setattr("ml.email_services.email_backend_get", lambda **kwargs: ScriptedChatBackend())

    summary = email_eval(organization=org, n=100, seed=4, backend_kind="openai")["summary"]

    ready = GeneratedEmail.objects.filter(organization=org, status="ready")
    fell_back = ready.filter(fallback_used=True)
    assert ready.count() == 9 and set(fell_back.values_list("contact_id", flat=True)) == {c.pk for c in inventors}
    assert summary["fallback"] == {"count": 3, "rate": fell_back.count() / ready.count()}
    assert summary["shipped_by_backend"] == {"openai": 6, "composer": 3}
    assert set(summary["latency_seconds"]["by_backend"]) == {"openai", "composer"}
    assert summary["latency_seconds"]["by_backend"]["composer"]["n"] == 3
    stored_codes = [
        violation["code"]
        for email in ready
        for attempt in email.guardrail_report["attempts"]
        for violation in attempt["violations"]
    ]
    assert summary["violations_caught"]["total"] == len(stored_codes) >= 3 * 2  # two stopped attempts each
    assert summary["violations_caught"]["by_code"]["ungrounded_percentage"] == 3 * 2
    assert summary["violations_caught"]["drafts_with_any"] == 3
    assert summary["violations_shipped"]["total"] == 0
    assert summary["compliance"]["pass_rate"] == 1.0


def test_the_recheck_catches_a_tampered_ready_draft(org):
    contact = (
        org.suppressed_contact.company.contacts.filter(opted_out=False)
        .exclude(pk=org.suppressed_contact.pk)
        .exclude(email="")
        .first()
    )
    email = email_draft_create(organization_id=org.id, contact_id=contact.id, intent="first_touch")
    email = email_draft_generate(email_id=email.id)
    assert email.status == "ready", email.error
    clean = email_eval_row(email=email)
    assert clean.shipped == [] and clean.compliant

    # As if a bug had stored unchecked text: an invented discount, and no footer.
    footer_start = email.body.index(ADDRESS) if ADDRESS in email.body else len(email.body)
    email.body = "We can offer you 35% off until March 3. " + email.body[:footer_start]
    contact.opted_out = True
    contact.save()

    tampered = email_eval_row(email=email)

    assert any(code.startswith("ungrounded_") for code in tampered.shipped)
    assert tampered.compliance["postal_address"] is False
    assert tampered.compliance["contact_may_be_emailed"] is False
    assert not tampered.compliant
    summary = email_eval_summarize([clean, tampered])
    assert summary["violations_shipped"]["total"] == len(tampered.shipped)
    assert summary["compliance"]["pass_rate"] == 0.5


def test_summary_is_computed_from_the_rows():
    rows = [
        EvalRow(
            contact_id=1,
            intent="first_touch",
            status="ready",
            email_id=1,
            backend="local",
            latency_seconds=4.0,
            caught=["ungrounded_amount", "ungrounded_amount"],
            fallback_used=False,
            subject_chars=30,
            body_chars=400,
            compliance={"footer_at_end": True},
        ),
        EvalRow(
            contact_id=2,
            intent="renewal",
            status="ready",
            email_id=2,
            backend="composer",
            latency_seconds=9.0,
            caught=["ungrounded_name", "placeholder"],
            fallback_used=True,
            subject_chars=50,
            body_chars=600,
            compliance={"footer_at_end": True},
        ),
        EvalRow(
            contact_id=3,
            intent="win_back",
            status="failed",
            email_id=3,
            backend="local",
            latency_seconds=2.0,
            caught=["ungrounded_date"],
        ),
        EvalRow(contact_id=4, intent="deal_nudge", status="refused", refusal_code="opted_out"),
    ]

    summary = email_eval_summarize(rows)

    assert (summary["requests"], summary["drafts"], summary["ready"], summary["failed"]) == (4, 3, 2, 1)
    assert summary["refused"] == {"total": 1, "by_reason": {"opted_out": 1}}
    assert summary["violations_caught"]["total"] == 5
    assert summary["violations_caught"]["grounding"] == 4  # the placeholder is not a grounding violation
    assert summary["violations_caught"]["by_code"]["ungrounded_amount"] == 2
    assert summary["violations_caught"]["drafts_with_any"] == 3
    assert summary["fallback"] == {"count": 1, "rate": 0.5}
    assert summary["latency_seconds"]["by_backend"]["local"]["p50"] == pytest.approx(3.0)
    assert summary["latency_seconds"]["overall"]["p95"] == pytest.approx(float(np.percentile([4.0, 9.0, 2.0], 95)))
    assert summary["body_chars"]["mean"] == pytest.approx(500.0)
    assert summary["compliance"]["pass_rate"] == 1.0


def test_command_prints_the_table_and_writes_json(org, tmp_path):
    out = StringIO()
    path = tmp_path / "eval.json"

    call_command(
        "email_eval",
        "--org",
        "evalco",
        "--n",
        "6",
        "--backend",
        "composer",
        "--seed",
        "2",
        "--json",
        str(path),
        stdout=out,
        stderr=StringIO(),
    )

    text = out.getvalue()
    data = json.loads(path.read_text())
    assert "violations SHIPPED" in text and "compliance pass rate" in text and "latency p50 / p95 (composer)" in text
    assert data["params"] == {**data["params"], "organization": "evalco", "n": 6, "seed": 2, "backend": "composer"}
    assert data["summary"]["requests"] == len(data["rows"]) == 6
    assert GeneratedEmail.objects.filter(organization=org).count() == data["summary"]["drafts"]


def test_command_explains_a_missing_postal_address(org):
    EmailSettings.objects.filter(organization=org).update(sender_postal_address="")

    with pytest.raises(CommandError, match="no sender postal address"):
        call_command("email_eval", "--org", "evalco", "--n", "3", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(EvalSetupError):
        email_eval(organization=org, n=1)
    assert not GeneratedEmail.objects.exists()


def test_command_rejects_an_unknown_organisation(db):
    with pytest.raises(CommandError, match="no organisation with slug 'nope'"):
        call_command("email_eval", "--org", "nope", "--n", "3", stdout=StringIO())


def test_an_interrupted_run_summarises_the_finished_drafts(org, monkeypatch):
    calls = []

    class InterruptedOnThirdDraft(ScriptedChatBackend):
        def generate(self, messages, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return super().generate(messages, **kwargs)

    monkeypatch.setattr("ml.email_services.email_backend_get", lambda **kwargs: InterruptedOnThirdDraft())
    out = StringIO()

    call_command(
        "email_eval",
        "--org",
        "evalco",
        "--n",
        "10",
        "--backend",
        "openai",
        "--seed",
        "9",
        stdout=out,
        stderr=StringIO(),
    )

    text = out.getvalue()
    ready = GeneratedEmail.objects.filter(organization=org, status="ready")
    assert "interrupted: the figures cover the finished requests only" in text
    assert ready.count() == 2  # the two drafts before the interrupt; refusals need no backend call
    assert re.search(rf"^  ready +{ready.count()}$", text, flags=re.MULTILINE)
