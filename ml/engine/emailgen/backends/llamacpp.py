"""Local generation with llama.cpp (the prebuilt `llama-cpp-py-sync` wheel): the GGUF decoded natively.

Why: transformers dequantizes a GGUF to fp32 torch weights (about 14 tokens/s, 24-33 s to load, 1.2 GB for
SmolLM2-135M); llama.cpp runs the quantized file directly, loads in well under a second and stays small.

- One thread per worker process by default (`LLAMA_CPP_THREADS` overrides): on a small CPU two threads were
  slower than one; run more worker processes for concurrency.
- One model and context per process, calls serialised by a lock. Every call uses the same session key, so
  llama.cpp keeps the KV cache of the longest prompt prefix shared with the previous call (the system prompt,
  and for a retry of the same draft the whole fact sheet) and only evaluates the rest.
- `json_schema` becomes a GBNF grammar (the wheel's own JSON-schema converter, with whitespace between
  tokens removed so no budget is spent on indentation): the answer always parses as that JSON, up to the
  token limit (the parser keeps the complete sentences of a cut-off answer).
- Free text stops at the sign-off: the greeting, signature and footer are the pipeline's.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.engine.emailgen.backends.base import BackendError
from ml.engine.emailgen.types import GenerationResult

SESSION_KEY = "emailgen"
CONTEXT_TOKENS = 2048  # a structured prompt (~600 tokens) and its answer; the KV cache grows with it
# A free-text draft ends where its sign-off starts; what follows (names, titles, addresses) is ours to write.
SIGN_OFF_STOPS = [
    "\nBest",
    "\nKind regards",
    "\nWarm regards",
    "\nRegards",
    "\nSincerely",
    "\nCheers",
    "\nThanks,",
    "\nThank you,",
    "\nAll the best",
    "\nYours",
]
SPACE_RULE_RE = re.compile(r"(?m)^space ::= .*$")
LLAMA_FTYPE_MOSTLY_Q8_0 = 7

_MODELS: dict[tuple[str, int, int], Any] = {}
_LOCK = threading.Lock()
_LOAD_SECONDS: dict[tuple[str, int, int], float] = {}


def runtime_available() -> bool:
    """True when llama-cpp-py-sync imports and its native library loads on this machine (glibc, CPU)."""
    try:
        from llama_cpp_py_sync._cffi_bindings import get_lib
    except ImportError:
        return False
    try:
        get_lib()
    except (OSError, RuntimeError):
        return False
    return True


def threads_default() -> int:
    value = os.environ.get("LLAMA_CPP_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 1


def grammar_from_schema(schema: dict) -> str:
    """GBNF for `schema`, with optional whitespace between JSON tokens reduced to at most one space."""
    from llama_cpp_py_sync.constraints import response_format_to_grammar

    try:
        grammar = response_format_to_grammar({"type": "json_schema", "json_schema": {"schema": schema}})
    except (TypeError, ValueError) as exc:
        raise BackendError(f"The JSON schema cannot be enforced by llama.cpp: {exc}", retryable=False) from exc
    return SPACE_RULE_RE.sub('space ::= " "?', grammar or "", count=1)


def model_file_prepared(*, path: str) -> str:
    """The file to load for `path`: a Q4_1 GGUF is requantized once to Q8_0 (cached in LLAMA_CPP_CACHE_DIR,
    default ~/.cache/salesai/llama; LLAMA_CPP_REQUANTIZE=0 turns it off). This wheel's CPU build has no batched
    Q4_1 kernels, so a Q4_1 prompt is evaluated token by token; Q8_0 took 44-49 vs 28-35 prompt tokens/s in an
    interleaved test, for 145 instead of 95 MB and ~2 s once. Any failure keeps the original file."""
    if os.environ.get("LLAMA_CPP_REQUANTIZE", "1") == "0" or ".q4_1." not in Path(path).name.lower():
        return path
    source = Path(path)
    folder = Path(os.environ.get("LLAMA_CPP_CACHE_DIR") or Path.home() / ".cache" / "salesai" / "llama")
    stat = source.stat()
    target = (
        folder
        / f"{source.stem.replace('.Q4_1', '').replace('.q4_1', '')}.{stat.st_size}-{int(stat.st_mtime)}.Q8_0.gguf"
    )
    if target.is_file():
        return str(target)
    try:
        from llama_cpp_py_sync._cffi_bindings import get_ffi, get_lib

        lib, ffi = get_lib(), get_ffi()
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        params = lib.llama_model_quantize_default_params()
        params.ftype = LLAMA_FTYPE_MOSTLY_Q8_0
        params.allow_requantize = True
        params.nthread = 1
        status = lib.llama_model_quantize(
            str(source).encode(), str(partial).encode(), ffi.new("llama_model_quantize_params *", params)
        )
        if status != 0:
            partial.unlink(missing_ok=True)
            return path
        os.replace(partial, target)  # atomic: concurrent workers never load a half-written file
    except (ImportError, OSError, RuntimeError, AttributeError):
        return path
    return str(target)


def model_open(*, path: str, threads: int, context_tokens: int = CONTEXT_TOKENS) -> Any:
    """The process's llama.cpp model for `path`, loaded once. Raises a non-retryable BackendError."""
    key = (path, threads, context_tokens)
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
        started = time.perf_counter()
        try:
            from llama_cpp_py_sync import Llama
            from llama_cpp_py_sync._cffi_bindings import get_ffi, get_lib

            _log_silence(get_lib(), get_ffi())
            model = Llama(
                model_file_prepared(path=path),
                n_ctx=context_tokens,
                n_batch=512,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            raise BackendError(f"Could not load {path} with llama.cpp: {exc}", retryable=False) from exc
        _embeddings_off(model)
        _MODELS[key] = model
        _LOAD_SECONDS[key] = time.perf_counter() - started
        return model


def model_load_seconds() -> float | None:
    """Seconds the last model load of this process took (None before any)."""
    return next(reversed(_LOAD_SECONDS.values()), None)


def model_cache_clear() -> None:
    with _LOCK:
        for model in _MODELS.values():
            model.close()
        _MODELS.clear()
        _LOAD_SECONDS.clear()


def _embeddings_off(model: Any) -> None:
    """The wheel creates every context with embeddings on (for its audio features), which makes llama.cpp
    compute the output of every prompt token; text generation needs only the last one's logits."""
    lib, ctx = getattr(model, "_lib", None), getattr(model, "_ctx", None)
    if lib is not None and ctx is not None and hasattr(lib, "llama_set_embeddings"):
        lib.llama_set_embeddings(ctx, False)


_LOG_CALLBACK: Any = None


def _log_silence(lib: Any, ffi: Any) -> None:
    """llama.cpp logs every load and context to stderr; a worker's log keeps its errors only."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return

    def _log(level: int, text: Any, _data: Any) -> None:
        if level == 4 and text != ffi.NULL:  # GGML_LOG_LEVEL_ERROR (warnings include a notice per request)
            os.write(2, ffi.string(text))

    _LOG_CALLBACK = ffi.callback("ggml_log_callback", _log)
    lib.llama_log_set(_LOG_CALLBACK, ffi.NULL)


@dataclass
class LlamaCppBackend:
    model_path: str  # the .gguf file
    threads: int = 0  # 0: LLAMA_CPP_THREADS, else 1
    timeout: float = 120.0  # generation is cancelled (BackendError) after this many seconds
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    name: str = "local"
    continues_assistant_message: bool = False  # the chat template is llama.cpp's; messages are answered

    @property
    def model_name(self) -> str:
        return Path(self.model_path).name

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        json_schema: dict | None = None,
    ) -> GenerationResult:
        started = time.perf_counter()
        model = model_open(path=self.model_path, threads=self.threads or threads_default())
        grammar = grammar_from_schema(json_schema) if json_schema is not None else None
        if messages and messages[-1]["role"] == "assistant":
            messages = messages[:-1]  # a reply prefix ("Subject:") is for backends that continue one
        deadline = started + self.timeout
        stats: dict[str, Any] = {}
        try:
            with _LOCK:
                pieces = model.create_chat_completion(
                    messages,
                    max_tokens=max_new_tokens,
                    temperature=max(0.0, float(temperature)),
                    top_p=self.top_p if temperature > 0 else 1.0,
                    top_k=40 if temperature > 0 else 1,
                    repeat_penalty=self.repeat_penalty,
                    seed=seed,
                    grammar=grammar,
                    stop_sequences=None if grammar else SIGN_OFF_STOPS,
                    cache_key=SESSION_KEY,
                    cancel_callback=lambda: time.perf_counter() > deadline,
                    on_stats=stats.update,
                    stream=True,
                )
                # One chunk per sampled token (the final chunk only says "stop"): the completion's token count.
                chunks = [chunk["choices"][0]["delta"].get("content") or "" for chunk in pieces]
        except ValueError as exc:  # the prompt does not fit the context
            raise BackendError(f"llama.cpp refused the request: {exc}", retryable=False) from exc
        except RuntimeError as exc:  # cancelled at the deadline, or a decode failure
            raise BackendError(
                f"llama.cpp generation failed after {time.perf_counter() - started:.1f}s: {exc}"
            ) from exc
        text = "".join(chunks).strip()
        if not text:
            raise BackendError("The local model returned no text.")
        return GenerationResult(
            text=text,
            backend=self.name,
            model=self.model_name,
            seconds=time.perf_counter() - started,
            prompt_tokens=stats.get("input_tokens"),
            completion_tokens=sum(bool(chunk) for chunk in chunks),
        )
