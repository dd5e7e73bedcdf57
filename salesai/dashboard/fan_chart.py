"""Geometry of the forecast page's fan charts, drawn as inline SVG by `_fan_chart.html`: one chart per month,
all on the same value axis so the months compare at a glance. Pure arithmetic, no Django."""

import math
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 220
HEIGHT = 180
TOP = 12  # room for the top tick's label
BOTTOM = 20  # room for the month label
AXIS_X = 46  # left of this: tick labels
BAND_LEFT = 70
BAND_RIGHT = 170
MARKER = 12


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class FanChart:
    width: int
    height: int
    axis_x: int
    band_left: int
    band_right: int
    plot_bottom: float
    band_top: float | None  # p90
    band_bottom: float | None  # p10
    p50_y: float | None
    expected_y: float
    actual_y: float | None
    baseline_y: float | None  # the stage-weighted pipeline of the same run, the number most CRMs show
    ticks: list[Tick]

    @property
    def band_height(self) -> float:
        if self.band_top is None or self.band_bottom is None:
            return 0.0
        return self.band_bottom - self.band_top

    @property
    def band_width(self) -> int:
        return self.band_right - self.band_left

    @property
    def band_middle(self) -> float:
        return (self.band_left + self.band_right) / 2

    @property
    def marker_x(self) -> float:  # the expected-value diamond's corner (a 12-unit square rotated 45 degrees)
        return self.band_middle - MARKER / 2

    @property
    def marker_y(self) -> float:
        return self.expected_y - MARKER / 2

    @property
    def actual_x(self) -> int:
        return self.band_right + 14

    @property
    def tick_label_x(self) -> int:
        return self.axis_x - 4


def money_compact(value: Decimal | float) -> str:
    """1234567 -> "1.2M", 35000 -> "35k", 950 -> "950"."""
    number = float(value)
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= divisor:
            scaled = number / divisor
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{number:.0f}"


def scale_max(values: list[Decimal | float | None]) -> float:
    """A round axis top (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at or above every value; 1 when all are 0."""
    top = max((float(v) for v in values if v is not None), default=0.0)
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * power >= top:
            return step * power
    return 10 * power  # unreachable: 10 * power > top by construction


def fan_chart_build(
    *,
    expected: Decimal | float,
    p10: Decimal | float | None,
    p50: Decimal | float | None,
    p90: Decimal | float | None,
    actual: Decimal | float | None,
    axis_max: float,
    baseline: Decimal | float | None = None,
) -> FanChart:
    plot_top, plot_bottom = TOP, HEIGHT - BOTTOM

    def y(value: Decimal | float | None) -> float | None:
        if value is None:
            return None
        share = min(max(float(value) / axis_max, 0.0), 1.0)
        return round(plot_bottom - share * (plot_bottom - plot_top), 1)

    has_band = p10 is not None and p90 is not None
    return FanChart(
        width=WIDTH,
        height=HEIGHT,
        axis_x=AXIS_X,
        band_left=BAND_LEFT,
        band_right=BAND_RIGHT,
        plot_bottom=plot_bottom,
        band_top=y(p90) if has_band else None,
        band_bottom=y(p10) if has_band else None,
        p50_y=y(p50),
        expected_y=y(expected) or float(plot_bottom),
        actual_y=y(actual),
        baseline_y=y(baseline),
        ticks=[
            Tick(y=y(axis_max * share) or plot_bottom, label=money_compact(axis_max * share)) for share in (0, 0.5, 1)
        ],
    )
