"""MFNN: the fast path (no interleave, depthwise fusing convs) against the plain reference."""

from __future__ import annotations

import pytest
import torch

from est_stfm.models.blocks import use_reference
from est_stfm.models.feedforward import MFNN, hidden_channels


def _outputs_and_grads(module: torch.nn.Module, x: torch.Tensor, reference: bool):
    use_reference(module, reference)
    module.zero_grad()
    xi = x.clone().requires_grad_()
    out = module(xi)
    out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
    return out.detach(), xi.grad, [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize(("dim", "expansion"), [(8, 2.0), (6, 2.66), (16, 1.0)])
@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_fast_mfnn_matches_reference(dim: int, expansion: float, layout) -> None:
    torch.manual_seed(0)
    mfnn = MFNN(dim, expansion).to(memory_format=layout)
    x = torch.randn(2, dim, 9, 11).contiguous(memory_format=layout)
    ref, ref_dx, ref_g = _outputs_and_grads(mfnn, x, True)
    fast, fast_dx, fast_g = _outputs_and_grads(mfnn, x, False)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast_dx, ref_dx, atol=1e-5, rtol=1e-5)
    for a, b in zip(fast_g, ref_g, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)


def test_reference_interleaves_three_and_five() -> None:
    """Group g of fuse3 reads hidden channel g through the 3x3 and the 5x5 path: with fuse5 and
    the 5x5 path silenced, output channel g depends on hidden channel g alone."""
    torch.manual_seed(1)
    mfnn = MFNN(4, 1.0)
    h = hidden_channels(4, 1.0)
    with torch.no_grad():
        mfnn.fuse5.weight.zero_()
        mfnn.project_in.weight.copy_(torch.eye(2 * h, 4)[..., None, None])
        mfnn.project_out.weight.copy_(torch.eye(4, 2 * h)[..., None, None])
        x = torch.zeros(1, 4, 7, 7)
        x[0, 1, 3, 3] = 1.0  # hidden channel 1 only
        for reference in (True, False):
            out = use_reference(mfnn, reference)(x)
            assert out[0, 1].abs().sum() > 0
            assert out[0, [0, 2, 3]].abs().sum() == 0
