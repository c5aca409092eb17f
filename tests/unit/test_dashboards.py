"""The dashboards site built from hand-written published months (tests/fixtures)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from helpers.publish import dashboards

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import dash_fixture as fx


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return fx.publish(tmp_path_factory.mktemp("outputs"))


def test_every_month_has_its_snapshot_and_what_changed(root):
    for m in fx.MONTHS:
        snap = json.loads((root / m / "dashboard.json").read_text())
        assert snap["month"] == m and len(snap["reports"]) == 6
    first = (root / "2025-01" / "index.html").read_text()
    assert "What changed since" not in first  # nothing published before it
    feb = (root / "2025-02" / "index.html").read_text()
    assert "What changed since January 2025" in feb
    assert "Immunised children: off track (was on track)" in feb
    assert "Targets gone off track: 1" in feb  # the stocktake cell's own line


def test_site_pages(root):
    site = root / "dashboards"
    expected = [
        "index.html", "province.html", "entities.html", "department/health.html",
        "department/education.html", "entity/PSE-1.html", "entity/PSE-2.html",
        "assets/dash.js", "assets/dash.css", "assets/kp.css", "assets/vendor/vega.min.js",
        "assets/vendor/vega-lite.min.js", "assets/vendor/vega-embed.min.js",
    ]  # fmt: skip
    for rel in expected:
        assert (site / rel).is_file(), rel
    index = (site / "index.html").read_text()
    assert "What changed in March 2025" in index
    assert "Satisfaction with Hospitals fell 8.0 points" in index
    assert "February 2025: " in index  # earlier months' changes
    assert "dashboards/index.html" in (root / "index.html").read_text()


def test_pages_load_nothing_from_outside(root):
    for page in (root / "dashboards").rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text), page
        assert "default-src 'none'" in text
        assert "connect-src 'none'" in text


def test_history_figures(root):
    h = dashboards.history(root)
    assert h.months == list(fx.MONTHS)
    rows = dashboards.department_rows(h)
    health = rows["health"]
    assert health["name"] == "Health" and health["area"] == "Health"
    assert [r["utilisation"] for r in health["rows"]] == [0.52, 0.55, 0.70]
    assert health["rows"][1]["gap"] == pytest.approx(0.55 - 0.67)
    assert [r["share_on_track"] for r in health["rows"]] == [1.0, 0.0, 1.0]
    assert health["targets"]["health-t1"]["2025-02"] == ("off track", "Amber-Red")
    ents = dashboards.entity_rows(h)
    assert sorted(ents["PSE-1"]["quarters"]) == ["2024-09-30", "2024-12-31"]
    assert ents["PSE-1"]["latest"]["rating"] == "Medium"  # as published in March


def test_each_chart_has_a_table_view(root):
    page = (root / "dashboards" / "department" / "health.html").read_text()
    n_charts = page.count('class="kp-chart"')
    assert n_charts == 3  # budget, targets, survey; no entity report for Health:
    assert "Public sector entities at risk: no published figures yet." in page
    assert page.count('<details class="kp-chart-table">') == n_charts
    spec = re.search(r'<script type="application/json" id="([^"]+)">(.*?)</script>', page)
    parsed = json.loads(spec.group(2))
    assert parsed["mark"]["tooltip"] is True
    assert any(p.get("bind") == "scales" for p in parsed["params"])  # zoom and pan


def test_no_change_rerun_is_skipped_and_new_month_rebuilds(tmp_path):
    root = fx.publish(tmp_path, months=fx.MONTHS[:2])
    again = dashboards.build_site(root)
    assert again.status == "up to date"
    fx.publish(root, months=fx.MONTHS[2:])  # publishing March rebuilds
    state = json.loads((root / "dashboards" / ".state.json").read_text())
    assert state["months"] == list(fx.MONTHS)
    assert dashboards.build_site(root).status == "up to date"
    forced = dashboards.build_site(root, force=True)
    assert forced.status == "built" and forced.written == 0  # same content: nothing rewritten


def test_month_published_before_snapshots(tmp_path):
    """A month without dashboard.json is read from its manifest and notebooks' headlines."""
    month = tmp_path / "2024-12"
    (month / "health").mkdir(parents=True)
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    {
                        "output_type": "display_data",
                        "data": {
                            "application/vnd.kp.headline+json": {
                                "utilisation": 0.4,
                                "benchmark": 0.5,
                                "detail": {"flags": []},
                            }
                        },
                    }
                ],
            }
        ]
    }
    (month / "health" / "budget_execution.ipynb").write_text(json.dumps(nb))
    manifest = {
        "jobs": [
            {
                "family": "budget_execution",
                "department": "health",
                "status": "cached",
                "files": {"ipynb": "health/budget_execution.ipynb"},
            }
        ]
    }
    (month / "manifest.json").write_text(json.dumps(manifest))
    snap = dashboards.load_snapshot(tmp_path, "2024-12")
    assert snap["reports"][0]["headline"]["utilisation"] == 0.4
    assert list((tmp_path / ".cache" / "dashboards").glob("*.json"))  # memoised
    fx.publish(tmp_path, months=["2025-01"])
    jan = (tmp_path / "2025-01" / "index.html").read_text()
    assert "What changed since December 2024" in jan
    assert "Cleared: underspend" not in jan  # December had no flags
    assert "ADP 40% vs 58%" in jan  # January's new flag


def test_cli_rebuilds(root, capsys):
    assert dashboards.cli(["--outputs", str(root), "--force"]) == 0
    assert "dashboards: built; 3 month(s)" in capsys.readouterr().out


def test_names_from_the_data_are_text(tmp_path):
    hostile = "</script><script>alert(1)</script><!--<img src=x onerror=alert(2)>"
    root = fx.publish(tmp_path, months=fx.MONTHS[:2])
    for m in fx.MONTHS[:2]:
        snap = json.loads((root / m / "dashboard.json").read_text())
        for r in snap["reports"]:
            if r["department"] == "health":
                r["department_name"] = hostile
        (root / m / "dashboard.json").write_text(json.dumps(snap))
    dashboards.build_site(root, force=True)
    for page in (root / "dashboards").rglob("*.html"):
        text = page.read_text()
        assert "<script>alert" not in text and "<img src=x" not in text, page
        # the only scripts: the site's own files, and JSON data blocks
        for tag in re.findall(r"<script[^>]*>", text):
            assert 'type="application/json"' in tag or 'src="' in tag, (page, tag)
    health = (root / "dashboards" / "department" / "health.html").read_text()
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in health


def test_index_headline_figures_and_entity_links(root):
    index = (root / "dashboards" / "index.html").read_text()
    assert "<dt>Budget used</dt><dd>60% vs 75%" in index
    assert '<dt>Entities at risk</dt><dd>0 of 2 <span class="kp-delta">(-1)</span>' in index
    assert '<a href="entity/PSE-1.html">Health Foundation</a> is now Medium (was High)' in index
