from collections.abc import Callable
from typing import Any

import pytest

from ml.engine import text_encoder


@pytest.fixture
def encode_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Records the texts of every SentenceEncoder.encode call (the real encoder still runs)."""
    calls: list[list[str]] = []
    real: Callable[..., Any] = text_encoder.SentenceEncoder.encode

    def spy(self: text_encoder.SentenceEncoder, texts: list[str], **kwargs: Any) -> Any:
        calls.append(list(texts))
        return real(self, texts, **kwargs)

    monkeypatch.setattr(text_encoder.SentenceEncoder, "encode", spy)
    return calls
