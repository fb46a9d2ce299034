"""The one YAML reader: safe, duplicate keys refused, every problem a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from est_stfm.errors import EstStfmError


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects duplicate keys (YAML would silently keep the last one)."""


def _construct_unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # the default constructor reports unhashable keys
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (also on line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=True)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed content of the YAML file ``path`` (``what`` names it in errors, e.g.
    ``"scene file"``). Unreadable files, syntax errors, duplicate keys and impossible dates
    (2001-02-30) are one-line :class:`EstStfmError` naming the line."""
    path = Path(path)
    if path.is_dir():
        raise EstStfmError(f"{what} {path} is a directory: give the path of a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EstStfmError(f"{what} {path} is not a text file: give a YAML file") from None
    except FileNotFoundError:
        raise EstStfmError(f"{what} not found: {path} (check the path)") from None
    except OSError as exc:
        raise EstStfmError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise EstStfmError(f"{what} {path}: not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise EstStfmError(f"{what} {path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except ValueError as exc:  # a date-like value that is no real date, e.g. 2001-02-30
        raise EstStfmError(
            f"{what} {path}: invalid date ({exc}): write dates as YYYY-MM-DD"
        ) from None
