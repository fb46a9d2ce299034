"""Shared pieces of the benchmark tests: writing a protocol, the dates of a scene file."""

from __future__ import annotations

from pathlib import Path

import yaml

TINY_METHODS = [
    {"id": "naive-copy"},
    {"id": "naive-change"},
    {"id": "est-stfm-tiny", "fit": {"model": "est-stfm-tiny", "epochs": 1, "patch_size": 32}},
]
"""Two classic methods and a one-epoch model: every kind of method, in seconds."""


def scene_dates(scene_yaml: Path) -> list[str]:
    """The fine-image dates of a scene file, sorted, as ``YYYY-MM-DD``."""
    return sorted(str(d) for d in yaml.safe_load(scene_yaml.read_text())["fine"])


def write_protocol(path: Path, cases: list[dict], methods: list[dict]) -> Path:
    """A version-1 protocol file of ``cases`` and ``methods`` at ``path``."""
    path.write_text(yaml.safe_dump({"version": 1, "cases": cases, "methods": methods}))
    return path
