"""Self-describing checkpoints: the file format, written and read without Django.

A checkpoint holds everything needed to score without the training code's memory: architecture + config,
weights, the fitted preprocessor and calibrator (as JSON-like dicts), the feature list, held-out metrics,
training params and library versions. It loads with `torch.load(weights_only=True)` (no pickled code), and
it names its network by an ARCHITECTURES key ("ft_transformer", "churn_transformer"), never by a module path,
so moving code does not orphan a stored checkpoint. A caller passing `expected_sha256` (the one stored on the
ModelVersion) gets a swapped or truncated file refused. Where files live and the per-process model cache
are the Django side's business (ml.registry).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.engine.calibration import Calibrator
from ml.engine.inference import ScoringModel, device_resolve
from ml.engine.nets.ft_transformer import FTTransformer, FTTransformerConfig
from ml.engine.schema import TablePreprocessor
from ml.engine.training import TrainedModel

CHECKPOINT_FORMAT = "salesai.ml.checkpoint"
CHECKPOINT_VERSION = 1
ARCHITECTURES: dict[str, tuple[type, type]] = {"ft_transformer": (FTTransformerConfig, FTTransformer)}


class CheckpointError(Exception):
    """The file is missing, altered (sha256 mismatch) or not a checkpoint this code understands."""


def checkpoint_payload(*, trained: TrainedModel, task: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = trained.preprocessor.schema
    description = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "task": str(task),
        "architecture": trained.architecture,
        "config": trained.config.to_dict(),
        "preprocessor": trained.preprocessor.to_dict(),
        "calibrator": trained.calibrator.to_dict(),
        "features": [{"name": c.name, "kind": c.kind, "label": c.display_label} for c in schema.columns],
        "metrics": trained.metrics,
        "params": trained.params.to_dict(),
        "versions": {
            "torch": str(torch.__version__),
            "numpy": str(np.__version__),
            "python": platform.python_version(),
        },
        "created_at": datetime.now(UTC).isoformat(),
        "metadata": metadata or {},
    }
    # Everything but the weights goes through JSON: plain types only (no enums, numpy scalars...), which is
    # what `torch.load(weights_only=True)` accepts.
    payload = json.loads(json.dumps(description, default=_json_default))
    payload["state_dict"] = {name: tensor.detach().cpu() for name, tensor in trained.net.state_dict().items()}
    return payload


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime, Path)):
        return str(value)
    raise TypeError(f"not JSON-serialisable in a checkpoint: {type(value).__name__}")


def checkpoint_save(*, trained: TrainedModel, path: Path, task: str, metadata: dict[str, Any] | None = None) -> str:
    """Write atomically (temp file + rename, so readers never see half a file); return the sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = checkpoint_payload(trained=trained, task=task, metadata=metadata)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            torch.save(payload, handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return file_sha256(path)


def checkpoint_read(*, path: Path, expected_sha256: str | None = None) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if expected_sha256 and file_sha256(path) != expected_sha256:
        raise CheckpointError(f"checkpoint {path} does not match its recorded sha256")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a SalesAI checkpoint")
    if payload.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {payload.get('format_version')!r}")
    if payload.get("architecture") not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {payload.get('architecture')!r}")
    return payload


def checkpoint_load(*, path: Path, device: str = "cpu", expected_sha256: str | None = None) -> ScoringModel:
    payload = checkpoint_read(path=path, expected_sha256=expected_sha256)
    config_class, net_class = ARCHITECTURES[payload["architecture"]]
    net = net_class(config_class.from_dict(payload["config"]))
    net.load_state_dict(payload["state_dict"])
    target = device_resolve(device)
    net.to(target).eval()
    metadata = {
        key: payload[key]
        for key in ("task", "architecture", "features", "metrics", "params", "versions", "created_at", "metadata")
    }
    return ScoringModel(
        net=net,
        preprocessor=TablePreprocessor.from_dict(payload["preprocessor"]),
        calibrator=Calibrator.from_dict(payload["calibrator"]),
        device=target,
        metadata=metadata,
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
