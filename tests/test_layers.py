"""The package's architecture, enforced: imports point one way, no cycle, small modules.

Data flows one way and imports follow it (DESIGN.md, "Layout"):

    sources/ -> MarketData -> indicators/, signals, study, metrics -> dashboard/ -> notebooks
    render/ runs notebooks and imports none of them; alerts/ uses sources and metrics.

Every module's imports are read with ``ast`` (imports inside functions included: a lazy import
still couples two modules), resolved to package modules, and checked against the layer rules
below. The checker itself is tested on a made-up package with an upward import and a cycle, so
this file cannot pass by checking nothing.
"""
from __future__ import annotations

import ast
import re
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "btcflow_nb"
MAX_LINES = 400

#: Modules every layer may use: argument checks, frame helpers, the time vocabulary.
HELPERS = ("btcflow_nb._checks", "btcflow_nb._frames", "btcflow_nb.timeframes")
DATA_MODEL = ("btcflow_nb.marketdata", "btcflow_nb._validate", "btcflow_nb._quotes",
              "btcflow_nb._futures_frame")

#: layer -> (module prefixes in it, prefixes it may import besides itself). A module belongs
#: to the first layer with a matching prefix; a module in no layer fails the test.
LAYERS = {
    "helpers": (HELPERS, ()),
    "data model": (DATA_MODEL, HELPERS),
    "indicators": (("btcflow_nb.indicators",), HELPERS),
    "signals": (("btcflow_nb.signals",), HELPERS + ("btcflow_nb.indicators",)),
    "metrics": (("btcflow_nb.metrics", "btcflow_nb._metrics_base", "btcflow_nb.explanation",
                 "btcflow_nb.study", "btcflow_nb._study_stats", "btcflow_nb.basis",
                 "btcflow_nb.legs", "btcflow_nb.venue_metrics"),
                HELPERS + DATA_MODEL + ("btcflow_nb.indicators", "btcflow_nb.signals",
                                        "btcflow_nb.metrics", "btcflow_nb._metrics_base",
                                        "btcflow_nb.explanation", "btcflow_nb.study",
                                        "btcflow_nb._study_stats", "btcflow_nb.legs",
                                        "btcflow_nb.venue_metrics")),
    "sources": (("btcflow_nb.sources",), HELPERS + DATA_MODEL),
    "alerts": (("btcflow_nb.alerts",),
               HELPERS + DATA_MODEL + ("btcflow_nb.sources", "btcflow_nb.metrics",
                                       "btcflow_nb.explanation", "btcflow_nb.signals",
                                       "btcflow_nb.indicators")),
    "dashboard": (("btcflow_nb.dashboard",),
                  HELPERS + DATA_MODEL + ("btcflow_nb.sources", "btcflow_nb.metrics",
                                          "btcflow_nb.basis",
                                          "btcflow_nb.explanation", "btcflow_nb.study",
                                          "btcflow_nb.signals", "btcflow_nb.indicators",
                                          "btcflow_nb.legs", "btcflow_nb.venue_metrics")),
    # render executes notebooks in a kernel; it imports none of the layers above
    "render": (("btcflow_nb.render",), ("btcflow_nb._checks",)),
    # the fake exchange shares no code with what it checks; pointing a ccxt client at it uses
    # the client-side helper sources.config.point_exchange_at, nothing else
    "testing": (("btcflow_nb.testing",), ("btcflow_nb.sources.config",)),
    "command line": (("btcflow_nb.cli",),
                     HELPERS + DATA_MODEL + ("btcflow_nb.sources", "btcflow_nb.metrics",
                                             "btcflow_nb.render", "btcflow_nb.alerts",
                                             "btcflow_nb.study", "btcflow_nb.signals",
                                             "btcflow_nb.indicators")),
}
#: The package root is a lazy facade over the layers; no module inside imports it.
FACADE = "btcflow_nb"


def _module_name(path: Path, package_dir: Path) -> str:
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package_dir: Path) -> dict[str, Path]:
    return {_module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}


def _resolve(target: str, known: set[str]) -> str | None:
    """The package module an import statement reaches (the longest known prefix)."""
    while target:
        if target in known:
            return target
        target = target.rpartition(".")[0]
    return None


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """module -> package modules it imports (at top level or inside functions)."""
    modules = _modules(package_dir)
    known = set(modules)
    top = package_dir.name
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        here = name if is_pkg else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    mod = f"{base}.{node.module}" if node.module else base
                else:
                    mod = node.module or ""
                # `from pkg import sub` reaches the submodule when there is one
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod
                           for a in node.names]
            for t in targets:
                if t == top or t.startswith(top + "."):
                    resolved = _resolve(t, known)
                    if resolved and resolved != name:
                        edges.add(resolved)
        graph[name] = edges
    return graph


def _layer_of(module: str, layers: dict) -> str | None:
    for layer, (prefixes, _allowed) in layers.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return layer
    return None


def layer_violations(graph: dict[str, set[str]], layers: dict = LAYERS,
                     facade: str = FACADE) -> list[str]:
    """Every import that breaks a layer rule, as readable lines."""
    out = []
    for module, edges in sorted(graph.items()):
        if module == facade:
            continue
        layer = _layer_of(module, layers)
        if layer is None:
            out.append(f"{module}: in no layer (add it to LAYERS in tests/test_layers.py)")
            continue
        own, allowed = layers[layer]
        for target in sorted(edges):
            if target == facade:
                out.append(f"{module} imports the package facade {facade!r}; import the module")
                continue
            ok = any(target == p or target.startswith(p + ".") for p in own + allowed)
            if not ok:
                out.append(f"{module} ({layer}) imports {target} "
                           f"({_layer_of(target, layers) or 'no layer'}): not allowed")
    return out


def cycles(graph: dict[str, set[str]], facade: str = FACADE) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), facade left out."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w == facade:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v != facade and v not in index:
            visit(v)
    return found


# ------------------------------------------------------------------------------- the package


def test_no_import_cycle():
    assert cycles(import_graph(PACKAGE)) == []


def test_imports_point_one_way():
    assert layer_violations(import_graph(PACKAGE)) == []


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (at most {MAX_LINES} lines each): {long}"


def _public_packages() -> list[str]:
    """Every public package of btcflow_nb (found on disk: nothing is imported to list them, so
    an import error shows in its own test, not as a collection error hiding the others)."""
    return [name for name, path in _modules(PACKAGE).items()
            if path.name == "__init__.py" and not any(p.startswith("_") for p in name.split("."))]


@pytest.mark.parametrize("package", _public_packages())
def test_public_names_live_in_public_modules(package):
    """An underscore always means internal: what a package's ``__all__`` offers is defined in a
    module whose dotted name has no underscored part."""
    module = importlib.import_module(package)
    internal = []
    for attr in getattr(module, "__all__", ()):
        obj = getattr(module, attr)
        home = obj.__name__ if isinstance(obj, type(ast)) else getattr(obj, "__module__", None)
        if home is None or not home.startswith("btcflow_nb"):
            continue  # a constant (tuple, dict, str): it has no home module to check
        if any(part.startswith("_") for part in home.split(".")):
            internal.append(f"{package}.{attr} is defined in the internal module {home}")
    assert internal == []


def _top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def test_tests_import_private_names_only_from_their_owner():
    """A test may use a private helper, but only from the module that defines it (never
    through a re-export), so moving a helper breaks loudly and the owner is one hop away."""
    modules = _modules(PACKAGE)
    wrong = []
    for test_file in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(test_file.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module
                    and node.module.startswith("btcflow_nb")):
                continue
            for alias in node.names:
                name = alias.name
                if not name.startswith("_") or name.startswith("__"):
                    continue
                if f"{node.module}.{name}" in modules:
                    continue  # importing an internal module itself: it owns its helpers
                owner = modules.get(node.module)
                if owner is None or name not in _top_level_names(owner):
                    wrong.append(f"{test_file.relative_to(ROOT)}: {name} from {node.module}")
    assert wrong == []


# ------------------------------------------------------------------ the checker can fail


def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "btcflow_nb"
    for rel, text in {"__init__.py": "", **files}.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return pkg


def test_checker_catches_an_upward_import_and_a_hidden_cycle(tmp_path):
    pkg = _fake_package(tmp_path, {
        "timeframes.py": "",
        "indicators/__init__.py": "from .rolling import sma\n",
        "indicators/rolling.py": "from ..timeframes import x\n"
                                 "def f():\n    from ..sources import fetch  # upward, hidden\n",
        "sources/__init__.py": "from .live import fetch\n",
        "sources/live.py": "from ..marketdata import MarketData\n",
        "marketdata.py": "def g():\n    from .sources import live  # cycle via a function\n",
    })
    graph = import_graph(pkg)
    assert graph["btcflow_nb.indicators.rolling"] == {"btcflow_nb.timeframes", "btcflow_nb.sources"}
    bad = layer_violations(graph)
    assert any("indicators.rolling (indicators) imports btcflow_nb.sources" in b for b in bad)
    assert any("marketdata (data model) imports btcflow_nb.sources.live" in b for b in bad)
    assert cycles(graph) == [["btcflow_nb.marketdata", "btcflow_nb.sources.live"]]


def test_checker_accepts_a_clean_package(tmp_path):
    pkg = _fake_package(tmp_path, {
        "timeframes.py": "", "_checks.py": "",
        "indicators/__init__.py": "from .rolling import sma\n",
        "indicators/rolling.py": "from .._checks import check\nfrom ..timeframes import x\n",
        "metrics.py": "from .indicators import sma\nfrom .marketdata import MarketData\n",
        "marketdata.py": "from .timeframes import x\n",
    })
    graph = import_graph(pkg)
    assert layer_violations(graph) == [] and cycles(graph) == []


def test_readme_tree_names_modules_that_exist():
    """README's "Where the code is" tree cannot drift: every module and folder it names exists,
    and every package folder of btcflow_nb is in it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    tree = text.split("## Where the code is", 1)[1].split("```", 2)[1]
    named = set(re.findall(r"^\s{2}(\S+?\.py|\S+?/)\s", tree, flags=re.M))
    named |= set(re.findall(r"\b(_?\w+\.py)\b", tree))
    assert named, "no module found in the README tree"
    for entry in named:
        matches = list(PACKAGE.rglob(entry.rstrip("/"))) or [PACKAGE / entry]
        assert any(m.exists() for m in matches), f"README names {entry}, which does not exist"
    folders = {p.name + "/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders <= named, f"package folders missing from the README tree: {folders - named}"
