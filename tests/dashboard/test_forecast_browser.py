"""A real browser: a manager opens /app/forecast/ on a phone-sized screen, sees this month and the next two
with their intervals and the deals behind them, reaches a deal by keyboard, and axe-core finds no
accessibility violation on either page."""

import json

import pytest

from salesai.core.models import Membership
from tests.api.conftest import make_tenant
from tests.dashboard.browser import BROWSER_MARKS, browser_page  # noqa: F401  (fixture)
from tests.dashboard.forecast_data import make_forecast_data
from tests.factories import MembershipFactory

pytestmark = BROWSER_MARKS
PHONE = {"width": 390, "height": 844}


def _axe_violations(page) -> list[dict]:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    results = axe.run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "best-practice"]}})
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in results.response["violations"]]


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_manager_reads_the_forecast_and_opens_the_deal_behind_it(live_server, transactional_db, browser_page):
    tenant = make_tenant("acme")
    data = make_forecast_data(tenant.organization)
    user = MembershipFactory(organization=tenant.organization, role=Membership.Role.MANAGER).user
    page = browser_page
    page.set_viewport_size(PHONE)

    page.goto(f"{live_server.url}/app/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/app/")
    assert "61,000" in page.get_by_test_id("home-forecast").inner_text()
    page.get_by_role("link", name="Open the forecast").click()
    page.wait_for_url(f"{live_server.url}/app/forecast/?org=acme")

    months = page.get_by_test_id("forecast-month")
    assert months.count() == 3
    for index, month in enumerate(data.months):
        panel = months.nth(index)
        assert month.strftime("%B %Y") in panel.get_by_role("heading", level=2).inner_text()
        assert "80% range" in panel.get_by_test_id("month-interval").inner_text()
        assert panel.get_by_role("img").count() == 1  # the fan chart, with its title and description
        assert panel.get_by_test_id("month-table").is_visible()
    first = months.nth(0)
    assert "80% range: 20,000 – 110,000" in first.inner_text()
    assert first.get_by_test_id("month-deals").get_by_role("link", name=data.big.name).is_visible()
    assert page.get_by_test_id("slipping").get_by_role("link", name=data.passed.name).is_visible()
    assert _fits_the_screen(page), "the forecast page scrolls sideways at 390 px"
    violations = _axe_violations(page)
    assert violations == [], json.dumps(violations, indent=1)

    # Keyboard only: tab to the first deal behind this month's number and open it.
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == data.big.name:
            break
    else:
        pytest.fail(f"{data.big.name} cannot be reached with the Tab key")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/app/deals/{data.big.id}/")

    assert page.get_by_test_id("deal-win-probability").inner_text() == "72%"
    assert page.get_by_test_id("deal-expected-close").inner_text() == data.predictions["big"].details["expected_close"]
    assert page.get_by_test_id("deal-win-by-month").locator("tbody tr").count() == 3
    assert "At stage “negotiation” of default" in page.get_by_test_id("deal-reasons").inner_text()
    assert "negotiation" in page.get_by_test_id("deal-history").inner_text()
    assert _fits_the_screen(page), "the deal page scrolls sideways at 390 px"
    violations = _axe_violations(page)
    assert violations == [], json.dumps(violations, indent=1)
