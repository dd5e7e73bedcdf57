"""The churn Transformer's text scale: sentence embeddings are scaled up to the size of the other token
parts for new models, while checkpoints saved without the field keep reading text at scale 1."""

import math

import numpy as np
import pandas as pd
import torch

from ml.engine.activity_sequences import ActivitySequences
from ml.engine.churn_training import train_churn_model
from ml.engine.nets.activity_sequence import ActivityTokenizer, ChurnTransformerConfig
from ml.engine.nets.ft_transformer import FTTransformerConfig
from ml.engine.schema import ColumnSpec, TableSchema
from ml.engine.training import TrainingParams


def _config(**extra) -> ChurnTransformerConfig:
    return ChurnTransformerConfig(
        table=FTTransformerConfig(n_numeric=1, d_token=8, n_heads=2, n_layers=1),
        n_kinds=7,
        n_directions=5,
        sequence_length=3,
        text_dim=4,
        **extra,
    )


def test_text_scale_multiplies_the_text_part_of_each_token():
    torch.manual_seed(0)
    kind, direction = torch.tensor([[0, 2, 3]]), torch.tensor([[0, 1, 2]])
    numeric, text = torch.rand(1, 3, 2), torch.rand(1, 3, 4)
    plain = ActivityTokenizer(_config())
    scaled = ActivityTokenizer(_config(text_scale=5.0))
    scaled.load_state_dict(plain.state_dict())  # same weights: only the scale differs
    without = plain(kind, direction, numeric, torch.zeros_like(text))
    with torch.no_grad():
        delta_plain = plain(kind, direction, numeric, text) - without
        delta_scaled = scaled(kind, direction, numeric, text) - without
    assert torch.allclose(delta_scaled[:, 1:], 5.0 * delta_plain[:, 1:], atol=1e-5)
    assert torch.equal(delta_scaled[:, 0], torch.zeros_like(delta_scaled[:, 0]))  # padding stays padding


def test_old_configs_read_text_at_scale_one_and_new_models_at_sqrt_dim():
    saved_before_the_field = {k: v for k, v in _config().to_dict().items() if k != "text_scale"}
    assert ChurnTransformerConfig.from_dict(saved_before_the_field).text_scale == 1.0

    rng = np.random.default_rng(0)
    rows, dim = 60, 6
    frame = pd.DataFrame({"tenure_days": rng.uniform(30, 300, rows)})
    vectors = rng.normal(size=(rows, dim)).astype(np.float32)
    sequences = ActivitySequences(
        kind=np.full((rows, 2), 4),
        direction=np.ones((rows, 2), dtype=np.int64),
        numeric=np.zeros((rows, 2, 2), dtype=np.float32),
        text_index=np.stack([np.arange(rows)] * 2, axis=1),
        vectors=vectors / np.linalg.norm(vectors, axis=1, keepdims=True),
        texts=["t"] * rows,
        text_kinds=["note"] * rows,
    )
    labels = (np.arange(rows) % 4 == 0).astype(int)
    schema = TableSchema(columns=(ColumnSpec("tenure_days", "numeric", "Days as a customer"),))
    params = TrainingParams(d_token=8, n_heads=2, n_layers=1, epochs=1, min_frequency=1)
    with_text = train_churn_model(frame=frame, sequences=sequences, labels=labels, schema=schema, params=params)
    assert with_text.config.text_scale == math.sqrt(dim)
    params.text = False
    without_text = train_churn_model(frame=frame, sequences=sequences, labels=labels, schema=schema, params=params)
    assert without_text.config.text_dim == 0 and without_text.config.text_scale == 1.0
