import numpy as np
import pandas as pd
import pytest
import torch

from ml.engine.checkpoints import CheckpointError, checkpoint_load, checkpoint_read, checkpoint_save, file_sha256
from ml.engine.schema import ColumnSpec, TableSchema
from ml.engine.training import TrainingParams, train_tabular_model
from ml.registry import artifact_absolute_path, artifact_relative_path, model_load_cached


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "kind": rng.choice(["a", "b", None], 300).astype(object)})
    labels = (frame["x"] + rng.normal(0, 0.5, 300) > 0.5).astype(int)
    schema = TableSchema(columns=(ColumnSpec("x", "numeric", "X"), ColumnSpec("kind", "categorical", "Kind")))
    params = TrainingParams(d_token=16, n_heads=2, n_layers=1, epochs=3, batch_size=64)
    return train_tabular_model(frame=frame, labels=labels, schema=schema, params=params), frame


def test_checkpoint_round_trip_gives_identical_predictions(trained, tmp_path):
    model, frame = trained
    path = tmp_path / "v1.pt"
    sha256 = checkpoint_save(trained=model, path=path, task="lead_conversion", metadata={"version": 1})
    assert sha256 == file_sha256(path) and len(sha256) == 64
    loaded = checkpoint_load(path=path, expected_sha256=sha256)
    original = model.scoring_model()
    encoded = original.encode(frame)
    np.testing.assert_array_equal(loaded.logits(encoded), original.logits(encoded))
    np.testing.assert_array_equal(loaded.probabilities(loaded.encode(frame)), original.probabilities(encoded))
    assert loaded.metadata["task"] == "lead_conversion"
    assert loaded.metadata["metrics"]["roc_auc"] == model.metrics["roc_auc"]
    assert [f["name"] for f in loaded.metadata["features"]] == ["x", "kind"]
    assert loaded.metadata["versions"]["torch"] == str(torch.__version__)


def test_checkpoint_is_loadable_without_pickled_code(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "v1.pt"
    checkpoint_save(trained=model, path=path, task="lead_conversion")
    payload = torch.load(path, weights_only=True)  # would raise on any non-plain object
    assert payload["architecture"] == "ft_transformer" and "state_dict" in payload


def test_altered_or_foreign_files_are_refused(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "v1.pt"
    sha256 = checkpoint_save(trained=model, path=path, task="lead_conversion")
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(CheckpointError, match="sha256"):
        checkpoint_load(path=path, expected_sha256=sha256)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a SalesAI checkpoint"):
        checkpoint_read(path=foreign)
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint_read(path=tmp_path / "missing.pt")


def test_cache_loads_once_per_version_and_sha(trained, isolated_model_store):
    model, _ = trained
    relative = artifact_relative_path(organization_slug="acme", task="lead_conversion", version=3)
    assert relative == "acme/lead_conversion/v3.pt"
    path = artifact_absolute_path(relative)
    assert path == (isolated_model_store / "acme" / "lead_conversion" / "v3.pt").resolve()
    sha256 = checkpoint_save(trained=model, path=path, task="lead_conversion")
    first = model_load_cached(model_version_id=7, artifact_path=relative, sha256=sha256, device="cpu")
    assert model_load_cached(model_version_id=7, artifact_path=relative, sha256=sha256, device="cpu") is first
    assert model_load_cached(model_version_id=8, artifact_path=relative, sha256=sha256, device="cpu") is not first


def test_artifact_paths_cannot_leave_the_store():
    with pytest.raises(CheckpointError, match="leaves the model store"):
        artifact_absolute_path("../../etc/passwd")


def _text_problem(n: int = 300, dim: int = 6) -> tuple[pd.DataFrame, np.ndarray, TableSchema]:
    rng = np.random.default_rng(3)
    direction = np.eye(dim, dtype=np.float32)[0]
    labels = rng.integers(0, 2, n)
    notes = [
        None if i % 5 == 0 else (direction * (2 * y - 1) + rng.normal(0, 0.3, dim)).astype(np.float32)
        for i, y in enumerate(labels)
    ]
    frame = pd.DataFrame({"x": rng.normal(size=n), "notes": pd.Series(notes, dtype=object)})
    schema = TableSchema(columns=(ColumnSpec("x", "numeric", "X"), ColumnSpec("notes", "text", "Notes")))
    return frame, labels, schema


def test_text_checkpoints_carry_their_text_tokens(tmp_path):
    frame, labels, schema = _text_problem()
    params = TrainingParams(d_token=16, n_heads=2, n_layers=1, epochs=2, batch_size=64)
    model = train_tabular_model(frame=frame, labels=labels, schema=schema, params=params)
    path = tmp_path / "text.pt"
    checkpoint_save(trained=model, path=path, task="lead_conversion")
    loaded = checkpoint_load(path=path)
    assert loaded.net.config.n_text == 1 and loaded.net.config.text_dim == 6
    assert loaded.preprocessor.text_token_columns == ["notes"]
    original = model.scoring_model()
    np.testing.assert_array_equal(loaded.logits(loaded.encode(frame)), original.logits(original.encode(frame)))


def test_checkpoints_from_before_text_support_still_load_and_score(trained, tmp_path):
    model, frame = trained
    path = tmp_path / "old.pt"
    checkpoint_save(trained=model, path=path, task="lead_conversion")
    payload = torch.load(path, weights_only=True)
    # What an older checkpoint looked like: no text keys in the config or the preprocessor.
    del payload["config"]["n_text"], payload["config"]["text_dim"], payload["preprocessor"]["text"]
    torch.save(payload, path)
    loaded = checkpoint_load(path=path)
    assert loaded.net.text_tokenizer is None
    encoded = loaded.encode(frame.assign(notes="ignored: not in this model's schema"))
    original = model.scoring_model()
    np.testing.assert_array_equal(loaded.logits(encoded), original.logits(original.encode(frame)))


def test_ensemble_checkpoints_round_trip_every_member(trained, tmp_path):
    model, frame = trained
    assert model.config.n_members == 3 and model.config.numeric_embedding == "periodic"  # the training defaults
    path = tmp_path / "ensemble.pt"
    checkpoint_save(trained=model, path=path, task="lead_conversion")
    loaded = checkpoint_load(path=path)
    assert len(loaded.net.members) == 2 and loaded.net.config.folded_cls_attention
    original = model.scoring_model()
    np.testing.assert_array_equal(loaded.logits(loaded.encode(frame)), original.logits(original.encode(frame)))


def test_checkpoints_from_before_embeddings_and_ensembles_still_load_and_score(tmp_path):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=200), "kind": rng.choice(["a", "b"], 200).astype(object)})
    labels = (frame["x"] + rng.normal(0, 0.5, 200) > 0.5).astype(int)
    schema = TableSchema(columns=(ColumnSpec("x", "numeric", "X"), ColumnSpec("kind", "categorical", "Kind")))
    params = TrainingParams(
        d_token=16, n_heads=2, n_layers=2, epochs=2, batch_size=64, numeric_embedding="linear", n_members=1
    )
    model = train_tabular_model(frame=frame, labels=labels, schema=schema, params=params)
    path = tmp_path / "old.pt"
    checkpoint_save(trained=model, path=path, task="lead_conversion")
    payload = torch.load(path, weights_only=True)
    for key in ("numeric_embedding", "n_frequencies", "frequency_scale", "n_members", "folded_cls_attention"):
        del payload["config"][key]  # what a checkpoint saved before these fields looked like
    torch.save(payload, path)
    loaded = checkpoint_load(path=path)
    config = loaded.net.config
    assert (config.numeric_embedding, config.n_members, config.folded_cls_attention) == ("linear", 1, False)
    original = model.scoring_model()
    # Same weights; the unfolded attention differs from the folded one by float rounding only.
    np.testing.assert_allclose(loaded.logits(loaded.encode(frame)), original.logits(original.encode(frame)), atol=1e-5)
