"""Channel attention: the efficient Top-K form against the branch-by-branch reference."""

from __future__ import annotations

import pytest
import torch

from est_stfm.models.attention import (
    ChannelAttention,
    initial_mix_weights,
    topk_attention_reference,
    topk_probabilities,
    topk_sizes,
)


@pytest.mark.parametrize(
    ("dim", "heads", "ratios"),
    [(16, 2, (1 / 2, 2 / 3, 3 / 4, 4 / 5)), (12, 1, (0.5,)), (24, 4, (0.1, 1.0))],
)
def test_topk_matches_reference(dim: int, heads: int, ratios: tuple[float, ...]) -> None:
    torch.manual_seed(0)
    attn = ChannelAttention(dim, heads, mode="topk", ratios=ratios)
    with torch.no_grad():  # move the learnable scalars off their initial values
        attn.temperature.uniform_(0.5, 3.0)
        attn.mix.uniform_(0.1, 1.0)
    x = torch.randn(2, dim, 7, 9)
    with torch.no_grad():
        q, k, v = attn.project_qkv(x)
        expected = topk_attention_reference(q, k, v, attn.temperature, ratios, attn.mix)
        torch.testing.assert_close(attn.attend(q, k, v), expected, atol=1e-5, rtol=1e-5)
        full = attn.proj(expected.reshape(x.shape))
        torch.testing.assert_close(attn(x), full, atol=1e-5, rtol=1e-5)


def test_topk_probabilities_keep_k_per_row() -> None:
    scores = torch.randn(3, 2, 10, 10)
    weights = torch.tensor([1.0])
    for k in (1, 4, 10):
        probs = topk_probabilities(scores, [k], weights)
        assert torch.equal((probs > 0).sum(-1), torch.full((3, 2, 10), k))
        torch.testing.assert_close(probs.sum(-1), torch.ones(3, 2, 10))


def test_topk_ties_use_one_ordering() -> None:
    scores = torch.zeros(1, 1, 4, 4)  # every entry tied
    probs = topk_probabilities(scores, [2, 3], torch.tensor([1.0, 1.0]))
    # Nested masks: the 2 kept by the first branch are among the 3 kept by the second.
    assert torch.equal((probs > 0).sum(-1), torch.full((1, 1, 4), 3))


def test_dense_is_plain_softmax() -> None:
    torch.manual_seed(1)
    attn = ChannelAttention(8, 2, mode="dense")
    assert attn.mix is None
    x = torch.randn(1, 8, 5, 6)
    with torch.no_grad():
        q, k, v = attn.project_qkv(x)
        scores = (q @ k.transpose(-2, -1)) * attn.temperature
        torch.testing.assert_close(attn.attend(q, k, v), torch.softmax(scores, -1) @ v)


def test_sizes_and_initial_weights() -> None:
    assert topk_sizes(48, (1 / 2, 2 / 3, 3 / 4, 4 / 5)) == [24, 32, 36, 38]
    assert topk_sizes(1, (0.5,)) == [1]
    assert initial_mix_weights(4) == [0.2] * 4
    assert initial_mix_weights(2) == [0.5, 0.5]
