"""The shape of device/: packages by concern in layers, no import circles, no package importing
one above it, and the bench side never importing torch or export/ (read from the source)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

DEVICE = REPO / "device"
# Bottom to top: a module may import its own layer and those below, never one above.
LAYERS = ["core", "config", "measuring", "hardware", "records", "models", "bench", "tui", "cli"]
MAX_LINES = 400


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # device itself
    return parts[1] if parts[1] in LAYERS else None


def runtime_imports(path: Path, typing_too: bool = True) -> set[str]:
    """Modules this file imports: at module level, inside functions and (typing_too) under
    TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if (
            not typing_too
            and isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test)
        ):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def graph() -> dict[str, set[str]]:
    """device/ and export/: module -> the project modules it imports (a package's __init__ is a
    module of its own, so re-exports through it count)."""
    files = [*DEVICE.rglob("*.py"), *(REPO / "export").rglob("*.py")]
    mods = {module_name(p): p for p in files}
    return {
        m: {i for i in runtime_imports(p) if i in mods and i != m and i not in ("device", "export")}
        for m, p in mods.items()
    }


def test_no_package_imports_one_above_it():
    wrong = []
    for mod, deps in graph().items():
        mine = layer_of(mod) if mod.startswith("device.") else None
        for dep in deps:
            theirs = layer_of(dep)
            if mine and theirs and LAYERS.index(theirs) > LAYERS.index(mine):
                wrong.append(f"{mod} -> {dep}")
    assert not wrong, "imports that run up the layers: " + ", ".join(sorted(wrong))


def test_no_import_circles():
    g = graph()
    seen: dict[str, int] = {}  # 1: on the path, 2: done
    cycles: list[str] = []

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for d in sorted(g[m]):
            if seen.get(d) == 1:
                cycles.append(" -> ".join(path[path.index(d) :] + [d]))
            elif d not in seen:
                visit(d, path + [d])
        seen[m] = 2

    for m in sorted(g):
        if m not in seen:
            visit(m, [m])
    assert not cycles, "import circles: " + "; ".join(cycles)


def top_level_imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_the_bench_side_never_imports_torch_or_export():
    """Only the workstation commands of the CLI (train, evaluate, annotate, import) reach into
    export/, and only inside the command: `scopecount run` and `count` load no torch."""
    bad = []
    for p in DEVICE.rglob("*.py"):
        mod = module_name(p)
        lazy_ok = mod.startswith("device.cli.")
        found = top_level_imports(p) if lazy_ok else runtime_imports(p, typing_too=False)
        bad += [f"{mod} -> {i}" for i in found if i.split(".")[0] in ("torch", "export")]
    assert not bad, bad


def test_no_flat_modules_left_and_none_too_long():
    flat = sorted(p.name for p in DEVICE.glob("*.py") if p.name not in ("__init__.py", "config.py"))
    assert not flat, f"modules outside a package: {flat}"
    long = [
        f"{p.relative_to(REPO)} ({n} lines)"
        for p in [*DEVICE.rglob("*.py"), *(REPO / "export").rglob("*.py")]
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, long
