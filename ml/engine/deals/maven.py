"""The shared Maven "CRM Sales Opportunities" data as point-in-time deal frames (README beside the data).

It has no stage history, so the state at an origin is derived from dates, and some of it is approximated:
- a deal exists from its engage_date (created_at = engage_date) and is open until its close_date; the 500
  Prospecting rows have no date at all and are left out (they cannot be placed in time and never close);
- its stage while open is "Engaging" (the only open stage with dates); the CRM has no stage probability;
- its amount is the product's list price (products.csv): close_value is known only at close (0 for every
  loss: a perfect leak) and is used only as the booked value of wins;
- it has no expected close date, so one is estimated as known at the origin: engage_date + the median
  engage-to-close days of deals closed before the origin (the actual close_date would leak the outcome);
- owner = sales_agent, team = manager; product, series, sector and regional office are extra fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml.engine.deals.frames import LOST, OPEN, WON

EXTRA = ("product", "series", "sector", "regional_office")
DEFAULT_CYCLE_DAYS = 45.0  # before any deal has closed


@dataclass
class MavenDeals:
    deals: pd.DataFrame  # one row per dated opportunity, every column this module derives
    outcomes: pd.DataFrame  # index deal_id: status, closed_at, value
    data_end: pd.Timestamp  # the day after the last close date: nothing is known beyond it

    def snapshot_at(self, origin: pd.Timestamp) -> pd.DataFrame:
        """Deals open at `origin`, their fields as derivable at `origin` (see the module docstring)."""
        deals = self.deals
        closed_before = deals["closed_at"].notna() & (deals["closed_at"] < origin)
        open_now = (deals["created_at"] < origin) & ~closed_before
        finished = deals[closed_before]
        cycle = (finished["closed_at"] - finished["created_at"]).dt.days
        median_cycle = float(cycle.median()) if len(cycle) else DEFAULT_CYCLE_DAYS
        snapshot = deals.loc[open_now].copy()
        snapshot["close_date"] = snapshot["created_at"] + pd.to_timedelta(median_cycle, unit="D")
        snapshot["days_in_stage"] = (origin - snapshot["created_at"]).dt.days.astype(float)
        snapshot["stage_changes"] = 0.0
        snapshot["close_date_pushes"] = np.nan
        return snapshot.drop(columns=["status", "closed_at", "value"]).reset_index(drop=True)


def maven_load(folder: str | Path) -> MavenDeals:
    folder = Path(folder)
    pipeline = pd.read_csv(folder / "sales_pipeline.csv")
    products = pd.read_csv(folder / "products.csv")
    teams = pd.read_csv(folder / "sales_teams.csv")
    accounts = pd.read_csv(folder / "accounts.csv")
    pipeline["product"] = pipeline["product"].replace({"GTXPro": "GTX Pro"})
    pipeline = pipeline[pipeline["engage_date"].notna()].copy()
    frame = (
        pipeline.merge(products, on="product", how="left")
        .merge(teams, on="sales_agent", how="left")
        .merge(accounts[["account", "sector"]], on="account", how="left")
    )
    status = frame["deal_stage"].map({"Won": WON, "Lost": LOST}).fillna(OPEN)
    closed_at = pd.to_datetime(frame["close_date"])
    deals = pd.DataFrame(
        {
            "deal_id": np.arange(1, len(frame) + 1),
            "external_id": frame["opportunity_id"].to_numpy(),
            "name": (frame["account"].fillna("?") + " - " + frame["product"]).to_numpy(),
            "pipeline": "MavenTech",
            "stage": "Engaging",
            "stage_probability": np.nan,
            "amount": frame["sales_price"].astype(float).to_numpy(),
            "owner": frame["sales_agent"].fillna("").to_numpy(),
            "team": frame["manager"].fillna("").to_numpy(),
            "created_at": pd.to_datetime(frame["engage_date"]).to_numpy(),
            "product": frame["product"].to_numpy(),
            "series": frame["series"].fillna("").to_numpy(),
            "sector": frame["sector"].fillna("").replace({"technolgy": "technology"}).to_numpy(),
            "regional_office": frame["regional_office"].fillna("").to_numpy(),
            "status": status.to_numpy(),
            "closed_at": closed_at.where(status != OPEN).to_numpy(),
            "value": frame["close_value"].where(status == WON).astype(float).to_numpy(),
        }
    )
    outcomes = deals.set_index("deal_id")[["status", "closed_at", "value"]]
    return MavenDeals(deals=deals, outcomes=outcomes, data_end=closed_at.max() + pd.Timedelta(days=1))
