"""Baselines: they learn, their metrics are sklearn's, and tuning never sees rows outside the training part."""

import lightgbm
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from ml.engine.baselines import BaselineModel, lightgbm_baseline_fit, logistic_baseline_fit
from ml.engine.schema import TableSchema

FITS = {"logistic": logistic_baseline_fit, "lightgbm": lightgbm_baseline_fit}


def signal_frame(rows: int = 900, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Label depends on a number, a category and a number with gaps; `marker` is a unique row id (noise)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "score": rng.normal(size=rows),
            "plan": rng.choice(["basic", "pro", "team", "solo"], rows),
            "visits": rng.poisson(3, rows).astype(float),
            "marker": rng.permutation(rows).astype(float) + 0.5,
        }
    )
    logit = 1.8 * frame["score"] + np.where(frame["plan"] == "pro", 1.2, -0.4) + 0.3 * frame["visits"] - 1.0
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.loc[rng.random(rows) < 0.1, "visits"] = np.nan
    return frame, labels


def split(rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.random.default_rng(1).permutation(rows)
    return (
        np.sort(order[: rows * 6 // 10]),
        np.sort(order[rows * 6 // 10 : rows * 8 // 10]),
        np.sort(order[rows * 8 // 10 :]),
    )


def fit(name: str, frame: pd.DataFrame, labels: np.ndarray, rows, **options) -> BaselineModel:
    train, valid, _ = rows
    return FITS[name](
        frame=frame.iloc[train],
        labels=labels[train],
        valid_frame=frame.iloc[valid],
        valid_labels=labels[valid],
        schema=TableSchema.infer(frame),
        **options,
    )


@pytest.mark.parametrize("name", ["logistic", "lightgbm"])
def test_baseline_learns_and_metrics_match_sklearn(name: str) -> None:
    frame, labels = signal_frame()
    rows = split(len(frame))
    model = fit(name, frame, labels, rows, **({"n_configs": 4} if name == "lightgbm" else {}))
    test = rows[2]
    result = model.evaluate(frame.iloc[test], labels[test])
    probabilities = model.probabilities(frame.iloc[test])
    assert result["roc_auc"] > 0.75  # chance is 0.5; the true model reaches about 0.85
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(labels[test], probabilities))
    assert result["pr_auc"] == pytest.approx(skm.average_precision_score(labels[test], probabilities))
    assert result["brier"] == pytest.approx(skm.brier_score_loss(labels[test], probabilities))
    assert result["log_loss"] == pytest.approx(skm.log_loss(labels[test], probabilities))
    assert set(result) >= {"roc_auc", "pr_auc", "brier", "log_loss", "ece"}
    assert model.calibrator.method == "platt"  # fitted on the validation rows
    assert model.train_seconds > 0


def test_lightgbm_search_is_seeded_and_sized() -> None:
    frame, labels = signal_frame(rows=500)
    rows = split(len(frame))
    first = fit("lightgbm", frame, labels, rows, n_configs=5, seed=3)
    second = fit("lightgbm", frame, labels, rows, n_configs=5, seed=3)
    other = fit("lightgbm", frame, labels, rows, n_configs=5, seed=4)
    assert len(first.search) == 5
    assert first.params == second.params
    assert [entry["tune_log_loss"] for entry in first.search] == [entry["tune_log_loss"] for entry in second.search]
    assert [e["num_leaves"] for e in first.search[1:]] != [e["num_leaves"] for e in other.search[1:]]
    # The chosen configuration is the one with the best inner-split log loss.
    best = min(first.search, key=lambda entry: entry["tune_log_loss"])
    assert first.params["num_leaves"] == best["num_leaves"]


def test_tuning_never_fits_on_validation_or_test_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    frame, labels = signal_frame(rows=600)
    rows = split(len(frame))
    train_markers = set(frame["marker"].iloc[rows[0]])
    seen: list[set[float]] = []

    def spy(real):
        def fit_spy(self, X, y, *args, **kwargs):
            seen.append(set(X["marker"].tolist()))
            for eval_frame in [kwargs.get("eval_X")] if kwargs.get("eval_X") is not None else []:
                seen.append(set(eval_frame["marker"].tolist()))
            return real(self, X, y, *args, **kwargs)

        return fit_spy

    monkeypatch.setattr(lightgbm.LGBMClassifier, "fit", spy(lightgbm.LGBMClassifier.fit))
    monkeypatch.setattr(Pipeline, "fit", spy(Pipeline.fit))
    fit("lightgbm", frame, labels, rows, n_configs=3)
    lightgbm_calls = len(seen)
    fit("logistic", frame, labels, rows)
    assert lightgbm_calls >= 3 * 2 + 1  # 3 searched configs (fit + early-stopping rows) and the refit
    assert len(seen) > lightgbm_calls  # the logistic CV folds and refit went through the spy too
    assert all(markers <= train_markers for markers in seen)
    assert set().union(*seen) == train_markers  # the final fits use every training row


def test_unseen_and_missing_categories_are_scored() -> None:
    frame, labels = signal_frame(rows=400)
    rows = split(len(frame))
    model = fit("lightgbm", frame, labels, rows, n_configs=2)
    odd = frame.iloc[:3].copy()
    odd["plan"] = ["enterprise", None, "pro"]
    odd = odd.drop(columns=["visits"])
    probabilities = model.probabilities(odd)
    assert probabilities.shape == (3,) and np.all((probabilities > 0) & (probabilities < 1))


def test_one_class_is_refused() -> None:
    frame, labels = signal_frame(rows=200)
    with pytest.raises(ValueError, match="both positive and negative"):
        logistic_baseline_fit(
            frame=frame,
            labels=np.zeros(len(frame)),
            valid_frame=frame,
            valid_labels=labels,
            schema=TableSchema.infer(frame),
        )


# --- derived inputs and bad input ------------------------------------------------------------------------------
def leads_frame(rows: int = 1500, levels: int = 500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A first-contact date (weekends convert less), a landing page with `levels` values, a channel."""
    rng = np.random.default_rng(seed)
    dates = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 730, rows), unit="D")
    page = rng.integers(0, levels, rows)
    effect = rng.normal(0, 1.0, levels)
    logit = effect[page] + np.where(dates.day_of_week >= 5, -1.5, 0.4) - 1.0
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "first_contact": pd.Series(dates, dtype="datetime64[ns]").dt.tz_localize("UTC"),
            "landing_page": [f"LP-{p:04d}" for p in page],
            "channel": rng.choice(["organic", "paid", "email"], rows),
        }
    )
    return frame, labels


@pytest.mark.parametrize("name", ["logistic", "lightgbm"])
def test_dates_and_500_levels_become_calendar_parts_and_statistics(name: str) -> None:
    frame, labels = leads_frame()
    rows = split(len(frame))
    model = fit(name, frame, labels, rows, **({"n_configs": 3} if name == "lightgbm" else {}))
    encoded = model.encode(frame.iloc[rows[2]])
    for column in (
        "first_contact",
        "first_contact__day_of_year",
        "first_contact__month",
        "first_contact__weekday",
        "landing_page__frequency",
    ):
        assert column in encoded.columns
    assert ("landing_page__target" in encoded.columns) == (name == "lightgbm")  # logistic: in its pipeline
    assert model.evaluate(frame.iloc[rows[2]], labels[rows[2]])["roc_auc"] > 0.65


@pytest.mark.parametrize("name", ["logistic", "lightgbm"])
def test_target_statistics_never_read_validation_or_test_labels(name: str) -> None:
    frame, labels = leads_frame(rows=900)
    rows = split(len(frame))
    shuffled = labels.copy()
    for part in rows[1:]:
        shuffled[part] = np.random.default_rng(7).permutation(shuffled[part])
    shuffled[rows[2]] = 1 - shuffled[rows[2]]
    options = {"n_configs": 2} if name == "lightgbm" else {}
    first = fit(name, frame, labels, rows, **options)
    second = fit(name, frame, shuffled, rows, **options)
    # Only the calibrator reads validation labels: the raw scores are the same.
    np.testing.assert_array_equal(first.logits(frame), second.logits(frame))
    np.testing.assert_array_equal(first.encode(frame).to_numpy(), second.encode(frame).to_numpy())


def test_training_rows_get_out_of_fold_rates() -> None:
    frame, labels = leads_frame(rows=900)
    model = fit("lightgbm", frame, labels, split(len(frame)), n_configs=1)
    train = frame.iloc[split(len(frame))[0]]
    own = model.encoder.fit_transform(train, labels=labels[split(len(frame))[0]])["landing_page__target"]
    full = model.encoder.transform(train)["landing_page__target"]
    assert not np.allclose(own, full)


def test_an_encoder_pickled_before_derived_columns_encodes_as_before() -> None:
    import pickle

    from ml.engine.baselines import _FrameEncoder

    frame, labels = signal_frame(rows=200)
    frame["seen"] = pd.Timestamp("2025-01-01", tz="UTC") - pd.to_timedelta(np.arange(200), unit="D")
    encoder = _FrameEncoder(schema=TableSchema.infer(frame), min_frequency=5, as_category=True)
    encoder.fit(frame)
    old_state = {  # the attributes the previous version had
        "numeric_columns": ["score", "visits", "marker", "seen"],
        "datetime_columns": {"seen"},
        "categorical_columns": ["plan"],
        "min_frequency": 5,
        "as_category": True,
        "vocabulary": {"plan": encoder.vocabulary["plan"]},
    }
    old = _FrameEncoder.__new__(_FrameEncoder)
    old.__setstate__(old_state)
    encoded = pickle.loads(pickle.dumps(old)).transform(frame)
    assert list(encoded.columns) == ["score", "visits", "marker", "seen", "plan"]
    assert encoded["seen"].iloc[0] == pytest.approx((pd.Timestamp("2025-01-01") - pd.Timestamp(0)).days)


def bad_frame(rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "score": rng.normal(size=rows),
            "empty": [np.nan] * rows,
            "constant": ["same"] * rows,
            "empty_text": [None] * rows,
            "empty_date": pd.Series([pd.NaT] * rows, dtype="datetime64[ns, UTC]"),
        }
    )
    labels = (frame["score"] + rng.normal(size=rows) > 0).astype(int).to_numpy().copy()
    return frame, labels


@pytest.mark.parametrize("name", ["logistic", "lightgbm"])
def test_all_missing_constant_columns_and_20_rows_fit_or_fail_plainly(name: str) -> None:
    frame, labels = bad_frame(20)
    options = {"n_configs": 2} if name == "lightgbm" else {}
    train, valid, test = np.arange(12), np.arange(12, 16), np.arange(16, 20)
    labels[valid] = [0, 1, 0, 1]
    model = FITS[name](
        frame=frame.iloc[train],
        labels=labels[train],
        valid_frame=frame.iloc[valid],
        valid_labels=labels[valid],
        schema=TableSchema.infer(frame),
        **options,
    )
    probabilities = model.probabilities(frame.iloc[test])
    assert probabilities.shape == (4,) and np.isfinite(probabilities).all()
    with pytest.raises(ValueError, match="both positive and negative"):
        FITS[name](
            frame=frame.iloc[train],
            labels=np.ones(12),
            valid_frame=frame.iloc[valid],
            valid_labels=labels[valid],
            schema=TableSchema.infer(frame),
            **options,
        )
