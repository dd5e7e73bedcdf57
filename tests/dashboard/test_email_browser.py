"""A real browser: a rep requests a draft on a contact, watches the page turn ready by itself, edits one draft
and accepts another."""

import re
from unittest import mock

from ml.email_services import email_draft_generate
from ml.models import EmailSettings, GeneratedEmail
from salesai.core.models import Membership
from tests.api.conftest import make_tenant
from tests.dashboard.browser import BROWSER_MARKS, browser_page  # noqa: F401  (fixture)
from tests.factories import MembershipFactory

pytestmark = BROWSER_MARKS


def _request_draft(page, base_url: str, contact_id: int, intent: str, queued: list[int]) -> GeneratedEmail:
    page.goto(f"{base_url}/app/contacts/{contact_id}/")
    page.select_option("#id_intent", intent)
    page.select_option("#id_tone", "formal")
    page.get_by_role("button", name="Draft email").click()
    page.wait_for_url(re.compile(rf"{re.escape(base_url)}/app/emails/\d+/$"))
    email = GeneratedEmail.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert email.contact_id == contact_id and email.intent == intent
    assert queued[-1] == email.id  # handed to the gpu queue once the request committed
    return email


def test_rep_requests_reviews_edits_and_accepts_drafts(live_server, transactional_db, browser_page, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tenant = make_tenant("acme")
    EmailSettings.objects.create(
        organization=tenant.organization, backend="composer", sender_postal_address="Acme, 5 Harbour Road, Hamburg"
    )
    user = MembershipFactory(organization=tenant.organization, role=Membership.Role.REP).user
    page = browser_page
    queued: list[int] = []

    page.goto(f"{live_server.url}/app/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/app/")

    # No worker in this test: the queued task is recorded, and the test plays the worker.
    with mock.patch("ml.tasks.generate_email.delay", side_effect=queued.append):
        first = _request_draft(page, live_server.url, tenant.contact.id, "deal_nudge", queued)
        assert page.get_by_test_id("email-status").inner_text() == "Queued"
        assert page.get_by_text("Writing the draft…").is_visible()

        email_draft_generate(email_id=first.id)
        # The page reloads itself (Refresh header): no click, no manual reload.
        page.get_by_test_id("email-status").filter(has_text="Ready").wait_for()

        first.refresh_from_db()
        assert page.get_by_test_id("email-subject").inner_text() == first.subject
        assert page.get_by_test_id("guardrail-report").filter(has_text="every claim grounded").is_visible()
        cited = [fact_id for citation in first.citations for fact_id in citation["fact_ids"]]
        assert page.locator("[data-testid=email-citations] .fact").count() == len(cited) > 0

        page.fill("#id_subject", "Our proposal, as discussed")
        page.fill("#id_body", "Hi, I rewrote this one myself.\n\n" + first.body)
        page.get_by_test_id("email-save-edit").click()
        # "as discussed" claims a conversation the CRM has no record of: shown, and the rep decides.
        page.get_by_test_id("edit-issues").filter(has_text="Our proposal, as discussed").wait_for()
        page.get_by_label("Send it anyway, as my own words").check()
        page.get_by_test_id("email-save-edit").click()
        page.get_by_text("Your edited version was saved.").wait_for()

        second = _request_draft(page, live_server.url, tenant.contact.id, "first_touch", queued)
        email_draft_generate(email_id=second.id)
        page.get_by_test_id("email-accept").wait_for()  # appears once the reloaded page shows the ready draft
        page.get_by_test_id("email-accept").click()
        page.get_by_text("Draft accepted.").wait_for()

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.rep_action, first.final_subject, first.acted_by) == ("edited", "Our proposal, as discussed", user)
    assert first.sent_as_own_words
    assert first.final_body.startswith("Hi, I rewrote this one myself.")
    assert "+Hi, I rewrote this one myself." in first.edit_diff
    assert (second.rep_action, second.final_body, second.acted_by) == ("accepted", second.body, user)

    page.goto(f"{live_server.url}/app/emails/")
    for email in (first, second):
        assert page.get_by_test_id(f"email-row-{email.id}").filter(has_text=email.get_rep_action_display()).count() == 1
