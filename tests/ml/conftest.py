from pathlib import Path
from typing import Any

import pytest
import torch

from ml.registry import model_cache_clear
from ml.serving import served_cache_clear


@pytest.fixture(autouse=True)
def isolated_model_store(settings: Any, tmp_path: Path) -> Path:
    """Each test writes checkpoints to its own folder and starts with an empty model cache."""
    settings.MODEL_STORE_DIR = tmp_path / "models"
    settings.ML_DEVICE = "cpu"
    settings.ML_TORCH_THREADS = 1
    model_cache_clear()
    served_cache_clear()
    yield settings.MODEL_STORE_DIR
    model_cache_clear()
    served_cache_clear()


@pytest.fixture(autouse=True)
def one_torch_thread() -> None:
    torch.set_num_threads(1)
