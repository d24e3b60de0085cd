"""The package's shape: no import cycle among gvgap modules, and modules a reader can
hold in their head (<= MAX_LINES, except the allow-list below, each with its reason)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PKG = REPO / "gvgap"
MAX_LINES = 300
LONG_MODULES = {  # path -> why it is longer than MAX_LINES
    "gvgap/engines/shared_prefix.py": "shared-prefix attention: the segment cache layout and the attention over it are one idea",
    "gvgap/metrics.py": "the paper's measurements as pure array functions, each checked by hand in "
                        "tests/test_metrics.py; a candidate to split (pass@k / gap / verifier quality)",
}

def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def imported(name: str, path: Path) -> set[str]:
    """gvgap modules `name` imports anywhere in its body (inside functions too: a lazy
    import cycle is still a cycle), plus the packages Python imports on the way."""
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from .a import b
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import submodule`
    out = set()
    for mod in found:
        parts = mod.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c imports a, a.b, a.b.c
            prefix = ".".join(parts[:i])
            if prefix in MODULES and prefix != name:
                out.add(prefix)
    return out


def cycles(graph: dict[str, set[str]]) -> set[frozenset]:
    """The groups of modules that reach each other through imports (strongly connected
    components with more than one module, or a module importing itself)."""
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {n: reach(n) for n in graph}
    return {frozenset({n} | {m for m in reachable[n] if n in reachable.get(m, ())}) for n in graph if n in reachable[n]}


def test_no_import_cycle():
    graph = {name: imported(name, path) for name, path in MODULES.items()}
    found = cycles(graph)
    assert not found, f"import cycles: {[sorted(c) for c in found]}"


def test_the_cycle_check_sees_a_cycle(tmp_path):
    """The check itself, on a made-up package: a lazy import closing a loop is a cycle,
    a chain is not."""
    (tmp_path / "a.py").write_text("import gvgap.b\n")
    (tmp_path / "b.py").write_text("def f():\n    from gvgap import a\n")
    (tmp_path / "c.py").write_text("from gvgap.a import x\n")
    fake = {"gvgap.a": tmp_path / "a.py", "gvgap.b": tmp_path / "b.py", "gvgap.c": tmp_path / "c.py"}
    MODULES.update(fake)
    try:
        graph = {n: imported(n, p) for n, p in fake.items()}
    finally:
        for n in fake:
            MODULES.pop(n)
    assert graph["gvgap.c"] == {"gvgap", "gvgap.a"}  # importing gvgap.a imports the package first
    assert cycles(graph) == {frozenset({"gvgap.a", "gvgap.b"})}


def test_modules_are_small():
    long = {str(p.relative_to(REPO)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    unexplained = {p: n for p, n in long.items() if p not in LONG_MODULES}
    assert not unexplained, f"modules over {MAX_LINES} lines without a reason in LONG_MODULES: {unexplained}"
