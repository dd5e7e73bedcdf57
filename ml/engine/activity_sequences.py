"""An account's recent activities as a fixed-length sequence: what the churn Transformer reads token by token.

Per row (account, snapshot S): the last `length` activities strictly before S, oldest first and padded on
the LEFT, so position `length - 1` is always the newest activity and a position means "k-th most recent".
Each step carries its kind and direction (vocabulary indices, 0 = padding), two numbers (log1p of its age
in days at S, log1p of the days since the account's previous activity) and the row of its text embedding
(-1 = no text). Embeddings are stored once per activity (`vectors`) and gathered per batch, so a long
training frame does not copy 384 floats per step. Pure numpy: no Django, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SEQUENCE_LENGTH_DEFAULT = 16
KINDS = ("email", "call", "meeting", "note", "task")  # Activity.Kind values; index = position + 1
DIRECTIONS = ("", "inbound", "outbound")  # Activity.Direction values; index = position + 1
PAD = 0
STEP_NUMERIC = ("log_age_days", "log_gap_days")
_NS_PER_DAY = 86_400 * 10**9


def kind_index(kind: str | None) -> int:
    """Vocabulary index of an activity kind; an unknown kind shares the last slot with nothing (len + 1)."""
    return KINDS.index(kind) + 1 if kind in KINDS else len(KINDS) + 1


def direction_index(direction: str | None) -> int:
    return DIRECTIONS.index(direction or "") + 1 if (direction or "") in DIRECTIONS else len(DIRECTIONS) + 1


N_KIND_TOKENS = len(KINDS) + 2  # padding, the kinds, unknown
N_DIRECTION_TOKENS = len(DIRECTIONS) + 2


@dataclass
class ActivitySequences:
    kind: np.ndarray  # int64 (rows, length); 0 = padding
    direction: np.ndarray  # int64 (rows, length)
    numeric: np.ndarray  # float32 (rows, length, len(STEP_NUMERIC)); 0 at padding
    text_index: np.ndarray  # int64 (rows, length): row of `vectors`, -1 = no text / padding
    vectors: np.ndarray  # float32 (activities with text, dim)
    texts: list[str] = field(default_factory=list)  # the text behind each vector row
    text_kinds: list[str] = field(default_factory=list)  # its activity kind, for reasons ("note")

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    @property
    def length(self) -> int:
        return int(self.kind.shape[1])

    @property
    def text_dim(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0

    def take(self, rows: np.ndarray | slice) -> ActivitySequences:
        """A subset of rows sharing the same vectors (nothing is copied but the index arrays)."""
        return ActivitySequences(
            kind=self.kind[rows],
            direction=self.direction[rows],
            numeric=self.numeric[rows],
            text_index=self.text_index[rows],
            vectors=self.vectors,
            texts=self.texts,
            text_kinds=self.text_kinds,
        )

    def text(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """(rows, length, dim) float32 embeddings, zeros where there is no text."""
        index = self.text_index if rows is None else self.text_index[rows]
        out = np.zeros((*index.shape, max(self.text_dim, 1)), dtype=np.float32)
        present = index >= 0
        if present.any() and self.text_dim:
            out[present] = self.vectors[index[present]]
        return out[..., : self.text_dim] if self.text_dim else out[..., :0]

    def aggregates(self) -> dict[str, np.ndarray]:
        """Per-row summaries of the sequence, for models that cannot read it step by step (the baselines)."""
        present = self.kind != PAD
        count = present.sum(axis=1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            ages = np.where(present, np.expm1(self.numeric[..., 0]), np.nan)
            gaps = np.where(present, self.numeric[..., 1], np.nan)
            span = np.nanmax(ages, axis=1) - np.nanmin(ages, axis=1)
            mean_gap = np.nanmean(gaps, axis=1)
            inbound = np.where(present, self.direction == direction_index("inbound"), False).sum(axis=1)
            inbound_share = inbound / np.where(count > 0, count, np.nan)
        return {
            "seq_length": count,
            "seq_span_days": np.where(count > 0, span, np.nan),
            "seq_mean_log_gap": np.where(count > 0, mean_gap, np.nan),
            "seq_inbound_share": inbound_share,
        }


def sequence_steps(
    *,
    times_ns: np.ndarray,
    before: int,
    length: int,
    snapshot_ns: int,
) -> tuple[np.ndarray, np.ndarray]:
    """For one account whose activity times (int64 ns, ascending) are `times_ns` and whose first `before`
    activities happened strictly before the snapshot: (positions of the last `length` of them, oldest first;
    their (age, gap) numbers). The caller places them at the right end of a padded row."""
    start = max(0, before - length)
    positions = np.arange(start, before)
    if not len(positions):
        return positions, np.zeros((0, len(STEP_NUMERIC)), dtype=np.float32)
    times = times_ns[positions]
    age_days = np.maximum(snapshot_ns - times, 0) / _NS_PER_DAY
    previous = times_ns[np.maximum(positions - 1, 0)]
    gap_days = np.where(positions > 0, np.maximum(times - previous, 0) / _NS_PER_DAY, 0.0)
    numbers = np.stack([np.log1p(age_days), np.log1p(gap_days)], axis=1).astype(np.float32)
    return positions, numbers


def sequences_empty(*, rows: int, length: int, dim: int) -> ActivitySequences:
    return ActivitySequences(
        kind=np.zeros((rows, length), dtype=np.int64),
        direction=np.zeros((rows, length), dtype=np.int64),
        numeric=np.zeros((rows, length, len(STEP_NUMERIC)), dtype=np.float32),
        text_index=np.full((rows, length), -1, dtype=np.int64),
        vectors=np.zeros((0, dim), dtype=np.float32),
    )
