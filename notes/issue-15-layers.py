"""List untwine's modules per layer, the imports that point upward and the import cycles.

    python notes/issue-15-layers.py [SRC_DIR] [--final]

Reads the source with ast (every import, at module level or inside a function), so it runs on any
checkout without installing it. The layers are issue 15's (DESIGN.md's), bottom first; with
``--final`` the ones pyproject's import-linter contract enforces (explain below run, table below
report, core at the bottom, experiment beside report).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

LAYERS = [
    ("data", "nn"),
    ("models",),
    ("metrics",),
    ("train",),
    ("run", "config", "io", "registry"),
    ("protocols",),
    ("explain",),
    ("report",),
    ("app", "sweep", "table"),
    ("cli",),
]


FINAL = [
    ("core",),
    ("data", "nn"),
    ("models",),
    ("metrics",),
    ("train",),
    ("explain",),
    ("config",),
    ("run",),
    ("protocols",),
    ("table",),
    ("report", "experiment"),
    ("app", "sweep"),
    ("cli",),
]


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "untwine" or len(parts) < 2:
        return None
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    return None


def modules(src: Path) -> dict[str, Path]:
    found = {}
    for path in sorted((src / "untwine").rglob("*.py")):
        rel = path.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main() -> None:
    global LAYERS
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--final" in sys.argv:
        LAYERS = FINAL
    src = Path(args[0] if args else "src")
    mods = modules(src)
    graph = {m: imports(p, m, set(mods)) for m, p in mods.items()}
    per_layer = defaultdict(list)
    for m in mods:
        per_layer[layer_of(m)].append(m)
    print("modules per layer")
    for i, names in enumerate(LAYERS):
        print(f"  {i:2d} {'/'.join(names):<22} {len(per_layer[i]):3d}")
    if per_layer[None]:
        print(f"  - outside the layers: {', '.join(per_layer[None])}")
    upward = sorted((a, b) for a, bs in graph.items() for b in bs
                    if layer_of(a) is not None and layer_of(b) is not None and layer_of(b) > layer_of(a))
    packages = sorted({(".".join(a.split(".")[:2]), ".".join(b.split(".")[:2])) for a, b in upward})
    print(f"\nupward imports: {len(upward)} module edges, {len(packages)} package edges")
    for a, b in upward:
        print(f"  {a} -> {b}")
    found = cycles(graph)
    print(f"\nimport cycles (strongly connected groups of modules): {len(found)}")
    for comp in found:
        print(f"  {len(comp)}: {', '.join(comp)}")


if __name__ == "__main__":
    main()
