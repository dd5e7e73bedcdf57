"""Baseline artifacts pickled before the pure code moved into ml.engine still load and score the same.

The fixtures were written by the code as it was before the move (classes under `ml.baseline_serving`,
`ml.baselines`, `ml.calibration`, `ml.features.schema`), with the scores they gave at the time."""

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.engine.baseline_serving import LEGACY_MODULE_PATHS, BaselineScorer, baseline_artifact_load
from ml.engine.checkpoints import file_sha256

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_frame() -> pd.DataFrame:
    """The rows the fixtures were fitted on (same seed and recipe as when they were written)."""
    rng = np.random.default_rng(0)
    rows = 300
    return pd.DataFrame(
        {
            "score": rng.normal(size=rows),
            "plan": rng.choice(["free", "pro", None], rows).astype(object),
            "visits": rng.poisson(3, rows).astype(float),
            "signed_up": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 300, rows), unit="D"),
        }
    )


@pytest.mark.parametrize("family", ["logistic", "lightgbm"])
def test_artifact_pickled_under_the_old_module_paths_loads_and_scores_the_same(family):
    path = FIXTURES / f"baseline_{family}_old_module_paths.joblib"
    assert b"ml.baseline_serving" in _pickle_bytes(path)  # really written under the old paths
    expected = json.loads((FIXTURES / "baseline_old_module_paths_expected.json").read_text())[family]

    scorer = baseline_artifact_load(path=path, expected_sha256=file_sha256(path))

    assert isinstance(scorer, BaselineScorer) and scorer.family == family
    assert type(scorer.model).__module__ == "ml.engine.baselines"
    rows = fixture_frame().iloc[:20]
    np.testing.assert_allclose(scorer.probabilities(rows), expected["probabilities"], atol=1e-9)
    np.testing.assert_allclose(scorer.field_attributions(rows), expected["attributions"], atol=1e-9)


def test_the_old_module_paths_stay_gone():
    for old, new in LEGACY_MODULE_PATHS.items():
        importlib.import_module(new)
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)


def _pickle_bytes(path: Path) -> bytes:
    import zlib

    data = path.read_bytes()
    return zlib.decompress(data) if data[:1] == b"x" else data
