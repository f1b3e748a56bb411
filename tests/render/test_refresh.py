"""`python -m btcflow_nb.render.refresh`: what it keeps of a re-executed notebook's outputs."""
from __future__ import annotations

import pytest


def test_refresh_tool_keeps_text_and_drops_widget_views_and_errors():
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from btcflow_nb.render.refresh import clean_outputs

    cell = new_code_cell("x", outputs=[
        new_output("stream", name="stdout", text="a\n"),
        new_output("stream", name="stdout", text="b\n"),
        new_output("execute_result", execution_count=1, data={
            "text/plain": "FlowDashboard(source='demo', timeframe='1D', bars=2922)",
            "text/html": "<b>big</b>",
            "application/vnd.jupyter.widget-view+json": {"model_id": "f" * 32}}),
        new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "e" * 32}}),
    ])
    nb = new_notebook(cells=[cell], metadata={"widgets": {"state": {}}})
    clean_outputs(nb)
    assert "widgets" not in nb.metadata
    assert [o.output_type for o in cell.outputs] == ["stream", "execute_result"]
    assert cell.outputs[0].text == "a\nb\n"
    assert set(cell.outputs[1].data) == {"text/plain"}
    bad = new_notebook(cells=[new_code_cell("1/0", outputs=[
        new_output("error", ename="ZeroDivisionError", evalue="x", traceback=[])])])
    with pytest.raises(ValueError, match="not storing"):
        clean_outputs(bad)
