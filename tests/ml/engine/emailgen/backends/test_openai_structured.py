"""The OpenAI-compatible backend asked for JSON: it sends response_format to a local fake server speaking the
chat-completions wire format, steps down when the server rejects a mode, and remembers what worked."""

from ml.engine.emailgen.backends.openai_compat import OpenAICompatBackend
from ml.engine.emailgen.prompting import DRAFT_JSON_SCHEMA, draft_parse
from tests.ml.emailgen.fake_openai import FakeOpenAI, Step

MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Write."}]
ANSWER = '{"subject": "Hello", "sentences": [{"text": "Would a call suit you?", "facts": []}]}'


def backend(url: str) -> OpenAICompatBackend:
    return OpenAICompatBackend(base_url=url, model_name="m", timeout=2.0, retries=1, backoff=0.01)


def test_json_schema_is_sent_as_response_format():
    with FakeOpenAI([Step(text=ANSWER)]) as server:
        result = backend(server.base_url).generate(
            MESSAGES, max_new_tokens=50, temperature=0, seed=0, json_schema=DRAFT_JSON_SCHEMA
        )
    sent = server.requests[0]["json"]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == DRAFT_JSON_SCHEMA
    assert draft_parse(text=result.text).sentences


def test_without_a_schema_no_response_format_is_sent():
    with FakeOpenAI([Step(text="Subject: Hi\n\nThanks.")]) as server:
        backend(server.base_url).generate(MESSAGES, max_new_tokens=50, temperature=0, seed=0)
    assert "response_format" not in server.requests[0]["json"]


def test_a_server_that_rejects_json_schema_gets_json_object_and_it_is_remembered():
    with FakeOpenAI([Step(status=400), Step(text=ANSWER)]) as server:
        client = backend(server.base_url)
        client.generate(MESSAGES, max_new_tokens=50, temperature=0, seed=0, json_schema=DRAFT_JSON_SCHEMA)
        client.generate(MESSAGES, max_new_tokens=50, temperature=0, seed=1, json_schema=DRAFT_JSON_SCHEMA)
    formats = [request["json"].get("response_format") for request in server.requests]
    assert formats[0]["type"] == "json_schema"
    assert formats[1:] == [{"type": "json_object"}, {"type": "json_object"}]  # no second refusal paid
    assert client.json_mode == "json_object"


def test_a_server_without_any_json_mode_is_asked_plainly_and_its_answer_still_parses():
    with FakeOpenAI([Step(status=422), Step(status=400), Step(text=ANSWER)]) as server:
        result = backend(server.base_url).generate(
            MESSAGES, max_new_tokens=50, temperature=0, seed=0, json_schema=DRAFT_JSON_SCHEMA
        )
    assert "response_format" not in server.requests[2]["json"] and len(server.requests) == 3
    assert draft_parse(text=result.text).subject == "Hello"
