"""/app/forecast/: three months with intervals and the deals behind them, baselines, slipping deals, per-owner
and per-team rows, past accuracy; scoped to the user's organisations; no query per row."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ml.models import ForecastRow
from tests.dashboard.forecast_data import make_forecast_data
from tests.factories import DealFactory


@pytest.fixture
def data(tenant_a):
    return make_forecast_data(tenant_a.organization)


def test_three_months_with_intervals_charts_and_tables(client_a, data):
    response = client_a.get("/app/forecast/")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('data-testid="forecast-month"') == 3
    for month in data.months:
        assert month.strftime("%B %Y") in html
    assert "61,000" in html and "80% range: 20,000 – 110,000" in html
    assert html.count('<svg class="fan"') == 3 and html.count('data-testid="month-table"') == 3
    assert "Stage-weighted pipeline" in html and "97,000" in html  # the baseline of the same run
    assert "From deals not yet created" in html


def test_deals_behind_the_number_slipping_and_scope_rows(client_a, data):
    html = client_a.get("/app/forecast/").content.decode()

    movers = html.split('data-testid="movers"')[1].split("</table>")[0]
    assert movers.index(data.big.name) < movers.index(data.mid.name)
    assert "86,400" in movers  # big's contributions summed over the three months
    assert "72%" in movers and "35%" in movers  # the deals' current win probabilities, not one month's share
    assert "40% chance it closes in the month" in html.split('data-testid="month-deals"')[1].split("</ol>")[0]
    assert f'href="/app/deals/{data.big.id}/"' in html
    slipping = html.split('data-testid="slipping"')[1].split("</table>")[0]
    assert data.passed.name in slipping and "date passed" in slipping
    assert data.pushed.name in slipping and "pushed 2×" in slipping
    assert data.big.name not in slipping and data.won.name not in slipping
    assert "alice@example.test" in html.split('data-testid="scope-owner"')[1]
    assert "Enterprise" in html.split('data-testid="scope-team"')[1]


def test_past_accuracy_compares_each_method_with_what_was_booked(client_a, data):
    html = client_a.get("/app/forecast/").content.decode()

    summary = html.split('data-testid="accuracy-summary"')[1].split("</table>")[0]
    ours = re.search(r"Our forecast</th>(.*?)</tr>", summary, re.S).group(1)
    assert "0.11" in ours and "100%" in ours  # |90k - 100k| / 90k; 90k inside 60k-150k
    stage = re.search(r"Stage-weighted pipeline</th>(.*?)</tr>", summary, re.S).group(1)
    assert "1.00" in stage  # |90k - 180k| / 90k
    assert "90,000" in html.split('data-testid="accuracy-months"')[1]


def test_how_the_forecast_moved_between_runs(client_a, data):
    html = client_a.get("/app/forecast/").content.decode()

    moves = html.split('data-testid="forecast-moves"')[1].split("</table>")[0]
    latest, earlier = moves.split("<tbody>")[1].split("</tr>")[:2]
    assert "(latest)" in latest and "61,000" in latest and "52,000" in latest
    assert data.past.as_of.isoformat() in earlier and "70,000" in earlier and "—" in earlier  # it had no Jan row


def test_no_forecast_yet_says_so(client_a, tenant_a):
    response = client_a.get("/app/forecast/")

    assert response.status_code == 200
    assert "No forecast yet" in response.content.decode()


def test_foreign_organisation_is_404_and_its_forecast_never_shows(client_a, tenant_a, tenant_b):
    make_forecast_data(tenant_b.organization)

    assert client_a.get("/app/forecast/", {"org": tenant_b.organization.slug}).status_code == 404
    assert "Globex renewal" not in client_a.get("/app/forecast/").content.decode()


def test_queries_do_not_grow_with_deals_and_rows(client_a, data):
    with CaptureQueriesContext(connection) as small:
        client_a.get("/app/forecast/")
    _add_slipping_deals_and_owners(data)
    with CaptureQueriesContext(connection) as large:
        html = client_a.get("/app/forecast/").content.decode()

    assert len(large.captured_queries) == len(small.captured_queries)
    assert "The 10 largest of 12 open deals" in html  # the list is capped, the count says so


def _add_slipping_deals_and_owners(data):
    """Ten more slipping deals and ten more owners' rows."""
    for n in range(10):
        DealFactory(organization=data.organization, name=f"Late {n}", close_date=data.today - timedelta(days=n + 1))
        for month in data.months:
            ForecastRow.objects.create(
                snapshot=data.snapshot,
                scope="owner",
                scope_value=f"rep{n}@example.test",
                month=month,
                expected=Decimal(1000),
            )


def test_home_shows_this_months_forecast_and_links_to_the_page(client_a, tenant_a):
    before = client_a.get("/app/").content.decode()
    make_forecast_data(tenant_a.organization)
    after = client_a.get("/app/").content.decode()

    assert "No forecast yet" in before and 'href="/app/forecast/?org=acme"' in before
    card = after.split('data-testid="home-forecast"')[1].split("</section>")[0]
    assert "61,000 USD" in card and "20,000–110,000" in card
