"""The import graph of `src/rin`: no cycles, and a few of ARCHITECTURE.md's layers kept.

How an edge is counted (read from the source with `ast`, nothing is imported):

- every `import` and `from ... import` in a module is an edge, at module level or inside a
  function: a lazy import that points up the layers is still a cycle, only deferred;
- imports under `if TYPE_CHECKING:` are not edges, they never run;
- relative imports are resolved against the importing module's package;
- `from rin.x import y` is an edge to `rin.x.y` when `y` is a submodule, else to `rin.x`;
- an edge goes to the module named, not to its parent packages (importing `rin.a.b` runs
  `rin/a/__init__.py` first, but a package's `__init__` that re-exports its own submodules
  would otherwise make every sibling import a cycle).

The same graph collapsed to packages (`rin.keys.store` counts as `rin.keys`; a top-level module is
its own node) has no cycle either: two packages that import each other, through any of their
modules, have no order between them, so neither is a layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "rin"


def module_names(src: Path = SRC) -> dict[str, Path]:
    """Every module under src/rin by dotted name; a package is named by its `__init__.py`."""
    modules = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in the tree, except the bodies of `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool,
             modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:
        package = name.split(".") if is_package else name.split(".")[:-1]
        anchor = package[:len(package) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    targets = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        targets.add(sub if sub in modules else base)
    return targets


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """rin module -> the rin modules it imports."""
    modules = module_names(src)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: set[str] = set()
        for node in _imports(tree):
            edges |= _targets(node, name, path.name == "__init__.py", modules)
        graph[name] = {t for t in edges if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path `[a, b, ..., a]`, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path = [root]
        state[root] = 1
        iters = [iter(sorted(graph[root]))]
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(sorted(graph[nxt])))
    return None


def package_of(module: str) -> str:
    """`rin.keys.store` -> `rin.keys`; `rin.cost` and `rin` are their own."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph collapsed to rin's top-level packages and modules."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        here = package_of(module)
        packages.setdefault(here, set()).update(package_of(t) for t in targets)
        packages[here].discard(here)
    return packages


def _witnesses(graph: dict[str, set[str]], cycle: list[str]) -> list[str]:
    """For each step `a -> b` of a package cycle, the module imports that make it."""
    lines = []
    for here, there in zip(cycle, cycle[1:]):
        imports = sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts
                         if package_of(m) == here and package_of(t) == there)
        lines.append(f"  {here} -> {there}: " + ", ".join(imports))
    return lines


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


#: values, errors and time arithmetic: the bottom layer, importing nothing else of RIN's
BOTTOM = ("rin.types", "rin.errors", "rin.money", "rin.durations")
#: the command-line front ends: the top layer, imported by nothing in the gateway
FRONT_ENDS = ("rin.__main__", "rin.cli", "rin.keys.cli", "rin.catalog.cli", "rin.openwebui")
_SERVING = ("rin.server", "rin.runtime", "rin.generations", "rin.dashboard")
#: what every HTTP handler shares (the server's, the key admin API's, the dashboard's): it imports
#: the bottom layer only, so that any handler may import it
HANDLER_BASE = ("rin.asgi",)

#: (importers, what they may not import): ARCHITECTURE.md's layers where they are simple to state
LAYER_RULES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    # adapters translate: no I/O, no retries, no state of the gateway
    (("rin.providers",), _SERVING + ("rin.router", "rin.transport", "rin.ledger", "rin.budgets",
                                     "rin.shared", "rin.cache", "rin.keys", "rin.codecs", "rin.store")),
    # the config and the prices are read by everyone and read none of the running gateway
    (("rin.config", "rin.cost"), _SERVING + ("rin.router", "rin.transport", "rin.ledger", "rin.budgets",
                                  "rin.shared", "rin.codecs", "rin.cache", "rin.keys", "rin.store")),
    # codecs are the endpoints' formats, not the app that serves them
    (("rin.codecs",), _SERVING),
    # state, storage and the network know nothing of serving HTTP
    (("rin.ledger", "rin.shared", "rin.router", "rin.store", "rin.cache", "rin.transport",
      "rin.budgets", "rin.catalog", "rin.keys"), _SERVING),
    # the ledger's engines own the database's schema; the records kept in it sit above them
    (("rin.ledger",), ("rin.keys", "rin.store")),
    # the running state, and which generation of it is served, are below the app that serves them
    (("rin.runtime", "rin.generations"), ("rin.server", "rin.dashboard")),
    # the server mounts the dashboard's routes; the dashboard knows nothing of the server
    (("rin.dashboard",), ("rin.server",)),
    # the one module every entry point shares imports nothing of RIN's
    (("rin.bootstrap",), ("rin",)),
]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if _under(module, BOTTOM) and not _under(target, BOTTOM):
                found.append(f"{module} -> {target} (values and errors import nothing above them)")
            if _under(module, HANDLER_BASE) and not _under(target, BOTTOM):
                found.append(f"{module} -> {target} (what every handler shares imports only values and errors)")
            if _under(target, FRONT_ENDS) and not _under(module, FRONT_ENDS):
                found.append(f"{module} -> {target} (a command-line front end)")
            for importers, forbidden in LAYER_RULES:
                if _under(module, importers) and _under(target, forbidden):
                    found.append(f"{module} -> {target} ({', '.join(importers)} may not import it)")
    return found


def test_the_graph_sees_the_package() -> None:
    app = import_graph()["rin.server.app"]
    assert {"rin.runtime", "rin.bootstrap"} <= app  # the second one imported inside a function


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_package_cycles() -> None:
    graph = import_graph()
    cycle = find_cycle(package_graph(graph))
    assert cycle is None, "package cycle: " + " -> ".join(cycle or []) + "\n" + "\n".join(
        _witnesses(graph, cycle or []))


def test_imports_point_down_the_layers() -> None:
    violations = layer_violations(import_graph())
    assert not violations, "imports against ARCHITECTURE.md's layers:\n" + "\n".join(violations)


def test_a_cycle_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from rin.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nimport rin.a\n"
                              "if TYPE_CHECKING:\n    import rin.sub.b\n")
    graph = import_graph(tmp_path)
    assert find_cycle(graph) == ["rin.a", "rin.sub.b", "rin.c", "rin.a"]
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import rin.a\n")
    assert find_cycle(import_graph(tmp_path)) is None


def test_a_package_cycle_is_found(tmp_path: Path) -> None:
    """No module cycle, yet two packages that need each other: that is a cycle too."""
    pkg = tmp_path / PACKAGE
    for sub in ("keys", "ledger"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "keys" / "store.py").write_text("from rin.ledger import engines\n")
    (pkg / "ledger" / "engines.py").write_text("from rin.errors import RinError\n")
    (pkg / "ledger" / "sqlite.py").write_text("from rin.keys.model import COLUMNS\n")
    (pkg / "keys" / "model.py").write_text("import rin.errors\n")
    graph = import_graph(tmp_path)
    assert find_cycle(graph) is None
    packages = package_graph(graph)
    assert packages == {"rin": set(), "rin.errors": set(), "rin.keys": {"rin.ledger", "rin.errors"},
                        "rin.ledger": {"rin.keys", "rin.errors"}}
    cycle = find_cycle(packages)
    assert cycle == ["rin.keys", "rin.ledger", "rin.keys"]
    assert _witnesses(graph, cycle) == ["  rin.keys -> rin.ledger: rin.keys.store -> rin.ledger.engines",
                                        "  rin.ledger -> rin.keys: rin.ledger.sqlite -> rin.keys.model"]
    (pkg / "ledger" / "sqlite.py").write_text("COLUMNS = ()\n")
    assert find_cycle(package_graph(import_graph(tmp_path))) is None
