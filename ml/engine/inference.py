"""Batched scoring of encoded tables. Pure torch/numpy: no Django (callers pass settings in).

The device is resolved when a model is loaded, never at import time: "auto" means CUDA (with bf16 autocast)
when a GPU is present, else CPU.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ml.engine.calibration import Calibrator
from ml.engine.schema import EncodedTable, TablePreprocessor


def device_resolve(name: str = "auto") -> torch.device:
    """ "auto" -> CUDA when available, else CPU; anything else is taken literally ("cpu", "cuda:1")."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def torch_threads_set(threads: int) -> None:
    """Intra-op threads for this process (settings.ML_TORCH_THREADS): small machines are shared."""
    threads = max(1, int(threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def predict_logits(
    net: nn.Module,
    encoded: EncodedTable,
    *,
    device: torch.device,
    batch_size: int = 1024,
    mixed_precision: bool = True,
) -> np.ndarray:
    """Raw logits for every row, `batch_size` rows at a time. bf16 autocast only on CUDA."""
    net.eval()
    rows = len(encoded)
    logits = np.empty(rows, dtype=np.float32)
    autocast = mixed_precision and device.type == "cuda"
    with torch.inference_mode():
        for start in range(0, rows, max(1, batch_size)):
            stop = min(rows, start + batch_size)
            numeric = torch.from_numpy(np.ascontiguousarray(encoded.numeric[start:stop])).to(device)
            categorical = torch.from_numpy(np.ascontiguousarray(encoded.categorical[start:stop])).to(device)
            text = _text_tensor(encoded, start, stop, device)
            context = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if autocast else nullcontext()
            with context:
                # Text-free nets (older checkpoints, plain test nets) keep their two-argument forward.
                batch = net(numeric, categorical) if text is None else net(numeric, categorical, text)
            logits[start:stop] = batch.float().cpu().numpy()
    return logits


def _text_tensor(encoded: EncodedTable, start: int, stop: int, device: torch.device) -> torch.Tensor | None:
    if not encoded.has_text:
        return None
    return torch.from_numpy(np.ascontiguousarray(encoded.text[start:stop])).to(device)


@dataclass
class ScoringModel:
    """A trained net with what it needs to score raw frames: its preprocessor and calibrator."""

    net: nn.Module
    preprocessor: TablePreprocessor
    calibrator: Calibrator
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    metadata: dict[str, Any] = field(default_factory=dict)

    def encode(self, frame: pd.DataFrame) -> EncodedTable:
        return self.preprocessor.transform(frame)

    def logits(self, encoded: EncodedTable, *, batch_size: int = 1024, mixed_precision: bool = True) -> np.ndarray:
        return predict_logits(
            self.net, encoded, device=self.device, batch_size=batch_size, mixed_precision=mixed_precision
        )

    def probabilities(self, encoded: EncodedTable, *, batch_size: int = 1024) -> np.ndarray:
        """Calibrated probabilities."""
        return self.calibrator.transform(self.logits(encoded, batch_size=batch_size))
