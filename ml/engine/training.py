"""Train an FT-Transformer on a feature frame. Pure torch/numpy/pandas: no Django.

Rows are split train / validation / test by group (a contact appears in several snapshots: all its rows
land on one side, so the held-out numbers are not flattered by memorised contacts), stratified by label
and seeded. The preprocessor is fitted on the training rows only. Training uses AdamW, a positive-class
weight for imbalance and early stopping on validation loss; the calibrator is fitted on validation logits;
the reported metrics come from the test rows, which neither training nor calibration saw.
Text columns of the schema (sentence embeddings, see ml.engine.schema) become text tokens of the net;
`TrainingParams.text=False` drops them, which trains exactly the text-free model.

What closes the gap to gradient boosting on small tables (checkpoints record their config, so older ones
score as before): numeric embeddings (`numeric_embedding`, PLR by default, see ml.engine.nets.numeric_embeddings),
an ensemble of `n_members` heads on a shared trunk whose mean logit is calibrated and served (every member
trained on its own loss), a linear warm-up then cosine learning rate, and a small search
(`search_candidates`, off by default: it multiplies training time and did not beat the defaults on the
shared tables): each candidate of SEARCH_CANDIDATES is a full training run on the training rows, the one
with the lowest validation loss wins, and test rows never reach `_fit_net`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ml.engine.calibration import (
    Calibrator,
    calibrator_fit,
    classification_metrics,
    expected_calibration_error,
    sigmoid,
)
from ml.engine.inference import ScoringModel, device_resolve, predict_logits
from ml.engine.nets.ft_transformer import FTTransformer, FTTransformerConfig
from ml.engine.schema import EncodedTable, TablePreprocessor, TableSchema

ARCHITECTURE = "ft_transformer"
LR_SCHEDULES = ("constant", "cosine")
# Alternatives the search tries after the params themselves, most useful first: plain linear numeric tokens
# (PLR does not help every table: on the X Education leads it overfits), then PLR's frequency scale, the one
# knob the embeddings paper found to matter, then the step size. Each is a full training run: keep it short.
SEARCH_CANDIDATES: tuple[dict[str, Any], ...] = (
    {"numeric_embedding": "linear"},
    {"frequency_scale": 0.1},
    {"learning_rate": 3e-4},
)


@dataclass
class TrainingParams:
    # One wide block: its CLS-only attention is folded (ml.engine.nets.ft_transformer), so three ensemble heads on
    # 64-d tokens score faster on a CPU than the former two 32-d blocks, and match or beat them on the shared
    # Telco and X Education tables (ml_benchmark, 5 folds).
    d_token: int = 64
    n_layers: int = 1
    n_heads: int = 8
    attention_dropout: float = 0.1
    ffn_dropout: float = 0.1
    residual_dropout: float = 0.0
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 4  # epochs without a better validation loss before stopping
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    calibration: str = "platt"
    min_frequency: int = 5  # categories seen fewer times become "<rare>"
    max_categories: int = 1000
    max_pos_weight: float = 50.0
    # Training rows per epoch at most: above it negatives are subsampled (seeded), every positive kept.
    # Snapshots repeat contacts, so extra negatives add little but cost CPU time linearly.
    max_train_rows: int | None = 12_000
    max_seconds: float | None = None  # wall-clock budget; the best epoch so far is kept
    device: str = "cpu"
    text: bool = True  # read the schema's text columns (embeddings) as tokens
    # Numeric embeddings (see ml.engine.nets.numeric_embeddings): "periodic" (PLR) or "linear" (the paper's x * W_j).
    numeric_embedding: str = "periodic"
    n_frequencies: int = 16
    frequency_scale: float = 0.03
    n_members: int = 3  # ensemble heads sharing the tokenizer and all blocks but the last; logit = their mean
    # Learning rate: linear warm-up over `warmup_epochs`, then "cosine" decay to 0 at `epochs` (or "constant").
    lr_schedule: str = "cosine"
    warmup_epochs: float = 1.0
    # Small hyper-parameter search: the first `search_candidates` of SEARCH_CANDIDATES (overrides of these
    # params), each trained on the training rows and judged by validation loss; 1 = no search.
    search_candidates: int = 1

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TrainingParams:
        """Build from user/JSON params; unknown keys are an error (a typo must not be silently ignored)."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training params: {', '.join(unknown)}")
        params = cls(**data)
        params.validate()
        return params

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, batch_size and patience must be >= 1")
        if not (0 < self.valid_fraction < 0.5 and 0 < self.test_fraction < 0.5):
            raise ValueError("valid_fraction and test_fraction must be in (0, 0.5)")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be positive")
        if self.lr_schedule not in LR_SCHEDULES or self.warmup_epochs < 0:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; warmup_epochs >= 0")
        if self.n_members < 1 or self.n_frequencies < 1 or self.frequency_scale <= 0:
            raise ValueError("n_members and n_frequencies must be >= 1, frequency_scale positive")
        if not 1 <= self.search_candidates <= len(SEARCH_CANDIDATES) + 1:
            raise ValueError(f"search_candidates must be in 1..{len(SEARCH_CANDIDATES) + 1}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainedModel:
    net: FTTransformer
    config: FTTransformerConfig
    preprocessor: TablePreprocessor
    calibrator: Calibrator
    metrics: dict[str, Any]  # held-out (test) metrics of the calibrated probabilities, plus split sizes
    log: list[dict[str, Any]]  # one entry per epoch
    params: TrainingParams
    architecture: str = ARCHITECTURE
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def scoring_model(self) -> ScoringModel:
        return ScoringModel(
            net=self.net, preprocessor=self.preprocessor, calibrator=self.calibrator, device=self.device
        )


def holdout_split(
    labels: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    valid_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions (train, valid, test). Whole groups move together; groups are stratified by whether
    any of their rows is positive, so each part keeps the positive rate."""
    y = np.asarray(labels).astype(int)
    group_ids = np.arange(len(y)) if groups is None else np.asarray(groups)
    unique, inverse = np.unique(group_ids, return_inverse=True)
    group_positive = np.zeros(len(unique), dtype=bool)
    np.logical_or.at(group_positive, inverse, y == 1)
    rng = np.random.default_rng(seed)
    part = np.zeros(len(unique), dtype=np.int8)  # 0 train, 1 valid, 2 test
    for stratum in (False, True):
        members = rng.permutation(np.flatnonzero(group_positive == stratum))
        n_test = _share(len(members), test_fraction)
        n_valid = _share(len(members), valid_fraction)
        part[members[:n_test]] = 2
        part[members[n_test : n_test + n_valid]] = 1
    row_part = part[inverse]
    return np.flatnonzero(row_part == 0), np.flatnonzero(row_part == 1), np.flatnonzero(row_part == 2)


def _subsample(rows: np.ndarray, y: np.ndarray, *, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or len(rows) <= limit:
        return rows
    positives = rows[y[rows] == 1]
    negatives = rows[y[rows] != 1]
    rng = np.random.default_rng(seed + 1)
    positives = positives if len(positives) <= limit // 2 else rng.choice(positives, limit // 2, replace=False)
    negatives = rng.choice(negatives, min(len(negatives), limit - len(positives)), replace=False)
    return np.sort(np.concatenate([positives, negatives]))


def _share(count: int, fraction: float) -> int:
    # At least one of each stratum in a held-out part once there are a few, so AUC is defined.
    share = int(round(count * fraction))
    return max(share, 1) if count >= 3 else share


def train_tabular_model(
    *,
    frame: pd.DataFrame,
    labels: pd.Series | np.ndarray,
    schema: TableSchema,
    params: TrainingParams | None = None,
    groups: np.ndarray | None = None,
    split: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    sample_weight: np.ndarray | None = None,
) -> TrainedModel:
    """Fit preprocessor, net and calibrator on `frame` (one row per example) and 0/1 `labels`.

    `split` gives explicit (train, valid, test) row positions instead of the seeded group split, so a
    benchmark can train every model on the same rows and evaluate on its own held-out fold.
    `sample_weight` (one per row; reps' feedback, see ml.engine.feedback_labels) weighs the training loss only;
    validation loss, calibration and held-out metrics stay unweighted."""
    params = params or TrainingParams()
    params.validate()
    y = np.asarray(labels, dtype=np.float32).ravel()
    if len(y) != len(frame):
        raise ValueError("frame and labels differ in length")
    if len(np.unique(y)) < 2:
        raise ValueError("training needs both positive and negative examples")
    if split is not None:
        train_rows, valid_rows, test_rows = (np.asarray(part, dtype=np.int64) for part in split)
    else:
        train_rows, valid_rows, test_rows = holdout_split(
            y,
            groups=groups,
            valid_fraction=params.valid_fraction,
            test_fraction=params.test_fraction,
            seed=params.seed,
        )
    fitted_rows = _subsample(train_rows, y, limit=params.max_train_rows, seed=params.seed)
    if not params.text:
        schema = schema.without_text()
    preprocessor = TablePreprocessor(
        schema=schema, min_frequency=params.min_frequency, max_categories=params.max_categories
    ).fit(frame, rows=train_rows, labels=y)  # only train_rows' labels are read; they get out-of-fold rates below
    encoded = preprocessor.transform(frame)
    device = device_resolve(params.device)
    # The search sees the training and validation rows only; the test rows are encoded but never passed in.
    train_part, valid_part = (encoded.take(fitted_rows), y[fitted_rows]), (encoded.take(valid_rows), y[valid_rows])
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float32)[fitted_rows]
    started = time.monotonic()
    search: list[dict[str, Any]] = []
    best: tuple[float, FTTransformer, list[dict[str, Any]], TrainingParams] | None = None
    for overrides in ({}, *SEARCH_CANDIDATES[: params.search_candidates - 1]):
        elapsed = time.monotonic() - started
        if best is not None and params.max_seconds is not None and elapsed > params.max_seconds:
            break  # out of time: keep the best candidate so far
        trial = replace(params, **overrides)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(params.seed)
            net, log = _fit_net(
                config=_net_config(params=trial, preprocessor=preprocessor, n_numeric=encoded.numeric.shape[1]),
                train=train_part,
                weights=weights,
                valid=valid_part,
                params=trial,
                device=device,
                max_seconds=None if params.max_seconds is None else max(params.max_seconds - elapsed, 0.0),
            )
        loss = min((entry["valid_loss"] for entry in log), default=math.inf)
        search.append({"overrides": overrides, "valid_loss": loss, "epochs": len(log)})
        if best is None or loss < best[0]:
            best = (loss, net, log, trial)
    assert best is not None
    _, net, log, params = best
    config = net.config
    valid_logits = predict_logits(net, encoded.take(valid_rows), device=device, mixed_precision=False)
    calibrator = calibrator_fit(valid_logits, y[valid_rows], method=params.calibration)
    test_logits = predict_logits(net, encoded.take(test_rows), device=device, mixed_precision=False)
    metrics = classification_metrics(y[test_rows], calibrator.transform(test_logits))
    metrics["ece_uncalibrated"] = expected_calibration_error(y[test_rows], sigmoid(test_logits))
    metrics["split_rows"] = {
        "train": len(train_rows),
        "train_used": len(fitted_rows),
        "valid": len(valid_rows),
        "test": len(test_rows),
    }
    metrics["best_epoch"] = min(log, key=lambda entry: entry["valid_loss"])["epoch"] if log else None
    if len(search) > 1:
        metrics["search"] = search
    return TrainedModel(
        net=net,
        config=config,
        preprocessor=preprocessor,
        calibrator=calibrator,
        metrics=metrics,
        log=log,
        params=params,
        device=device,
    )


def _net_config(*, params: TrainingParams, preprocessor: TablePreprocessor, n_numeric: int) -> FTTransformerConfig:
    return FTTransformerConfig(
        n_numeric=n_numeric,
        categorical_cardinalities=preprocessor.categorical_cardinalities,
        numeric_groups=preprocessor.numeric_groups,
        d_token=params.d_token,
        n_layers=params.n_layers,
        n_heads=params.n_heads,
        attention_dropout=params.attention_dropout,
        ffn_dropout=params.ffn_dropout,
        residual_dropout=params.residual_dropout,
        n_text=len(preprocessor.text_token_columns),
        text_dim=preprocessor.text_dim,
        numeric_embedding=params.numeric_embedding,
        n_frequencies=params.n_frequencies,
        frequency_scale=params.frequency_scale,
        n_members=params.n_members,
        folded_cls_attention=True,
    )


def _fit_net(
    *,
    config: FTTransformerConfig,
    train: tuple[EncodedTable, np.ndarray],
    valid: tuple[EncodedTable, np.ndarray],
    params: TrainingParams,
    device: torch.device,
    weights: np.ndarray | None = None,
    max_seconds: float | None = None,
) -> tuple[FTTransformer, list[dict[str, Any]]]:
    net = FTTransformer(config).to(device)
    optimizer = torch.optim.AdamW(_parameter_groups(net, params.weight_decay), lr=params.learning_rate)
    steps_per_epoch = max(1, math.ceil(len(train[1]) / params.batch_size))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(params=params, steps_per_epoch=steps_per_epoch))
    train_table, train_y = train
    valid_table, valid_y = valid
    row_weights = np.ones(len(train_y), dtype=np.float32) if weights is None else weights
    positives = float((row_weights * train_y).sum())
    pos_weight = min(params.max_pos_weight, max(1.0, (row_weights.sum() - positives) / max(positives, 1.0)))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=device))
    # Weighted rows: per-row losses times the weights, normalised by the batch's weight.
    row_loss_fn = (
        None
        if weights is None
        else nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=device), reduction="none")
    )
    w_train = None if weights is None else torch.from_numpy(np.ascontiguousarray(weights)).to(device)
    *inputs, y_train = _to_tensors(train_table, train_y, device)
    valid_tensors = _to_tensors(valid_table, valid_y, device)
    generator = torch.Generator().manual_seed(params.seed)
    stopping = EarlyStopping(
        net, patience=params.patience, max_seconds=params.max_seconds if max_seconds is None else max_seconds
    )
    for epoch in range(1, params.epochs + 1):
        net.train()
        order = torch.randperm(len(train_y), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(order), params.batch_size):
            batch = order[start : start + params.batch_size]
            if len(batch) < 2 and len(order) > 1:
                continue  # a single-row batch adds noise and nothing else
            # Every ensemble member gets its own loss (their mean): members trained on their own predictions
            # stay diverse, which is what averaging them needs. One member: exactly the plain loss.
            logits = net.member_logits(*(tensor[batch] for tensor in inputs))
            targets = y_train[batch].unsqueeze(-1).expand_as(logits)
            if row_loss_fn is None:
                loss = loss_fn(logits, targets)
            else:
                per_row = row_loss_fn(logits, targets).mean(dim=-1)
                loss = (per_row * w_train[batch]).sum() / w_train[batch].sum().clamp_min(1e-8)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(batch)
        valid_loss = _loss(net, valid_tensors, loss_fn, params.batch_size * 8)
        if stopping.epoch_end(net, epoch=epoch, train_loss=total / max(len(train_y), 1), valid_loss=valid_loss):
            break
    return stopping.restore_best(net), stopping.log


def _lr_factor(*, params: TrainingParams, steps_per_epoch: int) -> Any:
    """Step -> learning-rate multiplier: linear warm-up (attention is fragile in its first steps), then
    constant or a cosine decay to 0 at the last epoch (small steps late let the best epoch settle)."""
    warmup = params.warmup_epochs * steps_per_epoch
    total = max(params.epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if params.lr_schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(total - warmup, 1))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class EarlyStopping:
    """Per-epoch bookkeeping shared by the training loops: the epoch log, the best weights by validation loss,
    and when to stop (`patience` epochs without a better loss, or past the wall-clock budget)."""

    def __init__(self, net: nn.Module, *, patience: int, max_seconds: float | None) -> None:
        self.patience = patience
        self.max_seconds = max_seconds
        self.best_loss = math.inf
        self.best_state = copy.deepcopy(net.state_dict())
        self.stale = 0
        self.log: list[dict[str, Any]] = []
        self.started = self.epoch_started = time.monotonic()

    def epoch_end(self, net: nn.Module, *, epoch: int, train_loss: float, valid_loss: float) -> bool:
        """Record the epoch; True when training should stop."""
        now = time.monotonic()
        entry = {
            "epoch": epoch,
            "train_loss": round(train_loss, 6),
            "valid_loss": round(valid_loss, 6),
            "seconds": round(now - self.epoch_started, 3),
        }
        self.log.append(entry)
        self.epoch_started = now
        if valid_loss < self.best_loss - 1e-5:
            self.best_loss, self.best_state, self.stale = valid_loss, copy.deepcopy(net.state_dict()), 0
        else:
            self.stale += 1
        if self.stale >= self.patience:
            return True
        if self.max_seconds is not None and now - self.started > self.max_seconds:
            entry["stopped"] = "time budget"
            return True
        return False

    def restore_best(self, net: nn.Module) -> nn.Module:
        net.load_state_dict(self.best_state)
        return net.eval()


def _parameter_groups(net: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    # Decay only the dense weight matrices: tokenizer embeddings, CLS, norms and biases are not
    # "complexity" in the usual sense and decaying them hurts tabular transformers.
    decay, no_decay = [], []
    for name, parameter in net.named_parameters():
        embedding = name.startswith(("tokenizer.", "cls_token", "text_tokenizer.bias", "text_tokenizer.missing"))
        if parameter.ndim < 2 or embedding or "norm" in name:
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _to_tensors(table: EncodedTable, y: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(numeric, categorical[, text], y): the net's inputs in forward order, then the labels."""
    inputs = [table.numeric, table.categorical] + ([table.text] if table.has_text else [])
    return (
        *(torch.from_numpy(np.ascontiguousarray(array)).to(device) for array in inputs),
        torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).to(device),
    )


def _loss(net: nn.Module, tensors: tuple[torch.Tensor, ...], loss_fn: nn.Module, batch_size: int) -> float:
    net.eval()
    *inputs, y = tensors
    if len(y) == 0:
        return math.inf
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            batch = slice(start, start + batch_size)
            total += float(loss_fn(net(*(tensor[batch] for tensor in inputs)), y[batch])) * len(y[batch])
    return total / len(y)
