"""The fan chart's geometry and the win-by-month curve the deal page draws."""

from decimal import Decimal

import pytest

from ml.models import Prediction
from salesai.dashboard.deal_selectors import deal_win_by_month
from salesai.dashboard.fan_chart import HEIGHT, fan_chart_build, money_compact, scale_max


@pytest.mark.parametrize(
    ("values", "top"),
    [([110000, 97000], 120000), ([Decimal("0.9")], 1), ([], 1.0), ([0, None], 1.0), ([3100], 4000), ([26], 30)],
)
def test_axis_top_is_round_and_covers_every_value(values, top):
    assert scale_max(values) == pytest.approx(top)


@pytest.mark.parametrize(("value", "text"), [(1_250_000, "1.2M"), (35_000, "35k"), (950, "950"), (2e9, "2B")])
def test_money_compact(value, text):
    assert money_compact(value) == text


def test_higher_values_sit_higher_and_everything_stays_inside():
    chart = fan_chart_build(expected=61000, p10=20000, p50=55000, p90=110000, actual=None, axis_max=120000)

    assert chart.band_top < chart.p50_y < chart.band_bottom  # SVG y grows downwards
    assert chart.band_height == pytest.approx(chart.band_bottom - chart.band_top)
    assert chart.band_top > 0 and chart.band_bottom <= HEIGHT
    assert chart.ticks[0].label == "0" and chart.ticks[-1].label == "120k"
    assert chart.actual_y is None and chart.baseline_y is None


def test_values_beyond_the_axis_are_clipped_and_a_missing_interval_draws_no_band():
    chart = fan_chart_build(expected=500, p10=None, p50=None, p90=None, actual=-5, axis_max=100, baseline=100)

    assert chart.band_top is None and chart.band_height == 0.0
    assert chart.expected_y == chart.ticks[-1].y  # clipped to the top
    assert chart.actual_y == chart.plot_bottom and chart.baseline_y == chart.ticks[-1].y


def test_win_by_month_keeps_the_curve_monotone_and_skips_bad_entries():
    prediction = Prediction(
        details={
            "win_by_month": [
                {"month": "2026-12", "p": 0.3},
                "junk",
                {"month": "2027-01"},
                {"month": "2027-01", "p": 0.2},
                {"month": "2027-02", "p": 0.5},
            ]
        }
    )

    rows = deal_win_by_month(prediction=prediction)

    assert [(r.month, r.cumulative, round(r.in_month, 2)) for r in rows] == [
        ("2026-12", 0.3, 0.3),
        ("2027-01", 0.3, 0.0),
        ("2027-02", 0.5, 0.2),
    ]
    assert rows[0].starts.isoformat() == "2026-12-01"
    assert deal_win_by_month(prediction=None) == []
