"""Bookings forecast per month for the next H months, per scope (org, team, owner, pipeline).

Ours = open pipeline + deals not yet created:
- open pipeline: Monte Carlo over each deal's calibrated P(won in month k) (ml.engine.deals.hazard), each deal
  independently won in at most one month (or not at all) per draw; expected value analytically (sum of amount x
  P), 10/50/90% from the draws. Vectorised in chunks of deals: memory is chunk x draws x H, whatever the count.
- new deals: bookings in month k from deals created at or after the origin, as they happened after each of the
  last `lookback` fully observed origins (the run-rate of new-deal bookings by month ahead, per scope); one of
  those past origins is drawn per draw, so its spread is the new-deal part's uncertainty.
Baselines (no intervals): stage-weighted pipeline (amount x stage probability in the close-date month), the CRM's
commit (amount of open deals whose close date falls in the month) and trailing run-rate (mean bookings of the
last 3 months). A close date already past counts in the origin's month; no close date counts nowhere.
Pure numpy/pandas/scipy: no Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ml.engine.deals.frames import WON, month_add, month_index

QUANTILES = (0.1, 0.5, 0.9)
ORG = "org"


@dataclass
class ScopeForecast:
    expected: np.ndarray  # (H,)
    p10: np.ndarray | None
    p50: np.ndarray | None
    p90: np.ndarray | None
    open_pipeline: np.ndarray  # (H,) expected part from open deals
    new_deals: np.ndarray  # (H,) expected part from deals not yet created


def forecast_monte_carlo(
    *,
    amounts: np.ndarray,
    monthly: np.ndarray,
    scopes: Mapping[str, np.ndarray] | None = None,
    new_deal_samples: Mapping[tuple[str, str], np.ndarray] | None = None,
    draws: int = 2000,
    seed: int = 0,
    chunk: int = 2048,
    shock_sigma: float = 0.0,
    booked: Mapping[tuple[str, str], np.ndarray] | None = None,
) -> dict[tuple[str, str], ScopeForecast]:
    """`amounts` (n,) base currency (NaN = unknown: contributes nothing); `monthly` (n, H) P(won in month k),
    rows summing to at most 1; `scopes` name -> (n,) scope value per deal (the org scope is always added);
    `new_deal_samples` (scope, value) -> (m, H) past new-deal bookings to draw from. Returns per
    (scope, value) the expected bookings and 10/50/90% per month. `shock_sigma` > 0 multiplies each draw's
    month by a mean-one lognormal factor shared by every deal (`month_shock_sigma`): deals are not independent
    (a slow month slows them all), which independent draws alone would miss and cover too few months. `booked`
    (scope, value) -> (H,) bookings already won (`bookings_so_far`): certain, added to the pipeline part."""
    monthly = np.clip(np.asarray(monthly, dtype=np.float64), 0.0, 1.0)
    n, horizon = monthly.shape
    if np.any(monthly.sum(axis=1) > 1 + 1e-6):
        raise ValueError("a deal's monthly win probabilities add up to more than 1")
    amounts = np.nan_to_num(np.asarray(amounts, dtype=np.float64), nan=0.0)
    scopes = {ORG: np.full(n, "", dtype=object), **{k: np.asarray(v, dtype=object) for k, v in (scopes or {}).items()}}
    index = {}
    for scope, values in scopes.items():
        levels, codes = np.unique(values.astype(str), return_inverse=True)
        index[scope] = (levels, sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(len(levels), n)))
    totals = {scope: np.zeros((len(levels), horizon, draws)) for scope, (levels, _) in index.items()}
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(monthly, axis=1)
    for start in range(0, n, chunk):
        part = slice(start, min(n, start + chunk))
        u = rng.random((part.stop - part.start, draws))
        # Month drawn per (deal, draw): k where cumulative[k-1] <= u < cumulative[k]; == H means not won.
        month = (u[:, :, None] >= cumulative[part, None, :]).sum(axis=2)
        for k in range(horizon):
            won_value = (month == k) * amounts[part, None]
            for scope, (_, indicator) in index.items():
                totals[scope][:, k, :] += indicator[:, part] @ won_value
    if shock_sigma > 0:
        shock = np.exp(shock_sigma * rng.standard_normal((horizon, draws)) - shock_sigma**2 / 2)
        totals = {scope: values * shock[None] for scope, values in totals.items()}
    out = {}
    for scope, (levels, indicator) in index.items():
        expected_open = indicator @ (amounts[:, None] * monthly)
        for position, level in enumerate(levels):
            already = (booked or {}).get((scope, str(level)), np.zeros(horizon))
            samples = totals[scope][position] + already[:, None]  # (H, draws)
            new_expected = np.zeros(horizon)
            past = (new_deal_samples or {}).get((scope, str(level)))
            if past is not None and len(past):
                past = np.asarray(past, dtype=np.float64)
                samples = samples + past[rng.integers(0, len(past), size=draws)].T
                new_expected = past.mean(axis=0)
            low, mid, high = np.quantile(samples, QUANTILES, axis=1)
            out[(scope, str(level))] = ScopeForecast(
                expected=expected_open[position] + already + new_expected,
                p10=low,
                p50=mid,
                p90=high,
                open_pipeline=expected_open[position] + already,
                new_deals=new_expected,
            )
    return out


def new_deal_samples(
    *,
    deals: pd.DataFrame,
    origin: pd.Timestamp,
    horizon: int,
    scopes: tuple[str, ...] = (),
    lookback: int = 6,
    earliest: pd.Timestamp | None = None,
    creation_months: int | None = None,
    now: pd.Timestamp | None = None,
) -> dict[tuple[str, str], np.ndarray]:
    """Past new-deal bookings by month ahead: for each of the last `lookback` origins o' whose H months had
    ended by `origin`, bookings in month k of deals created at or after o'. With `creation_months`, each is
    scaled by how many deals are being created now against then (deals created in the `creation_months` before
    `origin` / before o', per scope value; unscaled when none were created before o'): bookings per created deal
    times today's creation rate. Off by default: in the backtests (bench/README.md) the scaled version was worse
    on both data sets (creation counts swing more than bookings do). `deals` has created_at, status,
    closed_at, value and the scope columns; only wins closed before `origin` and deals created before it are read
    (nothing later is known). Past origins before `earliest` (e.g. before the data's first close) are not read.
    `now` (inside the origin's month): deals created since the origin are open deals now, in the pipeline part, so
    only deals created at or after o' + (now - origin) count as new."""
    created = deals[deals["created_at"] < origin]
    won = deals[(deals["status"] == WON) & deals["closed_at"].notna() & (deals["closed_at"] < origin)]
    past_origins = [month_add(origin, -horizon - back) for back in range(lookback)]
    past_origins = [past for past in past_origins if earliest is None or past >= earliest]
    groups = {ORG: pd.Series("", index=won.index)} | {s: won[s].fillna("").astype(str) for s in scopes}
    created_groups = {ORG: pd.Series("", index=created.index)} | {s: created[s].fillna("").astype(str) for s in scopes}

    def creation_counts(scope: str, before: pd.Timestamp) -> pd.Series:
        window = (created["created_at"] >= month_add(before, -(creation_months or 0))) & (
            created["created_at"] < before
        )
        return created_groups[scope][window].value_counts()

    now_counts = {scope: creation_counts(scope, origin) for scope in groups}
    out: dict[tuple[str, str], list[np.ndarray]] = {}
    for past in past_origins:
        past_counts = {scope: creation_counts(scope, past) for scope in groups}
        fresh = won[(won["created_at"] >= past + (now - origin if now is not None else pd.Timedelta(0)))]
        months = month_index(origin=past, when=fresh["closed_at"])
        inside = (months >= 1) & (months <= horizon)
        for scope, labels in groups.items():
            table = pd.DataFrame(
                {
                    "level": labels.loc[fresh.index][inside].to_numpy(),
                    "k": months[inside].astype(int),
                    "v": fresh["value"].to_numpy()[inside],
                }
            )
            sums = table.groupby(["level", "k"])["v"].sum()
            levels = set(labels.unique()) | ({""} if scope == ORG else set())
            for level in levels:
                vector = np.zeros(horizon)
                if level in sums.index.get_level_values(0):
                    for k, value in sums.loc[level].items():
                        vector[int(k) - 1] = value
                then = float(past_counts[scope].get(level, 0)) if creation_months else 0.0
                if then > 0:
                    vector = vector * float(now_counts[scope].get(level, 0)) / then
                out.setdefault((scope, str(level)), []).append(vector)
    return {key: np.stack(vectors) for key, vectors in out.items()}


def bookings_so_far(
    *, deals: pd.DataFrame, origin: pd.Timestamp, now: pd.Timestamp, horizon: int, scopes: tuple[str, ...] = ()
) -> dict[tuple[str, str], np.ndarray]:
    """(scope, value) -> (H,) value won in [origin, now) in month 1: booked this month, no longer in the pipeline."""
    won = deals[(deals["status"] == WON) & (deals["closed_at"] >= origin) & (deals["closed_at"] < now)]
    out: dict[tuple[str, str], np.ndarray] = {}
    for scope in (ORG, *scopes):
        levels = pd.Series("", index=won.index) if scope == ORG else won[scope].fillna("").astype(str)
        for level, value in won["value"].groupby(levels).sum().items():
            out[(scope, str(level))] = np.array([float(value)] + [0.0] * (horizon - 1))
    return out


def month_shock_sigma(*, bookings: pd.Series, origin: pd.Timestamp, months: int = 12, default: float = 0.25) -> float:
    """How much a month's bookings swing around the trailing 3-month mean, from the `months` before `origin`
    only: the sd of log(bookings / trailing mean). `default` until there are 4 such months."""
    series = bookings[bookings.index < origin].sort_index()
    series = (
        series.reindex(pd.date_range(series.index.min(), month_add(origin, -1), freq="MS"), fill_value=0.0)
        if len(series)
        else series
    )
    trailing = series.rolling(3).mean().shift(1)
    ratio = (series / trailing).replace([np.inf, -np.inf], np.nan).dropna()
    ratio = ratio[ratio > 0].tail(months)
    return float(np.log(ratio).std(ddof=1)) if len(ratio) >= 4 else default


def stage_weighted_forecast(
    *, amounts: np.ndarray, probabilities: np.ndarray, close_dates: pd.Series, origin: pd.Timestamp, horizon: int
) -> np.ndarray:
    """(H,) amount x stage probability summed in each deal's close-date month."""
    return _by_close_month(np.nan_to_num(amounts) * np.nan_to_num(probabilities), close_dates, origin, horizon)


def commit_forecast(*, amounts: np.ndarray, close_dates: pd.Series, origin: pd.Timestamp, horizon: int) -> np.ndarray:
    """(H,) the CRM's commit: amounts of open deals whose close date falls in the month."""
    return _by_close_month(np.nan_to_num(amounts), close_dates, origin, horizon)


def run_rate_forecast(*, bookings: pd.Series, origin: pd.Timestamp, horizon: int, months: int = 3) -> np.ndarray:
    """(H,) mean bookings of the `months` full months before the origin (`bookings` indexed by month start)."""
    past = [bookings.get(month_add(origin, -back), 0.0) for back in range(1, months + 1)]
    return np.full(horizon, float(np.mean(past)))


def monthly_bookings(outcomes: pd.DataFrame) -> pd.Series:
    """Won value per month start (from the outcomes frame: status, closed_at, value)."""
    won = outcomes[(outcomes["status"] == WON) & outcomes["closed_at"].notna()]
    months = won["closed_at"].dt.to_period("M").dt.to_timestamp()
    return won["value"].groupby(months).sum()


def _by_close_month(values: np.ndarray, close_dates: pd.Series, origin: pd.Timestamp, horizon: int) -> np.ndarray:
    months = month_index(origin=origin, when=pd.to_datetime(close_dates).reset_index(drop=True))
    months = np.where(months < 1, 1, months)  # a close date already past: still expected, now
    out = np.zeros(horizon)
    for k in range(1, horizon + 1):
        out[k - 1] = float(values[months == k].sum())
    return out
