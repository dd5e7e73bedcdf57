"""Concurrent generations coalesced into batches: who shares a batch, and every caller gets its own answer."""

import threading

import pytest

from ml.engine.emailgen.backends import backend_from_config
from ml.engine.emailgen.backends.base import BackendError
from ml.engine.emailgen.backends.batching import BatchingBackend
from ml.engine.emailgen.types import GenerationResult


class FakeBatchBackend:
    name = "local"
    model_name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict] = []
        self.fail = fail

    def generate_batch(self, conversations, *, max_new_tokens, temperature, seed, json_schema=None):
        self.calls.append({"size": len(conversations), "temperature": temperature, "schema": json_schema})
        if self.fail:
            raise BackendError("CUDA out of memory")
        return [
            GenerationResult(text=f"answer to {c[-1]['content']}", backend="local", model="fake", seconds=0.1)
            for c in conversations
        ]


def _concurrently(backend: BatchingBackend, prompts: list[str], temperatures: list[float]) -> list:
    out: list = [None] * len(prompts)

    def call(number: int) -> None:
        try:
            out[number] = backend.generate(
                [{"role": "user", "content": prompts[number]}],
                max_new_tokens=10,
                temperature=temperatures[number],
                seed=number,
            ).text
        except BackendError as exc:
            out[number] = exc

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return out


def test_concurrent_calls_share_one_batch_and_each_gets_its_own_answer():
    inner = FakeBatchBackend()
    backend = BatchingBackend(inner=inner, max_batch=4, window=2.0)
    prompts = ["a", "b", "c", "d"]
    answers = _concurrently(backend, prompts, [0.0] * 4)
    assert answers == [f"answer to {p}" for p in prompts]
    assert [call["size"] for call in inner.calls] == [4]  # the full batch ran without waiting out the window


def test_a_lone_call_runs_alone_after_the_window():
    inner = FakeBatchBackend()
    backend = BatchingBackend(inner=inner, max_batch=8, window=0.01)
    assert _concurrently(backend, ["only"], [0.0]) == ["answer to only"]
    assert backend.batch_sizes == [1]


def test_calls_with_different_settings_never_share_a_batch():
    inner = FakeBatchBackend()
    backend = BatchingBackend(inner=inner, max_batch=2, window=2.0)
    answers = _concurrently(backend, ["a", "b", "c", "d"], [0.0, 0.5, 0.0, 0.5])
    assert answers == ["answer to a", "answer to b", "answer to c", "answer to d"]
    assert sorted((call["temperature"], call["size"]) for call in inner.calls) == [(0.0, 2), (0.5, 2)]


def test_a_failed_batch_is_an_error_for_every_caller():
    backend = BatchingBackend(inner=FakeBatchBackend(fail=True), max_batch=2, window=2.0)
    answers = _concurrently(backend, ["a", "b"], [0.0, 0.0])
    assert all(isinstance(answer, BackendError) and "out of memory" in str(answer) for answer in answers)


def test_batch_size_config_wraps_the_transformers_backend_once_per_process(monkeypatch):
    monkeypatch.setenv("EMAIL_LOCAL_RUNTIME", "transformers")
    monkeypatch.setenv("EMAIL_BATCH_SIZE", "4")
    first = backend_from_config(kind="local", local_model="/models/m", gguf_file="m.gguf", device="cuda")
    second = backend_from_config(kind="local", local_model="/models/m", gguf_file="m.gguf", device="cuda")
    assert isinstance(first, BatchingBackend) and first is second and first.max_batch == 4


@pytest.mark.parametrize("size", ["", "1"])
def test_without_batching_the_plain_backend_is_used(monkeypatch, size):
    monkeypatch.setenv("EMAIL_LOCAL_RUNTIME", "transformers")
    monkeypatch.setenv("EMAIL_BATCH_SIZE", size)
    built = backend_from_config(kind="local", local_model="/models/m", gguf_file="m.gguf", device="cpu")
    assert not isinstance(built, BatchingBackend)
