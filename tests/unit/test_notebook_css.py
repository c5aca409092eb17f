"""Tables in JupyterLab look like the report: apply_theme() emits the report's table CSS."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from helpers.present import theme


def test_notebook_css_is_the_report_stylesheet_without_page_rules():
    css = theme.notebook_css()
    report = theme.REPORT_CSS.read_text()
    for rule in ("table.kp-table th", "table.dataframe td", ".key-messages", "--kp-green:"):
        assert rule in css and rule in report
    # JupyterLab's own interface is untouched: no element-level or @-rules.
    assert "body {" not in css and "@media" not in css and "@page" not in css
    assert "* {" not in css and "\na {" not in css


@pytest.mark.e2e
def test_apply_theme_emits_the_css_in_a_kernel_but_not_under_the_engine():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from helpers.present import apply_theme, theme\napply_theme()"),
        nbformat.v4.new_code_cell("theme.set_notebook_css(False)\napply_theme()"),
    ]
    NotebookClient(nb, kernel_name="kp-reports", timeout=120).execute()
    (shown,) = nb.cells[0].outputs
    assert set(shown["data"]) == {"text/html"}
    assert shown["data"]["text/html"].startswith('<style id="kp-report-css">')
    assert "table.kp-table" in shown["data"]["text/html"]
    assert nb.cells[1].outputs == []
