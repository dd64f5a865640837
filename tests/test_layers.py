"""The package's dependency direction, enforced on the source (parsed with ``ast``).

Layers, lowest first (a module may import its own layer and the layers below it,
at module level or inside functions):

    spec                          the model description (numpy and the standard library only)
    records, stimulus, connectivity   backend-neutral run data: records, patterns and inputs, synapses
    analysis                      metrics from records
    io, plotting                  run folders and figures (plotting may use io's names, not the reverse)
    backends, export              simulators, and exporters reading run folders
    experiment, batch, sweep      running models end to end
    cli, __main__                 the command line

``neuromem`` itself (the lazy top-level API) and ``_compat`` stand outside the
layers: the top level may be imported by anything for ``__version__`` and
imports the rest only lazily, by name; ``_compat`` imports nothing of neuromem.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "neuromem"
LAYERS = [
    {"spec"},
    {"records", "stimulus", "connectivity"},
    {"analysis"},
    {"io", "plotting"},
    {"backends", "export"},
    {"experiment", "batch", "sweep"},
    {"cli", "__main__"},
]
RANK = {name: k for k, names in enumerate(LAYERS) for name in names}


def modules():
    out = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def imports(f, mods):
    """neuromem modules imported anywhere in ``f`` (module level and inside functions)."""
    found = set()
    for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        if isinstance(n, ast.Import):
            found.update(a.name for a in n.names if a.name.split(".")[0] == "neuromem")
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module and n.module.split(".")[0] == "neuromem":
            found.add(n.module)
            found.update(f"{n.module}.{a.name}" for a in n.names if f"{n.module}.{a.name}" in mods)
    return {m for m in found if m in mods}


def layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


GRAPH = {m: imports(f, modules()) for m, f in modules().items()}


def test_every_module_has_a_layer():
    unknown = sorted({layer(m) for m in GRAPH} - set(RANK) - {None, "_compat"})
    assert not unknown, f"modules outside the declared layers: {unknown} (add them to LAYERS and docs/architecture.md)"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    src = layer(module)
    bad = []
    for dep in GRAPH[module]:
        dst = layer(dep)
        if dst is None:                      # the top-level package: only for __version__ and its lazy API
            continue
        if src == "_compat" or dst == "_compat":
            assert src != "_compat" or dst == "_compat", f"{module} imports {dep}"
            continue
        if src is None:                      # the top level imports lazily, by name
            continue
        if RANK[dst] > RANK[src]:
            bad.append(dep)
    assert not bad, f"{module} ({src}) imports a higher layer: {sorted(bad)}"


def related(a, b):
    """A package and its own submodules (``neuromem.spec`` and ``neuromem.spec.loader``)."""
    return a.startswith(b + ".") or b.startswith(a + ".")


def strongly_connected(graph):
    """Tarjan's strongly connected components of a dict graph."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

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
            out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_modules():
    """No module reaches itself through the imports of others (function-level imports included).

    Edges to the top-level package (``__version__``, lazy API) and between a package
    and its own submodules are left out: a package re-exporting its modules' names
    is not a cycle between parts of the code.
    """
    graph = {m: {d for d in deps if layer(d) is not None and not related(m, d)}
             for m, deps in GRAPH.items() if layer(m) is not None}
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_the_cycle_check_sees_a_cycle():
    assert [sorted(c) for c in strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
            if len(c) > 1] == [["a", "b", "c"]]
