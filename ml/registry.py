"""Where model artifacts live and the per-process model cache: the Django side of checkpoints.

Files live under settings.MODEL_STORE_DIR/<org_slug>/<task>/v<N>.pt (settings are read at call time, never at
import); their sha256 is stored on the ModelVersion and checked on load, so a swapped or truncated file is
refused. The checkpoint format itself (save, read, load, ARCHITECTURES, CheckpointError) is pure code in
ml.engine.checkpoints.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from threading import Lock

from ml.engine.checkpoints import CheckpointError, checkpoint_load
from ml.engine.inference import ScoringModel

CACHE_SIZE = 8


# --- where artifacts live (settings are read at call time, never at import) -------------------------------
def artifact_relative_path(*, organization_slug: str, task: str, version: int) -> str:
    return f"{organization_slug}/{task}/v{version}.pt"


def artifact_absolute_path(relative: str) -> Path:
    from django.conf import settings

    root = Path(settings.MODEL_STORE_DIR).resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise CheckpointError(f"artifact path {relative!r} leaves the model store")
    return path


# --- one load per worker process ----------------------------------------------------------------------------
_cache: OrderedDict[tuple[int, str], ScoringModel] = OrderedDict()
_cache_lock = Lock()


def model_load_cached(*, model_version_id: int, artifact_path: str, sha256: str, device: str = "auto") -> ScoringModel:
    """The model of a ModelVersion, loaded once per process (LRU keyed by version id + sha256, so a
    re-written artifact is never served from a stale cache entry)."""
    key = (model_version_id, sha256)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    model = checkpoint_load(path=artifact_absolute_path(artifact_path), device=device, expected_sha256=sha256 or None)
    with _cache_lock:
        _cache[key] = model
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def model_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()
