import numpy as np
import pandas as pd
import pytest

from ml.engine import training
from ml.engine.schema import ColumnSpec, TableSchema
from ml.engine.training import SEARCH_CANDIDATES, TrainingParams, _lr_factor, holdout_split, train_tabular_model

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
    assert first.metrics["split_rows"]["train"] + first.metrics["split_rows"]["valid"] + first.metrics["split_rows"][
        "test"
    ] == len(frame)
    assert first.log and {"epoch", "train_loss", "valid_loss"} <= set(first.log[0])
    assert first.calibrator.method == "platt"
    second = train_tabular_model(frame=frame, labels=labels, schema=SCHEMA, params=TrainingParams(**TINY))
    assert second.metrics["roc_auc"] == first.metrics["roc_auc"]
    assert [e["valid_loss"] for e in second.log] == [e["valid_loss"] for e in first.log]


def test_early_stopping_keeps_the_best_epoch():
    frame, labels = _problem(n=400)
    trained = train_tabular_model(
        frame=frame,
        labels=labels,
        schema=SCHEMA,
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
    without = train_tabular_model(frame=frame, labels=labels, schema=schema, params=TrainingParams(**TINY, text=False))
    assert with_text.config.n_text == 1 and with_text.config.text_dim == 8
    assert without.config.n_text == 0 and "notes" not in without.preprocessor.fields
    assert with_text.metrics["roc_auc"] > 0.7
    assert with_text.metrics["roc_auc"] > without.metrics["roc_auc"] + 0.1


# --- PLR embeddings, ensembles, the learning-rate schedule and the hyper-parameter search ----------------------
def test_new_defaults_train_a_periodic_ensemble_with_the_folded_cls_attention():
    frame, labels = _problem()
    trained = train_tabular_model(frame=frame, labels=labels, schema=SCHEMA, params=TrainingParams(**TINY))
    assert trained.config.numeric_embedding == "periodic" and trained.config.n_members == 3
    assert trained.config.folded_cls_attention
    assert trained.metrics["roc_auc"] > 0.75


def test_the_old_recipe_is_still_one_switch_away():
    frame, labels = _problem()
    old = dict(numeric_embedding="linear", n_members=1, lr_schedule="constant", warmup_epochs=0.0)
    trained = train_tabular_model(frame=frame, labels=labels, schema=SCHEMA, params=TrainingParams(**TINY, **old))
    assert trained.config.numeric_embedding == "linear" and trained.net.members is None
    assert trained.metrics["roc_auc"] > 0.75


def test_learning_rate_warms_up_then_decays_to_zero_on_a_cosine():
    params = TrainingParams(epochs=10, warmup_epochs=1.0)
    factor = _lr_factor(params=params, steps_per_epoch=10)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0) and factor(55) == pytest.approx(0.5)
    assert factor(99) < 0.01
    assert all(factor(step) >= factor(step + 1) for step in range(10, 99))
    constant = _lr_factor(params=TrainingParams(lr_schedule="constant", warmup_epochs=0.0), steps_per_epoch=10)
    assert {constant(step) for step in range(0, 300, 7)} == {1.0}


def test_sample_weights_reach_every_ensemble_member():
    frame, labels = _problem(n=600)
    weights = np.where(np.arange(600) % 2 == 0, 1.0, 0.0)
    params = TrainingParams(**{**TINY, "epochs": 2})
    weighted = train_tabular_model(frame=frame, labels=labels, schema=SCHEMA, params=params, sample_weight=weights)
    plain = train_tabular_model(frame=frame, labels=labels, schema=SCHEMA, params=params)
    assert weighted.log[0]["train_loss"] != plain.log[0]["train_loss"]


def test_search_picks_the_candidate_with_the_lowest_validation_loss_and_is_seeded():
    frame, labels = _problem(n=600)
    params = TrainingParams(**{**TINY, "epochs": 4, "search_candidates": 3})
    first = train_tabular_model(frame=frame, labels=labels, schema=SCHEMA, params=params)
    search = first.metrics["search"]
    assert [entry["overrides"] for entry in search] == [{}, *SEARCH_CANDIDATES[:2]]
    best = min(search, key=lambda entry: entry["valid_loss"])
    assert min(entry["valid_loss"] for entry in first.log) == best["valid_loss"]
    for key, value in best["overrides"].items():
        assert getattr(first.params, key) == value
    second = train_tabular_model(frame=frame, labels=labels, schema=SCHEMA, params=params)
    assert second.metrics == first.metrics  # same data + seed = same metrics, search included


def test_search_never_sees_the_test_rows(monkeypatch):
    # Every row carries its own id as a numeric column, so the rows the search trains and validates on can be
    # read back from the tables it is handed.
    frame, labels = _problem(n=600)
    frame = frame.assign(row_id=np.arange(600, dtype=float))
    schema = TableSchema(columns=(*SCHEMA.columns, ColumnSpec("row_id", "numeric", "Row")))
    seen: list[np.ndarray] = []
    original = training._fit_net

    def spy(**kwargs):
        for table, _ in (kwargs["train"], kwargs["valid"]):
            seen.append(table.numeric[:, -1].copy())
        return original(**kwargs)

    monkeypatch.setattr(training, "_fit_net", spy)
    split = (np.arange(0, 400), np.arange(400, 500), np.arange(500, 600))
    trained = train_tabular_model(
        frame=frame,
        labels=labels,
        schema=schema,
        split=split,
        params=TrainingParams(**{**TINY, "epochs": 2, "search_candidates": 3}),
    )
    assert len(seen) == 2 * 3  # three candidates, each handed its training and validation rows
    scaled = trained.preprocessor.transform(frame).numeric[:, -1]
    test_values = set(scaled[500:].tolist())
    assert len(test_values) == 100  # the ids stay distinct after scaling
    for values in seen:
        assert not set(values.tolist()) & test_values
    assert set(np.concatenate(seen).tolist()) == set(scaled[:500].tolist())
