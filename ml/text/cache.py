"""Sentence embeddings with a database cache keyed by content hash: unchanged text is never re-encoded.

Django side of `ml.text`: looks vectors up in bulk (TextEmbedding), encodes only the misses with the
process-wide encoder, stores them with `bulk_create(ignore_conflicts=True)` (two workers racing on the same
text both succeed; the vectors are identical anyway).
"""

from __future__ import annotations

import numpy as np
from django.conf import settings

from ml.engine import text_encoder
from ml.models import TextEmbedding

_IN_CHUNK = 900  # hashes per SQL IN (...) list, under SQLite's variable limit
_STORE_BATCH = 500


def text_embeddings_get(*, texts: list[str]) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors in input order.

    Blank or whitespace-only texts (and None) get the zero vector without touching the encoder or the
    database: "nothing written" carries no meaning to encode, and zero adds nothing to a mean pool.
    Each distinct text is encoded at most once per call, and never again once it is cached.
    """
    dim = text_encoder.EMBEDDING_DIM
    name = text_encoder.ENCODER_NAME
    out = np.zeros((len(texts), dim), dtype=np.float32)
    rows_by_hash: dict[str, list[int]] = {}
    text_by_hash: dict[str, str] = {}
    for row, text in enumerate(texts):
        if text_encoder.text_is_blank(text):
            continue
        digest = text_encoder.text_sha256(text)
        rows_by_hash.setdefault(digest, []).append(row)
        text_by_hash.setdefault(digest, text)
    if not rows_by_hash:
        return out

    cached = _cached_vectors(hashes=list(rows_by_hash), encoder_name=name, dim=dim)
    misses = [digest for digest in rows_by_hash if digest not in cached]
    if misses:
        encoder = text_encoder.encoder_get(device=settings.ML_DEVICE, threads=settings.ML_TORCH_THREADS)
        vectors = encoder.encode([text_by_hash[digest] for digest in misses])
        TextEmbedding.objects.bulk_create(
            [
                TextEmbedding(content_sha256=digest, encoder=name, dim=dim, vector=vector.astype("<f4").tobytes())
                for digest, vector in zip(misses, vectors, strict=True)
            ],
            batch_size=_STORE_BATCH,
            ignore_conflicts=True,
        )
        cached.update(zip(misses, vectors, strict=True))
    for digest, rows in rows_by_hash.items():
        out[rows] = cached[digest]
    return out


def _cached_vectors(*, hashes: list[str], encoder_name: str, dim: int) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(hashes), _IN_CHUNK):
        rows = TextEmbedding.objects.filter(
            encoder=encoder_name, dim=dim, content_sha256__in=hashes[start : start + _IN_CHUNK]
        ).values_list("content_sha256", "vector")
        for digest, blob in rows:
            found[digest] = np.frombuffer(bytes(blob), dtype="<f4").astype(np.float32)
    return found
