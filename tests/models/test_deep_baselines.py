"""Deep baselines (EDCSTFN, SwinSTFM) and the EST-STFM ablation presets in the registry."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from est_stfm.errors import EstStfmError
from est_stfm.models import create_model, list_models, model_from_config
from est_stfm.models.checkpoint import load_model, save_model
from est_stfm.models.edcstfn import EDCSTFNConfig
from est_stfm.models.swinstfm import SwinBlock, SwinSTFMConfig, attention_mask, window_partition

TINY: dict[str, dict[str, Any]] = {
    "edcstfn": {"widths": (4, 8), "depth": 1},
    "swinstfm-small": {
        "dims": (8, 16),
        "heads": (1, 2),
        "depths": (2, 2),
        "window": 4,
        "fusion_depth": 2,
        "decoder_depth": 2,
        "mlp_ratio": 2.0,
    },
}
BASELINES = sorted(TINY)


def _tiny(name: str, bands: int = 3, **overrides: Any) -> nn.Module:
    return create_model(name, bands=bands, **{**TINY[name], **overrides})


def _images(batch: int, bands: int, h: int, w: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, bands, h, w, generator=gen) for _ in range(4)]


def _randomise_head(model: nn.Module) -> None:
    # the zero head blocks every gradient to the layers before it
    with torch.no_grad():
        model.head.weight.normal_(0.0, 0.1)
        model.head.bias.normal_(0.0, 0.1)


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("size", [(37, 50), (5, 3), (1, 1)])
def test_odd_sizes_and_untrained_is_naive(name: str, size: tuple[int, int]) -> None:
    model = _tiny(name).eval()
    c1, f1, c2, _ = _images(2, 3, *size)
    with torch.no_grad():
        out = model(c1, f1, c2)
    assert out.shape == (2, 3, *size)
    assert torch.equal(out, f1 + (c2 - c1))


@pytest.mark.parametrize("name", BASELINES)
def test_residual_modes(name: str) -> None:
    c1, f1, c2, _ = _images(1, 3, 9, 11)
    with torch.no_grad():
        assert torch.equal(_tiny(name, residual="reference")(c1, f1, c2), f1)
        assert torch.equal(_tiny(name, residual="none")(c1, f1, c2), torch.zeros_like(f1))


@pytest.mark.parametrize("name", BASELINES)
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = _tiny(name)
    _randomise_head(model)
    c1, f1, c2, f2 = _images(2, 3, 32, 32)  # every level >= the window: all biases used
    (model(c1, f1, c2) - f2).abs().mean().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"{pname} got no gradient"
        assert param.grad.abs().sum() > 0, f"{pname} got a zero gradient"


@pytest.mark.parametrize("name", BASELINES)
def test_loss_decreases_from_zero_head(name: str) -> None:
    torch.manual_seed(0)
    model = _tiny(name)
    c1, f1, c2, _ = _images(2, 3, 16, 16, seed=1)
    f2 = f1 + (c2 - c1) + 0.05 + 0.1 * torch.sin(6 * f1)  # a departure from the naive guess
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        loss = (model(c1, f1, c2) - f2).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("name", BASELINES)
def test_channels_last_matches(name: str) -> None:
    torch.manual_seed(0)
    model = _tiny(name)
    _randomise_head(model)
    c1, f1, c2, _ = _images(1, 3, 12, 20)
    with torch.no_grad():
        ref = model(c1, f1, c2)
        cl = model.to(memory_format=torch.channels_last)
        out = cl(*(t.contiguous(memory_format=torch.channels_last) for t in (c1, f1, c2)))
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("name", BASELINES)
def test_save_load_round_trip(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    model = _tiny(name)
    _randomise_head(model)
    model.eval()
    save_model(tmp_path, model, {"bands": 3})
    loaded, meta = load_model(tmp_path)
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    assert loaded.preset == name
    assert meta["config"]["arch"] == model.config.arch
    images = _images(1, 3, 13, 17)[:3]
    with torch.no_grad():
        assert torch.equal(loaded(*images), model(*images))


def test_configs_rebuild_from_json() -> None:
    for name in BASELINES:
        model = _tiny(name)
        rebuilt = model_from_config(model.config.model_dump(mode="json"))
        assert rebuilt.config == model.config
    assert isinstance(create_model("edcstfn").config, EDCSTFNConfig)
    assert isinstance(create_model("swinstfm-small").config, SwinSTFMConfig)


@pytest.mark.parametrize(
    ("name", "overrides", "fragment"),
    [
        ("edcstfn", {"widths": ()}, "widths"),
        ("edcstfn", {"depth": 0}, "depth"),
        ("edcstfn", {"residual": "both"}, "residual"),
        ("swinstfm-small", {"heads": (1,)}, "equal lengths"),
        ("swinstfm-small", {"dims": (8, 24)}, "2 * dims[0]"),
        ("swinstfm-small", {"heads": (3, 2)}, "not divisible"),
        ("swinstfm-small", {"window": 0}, "window"),
        ("swinstfm-small", {"topk_ratios": (0.5,)}, "topk_ratios"),
    ],
)
def test_bad_config_is_one_line(name: str, overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(EstStfmError) as info:
        _tiny(name, **overrides)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


# ---------------------------------------------------------------- shifted windows


def test_roll_moves_windows_by_half() -> None:
    block = SwinBlock(4, 1, window=4, shift=True, mlp_ratio=1.0)
    assert block.geometry(8, 12) == (4, 4, 2, 2)
    assert block.geometry(3, 12) == (3, 4, 0, 2)  # the window fits the height: no shift there
    assert SwinBlock(4, 1, 4, shift=False, mlp_ratio=1.0).geometry(8, 12) == (4, 4, 0, 0)
    # the shifted partition's first window holds rows/cols 2..5 of the unshifted map
    x = torch.arange(8 * 8).view(1, 8, 8, 1)
    first = window_partition(torch.roll(x, (-2, -2), dims=(1, 2)), 4, 4)[0, 0, :, 0]
    assert first.tolist() == x[0, 2:6, 2:6, 0].flatten().tolist()


def test_shift_mask_separates_wrapped_regions() -> None:
    assert attention_mask(8, 8, 8, 8, 4, 4, 0, 0) is None
    mask = attention_mask(8, 8, 8, 8, 4, 4, 2, 2)
    assert mask is not None and mask.shape == (4, 16, 16)
    assert (mask[0] == 0).all()  # the first window holds no wrapped-around pixels
    last = mask[3]  # the bottom-right window holds pixels from 4 corners of the map
    assert torch.isinf(last).any()
    assert (torch.isinf(last).sum(1) == 12).all()  # each pixel sees its 4-pixel corner only
    # shifted and unshifted blocks compute different outputs on the same input
    torch.manual_seed(0)
    plain = SwinBlock(4, 1, 4, shift=False, mlp_ratio=1.0)
    shifted = SwinBlock(4, 1, 4, shift=True, mlp_ratio=1.0)
    shifted.load_state_dict(plain.state_dict())
    x = torch.randn(1, 8, 8, 4)
    assert not torch.allclose(plain(x), shifted(x))


def test_padding_is_masked_out() -> None:
    mask = attention_mask(6, 8, 8, 8, 4, 4, 0, 0)  # two padded rows
    assert mask is not None
    pad_keys = torch.isinf(mask[2, 0])  # a real query in the bottom-left window
    assert pad_keys.sum() == 8  # cannot see the 2 padded rows x 4 columns
    assert not torch.isinf(mask[2, -1]).any()  # a padded query sees everything: no empty row
    block = SwinBlock(4, 1, 4, shift=True, mlp_ratio=1.0)
    x = torch.randn(1, 6, 8, 4)
    assert torch.isfinite(block(x)).all()


# ---------------------------------------------------------------- presets


ABLATIONS = {
    "est-stfm-small-dense": {"attention": "dense"},
    "est-stfm-small-plainffn": {"feedforward": "plain"},
    "est-stfm-small-concat": {"fusion": "concat"},
    "est-stfm-small-onek": {"topk_ratios": (2 / 3,)},
}


def test_presets_listed() -> None:
    assert {"edcstfn", "swinstfm-small", *ABLATIONS} <= set(list_models())


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_ablation_differs_in_one_switch(name: str) -> None:
    tiny = {"dims": (4, 8), "heads": (1, 1), "enc_blocks": (1, 1)}
    small = create_model("est-stfm-small", bands=2, **tiny).config.model_dump()
    ablated = create_model(name, bands=2, **tiny).config.model_dump()
    changed = {k: v for k, v in ablated.items() if small[k] != v}
    assert changed == ABLATIONS[name]
