"""`--text` columns: embedded once per distinct value, read by the Transformer as text tokens."""

from pathlib import Path

import numpy as np
import pandas as pd

from ml.engine.benchmark import benchmark_dataset_load, benchmark_run
from ml.engine.training import TrainingParams

WORDS = {"budget": 0, "later": 1}


def _csv(path: Path, rows: int = 600) -> Path:
    """The label depends only on what the note says; one row in five has no note."""
    rng = np.random.default_rng(0)
    keen = rng.random(rows) < 0.4
    notes = [
        "" if i % 5 == 0 else (f"budget approved #{i % 7}" if keen[i] else f"call me later #{i % 7}")
        for i in range(rows)
    ]
    churn = np.where(rng.random(rows) < np.where(keen, 0.85, 0.1), "Yes", "No")
    pd.DataFrame({"x": rng.normal(size=rows), "Note": notes, "Churn": churn}).to_csv(path, index=False)
    return path


class SpyEmbed:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, 3] = 0.2
            for word, axis in WORDS.items():
                out[row, axis] = float(word in text)
        return out


def test_text_columns_are_embedded_once_per_distinct_value(tmp_path: Path) -> None:
    embed = SpyEmbed()
    dataset = benchmark_dataset_load(
        csv_path=_csv(tmp_path / "n.csv"), target="Churn", positive="Yes", text=["Note"], embed=embed
    )
    assert dataset.schema.column("Note").kind == "text"
    assert len(embed.calls) == 1 and len(embed.calls[0]) == len(set(embed.calls[0])) == 14
    vectors = dataset.embeddings["Note"]
    assert vectors.iloc[0] is None  # blank note: nothing written
    np.testing.assert_array_equal(vectors.iloc[1], embed([dataset.frame["Note"].iloc[1]])[0])
    assert isinstance(dataset.frame["Note"].iloc[1], str)  # the baselines keep the raw text
    assert dataset.transformer_frame()["Note"].iloc[1] is vectors.iloc[1]


def test_transformer_reads_the_text_tokens_in_the_benchmark(tmp_path: Path) -> None:
    dataset = benchmark_dataset_load(
        csv_path=_csv(tmp_path / "n.csv"), target="Churn", positive="Yes", text=["Note"], embed=SpyEmbed()
    )
    params = TrainingParams(epochs=6, d_token=8, n_layers=1, n_heads=2, batch_size=64, min_frequency=1000)
    result = benchmark_run(
        dataset=dataset, folds=2, models=["transformer", "lightgbm"], params=params, lightgbm_configs=1
    )
    summary = result.summary()
    # min_frequency=1000 folds every raw note into "<rare>" for LightGBM: only the Transformer's text tokens
    # can still see what the note says.
    assert summary["transformer"]["roc_auc"][0] > 0.75
    assert summary["transformer"]["roc_auc"][0] > summary["lightgbm"]["roc_auc"][0] + 0.1
    assert result.dataset["columns"]["text"] == ["Note"]
