import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.engine.text_encoder import (
    EMBEDDING_DIM,
    encoder_clear,
    encoder_get,
    mean_pool_normalise,
    model_folder,
    text_sha256,
)

TEXTS = [
    "Thanks, can we schedule a demo next week?",
    "Budget approved for Q3, legal is reviewing the contract.",
    "Not interested right now, please remove me from your list.",
    "ok",
    "Called, left voicemail. " * 80,  # longer than 256 word pieces: truncated the same way
]


def test_model_ships_in_the_package_folder():
    folder = model_folder()
    assert (folder / "config.json").is_file()
    assert (folder / "1_Pooling" / "config.json").is_file()
    assert any(folder.glob("*.safetensors"))


def test_embeddings_match_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    ours = encoder_get(device="cpu").encode(TEXTS, batch_size=2)
    reference = SentenceTransformer(str(model_folder()), device="cpu").encode(TEXTS, convert_to_numpy=True)
    assert ours.shape == (len(TEXTS), EMBEDDING_DIM)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_batch_size_and_order_do_not_change_vectors():
    encoder = encoder_get(device="cpu")
    one_by_one = np.vstack([encoder.encode([text]) for text in TEXTS])
    reversed_batch = encoder.encode(TEXTS[::-1], batch_size=8)[::-1]
    np.testing.assert_allclose(one_by_one, reversed_batch, atol=1e-5)


def test_similar_sentences_are_closer_than_unrelated_ones():
    demo, meeting, weather = encoder_get(device="cpu").encode(
        ["Can we book a product demo?", "I'd like to schedule a demo of your product.", "It rained all day."]
    )
    assert demo @ meeting > demo @ weather + 0.2


def test_encoder_is_loaded_once_per_process():
    assert encoder_get(device="cpu") is encoder_get(device="cpu")


def test_mean_pool_ignores_padding():
    tokens = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]])
    pooled = mean_pool_normalise(tokens, torch.tensor([[1, 1, 0]]))
    np.testing.assert_allclose(pooled.numpy(), [[1.0, 0.0]])


def test_loads_and_encodes_without_network(monkeypatch: pytest.MonkeyPatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    encoder_clear()  # force a fresh load from disk under the guard
    try:
        vectors = encoder_get(device="cpu").encode(["offline please"])
    finally:
        encoder_clear()
    assert vectors.shape == (1, EMBEDDING_DIM)
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)


def test_content_hash_is_exact():
    assert text_sha256("a") != text_sha256("a ")
    assert len(text_sha256("ü")) == 64


def test_import_loads_neither_transformers_nor_cuda():
    import subprocess
    import sys

    probe = (
        "import sys, torch, ml.engine.text_encoder; "
        "assert 'transformers' not in sys.modules, 'transformers imported eagerly'; "
        "assert not torch.cuda.is_initialized(), 'CUDA touched at import'"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=120, cwd=root
    )
    assert result.returncode == 0, result.stderr
