"""/app/deals/<id>/: win probability, expected close, win-by-month, reasons, change history, activities;
slipping called out; a foreign deal is a 404; closed and unscored deals say why there is no score."""

import pytest

from tests.dashboard.forecast_data import REASON_TEXTS, make_forecast_data


@pytest.fixture
def data(tenant_a):
    return make_forecast_data(tenant_a.organization)


def test_deal_page_shows_score_expected_close_curve_reasons_history_and_activities(client_a, data):
    response = client_a.get(f"/app/deals/{data.big.id}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="deal-win-probability"' in html and ">72%<" in html
    assert data.predictions["big"].details["expected_close"] in html
    curve = html.split('data-testid="deal-win-by-month"')[1].split("</table>")[0]
    assert [cell in curve for cell in (">40%<", ">62%<", ">72%<", ">22%<")] == [True] * 4
    for reason in REASON_TEXTS:
        assert reason in html
    assert "makes a win less likely" in html and "makes a win more likely" in html
    history = html.split('data-testid="deal-history"')[1].split("</table>")[0]
    assert "qualified" in history and "negotiation" in history and "120,000" in history
    assert "Pricing review with procurement" in html
    assert "Enterprise" in html  # the owner's team
    assert 'data-testid="deal-slipping"' not in html


def test_slipping_deal_says_why(client_a, data):
    passed = client_a.get(f"/app/deals/{data.passed.id}/").content.decode()
    pushed = client_a.get(f"/app/deals/{data.pushed.id}/").content.decode()

    assert "has passed while the deal is still open" in passed
    assert "pushed later 2 times" in pushed


def test_unscored_and_closed_deals_say_why_there_is_no_score(client_a, data):
    assert "Not scored yet" in client_a.get(f"/app/deals/{data.unscored.id}/").content.decode()
    assert "closed deals are not scored" in client_a.get(f"/app/deals/{data.won.id}/").content.decode()


def test_foreign_deal_is_404(client_a, data, tenant_b):
    foreign = make_forecast_data(tenant_b.organization)

    assert client_a.get(f"/app/deals/{foreign.big.id}/").status_code == 404


def test_login_required(data):
    from django.test import Client

    response = Client().get(f"/app/deals/{data.big.id}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
