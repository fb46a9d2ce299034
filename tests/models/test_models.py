"""EST-STFM model, its blocks and the model registry."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from est_stfm.errors import EstStfmError
from est_stfm.models import (
    ModelConfig,
    count_parameters,
    create_model,
    describe_models,
    list_models,
    model_from_config,
)
from est_stfm.models.blocks import Downsample, LayerNorm2d, TSNBlock, Upsample
from est_stfm.models.feedforward import MFNN, PlainFFN


def _images(batch: int, bands: int, h: int, w: int, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, bands, h, w, generator=gen) for _ in range(3)]


def _randomise_head(model: nn.Module) -> None:
    # The head starts at zero, which blocks every gradient to the layers before it; give it
    # random weights so the gradient check can reach the whole network.
    with torch.no_grad():
        model.head.weight.normal_(0.0, 0.1)
        model.head.bias.normal_(0.0, 0.1)


def _assert_all_grads(model: nn.Module) -> None:
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, f"{name} got no gradient"
            assert param.grad.abs().sum() > 0, f"{name} got a zero gradient"


# ---------------------------------------------------------------- blocks


def test_layernorm2d_normalises_channels() -> None:
    x = torch.randn(2, 8, 5, 7) * 3 + 1
    y = LayerNorm2d(8)(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 5, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(2, 5, 7), atol=1e-3, rtol=0)


def test_block_shapes() -> None:
    x = torch.randn(1, 8, 6, 10)
    assert TSNBlock(8, 2)(x).shape == x.shape
    assert TSNBlock(8, 2, attention="dense", feedforward="plain")(x).shape == x.shape
    assert MFNN(8)(x).shape == x.shape
    assert PlainFFN(8)(x).shape == x.shape
    assert Downsample(8)(x).shape == (1, 16, 3, 5)
    assert Upsample(8)(x).shape == (1, 4, 12, 20)


# ---------------------------------------------------------------- model


@pytest.mark.parametrize(("h", "w"), [(32, 32), (37, 45), (9, 13), (3, 5)])
def test_tiny_output_shape(h: int, w: int) -> None:
    model = create_model("est-stfm-tiny")
    out = model(*_images(2, 6, h, w))
    assert out.shape == (2, 6, h, w)
    assert torch.isfinite(out).all()


def test_small_output_shape() -> None:
    model = create_model("est-stfm-small", bands=4)
    with torch.no_grad():
        out = model(*_images(1, 4, 33, 31))
    assert out.shape == (1, 4, 33, 31)


def test_untrained_model_is_fine_reference_plus_coarse_change() -> None:
    model = create_model("est-stfm-tiny")
    c1, f1, c2 = _images(1, 6, 20, 24)
    assert torch.equal(model(c1, f1, c2), f1 + (c2 - c1))


@pytest.mark.parametrize(("residual", "base"), [("reference", "f1"), ("none", "zero")])
def test_untrained_model_other_residuals(residual: str, base: str) -> None:
    model = create_model("est-stfm-tiny", residual=residual)
    c1, f1, c2 = _images(1, 6, 16, 16)
    expected = f1 if base == "f1" else torch.zeros_like(f1)
    assert torch.equal(model(c1, f1, c2), expected)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = create_model("est-stfm-tiny")
    _randomise_head(model)
    c1, f1, c2 = _images(2, 6, 17, 19)
    model(c1, f1, c2).square().mean().backward()
    _assert_all_grads(model)


@pytest.mark.parametrize(
    "overrides",
    [
        {"attention": "dense"},
        {"feedforward": "plain"},
        {"fusion": "concat"},
        {"topk_ratios": (0.5,)},
        {"residual": "reference"},
        {"residual": "none"},
    ],
)
def test_ablations_forward_backward(overrides: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = create_model("est-stfm-tiny", **overrides)
    for key, value in overrides.items():
        assert getattr(model.config, key) == value
    _randomise_head(model)
    out = model(*_images(1, 6, 15, 18))
    assert out.shape == (1, 6, 15, 18)
    out.square().mean().backward()
    _assert_all_grads(model)


def test_mismatched_inputs_rejected() -> None:
    model = create_model("est-stfm-tiny")
    c1, f1, _ = _images(1, 6, 16, 16)
    with pytest.raises(ValueError, match="share one shape"):
        model(c1, f1, torch.rand(1, 6, 16, 17))


# ---------------------------------------------------------------- registry


def test_list_and_describe() -> None:
    names = list_models()
    assert {"est-stfm-tiny", "est-stfm-small", "est-stfm-base"} <= set(names)
    described = describe_models()
    assert [d[0] for d in described] == names
    counts = {name: count for name, _, count in described}
    assert counts["est-stfm-tiny"] < counts["est-stfm-small"] < counts["est-stfm-base"]


def test_create_model_sets_config_and_preset() -> None:
    model = create_model("est-stfm-tiny", bands=4, fusion_blocks=2, ffn_expansion=2.0)
    assert model.preset == "est-stfm-tiny"
    assert isinstance(model.config, ModelConfig)
    assert model.config.bands == 4
    assert model.config.fusion_blocks == 2
    assert model.config.ffn_expansion == 2.0
    assert model.config.dims == (8, 16, 32, 64)


def test_unknown_model_lists_names() -> None:
    with pytest.raises(EstStfmError, match="est-stfm-tiny") as info:
        create_model("nope")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"heads": (1, 1, 2)}, "equal lengths"),
        ({"heads": (3, 1, 2, 4)}, "not divisible"),
        ({"dims": (8, 24, 48, 96)}, "2 * dims[0]"),
        ({"topk_ratios": (0.5, 1.5)}, "(0, 1]"),
        ({"topk_ratios": (0.0,)}, "(0, 1]"),
        ({"bands": 0}, "bands"),
        ({"attention": "sparse"}, "attention"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_config_raises_one_line(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(EstStfmError) as info:
        create_model("est-stfm-tiny", **overrides)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_model_from_config_round_trip() -> None:
    torch.manual_seed(0)
    model = create_model("est-stfm-tiny", bands=3, attention="dense")
    _randomise_head(model)
    saved = model.config.model_dump(mode="json")  # what a checkpoint stores
    rebuilt = model_from_config(saved)
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    images = _images(1, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(*images), model(*images))
    assert model_from_config(model.config).config == model.config
    assert count_parameters(rebuilt) == count_parameters(model)


def test_model_from_config_rejects_unknown_arch() -> None:
    with pytest.raises(EstStfmError, match="architecture"):
        model_from_config({"arch": "starfm"})
