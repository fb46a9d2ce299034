"""Every name ``--model`` accepts, in one namespace: classic methods, shipped pretrained weights,
model presets (for ``fit``) and model folders written by ``est-stfm fit``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from est_stfm.errors import EstStfmError
from est_stfm.methods.base import Method
from est_stfm.methods.classic import CLASSIC_METHODS, TWO_PAIR_METHODS, classic_method
from est_stfm.methods.consistency import SUFFIX, Consistent
from est_stfm.methods.model import ModelMethod
from est_stfm.models.checkpoint import load_model
from est_stfm.models.pretrained import PRETRAINED, describe_pretrained, load_pretrained
from est_stfm.scene import Scene

Kind = Literal["classic", "pretrained", "preset"]


@dataclass(frozen=True)
class MethodName:
    """A name ``--model`` accepts: its kind and a one-line description."""

    name: str
    kind: Kind
    description: str
    parameters: int | None = None
    """Trainable parameters of a preset (for 6 bands); None for the other kinds."""


def method_names() -> list[MethodName]:
    """Classic methods and pretrained weights (``predict --model``), presets (``fit --model``)."""
    from est_stfm.models import describe_models

    names = [MethodName(n, "classic", "no training") for n in CLASSIC_METHODS]
    names += [MethodName(n, "pretrained", f"{p}: {s}") for n, p, s in describe_pretrained()]
    names += [MethodName(p.name, "preset", p.description, p.parameters) for p in describe_models()]
    return names


def _unsuffixed(name: str) -> str:
    """``name`` without the ``+consistency`` suffix."""
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name


def _needs_factor(name: str) -> EstStfmError:
    """The one-line error for a method that needs the scene's coarse pixel size."""
    return EstStfmError(
        f"{name} needs the coarse pixel size: add `coarse_factor: N` (coarse pixel size in "
        "fine pixels, e.g. 16 for 480 m / 30 m) to the scene file"
    )


def is_classic_name(name: str) -> bool:
    """Whether ``name`` is a classic method (``CLASSIC_METHODS``), alone or with the
    ``+consistency`` suffix: methods that need no training."""
    return _unsuffixed(name) in CLASSIC_METHODS


def needs_two_pairs(name: str) -> bool:
    """Whether the classic method ``name`` (``+consistency`` allowed) needs a reference pair
    before and one after the target (ESTARFM)."""
    return _unsuffixed(name) in TWO_PAIR_METHODS


def classic_by_name(name: str, coarse_factor: float | None = None) -> Method:
    """The classic method ``name``, alone or with the ``+consistency`` suffix (which needs
    ``coarse_factor``, the coarse pixel size in fine pixels)."""
    if not name.endswith(SUFFIX):
        return classic_method(name, coarse_factor=coarse_factor)
    if coarse_factor is None:
        raise _needs_factor(name)
    base = classic_by_name(_unsuffixed(name), coarse_factor)
    return Consistent(base, coarse_factor)


def _with_suffix(spec: str, scene: Scene | None) -> Method:
    """``<method>+consistency``: the method followed by the consistency step; an unknown
    suffix is a one-line error."""
    base, _, suffix = spec.rpartition("+")
    if f"+{suffix}" != SUFFIX:
        raise EstStfmError(
            f"model {spec!r}: unknown suffix '+{suffix}'; the only method suffix is {SUFFIX} "
            f"(e.g. fsdaf{SUFFIX}), or give a directory written by `est-stfm fit`"
        )
    factor = scene.coarse_factor if scene else None
    if factor is None:
        raise _needs_factor(spec)
    return Consistent(resolve_method(base, scene), factor)


def resolve_method(spec: str | Path, scene: Scene | None = None) -> Method:
    """A method from a classic method's name (``CLASSIC_METHODS``: ``naive-copy``,
    ``naive-change``, ``starfm``, ``estarfm``, ``fit-fc``, ``fsdaf``, ``blend``, ...), the name
    of shipped pretrained weights (``est-stfm models``) or a saved model directory; any of them
    followed by ``+consistency`` adds the consistency step
    (:mod:`est_stfm.methods.consistency`). ``scene`` gives the context some methods need
    (``scene.coarse_factor``) and is checked against a model's bands."""
    factor = scene.coarse_factor if scene else None
    if str(spec) in CLASSIC_METHODS:
        return classic_method(str(spec), coarse_factor=factor)
    if str(spec) in PRETRAINED:
        model, meta = load_pretrained(str(spec))
        name = str(spec)
    else:
        path = Path(spec)
        if not path.exists() and "+" in path.name:
            return _with_suffix(str(spec), scene)
        if not path.exists():
            names = ", ".join([*CLASSIC_METHODS, *PRETRAINED])
            raise EstStfmError(
                f"model {spec!r} not found: give a directory written by `est-stfm fit` "
                f"or one of {names}"
            )
        model, meta = load_model(path)
        name = meta.get("preset") or "est-stfm"
    bands = model.config.bands
    if scene is not None and bands is not None and scene.bands != bands:  # None: any bands
        raise EstStfmError(
            f"model {spec} expects {bands} bands but {scene.path} has {scene.bands}: "
            "fit a model on this scene (est-stfm fit) or choose its bands in the scene file"
        )
    base_name = (meta.get("fit") or {}).get("base", "change")
    base = None
    if base_name != "change":
        try:
            base = classic_by_name(base_name, factor)
        except EstStfmError as exc:  # e.g. the scene lacks coarse_factor
            raise EstStfmError(
                f"model {spec} corrects {base_name}: {exc} (or choose another --model)"
            ) from None
        name = f"{name}+{base_name}"
    # weights that never trained on this scene (shipped ones, folders pretrained elsewhere
    # that say so with "pair_check", or a fit that kept its starting weights untrained because
    # nothing could validate it) are checked on its pairs first
    fit, metrics = meta.get("fit") or {}, meta.get("metrics") or {}
    untrained = bool(fit.get("init")) and metrics.get("steps") == 0
    check = str(spec) in PRETRAINED or untrained or bool(meta.get("pair_check"))
    return ModelMethod(model, name=name, meta=meta, base=base, check=check)
