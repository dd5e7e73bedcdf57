"""Train the churn Transformer (ml.engine.nets.activity_sequence) on a churn frame. Pure torch/numpy/pandas: no Django.

Same recipe as the lead model (ml.engine.training): a seeded split by account (all snapshots of a company on one
side), the table preprocessor fitted on training rows only, AdamW with a positive-class weight for
imbalance, early stopping on validation loss, a wall-clock budget, Platt calibration on validation logits
and metrics (ml.engine.calibration) on test rows nothing was fitted on. What differs is the input: the table row
plus the account's recent activities, whose text embeddings are gathered per batch.

Importing this module registers the architecture with ml.engine.checkpoints, so churn checkpoints are saved, checked
(sha256) and loaded by the same code as lead checkpoints.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ml.engine.activity_sequences import N_DIRECTION_TOKENS, N_KIND_TOKENS, STEP_NUMERIC, ActivitySequences
from ml.engine.calibration import (
    Calibrator,
    calibrator_fit,
    classification_metrics,
    expected_calibration_error,
    sigmoid,
)
from ml.engine.checkpoints import ARCHITECTURES
from ml.engine.inference import device_resolve
from ml.engine.nets.activity_sequence import ChurnTransformer, ChurnTransformerConfig
from ml.engine.nets.ft_transformer import FTTransformerConfig
from ml.engine.schema import EncodedTable, TablePreprocessor, TableSchema
from ml.engine.training import EarlyStopping, TrainingParams, holdout_split

ARCHITECTURE = "churn_transformer"
ARCHITECTURES.setdefault(ARCHITECTURE, (ChurnTransformerConfig, ChurnTransformer))


@dataclass
class TrainedChurnModel:
    net: ChurnTransformer
    config: ChurnTransformerConfig
    preprocessor: TablePreprocessor
    calibrator: Calibrator
    metrics: dict[str, Any]
    log: list[dict[str, Any]]
    params: TrainingParams
    architecture: str = ARCHITECTURE
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


@dataclass
class _Inputs:
    """Everything the net reads, as tensors on one device; `batch` slices rows and gathers text."""

    numeric: torch.Tensor
    categorical: torch.Tensor
    kind: torch.Tensor
    direction: torch.Tensor
    step_numeric: torch.Tensor
    text_index: torch.Tensor
    vectors: torch.Tensor | None

    @classmethod
    def build(cls, encoded: EncodedTable, sequences: ActivitySequences, *, device: torch.device, text: bool) -> _Inputs:
        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(device)

        with_text = text and sequences.text_dim > 0
        return cls(
            numeric=tensor(encoded.numeric),
            categorical=tensor(encoded.categorical),
            kind=tensor(sequences.kind),
            direction=tensor(sequences.direction),
            step_numeric=tensor(sequences.numeric.astype(np.float32)),
            text_index=tensor(sequences.text_index),
            vectors=tensor(sequences.vectors.astype(np.float32)) if with_text else None,
        )

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    def batch(self, rows: torch.Tensor | slice) -> tuple[torch.Tensor, ...]:
        text = None
        if self.vectors is not None and len(self.vectors):
            index = self.text_index[rows]
            text = self.vectors[index.clamp(min=0)] * (index >= 0).unsqueeze(-1).to(self.vectors.dtype)
        return (
            self.numeric[rows],
            self.categorical[rows],
            self.kind[rows],
            self.direction[rows],
            self.step_numeric[rows],
            text,
        )


def churn_logits(
    net: ChurnTransformer,
    encoded: EncodedTable,
    sequences: ActivitySequences,
    *,
    device: torch.device,
    batch_size: int = 1024,
    mixed_precision: bool = True,
) -> np.ndarray:
    """Raw logits for every row, batched; bf16 autocast only on CUDA."""
    net.eval()
    inputs = _Inputs.build(encoded, sequences, device=device, text=net.config.text_dim > 0)
    logits = np.empty(len(inputs), dtype=np.float32)
    autocast = mixed_precision and device.type == "cuda"
    with torch.inference_mode():
        for start in range(0, len(inputs), max(1, batch_size)):
            rows = slice(start, min(len(inputs), start + batch_size))
            context = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if autocast else nullcontext()
            with context:
                logits[rows] = net(*inputs.batch(rows)).float().cpu().numpy()
    return logits


def train_churn_model(
    *,
    frame: pd.DataFrame,
    sequences: ActivitySequences,
    labels: pd.Series | np.ndarray,
    schema: TableSchema,
    params: TrainingParams | None = None,
    groups: np.ndarray | None = None,
    split: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> TrainedChurnModel:
    """Fit preprocessor, net and calibrator; `split` (train, valid, test positions) makes the baselines'
    rows the same. `params.text=False` trains the same net without the activity texts."""
    params = params or TrainingParams()
    params.validate()
    y = np.asarray(labels, dtype=np.float32).ravel()
    if len(y) != len(frame) or len(sequences) != len(frame):
        raise ValueError("frame, sequences and labels differ in length")
    if len(np.unique(y)) < 2:
        raise ValueError("training needs both churned and retained examples")
    if split is None:
        split = holdout_split(
            y, groups=groups, valid_fraction=params.valid_fraction, test_fraction=params.test_fraction, seed=params.seed
        )
    train_rows, valid_rows, test_rows = (np.asarray(part, dtype=np.int64) for part in split)
    preprocessor = TablePreprocessor(
        schema=schema.without_text(), min_frequency=params.min_frequency, max_categories=params.max_categories
    ).fit(frame, rows=train_rows, labels=y)  # target rates out-of-fold for the training rows
    encoded = preprocessor.transform(frame)
    config = ChurnTransformerConfig(
        table=FTTransformerConfig(
            n_numeric=encoded.numeric.shape[1],
            categorical_cardinalities=preprocessor.categorical_cardinalities,
            numeric_groups=preprocessor.numeric_groups,
            d_token=params.d_token,
            n_layers=params.n_layers,
            n_heads=params.n_heads,
            attention_dropout=params.attention_dropout,
            ffn_dropout=params.ffn_dropout,
            residual_dropout=params.residual_dropout,
        ),
        n_kinds=N_KIND_TOKENS,
        n_directions=N_DIRECTION_TOKENS,
        sequence_length=sequences.length,
        step_numeric=len(STEP_NUMERIC),
        text_dim=sequences.text_dim if params.text else 0,
        text_scale=math.sqrt(sequences.text_dim) if params.text and sequences.text_dim else 1.0,
    )
    device = device_resolve(params.device)
    inputs = _Inputs.build(encoded, sequences, device=device, text=config.text_dim > 0)
    targets = torch.from_numpy(y).to(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(params.seed)
        net, log = _fit(
            config=config,
            inputs=inputs,
            y=targets,
            train_rows=train_rows,
            valid_rows=valid_rows,
            params=params,
            device=device,
        )

    def logits_of(rows: np.ndarray) -> np.ndarray:
        return churn_logits(net, encoded.take(rows), sequences.take(rows), device=device, mixed_precision=False)

    valid_logits = logits_of(valid_rows)
    calibrator = calibrator_fit(valid_logits, y[valid_rows], method=params.calibration)
    test_logits = logits_of(test_rows)
    metrics = classification_metrics(y[test_rows], calibrator.transform(test_logits))
    metrics["ece_uncalibrated"] = expected_calibration_error(y[test_rows], sigmoid(test_logits))
    metrics["split_rows"] = {
        "train": len(train_rows),
        "train_used": len(train_rows),
        "valid": len(valid_rows),
        "test": len(test_rows),
    }
    metrics["best_epoch"] = min(log, key=lambda entry: entry["valid_loss"])["epoch"] if log else None
    return TrainedChurnModel(
        net=net,
        config=config,
        preprocessor=preprocessor,
        calibrator=calibrator,
        metrics=metrics,
        log=log,
        params=params,
        device=device,
    )


def _fit(
    *,
    config: ChurnTransformerConfig,
    inputs: _Inputs,
    y: torch.Tensor,
    train_rows: np.ndarray,
    valid_rows: np.ndarray,
    params: TrainingParams,
    device: torch.device,
) -> tuple[ChurnTransformer, list[dict[str, Any]]]:
    net = ChurnTransformer(config).to(device)
    decay = [
        p
        for name, p in net.named_parameters()
        if p.ndim >= 2
        and "tokenizer" not in name
        and "embedding" not in name
        and "norm" not in name
        and "cls_token" not in name
        and not name.startswith("activities.")
    ]
    decay_ids = {id(p) for p in decay}
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": params.weight_decay},
            {"params": [p for p in net.parameters() if id(p) not in decay_ids], "weight_decay": 0.0},
        ],
        lr=params.learning_rate,
    )
    train = torch.from_numpy(train_rows).to(device)
    valid = torch.from_numpy(valid_rows).to(device)
    positives = float(y[train].sum())
    pos_weight = min(params.max_pos_weight, max(1.0, (len(train_rows) - positives) / max(positives, 1.0)))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=device))
    generator = torch.Generator().manual_seed(params.seed)
    stopping = EarlyStopping(net, patience=params.patience, max_seconds=params.max_seconds)
    for epoch in range(1, params.epochs + 1):
        net.train()
        order = train[torch.randperm(len(train), generator=generator).to(device)]
        total = 0.0
        for start in range(0, len(order), params.batch_size):
            batch = order[start : start + params.batch_size]
            if len(batch) < 2 and len(order) > 1:
                continue
            loss = loss_fn(net(*inputs.batch(batch)), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        valid_loss = _loss(net, inputs, y, valid, loss_fn, params.batch_size * 8)
        if stopping.epoch_end(net, epoch=epoch, train_loss=total / max(len(train), 1), valid_loss=valid_loss):
            break
    return stopping.restore_best(net), stopping.log  # type: ignore[return-value]


def _loss(
    net: nn.Module, inputs: _Inputs, y: torch.Tensor, rows: torch.Tensor, loss_fn: nn.Module, batch_size: int
) -> float:
    net.eval()
    if not len(rows):
        return math.inf
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            total += float(loss_fn(net(*inputs.batch(batch)), y[batch])) * len(batch)
    return total / len(rows)
