"""Deals: win probability and time to close (a discrete-time hazard over months), the bookings forecast and its
backtest. Pure code (numpy, pandas, torch, lightgbm, scikit-learn): no Django, no project apps.

Every module reads the same point-in-time inputs:
- a *snapshot frame* per monthly origin (`frames.SNAPSHOT_COLUMNS`): one row per deal open at the origin, its
  fields as they were then (stage, amount in the base currency, expected close date, owner, ...);
- an *outcomes frame* (`frames.OUTCOME_COLUMNS`): per deal its final status, when it closed and the booked value.
`frames` checks and featurises them, `hazard` builds labels honestly censored at what was known, `models` fits
the families (Transformer, LightGBM, logistic, stage-weighted), `forecast` runs the Monte Carlo and the
baselines, `backtest` replays rolling origins, `maven` reads the shared Maven CRM data into these frames.
"""
