"""Optional Quarto publisher: command lines, the not-installed error, and real renders if present."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from helpers.publish import quarto

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import report_fixture as fx


def _opts(cmd):
    return {cmd[i + 1] for i, a in enumerate(cmd) if a == "-M"}


def test_html_command():
    cmd = quarto.command("out/2025-03/health/budget_execution.ipynb", "/tmp/o", "html")
    assert cmd[:3] == ["quarto", "render", "out/2025-03/health/budget_execution.ipynb"]
    assert cmd[cmd.index("--to") + 1] == "html"
    assert "--no-execute" in cmd
    assert cmd[cmd.index("--output-dir") + 1] == "/tmp/o"
    assert {"echo:false", "warning:false", "embed-resources:true"} <= _opts(cmd)


def test_typst_command():
    cmd = quarto.command(Path("r.ipynb"), Path("o"), "typst", quarto="/opt/quarto/bin/quarto")
    assert cmd[0] == "/opt/quarto/bin/quarto"
    assert cmd[cmd.index("--to") + 1] == "typst"
    assert "--no-execute" in cmd
    assert "papersize:a4" in _opts(cmd) and "embed-resources:true" not in _opts(cmd)


def test_pdf_is_the_typst_format():
    assert quarto.command("r.ipynb", "o", "pdf") == quarto.command("r.ipynb", "o", "typst")


def test_bad_arguments():
    with pytest.raises(ValueError, match="unsupported Quarto format"):
        quarto.command("r.ipynb", "o", "docx")
    with pytest.raises(ValueError, match=r"\.ipynb"):
        quarto.command("r.qmd", "o", "html")


def test_not_installed_is_a_clear_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setattr(quarto.shutil, "which", lambda name: None)
    assert quarto.available() is False
    with pytest.raises(quarto.QuartoNotInstalled) as err:
        quarto.render(tmp_path / "r.ipynb", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert "not installed" in msg and "https://quarto.org/docs/get-started/" in msg


@pytest.mark.skipif(
    not quarto.available(),
    reason="quarto is not on PATH (install from https://quarto.org/docs/get-started/)",
)
def test_real_render(tmp_path):
    src = tmp_path / "budget_execution.ipynb"
    nbformat.write(fx.executed_notebook(), src)
    out = quarto.render(src, tmp_path / "out")
    assert set(out) == {"html", "typst"}
    html = out["html"].read_text()
    assert "Spending reached 61%" in html
    assert "import pandas" not in html and fx.INJECTED not in html
    assert out["typst"].read_bytes().startswith(b"%PDF")
