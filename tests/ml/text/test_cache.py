import numpy as np
import pytest

from ml.engine import text_encoder
from ml.engine.text_encoder import EMBEDDING_DIM, ENCODER_NAME, encoder_get, text_sha256
from ml.models import TextEmbedding
from ml.text import cache
from ml.text.cache import text_embeddings_get

pytestmark = pytest.mark.django_db


def test_each_unique_text_is_encoded_once_and_then_served_from_the_cache(encode_calls):
    texts = ["Send me the pricing sheet.", "Send me the pricing sheet.", "Call me after the board meeting."]

    first = text_embeddings_get(texts=texts)

    assert encode_calls == [["Send me the pricing sheet.", "Call me after the board meeting."]]
    assert TextEmbedding.objects.count() == 2
    np.testing.assert_array_equal(first[0], first[1])
    np.testing.assert_allclose(first, encoder_get(device="cpu").encode(texts), atol=1e-6)

    encode_calls.clear()
    second = text_embeddings_get(texts=texts[::-1])

    assert encode_calls == []  # all hits
    np.testing.assert_array_equal(second, first[::-1])


def test_only_misses_are_encoded(encode_calls):
    text_embeddings_get(texts=["known text"])
    encode_calls.clear()

    vectors = text_embeddings_get(texts=["known text", "new text"])

    assert encode_calls == [["new text"]]
    assert vectors.shape == (2, EMBEDDING_DIM)
    assert TextEmbedding.objects.filter(encoder=ENCODER_NAME).count() == 2


def test_stored_vector_is_exact_float32():
    vector = text_embeddings_get(texts=["Renewal is due in March."])[0]
    row = TextEmbedding.objects.get(content_sha256=text_sha256("Renewal is due in March."))
    assert row.dim == EMBEDDING_DIM
    np.testing.assert_array_equal(np.frombuffer(bytes(row.vector), dtype="<f4"), vector)


def test_blank_texts_are_zero_vectors_without_the_encoder(monkeypatch: pytest.MonkeyPatch):
    def no_encoder(**kwargs):
        raise AssertionError("the encoder must not be loaded for blank text")

    monkeypatch.setattr(text_encoder, "encoder_get", no_encoder)

    vectors = text_embeddings_get(texts=["", "   ", "\n\t", None])  # type: ignore[list-item]

    assert vectors.shape == (4, EMBEDDING_DIM)
    assert not vectors.any()
    assert TextEmbedding.objects.count() == 0


def test_blank_rows_stay_zero_next_to_real_text():
    vectors = text_embeddings_get(texts=["", "We signed!", " "])
    assert not vectors[0].any() and not vectors[2].any()
    assert np.isclose(np.linalg.norm(vectors[1]), 1.0, atol=1e-5)


def test_empty_input():
    assert text_embeddings_get(texts=[]).shape == (0, EMBEDDING_DIM)


def test_a_row_stored_concurrently_is_not_a_conflict(monkeypatch: pytest.MonkeyPatch):
    # Another worker stored the same text between our lookup (which missed) and our insert.
    text = "Race condition text"
    vector = encoder_get(device="cpu").encode([text])[0]
    TextEmbedding.objects.create(
        content_sha256=text_sha256(text), encoder=ENCODER_NAME, dim=EMBEDDING_DIM, vector=vector.tobytes()
    )
    monkeypatch.setattr(cache, "_cached_vectors", lambda **kwargs: {})

    again = text_embeddings_get(texts=[text])[0]

    assert TextEmbedding.objects.count() == 1
    np.testing.assert_allclose(again, vector, atol=1e-6)
