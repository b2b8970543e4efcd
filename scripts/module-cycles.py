#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a cycle.

For each crate folder given (default: host-runner, connector, protocol, edge), every module
file under src/ is a node named by its path (`run/inputs.rs` -> `run::inputs`, `run/mod.rs` ->
`run`); a `crate::a::b` path in its code (outside comments) is an edge to the longest known module
that path names. Edges between a module and its own parent or child are left out (a room's root
declares its rooms and re-exports them). Prints each cycle found and exits 1, or prints the
number of modules and edges checked and exits 0.

Usage: scripts/module-cycles.py [CRATE_DIR...]
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)")
GROUP = re.compile(r"crate::\{([^}]*)\}")
COMMENT = re.compile(r"//.*")


def module_name(src: Path, file: Path) -> str:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts)


def edges_of(text: str, modules: set) -> set:
    code = "\n".join(COMMENT.sub("", line) for line in text.splitlines())
    paths = PATH.findall(code)
    for group in GROUP.findall(code):
        paths += [p.strip().split("::")[0] for p in group.split(",") if p.strip()]
    found = set()
    for path in paths:
        parts = path.split("::")
        for n in range(len(parts), 0, -1):
            name = "::".join(parts[:n])
            if name in modules:
                found.add(name)
                break
    return found


def related(a: str, b: str) -> bool:
    return a == "" or b == "" or a.startswith(b + "::") or b.startswith(a + "::")


def cycles(graph: dict) -> list:
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def check(crate: Path) -> int:
    src = crate / "src"
    files = {module_name(src, f): f for f in src.rglob("*.rs")}
    modules = set(files)
    graph = {}
    for name, file in files.items():
        graph[name] = {m for m in edges_of(file.read_text(), modules) if not related(name, m)}
    found = cycles(graph)
    for component in found:
        print(f"{crate.name}: modules import each other: {', '.join(component)}")
    edges = sum(len(e) for e in graph.values())
    if not found:
        print(f"{crate.name}: {len(modules)} modules, {edges} imports between them, no cycle")
    return len(found)


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    crates = [Path(a) for a in sys.argv[1:]] or [
        root / c for c in ("host-runner", "connector", "protocol", "edge")
    ]
    sys.exit(1 if sum(check(c) for c in crates) else 0)


if __name__ == "__main__":
    main()
