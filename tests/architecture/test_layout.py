"""The shape of the house, checked: no two modules need each other, the domains stay pure,
and no module grows past ~400 lines without saying why (README, "Architecture").

Imports are read from the source (``ast``), so imports inside functions and under
``TYPE_CHECKING`` count: a circle hidden in a function is still a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "shared")
MAX_LINES = 400
#: What a module over MAX_LINES says in its opening docstring, followed by the reason.
LONG_BECAUSE = "Long because"
#: Libraries a pure domain model must not import (cosmicpython: the domain knows no I/O).
IMPURE = ("fastapi", "sqlmodel", "sqlalchemy", "aiokafka", "psycopg", "httpx", "starlette")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """Every dotted name ``name``'s source imports, resolved against its package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
            # `from pkg import module` needs the module, not the package's other names.
            yield from submodules if len(submodules) == len(node.names) else [base, *submodules]


def _graph() -> dict[str, set[str]]:
    return {name: {m for m in _imported(name, path) if m in MODULES and m != name} for name, path in MODULES.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        circles.append(sorted(component))
    return circles


def test_no_two_modules_import_each_other() -> None:
    assert _circles(_graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if ".domain" in n))
def test_domain_modules_import_no_io_library(name: str) -> None:
    impure = sorted(m for m in _imported(name, MODULES[name]) if m.split(".")[0] in IMPURE)
    assert impure == [], f"{name} imports {impure}"


def test_long_modules_say_why() -> None:
    unexplained = []
    for name, path in MODULES.items():
        source = path.read_text()
        if source.count("\n") > MAX_LINES and LONG_BECAUSE not in (ast.get_docstring(ast.parse(source)) or ""):
            unexplained.append(f"{name} ({source.count(chr(10))} lines)")
    assert unexplained == [], f"over {MAX_LINES} lines without '{LONG_BECAUSE} ...' in the docstring: {unexplained}"
