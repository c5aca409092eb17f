"""scripts/compare_months.py: two published months equal apart from the run stamp, or not."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("compare_months", ROOT / "scripts/compare_months.py")
compare_months = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_months)


def _month(root: Path, *, run: str, spent: str, cached: bool, duration: float) -> Path:
    (root / "health").mkdir(parents=True)
    (root / "index.html").write_text(
        f"<dl><div><dt>Run</dt><dd>{run}</dd></div><div><dt>Code version</dt><dd>{run[:4]}</dd></div>"
        "<div><dt>Reports</dt><dd>1</dd></div></dl>"
    )
    (root / "health/budget_execution.html").write_text(
        f"<p>Health has spent {spent}.</p><footer><dl>"
        f"<div><dt>Code version</dt><dd>{run[:4]}</dd></div>"
        "<div><dt>Data checksum</dt><dd>2512a23e4641</dd></div>"
        f"<div><dt>Run at</dt><dd>{run} UTC</dd></div>"
        f"<div><dt>Cache key</dt><dd>{abs(hash(run)):x}</dd></div></dl></footer>"
    )
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": "show()" if cached else "view.show()",
                "execution_count": 7 if cached else 3,
                "metadata": {"execution": {"iopub.execute_input": run}},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": spent}],
            }
        ],
        "metadata": {"papermill": {"start_time": run}},
    }
    (root / "health/budget_execution.ipynb").write_text(json.dumps(nb))
    job = {
        "id": "health/budget_execution",
        "department": "health",
        "family": "budget_execution",
        "params": {"department": "health", "month": "2025-03"},
        "data_checksum": "abc",
        "status": "cached" if cached else "done",
        "run_at": run,
        "duration_s": duration,
        "hashes": {"html": "h-" + spent, "ipynb": "n-" + spent},
    }
    manifest = {
        "month": "2025-03",
        "run_id": run,
        "created_at": run,
        "jobs": [job],
        "timings": {"total_s": duration},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_a_rerun_from_cache_at_another_time_compares_equal(tmp_path):
    old = _month(tmp_path / "a", run="2026-12-01 10:00", spent="51%", cached=False, duration=3.1)
    new = _month(tmp_path / "b", run="2026-12-02 11:30", spent="51%", cached=True, duration=0.2)
    assert compare_months.compare(old, new) == []
    assert compare_months.main([str(old), str(new)]) == 0


def test_a_changed_figure_is_reported_in_every_file_that_shows_it(tmp_path, capsys):
    old = _month(tmp_path / "a", run="2026-12-01 10:00", spent="51%", cached=False, duration=3.1)
    new = _month(tmp_path / "b", run="2026-12-01 10:00", spent="26%", cached=False, duration=3.1)
    diffs = compare_months.compare(old, new)
    assert "health/budget_execution.html: differs" in diffs
    assert "health/budget_execution.ipynb: cell 0 differs" in diffs
    assert compare_months.main([str(old), str(new)]) == 1
    assert "differences" in capsys.readouterr().err


def test_a_report_missing_from_one_month_is_reported(tmp_path):
    old = _month(tmp_path / "a", run="r1", spent="51%", cached=False, duration=1)
    new = _month(tmp_path / "b", run="r1", spent="51%", cached=False, duration=1)
    (new / "health/budget_execution.html").unlink()
    assert compare_months.compare(old, new) == ["only in a/: health/budget_execution.html"]


def test_notebook_code_is_compared_only_when_asked(tmp_path):
    old = _month(tmp_path / "a", run="r1", spent="51%", cached=False, duration=1)
    new = _month(tmp_path / "b", run="r1", spent="51%", cached=True, duration=1)
    assert compare_months.compare(old, new) == []
    assert compare_months.compare(old, new, with_code=True) == [
        "health/budget_execution.ipynb: cell 0 differs"
    ]


def test_the_pdf_stamp_is_masked_but_not_the_figures():
    page = (
        "Health has spent 51%.\nCode version: 5c7b944171 (with uncommitted changes) Data checksum:"
        " 2512a23e4641        Run at: 2026-12-01 15:31 UTC  Cache key:\neb97296ce4bd\n"
    )
    later = (
        page.replace("5c7b944171 (with uncommitted changes)", "8cfad06aa1")
        .replace("15:31", "18:02")
        .replace("eb97296ce4bd", "0011aa22bb33")
    )
    assert compare_months._pdf_unstamped(page) == compare_months._pdf_unstamped(later)
    assert "2512a23e4641" in compare_months._pdf_unstamped(page)  # the data checksum stays
    changed = later.replace("51%", "26%")
    assert compare_months._pdf_unstamped(page) != compare_months._pdf_unstamped(changed)
