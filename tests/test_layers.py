"""DESIGN.md section 2's layering, checked by reading every import (AST).

A layer may import only layers below it; proto/ and transcript/ only the
standard library; prompt_toolkit only in shell/; rich only in render/ and
shell/; transport never knows a protocol; nothing imports cli.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "protoshell"

# Layer rank of each top-level part of the package: imports must go to a
# strictly lower rank, or stay inside the same part.
RANK = {
    "proto": 0,
    "transcript": 1,
    "target": 1,
    "status": 1,
    "context": 1,
    "auth": 1,
    "user_input": 1,  # reading the user's stdin off the event loop (stdlib only)
    "transport": 2,
    "session": 3,
    "save_body": 4,
    "recorder": 4,
    "render": 5,
    "replay": 6,
    "server": 6,
    "pipe_mode": 6,
    "api": 7,
    "runner": 7,
    "proxy": 7,
    "shell": 8,
    "cli": 9,
    "pytest_plugin": 9,  # loaded by pytest (entry point); nothing imports it
    "__init__": 0,
    "__main__": 10,
}
# The package's face may name the Python API, which it loads lazily (on first
# use of protoshell.connect, never on `import protoshell`).
FACADE = {"__init__": {"api"}}
# transport sits above proto in rank but must not use it (it moves bytes only).
FORBIDDEN_INTERNAL = {"transport": {"proto", "transcript"}}
STDLIB_ONLY = {"proto", "transcript"}
NO_IO_MODULES = {"socket", "ssl", "asyncio", "select", "selectors", "subprocess", "threading"}
NO_CLOCK_MODULES = {"time"}
THIRD_PARTY_ALLOWED = {
    "prompt_toolkit": {"shell"},
    "rich": {"render", "shell"},
    "pytest": {"pytest_plugin"},
}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py"))


def _part(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute dotted module, line) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(PKG.parent).with_suffix("")
    package = list(rel.parts[:-1])
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    out.extend((f"{mod}.{a.name}", node.lineno) for a in node.names)
                    continue
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
    return out


def _violations(path: Path) -> list[str]:
    part = _part(path)
    bad = []
    for mod, line in _imports(path):
        top = mod.split(".")[0]
        where = f"{path.relative_to(PKG.parent)}:{line} imports {mod}"
        if top == "protoshell":
            parts = mod.split(".")
            target = parts[1] if len(parts) > 1 else "__init__"
            if not (PKG / target).is_dir() and not (PKG / f"{target}.py").exists():
                target = "__init__"  # a name defined in protoshell/__init__.py
            if target == "cli" and part != "__main__":
                bad.append(f"{where}: nothing may import cli")
            if target in FORBIDDEN_INTERNAL.get(part, set()):
                bad.append(f"{where}: {part} must not know {target}")
            if target in FACADE.get(part, set()):
                continue
            if target != part and RANK.get(target, 99) >= RANK.get(part, -1):
                bad.append(f"{where}: {part} may only import lower layers")
            continue
        if part in STDLIB_ONLY and top not in sys.stdlib_module_names and top != "__future__":
            bad.append(f"{where}: {part}/ is stdlib only")
        if part in STDLIB_ONLY and top in NO_IO_MODULES:
            bad.append(f"{where}: {part}/ does no I/O")
        if part == "proto" and top in NO_CLOCK_MODULES:
            bad.append(f"{where}: proto/ reads no clock")
        allowed = THIRD_PARTY_ALLOWED.get(top)
        if allowed is not None and part not in allowed:
            bad.append(f"{where}: only {sorted(allowed)} may import {top}")
    return bad


def test_every_module_part_has_a_rank() -> None:
    unknown = {_part(p) for p in _modules()} - set(RANK)
    assert not unknown, f"give these a layer rank in tests/test_layers.py: {unknown}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG.parent)))
def test_layer_rules(path: Path) -> None:
    assert _violations(path) == []


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    """The rules above must be able to fail: a proto module importing rich does."""
    fake = PKG / "proto" / "_layer_probe_tmp.py"
    fake.write_text("import rich\nimport socket\nfrom ..session import Session\n", encoding="utf-8")
    try:
        found = _violations(fake)
    finally:
        fake.unlink()
    assert any("stdlib only" in v for v in found)
    assert any("does no I/O" in v for v in found)
    assert any("lower layers" in v for v in found)
