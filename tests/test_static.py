"""ruff and mypy are part of the suite, so CI fails on a lint or type error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_and_format():
    pytest.importorskip("ruff", reason="ruff is not installed (pip install -e '.[test]')")
    run("ruff", "check", ".")
    run("ruff", "format", "--check", ".")


def test_mypy_strict():
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    run("mypy")


def _imports() -> dict[str, set[tuple[str, str | None]]]:
    """Per module of the package, the (module, name) pairs it imports from the package
    (``name`` None for a plain ``import``), relative imports resolved."""
    import ast

    package = ROOT / "src" / "asrl"
    found: dict[str, set[tuple[str, str | None]]] = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        is_package = parts[-1] == "__init__"
        edges: set[tuple[str, str | None]] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".")
                    base = base[: len(base) - node.level + (1 if is_package else 0)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] == "asrl":
                    for alias in node.names:
                        edges.add((target, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "asrl":
                        edges.add((alias.name, None))
        found[module] = edges
    return found


def test_no_private_names_across_modules():
    offending = []
    for module, edges in _imports().items():
        for target, name in edges:
            if name is not None and name.startswith("_") and name != "__all__":
                offending.append(f"{module} imports {name} from {target}")
    assert not offending, offending


def test_no_import_cycles_between_modules():
    imports = _imports()
    modules = set(imports)
    graph: dict[str, set[str]] = {}
    for module, edges in imports.items():
        targets = set()
        for target, name in edges:
            full = f"{target}.{name}" if name else target
            targets.add(full if full in modules else target)
        # A package's __init__ importing its own submodules is not a cycle.
        graph[module] = {t for t in targets if t in modules and t != module}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):
                continue  # a package re-exporting its submodules
            if state.get(nxt) == 1:
                cycle.extend([*path, node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*path, node]):
                return True
        state[node] = 2
        return False

    for module in sorted(graph):
        if state.get(module) is None and visit(module, []):
            break
    assert not cycle, " -> ".join(cycle)
