"""The package's shape (README "Layout"): floors that import downward only, no private names
reached across modules, no import cycles, no source file over 450 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "est_stfm"
MAX_LINES = 450

FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("io",),
    ("scene",),
    ("models", "evaluation", "datasets"),
    ("methods",),
    ("training",),
    ("inference",),
    ("benchmark", "demo"),
    ("cli",),
)
"""Bottom to top: a part imports only from its own part and from parts on lower floors."""

FLOOR = {part: i for i, parts in enumerate(FLOORS) for part in parts}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def part_of(module: str) -> str | None:
    """The floor part of ``est_stfm.<part>...`` (None for the top-level package files)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[1] in FLOOR else None


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports(module: str, top_level_only: bool = False) -> list[tuple[str, list[str], int]]:
    """``(imported module, names, line)`` for every ``est_stfm`` import in ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.split(".")
                base = base if is_package(module) else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *filter(None, [node.module])])
            if target.split(".")[0] == "est_stfm":
                found.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "est_stfm":
                    found.append((alias.name, [], node.lineno))
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_floors(module: str) -> None:
    own = part_of(module)
    if own is None:
        return  # est_stfm/__init__.py (lazy public API) and __main__.py
    for target, _, line in imports(module):
        other = part_of(target)
        if other is None or other == own:
            continue
        assert FLOOR[other] < FLOOR[own], (
            f"{module}:{line} imports {target}: {own} (floor {FLOOR[own]}) may import only "
            f"from lower floors, and {other} is on floor {FLOOR[other]}"
        )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_across_modules(module: str) -> None:
    package = module.rsplit(".", 1)[0] if not is_package(module) else module
    for target, names, line in imports(module):
        if target == module:
            continue
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module}:{line} imports private {private} from {target}"
        hidden = [p for p in target.split(".") if p.startswith("_") and not p.startswith("__")]
        if hidden:
            assert target.startswith(package + "."), (
                f"{module}:{line} imports the internal module {target} from outside its package"
            )


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        edges = set()
        for target, names, _ in imports(module, top_level_only=True):
            if target in MODULES:
                edges.add(target)
            edges.update(f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES)
        graph[module] = edges - {module}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_source_files_stay_small(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines: split it by job"


def test_every_part_is_on_a_floor() -> None:
    parts = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    parts |= {p.stem for p in SRC.glob("*.py") if not p.stem.startswith("__")}
    assert parts <= set(FLOOR), f"put {sorted(parts - set(FLOOR))} on a floor in FLOORS"


def test_user_errors_are_formatted_in_one_place() -> None:
    """Every ``error: ...`` line comes from :func:`est_stfm.errors.format_error`."""
    offenders = [
        f"{module}:{n}"
        for module, path in MODULES.items()
        if module != "est_stfm.errors"
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if 'f"error: {exc' in line
    ]
    assert not offenders, f"format user errors with errors.format_error: {offenders}"
