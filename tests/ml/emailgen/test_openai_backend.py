"""The OpenAI-compatible backend against a local fake server: success, retries, 429, timeouts, bad config."""

import time

import pytest

from ml.engine.emailgen.backends import BackendError, backend_from_config
from ml.engine.emailgen.backends.openai_compat import OpenAICompatBackend
from ml.engine.emailgen.pipeline import draft_generate
from ml.engine.emailgen.types import DraftOptions
from tests.ml.emailgen.fake_openai import FakeOpenAI, Step
from tests.ml.emailgen.sheets import fact_sheet_make

MESSAGES = [{"role": "system", "content": "Write emails."}, {"role": "user", "content": "Hi"}]
REPLY = "Subject: Hello\n\nHi Anna,\n\nThank you for the meeting on November 20, 2026."


def backend(url: str, **kwargs) -> OpenAICompatBackend:
    kwargs = {"api_key": "sk-test", "timeout": 2.0, "retries": 2, "backoff": 0.05, **kwargs}
    return OpenAICompatBackend(base_url=url, model_name="llama-3-8b", **kwargs)


def test_success_sends_the_wire_format_and_reads_text_and_usage():
    with FakeOpenAI([Step(text=REPLY)]) as server:
        result = backend(server.base_url).generate(MESSAGES, max_new_tokens=200, temperature=0.5, seed=7)
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    assert {k: request["json"][k] for k in ("model", "messages", "max_tokens", "temperature", "seed")} == {
        "model": "llama-3-8b",
        "messages": MESSAGES,
        "max_tokens": 200,
        "temperature": 0.5,
        "seed": 7,
    }
    assert result.text == REPLY and result.backend == "openai" and result.model == "llama-3-8b"
    assert (result.prompt_tokens, result.completion_tokens) == (42, len(REPLY.split()))


def test_no_api_key_sends_no_authorization_header():
    with FakeOpenAI([Step(text=REPLY)]) as server:
        backend(server.base_url, api_key="").generate(MESSAGES, max_new_tokens=10, temperature=0, seed=0)
    assert server.requests[0]["auth"] is None


def test_a_500_is_retried():
    with FakeOpenAI([Step(status=500), Step(status=502), Step(text=REPLY)]) as server:
        result = backend(server.base_url).generate(MESSAGES, max_new_tokens=10, temperature=0, seed=0)
    assert result.text == REPLY and len(server.requests) == 3


def test_429_honours_retry_after():
    with FakeOpenAI([Step(status=429, headers={"Retry-After": "1"}), Step(text=REPLY)]) as server:
        started = time.monotonic()
        result = backend(server.base_url, backoff=0.01).generate(MESSAGES, max_new_tokens=10, temperature=0, seed=0)
        waited = time.monotonic() - started
    assert result.text == REPLY and len(server.requests) == 2
    assert waited >= 1.0  # the server's Retry-After, not the 0.01 s backoff


def test_retry_after_is_capped():
    with FakeOpenAI([Step(status=429, headers={"Retry-After": "3600"}), Step(text=REPLY)]) as server:
        result = backend(server.base_url, retry_after_cap=0.1).generate(
            MESSAGES, max_new_tokens=10, temperature=0, seed=0
        )
    assert result.text == REPLY


def test_giving_up_after_retries_raises_a_clear_error():
    with FakeOpenAI([Step(status=503)]) as server:
        with pytest.raises(BackendError, match=r"after 3 tries: HTTP 503") as caught:
            backend(server.base_url).generate(MESSAGES, max_new_tokens=10, temperature=0, seed=0)
    assert caught.value.retryable and len(server.requests) == 3


def test_a_4xx_is_not_retried():
    with FakeOpenAI([Step(status=401)]) as server:
        with pytest.raises(BackendError, match="HTTP 401") as caught:
            backend(server.base_url).generate(MESSAGES, max_new_tokens=10, temperature=0, seed=0)
    assert not caught.value.retryable and len(server.requests) == 1


def test_a_slow_server_times_out_within_the_deadline():
    with FakeOpenAI([Step(text=REPLY, delay=30)]) as server:
        slow = backend(server.base_url, timeout=0.5, retries=1, backoff=0.05)
        started = time.monotonic()
        with pytest.raises(BackendError, match="timed out"):
            slow.generate(MESSAGES, max_new_tokens=10, temperature=0, seed=0)
        elapsed = time.monotonic() - started
    assert len(server.requests) == 2
    assert elapsed < 10  # bounded by the total deadline (about 1 s), far from the server's 30 s


def test_an_empty_completion_is_an_error():
    with FakeOpenAI([Step(text="   ")]) as server:
        with pytest.raises(BackendError, match="empty"):
            backend(server.base_url, retries=0).generate(MESSAGES, max_new_tokens=10, temperature=0, seed=0)


def test_a_dead_endpoint_fails_fast_and_the_draft_falls_back():
    with FakeOpenAI([Step(text=REPLY)]) as server:
        url = server.base_url
    dead = backend_from_config(kind="openai", openai_base_url=url, openai_model="m", timeout=1.0, retries=1)
    outcome = draft_generate(fact_sheet=fact_sheet_make(), options=DraftOptions(max_attempts=2), backend=dead)
    assert outcome.status == "ready" and outcome.fallback_used
    assert all("could not connect" in a.error for a in outcome.attempts[:2])


def test_through_the_pipeline_a_grounded_reply_ships():
    reply = REPLY + "\n\nBest,\nJane"
    with FakeOpenAI([Step(text=reply)]) as server:
        configured = backend_from_config(kind="openai", openai_base_url=server.base_url, openai_model="m", api_key="k")
        outcome = draft_generate(
            fact_sheet=fact_sheet_make(), options=DraftOptions(intent="meeting_follow_up"), backend=configured
        )
    assert outcome.status == "ready" and outcome.backend == "openai" and outcome.model == "m"
    assert server.requests[0]["json"]["messages"][0]["role"] == "system"


def test_missing_configuration_is_a_non_retryable_error_at_generation():
    configured = backend_from_config(kind="openai", openai_base_url="", openai_model="")
    with pytest.raises(BackendError, match="base URL") as caught:
        configured.generate(MESSAGES, max_new_tokens=10, temperature=0, seed=0)
    assert not caught.value.retryable


def test_unknown_kind_and_composer():
    assert backend_from_config(kind="composer") is None
    with pytest.raises(ValueError, match="Unknown generation backend"):
        backend_from_config(kind="gpt")
