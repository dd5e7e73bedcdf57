import numpy as np
import torch

from ml.engine.inference import device_resolve, predict_logits, torch_threads_set
from ml.engine.nets.ft_transformer import FTTransformer, FTTransformerConfig
from ml.engine.schema import EncodedTable


def test_auto_device_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_resolve("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_resolve("auto") == torch.device("cuda")
    assert device_resolve("CPU") == torch.device("cpu")


def test_batched_prediction_equals_one_big_batch_and_leaves_no_graph():
    torch.manual_seed(0)
    net = FTTransformer(FTTransformerConfig(n_numeric=2, categorical_cardinalities=[3], d_token=8, n_heads=2))
    rng = np.random.default_rng(0)
    table = EncodedTable(
        numeric=rng.normal(size=(37, 2)).astype(np.float32), categorical=rng.integers(0, 3, (37, 1)).astype(np.int64)
    )
    small = predict_logits(net, table, device=torch.device("cpu"), batch_size=5)
    whole = predict_logits(net, table, device=torch.device("cpu"), batch_size=100)
    np.testing.assert_allclose(small, whole, rtol=1e-5, atol=1e-6)
    assert small.dtype == np.float32 and small.shape == (37,)
    assert not net.training  # scoring switches dropout off


def test_thread_setting():
    torch_threads_set(1)
    assert torch.get_num_threads() == 1
