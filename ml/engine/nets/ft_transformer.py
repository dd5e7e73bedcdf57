"""FT-Transformer for tables (Gorishniy et al., 2021, "Revisiting Deep Learning Models for Tabular Data").

Every feature becomes a token: a numeric value x_j is `x_j * W_j + b_j` (its own linear map), or with
`numeric_embedding="periodic"` a PLR embedding (ml.engine.nets.numeric_embeddings: periodic features of x_j, a
per-column linear map, ReLU; Gorishniy et al. 2022) plus b_j; a missing value, NaN in the input, becomes
the feature's learned "missing" vector instead. A category is an
embedding plus a per-column bias. Closely related numeric columns may share one token (`numeric_groups`,
e.g. the 7/30/90-day counts of one activity kind): the token is the sum of their per-column maps plus one
bias, which keeps every column's own weight but shortens the sequence (attention cost grows with it).
Text columns (sentence embeddings, e.g. 384-d MiniLM vectors) become tokens too: one shared linear map into
d_token plus a per-column bias; an all-zero vector means "nothing written" and becomes that column's learned
"no text" token instead. A learned CLS token joins them, pre-norm Transformer blocks mix them, and a head
reads the CLS token into one logit. Further tokens can be appended through `forward(..., extra_tokens=...)`.

`embed` and `forward_parts` split the forward pass at the per-column token parts (a numeric column's own
vector before it joins its group's token, a categorical token, a text token): explanations attribute the
logit to those parts, which map one-to-one to original columns. Pure torch: no Django.

The blocks are written out instead of using nn.TransformerEncoder: on CPU, with ~40 tokens and 8-dim
heads, plain matmul attention is faster than torch's fused kernels, and the last block only needs the CLS
row (as in the paper), which nn.TransformerEncoder cannot skip. Together ~1.5x faster training on CPU.
With `folded_cls_attention` that last block also skips the per-token keys and values (see
`TransformerBlock._folded_cls_attention`), which is what makes `n_members` heads (an ensemble whose mean
logit is the output, see `FTTransformer`) cheap enough to score on a CPU. New fields default to the old
behaviour, so configs saved before them build the very same net.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ml.engine.nets.numeric_embeddings import PeriodicEmbedding

NUMERIC_EMBEDDINGS = ("linear", "periodic")


@dataclass
class FTTransformerConfig:
    n_numeric: int
    categorical_cardinalities: list[int] = field(default_factory=list)
    # Token index of each numeric column (0..n_groups-1); None = one token per column (plain FT-Transformer).
    numeric_groups: list[int] | None = None
    d_token: int = 32
    n_layers: int = 2
    n_heads: int = 4
    ffn_factor: float = 4 / 3  # FFN width = d_token * ffn_factor, as in the paper
    attention_dropout: float = 0.1
    ffn_dropout: float = 0.1
    residual_dropout: float = 0.0
    # Text columns: how many (one token each) and the embedding size. 0 = no text (older checkpoints).
    n_text: int = 0
    text_dim: int = 0
    # How a numeric value becomes its vector: "linear" (x * W_j, the paper's and older checkpoints') or
    # "periodic" (PLR, nets.numeric_embeddings) with `n_frequencies` frequencies drawn from N(0, frequency_scale).
    numeric_embedding: str = "linear"
    n_frequencies: int = 16
    frequency_scale: float = 0.1
    # Ensemble members sharing the tokenizer and all blocks but the last; each owns a last block and a head, and
    # the logit is the members' mean. 1 = the plain net (older checkpoints).
    n_members: int = 1
    # The last block's CLS-only attention computed with the key/value maps folded into the CLS query: the same
    # function, ~10x cheaper there (no per-token keys and values), equal up to float rounding. False for older
    # checkpoints, so they score bit for bit as they did.
    folded_cls_attention: bool = False

    def __post_init__(self) -> None:
        if self.d_token % self.n_heads:
            raise ValueError(f"d_token ({self.d_token}) must be divisible by n_heads ({self.n_heads})")
        if self.n_layers < 1:
            raise ValueError("n_layers must be >= 1")
        if self.n_numeric < 0 or any(c < 1 for c in self.categorical_cardinalities):
            raise ValueError("n_numeric must be >= 0 and every cardinality >= 1")
        if self.n_text < 0 or (self.n_text > 0) != (self.text_dim > 0):
            raise ValueError("n_text and text_dim must both be positive (text tokens) or both 0")
        if self.numeric_embedding not in NUMERIC_EMBEDDINGS:
            raise ValueError(f"numeric_embedding must be one of {', '.join(NUMERIC_EMBEDDINGS)}")
        if self.n_frequencies < 1 or self.frequency_scale <= 0 or self.n_members < 1:
            raise ValueError("n_frequencies and n_members must be >= 1, frequency_scale positive")
        if self.n_numeric + len(self.categorical_cardinalities) + self.n_text == 0:
            raise ValueError("FT-Transformer needs at least one feature")
        self.categorical_cardinalities = [int(c) for c in self.categorical_cardinalities]
        if self.numeric_groups is not None:
            groups = [int(g) for g in self.numeric_groups]
            if len(groups) != self.n_numeric or sorted(set(groups)) != list(range(len(set(groups)))):
                raise ValueError("numeric_groups needs one group per numeric column, numbered 0..n_groups-1")
            self.numeric_groups = groups

    @property
    def n_numeric_tokens(self) -> int:
        return self.n_numeric if self.numeric_groups is None else len(set(self.numeric_groups))

    @property
    def n_tokens(self) -> int:
        return self.n_numeric_tokens + len(self.categorical_cardinalities) + self.n_text + 1  # + CLS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FTTransformerConfig:
        return cls(**data)


class FeatureTokenizer(nn.Module):
    """(numeric (B, n_num) with NaN = missing, categorical (B, n_cat)) -> tokens (B, n_tokens - 1, d)."""

    def __init__(self, config: FTTransformerConfig) -> None:
        super().__init__()
        d = config.d_token
        bound = 1 / math.sqrt(d)
        self.n_numeric = config.n_numeric
        # Parameter creation order matters: it fixes what a seed initialises, so "linear" nets stay as before.
        linear = config.numeric_embedding == "linear"
        self.numeric_weight = nn.Parameter(torch.empty(config.n_numeric, d).uniform_(-bound, bound)) if linear else None
        self.numeric_bias = nn.Parameter(torch.empty(config.n_numeric_tokens, d).uniform_(-bound, bound))
        groups = config.numeric_groups if config.numeric_groups is not None else range(config.n_numeric)
        self.register_buffer("numeric_groups", torch.tensor(list(groups), dtype=torch.long))
        self.n_numeric_tokens = config.n_numeric_tokens
        self.numeric_missing = nn.Parameter(torch.empty(config.n_numeric, d).uniform_(-bound, bound))
        cardinalities = config.categorical_cardinalities
        self.categorical_embedding = nn.Embedding(max(sum(cardinalities), 1), d)
        nn.init.uniform_(self.categorical_embedding.weight, -bound, bound)
        self.categorical_bias = nn.Parameter(torch.empty(len(cardinalities), d).uniform_(-bound, bound))
        offsets = torch.tensor([0, *cardinalities[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("categorical_offsets", offsets[: len(cardinalities)])
        self.periodic = (
            None
            if linear
            else PeriodicEmbedding(
                n_features=config.n_numeric, d_out=d, n_frequencies=config.n_frequencies, sigma=config.frequency_scale
            )
        )

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return self.combine(*self.parts(numeric, categorical))

    def parts(self, numeric: torch.Tensor, categorical: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-column vectors: numeric (B, n_num, d) before grouping and bias, categorical tokens (B, n_cat, d)."""
        batch, d = numeric.shape[0], self.numeric_bias.shape[1]
        missing = torch.isnan(numeric).unsqueeze(-1)
        # Zero-fill before embedding: NaN * W would poison the gradient of W even where unselected.
        filled = torch.nan_to_num(numeric, nan=0.0)
        if self.periodic is None:
            values = filled.unsqueeze(-1) * self.numeric_weight
        else:
            values = self.periodic(filled)
        values = torch.where(missing, self.numeric_missing.to(values.dtype), values)
        if self.categorical_bias.shape[0]:
            categories = self.categorical_embedding(categorical + self.categorical_offsets) + self.categorical_bias
        else:
            categories = values.new_zeros((batch, 0, d))
        return values, categories

    def combine(self, numeric_parts: torch.Tensor, categorical_parts: torch.Tensor) -> torch.Tensor:
        """Per-column parts -> feature tokens (B, n_numeric_tokens + n_cat, d)."""
        tokens = []
        if self.n_numeric:
            if self.n_numeric_tokens == numeric_parts.shape[1]:
                grouped = numeric_parts  # one token per column
            else:
                shape = (numeric_parts.shape[0], self.n_numeric_tokens, numeric_parts.shape[2])
                grouped = numeric_parts.new_zeros(shape).index_add(1, self.numeric_groups, numeric_parts)
            tokens.append(grouped + self.numeric_bias)
        tokens.append(categorical_parts)
        return torch.cat(tokens, dim=1)


class TextTokenizer(nn.Module):
    """(B, n_text, text_dim) embeddings -> (B, n_text, d) tokens; an all-zero row is "no text"."""

    def __init__(self, config: FTTransformerConfig) -> None:
        super().__init__()
        d = config.d_token
        bound = 1 / math.sqrt(d)
        self.n_text = config.n_text
        self.projection = nn.Linear(config.text_dim, d, bias=False)
        self.bias = nn.Parameter(torch.empty(config.n_text, d).uniform_(-bound, bound))
        self.missing = nn.Parameter(torch.empty(config.n_text, d).uniform_(-bound, bound))

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        present = text.abs().amax(dim=-1, keepdim=True) > 0
        tokens = self.projection(text) + self.bias
        return torch.where(present, tokens, self.missing.to(tokens.dtype))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + Attention(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, config: FTTransformerConfig) -> None:
        super().__init__()
        d = config.d_token
        self.n_heads = config.n_heads
        self.folded_cls_attention = config.folded_cls_attention
        self.attention_norm = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.attention_out = nn.Linear(d, d)
        self.attention_dropout = nn.Dropout(config.attention_dropout)
        self.ffn_norm = nn.LayerNorm(d)
        width = max(1, int(d * config.ffn_factor))
        self.ffn = nn.Sequential(nn.Linear(d, width), nn.GELU(), nn.Dropout(config.ffn_dropout), nn.Linear(width, d))
        self.residual_dropout = nn.Dropout(config.residual_dropout)

    def forward(self, x: torch.Tensor, *, cls_only: bool = False) -> torch.Tensor:
        if cls_only and self.folded_cls_attention:
            x = x[:, -1:] + self.residual_dropout(self.attention_out(self._folded_cls_attention(x)))
            return x + self.residual_dropout(self.ffn(self.ffn_norm(x)))
        batch, tokens, d = x.shape
        head = d // self.n_heads
        q, k, v = self.qkv(self.attention_norm(x)).view(batch, tokens, 3, self.n_heads, head).permute(2, 0, 3, 1, 4)
        if cls_only:  # only the CLS row (last token) is read after this block
            q, x = q[:, :, -1:], x[:, -1:]
        weights = self.attention_dropout(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head), dim=-1))
        mixed = (weights @ v).transpose(1, 2).reshape(batch, q.shape[2], d)
        x = x + self.residual_dropout(self.attention_out(mixed))
        return x + self.residual_dropout(self.ffn(self.ffn_norm(x)))

    def _folded_cls_attention(self, x: torch.Tensor) -> torch.Tensor:
        """The CLS row's attention output (B, 1, d) before `attention_out`, without per-token keys and values.

        Per head h: q_h . (K_h n_j + c_h) = (K_h^T q_h) . n_j + const (the constant cancels in the softmax), and
        sum_j a_j (V_h n_j + e_h) = V_h (sum_j a_j n_j) + e_h sum_j a_j, where n_j are the normed tokens. So one
        (d -> heads) score map and one weighted sum of the normed tokens replace two (d -> d) maps per token."""
        batch, tokens, d = x.shape
        heads, head = self.n_heads, d // self.n_heads
        normed = self.attention_norm(x)  # (B, T, d)
        w_q, w_k, w_v = self.qkv.weight.split(d)  # each (d_out, d_in), heads along d_out
        b_q, _, b_v = self.qkv.bias.split(d)
        q = torch.nn.functional.linear(normed[:, -1], w_q, b_q).view(batch, heads, head)
        query = torch.einsum("bhe,hed->bhd", q, w_k.view(heads, head, d))  # (B, heads, d)
        scores = query @ normed.transpose(1, 2) / math.sqrt(head)  # (B, heads, T)
        weights = self.attention_dropout(torch.softmax(scores, dim=-1))
        pooled = weights @ normed  # (B, heads, d)
        values = torch.einsum("bhd,hed->bhe", pooled, w_v.view(heads, head, d))
        values = values + b_v.view(heads, head) * weights.sum(dim=-1, keepdim=True)  # sum is 1 without dropout
        return values.reshape(batch, 1, d)


class EnsembleMember(nn.Module):
    """What each extra ensemble member owns: its last (CLS-only) block and its head."""

    def __init__(self, config: FTTransformerConfig) -> None:
        super().__init__()
        d = config.d_token
        self.block = TransformerBlock(config)
        self.head = nn.Sequential(nn.LayerNorm(d), nn.ReLU(), nn.Linear(d, 1))


class FTTransformer(nn.Module):
    """With `n_members` > 1 a parameter-efficient ensemble (in the spirit of TabM, Gorishniy et al. 2024): the
    members share the tokenizer, the CLS token and all blocks but the last (so explanations still see one
    vector per column, and the costly all-token blocks run once), and each owns a last block and a head. The
    last block only computes the CLS row (cheap, more so folded), so k members cost far less than k nets.
    Training gives every member its own loss (`member_logits`), which keeps them diverse; the net's logit is
    their mean. Member 0 keeps the plain net's parameter names, so checkpoints saved before ensembles load
    unchanged."""

    def __init__(self, config: FTTransformerConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_token
        self.tokenizer = FeatureTokenizer(config)
        # Only text models own text parameters, so checkpoints without text load into this class unchanged.
        self.text_tokenizer = TextTokenizer(config) if config.n_text else None
        self.cls_token = nn.Parameter(torch.empty(1, 1, d).uniform_(-1 / math.sqrt(d), 1 / math.sqrt(d)))
        self.blocks = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))
        self.head = nn.Sequential(nn.LayerNorm(d), nn.ReLU(), nn.Linear(d, 1))
        # Only ensembles own extra members, so plain checkpoints keep their exact keys.
        self.members = nn.ModuleList(EnsembleMember(config) for _ in range(config.n_members - 1)) or None

    def forward(
        self,
        numeric: torch.Tensor,
        categorical: torch.Tensor,
        text: torch.Tensor | None = None,
        extra_tokens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits of shape (B,). `text` (B, n_text, text_dim): None = no text for any row.
        `extra_tokens` (B, k, d_token) are appended to the feature tokens."""
        return self.forward_parts(*self.embed(numeric, categorical, text), extra_tokens=extra_tokens)

    def embed(
        self, numeric: torch.Tensor, categorical: torch.Tensor, text: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The per-column token parts (numeric, categorical, text) that `forward_parts` reads."""
        numeric_parts, categorical_parts = self.tokenizer.parts(numeric, categorical)
        if self.text_tokenizer is None:
            return numeric_parts, categorical_parts, numeric_parts.new_zeros((numeric.shape[0], 0, self.config.d_token))
        if text is None:
            text = numeric_parts.new_zeros((numeric.shape[0], self.config.n_text, self.config.text_dim))
        return numeric_parts, categorical_parts, self.text_tokenizer(text.to(numeric_parts.dtype))

    def forward_parts(
        self,
        numeric_parts: torch.Tensor,
        categorical_parts: torch.Tensor,
        text_parts: torch.Tensor,
        extra_tokens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B,): the ensemble members' mean logit (the one member's logit for a plain net)."""
        logits = self.member_logits_parts(numeric_parts, categorical_parts, text_parts, extra_tokens=extra_tokens)
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits.mean(dim=-1)

    def member_logits(
        self,
        numeric: torch.Tensor,
        categorical: torch.Tensor,
        text: torch.Tensor | None = None,
        extra_tokens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Each ensemble member's logit, (B, n_members): training gives every member its own loss."""
        return self.member_logits_parts(*self.embed(numeric, categorical, text), extra_tokens=extra_tokens)

    def member_logits_parts(
        self,
        numeric_parts: torch.Tensor,
        categorical_parts: torch.Tensor,
        text_parts: torch.Tensor,
        extra_tokens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        tokens = self.tokenizer.combine(numeric_parts, categorical_parts)
        parts = [tokens, text_parts.to(tokens.dtype)]
        if extra_tokens is not None:
            parts.append(extra_tokens.to(tokens.dtype))
        x = torch.cat([*parts, self.cls_token.expand(tokens.shape[0], -1, -1)], dim=1)
        for block in self.blocks[:-1]:
            x = block(x)
        members = [(self.blocks[-1], self.head), *((member.block, member.head) for member in self.members or ())]
        # The last block only computes the CLS row (as in the paper): the head reads it.
        return torch.stack([head(block(x, cls_only=True)[:, -1]).squeeze(-1) for block, head in members], dim=-1)
