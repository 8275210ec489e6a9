"""The package's shape, as issue 16 set it: no import circles, small modules, adapters that
never reach into another adapter's private names."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "functions" / "herbmorph"
MAX_LINES = 400
#: adapters: each is a thin face over the cores; none may use another's private names
ADAPTERS = ("oscar", "runtime", "batch", "deepaas", "mas", "cli")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[tuple[str, tuple[str, ...]]]:
    """(module imported, names taken from it) for every import in ``path``, lazy ones included."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out |= {(a.name, ()) for a in node.names if a.name.split(".")[0] == "herbmorph"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "herbmorph":
                continue
            names = tuple(a.name for a in node.names)
            # "from pkg import module" imports the module
            subs = {f"{target}.{n}" for n in names if f"{target}.{n}" in known}
            out |= {(s, ()) for s in subs}
            out.add((target, tuple(n for n in names if f"{target}.{n}" not in known)))
    return {(t, n) for t, n in out if t in known}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {}
    for name, path in mods.items():
        graph[name] = {t for t, _ in _imports(name, path, known) if t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exporting its own modules is not a circle with them."""
    def own(a: str, b: str) -> bool:
        return a.startswith(b + ".") or b.startswith(a + ".")

    return {m: {t for t in ts if not own(m, t)} for m, ts in graph.items()}


def test_the_checker_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    cycles = _cycles(_without_packages(_graph()))
    assert not cycles, f"import circles: {cycles}"


def test_no_module_over_400_lines_outside_synth():
    big = {name: n for name, path in _modules().items()
           if ".synth" not in name and (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def _adapter(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in ADAPTERS:
        return parts[1]
    return None


def test_adapters_never_use_another_adapters_private_names():
    mods = _modules()
    known = set(mods)
    found = []
    for name, path in mods.items():
        mine = _adapter(name)
        for target, names in _imports(name, path, known):
            theirs = _adapter(target)
            if theirs and theirs != mine:
                found += [f"{name} takes {target}.{n}" for n in names if n.startswith("_")]
    assert not found, found
