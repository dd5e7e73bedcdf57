import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from ml.engine.deals.forecast import (
    bookings_so_far,
    commit_forecast,
    forecast_monte_carlo,
    new_deal_samples,
    run_rate_forecast,
    stage_weighted_forecast,
)


def test_monte_carlo_matches_the_binomial_case():
    # 400 deals of 1.0 each, P(won in month 1) = 0.3, P(month 2) = 0.2: month totals are binomial.
    n = 400
    monthly = np.tile([0.3, 0.2], (n, 1))
    result = forecast_monte_carlo(amounts=np.ones(n), monthly=monthly, draws=20_000, seed=1, chunk=128)
    org = result[("org", "")]
    np.testing.assert_allclose(org.expected, [120.0, 80.0])
    for k, p in enumerate([0.3, 0.2]):
        low, high = binom.ppf([0.1, 0.9], n, p)
        assert abs(org.p10[k] - low) <= 1 and abs(org.p90[k] - high) <= 1
        assert abs(org.p50[k] - binom.median(n, p)) <= 1


def test_scopes_add_up_to_the_org_and_each_deal_wins_at_most_once():
    rng = np.random.default_rng(0)
    n = 300
    monthly = rng.dirichlet([1, 1, 1, 2], size=n)[:, :3]
    amounts = rng.uniform(10, 100, n)
    owners = rng.choice(["a", "b", "c"], size=n)
    result = forecast_monte_carlo(amounts=amounts, monthly=monthly, scopes={"owner": owners}, draws=500, seed=0)
    total = sum(result[("owner", o)].expected for o in "abc")
    np.testing.assert_allclose(total, result[("org", "")].expected)
    # the most a draw can book in all months together is every amount once
    assert result[("org", "")].p90.sum() <= amounts.sum()


def test_unknown_amounts_add_nothing_and_bad_probabilities_are_refused():
    result = forecast_monte_carlo(amounts=np.array([np.nan, 10.0]), monthly=np.array([[1.0], [1.0]]), draws=10)
    assert result[("org", "")].expected.tolist() == [10.0]
    with pytest.raises(ValueError, match="more than 1"):
        forecast_monte_carlo(amounts=np.ones(1), monthly=np.array([[0.7, 0.6]]), draws=10)


def test_month_shock_widens_the_interval_but_keeps_the_mean():
    monthly = np.tile([0.5], (1000, 1))
    plain = forecast_monte_carlo(amounts=np.ones(1000), monthly=monthly, draws=4000, seed=2)[("org", "")]
    shocked = forecast_monte_carlo(amounts=np.ones(1000), monthly=monthly, draws=4000, seed=2, shock_sigma=0.3)[
        ("org", "")
    ]
    assert shocked.p90[0] - shocked.p10[0] > 3 * (plain.p90[0] - plain.p10[0])
    assert shocked.expected[0] == plain.expected[0]


def test_baselines_and_past_close_dates():
    origin = pd.Timestamp("2024-03-01")
    close = pd.Series(pd.to_datetime(["2024-02-10", "2024-03-20", "2024-05-02", None, "2024-09-01"]))
    amounts = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
    # a close date already past counts now (month 1); none counts nowhere; beyond the horizon counts nowhere
    assert commit_forecast(amounts=amounts, close_dates=close, origin=origin, horizon=3).tolist() == [300.0, 0.0, 300.0]
    weighted = stage_weighted_forecast(
        amounts=amounts, probabilities=np.full(5, 0.5), close_dates=close, origin=origin, horizon=3
    )
    assert weighted.tolist() == [150.0, 0.0, 150.0]
    bookings = pd.Series(
        {pd.Timestamp("2023-12-01"): 90.0, pd.Timestamp("2024-01-01"): 30.0, pd.Timestamp("2024-02-01"): 60.0}
    )
    assert run_rate_forecast(bookings=bookings, origin=origin, horizon=2).tolist() == [60.0, 60.0]


def test_new_deal_samples_read_only_wins_closed_before_the_origin():
    deals = pd.DataFrame(
        {
            "deal_id": [1, 2, 3],
            "created_at": pd.to_datetime(["2024-01-05", "2024-01-10", "2024-03-02"]),
            "status": ["won", "won", "won"],
            "closed_at": pd.to_datetime(["2024-01-20", "2024-02-15", "2024-03-10"]),
            "value": [10.0, 20.0, 40.0],
        }
    )
    samples = new_deal_samples(deals=deals, origin=pd.Timestamp("2024-03-01"), horizon=2, lookback=1)
    # past origin 2024-01 (its 2 months ended by March): created >= Jan 1, booked in Jan and Feb
    assert samples[("org", "")].tolist() == [[10.0, 20.0]]


def test_mid_month_new_deals_start_at_now_and_this_months_wins_are_booked():
    """Issue 12: forecast on the 8th, deals created since the 1st are open deals (the pipeline part), not new
    ones again; what was won since the 1st is certain bookings of month 1."""
    deals = pd.DataFrame(
        {
            "deal_id": [1, 2, 3, 4],
            "created_at": pd.to_datetime(["2024-01-03", "2024-01-20", "2024-02-20", "2024-03-02"]),
            "status": ["won", "won", "won", "won"],
            "closed_at": pd.to_datetime(["2024-01-25", "2024-02-15", "2024-02-25", "2024-03-05"]),
            "value": [10.0, 20.0, 40.0, 7.0],
            "owner": ["a", "b", "a", "b"],
        }
    )
    origin, now = pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-08")
    samples = new_deal_samples(deals=deals, origin=origin, horizon=2, lookback=1, now=now)
    # past origin 2024-01: created on or after Jan 8 (deal 1, created Jan 3, was in that month's open pipeline)
    assert samples[("org", "")].tolist() == [[0.0, 60.0]]
    booked = bookings_so_far(deals=deals, origin=origin, now=now, horizon=2, scopes=("owner",))
    assert booked[("org", "")].tolist() == [7.0, 0.0] and booked[("owner", "b")].tolist() == [7.0, 0.0]
    assert ("owner", "a") not in booked
    result = forecast_monte_carlo(
        amounts=np.array([100.0]), monthly=np.array([[0.5, 0.0]]), draws=2000, seed=0, booked=booked
    )[("org", "")]
    assert result.expected.tolist() == [57.0, 0.0] and result.open_pipeline.tolist() == [57.0, 0.0]
    assert result.p10[0] >= 7.0 and result.p90[0] == 107.0


def test_new_deal_bookings_follow_the_creation_rate():
    created = pd.to_datetime(["2023-11-10", "2024-01-05", "2024-01-10"] + [f"2024-02-0{d}" for d in range(1, 7)])
    deals = pd.DataFrame(
        {
            "deal_id": range(1, 10),
            "created_at": created,
            "status": ["won", "won", "won", "open", "open", "open", "open", "open", "open"],
            "closed_at": pd.to_datetime(["2023-12-01", "2024-01-20", "2024-02-15"] + [None] * 6),
            "value": [5.0, 10.0, 20.0] + [np.nan] * 6,
        }
    )
    samples = new_deal_samples(deals=deals, origin=pd.Timestamp("2024-03-01"), horizon=2, lookback=1, creation_months=3)
    # then (Oct-Dec 2023) 1 deal was created, now (Dec 2023-Feb 2024) 8: the Jan/Feb bookings scale by 8
    assert samples[("org", "")].tolist() == [[80.0, 160.0]]
    unscaled = new_deal_samples(deals=deals, origin=pd.Timestamp("2024-03-01"), horizon=2, lookback=1)
    assert unscaled[("org", "")].tolist() == [[10.0, 20.0]]
