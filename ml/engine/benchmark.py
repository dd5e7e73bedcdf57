"""Benchmark the FT-Transformer against tuned LightGBM and logistic regression on any CSV.

`benchmark_dataset_load` reads a CSV into a feature frame, 0/1 labels and an inferred `TableSchema`, fixing
the usual export quirks and saying what it did in `notes`. `benchmark_run` splits rows into seeded
stratified K folds; in each fold the training part is split once more into fit / validation rows (stratified,
seeded) and all three models get exactly those rows: they fit (and tune) on the fit rows, early-stop or
calibrate on the validation rows, and are scored on the fold's test rows, which none of them saw.
Scoring throughput is measured in the same run on the same rows: model only (inputs encoded beforehand),
Transformer at batch 1,024 vs LightGBM's predict. Pure pandas/numpy/torch: no Django.

`--text` columns are embedded once per distinct value with the same all-MiniLM-L6-v2 encoder the CRM
models use (ml.engine.text_encoder) and read by the Transformer as text tokens; the baselines read the raw values
as categoricals (rare values folded together), as they would without an encoder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_datetime64_any_dtype

from ml.engine.baselines import lightgbm_baseline_fit, logistic_baseline_fit
from ml.engine.inference import predict_logits
from ml.engine.schema import KINDS, ColumnSpec, TableSchema, datetime_utc, looks_like_dates
from ml.engine.training import TrainingParams, train_tabular_model

MODELS = ("transformer", "lightgbm", "logistic")
METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece")
THROUGHPUT_BATCH = 1024
THROUGHPUT_MIN_ROWS = 20_480  # fold test rows are repeated up to this, so timings are not noise
NUMERIC_SHARE = 0.95  # a text column whose non-blank values are at least this numeric is a number column


@dataclass
class BenchmarkDataset:
    frame: pd.DataFrame  # text columns hold the raw strings
    labels: np.ndarray  # 0/1
    schema: TableSchema
    notes: list[str] = field(default_factory=list)
    # Text column -> embedding per row (None where blank), for the Transformer; empty without --text.
    embeddings: dict[str, pd.Series] = field(default_factory=dict)

    def transformer_frame(self) -> pd.DataFrame:
        """The frame with text columns replaced by their embeddings."""
        return self.frame.assign(**self.embeddings) if self.embeddings else self.frame


@dataclass
class BenchmarkResult:
    dataset: dict[str, Any]
    folds: list[dict[str, Any]]  # per fold: {"fold", "rows", models: {name: metrics + train_seconds}}
    throughput: dict[str, list[float]]  # model -> rows/s per fold
    notes: list[str]
    params: dict[str, Any]

    def summary(self) -> dict[str, dict[str, tuple[float, float] | None]]:
        """model -> metric -> (mean, std) over folds (std is the sample std; 0 with one fold)."""
        result: dict[str, dict[str, tuple[float, float] | None]] = {}
        models = self.folds[0]["models"].keys() if self.folds else []
        for model in models:
            result[model] = {}
            for key in (*METRICS, "train_seconds"):
                values = [fold["models"][model][key] for fold in self.folds if fold["models"][model][key] is not None]
                result[model][key] = _mean_std(values) if values else None
            if self.throughput.get(model):
                result[model]["rows_per_second"] = _mean_std(self.throughput[model])
        return result

    def to_dict(self) -> dict[str, Any]:
        summary = {
            model: {key: (None if value is None else {"mean": value[0], "std": value[1]}) for key, value in row.items()}
            for model, row in self.summary().items()
        }
        return {
            "dataset": self.dataset,
            "params": self.params,
            "notes": self.notes,
            "folds": self.folds,
            "throughput_rows_per_second": self.throughput,
            "summary": summary,
        }


def benchmark_dataset_load(
    *,
    csv_path: str | Path,
    target: str,
    positive: str | None = None,
    drop: Sequence[str] = (),
    text: Sequence[str] = (),
    na_values: Sequence[str] = (),
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> BenchmarkDataset:
    """Read a CSV for benchmarking. Blank cells and `na_values` are missing; all-empty columns (trailing
    commas), all-unique text columns (ids) and constant columns are dropped; text columns that are numbers
    apart from blanks (e.g. " " in a total) become numbers; text columns of dates (2024-03-01) become datetimes.
    `text` columns are embedded with `embed` (default: the MiniLM sentence encoder on CPU), each distinct value
    once."""
    notes: list[str] = []
    raw = pd.read_csv(csv_path, na_values=list(na_values) or None, keep_default_na=True, low_memory=False)
    if na_values:
        notes.append(f"values treated as missing: {', '.join(na_values)}")
    if target not in raw.columns:
        raise ValueError(f"target column {target!r} not in the CSV (columns: {', '.join(map(str, raw.columns))})")
    missing_drops = [name for name in drop if name not in raw.columns]
    if missing_drops:
        raise ValueError(f"--drop columns not in the CSV: {', '.join(missing_drops)}")
    missing_text = [name for name in text if name not in raw.columns]
    if missing_text:
        raise ValueError(f"--text columns not in the CSV: {', '.join(missing_text)}")
    raw = raw.map(lambda value: np.nan if isinstance(value, str) and not value.strip() else value)
    known = raw[target].notna()
    if not known.all():
        notes.append(f"{int((~known).sum())} rows without a target value dropped")
        raw = raw.loc[known].reset_index(drop=True)
    labels = _labels(raw[target], positive)
    frame = raw.drop(columns=[target, *drop])
    frame, dropped = _drop_useless(frame, keep=set(text))
    notes.extend(dropped)
    frame, converted = _coerce_numeric(frame, keep=set(text))
    if converted:
        notes.append(f"text columns read as numbers (blanks = missing): {', '.join(converted)}")
    inferred = TableSchema.infer(frame)
    dates = [c.name for c in inferred.columns if c.kind == "datetime" and not is_datetime64_any_dtype(frame[c.name])]
    if dates:  # parsed once here instead of at every encoding
        frame = frame.assign(**{name: datetime_utc(frame[name]) for name in dates})
        notes.append(
            f"date columns ({', '.join(map(str, dates))}) read as dates: elapsed days, day of year, month and weekday"
        )
    text = [name for name in text if name in frame.columns]
    columns = tuple(ColumnSpec(name=c.name, kind="text") if c.name in set(text) else c for c in inferred.columns)
    embeddings = {name: _embed_column(frame[name], embed or _default_embed) for name in text}
    if text:
        notes.append(
            f"--text columns ({', '.join(text)}) are embedded with all-MiniLM-L6-v2 and read by the Transformer as "
            "text tokens; the baselines get them treated as categorical (rare values folded into one level)"
        )
    return BenchmarkDataset(
        frame=frame, labels=labels, schema=TableSchema(columns=columns), notes=notes, embeddings=embeddings
    )


def benchmark_run(
    *,
    dataset: BenchmarkDataset,
    folds: int = 5,
    seed: int = 0,
    models: Iterable[str] = MODELS,
    params: TrainingParams | None = None,
    n_jobs: int = 1,
    lightgbm_configs: int = 16,
    progress: Callable[[str], None] | None = None,
) -> BenchmarkResult:
    """Train and evaluate every model on the same seeded stratified folds."""
    from sklearn.model_selection import StratifiedKFold

    models = tuple(models)
    unknown = sorted(set(models) - set(MODELS))
    if unknown or not models:
        raise ValueError(f"unknown models: {', '.join(unknown) or '(none)'} (choose from {', '.join(MODELS)})")
    params = params or TrainingParams(seed=seed)
    y = dataset.labels
    if folds < 2:
        raise ValueError("folds must be >= 2")
    if int(np.bincount(y, minlength=2).min()) < folds:
        raise ValueError(f"each class needs at least {folds} rows for {folds} folds")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_results: list[dict[str, Any]] = []
    throughput: dict[str, list[float]] = {}
    for number, (train_part, test_part) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
        fit_rows, valid_rows = _inner_split(train_part, y, fraction=params.valid_fraction, seed=seed + number)
        fold = {
            "fold": number,
            "rows": {"fit": len(fit_rows), "valid": len(valid_rows), "test": len(test_part)},
            "models": {},
        }
        trained: dict[str, Any] = {}
        for model in models:
            metrics, fitted = _train_one(
                model,
                dataset=dataset,
                rows=(fit_rows, valid_rows, test_part),
                params=params,
                seed=seed,
                n_jobs=n_jobs,
                lightgbm_configs=lightgbm_configs,
            )
            fold["models"][model] = metrics
            trained[model] = fitted
            if progress:
                progress(
                    f"fold {number}/{folds} {model:<11} roc_auc {_fmt(metrics['roc_auc'])} "
                    f"brier {_fmt(metrics['brier'])} {metrics['train_seconds']:.1f}s"
                )
        test_frames = (dataset.transformer_frame().iloc[test_part], dataset.frame.iloc[test_part])
        for model, rows_per_second in _throughput(trained, *test_frames).items():
            throughput.setdefault(model, []).append(rows_per_second)
        fold_results.append(fold)
    return BenchmarkResult(
        dataset={
            "rows": len(y),
            "positives": int(y.sum()),
            "base_rate": float(y.mean()),
            "columns": {kind: dataset.schema.names(kind) for kind in KINDS},
        },
        folds=fold_results,
        throughput=throughput,
        notes=list(dataset.notes),
        params={
            "folds": folds,
            "seed": seed,
            "n_jobs": n_jobs,
            "lightgbm_configs": lightgbm_configs,
            "transformer": params.to_dict(),
        },
    )


def benchmark_table(result: BenchmarkResult) -> str:
    """The printed comparison: mean ± std over folds, then scoring throughput."""
    summary = result.summary()
    headers = ("model", "ROC-AUC", "PR-AUC", "Brier", "log loss", "ECE", "train s")
    rows = []
    for model, row in summary.items():
        cells = [model]
        for key in (*METRICS, "train_seconds"):
            value = row[key]
            digits = 1 if key == "train_seconds" else 4
            cells.append("n/a" if value is None else f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}")
        rows.append(cells)
    widths = [max(len(str(line[i])) for line in (headers, *rows)) for i in range(len(headers))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip() for line in (headers, *rows)
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if result.throughput:
        lines.append("")
        lines.append("scoring throughput, model only (inputs pre-encoded), rows/s, mean ± std over folds:")
        for model, values in result.throughput.items():
            mean, std = _mean_std(values)
            how = f"batch {THROUGHPUT_BATCH}" if model == "transformer" else "predict, all rows at once"
            lines.append(f"  {model:<11} {mean:,.0f} ± {std:,.0f}  ({how})")
    return "\n".join(lines)


# --- one model on one fold ------------------------------------------------------------------------------------
def _train_one(
    model: str,
    *,
    dataset: BenchmarkDataset,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    params: TrainingParams,
    seed: int,
    n_jobs: int,
    lightgbm_configs: int,
) -> tuple[dict[str, Any], Any]:
    fit_rows, valid_rows, test_rows = rows
    frame, y = dataset.frame, dataset.labels
    started = time.perf_counter()
    if model == "transformer":
        trained = train_tabular_model(
            frame=dataset.transformer_frame(),
            labels=y,
            schema=dataset.schema,
            params=params,
            split=(fit_rows, valid_rows, test_rows),
        )
        seconds = time.perf_counter() - started
        metrics = {key: value for key, value in trained.metrics.items() if key != "split_rows"}
        metrics["epochs"] = len(trained.log)
        return {**metrics, "train_seconds": seconds}, trained
    fit = lightgbm_baseline_fit if model == "lightgbm" else logistic_baseline_fit
    extra = {"n_configs": lightgbm_configs} if model == "lightgbm" else {}
    baseline = fit(
        frame=frame.iloc[fit_rows],
        labels=y[fit_rows],
        valid_frame=frame.iloc[valid_rows],
        valid_labels=y[valid_rows],
        schema=dataset.schema,
        seed=seed,
        n_jobs=n_jobs,
        min_frequency=params.min_frequency,
        **extra,
    )
    metrics = baseline.evaluate(frame.iloc[test_rows], y[test_rows])
    metrics["chosen_params"] = baseline.params
    return {**metrics, "train_seconds": baseline.train_seconds}, baseline


def _throughput(trained: dict[str, Any], transformer_rows: pd.DataFrame, rows: pd.DataFrame) -> dict[str, float]:
    """rows/s of the Transformer (batch 1,024) and LightGBM predict on the same rows, encoding excluded
    (`transformer_rows` are `rows` with text columns already embedded)."""
    repeats = max(1, math.ceil(THROUGHPUT_MIN_ROWS / max(len(rows), 1)))
    frame = pd.concat([rows] * repeats, ignore_index=True)
    result = {}
    if "transformer" in trained:
        model = trained["transformer"]
        encoded = model.preprocessor.transform(pd.concat([transformer_rows] * repeats, ignore_index=True))
        predict_logits(model.net, encoded.take(slice(0, THROUGHPUT_BATCH)), device=model.device)  # warm-up
        started = time.perf_counter()
        predict_logits(model.net, encoded, device=model.device, batch_size=THROUGHPUT_BATCH, mixed_precision=False)
        result["transformer"] = len(frame) / (time.perf_counter() - started)
    if "lightgbm" in trained:
        model = trained["lightgbm"]
        encoded = model.encode(frame)
        model.logits_encoded(encoded.iloc[:THROUGHPUT_BATCH])  # warm-up
        started = time.perf_counter()
        model.logits_encoded(encoded)
        result["lightgbm"] = len(frame) / (time.perf_counter() - started)
    return result


# --- loading helpers ------------------------------------------------------------------------------------------
def _labels(column: pd.Series, positive: str | None) -> np.ndarray:
    values = column.astype(object).map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    values = values.str.strip()
    distinct = sorted(values.unique())
    if positive is None:
        for candidate in ("1", "True", "true", "Yes", "yes"):
            if candidate in distinct and len(distinct) == 2:
                positive = candidate
                break
        else:
            raise ValueError(f"pass --positive: the target has values {distinct[:10]}")
    if positive not in distinct:
        raise ValueError(f"positive value {positive!r} not in the target (values: {distinct[:10]})")
    labels = (values == positive).to_numpy().astype(int)
    if labels.min() == labels.max():
        raise ValueError("the target has a single class")
    return labels


def _drop_useless(frame: pd.DataFrame, *, keep: set[str]) -> tuple[pd.DataFrame, list[str]]:
    empty = [name for name in frame.columns if frame[name].isna().all()]
    constant = [name for name in frame.columns if name not in empty and frame[name].nunique(dropna=False) == 1]
    ids = [
        name
        for name in frame.columns
        if name not in keep
        and name not in empty
        and not pd.api.types.is_numeric_dtype(frame[name])
        and len(frame) >= 20
        and frame[name].notna().all()
        and frame[name].nunique() == len(frame)
        and not looks_like_dates(frame[name])  # timestamps are often all distinct, yet they are no ids
    ]
    notes = []
    if empty:
        notes.append(f"all-empty columns dropped: {', '.join(map(str, empty))}")
    if constant:
        notes.append(f"constant columns dropped: {', '.join(map(str, constant))}")
    if ids:
        notes.append(f"id columns (all values unique) dropped: {', '.join(map(str, ids))}")
    return frame.drop(columns=[*empty, *constant, *ids]), notes


def _coerce_numeric(frame: pd.DataFrame, *, keep: set[str]) -> tuple[pd.DataFrame, list[str]]:
    converted = []
    frame = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if name in keep or pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        present = column.dropna()
        if present.empty:
            continue
        numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
        if numbers.notna().mean() >= NUMERIC_SHARE:
            frame[name] = pd.to_numeric(
                column.astype(object).map(lambda v: str(v).strip() if pd.notna(v) else v), errors="coerce"
            )
            converted.append(str(name))
    return frame, converted


def _default_embed(texts: list[str]) -> np.ndarray:
    from ml.engine.text_encoder import encoder_get  # loads the model: only when a --text column is given

    return encoder_get(device="cpu", threads=torch.get_num_threads()).encode(texts)


def _embed_column(column: pd.Series, embed: Callable[[list[str]], np.ndarray]) -> pd.Series:
    """One vector per row (None where blank); each distinct text is encoded once."""
    texts = [None if pd.isna(value) or not str(value).strip() else str(value) for value in column.tolist()]
    distinct = sorted({text for text in texts if text is not None})
    vectors = dict(zip(distinct, embed(distinct), strict=True)) if distinct else {}
    return pd.Series([None if text is None else vectors[text] for text in texts], index=column.index, dtype=object)


def _inner_split(rows: np.ndarray, y: np.ndarray, *, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (fit, validation) positions within `rows`; seeded."""
    rng = np.random.default_rng(seed)
    valid = []
    for value in (0, 1):
        members = rng.permutation(rows[y[rows] == value])
        valid.append(members[: max(1, round(len(members) * fraction))])
    valid_rows = np.sort(np.concatenate(valid))
    return np.setdiff1d(rows, valid_rows), valid_rows


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
