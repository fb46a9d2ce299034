"""Where architectures and presets are registered; the model files fill it, the factory reads it.

An *architecture* (``arch``) pairs a pydantic config class with the ``nn.Module`` class built
from it; its model file registers it with :func:`register_arch`. A *preset* is a named set of
config values for one architecture: a small function decorated with :func:`register_preset`
beside its architecture, so adding one edits no table here. ``import est_stfm.models`` imports
every model file, which fills the registry; presets list in the order they were registered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from torch import nn

from est_stfm.errors import EstStfmError

ModuleT = TypeVar("ModuleT", bound=type[nn.Module])
PresetFn = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class Architecture:
    """How to validate and build one kind of model."""

    name: str
    config_class: type[BaseModel]
    builder: Callable[[Any], nn.Module]


@dataclass(frozen=True)
class Preset:
    """A named model: its architecture, a one-line description and the config values it sets."""

    name: str
    arch: str
    description: str
    values: Mapping[str, Any]


_ARCHITECTURES: dict[str, Architecture] = {}
_PRESETS: dict[str, Preset] = {}


def register_arch(name: str, config_class: type[BaseModel]) -> Callable[[ModuleT], ModuleT]:
    """Class decorator: the model class is built from ``config_class`` under ``arch=name``."""

    def register(cls: ModuleT) -> ModuleT:
        if name in _ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is registered twice")
        _ARCHITECTURES[name] = Architecture(name, config_class, cls)
        return cls

    return register


def register_preset(arch: str, description: str) -> Callable[[PresetFn], PresetFn]:
    """Function decorator: a preset of ``arch`` named after the function (``_`` -> ``-``).

    The function returns the config values the preset sets; everything else is the config's
    default, and ``create_model``'s overrides win over both.
    """

    def register(fn: PresetFn) -> PresetFn:
        name = fn.__name__.replace("_", "-")
        if name in _PRESETS:
            raise ValueError(f"preset {name!r} is registered twice")
        if arch not in _ARCHITECTURES:
            raise ValueError(f"preset {name!r} names unregistered architecture {arch!r}")
        _PRESETS[name] = Preset(name, arch, description, dict(fn()))
        return fn

    return register


def list_models() -> list[str]:
    """Names of the available presets."""
    return list(_PRESETS)


def list_archs() -> list[str]:
    """Names of the registered architectures."""
    return list(_ARCHITECTURES)


def get_preset(name: str) -> Preset:
    """The preset ``name``; a one-line user error naming the available ones if unknown."""
    preset = _PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        raise EstStfmError(f"unknown model {name!r}; available: {', '.join(_PRESETS)}")
    return preset


def get_arch(name: str) -> Architecture:
    """The architecture ``name``; a one-line user error naming the known ones if unknown."""
    arch = _ARCHITECTURES.get(name) if isinstance(name, str) else None
    if arch is None:
        raise EstStfmError(
            f"unknown model architecture {name!r}; known: {', '.join(_ARCHITECTURES)}"
        )
    return arch
