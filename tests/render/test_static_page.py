"""Exported pages say they are static snapshots (issue 14): notice, disabled controls, links
to the other exported pages, JupyterLab's font. The browser side is in
tests/browser/test_exported_html.py."""
from __future__ import annotations

from pathlib import Path

import nbformat

from btcflow_nb.render._static_page import html_links
from btcflow_nb.render.export import _export_html


def test_notebook_links_point_at_the_exported_pages():
    page = ('<a href="02_premium_index.ipynb">02</a> <a href="03_x.ipynb#sec">03</a> '
            '<a href="https://example.org/a.ipynb">far</a> <a href="/abs/b.ipynb">abs</a>')
    out = html_links(page)
    assert 'href="02_premium_index.html"' in out and 'href="03_x.html#sec"' in out
    assert 'href="https://example.org/a.ipynb"' in out and 'href="/abs/b.ipynb"' in out


def test_an_exported_page_has_the_notice_first_the_disabling_css_and_html_links(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nSee [02](02_premium_index.ipynb).")]
    page = _export_html(nb, Path(tmp_path / "01_x.ipynb"), "", exclude_input=False)
    body = page.split("<body", 1)[1]
    assert body.index("btcflow-static-notice") < body.index("Title")     # at the top
    assert "Static snapshot" in page and "need a running" in page
    assert "pointer-events: none" in page and "el.disabled = true" in page
    assert 'href="02_premium_index.html"' in page and ".ipynb" not in body.split("</main>")[0]
    assert "system-ui, -apple-system" in page
