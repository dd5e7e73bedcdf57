"""Any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, TGI): POST {base}/chat/completions.

Retries with exponential backoff on timeouts, connection errors, 5xx and 429 (honouring Retry-After up to a
cap); other 4xx fail at once. A total deadline bounds the whole call, retries and waits included, so a dead
endpoint never hangs a worker: the pipeline records the BackendError and falls back.

`json_schema` asks the server for structured output (`response_format` {"type": "json_schema"}: vLLM,
llama.cpp's server, OpenAI). A server that refuses it with a 400/422 is asked again with {"type":
"json_object"}, then without any response_format (the prompt still asks for JSON and the parser reads either
form); the mode that worked is remembered for the life of the backend, so later drafts do not pay the refusals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from ml.engine.emailgen.backends.base import BackendError
from ml.engine.emailgen.types import GenerationResult

RETRY_AFTER_CAP_SECONDS = 10.0
JSON_MODES = ("json_schema", "json_object", "none")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for these servers and ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


@dataclass
class OpenAICompatBackend:
    base_url: str
    model_name: str
    api_key: str = ""
    timeout: float = 30.0  # per request
    retries: int = 2
    backoff: float = 0.5  # first wait; doubles each retry
    deadline: float | None = None  # whole call; default timeout * (retries + 1) + waits
    retry_after_cap: float = RETRY_AFTER_CAP_SECONDS
    name: str = "openai"
    json_mode: str = "json_schema"  # the structured-output mode this server accepted last (see JSON_MODES)

    def total_deadline(self) -> float:
        if self.deadline is not None:
            return self.deadline
        waits = sum(self.backoff * 2**n for n in range(self.retries))
        return self.timeout * (self.retries + 1) + waits

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        json_schema: dict | None = None,
    ) -> GenerationResult:
        started = time.monotonic()
        give_up_at = started + self.total_deadline()
        if json_schema is None:
            return self._post(
                messages=messages,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                seed=seed,
                response_format=None,
                started=started,
                give_up_at=give_up_at,
            )
        modes = JSON_MODES[JSON_MODES.index(self.json_mode) :] if self.json_mode in JSON_MODES else JSON_MODES
        for mode in modes:
            try:
                result = self._post(
                    messages=messages,
                    max_new_tokens=max_new_tokens,
                    temperature=temperature,
                    seed=seed,
                    response_format=response_format_for(mode=mode, schema=json_schema),
                    started=started,
                    give_up_at=give_up_at,
                )
            except _FormatRefused:
                continue
            self.json_mode = mode
            return result
        raise BackendError(f"{self.base_url} refused every structured-output mode.", retryable=False)

    def _post(
        self,
        *,
        messages: list[dict[str, str]],
        max_new_tokens: int,
        temperature: float,
        seed: int,
        response_format: dict | None,
        started: float,
        give_up_at: float,
    ) -> GenerationResult:
        url = self.base_url.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        payload: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "seed": seed,
            "stream": False,
        }
        if response_format is not None:
            payload["response_format"] = response_format
        problem = ""
        for attempt in range(self.retries + 1):
            left = give_up_at - time.monotonic()
            if left <= 0:
                break
            wait: float | None = None
            try:
                with httpx.Client(timeout=httpx.Timeout(min(self.timeout, left))) as client:
                    response = client.post(url, json=payload, headers=headers)
            except httpx.TimeoutException:
                problem = f"timed out after {min(self.timeout, left):.1f}s"
            except httpx.HTTPError as exc:
                problem = f"could not connect ({exc.__class__.__name__}: {exc})"
            else:
                if response.status_code == 200:
                    return self._result(response, started)
                problem = f"HTTP {response.status_code}: {response.text[:200].strip()}"
                if response.status_code == 429:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                elif response.status_code in (400, 422) and response_format is not None:
                    raise _FormatRefused(problem)
                elif response.status_code < 500:
                    raise BackendError(f"{self.base_url} refused the request ({problem}).", retryable=False)
            if attempt == self.retries:
                break
            wait = min(self.retry_after_cap, wait if wait is not None else self.backoff * 2**attempt)
            if time.monotonic() + wait >= give_up_at:
                break
            time.sleep(wait)
        raise BackendError(f"{self.base_url} gave no answer after {attempt + 1} tries: {problem}.")

    def _result(self, response: httpx.Response, started: float) -> GenerationResult:
        try:
            data: dict[str, Any] = response.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{self.base_url} answered in an unexpected format: {response.text[:200]}") from exc
        if not text.strip():
            raise BackendError(f"{self.base_url} returned an empty completion.")
        usage = data.get("usage") or {}
        return GenerationResult(
            text=text.strip(),
            backend=self.name,
            model=str(data.get("model") or self.model_name),
            seconds=time.monotonic() - started,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )


class _FormatRefused(Exception):
    """The server answered 400/422 to a request with a response_format: try the next, plainer mode."""


def response_format_for(*, mode: str, schema: dict) -> dict | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "email_draft", "schema": schema, "strict": False}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None
