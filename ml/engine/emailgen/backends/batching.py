"""Coalesce concurrent draft generations into one batched `generate_batch` (the GPU worker's batching).

On a GPU one decoding step for eight sequences costs about as much as for one, so drafts queued at the same
time should share a generation. The pipeline stays one-draft-at-a-time: a worker running several drafts at
once (a threads pool, `--pool threads --concurrency N`) calls `generate` from each thread; this wrapper holds
each call up to `window` seconds for others with the same settings (tokens, temperature, schema), runs them as
one `generate_batch` on the wrapped backend, and hands each caller its own result or error. A lone call runs
alone after the window; a full batch runs at once. Calls with different settings never share a batch.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from ml.engine.emailgen.backends.base import BackendError
from ml.engine.emailgen.types import GenerationResult


class BatchBackend(Protocol):
    name: str
    model_name: str

    def generate_batch(
        self,
        conversations: list[list[dict[str, str]]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        json_schema: dict | None = None,
    ) -> list[GenerationResult | BackendError]: ...


@dataclass
class _Pending:
    messages: list[dict[str, str]]
    seed: int
    done: threading.Event = field(default_factory=threading.Event)
    result: GenerationResult | BackendError | None = None


@dataclass
class _Group:
    key: str
    max_new_tokens: int
    temperature: float
    json_schema: dict | None
    items: list[_Pending] = field(default_factory=list)
    full: threading.Event = field(default_factory=threading.Event)
    closed: bool = False


class BatchingBackend:
    """A backend whose concurrent `generate` calls run as batches of up to `max_batch` on `inner`."""

    def __init__(self, *, inner: BatchBackend, max_batch: int = 8, window: float = 0.05) -> None:
        self.inner = inner
        self.max_batch = max(1, max_batch)
        self.window = window
        self.name = inner.name
        self.model_name = inner.model_name
        self.continues_assistant_message = getattr(inner, "continues_assistant_message", False)
        self._lock = threading.Lock()
        self._open: dict[str, _Group] = {}
        self.batch_sizes: list[int] = []  # what ran, for tests and benchmarks

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        json_schema: dict | None = None,
    ) -> GenerationResult:
        key = json.dumps([max_new_tokens, temperature, json_schema], sort_keys=True, default=str)
        pending = _Pending(messages=messages, seed=seed)
        with self._lock:
            group = self._open.get(key)
            leader = group is None
            if leader:
                group = _Group(key, max_new_tokens, temperature, json_schema)
                self._open[key] = group
            group.items.append(pending)
            if len(group.items) >= self.max_batch:
                self._close(group)
                group.full.set()
        if leader:
            group.full.wait(self.window)
            with self._lock:
                self._close(group)
            self._run(group)
        pending.done.wait()
        if isinstance(pending.result, BackendError):
            raise pending.result
        assert pending.result is not None
        return pending.result

    def _close(self, group: _Group) -> None:
        if not group.closed:
            group.closed = True
            self._open.pop(group.key, None)

    def _run(self, group: _Group) -> None:
        """The leader's job: one batched generation, then every waiting caller is woken with its slot."""
        results: list[Any]
        try:
            # The batch samples with one seed: the first caller's (each draft's seed still differs per attempt).
            results = self.inner.generate_batch(
                [item.messages for item in group.items],
                max_new_tokens=group.max_new_tokens,
                temperature=group.temperature,
                seed=group.items[0].seed,
                json_schema=group.json_schema,
            )
        except BackendError as exc:
            results = [exc] * len(group.items)
        except Exception as exc:  # noqa: BLE001 -- never leave a caller waiting forever
            results = [BackendError(f"Batched generation failed: {exc}")] * len(group.items)
        self.batch_sizes.append(len(group.items))
        for item, result in zip(group.items, results, strict=True):
            item.result = result
            item.done.set()


_SHARED: dict[tuple, BatchingBackend] = {}
_SHARED_LOCK = threading.Lock()


def batching_backend_shared(*, key: tuple, inner: BatchBackend, max_batch: int) -> BatchingBackend:
    """One wrapper per model and batch size in the process: the worker's threads must meet in the same one."""
    with _SHARED_LOCK:
        shared = _SHARED.get((*key, max_batch))
        if shared is None:
            shared = _SHARED[(*key, max_batch)] = BatchingBackend(inner=inner, max_batch=max_batch)
        return shared
