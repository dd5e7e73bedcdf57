"""Baselines every Transformer is measured against: logistic regression and tuned LightGBM.

Both see exactly what the Transformer sees: the training rows to fit (and tune) on, and held-out validation
rows used only to fit the post-hoc calibrator (`ml.engine.calibration`, Platt by default), so the three models'
probabilities are judged the same way by `classification_metrics`.

Tuning stays inside the training rows: logistic regression picks C by stratified K-fold cross-validation over
the training rows; LightGBM runs a seeded random search, each configuration fitted on part of the training
rows with early stopping on the rest (an inner split), then refits the best configuration on all training
rows. Neither the validation rows nor anything held out for testing ever reaches a `fit` call.
A default-parameter LightGBM proves nothing, hence the search.

Both read the same derived inputs as the Transformer's preprocessor (ml.engine.schema): a date's trend,
age, day of year, month and weekday; a high-cardinality category's training frequency and smoothed target
rate. Target rates are fitted on the training rows' labels only, out-of-fold for those rows themselves
(`_FrameEncoder.fit_transform`), so neither the tuning nor the final fit reads a row's own label through them.
Pure pandas/numpy/sklearn/lightgbm: no Django.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.engine.calibration import Calibrator, calibrator_fit, classification_metrics
from ml.engine.schema import (
    HIGH_CARDINALITY,
    TARGET_FOLDS,
    TARGET_SMOOTHING,
    LevelStatistics,
    TableSchema,
    datetime_utc,
    labels_binary,
    target_out_of_fold,
)

logger = logging.getLogger(__name__)

RARE = "<rare>"
MISSING = "<missing>"
LOGISTIC_C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
# Random-search space for LightGBM: (low, high) ranges are sampled log-uniformly where marked.
LIGHTGBM_SPACE: dict[str, Any] = {
    "num_leaves": (4, 64),
    "learning_rate": (0.01, 0.1),  # log-uniform
    "min_child_samples": (5, 100),
    "colsample_bytree": (0.5, 1.0),  # feature_fraction
    "subsample": (0.6, 1.0),  # bagging_fraction (with subsample_freq=1)
    "reg_lambda": (1e-3, 10.0),  # lambda_l2, log-uniform
}


@dataclass
class BaselineModel:
    """A fitted baseline: raw scores from `logits`, calibrated probabilities from `probabilities`."""

    name: str
    estimator: Any
    encoder: _FrameEncoder
    calibrator: Calibrator
    params: dict[str, Any]  # the chosen hyper-parameters
    train_seconds: float  # tuning + final fit + calibration
    search: list[dict[str, Any]] = field(default_factory=list)  # one entry per tried configuration

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.encoder.transform(frame)

    def logits(self, frame: pd.DataFrame) -> np.ndarray:
        return self.logits_encoded(self.encode(frame))

    def logits_encoded(self, encoded: pd.DataFrame) -> np.ndarray:
        if self.name == "lightgbm":
            return np.asarray(self.estimator.predict(encoded, raw_score=True), dtype=np.float64)
        return np.asarray(self.estimator.decision_function(encoded), dtype=np.float64)

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrator.transform(self.logits(frame))

    def evaluate(self, frame: pd.DataFrame, labels: np.ndarray | pd.Series) -> dict[str, Any]:
        """Metrics of the calibrated probabilities on held-out rows (same keys as the Transformer's)."""
        return classification_metrics(np.asarray(labels).astype(int), self.probabilities(frame))


class _FrameEncoder:
    """Raw frame -> a frame sklearn / LightGBM take. Numbers stay numbers (NaN = missing), categorical and
    text columns become strings with infrequent values folded into "<rare>". For LightGBM they are pandas
    categoricals with a fixed vocabulary, so train and predict agree.

    Derived columns, named `<field>__<part>` so reasons sum them back into the field (ml.engine.baseline_serving):
    - datetimes: the column itself as days since 1970 (the trend; no reference needed), `__age` in days from
      the schema's reference column when the frame has it at fit time, `__day_of_year`, and `__month` /
      `__weekday` as categories.
    - categorical / text columns with more than HIGH_CARDINALITY distinct training values: `__frequency`
      (log training count) and, when `fit` gets labels, `__target` (smoothed target log-odds; out-of-fold for
      the training rows through `fit_transform`, full-training rates for every other frame), which then
      replaces the column's own levels (LightGBM). With
      `target_statistics=False` (logistic) they get `__level` instead: the raw values, unfolded, for a target
      encoder inside the model's pipeline, so its cross-validation refits the rates per fold."""

    def __init__(
        self, *, schema: TableSchema, min_frequency: int, as_category: bool, target_statistics: bool = True
    ) -> None:
        self.source_numeric = [c.name for c in schema.columns if c.kind in ("numeric", "datetime")]
        self.datetime_columns = set(schema.datetime_columns)
        self.source_categorical = [c.name for c in schema.columns if c.kind in ("categorical", "text")]
        self.reference_column = schema.reference_column
        self.min_frequency = min_frequency
        self.as_category = as_category
        self.vocabulary: dict[str, list[str]] = {}
        self.statistics: dict[str, LevelStatistics] = {}
        self.with_age = False
        self.target_statistics = target_statistics
        self.level_columns: list[str] = []  # raw high-cardinality values for a pipeline target encoder
        self.derived = False  # fitted by this version (derived columns); False only in older pickles
        # Output columns, known after `fit`.
        self.numeric_columns: list[str] = list(self.source_numeric)
        self.categorical_columns: list[str] = list(self.source_categorical)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Artifacts pickled before derived columns existed: they keep encoding exactly as they did.
        self.__dict__.update(state)
        self.__dict__.setdefault("source_numeric", list(state["numeric_columns"]))
        self.__dict__.setdefault("source_categorical", list(state["categorical_columns"]))
        self.__dict__.setdefault("statistics", {})
        self.__dict__.setdefault("with_age", False)
        self.__dict__.setdefault("reference_column", None)
        self.__dict__.setdefault("derived", False)
        self.__dict__.setdefault("target_statistics", True)
        self.__dict__.setdefault("level_columns", [])

    def fit(self, frame: pd.DataFrame, *, labels: np.ndarray | pd.Series | None = None) -> _FrameEncoder:
        """Vocabularies and statistics from `frame` (training rows only); `labels` (0/1 per row) add target
        statistics for high-cardinality columns."""
        self.derived = True
        y = None if labels is None else labels_binary(labels, rows=len(frame))
        if y is not None and len(np.unique(y)) < 2:
            y = None  # one class: frequencies only
        self.with_age = bool(self.reference_column and self.reference_column in frame.columns)
        self.statistics, self.level_columns = {}, []
        numeric, categorical = [], []
        for name in self.source_numeric:
            numeric.append(name)
            if name in self.datetime_columns:
                numeric += [f"{name}__age"] * self.with_age + [f"{name}__day_of_year"]
                categorical += [f"{name}__month", f"{name}__weekday"]
        for name in self.source_categorical:
            values = _strings(_column(frame, name))
            if len(set(values) - {MISSING}) > HIGH_CARDINALITY:
                self.statistics[name] = LevelStatistics.fit(name, values, y if self.target_statistics else None)
                numeric.append(f"{name}__frequency")
                if not self.target_statistics:
                    self.level_columns.append(f"{name}__level")
                if self.statistics[name].has_target:
                    numeric.append(f"{name}__target")
        self.numeric_columns = numeric
        # With its rates and frequency, a high-cardinality column's own levels only add trees' overfitting
        # (LightGBM's categorical splits over hundreds of levels): the raw column stays out then.
        replaced = {name for name, statistics in self.statistics.items() if statistics.has_target}
        self.categorical_columns = [name for name in self.source_categorical if name not in replaced] + categorical
        categories = self._categories(frame)
        for name in self.categorical_columns:
            counts = Counter(categories[name])
            kept = sorted(value for value, count in counts.items() if count >= self.min_frequency and value != MISSING)
            self.vocabulary[name] = [MISSING, RARE, *kept]
        return self

    def fit_transform(self, frame: pd.DataFrame, *, labels: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
        """Fit on the training rows and encode them, with out-of-fold target statistics (a row never reads
        its own label)."""
        self.fit(frame, labels=labels)
        encoded = self.transform(frame)
        for name, statistics in self.statistics.items():
            if statistics.has_target:
                values = _strings(_column(frame, name))
                y = labels_binary(labels, rows=len(frame))
                encoded[f"{name}__target"] = target_out_of_fold(values, y, smoothing=statistics.smoothing)
        return encoded

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not getattr(self, "derived", False):
            return self._transform_plain(frame)
        columns: dict[str, Any] = {}
        for name in self.source_numeric:
            if name not in self.datetime_columns:
                columns[name] = _numbers(_column(frame, name), is_datetime=False)
                continue
            moments = datetime_utc(_column(frame, name))
            columns[name] = (moments - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(
                dtype=np.float64, na_value=np.nan
            ) / 86_400.0
            if self.with_age:
                reference = datetime_utc(_column(frame, self.reference_column))
                columns[f"{name}__age"] = (reference - moments).dt.total_seconds().to_numpy(
                    dtype=np.float64, na_value=np.nan
                ) / 86_400.0
            columns[f"{name}__day_of_year"] = moments.dt.day_of_year.to_numpy(dtype=np.float64, na_value=np.nan)
        for name, statistics in self.statistics.items():
            values = _strings(_column(frame, name))
            columns[f"{name}__frequency"] = statistics.frequency(values)
            if statistics.has_target:
                columns[f"{name}__target"] = statistics.target(values)
            if f"{name}__level" in self.level_columns:
                columns[f"{name}__level"] = values
        categories = self._categories(frame)
        for name in self.categorical_columns:
            known = set(self.vocabulary[name])
            values = [value if value in known else RARE for value in categories[name]]
            columns[name] = pd.Categorical(values, categories=self.vocabulary[name]) if self.as_category else values
        ordered = [*self.numeric_columns, *self.categorical_columns, *self.level_columns]
        return pd.DataFrame({name: columns[name] for name in ordered}, index=frame.index)

    def _categories(self, frame: pd.DataFrame) -> dict[str, list[str]]:
        """Every categorical output column's values as strings ("<missing>" for missing)."""
        result = {name: _strings(_column(frame, name)) for name in self.source_categorical}
        for name in self.source_numeric:
            if name in self.datetime_columns:
                moments = datetime_utc(_column(frame, name))
                for part, values in (("month", moments.dt.month), ("weekday", moments.dt.day_of_week)):
                    result[f"{name}__{part}"] = [MISSING if pd.isna(v) else str(int(v)) for v in values.tolist()]
        return result

    def _transform_plain(self, frame: pd.DataFrame) -> pd.DataFrame:
        # The encoding of artifacts pickled before derived columns (datetimes as epoch days only).
        columns: dict[str, Any] = {}
        for name in self.numeric_columns:
            columns[name] = _numbers(_column(frame, name), is_datetime=name in self.datetime_columns)
        for name in self.categorical_columns:
            known = set(self.vocabulary[name])
            values = [value if value in known else RARE for value in _strings(_column(frame, name))]
            columns[name] = pd.Categorical(values, categories=self.vocabulary[name]) if self.as_category else values
        return pd.DataFrame(columns, index=frame.index)


def logistic_baseline_fit(
    *,
    frame: pd.DataFrame,
    labels: np.ndarray | pd.Series,
    valid_frame: pd.DataFrame,
    valid_labels: np.ndarray | pd.Series,
    schema: TableSchema,
    seed: int = 0,
    n_jobs: int = 1,
    min_frequency: int = 5,
    c_grid: tuple[float, ...] = LOGISTIC_C_GRID,
    cv_folds: int = 3,
    calibration: str = "platt",
    sample_weight: np.ndarray | None = None,
) -> BaselineModel:
    """L2 logistic regression: one-hot categoricals (min frequency), standardised numbers with median
    imputation plus missing indicators; C chosen by stratified CV log loss over the training rows only.
    `sample_weight` (per training row) weighs the fits; the CV scores and calibration are unweighted."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

    started = time.perf_counter()
    y = _binary(labels)
    # Target rates come from a TargetEncoder step inside the pipeline: GridSearchCV then refits them within
    # each fold (cross-fitted on that fold's training part), so C is not chosen on rates that read the CV
    # validation labels; with one-hot levels beside them, such leaked rates made CV pick the largest C.
    encoder = _FrameEncoder(schema=schema, min_frequency=min_frequency, as_category=False, target_statistics=False)
    encoded = encoder.fit_transform(frame, labels=y)
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    # Rare values were folded into "<rare>" by the encoder; unseen ones map there too, so no unknowns here.
    categorical = OneHotEncoder(handle_unknown="ignore", sparse_output=True)
    transformers = []
    if encoder.numeric_columns:
        transformers.append(("numeric", numeric, encoder.numeric_columns))
    if encoder.categorical_columns:
        transformers.append(("categorical", categorical, encoder.categorical_columns))
    if encoder.level_columns:
        # Plain K folds: a high-cardinality column has > HIGH_CARDINALITY rows, while stratified folds would
        # need TARGET_FOLDS rows of each class in every CV fold's training part.
        folds = KFold(n_splits=TARGET_FOLDS, shuffle=True, random_state=seed)
        rates = TargetEncoder(target_type="binary", smooth=TARGET_SMOOTHING, cv=folds)
        transformers.append(("target", Pipeline([("rate", rates), ("scale", StandardScaler())]), encoder.level_columns))
    pipeline = Pipeline(
        [
            ("columns", ColumnTransformer(transformers, sparse_threshold=0.0)),
            ("model", LogisticRegression(max_iter=5000, random_state=seed)),
        ]
    )
    folds = min(cv_folds, int(np.bincount(y, minlength=2).min()))
    fit_params = {} if sample_weight is None else {"model__sample_weight": np.asarray(sample_weight, dtype=float)}
    if folds >= 2 and len(c_grid) > 1:
        search = GridSearchCV(
            pipeline,
            {"model__C": list(c_grid)},
            scoring="neg_log_loss",
            cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
            n_jobs=n_jobs,
            refit=True,
        )
        search.fit(encoded, y, **fit_params)
        estimator, best_c = search.best_estimator_, float(search.best_params_["model__C"])
        tried = [
            {"C": float(c), "cv_log_loss": float(-score)}
            for c, score in zip(search.cv_results_["param_model__C"], search.cv_results_["mean_test_score"])
        ]
    else:  # too few rows of one class to cross-validate: the middle of the grid
        best_c = float(c_grid[len(c_grid) // 2])
        estimator = pipeline.set_params(model__C=best_c).fit(encoded, y, **fit_params)
        tried = []
    model = BaselineModel(
        name="logistic",
        estimator=estimator,
        encoder=encoder,
        calibrator=Calibrator(),
        params={"C": best_c},
        train_seconds=0.0,
        search=tried,
    )
    model.calibrator = calibrator_fit(model.logits(valid_frame), _binary(valid_labels), method=calibration)
    model.train_seconds = time.perf_counter() - started
    return model


def lightgbm_baseline_fit(
    *,
    frame: pd.DataFrame,
    labels: np.ndarray | pd.Series,
    valid_frame: pd.DataFrame,
    valid_labels: np.ndarray | pd.Series,
    schema: TableSchema,
    seed: int = 0,
    n_jobs: int = 1,
    n_configs: int = 16,
    max_estimators: int = 2000,
    early_stopping_rounds: int = 50,
    tune_fraction: float = 0.2,
    min_frequency: int = 5,
    calibration: str = "platt",
    sample_weight: np.ndarray | None = None,
) -> BaselineModel:
    """LightGBM tuned by a seeded random search of `n_configs` configurations. Each is fitted on
    (1 - tune_fraction) of the training rows with early stopping on the rest (binary log loss); the best
    one is refitted on all training rows with its early-stopped tree count scaled up for the extra rows."""
    import lightgbm

    started = time.perf_counter()
    y = _binary(labels)
    encoder = _FrameEncoder(schema=schema, min_frequency=min_frequency, as_category=True)
    encoded = encoder.fit_transform(frame, labels=y)  # out-of-fold target statistics for these rows
    fit_rows, tune_rows = _stratified_split(y, fraction=tune_fraction, seed=seed)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    rng = np.random.default_rng(seed)
    configs = [_lightgbm_defaults()] + [_lightgbm_sample(rng) for _ in range(max(0, n_configs - 1))]
    search, best = [], None
    for number, config in enumerate(configs):
        estimator = lightgbm.LGBMClassifier(
            n_estimators=max_estimators, **config, **_lightgbm_fixed(seed=seed, n_jobs=n_jobs)
        )
        estimator.fit(
            encoded.iloc[fit_rows],
            y[fit_rows],
            sample_weight=None if weights is None else weights[fit_rows],
            eval_X=encoded.iloc[tune_rows],
            eval_y=y[tune_rows],
            eval_sample_weight=None if weights is None else [weights[tune_rows]],
            eval_metric="binary_logloss",
            callbacks=[lightgbm.early_stopping(early_stopping_rounds, verbose=False)],
        )
        trees = int(estimator.best_iteration_ or max_estimators)
        loss = float(estimator.best_score_["valid_0"]["binary_logloss"])
        search.append({"config": number, **config, "trees": trees, "tune_log_loss": loss})
        if best is None or loss < best[0]:
            best = (loss, config, trees)
    _, config, trees = best
    final_trees = max(1, round(trees / (1 - tune_fraction)))
    estimator = lightgbm.LGBMClassifier(n_estimators=final_trees, **config, **_lightgbm_fixed(seed=seed, n_jobs=n_jobs))
    estimator.fit(encoded, y, sample_weight=weights)
    model = BaselineModel(
        name="lightgbm",
        estimator=estimator,
        encoder=encoder,
        calibrator=Calibrator(),
        params={**config, "n_estimators": final_trees},
        train_seconds=0.0,
        search=search,
    )
    model.calibrator = calibrator_fit(model.logits(valid_frame), _binary(valid_labels), method=calibration)
    model.train_seconds = time.perf_counter() - started
    return model


def _lightgbm_fixed(*, seed: int, n_jobs: int) -> dict[str, Any]:
    return {"subsample_freq": 1, "random_state": seed, "n_jobs": n_jobs, "deterministic": True, "verbose": -1}


def _lightgbm_defaults() -> dict[str, Any]:
    # The library defaults (at a slower learning rate) are always one of the candidates.
    return {
        "num_leaves": 31,
        "learning_rate": 0.05,
        "min_child_samples": 20,
        "colsample_bytree": 1.0,
        "subsample": 1.0,
        "reg_lambda": 0.0,
    }


def _lightgbm_sample(rng: np.random.Generator) -> dict[str, Any]:
    space = LIGHTGBM_SPACE

    def log_uniform(low: float, high: float) -> float:
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))

    return {
        "num_leaves": int(rng.integers(space["num_leaves"][0], space["num_leaves"][1] + 1)),
        "learning_rate": round(log_uniform(*space["learning_rate"]), 5),
        "min_child_samples": int(rng.integers(space["min_child_samples"][0], space["min_child_samples"][1] + 1)),
        "colsample_bytree": round(float(rng.uniform(*space["colsample_bytree"])), 3),
        "subsample": round(float(rng.uniform(*space["subsample"])), 3),
        "reg_lambda": round(log_uniform(*space["reg_lambda"]), 5),
    }


def _stratified_split(y: np.ndarray, *, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (kept, held out), each class split in the same proportion; seeded."""
    rng = np.random.default_rng(seed)
    held = []
    for value in (0, 1):
        members = rng.permutation(np.flatnonzero(y == value))
        count = max(1, round(len(members) * fraction)) if len(members) >= 2 else 0
        held.append(members[:count])
    held_out = np.sort(np.concatenate(held))
    kept = np.setdiff1d(np.arange(len(y)), held_out)
    return kept, held_out


def _binary(labels: np.ndarray | pd.Series) -> np.ndarray:
    y = np.asarray(labels).astype(int).ravel()
    if len(np.unique(y)) < 2:
        raise ValueError("a baseline needs both positive and negative examples")
    return y


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _strings(series: pd.Series) -> list[str]:
    def normalise(value: Any) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return MISSING
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip() or MISSING

    return [normalise(value) for value in series.astype(object).tolist()]


def _numbers(series: pd.Series, *, is_datetime: bool) -> np.ndarray:
    if is_datetime:
        moments = pd.to_datetime(series, utc=True, errors="coerce")
        days = (moments - pd.Timestamp(0, tz="UTC")).dt.total_seconds() / 86_400.0
        return days.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype(float)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def baselines_train_evaluate(
    *,
    frame: pd.DataFrame,
    labels: np.ndarray | pd.Series,
    schema: TableSchema,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int,
    lightgbm_configs: int,
    calibration: str,
    sample_weight: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """Held-out metrics of the tuned LightGBM and the logistic baseline on a Transformer's own split (train,
    valid, test row positions). A baseline that cannot be fitted is recorded with its error (the gate then has
    one baseline fewer to beat)."""
    y = np.asarray(labels).astype(int)
    train_rows, valid_rows, test_rows = split
    common = {
        "frame": frame.iloc[train_rows],
        "labels": y[train_rows],
        "valid_frame": frame.iloc[valid_rows],
        "valid_labels": y[valid_rows],
        "schema": schema,
        "seed": seed,
        "calibration": calibration,
        "sample_weight": None if sample_weight is None else np.asarray(sample_weight)[train_rows],
    }
    fitters = {
        "lightgbm": lambda: lightgbm_baseline_fit(**common, n_configs=lightgbm_configs),
        "logistic": lambda: logistic_baseline_fit(**common),
    }
    results: dict[str, dict[str, Any]] = {}
    for name, fit in fitters.items():
        try:
            model = fit()
            evaluated = model.evaluate(frame.iloc[test_rows], y[test_rows])
        except ValueError as exc:  # e.g. a class missing from a small split
            logger.warning("baseline %s could not be trained: %s", name, exc)
            results[name] = {"error": str(exc)}
            continue
        results[name] = {**evaluated, "train_seconds": round(model.train_seconds, 2), "params": model.params}
    return results
