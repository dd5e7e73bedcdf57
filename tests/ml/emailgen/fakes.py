"""A scripted generation backend: returns (or raises) the next item of its script on each call."""

from __future__ import annotations

from dataclasses import dataclass, field

from ml.engine.emailgen.backends import BackendError
from ml.engine.emailgen.types import GenerationResult


@dataclass
class ScriptedBackend:
    script: list[str | BackendError]
    name: str = "openai"
    model_name: str = "scripted"
    calls: list[dict] = field(default_factory=list)

    def generate(self, messages, *, max_new_tokens, temperature, seed, json_schema=None) -> GenerationResult:
        self.calls.append(
            {
                "messages": messages,
                "max_new_tokens": max_new_tokens,
                "temperature": temperature,
                "seed": seed,
                "json_schema": json_schema,
            }
        )
        item = self.script[min(len(self.calls) - 1, len(self.script) - 1)]
        if isinstance(item, BackendError):
            raise item
        return GenerationResult(
            text=item, backend=self.name, model=self.model_name, seconds=0.01, completion_tokens=len(item.split())
        )
