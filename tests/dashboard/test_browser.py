"""A real browser: log in through the admin login, find a scored lead with its reasons, give feedback."""

from ml.models import Feedback
from salesai.core.models import Membership
from tests.api.conftest import make_tenant
from tests.dashboard.browser import BROWSER_MARKS, browser_page  # noqa: F401  (fixture)
from tests.factories import MembershipFactory

pytestmark = BROWSER_MARKS


def test_manager_reviews_a_lead_and_disagrees(live_server, transactional_db, browser_page, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    tenant = make_tenant("acme")
    user = MembershipFactory(organization=tenant.organization, role=Membership.Role.MANAGER).user
    # A plain (non-staff) manager: the app's own login page admits every member.
    page = browser_page

    page.goto(f"{live_server.url}/app/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/app/")

    lead_row = page.locator("tr", has_text=tenant.contact.full_name)
    assert lead_row.locator(".score").inner_text() == str(tenant.prediction.score)
    assert "Lead source = Referral" in lead_row.inner_text()
    assert "No activity for 30 days" in lead_row.inner_text()

    lead_row.get_by_role("link", name=tenant.contact.full_name).click()
    page.wait_for_url(f"{live_server.url}/app/contacts/{tenant.contact.id}/")
    page.check("input[name=verdict][value=disagree]")
    page.fill("textarea[name=reason]", "They just signed with a competitor")
    page.click("button[type=submit].btn")
    page.wait_for_selector("text=Thanks — your feedback was recorded.")

    feedback = Feedback.objects.get(user=user)
    assert (feedback.prediction_id, feedback.verdict) == (tenant.prediction.id, "disagree")
    assert feedback.reason == "They just signed with a competitor"
