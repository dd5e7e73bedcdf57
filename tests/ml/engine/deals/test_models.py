import numpy as np
import pandas as pd

from ml.engine.deals.backtest import _origins_between
from ml.engine.deals.models import deal_models_fit
from tests.ml.engine.deals.synthetic import synthetic_deals, synthetic_source


def _fitted():
    source = synthetic_source(synthetic_deals(n=1200, seed=4))
    origins = _origins_between(source.first_origin, pd.Timestamp("2025-01-01"))
    rows = source.rows_at(origins, known_until=pd.Timestamp("2025-01-01"), horizon=3)
    rows = rows.take(np.flatnonzero(rows.mask.any(axis=1)))
    models = deal_models_fit(rows=rows, sequences=source.sequences(rows), families=("logistic",), seed=0)
    return models, rows, source


def test_calibrated_win_by_month_is_monotone_and_reasons_name_the_stage():
    models, rows, source = _fitted()
    sequences = source.sequences(rows)
    cumulative = models.cumulative(rows, sequences)
    assert np.all(np.diff(cumulative, axis=1) >= -1e-12) and np.all((cumulative >= 0) & (cumulative <= 1))
    # held-out deals: in a world where the stage drives winning both must rank far better than chance
    assert models.metrics["logistic"]["roc_auc"] > 0.65 and models.metrics["stage_weighted"]["roc_auc"] > 0.6
    negotiating = np.flatnonzero(rows.features["stage"].str.endswith("negotiate").to_numpy())[:20]
    reasons = models.reasons(rows.take(negotiating), sequences.take(negotiating))
    named = [factor["feature"] for factors in reasons for factor in factors]
    assert "stage" in named or "stage_probability" in named
    stage_factors = [f for factors in reasons for f in factors if f["feature"] in ("stage", "stage_probability")]
    assert all(f["direction"] == "+" for f in stage_factors)


def test_same_data_and_seed_give_the_same_probabilities():
    first, rows, source = _fitted()
    second, _, _ = _fitted()
    sequences = source.sequences(rows)
    np.testing.assert_allclose(first.win_probability(rows, sequences), second.win_probability(rows, sequences))
