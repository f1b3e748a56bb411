"""`btcflow-nb render`: execution, stored widget state, self-contained and linked HTML,
atomic failure naming the cell, and where the widget JavaScript comes from.

Rendering runs a real kernel (a few seconds per notebook). The html-manager/require.js npm
packages are fetched once (npm registry) if no installed copy is found; see btcflow_nb.render.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from btcflow_nb import render

WIDGET_NOTEBOOK_SOURCE = """\
import numpy as np, pandas as pd, bqplot as bq, ipywidgets as W
t = pd.date_range("2024-01-01", periods=50, freq="D").values
y = np.cumsum(np.linspace(-1, 1, 50))
xs, ys = bq.DateScale(), bq.LinearScale()
fig = bq.Figure(marks=[bq.Lines(x=t, y=y, scales={"x": xs, "y": ys}),
                       bq.Bars(x=t, y=np.diff(y, prepend=0), scales={"x": xs, "y": ys})],
                axes=[bq.Axis(scale=xs), bq.Axis(scale=ys, orientation="vertical")])
W.VBox([W.IntSlider(value=7, description="lookback"), fig])
"""


def write_notebook(path: Path, *sources: str, markdown: str = "# test") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(markdown)]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in sources]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module", autouse=True)
def _kernels_get_private_jupyter_dirs(private_jupyter_dirs):
    """Kernels started by render get private Jupyter/IPython dirs (they inherit os.environ)."""


@pytest.fixture(scope="module")
def widget_js_dir():
    try:
        if render.find_widget_assets(()).mathjax is not None:
            return None  # installed where the default search finds it
    except render.RenderError:
        pass
    return render.fetch_widget_js()


@pytest.fixture(scope="module")
def widget_notebook(tmp_path_factory) -> Path:
    return write_notebook(tmp_path_factory.mktemp("nb") / "chart.ipynb", WIDGET_NOTEBOOK_SOURCE)


@pytest.fixture(scope="module")
def self_contained(widget_notebook, widget_js_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    argv = [str(widget_notebook), "--out", str(out)]
    if widget_js_dir:
        argv += ["--widget-js", str(widget_js_dir)]
    return out, argv


def _state_of(html_text: str) -> dict:
    match = re.search(r'<script type="application/vnd\.jupyter\.widget-state\+json">\s*(.*?)\s*'
                      r"</script>", html_text, re.S)
    assert match, "no widget state in the page"
    return json.loads(match.group(1))["state"]


def test_self_contained_page_holds_state_and_every_script(self_contained, capsys):
    out, argv = self_contained
    assert render.main(argv) == 0
    page = out / "chart.html"
    assert sorted(p.name for p in out.iterdir()) == ["chart.html"]  # one file, no temp left
    text = page.read_text(encoding="utf-8")
    models = {m["state"]["_model_name"] for m in _state_of(text).values()}
    assert {"FigureModel", "LinesModel", "BarsModel", "DateScaleModel",
            "IntSliderModel"} <= models
    # the manager, the loader and both third-party bundles are inlined, named for requirejs
    assert 'define("@jupyter-widgets/base"' in text
    assert "requirejs" in text and "window.__btcflowWidgetFonts" in text
    assert 'args.unshift("bqplot")' in text and 'args.unshift("bqscales")' in text
    # nothing is loaded from elsewhere: no src/href to http(s), no MathJax/CDN loader
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']?https?:""", text, re.I)
    assert "jupyter-widgets/html-manager@" not in text  # nbconvert's CDN loader is gone
    printed = capsys.readouterr().out
    size_mb = page.stat().st_size / 1e6
    assert f"wrote {out / 'chart.html'} ({size_mb:.1f} MB, self-contained)" in printed


class _Scripts(HTMLParser):
    """Contents of every <script> element, split the way a browser's parser splits them."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.scripts, self._current = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._current = []

    def handle_data(self, data):
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._current is not None:
            self.scripts.append("".join(self._current))
            self._current = None


def test_inline_bundles_survive_html_parsing_whole(self_contained, widget_js_dir):
    out, argv = self_contained
    if not (out / "chart.html").exists():
        assert render.main(argv) == 0
    parser = _Scripts()
    parser.feed((out / "chart.html").read_text(encoding="utf-8"))
    assets = render.find_widget_assets(("bqplot", "bqscales"), widget_js_dir=widget_js_dir)
    for bundle in [assets.html_manager, assets.modules["bqplot"], assets.modules["bqscales"]]:
        source = bundle.read_text(encoding="utf-8")
        head, tail = source[:200], source.rstrip()[-200:]
        holding = [s for s in parser.scripts if head in s]
        assert len(holding) == 1, bundle  # inlined once, in one element ...
        assert tail.replace("</script", "<\\/script") in holding[0]  # ... that runs to its end
    assert json.loads(parser.scripts[-1])["version_major"] == 2  # the state is the last one


def test_mathjax_is_embedded_only_for_notebooks_with_latex(widget_js_dir, tmp_path):
    math = write_notebook(tmp_path / "math.ipynb", "x = 1",
                          markdown="The z-score $z_t = (x_t - \\mu_t) / \\sigma_t$.")
    plain = write_notebook(tmp_path / "plain.ipynb", "x = 1",
                           markdown="Set `$BTCFLOW_NB_CACHE_DIR` or `$XDG_CACHE_HOME`.")  # code
    results = render.render_notebooks([math, plain], tmp_path / "out", widget_js_dir=widget_js_dir)
    sizes = {r.notebook.stem: r.size_bytes for r in results}
    math_text = (tmp_path / "out" / "math.html").read_text(encoding="utf-8")
    plain_text = (tmp_path / "out" / "plain.html").read_text(encoding="utf-8")
    assert "window.MathJax = {" in math_text and "$z_t = (x_t" in math_text
    assert "window.MathJax = {" not in plain_text
    assert sizes["math"] - sizes["plain"] > 1_000_000  # the typesetter itself is inlined
    assert not re.search(r"""<script[^>]+src=["']?https?:""", math_text)


def test_page_without_widgets_carries_no_widget_javascript(tmp_path):
    """Nothing to draw: no manager, no bundles, and no widget JavaScript needed at all."""
    plain = write_notebook(tmp_path / "table.ipynb", "import pandas as pd",
                           "pd.DataFrame({'venue': ['okx'], 'rows': [30]})")
    assert render.main([str(plain), "--out", str(tmp_path / "out"),
                        "--widget-js", str(tmp_path / "empty")]) == 0
    text = (tmp_path / "out" / "table.html").read_text(encoding="utf-8")
    assert "okx" in text and "requirejs" not in text and "widget-state" not in text
    assert (tmp_path / "out" / "table.html").stat().st_size < 1_000_000


def test_linked_mode_references_scripts_next_to_the_page(widget_notebook, widget_js_dir,
                                                         tmp_path, capsys):
    argv = [str(widget_notebook), "--out", str(tmp_path), "--linked"]
    if widget_js_dir:
        argv += ["--widget-js", str(widget_js_dir)]
    assert render.main(argv) == 0
    text = (tmp_path / "chart.html").read_text(encoding="utf-8")
    sources = re.findall(r'<script src="([^"]+)"></script>', text)
    assert sources == ["widget-js/require.js", "widget-js/html-manager-embed-amd.js",
                       "widget-js/bqplot.js", "widget-js/bqscales.js"]
    for source in sources:
        assert (tmp_path / source).stat().st_size > 1000
    assert (tmp_path / "chart.html").stat().st_size < 1_000_000  # state only, no bundles
    assert "shared by the pages" in capsys.readouterr().out


def test_no_input_hides_code_keeps_charts(widget_notebook, widget_js_dir, tmp_path):
    argv = [str(widget_notebook), "--out", str(tmp_path), "--no-input", "--linked"]
    if widget_js_dir:
        argv += ["--widget-js", str(widget_js_dir)]
    assert render.main(argv) == 0
    text = (tmp_path / "chart.html").read_text(encoding="utf-8")
    assert "bq.Figure" not in text and "hl-ipython3" not in text  # no code cell shown
    assert 'type="application/vnd.jupyter.widget-view+json"' in text
    assert "FigureModel" in text


def test_failing_cell_is_named_nothing_is_written_exit_nonzero(widget_notebook, widget_js_dir,
                                                               tmp_path, capsys):
    bad = write_notebook(tmp_path / "bad.ipynb", "x = 1", "y = x / 0  # boom", "z = 3")
    out = tmp_path / "out"
    argv = [str(widget_notebook), str(bad), "--out", str(out)]  # the good one renders first
    if widget_js_dir:
        argv += ["--widget-js", str(widget_js_dir)]
    assert render.main(argv) == 1
    err = capsys.readouterr().err
    assert "bad.ipynb" in err and "cell 3 of 4 (`y = x / 0" in err
    assert "ZeroDivisionError" in err and "nothing was written" in err
    assert not out.exists()  # not even chart.html, and no temp directory


def test_failure_leaves_an_existing_output_directory_untouched(widget_js_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.html").write_text("previous render")
    bad = write_notebook(tmp_path / "old.ipynb", "raise RuntimeError('nope')")
    with pytest.raises(render.RenderError, match=r"cell 2 of 2 .*RuntimeError: nope"):
        render.render_notebooks([bad], out, widget_js_dir=widget_js_dir)
    assert sorted(p.name for p in out.iterdir()) == ["old.html"]
    assert (out / "old.html").read_text() == "previous render"


def test_cell_timeout_is_reported_with_the_cell(tmp_path, capsys):
    slow = write_notebook(tmp_path / "slow.ipynb", "import time", "time.sleep(60)")
    assert render.main([str(slow), "--out", str(tmp_path / "out"), "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert "cell 3 of 3 (`time.sleep(60)`)" in err and "Timeout" in err


@pytest.mark.parametrize("argv, message", [
    (["missing.ipynb"], "missing.ipynb: no such notebook"),
    (["--timeout", "0", "x.ipynb"], "--timeout must be a positive number of seconds, got 0"),
])
def test_bad_arguments(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        status = render.main(argv + ["--out", "out"])
    except SystemExit as exc:  # argparse usage errors exit 2
        status = exc.code
    assert status != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_not_a_notebook_is_rejected(tmp_path, capsys):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    assert render.main([str(broken), "--out", str(tmp_path / "out")]) == 1
    assert "cannot read notebook" in capsys.readouterr().err


def test_missing_html_manager_says_how_to_get_it(tmp_path):
    with pytest.raises(render.RenderError) as info:
        render.find_widget_assets(("bqplot",), widget_js_dir=tmp_path)
    message = str(info.value)
    assert "@jupyter-widgets/html-manager" in message and "--fetch-widget-js" in message
    assert str(tmp_path) in message


def test_widget_module_without_bundle_is_an_error(widget_js_dir):
    with pytest.raises(render.RenderError, match="'no_such_widget_lib'.*would be blank"):
        render.find_widget_assets(("bqplot", "no_such_widget_lib"), widget_js_dir=widget_js_dir)


def test_bundles_come_from_installed_packages_not_the_repository(widget_js_dir):
    assets = render.find_widget_assets(("bqplot", "bqscales"), widget_js_dir=widget_js_dir)
    repo = Path(__file__).resolve().parents[2]
    for path in [assets.require_js, assets.html_manager, *assets.modules.values()]:
        assert path.is_file()
        venv = repo / ".venv"
        assert venv in path.resolve().parents or repo not in path.resolve().parents, path
    assert assets.modules["bqplot"].parts[-3:] == ("nbextensions", "bqplot", "index.js")


def test_module_entry_point_has_help():
    proc = subprocess.run([sys.executable, "-m", "btcflow_nb.render", "--help"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert "--self-contained" in proc.stdout and "--linked" in proc.stdout


def test_console_script_dispatch_exits_nonzero_naming_the_cell(tmp_path):
    """`btcflow-nb render` (cli.py dispatches to render.main) as a user runs it."""
    bad = write_notebook(tmp_path / "typo.ipynb", "import math", "math.sqroot(2)")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from btcflow_nb.cli import main; sys.exit(main())",
         "render", str(bad), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "cell 3 of 3 (`math.sqroot(2)`)" in proc.stderr
    assert "AttributeError" in proc.stderr and "nothing was written" in proc.stderr
    assert not (tmp_path / "out").exists()
