"""The deal Transformer: the churn net's inputs (FT-Transformer field tokens + the deal's activity sequence with
text embeddings, ml.engine.nets.activity_sequence) with a hazard head of H monthly logits.

The H outputs are the FT-Transformer's ensemble members (`n_members = H`): each month owns the last block and a
head and shares everything below, so month k's hazard can weigh the fields its own way (a close date next month
matters for month 2, not month 1) at the cost of a CLS-only block per month. Loss: binary cross-entropy of each
observed, at-risk month (ml.engine.deals.hazard), censored months masked out. One Platt calibrator over the
validation rows' observed month logits. Pure torch/numpy: no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ml.engine.activity_sequences import N_DIRECTION_TOKENS, N_KIND_TOKENS, STEP_NUMERIC, ActivitySequences
from ml.engine.calibration import Calibrator, calibrator_fit
from ml.engine.checkpoints import ARCHITECTURES
from ml.engine.deals.hazard import HazardRows
from ml.engine.nets.activity_sequence import ChurnTransformer, ChurnTransformerConfig
from ml.engine.nets.ft_transformer import FTTransformerConfig
from ml.engine.schema import TablePreprocessor, TableSchema
from ml.engine.training import EarlyStopping

ARCHITECTURE = "deal_hazard_transformer"


class DealHazardNet(ChurnTransformer):
    def forward(  # type: ignore[override]
        self,
        numeric: torch.Tensor,
        categorical: torch.Tensor,
        kind: torch.Tensor,
        direction: torch.Tensor,
        step_numeric: torch.Tensor,
        step_text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hazard logits (B, H): one per month ahead."""
        extra = self.activities(kind, direction, step_numeric, step_text)
        return self.table.member_logits(numeric, categorical, extra_tokens=extra)


ARCHITECTURES.setdefault(ARCHITECTURE, (ChurnTransformerConfig, DealHazardNet))


@dataclass
class DealNetParams:
    d_token: int = 32
    n_layers: int = 1
    n_heads: int = 4
    dropout: float = 0.1
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 5
    max_seconds: float | None = 90.0
    seed: int = 0
    min_frequency: int = 5
    text: bool = True


@dataclass
class TrainedDealNet:
    net: DealHazardNet
    config: ChurnTransformerConfig
    preprocessor: TablePreprocessor
    calibrator: Calibrator
    log: list[dict[str, Any]]
    params: DealNetParams
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def logits(self, rows: HazardRows, sequences: ActivitySequences, *, batch_size: int = 2048) -> np.ndarray:
        encoded = self.preprocessor.transform(rows.features)
        inputs = _inputs(encoded.numeric, encoded.categorical, sequences, self.device, self.config.text_dim > 0)
        self.net.eval()
        out = np.empty((len(rows), self.config.table.n_members), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                part = slice(start, min(len(rows), start + batch_size))
                out[part] = self.net(*_batch(inputs, part)).float().cpu().numpy()
        return out

    def hazards(self, rows: HazardRows, sequences: ActivitySequences) -> np.ndarray:
        return self.calibrator.transform(self.logits(rows, sequences))


def deal_net_fit(
    *,
    rows: HazardRows,
    sequences: ActivitySequences,
    schema: TableSchema,
    train_rows: np.ndarray,
    valid_rows: np.ndarray,
    params: DealNetParams | None = None,
    device: str = "cpu",
) -> TrainedDealNet:
    params = params or DealNetParams()
    if len(sequences) != len(rows):
        raise ValueError("rows and sequences differ in length")
    any_win = (rows.labels * rows.mask).max(axis=1) if len(rows) else np.zeros(0)
    preprocessor = TablePreprocessor(schema=schema.without_text(), min_frequency=params.min_frequency).fit(
        rows.features, rows=train_rows, labels=any_win
    )
    encoded = preprocessor.transform(rows.features)
    horizon = rows.horizon
    text_dim = sequences.text_dim if params.text else 0
    config = ChurnTransformerConfig(
        table=FTTransformerConfig(
            n_numeric=encoded.numeric.shape[1],
            categorical_cardinalities=preprocessor.categorical_cardinalities,
            numeric_groups=preprocessor.numeric_groups,
            d_token=params.d_token,
            n_layers=params.n_layers,
            n_heads=params.n_heads,
            attention_dropout=params.dropout,
            ffn_dropout=params.dropout,
            numeric_embedding="periodic",
            frequency_scale=0.03,
            n_members=horizon,
            folded_cls_attention=True,
        ),
        n_kinds=N_KIND_TOKENS,
        n_directions=N_DIRECTION_TOKENS,
        sequence_length=sequences.length,
        step_numeric=len(STEP_NUMERIC),
        text_dim=text_dim,
        text_scale=math.sqrt(text_dim) if text_dim else 1.0,
    )
    torch_device = torch.device(device)
    inputs = _inputs(encoded.numeric, encoded.categorical, sequences, torch_device, text_dim > 0)
    y = torch.from_numpy(rows.labels.astype(np.float32)).to(torch_device)
    mask = torch.from_numpy(rows.mask.astype(np.float32)).to(torch_device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        net = DealHazardNet(config).to(torch_device)
        optimizer = torch.optim.AdamW(net.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay)
        stopping = EarlyStopping(net, patience=params.patience, max_seconds=params.max_seconds)
        generator = torch.Generator().manual_seed(params.seed)
        train = torch.from_numpy(np.asarray(train_rows, dtype=np.int64))
        for epoch in range(1, params.epochs + 1):
            net.train()
            order = train[torch.randperm(len(train), generator=generator)]
            total, weight = 0.0, 0.0
            for start in range(0, len(order), params.batch_size):
                batch = order[start : start + params.batch_size].to(torch_device)
                loss, count = _masked_loss(net(*_batch(inputs, batch)), y[batch], mask[batch])
                if count == 0:
                    continue
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                total, weight = total + float(loss.detach()) * count, weight + count
            valid_loss = _evaluate(net, inputs, y, mask, np.asarray(valid_rows))
            if stopping.epoch_end(net, epoch=epoch, train_loss=total / max(weight, 1.0), valid_loss=valid_loss):
                break
        net = stopping.restore_best(net)
    trained = TrainedDealNet(
        net=net,
        config=config,
        preprocessor=preprocessor,
        calibrator=Calibrator(),
        log=stopping.log,
        params=params,
        device=torch_device,
    )
    valid = rows.take(np.asarray(valid_rows))
    valid_logits = trained.logits(valid, sequences.take(np.asarray(valid_rows)))
    trained.calibrator = calibrator_fit(valid_logits[valid.mask], valid.labels[valid.mask], method="platt")
    return trained


def _inputs(
    numeric: np.ndarray, categorical: np.ndarray, sequences: ActivitySequences, device: torch.device, text: bool
) -> dict[str, torch.Tensor | None]:
    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)

    return {
        "numeric": tensor(numeric.astype(np.float32)),
        "categorical": tensor(categorical),
        "kind": tensor(sequences.kind),
        "direction": tensor(sequences.direction),
        "step_numeric": tensor(sequences.numeric.astype(np.float32)),
        "text_index": tensor(sequences.text_index),
        "vectors": tensor(sequences.vectors.astype(np.float32)) if text and sequences.text_dim else None,
    }


def _batch(inputs: dict[str, torch.Tensor | None], rows: torch.Tensor | slice) -> tuple[torch.Tensor | None, ...]:
    text = None
    vectors = inputs["vectors"]
    if vectors is not None and len(vectors):
        index = inputs["text_index"][rows]
        text = vectors[index.clamp(min=0)] * (index >= 0).unsqueeze(-1).to(vectors.dtype)
    return (
        inputs["numeric"][rows],
        inputs["categorical"][rows],
        inputs["kind"][rows],
        inputs["direction"][rows],
        inputs["step_numeric"][rows],
        text,
    )


def _masked_loss(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, float]:
    count = float(mask.sum())
    losses = nn.functional.binary_cross_entropy_with_logits(logits.float(), y, reduction="none")
    return (losses * mask).sum() / max(count, 1.0), count


def _evaluate(net: nn.Module, inputs: dict, y: torch.Tensor, mask: torch.Tensor, rows: np.ndarray) -> float:
    net.eval()
    total, weight = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(rows), 4096):
            batch = torch.from_numpy(rows[start : start + 4096]).to(y.device)
            loss, count = _masked_loss(net(*_batch(inputs, batch)), y[batch], mask[batch])
            total, weight = total + float(loss) * count, weight + count
    return total / weight if weight else math.inf
