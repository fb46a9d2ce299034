"""TSN blocks and the EST-STFM network: fast paths against the plain reference (outputs and
gradients), valid masks through the block and the pyramid, and the Top-K branches of presets
and shipped weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_mask_shields

from est_stfm.models import create_model
from est_stfm.models.attention import ChannelAttention
from est_stfm.models.blocks import TSNBlock, downsample_mask, use_reference
from est_stfm.models.feedforward import MFNN
from est_stfm.models.pretrained import load_pretrained


def _run(module: torch.nn.Module, inputs: list[torch.Tensor], reference: bool, **kwargs):
    """Output, input gradients and parameter gradients on one path."""
    use_reference(module, reference)
    module.zero_grad()
    leaves = [t.clone().requires_grad_() for t in inputs]
    out = module(*leaves, **kwargs)
    out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
    grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    return out.detach(), [t.grad for t in leaves], grads


def _assert_paths_agree(
    module: torch.nn.Module, inputs: list[torch.Tensor], tol: float = 1e-5, **kwargs
) -> None:
    """Outputs within ``tol``; gradients within ``tol`` x the largest one (sums in another
    order)."""
    ref, ref_dx, ref_g = _run(module, inputs, True, **kwargs)
    fast, fast_dx, fast_g = _run(module, inputs, False, **kwargs)
    torch.testing.assert_close(fast, ref, atol=tol, rtol=tol)
    scale = max(float(g.abs().max()) for g in ref_g.values())
    for a, b in zip(fast_dx, ref_dx, strict=True):
        torch.testing.assert_close(a, b, atol=tol * float(b.abs().max()), rtol=10 * tol)
    assert fast_g.keys() == ref_g.keys()
    for name in ref_g:
        torch.testing.assert_close(fast_g[name], ref_g[name], atol=tol * scale, rtol=10 * tol)


def _holes(b: int, h: int, w: int) -> torch.Tensor:
    valid = torch.ones(b, 1, h, w)
    valid[:, :, 3:6, 4:9] = 0
    valid[0, 0, 10, 2] = 0
    return valid


def test_use_reference_switches_every_part() -> None:
    block = TSNBlock(8, 2)
    assert use_reference(block) is block
    assert block.attn.reference and block.ffn.reference
    use_reference(block, False)
    assert not block.attn.reference and not block.ffn.reference


@pytest.mark.parametrize("masked", [False, True])
def test_block_fast_path_matches_reference(masked: bool) -> None:
    torch.manual_seed(0)
    block = TSNBlock(16, 2, expansion=2.0).to(memory_format=torch.channels_last)
    x = torch.randn(2, 16, 14, 12).contiguous(memory_format=torch.channels_last)
    _assert_paths_agree(block, [x], valid=_holes(2, 14, 12) if masked else None)


def test_block_output_ignores_invalid_pixels_beyond_its_reach() -> None:
    """Exactly invariant: the outputs at pixels five or more pixels from any invalid one (the
    attention's 3x3 conv, then the MFNN's 5x5 and 5x5 convs). Not invariant: pixels nearer to
    an invalid one, which the convolutions reach."""
    torch.manual_seed(0)
    block = TSNBlock(8, 1, expansion=2.0)
    x = torch.randn(2, 8, 24, 24)
    valid = torch.ones(2, 1, 24, 24)
    valid[:, :, 2:4, 2:20] = 0
    valid[1, 0, 20, 21] = 0
    changed = torch.where(valid.bool(), x, 50 * torch.randn_like(x))
    far = (-F.max_pool2d(-valid, 11, stride=1, padding=5)).bool().expand_as(x)
    assert far.any() and not far.all()
    near = ~far & valid.bool().expand_as(x)
    for a, b in assert_mask_shields(block, x, changed, valid, far):
        assert not torch.allclose(a[near], b[near])


def test_downsample_mask_keeps_only_fully_valid_cells() -> None:
    valid = torch.ones(1, 1, 4, 6)
    valid[0, 0, 1, 3] = 0
    expected = torch.tensor([[[[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]]])
    assert torch.equal(downsample_mask(valid), expected)


# ---------------------------------------------------------------- the network


def _model(name: str = "est-stfm-tiny", bands: int = 3, **overrides: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(name, bands=bands, **overrides)
    with torch.no_grad():  # a trained head, so outputs and gradients see the whole network
        model.head.weight.normal_(0.0, 0.1)
    return model


@pytest.mark.parametrize("attention", ["topk", "dense"])
@pytest.mark.parametrize("masked", [False, True])
def test_network_fast_path_matches_reference(attention: str, masked: bool) -> None:
    """In float64, where rounding cannot hide a difference in the arithmetic (in float32 both
    paths' input gradients are ~3e-4 off the float64 ones when a coarse level keeps only a few
    pixels for its statistics, and so differ from each other by as much)."""
    model = _model(attention=attention).to(torch.float64, memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(1)
    images = [
        torch.rand(2, 3, 21, 19, generator=gen, dtype=torch.float64).contiguous(
            memory_format=torch.channels_last
        )
        for _ in range(3)
    ]
    valid = _holes(2, 21, 19).double() if masked else None
    _assert_paths_agree(model, images, tol=1e-10, valid=valid)


def test_padding_is_invalid_for_the_attention() -> None:
    model = _model()
    seen = []
    first = model.fine_encoder.stages[0][0]
    first.register_forward_pre_hook(lambda module, args: seen.append(args[1]))
    images = [torch.rand(1, 3, 13, 17) for _ in range(3)]
    with torch.no_grad():
        model(*images)
        model(*[t[..., :8, :16] for t in images])
    expected = torch.zeros(1, 1, 16, 24)
    expected[..., :13, :17] = 1
    assert torch.equal(seen[0], expected)
    assert seen[1] is None  # no padding and no mask: nothing to mask


def test_valid_mask_reaches_every_level_and_is_checked() -> None:
    model = _model()
    images = [torch.rand(1, 3, 16, 16) for _ in range(3)]
    with torch.no_grad():
        torch.testing.assert_close(model(*images, valid=torch.ones(1, 1, 16, 16)), model(*images))
        hole = torch.ones(1, 1, 16, 16)
        hole[..., :8, :8] = 0
        assert not torch.allclose(model(*images, valid=hole), model(*images))
    with pytest.raises(ValueError, match="valid must have shape"):
        model(*images, valid=torch.ones(1, 16, 16))


def test_presets_have_distinct_topk_branches() -> None:
    for name in ("est-stfm-tiny", "est-stfm-small", "est-stfm-base"):
        model = create_model(name)
        sizes = [m.ks for m in model.modules() if isinstance(m, ChannelAttention)]
        assert sizes and all(len(set(ks)) == 4 for ks in sizes), name


def _min_topk_margin(attn: ChannelAttention, x: torch.Tensor) -> float:
    """The smallest gap between the k-th and (k+1)-th score of a row, over the branches."""
    q, k, _ = attn.project_qkv(x)
    scores = (q @ k.transpose(-2, -1) * attn.temperature).sort(-1, descending=True).values
    return min(
        float((scores[..., k - 1] - scores[..., k]).min()) for k in attn.ks if k < scores.shape[-1]
    )


def test_shipped_weights_keep_their_branches_and_agree_on_both_paths() -> None:
    """Every attention and MFNN of the shipped weights gives the same output on both paths, fed
    the activations of a real forward pass; left out: an attention whose scores hold a near tie
    at a Top-K boundary (gap < 1e-5), where float rounding alone decides which entry is kept
    (as it may between two machines) and the outputs differ by design."""
    model, _ = load_pretrained("est-stfm-small-stf6")
    assert model.config.topk_rule == "floor"
    sizes = {tuple(m.ks) for m in model.modules() if isinstance(m, ChannelAttention)}
    assert sizes == {(8, 10, 12, 12)}  # 16 channels per head at every level
    parts = [m for m in model.modules() if isinstance(m, ChannelAttention | MFNN)]
    inputs: dict[torch.nn.Module, torch.Tensor] = {}
    for part in parts:
        part.register_forward_pre_hook(lambda module, args: inputs.setdefault(module, args[0]))
    gen = torch.Generator().manual_seed(0)
    compared = 0
    with torch.no_grad():
        model(*[0.3 * torch.rand(1, 6, 24, 24, generator=gen) for _ in range(3)])
        assert len(inputs) == len(parts) == 56
        for part, x in inputs.items():
            if isinstance(part, ChannelAttention) and _min_topk_margin(part, x) < 1e-5:
                continue
            fast = use_reference(part, False)(x)
            torch.testing.assert_close(fast, use_reference(part, True)(x), atol=1e-6, rtol=1e-5)
            compared += 1
    assert compared >= 50
