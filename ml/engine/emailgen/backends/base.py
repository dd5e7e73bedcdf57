"""What every generation backend is and how it fails; the backends import this, never the package itself (so the
package, which builds them lazily, and its modules form no import circle)."""

from __future__ import annotations

from typing import Protocol

from ml.engine.emailgen.types import GenerationResult


class BackendError(Exception):
    """A generation that did not produce text: load failure, timeout, HTTP error, empty output.

    The message is stored on the draft for the rep. `retryable` is False when trying again cannot help
    (missing model files, bad configuration), so the pipeline goes straight to the composer.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class GenerationBackend(Protocol):
    """Turns chat messages into text. A backend whose `continues_assistant_message` attribute is True (optional)
    continues a final {"role": "assistant"} message instead of answering it: the pipeline uses that to start
    the reply with "Subject:"."""

    name: str  # "local" | "openai" | "composer"
    model_name: str

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        json_schema: dict | None = None,
    ) -> GenerationResult: ...

    # `json_schema`: when given, the backend must return JSON matching it (enforced while decoding where the
    # runtime can: a llama.cpp grammar, a logits processor, or a server's structured-output mode).
