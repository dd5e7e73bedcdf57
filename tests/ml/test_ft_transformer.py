from pathlib import Path

import pytest
import torch
from torch import nn

from ml.engine.nets.ft_transformer import FTTransformer, FTTransformerConfig


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


# --- periodic (PLR) numeric embeddings, ensembles, folded CLS attention, older checkpoints ----------------------
FIXTURE = Path(__file__).parent / "fixtures" / "ft_transformer_v1.pt"
NEW_CONFIG_KEYS = ("numeric_embedding", "n_frequencies", "frequency_scale", "n_members", "folded_cls_attention")


def test_periodic_embeddings_give_one_vector_per_column_and_missing_values_the_missing_vector():
    net = _net(n_numeric=4, numeric_groups=[0, 0, 1, 2], numeric_embedding="periodic", n_frequencies=8).eval()
    numeric = torch.randn(5, 4)
    numeric[1, 2] = float("nan")
    parts, categorical_parts, _ = net.embed(numeric, torch.randint(0, 4, (5, 2)))
    assert parts.shape == (5, 4, 16) and categorical_parts.shape == (5, 2, 16)  # per original column
    assert torch.equal(parts[1, 2], net.tokenizer.numeric_missing[2])
    assert not torch.equal(parts[0, 2], net.tokenizer.numeric_missing[2])
    assert (parts[0] >= 0).all()  # ReLU output
    # Not a linear function of the value: PLR bends, x * W_j cannot.
    column = torch.linspace(-3, 3, 7).unsqueeze(-1).expand(7, 4)
    values = net.tokenizer.periodic(column)[:, 0]  # (7, d)
    second_difference = values[2:] - 2 * values[1:-1] + values[:-2]
    assert second_difference.abs().max() > 1e-3
    assert net.tokenizer.numeric_weight is None and "tokenizer.numeric_weight" not in net.state_dict()


def test_periodic_embeddings_keep_gradients_finite_with_missing_values():
    net = _net(numeric_embedding="periodic")
    numeric = torch.tensor([[float("nan"), 1.0, 2.0], [0.5, float("nan"), 0.0]])
    loss = net(numeric, torch.zeros(2, 2, dtype=torch.long)).sum()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    assert net.tokenizer.periodic.frequencies.grad.abs().sum() > 0
    assert net.tokenizer.numeric_missing.grad[0].abs().sum() > 0


def test_config_rejects_unknown_numeric_embeddings_and_empty_ensembles():
    with pytest.raises(ValueError, match="numeric_embedding"):
        FTTransformerConfig(n_numeric=1, numeric_embedding="quantile")
    with pytest.raises(ValueError, match="n_members"):
        FTTransformerConfig(n_numeric=1, n_members=0)


def test_an_ensemble_scores_its_members_mean_logit_and_shares_one_tokenizer():
    net = _net(n_members=3, n_layers=1, numeric_embedding="periodic").eval()
    inputs = (torch.randn(6, 3), torch.randint(0, 4, (6, 2)))
    with torch.no_grad():
        members = net.member_logits(*inputs)
        assert members.shape == (6, 3)
        assert not torch.allclose(members[:, 0], members[:, 1])  # independently initialised members
        assert torch.allclose(net(*inputs), members.mean(dim=-1))
        numeric_parts, categorical_parts, text_parts = net.embed(*inputs)
        assert numeric_parts.shape == (6, 3, 16)  # one shared vector per column: explanations unchanged
        assert torch.allclose(net.forward_parts(numeric_parts, categorical_parts, text_parts), net(*inputs))
    assert sum(name.startswith("tokenizer.") for name in net.state_dict()) == sum(
        name.startswith("tokenizer.") for name in _net(n_layers=1, numeric_embedding="periodic").state_dict()
    )
    assert {name.split(".")[1] for name in net.state_dict() if name.startswith("members.")} == {"0", "1"}
    assert not any(name.startswith("members.") and "cls_token" in name for name in net.state_dict())


def test_a_one_member_net_keeps_the_plain_parameter_names():
    assert not any(name.startswith("members.") for name in _net().state_dict())
    with torch.no_grad():
        net = _net().eval()
        inputs = (torch.randn(4, 3), torch.randint(0, 4, (4, 2)))
        assert torch.equal(net(*inputs), net.member_logits(*inputs)[:, 0])


@pytest.mark.parametrize("n_layers", [1, 2])
def test_folded_cls_attention_is_the_same_function(n_layers):
    plain = _net(n_numeric=4, numeric_groups=[0, 0, 1, 2], n_text=1, text_dim=5, n_layers=n_layers).eval()
    folded = FTTransformer(FTTransformerConfig(**{**plain.config.to_dict(), "folded_cls_attention": True})).eval()
    folded.load_state_dict(plain.state_dict())
    inputs = (torch.randn(8, 4), torch.randint(0, 4, (8, 2)), torch.randn(8, 1, 5))
    with torch.no_grad():
        assert torch.allclose(plain(*inputs), folded(*inputs), atol=1e-5)
        plain.blocks[-1].qkv.bias.add_(0.3)  # the value bias must be carried through the fold
        folded.blocks[-1].qkv.bias.add_(0.3)
        assert torch.allclose(plain(*inputs), folded(*inputs), atol=1e-5)


def test_checkpoints_saved_before_embeddings_and_ensembles_score_as_before():
    # The fixture was written by the code before PLR embeddings and ensembles existed (tiny net, random
    # weights, NaNs, grouped numbers, text), with the logits that code gave. The embeddings must match bit for
    # bit; the logits within float32 rounding, since matmul kernels differ between CPUs (AVX2 vs AVX-512 gave
    # 9e-8 apart), while any change to the architecture moves them by orders of magnitude more.
    stored = torch.load(FIXTURE, weights_only=True)
    assert not set(NEW_CONFIG_KEYS) & set(stored["config"])
    net = FTTransformer(FTTransformerConfig.from_dict(stored["config"]))
    net.load_state_dict(stored["state_dict"])  # strict: no missing or unexpected keys
    net.eval()
    assert net.config.numeric_embedding == "linear" and net.config.n_members == 1
    with torch.no_grad():
        logits = net(stored["numeric"], stored["categorical"], stored["text"])
        assert torch.allclose(logits, stored["logits"], rtol=0, atol=1e-6)
        parts = net.embed(stored["numeric"], stored["categorical"], stored["text"])[0]
        assert torch.equal(parts, stored["numeric_parts"])
