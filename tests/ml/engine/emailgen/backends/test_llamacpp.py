"""The llama.cpp backend with the real SmolLM2 GGUF: it loads fast, its constrained answer always parses as the
draft schema, retries reuse the cached prompt prefix, and a missing runtime falls back to transformers."""

import json
import time

import pytest

from ml.engine.emailgen.backends import backend_from_config, llamacpp, local_model_default, local_runtime_pick
from ml.engine.emailgen.backends.local import LocalBackend
from ml.engine.emailgen.prompting import DRAFT_JSON_SCHEMA, draft_json_schema, draft_parse, prompt_messages
from ml.engine.emailgen.types import DraftOptions
from tests.ml.emailgen.sheets import fact_sheet_make

_runtime_missing = pytest.mark.skipif(
    not llamacpp.runtime_available(),
    reason="llama-cpp-py-sync is missing or its library does not load here (glibc < 2.38: run "
    "scripts/llama_cpp_glibc_compat.py)",
)


def needs_runtime(test):
    """The real SmolLM2 GGUF on llama.cpp: seconds to a minute per test on a shared 2-core box."""
    return pytest.mark.slow(_runtime_missing(test))


def _smollm2_path() -> str:
    try:
        folder, gguf = local_model_default()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"the SmolLM2 GGUF is not installed: {exc}")
    return f"{folder}/{gguf}"


@pytest.fixture(scope="module")
def backend() -> llamacpp.LlamaCppBackend:
    return llamacpp.LlamaCppBackend(model_path=_smollm2_path())


@needs_runtime
def test_auto_picks_llamacpp_for_the_bundled_gguf_on_cpu(monkeypatch):
    monkeypatch.delenv("EMAIL_LOCAL_RUNTIME", raising=False)
    built = backend_from_config(kind="local", device="auto")
    assert isinstance(built, llamacpp.LlamaCppBackend)
    assert built.model_name.endswith(".gguf") and built.continues_assistant_message is False


@needs_runtime
def test_loads_in_under_two_seconds(backend):
    llamacpp.model_file_prepared(path=backend.model_path)  # the one-off Q8_0 copy is not part of a load
    llamacpp.model_cache_clear()
    started = time.perf_counter()
    llamacpp.model_open(path=backend.model_path, threads=1)
    assert time.perf_counter() - started < 2.0
    assert llamacpp.model_load_seconds() < 2.0


@needs_runtime
@pytest.mark.parametrize("temperature,seed", [(0.0, 0), (0.8, 1), (1.2, 2)])
def test_constrained_answer_always_parses_as_the_schema(backend, temperature, seed):
    sheet = fact_sheet_make()
    schema = draft_json_schema(fact_sheet=sheet)
    messages = prompt_messages(fact_sheet=sheet, options=DraftOptions(intent="deal_nudge"), structured=True)
    # A tight budget on purpose: the answer may be cut off, and must still parse.
    result = backend.generate(messages, max_new_tokens=120, temperature=temperature, seed=seed, json_schema=schema)

    parsed = draft_parse(text=result.text)
    assert parsed.violation is None, result.text
    assert parsed.subject and parsed.sentences
    allowed = {fact.id for fact in sheet.facts if fact.trusted}
    assert all(set(sentence.fact_ids) <= allowed for sentence in parsed.sentences), result.text
    if result.completion_tokens < 115:  # finished inside the budget: the whole answer is the schema's JSON
        data = json.loads(result.text)
        assert set(data) == {"subject", "sentences"}
        assert all(set(item) == {"text", "facts"} for item in data["sentences"])


@needs_runtime
def test_a_retry_reuses_the_cached_prompt_prefix(backend):
    sheet = fact_sheet_make()
    messages = prompt_messages(fact_sheet=sheet, options=DraftOptions(), structured=True)
    backend.generate(messages, max_new_tokens=30, temperature=0.0, seed=0, json_schema=DRAFT_JSON_SCHEMA)
    retry = [messages[0], {"role": "user", "content": messages[1]["content"] + "\nLeave out: Berlin"}]
    stats: dict = {}
    model = llamacpp.model_open(path=backend.model_path, threads=1)
    model.create_chat_completion(
        retry, max_tokens=1, temperature=0.0, cache_key=llamacpp.SESSION_KEY, on_stats=stats.update
    )
    assert stats["reused_tokens"] > 0.8 * stats["input_tokens"]


@needs_runtime
def test_free_text_stops_at_the_sign_off(backend):
    messages = [
        {"role": "system", "content": "Repeat the user's text exactly."},
        {"role": "user", "content": "Subject: Hi\n\nThanks for your time.\nBest regards,\nSam Smith\nCEO"},
    ]
    result = backend.generate(messages, max_new_tokens=60, temperature=0.0, seed=0)
    assert "Sam Smith" not in result.text and "CEO" not in result.text


def test_missing_package_falls_back_to_transformers(monkeypatch):
    monkeypatch.delenv("EMAIL_LOCAL_RUNTIME", raising=False)
    monkeypatch.setattr(llamacpp, "runtime_available", lambda: False)
    folder, gguf = "/models/smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert local_runtime_pick(gguf_file=gguf, device="cpu") == "transformers"
    built = backend_from_config(kind="local", local_model=folder, gguf_file=gguf, device="cpu")
    assert isinstance(built, LocalBackend) and built.gguf_file == gguf


def test_runtime_available_is_false_when_the_import_fails(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_llama(name, *args, **kwargs):
        if name.startswith("llama_cpp_py_sync"):
            raise ImportError("No module named 'llama_cpp_py_sync'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    assert llamacpp.runtime_available() is False


def test_runtime_is_chosen_by_config(monkeypatch):
    monkeypatch.setattr(llamacpp, "runtime_available", lambda: True)
    gguf = "model.gguf"
    assert local_runtime_pick(runtime="transformers", gguf_file=gguf) == "transformers"
    monkeypatch.setenv("EMAIL_LOCAL_RUNTIME", "transformers")
    assert local_runtime_pick(gguf_file=gguf) == "transformers"
    monkeypatch.delenv("EMAIL_LOCAL_RUNTIME")
    assert local_runtime_pick(gguf_file=gguf) == "llamacpp"
    assert local_runtime_pick(gguf_file=gguf, device="cuda") == "transformers"  # the wheel is CPU-only
    assert local_runtime_pick(gguf_file="", device="cpu") == "transformers"  # a model folder, not a GGUF
    with pytest.raises(ValueError, match="Unknown local runtime"):
        local_runtime_pick(runtime="onnx", gguf_file=gguf)


def test_a_schema_the_grammar_cannot_express_is_a_clear_error():
    pytest.importorskip("llama_cpp_py_sync")
    from ml.engine.emailgen.backends.base import BackendError

    with pytest.raises(BackendError, match="cannot be enforced"):
        llamacpp.grammar_from_schema({"type": "string", "pattern": "^a+$"})


@needs_runtime
def test_a_q4_1_file_is_requantized_to_q8_0_once_and_can_be_turned_off(monkeypatch, tmp_path, backend):
    monkeypatch.setenv("LLAMA_CPP_CACHE_DIR", str(tmp_path))
    prepared = llamacpp.model_file_prepared(path=backend.model_path)
    assert prepared.startswith(str(tmp_path)) and prepared.endswith(".Q8_0.gguf")
    modified = (tmp_path / prepared.rsplit("/", 1)[1]).stat().st_mtime_ns
    assert llamacpp.model_file_prepared(path=backend.model_path) == prepared  # cached, not redone
    assert (tmp_path / prepared.rsplit("/", 1)[1]).stat().st_mtime_ns == modified
    assert [p.name for p in tmp_path.iterdir()] == [prepared.rsplit("/", 1)[1]]  # no partial file left
    monkeypatch.setenv("LLAMA_CPP_REQUANTIZE", "0")
    assert llamacpp.model_file_prepared(path=backend.model_path) == backend.model_path


@needs_runtime
def test_the_llamacpp_path_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys; from ml.engine.emailgen.backends import backend_from_config; "
        "b = backend_from_config(kind='local', device='cpu', runtime='llamacpp'); "
        "print(type(b).__name__, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["LlamaCppBackend", "False"]  # a worker on llama.cpp stays small
