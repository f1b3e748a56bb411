"""Packaging and documentation consistency: things that drift silently if nobody checks."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_yml_deps() -> dict[str, str]:
    """The conda dependency list of environment.yml (a flat list: parsed without PyYAML)."""
    deps, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps:
            m = re.match(r"^\s+-\s+(\S.*)$", line)
            if m:
                spec = m.group(1).strip()
                deps[_name(spec)] = spec.replace(" ", "")
            elif line.strip() and not line.startswith(" "):
                break
    return deps


def test_environment_yml_lists_the_same_runtime_dependencies_as_pyproject():
    py = {_name(r): r.replace(" ", "") for r in _pyproject()["project"]["dependencies"]}
    env = _environment_yml_deps()
    env.pop("pip", None)
    python = env.pop("python", None)
    assert python is not None and ">=3.11" in python
    assert set(py) == set(env), f"only in pyproject: {set(py) - set(env)}; only in environment.yml: {set(env) - set(py)}"
    for name, spec in py.items():
        assert env[name] == spec, f"{name}: pyproject says {spec!r}, environment.yml says {env[name]!r}"


def test_python_requirement_matches():
    assert _pyproject()["project"]["requires-python"] == ">=3.11"


def test_required_runtime_dependencies_are_declared():
    names = {_name(r) for r in _pyproject()["project"]["dependencies"]}
    for required in ("jupyterlab", "ipywidgets", "bqplot", "pandas", "ccxt", "nbval", "pyarrow"):
        assert required in names


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick, re.S).group(1)
    return [ln.split("#", 1)[0].strip() for ln in block.splitlines() if ln.strip()]


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    assert commands == ["make lab", "make test"], commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ".ci/run must call the README's test command"


def test_makefile_targets_of_the_readme_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "dashboard"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    lab = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "notebooks/01_flow_dashboard.ipynb" in lab


def test_package_data_ships_the_demo_files():
    data = _pyproject()["tool"]["setuptools"]["package-data"]["btcflow_nb"]
    shipped = {p.name for p in (ROOT / "btcflow_nb" / "data").iterdir()}
    for name in ("demo_spot.parquet", "demo_perp.parquet", "demo_funding.parquet",
                 "demo_open_interest.parquet", "demo_fx.parquet", "demo_meta.json"):
        assert name in shipped
    assert "data/*.parquet" in data and "data/*.json" in data


def test_readme_api_names_exist():
    import btcflow_nb
    from btcflow_nb import indicators, signals

    text = (ROOT / "README.md").read_text()
    row = re.search(r"\| `btcflow_nb.indicators` \| (.*?) \|", text).group(1)
    for name in re.findall(r"`(\w+)`", row):
        assert hasattr(indicators, name), name
    row = re.search(r"\| `btcflow_nb.signals` \| (.*?) \|", text).group(1)
    for name in re.findall(r"`(\w+)`", row):
        assert hasattr(signals, name), name
    for name in ("MarketData", "load_demo", "flow_metrics"):
        assert getattr(btcflow_nb, name)
