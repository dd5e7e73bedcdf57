"""A seeded synthetic leads table shaped like the hidden one behind issue "the Transformer earns its place".

8,000 leads: a first-contact date over two years, a landing-page id with about 500 levels (Zipf-like traffic,
each page with its own conversion effect) and a channel with 6 levels. Conversion depends on the season
(day of year), the weekday, a slow trend over the two years, the page and the channel, so a model only
gets the date signal from calendar parts and the page signal from per-level statistics.

    .venv/bin/python bench/synthetic_leads.py [--rows 8000] [--seed 0] [--out /tmp/synthetic_leads.csv] [--reference]

then
    OMP_NUM_THREADS=1 .venv/bin/python manage.py ml_benchmark --csv /tmp/synthetic_leads.csv --target converted \
        --positive 1 --folds 5 --threads 1 --models lightgbm,logistic,transformer

Writes to /tmp by default: generated data is not committed. `--reference` also prints the yardstick the issue
measured on the hidden table: a plain logistic regression on calendar features and one-hot levels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

CHANNELS = ("organic", "paid_search", "social", "email", "referral", "display")
CHANNEL_EFFECT = (0.0, 0.25, -0.35, 0.45, 0.6, -0.5)
WEEKDAY_EFFECT = (0.25, 0.2, 0.15, 0.1, 0.0, -0.55, -0.6)  # Monday .. Sunday
PAGES = 500


def synthetic_leads(*, rows: int = 8_000, seed: int = 0) -> pd.DataFrame:
    """The table, with a 0/1 `converted` column."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01")
    days = rng.integers(0, 730, rows)
    dates = pd.DatetimeIndex(start + days.astype("timedelta64[D]"))
    page_traffic = 1.0 / np.arange(1, PAGES + 1) ** 0.6
    page = rng.choice(PAGES, rows, p=page_traffic / page_traffic.sum())
    page_effect = rng.normal(0.0, 0.7, PAGES)
    channel = rng.choice(len(CHANNELS), rows, p=[0.3, 0.25, 0.15, 0.1, 0.1, 0.1])
    season = 0.5 * np.sin(2 * np.pi * (dates.day_of_year.to_numpy() - 30) / 365.25)
    trend = 0.5 * days / 730
    logit = (
        -1.6
        + season
        + np.asarray(WEEKDAY_EFFECT)[dates.day_of_week.to_numpy()]
        + trend
        + page_effect[page]
        + np.asarray(CHANNEL_EFFECT)[channel]
    )
    converted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "first_contact": dates.strftime("%Y-%m-%d"),
            "landing_page": [f"LP-{p:04d}" for p in rng.permutation(PAGES)[page]],
            "channel": np.asarray(CHANNELS)[channel],
            "converted": converted,
        }
    )


def reference_logistic(*, frame: pd.DataFrame, folds: int = 5, seed: int = 0, c: float = 0.1) -> list[float]:
    """Held-out ROC-AUC per fold of the hand-made yardstick: a plain L2 logistic regression on the date's
    calendar features (days since the first date, month, weekday) and one-hot page and channel (values seen
    fewer than 5 times folded), on the same seeded stratified folds as `ml_benchmark`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    y = frame["converted"].to_numpy()
    dates = pd.to_datetime(frame["first_contact"])
    days = ((dates - dates.min()).dt.days.to_numpy()).reshape(-1, 1).astype(float)
    levels = pd.DataFrame(
        {
            "month": dates.dt.month,
            "weekday": dates.dt.day_of_week,
            "page": frame["landing_page"],
            "channel": frame["channel"],
        }
    )
    scores = []
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(levels, y):
        onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5).fit(levels.iloc[train])
        scale = StandardScaler().fit(days[train])

        def inputs(rows: np.ndarray, scale=scale, onehot=onehot) -> np.ndarray:  # this fold's fitted parts
            return np.hstack([scale.transform(days[rows]), onehot.transform(levels.iloc[rows]).toarray()])

        model = LogisticRegression(C=c, max_iter=5000).fit(inputs(train), y[train])
        scores.append(float(roc_auc_score(y[test], model.decision_function(inputs(test)))))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=8_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/synthetic_leads.csv"))
    parser.add_argument("--reference", action="store_true", help="also print the plain logistic yardstick")
    args = parser.parse_args()
    frame = synthetic_leads(rows=args.rows, seed=args.seed)
    frame.to_csv(args.out, index=False)
    print(
        f"{len(frame)} rows, {frame['converted'].mean():.3f} converted, "
        f"{frame['landing_page'].nunique()} landing pages -> {args.out}"
    )
    if args.reference:
        scores = reference_logistic(frame=frame)
        mean, sd = np.mean(scores), np.std(scores, ddof=1)
        print(f"plain logistic (calendar + one-hot), 5 folds: ROC-AUC {mean:.4f} ± {sd:.4f}")


if __name__ == "__main__":
    main()
