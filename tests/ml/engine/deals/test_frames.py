import numpy as np
import pandas as pd
import pytest

from ml.engine.deals.frames import NO_STAGE, DealInputError, deal_features, snapshot_check

ORIGIN = pd.Timestamp("2024-03-01")


def _frame(**overrides) -> pd.DataFrame:
    base = {
        "deal_id": [1, 2],
        "amount": [100.0, 200.0],
        "stage": ["a", "b"],
        "close_date": pd.to_datetime(["2024-04-01", "2024-05-01"]),
        "created_at": pd.to_datetime(["2024-01-01", "2024-02-01"]),
    }
    return pd.DataFrame({**base, **overrides})


def test_mixed_currencies_without_base_amounts_are_refused():
    with pytest.raises(DealInputError, match="EUR, USD"):
        snapshot_check(_frame(currency=["USD", "EUR"]))


def test_base_amounts_are_used_when_converted():
    checked = snapshot_check(_frame(currency=["USD", "EUR"], amount_base=[100.0, None]))
    assert checked["amount"].iloc[0] == 100.0 and np.isnan(checked["amount"].iloc[1])


def test_missing_amount_stage_and_close_date_and_past_close_dates():
    checked = snapshot_check(
        _frame(amount=[None, -5.0], stage=[None, ""], close_date=[pd.NaT, pd.Timestamp("2024-01-15")])
    )
    assert checked["amount"].isna().all()  # negative amounts are unknown, not subtracted
    assert checked["stage"].tolist() == [NO_STAGE, NO_STAGE]
    features = deal_features(checked, origin=ORIGIN)
    assert features["amount_missing"].tolist() == [1.0, 1.0]
    assert np.isnan(features["days_to_close"].iloc[0]) and np.isnan(features["close_date_passed"].iloc[0])
    assert features["days_to_close"].iloc[1] == -46 and features["close_date_passed"].iloc[1] == 1.0


def test_a_snapshot_without_required_columns_is_refused():
    with pytest.raises(DealInputError, match="close_date"):
        snapshot_check(_frame().drop(columns=["close_date"]))


def test_stage_names_are_scoped_by_pipeline():
    checked = snapshot_check(_frame(pipeline=["new", "renewal"], stage=["Proposal", "Proposal"]))
    assert deal_features(checked, origin=ORIGIN)["stage"].tolist() == ["new / Proposal", "renewal / Proposal"]
