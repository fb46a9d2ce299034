"""Channel attention: the fast path and the efficient Top-K form against the plain reference, the
Top-K branch sizes, and the valid mask that keeps pixels out of the attention's statistics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_mask_shields

from est_stfm.models.attention import (
    DEFAULT_RATIOS,
    ChannelAttention,
    initial_mix_weights,
    statistics_mask,
    topk_attention_reference,
    topk_probabilities,
    topk_sizes,
)
from est_stfm.models.blocks import use_reference


def _attention(dim: int, heads: int, mode: str = "topk", ratios=DEFAULT_RATIOS, seed: int = 0):
    torch.manual_seed(seed)
    attn = ChannelAttention(dim, heads, mode=mode, ratios=ratios)
    with torch.no_grad():  # move the learnable scalars off their initial values
        attn.temperature.uniform_(0.5, 3.0)
        if attn.mix is not None:
            attn.mix.uniform_(0.1, 1.0)
    return attn


def _holes(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """A (B, 1, H, W) 0/1 mask with a block and scattered pixels invalid."""
    gen = torch.Generator().manual_seed(seed)
    valid = (torch.rand(shape, generator=gen) > 0.1).float()
    valid[..., 2:5, 3:9] = 0
    return valid


@pytest.mark.parametrize(
    ("dim", "heads", "ratios"),
    [(16, 2, (1 / 2, 2 / 3, 3 / 4, 4 / 5)), (12, 1, (0.5,)), (24, 4, (0.1, 1.0))],
)
def test_topk_matches_reference(dim: int, heads: int, ratios: tuple[float, ...]) -> None:
    attn = _attention(dim, heads, ratios=ratios)
    x = torch.randn(2, dim, 7, 9)
    with torch.no_grad():
        q, k, v = attn.project_qkv(x)
        expected = topk_attention_reference(q, k, v, attn.temperature, ratios, attn.mix)
        torch.testing.assert_close(attn.attend(q, k, v), expected, atol=1e-5, rtol=1e-5)
        full = attn.proj(expected.reshape(x.shape))
        torch.testing.assert_close(attn(x), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["topk", "dense"])
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_fast_path_matches_reference(mode: str, heads: int, masked: bool, layout) -> None:
    attn = _attention(16, heads, mode=mode).to(memory_format=layout)
    x = torch.randn(2, 16, 10, 12).contiguous(memory_format=layout)
    valid = _holes((2, 1, 10, 12)) if masked else None
    grad_out = torch.randn(2, 16, 10, 12)
    results = []
    for reference in (True, False):
        use_reference(attn, reference)
        attn.zero_grad()
        xi = x.clone().requires_grad_()
        out = attn(xi, valid)
        out.backward(grad_out)
        grads = [p.grad.clone() for p in attn.parameters()]
        results.append((out.detach(), xi.grad, grads))
    (ref, ref_dx, ref_g), (fast, fast_dx, fast_g) = results
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(fast_dx, ref_dx, atol=1e-4, rtol=1e-4)
    for a, b in zip(fast_g, ref_g, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4 * float(b.abs().max()) + 1e-6, rtol=1e-4)


def test_topk_probabilities_keep_k_per_row() -> None:
    scores = torch.randn(3, 2, 10, 10)
    weights = torch.tensor([1.0])
    for k in (1, 4, 10):
        probs = topk_probabilities(scores, [k], weights)
        assert torch.equal((probs > 0).sum(-1), torch.full((3, 2, 10), k))
        torch.testing.assert_close(probs.sum(-1), torch.ones(3, 2, 10))


def test_topk_probabilities_mix_branch_softmaxes() -> None:
    scores = torch.randn(2, 3, 8, 8)
    weights = torch.tensor([0.3, 0.5, 0.2])
    expected = torch.zeros_like(scores)
    for w, k in zip(weights, (2, 5, 8), strict=True):
        kth = scores.topk(k, dim=-1).values[..., -1:]
        expected += w * torch.softmax(scores.masked_fill(scores < kth, float("-inf")), -1)
    torch.testing.assert_close(topk_probabilities(scores, [2, 5, 8], weights), expected)


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
    ratios = (1 / 2, 2 / 3, 3 / 4, 4 / 5)
    assert topk_sizes(48, ratios, "floor") == [24, 32, 36, 38]
    assert topk_sizes(16, ratios, "floor") == [8, 10, 12, 12]  # the shipped weights' branches
    assert topk_sizes(16, ratios) == [8, 11, 12, 13]
    assert topk_sizes(8, ratios) == [4, 5, 6, 7]
    assert topk_sizes(4, ratios) == [1, 2, 3, 4]
    assert topk_sizes(1, (0.5,)) == [1]
    assert topk_sizes(16, (0.8, 0.5)) == [13, 8]  # any order of ratios
    assert initial_mix_weights(4) == [0.2] * 4
    assert initial_mix_weights(2) == [0.5, 0.5]
    with pytest.raises(ValueError, match="rule"):
        topk_sizes(16, ratios, "round")  # type: ignore[arg-type]


@pytest.mark.parametrize("channels", range(4, 65))
def test_distinct_rule_gives_distinct_sizes_close_to_the_ratios(channels: int) -> None:
    ks = topk_sizes(channels, DEFAULT_RATIOS)
    assert len(set(ks)) == 4 and ks == sorted(ks) and 1 <= ks[0] and ks[-1] <= channels
    for k, r in zip(ks, DEFAULT_RATIOS, strict=True):
        assert abs(k - channels * r) < 3


def test_statistics_mask_erodes_by_one_pixel() -> None:
    valid = torch.ones(1, 1, 6, 7)
    valid[0, 0, 3, 4] = 0
    keep = statistics_mask(valid)
    expected = torch.ones(1, 1, 6, 7)
    expected[0, 0, 2:5, 3:6] = 0
    assert torch.equal(keep, expected)
    assert torch.equal(statistics_mask(torch.ones(1, 1, 3, 3)), torch.ones(1, 1, 3, 3))
    # nothing left after the erosion: the valid pixels; nothing valid: every pixel
    sparse = torch.zeros(2, 1, 4, 4)
    sparse[0, 0, 1, 2] = 1
    assert torch.equal(statistics_mask(sparse), sparse + (torch.arange(2) == 1).view(2, 1, 1, 1))


@pytest.mark.parametrize("mode", ["topk", "dense"])
def test_invalid_pixels_do_not_reach_valid_outputs(mode: str) -> None:
    """The attention map reads only pixels whose 3x3 neighbourhood is valid, so wherever that
    holds the output does not depend on the invalid pixels at all."""
    attn = _attention(8, 2, mode=mode)
    x = torch.randn(2, 8, 12, 14)
    valid = _holes((2, 1, 12, 14))
    changed = torch.where(valid.bool(), x, 100 * torch.randn_like(x))
    keep = statistics_mask(valid).bool().expand_as(x)
    assert_mask_shields(attn, x, changed, valid, keep)


def test_all_ones_mask_changes_nothing() -> None:
    attn = _attention(16, 2)
    x = torch.randn(1, 16, 9, 10)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, torch.ones(1, 1, 9, 10)), attn(x))


def test_all_invalid_stays_finite() -> None:
    attn = _attention(8, 1)
    x = torch.randn(1, 8, 6, 6, requires_grad=True)
    out = attn(x, torch.zeros(1, 1, 6, 6))
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in attn.parameters())


def test_mask_matches_zeroed_statistics_by_hand() -> None:
    """The masked Gram matrix and norms are those of q and k with the kept pixels only."""
    attn = _attention(4, 1, mode="dense")
    x = torch.randn(1, 4, 5, 5)
    valid = torch.ones(1, 1, 5, 5)
    valid[..., :2, :] = 0
    keep = statistics_mask(valid).flatten().bool()
    with torch.no_grad():
        q, k, v = attn.qkv_dw(attn.qkv(x)).flatten(2).chunk(3, dim=1)
        qn, kn = F.normalize(q[..., keep], dim=-1), F.normalize(k[..., keep], dim=-1)
        probs = torch.softmax(qn @ kn.transpose(-2, -1) * attn.temperature[0], -1)
        expected = attn.proj((probs @ v).reshape(1, 4, 5, 5))
        torch.testing.assert_close(attn(x, valid), expected, atol=1e-5, rtol=1e-5)
