"""Email draft pages: request from the contact page, the list, the review page, accept / edit / reject."""

import pytest
from django.test import Client
from django.utils.html import escape

from ml.email_services import email_draft_accept, email_draft_generate
from ml.models import EmailSettings, EmailSuppression, GeneratedEmail
from salesai.core.models import Membership
from tests.factories import ContactFactory, DealFactory, MembershipFactory

ADDRESS = "Acme Corp, 5 Harbour Road, Hamburg"


@pytest.fixture
def email_settings_a(tenant_a):
    # The composer: deterministic and fast; the page does not care which backend wrote the draft.
    return EmailSettings.objects.create(
        organization=tenant_a.organization, backend="composer", sender_postal_address=ADDRESS
    )


def _request(client, contact, **fields):
    data = {"intent": "deal_nudge", "tone": "friendly", "length": "short", "deal": "", **fields}
    return client.post(f"/app/contacts/{contact.id}/emails/", data)


def _ready_email(client, tenant, rep):
    response = _request(client, tenant.contact, deal=str(tenant.deal.id))
    email = GeneratedEmail.objects.get(contact=tenant.contact)
    assert response.status_code == 302 and response.headers["Location"] == f"/app/emails/{email.id}/"
    return email_draft_generate(email_id=email.id)


def test_contact_page_offers_the_draft_form_with_the_contacts_deals(client_a, tenant_a, tenant_b):
    other_contacts_deal = DealFactory(
        organization=tenant_a.organization, company=tenant_a.company, contact=None, name="Company-wide renewal"
    )

    html = client_a.get(f"/app/contacts/{tenant_a.contact.id}/").content.decode()

    assert f'action="/app/contacts/{tenant_a.contact.id}/emails/"' in html
    for value in ("first_touch", "meeting_follow_up", "deal_nudge", "renewal", "win_back"):
        assert f'<option value="{value}"' in html
    assert f'<option value="{tenant_a.deal.id}">{tenant_a.deal.name}</option>' in html
    assert f'<option value="{other_contacts_deal.id}">' in html  # the company's deals count too
    assert f'<option value="{tenant_b.deal.id}">' not in html


def test_requesting_a_draft_queues_it_and_the_page_refreshes_until_ready(client_a, rep_a, tenant_a, email_settings_a):
    response = _request(client_a, tenant_a.contact, deal=str(tenant_a.deal.id), tone="formal", length="medium")

    email = GeneratedEmail.objects.get(contact=tenant_a.contact)
    assert (email.status, email.intent, email.deal_id, email.requested_by) == (
        "queued",
        "deal_nudge",
        tenant_a.deal.id,
        rep_a,
    )
    assert email.options == {"tone": "formal", "length": "medium"}
    assert response.headers["Location"] == f"/app/emails/{email.id}/"

    pending = client_a.get(f"/app/emails/{email.id}/")
    assert pending.status_code == 200
    assert pending.headers["Refresh"] == "2"
    assert 'data-testid="email-pending"' in pending.content.decode()

    email_draft_generate(email_id=email.id)
    ready = client_a.get(f"/app/emails/{email.id}/")

    assert "Refresh" not in ready.headers
    assert 'data-testid="email-pending"' not in ready.content.decode()


def test_review_page_shows_draft_citations_and_guardrail_report(client_a, rep_a, tenant_a, email_settings_a):
    email = _ready_email(client_a, tenant_a, rep_a)
    assert email.status == "ready", email.error

    html = client_a.get(f"/app/emails/{email.id}/").content.decode()

    assert f'<span data-testid="email-subject">{escape(email.subject)}</span>' in html
    assert escape(email.body) in html
    cited = {fact_id for citation in email.citations for fact_id in citation["fact_ids"]}
    assert cited, "the composer's deal nudge cites at least the deal"
    facts = {fact["id"]: fact for fact in email.fact_sheet["facts"]}
    for fact_id in cited:
        assert f'data-fact-id="{fact_id}"' in html
        assert f'title="{escape(facts[fact_id]["label"])}: {escape(facts[fact_id]["value"])}"' in html
    assert f"<dt>Backend</dt><dd>{email.backend}</dd>" in html
    assert "every claim grounded" in html
    assert f'action="/app/emails/{email.id}/accept/"' in html


def test_report_lists_violations_caught_in_earlier_attempts(client_a, tenant_a):
    email = GeneratedEmail.objects.create(
        organization=tenant_a.organization,
        contact=tenant_a.contact,
        intent="deal_nudge",
        status="ready",
        subject="Next steps",
        body="Hi there.",
        backend="composer",
        model_name="composer",
        fallback_used=True,
        latency_seconds=4.25,
        guardrail_report={
            "passed": True,
            "violations": [],
            "fallback_used": True,
            "attempts": [
                {
                    "backend": "local",
                    "model": "tiny",
                    "seconds": 2.0,
                    "passed": False,
                    "error": "",
                    "violations": [{"code": "ungrounded_amount", "text": "$99,000", "message": "not in the CRM"}],
                },
                {
                    "backend": "local",
                    "model": "tiny",
                    "seconds": 0.1,
                    "passed": False,
                    "error": "timed out",
                    "violations": [],
                },
                {
                    "backend": "composer",
                    "model": "composer",
                    "seconds": 0.01,
                    "passed": True,
                    "violations": [],
                    "error": "",
                },
            ],
        },
    )

    html = client_a.get(f"/app/emails/{email.id}/").content.decode()

    assert "<code>ungrounded_amount</code> “$99,000”" in html
    assert "timed out" in html
    assert "composer fallback used" in html and "4.25 s" in html
    assert "1 violation caught in attempts" in html


def test_refused_contacts_get_the_reason_and_nothing_is_stored(client_a, tenant_a, email_settings_a):
    opted_out = ContactFactory(organization=tenant_a.organization, opted_out=True)
    suppressed = ContactFactory(organization=tenant_a.organization, email="Bounced@Example.test")
    EmailSuppression.objects.create(
        organization=tenant_a.organization, email="bounced@example.test", reason="hard bounce"
    )
    no_address = ContactFactory(organization=tenant_a.organization, email="")

    for contact, words in (
        (opted_out, "opted out"),
        (suppressed, "suppression list"),
        (no_address, "no email address"),
    ):
        response = client_a.post(
            f"/app/contacts/{contact.id}/emails/",
            {"intent": "first_touch", "tone": "friendly", "length": "short"},
            follow=True,
        )
        assert response.redirect_chain == [(f"/app/contacts/{contact.id}/", 302)]
        html = response.content.decode()
        assert '<li class="error">No draft:' in html and words in html
    assert not GeneratedEmail.objects.exists()


def test_invalid_choices_are_shown_on_the_contact_page(client_a, tenant_a, tenant_b, email_settings_a):
    response = _request(client_a, tenant_a.contact, intent="cold_call", deal=str(tenant_b.deal.id))

    assert response.status_code == 400
    html = response.content.decode()
    assert "Select a valid choice. cold_call is not one of the available choices." in html
    assert "That choice is not one of the available choices." in html  # another tenant's deal
    assert not GeneratedEmail.objects.exists()


def test_another_organisations_drafts_and_contacts_are_404(client_a, tenant_a, tenant_b):
    foreign = GeneratedEmail.objects.create(
        organization=tenant_b.organization,
        contact=tenant_b.contact,
        intent="first_touch",
        status="ready",
        subject="s",
        body="b",
    )

    assert client_a.get(f"/app/emails/{foreign.id}/").status_code == 404
    for action, data in (("accept", {}), ("edit", {"subject": "x", "body": "y"}), ("reject", {"reason": "no"})):
        assert client_a.post(f"/app/emails/{foreign.id}/{action}/", data).status_code == 404
    assert _request(client_a, tenant_b.contact).status_code == 404
    foreign.refresh_from_db()
    assert foreign.rep_action == ""
    assert not GeneratedEmail.objects.filter(contact=tenant_b.contact).exclude(pk=foreign.pk).exists()


def test_list_shows_the_organisations_drafts_only(client_a, rep_a, tenant_a, tenant_b, email_settings_a):
    email = _ready_email(client_a, tenant_a, rep_a)
    foreign = GeneratedEmail.objects.create(
        organization=tenant_b.organization, contact=tenant_b.contact, intent="win_back", status="failed"
    )

    html = client_a.get("/app/emails/").content.decode()

    assert f'data-testid="email-row-{email.id}"' in html
    row = html.split(f'data-testid="email-row-{email.id}"')[1].split("</tr>")[0]
    assert 'status-ready">Ready</span>' in row and tenant_a.contact.full_name in row and "Deal nudge" in row
    assert f"<td>{email.backend}" in row and "<td>no</td>" in row  # composer-only: no fallback
    assert f'data-testid="email-row-{foreign.id}"' not in html
    assert 'href="/app/emails/?org=acme">Emails</a>' in html  # the nav link


def test_accept_records_the_rep_and_final_text(client_a, rep_a, tenant_a, email_settings_a):
    email = _ready_email(client_a, tenant_a, rep_a)

    response = client_a.post(f"/app/emails/{email.id}/accept/", follow=True)

    email.refresh_from_db()
    assert (email.rep_action, email.acted_by, email.final_body) == ("accepted", rep_a, email.body)
    html = response.content.decode()
    assert "Draft accepted." in html and 'data-testid="email-final"' in html
    assert f'action="/app/emails/{email.id}/accept/"' not in html  # no second verdict offered

    again = client_a.post(f"/app/emails/{email.id}/reject/", {"reason": "changed my mind"}, follow=True)
    assert "already accepted" in again.content.decode()
    email.refresh_from_db()
    assert email.rep_action == "accepted" and email.reject_reason == ""


def test_edit_saves_the_reps_version_and_the_diff(client_a, rep_a, tenant_a, email_settings_a):
    email = _ready_email(client_a, tenant_a, rep_a)
    new_body = email.body.replace(email.body.splitlines()[0], "Hello again, a line I wrote myself.", 1)

    # "again" claims an earlier contact the CRM does not record: shown with the sentence, nothing saved.
    refused = client_a.post(f"/app/emails/{email.id}/edit/", {"subject": "My subject", "body": new_body})
    assert refused.status_code == 422
    assert "Hello again, a line I wrote myself." in refused.content.decode()
    assert "invented_event" in refused.content.decode()
    email.refresh_from_db()
    assert email.rep_action == ""

    response = client_a.post(
        f"/app/emails/{email.id}/edit/", {"subject": "My subject", "body": new_body, "own_words": "on"}, follow=True
    )

    email.refresh_from_db()
    assert (email.rep_action, email.final_subject, email.final_body) == ("edited", "My subject", new_body.strip())
    assert "+Hello again, a line I wrote myself." in email.edit_diff
    assert "Your edited version was saved." in response.content.decode()
    assert email.sent_as_own_words and "Sent as the rep's own words" in response.content.decode()


def test_edit_without_body_and_reject_without_reason_are_refused(client_a, rep_a, tenant_a, email_settings_a):
    email = _ready_email(client_a, tenant_a, rep_a)

    edit = client_a.post(f"/app/emails/{email.id}/edit/", {"subject": "Only a subject", "body": ""})
    reject = client_a.post(f"/app/emails/{email.id}/reject/", {"reason": "  "})

    assert edit.status_code == 400 and reject.status_code == 400
    assert "This field is required." in edit.content.decode() and "This field is required." in reject.content.decode()
    email.refresh_from_db()
    assert email.rep_action == ""


def test_reject_keeps_the_reason(client_a, rep_a, tenant_a, email_settings_a):
    email = _ready_email(client_a, tenant_a, rep_a)

    response = client_a.post(f"/app/emails/{email.id}/reject/", {"reason": "Wrong tone for this account"}, follow=True)

    email.refresh_from_db()
    assert (email.rep_action, email.reject_reason, email.acted_by) == ("rejected", "Wrong tone for this account", rep_a)
    assert "“Wrong tone for this account”" in response.content.decode()


def test_a_failed_draft_shows_why_and_offers_no_actions(client_a, rep_a, tenant_a):
    EmailSettings.objects.create(organization=tenant_a.organization, backend="composer", sender_postal_address="")
    email = _ready_email(client_a, tenant_a, rep_a)  # no postal address: the service fails it

    html = client_a.get(f"/app/emails/{email.id}/").content.decode()

    assert email.status == "failed"
    assert f'data-testid="email-error">{escape(email.error)}</p>' in html and "postal address" in email.error
    assert "/accept/" not in html


def test_draft_request_needs_a_csrf_token(rep_a, tenant_a, email_settings_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep_a)

    assert _request(client, tenant_a.contact).status_code == 403
    assert not GeneratedEmail.objects.exists()


def test_managers_see_acceptance_and_edit_rates_per_backend_and_intent(client_a, rep_a, tenant_a, email_settings_a):
    accepted = _ready_email(client_a, tenant_a, rep_a)
    email_draft_accept(email_id=accepted.id, user_id=rep_a.id)
    manager = MembershipFactory(organization=tenant_a.organization, role=Membership.Role.MANAGER).user
    manager_client = Client()
    manager_client.force_login(manager)

    html = manager_client.get(f"/app/emails/?org={tenant_a.organization.slug}").content.decode()
    rep_html = client_a.get(f"/app/emails/?org={tenant_a.organization.slug}").content.decode()

    assert 'data-testid="email-rates"' in html and "What reps do with the drafts" in html
    assert f"<td>{accepted.backend}</td><td>{accepted.intent}</td>" in html and "100%" in html
    assert 'data-testid="email-rates"' not in rep_html
