"""Exported HTML carries no local absolute paths, user names, environment values or keys.

The scanner below is independent of render's redaction: it looks for this machine's real
paths, user name and environment values (and generic /home/, /root, /tmp/, site-packages
patterns) in the text a reader of the page could see or copy: markup, outputs and the widget
state. Base64 payloads (binary widget buffers, inlined fonts) are dropped first, since random
base64 can spell "/tmp/" by chance.
"""
from __future__ import annotations

import getpass
import json
import os
import re
import site
import sys
import sysconfig
import tempfile
from pathlib import Path

import nbformat
import pytest

from btcflow_nb import render

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from _exported import export_project_notebooks  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SECRETS = {"BTCFLOW_TEST_API_KEY": "k3y-5f1c8e0a9b7d4c2e", "BTCFLOW_TEST_SECRET": "s3cr3t-77a1b2c3d4e5",
           "EXCHANGE_PASSWORD": "hunter2-correct-horse"}
GENERIC_PATTERNS = [r"/home/[A-Za-z0-9_.-]+", r"/Users/[A-Za-z0-9_.-]+", r"(?<![\w.])/root(?=[/\s\"'<]|$)",
                    r"(?<![\w.])/tmp/", r"site-packages", r"dist-packages", r"/\.pyenv/",
                    r"C:\\\\Users\\\\"]

LEAKY_SOURCES = [
    "import os, sys, tempfile, warnings, traceback, getpass\nfrom pathlib import Path\n"
    "import bqplot, ipywidgets as W",
    "print(os.getcwd()); print(sys.prefix); print(bqplot.__file__)\n"
    "print(tempfile.gettempdir() + '/scratch.parquet'); print(Path.home() / 'data')\n"
    "print('user', getpass.getuser(), 'home', os.path.expanduser('~'))",
    "print(os.environ['BTCFLOW_TEST_API_KEY'], os.environ['BTCFLOW_TEST_SECRET'])\n"
    "os.environ['EXCHANGE_PASSWORD']",
    # names that do not look secret: redacted all the same (allow-list, not deny-list)
    "print(os.environ['DATABASE_URL'], os.environ['BTCFLOW_TEST_DATA_DIR'])\n"
    "print(open(os.environ['BTCFLOW_NB_CONFIG']).read())",
    "warnings.warn('careful')",  # the warning line names the kernel's temp file
    "try:\n    import json; json.loads('{')\nexcept ValueError:\n    traceback.print_exc()",
    "W.HTML(value=f'<b>cache</b> {Path.cwd() / \"cache\"} and {Path(bqplot.__file__).parent}')",
    "'/home/alice/notes.txt and /Users/bob/x'",
]


def _drop_base64(text: str) -> str:
    text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "data:...", text)
    match = re.search(r'(<script type="application/vnd\.jupyter\.widget-state\+json">\s*)(.*?)'
                      r"(\s*</script>)", text, re.S)
    if match:
        state = json.loads(match.group(2))
        for model in state["state"].values():
            model.pop("buffers", None)
        text = text[:match.start(2)] + json.dumps(state) + text[match.end(2):]
    return text


def _local_strings() -> dict[str, str]:
    """This machine's specifics that must not appear: {what: literal}."""
    found = {"home": str(Path.home()), "cwd": os.getcwd(), "repo": str(REPO),
             "sys.prefix": sys.prefix, "sys.base_prefix": sys.base_prefix,
             "temp dir": tempfile.gettempdir().rstrip("/") + "/"}
    for key in ("purelib", "platlib"):
        found[f"sysconfig {key}"] = sysconfig.get_paths()[key]
    for i, directory in enumerate(site.getsitepackages()):
        found[f"site dir {i}"] = directory
    user = getpass.getuser()
    found["user in a path"] = f"/{user}/"
    return {what: value for what, value in found.items() if len(value) > 1}


_WORDISH = re.compile(r"^[A-Za-z]+$|^[A-Za-z]+[-_.][A-Za-z]+$|^\d+$")


def _environment_values() -> dict[str, str]:
    """Environment values long enough to identify something (>6 chars), skipping plain words
    and numbers, which occur in any page."""
    return {name: value for name, value in os.environ.items()
            if len(value) > 6 and not _WORDISH.match(value)
            and not name.startswith("PYTEST_")}


def privacy_findings(html_text: str, library_text: str = "") -> list[str]:
    """What in ``html_text`` looks local. ``library_text`` (the inlined third-party bundles)
    is the baseline: a string that is in there too came with the libraries, not from here."""
    text = _drop_base64(html_text)
    findings = []
    for what, literal in _local_strings().items():
        if literal in text:
            findings.append(f"{what} {literal!r}")
    for pattern in GENERIC_PATTERNS:
        for match in set(re.findall(pattern, text)):
            if match not in library_text:
                findings.append(f"pattern {pattern!r}: {match!r}")
    for name, value in _environment_values().items():
        if value in text and value not in library_text:
            findings.append(f"environment ${name}")
    for name, value in SECRETS.items():
        if value in text:
            findings.append(f"secret ${name}")
    return findings


def _library_text(modules=("bqplot", "bqscales")) -> str:
    assets = render.find_widget_assets(modules)
    files = [assets.require_js, assets.html_manager, *assets.modules.values(), assets.mathjax]
    return "\n".join(p.read_text(encoding="utf-8") for p in files if p is not None)


@pytest.fixture(scope="module", autouse=True)
def _kernels_get_private_jupyter_dirs(private_jupyter_dirs):
    """Kernels started by render get private Jupyter/IPython dirs (they inherit os.environ)."""


@pytest.fixture(scope="module")
def widget_js_ready():
    try:
        if render.find_widget_assets(()).mathjax is not None:
            return
    except render.RenderError:
        pass
    render.fetch_widget_js()  # into the default location, which the default search finds


def test_scanner_finds_what_it_is_meant_to_find(monkeypatch):
    monkeypatch.setenv("BTCFLOW_TEST_WHEREABOUTS", "/srv/desk-42/vault")
    sample = (f"<pre>{Path.home()}/x {sys.prefix} /home/carol/y {SECRETS['BTCFLOW_TEST_SECRET']}"
              f" {tempfile.gettempdir()}/z /srv/desk-42/vault</pre>")
    findings = " | ".join(privacy_findings(sample))
    for expected in ("home", "sys.prefix", "/home/carol", "BTCFLOW_TEST_SECRET", "temp dir",
                     "$BTCFLOW_TEST_WHEREABOUTS"):
        assert expected in findings
    assert privacy_findings("<p>spot premium 0.03 % per 8h</p>") == []


UNNAMED_SECRETS = {"DATABASE_URL": "postgres://desk:pw-3f9a1c77@db.internal:5432/flow",
                   "BTCFLOW_TEST_DATA_DIR": "/srv/desk-42/vault"}
CONFIG_SECRETS = {"apiKey": "cfgKEY-91ab7c3d2e", "secret": "cfgSECRET-0d9e8f7a6b"}


def _write_config(tmp_path) -> Path:
    path = tmp_path / "btcflow-nb-config.json"
    path.write_text(json.dumps({"exchanges": {"binance": CONFIG_SECRETS}}))
    return path


def test_redaction_is_an_allow_list(tmp_path, monkeypatch):
    """Every environment value, whatever its name, every string of the config file and the
    host name (as a whole name) are redacted; plain words and numbers are left alone."""
    from btcflow_nb.render import redact as redact_module

    for name, value in UNNAMED_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BTCFLOW_NB_CONFIG", str(_write_config(tmp_path)))
    monkeypatch.setenv("BTCFLOW_TEST_PLAIN", "premium")
    monkeypatch.setattr(redact_module.socket, "gethostname", lambda: "desk-host-17")
    redact = redact_module._redactor(tmp_path)
    text = redact(f"{UNNAMED_SECRETS['DATABASE_URL']} {UNNAMED_SECRETS['BTCFLOW_TEST_DATA_DIR']}/x "
                  f"{CONFIG_SECRETS['apiKey']} {CONFIG_SECRETS['secret']} at desk-host-17:8888; "
                  f"premium desk-host-170 my-desk-host-17")
    for value in [*UNNAMED_SECRETS.values(), *CONFIG_SECRETS.values()]:
        assert value not in text
    assert "<DATABASE_URL>" in text and "<config:exchanges.binance.apiKey>" in text
    assert "<host>:8888" in text
    assert "premium desk-host-170 my-desk-host-17" in text   # words and longer names survive


def test_leaky_notebook_is_scrubbed(widget_js_ready, tmp_path, monkeypatch):
    for name, value in {**SECRETS, **UNNAMED_SECRETS}.items():
        monkeypatch.setenv(name, value)  # the kernel inherits them
    monkeypatch.setenv("BTCFLOW_NB_CONFIG", str(_write_config(tmp_path)))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in LEAKY_SOURCES]
    notebook = tmp_path / "leaky.ipynb"
    nbformat.write(nb, notebook)
    [result] = render.render_notebooks([notebook], tmp_path / "out")
    text = result.html_path.read_text(encoding="utf-8")
    # the cells really produced those outputs (redacted, not missing)
    for marker in ("&lt;python&gt;", "&lt;packages&gt;", "&lt;tmp&gt;/scratch.parquet",
                   "&lt;BTCFLOW_TEST_API_KEY&gt;", "&lt;EXCHANGE_PASSWORD&gt;", "UserWarning",
                   "&lt;DATABASE_URL&gt;", "&lt;BTCFLOW_TEST_DATA_DIR&gt;",
                   "&lt;config:exchanges.binance.apiKey&gt;"):
        assert marker in text, marker
    assert privacy_findings(text, _library_text()) == []
    for value in [*UNNAMED_SECRETS.values(), *CONFIG_SECRETS.values()]:
        assert value not in text


@pytest.fixture(scope="module")
def exported_real_notebooks(widget_js_ready, tmp_path_factory):
    """The project's notebooks rendered as the browser tests render them (04 against the
    fake exchange on 127.0.0.1), once per session."""
    return export_project_notebooks(tmp_path_factory)


def test_exported_project_notebooks_carry_nothing_local(exported_real_notebooks):
    assert exported_real_notebooks, "no notebooks were exported"
    library = _library_text()
    for stem, html_path in exported_real_notebooks.items():
        findings = privacy_findings(html_path.read_text(encoding="utf-8"), library)
        assert findings == [], f"{stem}: {findings}"
