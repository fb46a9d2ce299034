"""The band-agnostic EST-STFM: one set of weights for any band count and unit."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from est_stfm.errors import EstStfmError
from est_stfm.models import AgnosticConfig, count_parameters, create_model, model_from_config
from est_stfm.models.agnostic import AgnosticESTSTFM, band_stats
from est_stfm.models.checkpoint import load_model, save_model

TINY = "est-stfm-any-tiny"


def _images(bands: int, h: int = 20, w: int = 18, batch: int = 2, seed: int = 0) -> list:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, bands, h, w, generator=gen) for _ in range(3)]


def _trained(name: str = TINY, seed: int = 0, **overrides) -> nn.Module:
    """A model whose head is not zero, so its output depends on the whole network."""
    torch.manual_seed(seed)
    model = create_model(name, **overrides).eval()
    with torch.no_grad():
        model.head.weight.normal_(0.0, 0.1)
        model.head.bias.normal_(0.0, 0.1)
    return model


def _flops(model: nn.Module, images: list) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*images)
    return counter.get_total_flops()


def test_one_set_of_weights_for_any_band_count() -> None:
    model = _trained()
    assert model.config.bands is None
    for bands in (1, 3, 6, 13):
        with torch.no_grad():
            out = model(*_images(bands, 13, 17))
        assert out.shape == (2, bands, 13, 17)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", [TINY, "est-stfm-any-small"])
def test_untrained_model_returns_the_base_exactly(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    c1, f1, c2 = _images(4)
    with torch.no_grad():
        assert torch.equal(model(c1, f1, c2), f1 + (c2 - c1))
        base = torch.rand_like(f1)
        valid = torch.rand(2, 1, 20, 18) > 0.3
        assert torch.equal(model(c1, f1, c2, base=base, valid=valid), base)


def test_permuting_the_bands_permutes_the_output() -> None:
    model = _trained()
    c1, f1, c2 = _images(5)
    base = torch.rand_like(f1)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        out = model(c1, f1, c2, base=base)
        permuted = model(c1[:, perm], f1[:, perm], c2[:, perm], base=base[:, perm])
    torch.testing.assert_close(permuted, out[:, perm], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out, base, atol=1e-3)  # the network does contribute


def test_scaling_or_shifting_a_band_scales_or_shifts_its_output() -> None:
    model = _trained()
    images = _images(3)
    with torch.no_grad():
        out = model(*images)
        # A power of two scales every float exactly: the output must follow bit for bit.
        doubled = [t.clone() for t in images]
        for t in doubled:
            t[:, 1] *= 8.0
        out8 = model(*doubled)
        # Another unit: band 2 as a temperature in kelvin, say.
        kelvin = [t.clone() for t in images]
        for t in kelvin:
            t[:, 2] = t[:, 2] * 30.0 + 270.0
        out_k = model(*kelvin)
    assert torch.equal(out8[:, 1], out[:, 1] * 8.0)
    assert torch.equal(out8[:, [0, 2]], out[:, [0, 2]])  # the others see the same features
    torch.testing.assert_close(out_k[:, 2], out[:, 2] * 30.0 + 270.0, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(out_k[:, :2], out[:, :2], rtol=1e-4, atol=1e-5)


def test_bands_meet_only_through_the_exchange() -> None:
    c1, f1, c2 = _images(3)
    other = [t.clone() for t in (c1, f1, c2)]
    for t in other:
        t[:, 2] = torch.rand_like(t[:, 2])
    for exchange, band0_changes in (("mean", True), ("none", False)):
        model = _trained(exchange=exchange)
        with torch.no_grad():
            first, second = model(c1, f1, c2), model(*other)
        assert torch.equal(first[:, 0], second[:, 0]) is not band0_changes


def test_invalid_pixels_never_reach_the_network() -> None:
    model = _trained()
    c1, f1, c2 = _images(2)
    valid = torch.ones(2, 1, 20, 18, dtype=torch.bool)
    valid[:, :, 5:9, 3:11] = False
    noisy = [t.clone() for t in (c1, f1, c2)]
    for t in noisy:
        t[:, :, 5:9, 3:11] = torch.nan
        t[1, 0, 5:9, 3:11] = 1e6
    with torch.no_grad():
        out = model(c1, f1, c2, valid=valid)
        out_noisy = model(*noisy, valid=valid)
    correction = out - (f1 + (c2 - c1))
    correction_noisy = out_noisy - (noisy[1] + (noisy[2] - noisy[0]))
    keep = valid.expand_as(out)
    assert torch.equal(correction[keep], correction_noisy[keep])
    # NaN pixels count as invalid without a mask, too.
    with torch.no_grad():
        unmasked = model(*noisy[:2], c2)
    assert torch.isfinite(unmasked[keep]).all()


def test_band_stats_are_median_and_mean_absolute_deviation() -> None:
    fine = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0]).reshape(1, 1, 1, 5)
    coarse = torch.tensor([2.0, 2.0, 3.0, 3.0, 3.0]).reshape(1, 1, 1, 5)
    valid = torch.tensor([True, True, True, True, False]).reshape(1, 1, 1, 5)
    loc, scale = band_stats(fine, coarse, valid)
    # valid values 1 2 3 4 | 2 2 3 3: median 2 (the lower middle), deviations 1 0 1 2 0 0 1 1
    assert loc.shape == scale.shape == (1, 1, 1, 1)
    assert loc.item() == 2.0 and scale.item() == pytest.approx(6 / 8)
    loc, scale = band_stats(fine, coarse, torch.zeros_like(valid))
    assert (loc.item(), scale.item()) == (0.0, 1.0)


def test_given_stats_replace_the_computed_ones() -> None:
    model = _trained()
    c1, f1, c2 = _images(3)
    stats = band_stats(f1, c1)
    with torch.no_grad():
        assert torch.equal(model(c1, f1, c2, stats=stats), model(c1, f1, c2))
        other = model(c1, f1, c2, stats=(stats[0] + 0.1, stats[1] * 2))
    assert not torch.equal(other, model(c1, f1, c2))


def test_gradients_reach_every_parameter() -> None:
    model = _trained().train()
    c1, f1, c2 = _images(3, 32, 32)  # no padding: every level keeps valid pixels
    valid = torch.ones(2, 3, 32, 32)
    valid[0, 1, :4] = 0
    model(c1, f1, c2, valid=valid).square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        assert param.grad.abs().sum() > 0, f"{name} got a zero gradient"


def test_save_load_round_trip(tmp_path) -> None:
    model = _trained()
    save_model(tmp_path, model, {"bands": 4})
    loaded, meta = load_model(tmp_path)
    assert isinstance(loaded, AgnosticESTSTFM)
    assert loaded.config == model.config and meta["config"]["bands"] is None
    assert loaded.preset == TINY
    for bands in (1, 4):
        images = _images(bands, 11, 9, batch=1)
        with torch.no_grad():
            assert torch.equal(loaded(*images), model(*images))
    rebuilt = model_from_config(model.config.model_dump(mode="json"))
    assert rebuilt.config == model.config
    assert count_parameters(rebuilt) == count_parameters(model)


def test_cost_grows_linearly_with_the_band_count() -> None:
    model = create_model(TINY).eval()
    two, four, eight = (_flops(model, _images(b, 32, 32, batch=1)) for b in (2, 4, 8))
    assert 1.9 < four / two <= 2.0
    assert 1.9 < eight / four <= 2.0


def test_parameters_do_not_depend_on_bands_and_fit_the_budget() -> None:
    counts = {count_parameters(create_model(TINY, bands=b)) for b in (1, 6, 13)}
    assert len(counts) == 1
    assert count_parameters(create_model("est-stfm-any-small")) * 4 < 20_000_000


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [({"bands": 0}, "bands"), ({"patch": 0}, "patch"), ({"exchange": "max"}, "exchange")],
)
def test_bad_config_is_one_line(overrides: dict, fragment: str) -> None:
    with pytest.raises(EstStfmError) as info:
        create_model(TINY, **overrides)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_config_forgets_the_band_count() -> None:
    assert AgnosticConfig(bands=7).bands is None
    assert create_model(TINY, bands=7).config == create_model(TINY, bands=2).config


def test_mismatched_shapes_rejected() -> None:
    model = create_model(TINY)
    c1, f1, c2 = _images(2)
    with pytest.raises(ValueError, match="base"):
        model(c1, f1, c2, base=f1[:, :1])
    with pytest.raises(ValueError, match="valid"):
        model(c1, f1, c2, valid=torch.ones(2, 3, 20, 18))
