"""Point-in-time text features per contact: what was written in its notes, emails, calls and meetings.

Only activities with occurred_at strictly before `as_of` count (same rule as `ml.features.lead`), so a
training row at snapshot S never sees text written at or after S. An activity's text is its subject and
body joined ("subject\\nbody"); activities with neither are skipped.

Public API:
- `contact_text_frame(...)`: one concatenated text per contact (its last N activities), for models that
  tokenise text themselves or for showing "the sentence that moved the score".
- `lead_text_features(...)`: (n, 384) float32, row i = mean of the sentence embeddings of contact_ids[i]'s
  last K activities before `as_of` (zero vector when it has none). This is what the lead model's text
  tokens will read. Embeddings come from `ml.text.cache` (encoded once per distinct text, ever).
- `lead_text_inputs(...)`: what the lead Transformer reads, as frame columns (LEAD_TEXT_COLUMNS: the mean
  of the last K activity embeddings and the newest activity's embedding, None when nothing was written),
  plus the activity texts behind them (`TextEvidence`), which explanations split into sentences.
  `lead_text_columns_at(...)` does the same for many snapshots from one read (training).
The pure helpers (`contact_texts_build`, `activity_embeddings_pool`, `text_token_vectors`) take frames and
arrays, not the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from ml.engine.schema import ColumnSpec
from ml.engine.text_encoder import EMBEDDING_DIM
from ml.text.cache import text_embeddings_get
from salesai.core.models import Activity

LAST_N_TEXTS_DEFAULT = 5  # activities concatenated per contact
LAST_K_EMBEDDINGS_DEFAULT = 10  # activity embeddings averaged per contact
TEXT_SEPARATOR = "\n\n"
_IN_CHUNK = 900  # ids per SQL IN (...) list, under SQLite's variable limit
_ACTIVITY_COLUMNS = ["contact_id", "occurred_at", "text", "kind"]
# The lead model's text tokens; one explanation factor ("text") for both, since they read the same notes.
TEXT_FACTOR = "text"
LEAD_TEXT_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("text_recent", "text", "Recent activity text", TEXT_FACTOR),
    ColumnSpec("text_last", "text", "Latest activity text", TEXT_FACTOR),
)


@dataclass
class TextEvidence:
    """Per frame row: the activity texts behind its text columns, oldest first, as (kind label, text), and
    how to rebuild the columns from their embeddings, so explanations can test the text without a sentence."""

    documents: list[list[tuple[str, str]]]
    last_k: int = LAST_K_EMBEDDINGS_DEFAULT

    def embed(self, texts: list[str]) -> np.ndarray:
        return text_embeddings_get(texts=texts)

    def columns(self, vectors: np.ndarray) -> dict[str, np.ndarray | None]:
        """Text column values from one row's activity embeddings (oldest first; blank texts already out)."""
        mean, last = text_token_vectors(vectors, last_k=self.last_k)
        return {LEAD_TEXT_COLUMNS[0].name: mean, LEAD_TEXT_COLUMNS[1].name: last}


@dataclass
class LeadTextInputs:
    columns: pd.DataFrame  # index = contact id; LEAD_TEXT_COLUMNS holding vectors or None
    evidence: TextEvidence


# --- public API (reads the ORM once, then pure pandas/numpy) ---------------------------------------------
def contact_text_frame(
    *, organization_id: int, contact_ids: list[int], as_of: datetime, last_n: int = LAST_N_TEXTS_DEFAULT
) -> pd.DataFrame:
    """Index = contact id (in `contact_ids` order), column `text`: its last `last_n` activity texts before
    `as_of`, oldest first, joined by blank lines ("" when none)."""
    activities = activity_texts(organization_id=organization_id, contact_ids=contact_ids, until=as_of)
    return contact_texts_build(activities, contact_ids=contact_ids, as_of=as_of, last_n=last_n)


def lead_text_features(
    *, organization_id: int, contact_ids: list[int], as_of: datetime, last_k: int = LAST_K_EMBEDDINGS_DEFAULT
) -> np.ndarray:
    """(len(contact_ids), 384) float32: per contact, the mean embedding of its last `last_k` activity
    texts strictly before `as_of`; zeros for contacts with no text yet. Row order = `contact_ids`."""
    activities = activity_texts(organization_id=organization_id, contact_ids=contact_ids, until=as_of)
    recent = _last_per_contact(activities, as_of=as_of, last=last_k)
    vectors = text_embeddings_get(texts=recent["text"].tolist())
    return activity_embeddings_pool(recent, vectors, contact_ids=contact_ids, as_of=as_of, last_k=last_k)


def lead_text_inputs(
    *, organization_id: int, contact_ids: list[int], as_of: datetime, last_k: int = LAST_K_EMBEDDINGS_DEFAULT
) -> LeadTextInputs:
    """The lead model's text columns for `contact_ids` (row order kept) as known strictly before `as_of`,
    plus the texts behind them. Embeddings come from the cache: rescoring re-encodes nothing unchanged."""
    activities = activity_texts(organization_id=organization_id, contact_ids=contact_ids, until=as_of)
    recent = _last_per_contact(activities, as_of=as_of, last=last_k)
    vectors = text_embeddings_get(texts=recent["text"].tolist())
    columns = _text_columns(recent, vectors, contact_ids=contact_ids, as_of=as_of, last_k=last_k)
    by_contact: dict[int, list[tuple[str, str]]] = {}
    for contact_id, kind, text in zip(recent["contact_id"], recent["kind"], recent["text"], strict=True):
        by_contact.setdefault(int(contact_id), []).append((kind_label(kind), text))
    documents = [by_contact.get(int(i), []) for i in contact_ids]
    return LeadTextInputs(columns=columns, evidence=TextEvidence(documents=documents, last_k=last_k))


def lead_text_columns_at(
    *,
    organization_id: int,
    contact_ids_at: Sequence[tuple[datetime, list[int]]],
    last_k: int = LAST_K_EMBEDDINGS_DEFAULT,
) -> list[pd.DataFrame]:
    """For each (snapshot, contact ids): the lead text columns at that snapshot. One activity read and one
    embedding lookup for all snapshots (training builds several)."""
    if not contact_ids_at:
        return []
    until = max(moment for moment, _ in contact_ids_at)
    ids = sorted({int(i) for _, chunk in contact_ids_at for i in chunk})
    activities = activity_texts(organization_id=organization_id, contact_ids=ids, until=until)
    vectors = text_embeddings_get(texts=activities["text"].tolist())
    return [
        _text_columns(activities, vectors, contact_ids=chunk, as_of=moment, last_k=last_k)
        for moment, chunk in contact_ids_at
    ]


def kind_label(kind: str | None) -> str:
    """ "note" -> "Note": how a text's source reads in a reason."""
    return str(Activity.Kind(kind).label) if kind in Activity.Kind.values else "Activity"


# --- ORM read ---------------------------------------------------------------------------------------------
def activity_texts(*, organization_id: int, contact_ids: list[int], until: datetime) -> pd.DataFrame:
    """Columns contact_id, occurred_at, text for live activities of these contacts with occurred_at < until
    and some text."""
    _require_aware(until)
    records: list[tuple] = []
    ids = list(dict.fromkeys(int(i) for i in contact_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        records.extend(
            Activity.objects.filter(
                organization_id=organization_id,
                deleted_at__isnull=True,
                contact_id__in=ids[start : start + _IN_CHUNK],
                occurred_at__lt=until,
            ).values_list("contact_id", "occurred_at", "subject", "body", "id", "kind")
        )
    rows = []
    for contact_id, occurred_at, subject, body, activity_id, kind in records:
        text = activity_text(subject=subject, body=body)
        if text:
            rows.append((contact_id, occurred_at, text, kind, activity_id))
    frame = pd.DataFrame(rows, columns=[*_ACTIVITY_COLUMNS, "id"])
    # Ties on occurred_at break on id, so the same data always gives the same text and pool.
    frame = frame.sort_values(["contact_id", "occurred_at", "id"], kind="stable").drop(columns="id")
    return frame.reset_index(drop=True)


def activity_text(*, subject: str | None, body: str | None) -> str:
    """ "subject\\nbody" without blank parts; "" when the activity has no text."""
    parts = [part.strip() for part in (subject or "", body or "") if part and part.strip()]
    return "\n".join(parts)


# --- pure helpers -----------------------------------------------------------------------------------------
def contact_texts_build(
    activities: pd.DataFrame, *, contact_ids: list[int], as_of: datetime, last_n: int = LAST_N_TEXTS_DEFAULT
) -> pd.DataFrame:
    """One text per contact from an activity frame (contact_id, occurred_at, text); see contact_text_frame."""
    recent = _last_per_contact(activities, as_of=as_of, last=last_n)
    joined = recent.groupby("contact_id", sort=False)["text"].agg(TEXT_SEPARATOR.join)
    index = pd.Index([int(i) for i in contact_ids], name="contact_id")
    return pd.DataFrame({"text": joined.reindex(index).fillna("").astype(str)}, index=index)


def activity_embeddings_pool(
    activities: pd.DataFrame,
    vectors: np.ndarray,
    *,
    contact_ids: list[int],
    as_of: datetime,
    last_k: int = LAST_K_EMBEDDINGS_DEFAULT,
) -> np.ndarray:
    """Mean of the last `last_k` activity vectors before `as_of` per contact (row i of `vectors` belongs to
    row i of `activities`); zero rows for contacts with none. Returns (len(contact_ids), dim) float32."""
    if len(activities) != len(vectors):
        raise ValueError(f"{len(activities)} activities but {len(vectors)} vectors")
    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else EMBEDDING_DIM
    out = np.zeros((len(contact_ids), dim), dtype=np.float32)
    if activities.empty:
        return out
    frame = activities.reset_index(drop=True).assign(_row=np.arange(len(activities)))
    recent = _last_per_contact(frame, as_of=as_of, last=last_k)
    position = {int(contact_id): i for i, contact_id in enumerate(contact_ids)}
    for contact_id, rows in recent.groupby("contact_id", sort=False)["_row"]:
        if int(contact_id) in position:
            out[position[int(contact_id)]] = vectors[rows.to_numpy()].mean(axis=0)
    return out


def text_token_vectors(
    vectors: np.ndarray, *, last_k: int = LAST_K_EMBEDDINGS_DEFAULT
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(mean of the last `last_k`, the newest) of one contact's activity embeddings, oldest first; None, None
    when it has none. The one definition of the lead text tokens, shared by features and explanations."""
    if len(vectors) == 0:
        return None, None
    recent = np.asarray(vectors, dtype=np.float32)[-last_k:]
    return recent.mean(axis=0), recent[-1].copy()


def _text_columns(
    activities: pd.DataFrame, vectors: np.ndarray, *, contact_ids: list[int], as_of: datetime, last_k: int
) -> pd.DataFrame:
    """LEAD_TEXT_COLUMNS for `contact_ids` from activities (row i <-> vectors[i]), strictly before `as_of`."""
    index = pd.Index([int(i) for i in contact_ids], name="contact_id")
    values: dict[str, list[np.ndarray | None]] = {spec.name: [None] * len(index) for spec in LEAD_TEXT_COLUMNS}
    if not activities.empty:
        frame = activities.reset_index(drop=True).assign(_row=np.arange(len(activities)))
        recent = _last_per_contact(frame, as_of=as_of, last=last_k)
        position: dict[int, list[int]] = {}
        for i, contact_id in enumerate(index):
            position.setdefault(int(contact_id), []).append(i)
        for contact_id, rows in recent.groupby("contact_id", sort=False)["_row"]:
            columns = TextEvidence(documents=[], last_k=last_k).columns(vectors[rows.to_numpy()])
            for i in position.get(int(contact_id), []):
                for name, vector in columns.items():
                    values[name][i] = vector
    return pd.DataFrame({name: pd.Series(column, index=index, dtype=object) for name, column in values.items()})


def _last_per_contact(activities: pd.DataFrame, *, as_of: datetime, last: int) -> pd.DataFrame:
    """Each contact's newest `last` activities strictly before `as_of`, oldest first."""
    _require_aware(as_of)
    if last <= 0:
        raise ValueError("last must be positive")
    if activities.empty:
        return activities.iloc[0:0]
    before = activities[pd.to_datetime(activities["occurred_at"], utc=True) < pd.Timestamp(as_of)]
    before = before.sort_values(["contact_id", "occurred_at"], kind="stable")
    return before.groupby("contact_id", sort=False).tail(last)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("as_of must be a timezone-aware datetime")
