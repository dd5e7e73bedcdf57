"""The churn Transformer: an FT-Transformer over the account's table row that also reads its recent
activities, one token each. Pure torch: no Django.

An activity token = kind embedding + direction embedding + a linear map of its (log age, log gap) numbers
+ a projection of its text embedding (MiniLM, 384-d, scaled by `text_scale`; a zero vector = no text, which
projects to 0) + a
learned position embedding (position k = the k-th most recent, see ml.engine.activity_sequences). Steps
with kind 0 are padding and become one learned padding token, so a short history is "K - n padding
tokens + n activities". The tokens join the feature tokens through `FTTransformer.forward(extra_tokens=)`,
and the FT-Transformer's blocks and CLS head do the rest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ml.engine.nets.ft_transformer import FTTransformer, FTTransformerConfig


@dataclass
class ChurnTransformerConfig:
    table: FTTransformerConfig
    n_kinds: int  # vocabulary sizes, index 0 = padding
    n_directions: int
    sequence_length: int = 16
    step_numeric: int = 2
    text_dim: int = 0  # 0 = the sequence carries no text
    # Sentence embeddings are unit-norm, so each of their dimensions is ~1/sqrt(dim): scaled by sqrt(dim) the
    # text part of a token starts as large as its kind/direction parts instead of being drowned by them.
    # 1.0 for checkpoints saved before the field existed.
    text_scale: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.table, dict):
            self.table = FTTransformerConfig.from_dict(self.table)
        if self.n_kinds < 2 or self.n_directions < 2 or self.sequence_length < 1:
            raise ValueError("n_kinds and n_directions must be >= 2 (padding + one value), sequence_length >= 1")

    @property
    def d_token(self) -> int:
        return self.table.d_token

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["table"] = self.table.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChurnTransformerConfig:
        return cls(**{**data, "table": FTTransformerConfig.from_dict(data["table"])})


class ActivityTokenizer(nn.Module):
    """(kind, direction, numeric, text) of (B, K) steps -> (B, K, d) tokens; padding -> the padding token."""

    def __init__(self, config: ChurnTransformerConfig) -> None:
        super().__init__()
        d = config.d_token
        bound = 1 / math.sqrt(d)
        self.kind = nn.Embedding(config.n_kinds, d)
        self.direction = nn.Embedding(config.n_directions, d)
        self.numeric = nn.Linear(config.step_numeric, d)
        self.text = nn.Linear(config.text_dim, d, bias=False) if config.text_dim else None
        self.text_scale = float(config.text_scale)
        self.position = nn.Parameter(torch.empty(config.sequence_length, d).uniform_(-bound, bound))
        self.padding = nn.Parameter(torch.empty(d).uniform_(-bound, bound))
        for embedding in (self.kind, self.direction):
            nn.init.uniform_(embedding.weight, -bound, bound)

    def forward(
        self, kind: torch.Tensor, direction: torch.Tensor, numeric: torch.Tensor, text: torch.Tensor | None = None
    ) -> torch.Tensor:
        tokens = self.kind(kind) + self.direction(direction) + self.numeric(numeric) + self.position
        if self.text is not None and text is not None:
            tokens = tokens + self.text(text.to(tokens.dtype) * self.text_scale)
        return torch.where((kind == 0).unsqueeze(-1), self.padding.to(tokens.dtype), tokens)


class ChurnTransformer(nn.Module):
    def __init__(self, config: ChurnTransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.table = FTTransformer(config.table)
        self.activities = ActivityTokenizer(config)

    def forward(
        self,
        numeric: torch.Tensor,
        categorical: torch.Tensor,
        kind: torch.Tensor,
        direction: torch.Tensor,
        step_numeric: torch.Tensor,
        step_text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B,): table row (numeric with NaN = missing, categorical codes) + activity steps."""
        extra = self.activities(kind, direction, step_numeric, step_text)
        return self.table(numeric, categorical, extra_tokens=extra)
