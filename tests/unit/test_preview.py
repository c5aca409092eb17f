"""`make preview`: the command line in front of the engine (the engine itself is tested e2e)."""

from __future__ import annotations

import pytest

from helpers import cli


def test_unknown_notebook_exits_2_naming_the_families(capsys):
    assert cli.main(["preview", "--notebook", "no_such_report"]) == 2
    err = capsys.readouterr().err
    assert "unknown notebook 'no_such_report'" in err and "stocktake" in err


def test_preview_runs_one_job_into_outputs_preview(monkeypatch, tmp_path, capsys):
    """The engine gets one department, one family, the suite's month, outputs/preview."""
    from helpers import paths
    from helpers.engine import run

    seen = {}

    def fake_cli(argv):
        seen["argv"] = argv
        html = tmp_path / "preview" / "2025-03" / "health" / "stocktake.html"
        html.parent.mkdir(parents=True)
        html.write_text("<html></html>")
        return 0

    monkeypatch.setattr(run, "cli", fake_cli)
    monkeypatch.setattr(paths, "outputs_dir", lambda: tmp_path)
    assert cli.main(["preview", "--notebook", "stocktake"]) == 0
    argv = seen["argv"]
    assert "--month=2025-03" in argv and "--dept=health" in argv
    assert "--notebook=stocktake" in argv and f"--outputs={tmp_path / 'preview'}" in argv
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"preview: {tmp_path / 'preview' / '2025-03' / 'health' / 'stocktake.html'}"


@pytest.mark.parametrize("family", ["province_overview"])
def test_province_reports_preview_under_province(monkeypatch, tmp_path, family):
    from helpers import paths
    from helpers.engine import run

    seen = {}
    monkeypatch.setattr(run, "cli", lambda argv: seen.setdefault("argv", argv) and 1)
    monkeypatch.setattr(paths, "outputs_dir", lambda: tmp_path)
    assert cli.main(["preview", "--notebook", family]) == 1
    assert "--dept=province" in seen["argv"]
