"""Every registered preset, with no test line per preset: a new preset is covered on registration.

Each one builds from a seed to the same weights, predicts any image size, survives a save and
load unchanged, and has the parameter count ``est-stfm models`` prints.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from est_stfm.models import count_parameters, create_model, describe_models, list_models
from est_stfm.models._registry import get_preset, list_archs, register_preset
from est_stfm.models.checkpoint import load_model, save_model

PRESETS = list_models()
BANDS = 3
DOCUMENTED = {
    "est-stfm-tiny": 1_017_646,
    "est-stfm-small": 2_862_463,
    "est-stfm-base": 47_885_484,
    "edcstfn": 2_207_446,
    "swinstfm-small": 2_978_046,
}
"""Parameter counts for 6 bands that the README's model table states."""


def _images(bands: int, h: int, w: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.rand(1, bands, h, w, generator=gen) for _ in range(3)]


def _seeded(name: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name, bands=BANDS)


def test_every_architecture_has_a_preset() -> None:
    archs = {get_preset(name).arch for name in PRESETS}
    assert archs == set(list_archs())


def test_listing_order_puts_est_stfm_first() -> None:
    archs = [get_preset(name).arch for name in PRESETS]
    assert archs == sorted(archs, key=["est-stfm", "est-stfm-any", "edcstfn", "swinstfm"].index)
    assert PRESETS[:3] == ["est-stfm-tiny", "est-stfm-small", "est-stfm-base"]


@pytest.mark.parametrize("name", PRESETS)
def test_output_has_the_input_shape(name: str) -> None:
    model = create_model(name, bands=BANDS).eval()
    with torch.no_grad():
        out = model(*_images(BANDS, 13, 17))
    assert out.shape == (1, BANDS, 13, 17)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", PRESETS)
def test_save_load_round_trip(name: str, tmp_path) -> None:
    model = _seeded(name, 0).eval()
    with torch.no_grad():  # a trained head, so the comparison sees the whole network
        model.head.weight.normal_(0.0, 0.1)
    save_model(tmp_path, model, {"bands": BANDS})
    loaded, meta = load_model(tmp_path)
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    assert loaded.preset == meta["preset"] == name
    images = _images(BANDS, 9, 11)
    with torch.no_grad():
        assert torch.equal(loaded(*images), model(*images))


@pytest.mark.parametrize("name", PRESETS)
def test_same_seed_same_weights(name: str) -> None:
    first, again, other = _seeded(name, 0), _seeded(name, 0), _seeded(name, 1)
    assert count_parameters(first) > 0
    a, b, c = first.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_described_counts_match_the_built_models() -> None:
    described = describe_models()
    assert [d.name for d in described] == PRESETS
    for info in described:
        assert info.description and "\n" not in info.description
        assert info.parameters == count_parameters(create_model(info.name)) > 0
    counts = {info.name: info.parameters for info in described}
    assert {name: counts[name] for name in DOCUMENTED} == DOCUMENTED


def test_preset_names_are_unique_and_checked() -> None:
    def est_stfm_tiny() -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="registered twice"):
        register_preset("est-stfm", "a second tiny")(est_stfm_tiny)

    def nowhere_small() -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="unregistered architecture 'nowhere'"):
        register_preset("nowhere", "a preset of nothing")(nowhere_small)
    assert list_models() == PRESETS
