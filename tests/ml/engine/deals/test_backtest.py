import numpy as np
import pandas as pd

from ml.engine.deals.backtest import backtest_origins, backtest_run
from ml.engine.deals.transformer import DealNetParams
from tests.ml.engine.deals.synthetic import synthetic_deals, synthetic_source

ORIGIN = pd.Timestamp("2024-10-01")
FAST = {"families": ("logistic",), "draws": 200, "lightgbm_configs": 1}


def _forecast_columns(months: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(months)
    return table[[c for c in table.columns if c.endswith(("_forecast", "_p10", "_p90"))]]


def test_the_future_cannot_change_a_past_forecast():
    deals = synthetic_deals(seed=3)
    baseline = backtest_run(source=synthetic_source(deals), origins=[ORIGIN], **FAST)
    # Rewrite everything after the origin: outcomes flipped, values changed, new deals added later.
    future = deals.copy()
    later = future["closed_at"].notna() & (future["closed_at"] >= ORIGIN)
    future.loc[later, "status"] = np.where(future.loc[later, "status"] == "won", "lost", "won")
    future.loc[later, "value"] = np.where(future.loc[later, "status"] == "won", future.loc[later, "amount"] * 3, np.nan)
    extra = synthetic_deals(n=50, seed=9, start="2024-10-05", months=2).assign(deal_id=lambda f: f["deal_id"] + 10_000)
    future = pd.concat([future, extra], ignore_index=True)
    # the backtest's horizon must still be inside the data
    rewritten = backtest_run(source=synthetic_source(future), origins=[ORIGIN], **FAST)
    pd.testing.assert_frame_equal(_forecast_columns(baseline.months), _forecast_columns(rewritten.months))
    assert [m["actual"] for m in baseline.months] != [m["actual"] for m in rewritten.months]


def test_backtest_reports_every_method_and_family():
    source = synthetic_source(synthetic_deals(seed=1))
    origins = backtest_origins(source=source, horizon=3, count=2)
    result = backtest_run(
        source=source,
        origins=origins,
        families=("transformer", "lightgbm", "logistic"),
        draws=200,
        lightgbm_configs=2,
        net_params=DealNetParams(epochs=3, max_seconds=20),
    )
    summary = result.summary()
    assert set(summary["methods"]) >= {"our", "stage_weighted", "commit", "run_rate"}
    assert summary["methods"]["commit"]["coverage_80"] is None
    assert 0 <= summary["methods"]["our"]["coverage_80"] <= 1
    for family in ("transformer", "lightgbm", "logistic", "stage_weighted"):
        assert summary["deal_win"][family]["origins"] == 2
    # stage probability predicts winning in this world: the learned models must read it too
    assert summary["deal_win"]["logistic"]["roc_auc_mean"] > 0.6
