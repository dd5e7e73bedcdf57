import pytest
import torch
from torch import nn

from ml.nets.ft_transformer import FTTransformer, FTTransformerConfig


def _net(**overrides) -> FTTransformer:
    config = dict(n_numeric=3, categorical_cardinalities=[4, 6], d_token=16, n_layers=2, n_heads=2)
    torch.manual_seed(0)
    return FTTransformer(FTTransformerConfig(**{**config, **overrides}))


def test_forward_returns_one_logit_per_row():
    net = _net()
    logits = net(torch.randn(5, 3), torch.randint(0, 4, (5, 2)))
    assert logits.shape == (5,)
    assert net.config.n_tokens == 3 + 2 + 1


def test_grouped_numeric_columns_share_tokens_and_extra_tokens_are_accepted():
    net = _net(n_numeric=4, numeric_groups=[0, 0, 1, 1])
    assert net.config.n_tokens == 2 + 2 + 1
    tokens = net.tokenizer(torch.randn(3, 4), torch.randint(0, 4, (3, 2)))
    assert tokens.shape == (3, 4, 16)
    logits = net(torch.randn(3, 4), torch.randint(0, 4, (3, 2)), extra_tokens=torch.randn(3, 2, 16))
    assert logits.shape == (3,)


def test_missing_values_use_a_learned_token_and_keep_gradients_finite():
    net = _net()
    numeric = torch.tensor([[float("nan"), 1.0, 2.0], [0.5, float("nan"), 0.0]])
    loss = net(numeric, torch.zeros(2, 2, dtype=torch.long)).sum()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    assert net.tokenizer.numeric_missing.grad[0].abs().sum() > 0  # the missing token of column 0 learned


def test_config_rejects_heads_that_do_not_divide_the_token_size():
    with pytest.raises(ValueError, match="divisible"):
        FTTransformerConfig(n_numeric=1, d_token=10, n_heads=4)
    with pytest.raises(ValueError, match="numeric_groups"):
        FTTransformerConfig(n_numeric=2, numeric_groups=[0, 2])


def test_overfits_a_tiny_separable_problem():
    torch.manual_seed(0)
    numeric = torch.randn(64, 3)
    categorical = torch.randint(0, 4, (64, 2))
    labels = ((numeric[:, 0] > 0) ^ (categorical[:, 1] == 3)).float()  # needs both a number and a category
    net = _net(attention_dropout=0.0, ffn_dropout=0.0)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    for _ in range(150):  # ~0.03 loss after 100 steps with this seed
        loss = nn.functional.binary_cross_entropy_with_logits(net(numeric, categorical), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        accuracy = ((net(numeric, categorical) > 0).float() == labels).float().mean().item()
    assert loss.item() < 0.1
    assert accuracy == 1.0


def test_text_tokens_project_embeddings_and_an_all_zero_vector_is_the_no_text_token():
    net = _net(n_text=2, text_dim=8).eval()
    assert net.config.n_tokens == 3 + 2 + 2 + 1
    numeric, categorical = torch.randn(3, 3), torch.randint(0, 4, (3, 2))
    text = torch.randn(3, 2, 8)
    text[0] = 0.0  # row 0: nothing written
    tokens = net.text_tokenizer(text)
    assert torch.allclose(tokens[0], net.text_tokenizer.missing)
    assert torch.allclose(tokens[1, 0], net.text_tokenizer.projection(text[1, 0]) + net.text_tokenizer.bias[0])
    with torch.no_grad():
        assert torch.allclose(net(numeric, categorical), net(numeric, categorical, torch.zeros(3, 2, 8)))
        assert not torch.allclose(net(numeric, categorical, text)[1:], net(numeric, categorical)[1:])
    loss = net(numeric, categorical, text).sum()
    loss.backward()
    assert net.text_tokenizer.projection.weight.grad.abs().sum() > 0


def test_embed_and_forward_parts_compose_to_forward():
    net = _net(n_numeric=4, numeric_groups=[0, 0, 1, 1], n_text=1, text_dim=5).eval()
    inputs = (torch.randn(4, 4), torch.randint(0, 4, (4, 2)), torch.randn(4, 1, 5))
    numeric_parts, categorical_parts, text_parts = net.embed(*inputs)
    assert numeric_parts.shape == (4, 4, 16) and categorical_parts.shape == (4, 2, 16)
    assert text_parts.shape == (4, 1, 16)
    with torch.no_grad():
        assert torch.allclose(net.forward_parts(numeric_parts, categorical_parts, text_parts), net(*inputs))


def test_configs_without_text_keys_still_build_text_free_nets():
    stored = _net().config.to_dict()
    del stored["n_text"], stored["text_dim"]  # a config saved before text tokens existed
    net = FTTransformer(FTTransformerConfig.from_dict(stored))
    assert net.text_tokenizer is None and not any(name.startswith("text_") for name in net.state_dict())
    with pytest.raises(ValueError, match="n_text"):
        FTTransformerConfig(n_numeric=1, n_text=1, text_dim=0)
