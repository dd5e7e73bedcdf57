import numpy as np
import pandas as pd
import pytest

from ml.features.schema import ColumnSpec, TableSchema
from ml.training import TrainingParams, holdout_split, train_tabular_model

SCHEMA = TableSchema(
    columns=(
        ColumnSpec("signal", "numeric", "Signal"),
        ColumnSpec("noise", "numeric", "Noise"),
        ColumnSpec("source", "categorical", "Source"),
    )
)
TINY = dict(d_token=16, n_heads=2, n_layers=1, epochs=12, batch_size=64, patience=4)


def _problem(n: int = 900, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "source": rng.choice(["good", "bad", "meh"], n).astype(object),
        }
    )
    logit = -1.5 + 2.0 * frame["signal"] + 1.5 * (frame["source"] == "good")
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, labels


def test_holdout_split_keeps_groups_together_and_stratifies():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), 3)
    labels = np.repeat(rng.random(200) < 0.2, 3).astype(int)
    train, valid, test = holdout_split(labels, groups=groups, valid_fraction=0.2, test_fraction=0.2, seed=1)
    assert sorted(np.concatenate([train, valid, test]).tolist()) == list(range(600))
    assert not set(groups[train]) & set(groups[test]) and not set(groups[valid]) & set(groups[test])
    for part in (valid, test):
        assert abs(labels[part].mean() - labels.mean()) < 0.03
    again = holdout_split(labels, groups=groups, valid_fraction=0.2, test_fraction=0.2, seed=1)
    assert all((a == b).all() for a, b in zip((train, valid, test), again, strict=True))


def test_training_learns_a_real_signal_and_is_deterministic():
    frame, labels = _problem()
    first = train_tabular_model(frame=frame, labels=labels, schema=SCHEMA, params=TrainingParams(**TINY))
    assert first.metrics["roc_auc"] > 0.75
    assert first.metrics["split_rows"]["train"] + first.metrics["split_rows"]["valid"] + first.metrics[
        "split_rows"
    ]["test"] == len(frame)
    assert first.log and {"epoch", "train_loss", "valid_loss"} <= set(first.log[0])
    assert first.calibrator.method == "platt"
    second = train_tabular_model(frame=frame, labels=labels, schema=SCHEMA, params=TrainingParams(**TINY))
    assert second.metrics["roc_auc"] == first.metrics["roc_auc"]
    assert [e["valid_loss"] for e in second.log] == [e["valid_loss"] for e in first.log]


def test_early_stopping_keeps_the_best_epoch():
    frame, labels = _problem(n=400)
    trained = train_tabular_model(
        frame=frame, labels=labels, schema=SCHEMA,
        params=TrainingParams(**{**TINY, "epochs": 40, "patience": 2, "learning_rate": 3e-2}),
    )
    losses = [entry["valid_loss"] for entry in trained.log]
    assert len(losses) < 40  # stopped early
    assert trained.metrics["best_epoch"] == int(np.argmin(losses)) + 1


def test_large_training_sets_are_subsampled_keeping_every_positive():
    frame, labels = _problem(n=1200)
    trained = train_tabular_model(
        frame=frame, labels=labels, schema=SCHEMA, params=TrainingParams(**{**TINY, "epochs": 1, "max_train_rows": 300})
    )
    assert trained.metrics["split_rows"]["train_used"] == 300


def test_params_reject_unknown_keys_and_nonsense():
    with pytest.raises(ValueError, match="unknown training params: epoks"):
        TrainingParams.from_dict({"epoks": 3})
    with pytest.raises(ValueError):
        TrainingParams.from_dict({"epochs": 0})
    assert TrainingParams.from_dict({"epochs": 3}).epochs == 3


def test_training_needs_both_classes():
    frame, _ = _problem(n=50)
    with pytest.raises(ValueError, match="both"):
        train_tabular_model(frame=frame, labels=np.zeros(50), schema=SCHEMA)


def _text_problem(n: int = 900, dim: int = 8, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, TableSchema]:
    """The label lives only in the text embedding (plus noise); a third of the rows have no text."""
    rng = np.random.default_rng(seed)
    frame, _ = _problem(n, seed)
    topic = rng.integers(0, 2, n)
    labels = (rng.random(n) < np.where(topic == 1, 0.8, 0.1)).astype(int)
    vectors = np.eye(dim, dtype=np.float32)[topic * 2] + rng.normal(0, 0.2, (n, dim)).astype(np.float32)
    notes = pd.Series([None if i % 3 == 0 else vectors[i] for i in range(n)], dtype=object)
    schema = TableSchema(columns=(*SCHEMA.columns, ColumnSpec("notes", "text", "Notes")))
    return frame.assign(noise=0.0, signal=0.0, notes=notes), labels, schema


def test_text_tokens_learn_a_signal_only_the_text_carries():
    frame, labels, schema = _text_problem()
    with_text = train_tabular_model(frame=frame, labels=labels, schema=schema, params=TrainingParams(**TINY))
    without = train_tabular_model(
        frame=frame, labels=labels, schema=schema, params=TrainingParams(**TINY, text=False)
    )
    assert with_text.config.n_text == 1 and with_text.config.text_dim == 8
    assert without.config.n_text == 0 and "notes" not in without.preprocessor.fields
    assert with_text.metrics["roc_auc"] > 0.7
    assert with_text.metrics["roc_auc"] > without.metrics["roc_auc"] + 0.1
