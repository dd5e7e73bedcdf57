"""`manage.py email_draft`: one draft, generated in process, printed with its evidence; refusals exit 2."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ml.models import EmailSettings, GeneratedEmail
from tests.factories import ContactFactory, DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

ADDRESS = "Calle Mayor 1, 28013 Madrid"


@pytest.fixture
def contact():
    organization = OrganizationFactory()
    # The organisation is configured for the local model: the tests override it with --backend composer.
    EmailSettings.objects.create(organization=organization, backend="local", sender_postal_address=ADDRESS)
    contact = ContactFactory(organization=organization, first_name="Lucia")
    DealFactory(organization=organization, contact=contact, company=contact.company, name="Expansion 2026")
    return contact


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("email_draft", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_the_draft_with_citations_and_verdict(contact):
    out, _ = run("--contact", str(contact.id), "--intent", "deal_nudge", "--tone", "formal", "--backend", "composer")

    email = GeneratedEmail.objects.get(contact=contact)
    assert email.status == "ready"
    assert (email.intent, email.options) == ("deal_nudge", {"tone": "formal", "length": "short"})
    assert f"draft {email.id}: ready" in out
    assert f"Subject: {email.subject}" in out
    assert email.body in out
    assert "backend: composer" in out
    assert "guardrails: passed" in out
    for citation in email.citations:
        assert citation["sentence"] in out


def test_json_output_is_the_stored_draft(contact):
    out, _ = run("--contact", str(contact.id), "--backend", "composer", "--json", "--length", "medium")

    data = json.loads(out)
    email = GeneratedEmail.objects.get(pk=data["id"])
    assert (data["status"], data["subject"], data["body"]) == ("ready", email.subject, email.body)
    assert data["citations"] == email.citations
    assert data["guardrail_report"]["passed"] is True
    assert data["backend"] == "composer"


@pytest.mark.parametrize("field", ["opted_out", "email"])
def test_refused_contact_exits_2_with_the_reason(contact, field):
    if field == "opted_out":
        contact.opted_out = True
    else:
        contact.email = ""
    contact.save()
    err = StringIO()

    with pytest.raises(SystemExit) as exited:
        call_command(
            "email_draft", "--contact", str(contact.id), "--backend", "composer", stdout=StringIO(), stderr=err
        )

    assert exited.value.code == 2
    assert ("opted out" if field == "opted_out" else "no email address") in err.getvalue()
    assert not GeneratedEmail.objects.exists()


def test_unknown_contact_and_bad_deal_are_command_errors(contact):
    with pytest.raises(CommandError, match="no contact"):
        run("--contact", "999999")
    with pytest.raises(CommandError, match="deal"):
        run("--contact", str(contact.id), "--deal", "999999", "--backend", "composer")


def test_a_failed_draft_is_a_command_error_with_the_reason(contact):
    EmailSettings.objects.filter(organization_id=contact.organization_id).update(sender_postal_address="")

    with pytest.raises(CommandError, match="postal address"):
        run("--contact", str(contact.id), "--backend", "composer")
