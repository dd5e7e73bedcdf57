"""Deal win-by-month models side by side on the same rows: the deal Transformer, tuned LightGBM and logistic
regression (discrete-time hazard on person-month rows, `month_ahead` a feature), and the stage-weighted
probability (the CRM's stage probability; where the CRM has none, the stage's win-within-horizon rate on the
training rows). The gate (ml.engine.gate.family_choose) picks the family that serves from deal-level held-out
"won within the horizon" labels; every family's metrics are kept. Reasons per deal by occlusion. No Django.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.engine.activity_sequences import ActivitySequences
from ml.engine.baselines import BaselineModel, lightgbm_baseline_fit, logistic_baseline_fit
from ml.engine.calibration import brier_score, roc_auc
from ml.engine.deals.frames import deal_schema
from ml.engine.deals.hazard import HazardRows, hazards_to_cumulative
from ml.engine.deals.transformer import DealNetParams, deal_net_fit
from ml.engine.gate import family_choose
from ml.engine.schema import ColumnSpec, TableSchema
from ml.engine.training import holdout_split

logger = logging.getLogger(__name__)
FAMILIES = ("transformer", "lightgbm", "logistic", "stage_weighted")
# A month ahead needs this many observed wins in training before its own hazard is trusted; with fewer (a young
# organisation, an early backtest origin: month 3 has not been seen yet) it reuses the nearest earlier month's.
MIN_MONTH_WINS = 10
# Reasons come from the REASON_FIELDS fields that matter most on training rows (REASON_SAMPLE of them): one
# occlusion pass per field keeps scoring 50,000 deals inside the nightly budget.
REASON_FIELDS = 6
REASON_SAMPLE = 2000
SEQUENCE_AGGREGATES = ("seq_length", "seq_span_days", "seq_mean_log_gap", "seq_inbound_share")


@dataclass
class TabularHazard:
    model: BaselineModel

    def hazards(self, rows: HazardRows, sequences: ActivitySequences) -> np.ndarray:
        # Encoded once; only the month column differs between the H predictions, made in one call.
        encoded = self.model.encode(_tabular_frame(rows.features, sequences).assign(month_ahead=1.0))
        stacked = pd.concat(
            [encoded.assign(month_ahead=float(k)) for k in range(1, rows.horizon + 1)], ignore_index=True
        )
        probabilities = self.model.calibrator.transform(self.model.logits_encoded(stacked))
        return probabilities.reshape(rows.horizon, len(rows)).T


@dataclass
class StageWeighted:
    """P(win) = the CRM's stage probability, else the stage's training win-within-horizon rate, else overall."""

    rates: dict[str, float]
    overall: float

    def win_probability(self, rows: HazardRows) -> np.ndarray:
        crm = rows.features["stage_probability"].to_numpy(dtype=float)
        learned = rows.features["stage"].map(self.rates).fillna(self.overall).to_numpy(dtype=float)
        return np.clip(np.where(np.isnan(crm), learned, crm), 0.0, 1.0)


@dataclass
class DealModels:
    horizon: int
    schema: TableSchema
    families: dict[str, Any]  # name -> TrainedDealNet | TabularHazard
    stage_weighted: StageWeighted
    chosen: str
    choice_reasons: list[str] = field(default_factory=list)
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)  # held-out, per family
    reference: dict[str, Any] = field(default_factory=dict)  # per feature: the "typical" value for reasons
    errors: dict[str, str] = field(default_factory=dict)
    month_wins: list[int] = field(default_factory=list)  # observed wins per month ahead in the training rows
    reason_fields: list[str] = field(default_factory=list)  # the fields reasons are drawn from (None: all)

    def hazards(self, rows: HazardRows, sequences: ActivitySequences, *, family: str | None = None) -> np.ndarray:
        hazards = np.array(self.families[family or self.chosen].hazards(rows, sequences), dtype=np.float64)
        for k in range(1, hazards.shape[1]):
            if k < len(self.month_wins) and self.month_wins[k] < MIN_MONTH_WINS:
                hazards[:, k] = hazards[:, k - 1]
        return hazards

    def cumulative(self, rows: HazardRows, sequences: ActivitySequences, *, family: str | None = None) -> np.ndarray:
        """(rows, H) calibrated P(won by the end of month k)."""
        if (family or self.chosen) == "stage_weighted":
            raise ValueError("the stage-weighted baseline has no timing; use win_probability")
        return hazards_to_cumulative(self.hazards(rows, sequences, family=family))

    def win_probability(
        self, rows: HazardRows, sequences: ActivitySequences, *, family: str | None = None
    ) -> np.ndarray:
        """P(won within the horizon) of each row, from any family including stage_weighted."""
        if (family or self.chosen) == "stage_weighted":
            return self.stage_weighted.win_probability(rows)
        return self.cumulative(rows, sequences, family=family)[:, -1]

    def reasons(
        self, rows: HazardRows, sequences: ActivitySequences, *, top: int = 3, base: np.ndarray | None = None
    ) -> list[list[dict[str, Any]]]:
        """Per row the fields that move its win probability most against a typical value (occlusion), among the
        `reason_fields` that matter most overall (one model pass per field). `base`: the rows' win probability
        when already computed."""
        base = self.win_probability(rows, sequences) if base is None else base
        deltas = {}
        names = self.reason_fields or [c.name for c in self.schema.columns]
        for column in (self.schema.column(name) for name in names):
            if column.name not in self.reference or column.name not in rows.features:
                continue
            # Rows already at the typical value cannot move: only the others are scored again.
            reference = self.reference[column.name]
            values = rows.features[column.name]
            differs = np.flatnonzero(~(values == reference).to_numpy() | values.isna().to_numpy())
            delta = np.zeros(len(rows))
            if len(differs):
                subset = rows.take(differs)
                subset.features[column.name] = reference
                delta[differs] = base[differs] - self.win_probability(subset, sequences.take(differs))
            deltas[column.name] = delta
        names = list(deltas)
        if not names:
            return [[] for _ in range(len(rows))]
        matrix = np.stack([deltas[n] for n in names], axis=1)
        order = np.argsort(-np.abs(matrix), axis=1)[:, :top]
        out = []
        for row, picks in enumerate(order):
            factors = []
            for pick in picks:
                weight = float(matrix[row, pick])
                if abs(weight) < 1e-4:
                    continue
                column = self.schema.column(names[pick])
                factors.append(
                    {
                        "feature": column.name,
                        "label": f"{column.display_label} = {_shown(rows.features[column.name].iat[row], column)}",
                        "direction": "+" if weight > 0 else "-",
                        "weight": round(weight, 4),
                    }
                )
            out.append(factors)
        return out


def deal_models_fit(
    *,
    rows: HazardRows,
    sequences: ActivitySequences,
    schema: TableSchema | None = None,
    split: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
    lightgbm_configs: int = 8,
    net_params: DealNetParams | None = None,
    families: tuple[str, ...] = FAMILIES,
) -> DealModels:
    """Fit every family on `split` (train, valid, test positions; default: a seeded split by deal). Test rows
    with a known "won within the horizon" label give the held-out metrics and the gate's choice."""
    schema = schema or deal_schema()
    if not len(rows) or not rows.mask.any():
        raise ValueError("no labelled deal rows to train on")
    any_win = (rows.labels * rows.mask).max(axis=1)
    if any_win.sum() < 2 or (1 - any_win).sum() < 2:
        raise ValueError("training needs won deals and deals not won")
    if split is None:
        split = holdout_split(any_win, groups=rows.keys["deal_id"].to_numpy(), seed=seed)
    train_rows, valid_rows, test_rows = (np.asarray(part, dtype=np.int64) for part in split)
    fitted: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if "transformer" in families:
        params = net_params or DealNetParams(seed=seed)
        fitted["transformer"] = deal_net_fit(
            rows=rows, sequences=sequences, schema=schema, train_rows=train_rows, valid_rows=valid_rows, params=params
        )
    tabular_schema = _tabular_schema(schema)
    for name in ("lightgbm", "logistic"):
        if name not in families:
            continue
        try:
            fitted[name] = TabularHazard(
                model=_tabular_fit(
                    name, rows, sequences, tabular_schema, train_rows, valid_rows, seed, lightgbm_configs
                )
            )
        except ValueError as exc:  # e.g. one class only in a small split
            logger.warning("deal %s could not be trained: %s", name, exc)
            errors[name] = str(exc)
    stage = _stage_weighted_fit(rows.take(train_rows))
    models = DealModels(
        horizon=rows.horizon,
        schema=schema,
        families=fitted,
        stage_weighted=stage,
        chosen=next(iter(fitted), "stage_weighted"),
        reference=_reference(rows.features.iloc[train_rows], schema),
        errors=errors,
        month_wins=[int(v) for v in (rows.labels * rows.mask)[train_rows].sum(axis=0)],
    )
    if len(test_rows):
        test = rows.take(test_rows)
        known = ~np.isnan(test.won_within)
        probabilities = {
            name: models.win_probability(test, sequences.take(test_rows), family=name)[known]
            for name in [*fitted, "stage_weighted"]
        }
        y = test.won_within[known]
        models.metrics = {name: deal_metrics(y, p) for name, p in probabilities.items()}
        learned = {name: p for name, p in probabilities.items() if name != "stage_weighted"}
        if learned and len(np.unique(y)) == 2:
            choice = family_choose(labels=y, probabilities=learned)
            models.chosen, models.choice_reasons = choice.family, choice.reasons
    sample = np.sort(np.random.default_rng(seed).permutation(train_rows)[:REASON_SAMPLE])
    models.reason_fields = _reason_fields(models, rows.take(sample), sequences.take(sample))
    return models


def _reason_fields(models: DealModels, sample: HazardRows, sequences: ActivitySequences) -> list[str]:
    """The REASON_FIELDS fields whose occlusion moves the served model's win probability most on training rows."""
    names = [c.name for c in models.schema.columns if c.name in models.reference]
    if len(names) <= REASON_FIELDS or not len(sample):
        return names
    base = models.win_probability(sample, sequences)
    strength = {}
    for name in names:
        changed = HazardRows(
            features=sample.features.assign(**{name: models.reference[name]}),
            keys=sample.keys,
            labels=sample.labels,
            mask=sample.mask,
            won_within=sample.won_within,
        )
        strength[name] = float(np.mean(np.abs(base - models.win_probability(changed, sequences))))
    return sorted(names, key=lambda name: -strength[name])[:REASON_FIELDS]


def deal_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float | None]:
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if not len(y):
        return {"roc_auc": None, "brier": None, "rows": 0}
    return {
        "roc_auc": roc_auc(y.astype(int), p),
        "brier": brier_score(y, p),
        "rows": int(len(y)),
        "positives": int(y.sum()),
    }


def _tabular_schema(schema: TableSchema) -> TableSchema:
    extra = [ColumnSpec(name=name, kind="numeric") for name in (*SEQUENCE_AGGREGATES, "month_ahead")]
    return TableSchema(columns=(*schema.without_text().columns, *extra))


def _tabular_frame(features: pd.DataFrame, sequences: ActivitySequences) -> pd.DataFrame:
    aggregates = sequences.aggregates()
    return features.assign(**{name: aggregates[name] for name in SEQUENCE_AGGREGATES})


def _person_months(
    rows: HazardRows, sequences: ActivitySequences, positions: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    frame = _tabular_frame(rows.features, sequences).iloc[positions].reset_index(drop=True)
    mask, labels = rows.mask[positions], rows.labels[positions]
    parts, ys = [], []
    for k in range(rows.horizon):
        observed = np.flatnonzero(mask[:, k])
        parts.append(frame.iloc[observed].assign(month_ahead=float(k + 1)))
        ys.append(labels[observed, k])
    return pd.concat(parts, ignore_index=True), np.concatenate(ys).astype(int)


def _tabular_fit(
    name: str,
    rows: HazardRows,
    sequences: ActivitySequences,
    schema: TableSchema,
    train_rows: np.ndarray,
    valid_rows: np.ndarray,
    seed: int,
    lightgbm_configs: int,
) -> BaselineModel:
    frame, y = _person_months(rows, sequences, train_rows)
    valid_frame, valid_y = _person_months(rows, sequences, valid_rows)
    common = {
        "frame": frame,
        "labels": y,
        "valid_frame": valid_frame,
        "valid_labels": valid_y,
        "schema": schema,
        "seed": seed,
    }
    if name == "lightgbm":
        return lightgbm_baseline_fit(**common, n_configs=lightgbm_configs)
    return logistic_baseline_fit(**common)


def _stage_weighted_fit(train: HazardRows) -> StageWeighted:
    known = ~np.isnan(train.won_within)
    frame = pd.DataFrame({"stage": train.features["stage"].to_numpy()[known], "won": train.won_within[known]})
    overall = float(frame["won"].mean()) if len(frame) else 0.0
    return StageWeighted(rates=frame.groupby("stage")["won"].mean().to_dict(), overall=overall)


def _reference(features: pd.DataFrame, schema: TableSchema) -> dict[str, Any]:
    reference: dict[str, Any] = {}
    for column in schema.columns:
        if column.name not in features or column.kind == "text":
            continue
        values = features[column.name]
        if values.nunique(dropna=False) < 2:  # constant in training: it cannot be a reason
            continue
        if column.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().any():
                reference[column.name] = float(numbers.median())
        elif values.notna().any():
            reference[column.name] = values.mode().iat[0]
    return reference


def _shown(value: Any, column: ColumnSpec) -> str:
    if column.name == "log_amount" and isinstance(value, float) and not np.isnan(value):
        return f"{np.expm1(value):,.0f}"
    if isinstance(value, float):
        return "unknown" if np.isnan(value) else f"{value:,.0f}"
    return str(value) or "none"
