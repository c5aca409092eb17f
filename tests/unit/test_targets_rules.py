"""Target files that contradict themselves are refused by ``make data`` (issue 16, "Bad input").

Each case writes a tiny stocktake-only data folder (targets, trajectory, actuals) and loads it
under the KP profile: the load must fail with exit code 1, name the file, row, column and rule,
and leave no warehouse behind. Row numbers are the file's (header = row 1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import profile
from helpers.data import ingest

HEAD = (
    "target_id,department,title,unit,direction,baseline,baseline_month,target_value,"
    "target_month,owner,has_districts"
)
OK_ROW = "T1,health,Immunisation,%,up,60,2024-06,80,2025-06,Secretary,no"


def _load(tmp_path: Path, targets: str, trajectory: str = "", actuals: str = "", capsys=None):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "targets.csv").write_text(targets)
    (raw / "target_trajectory.csv").write_text("target_id,month,planned\n" + trajectory)
    (raw / "target_actuals.csv").write_text("target_id,month,district_pcode,actual\n" + actuals)
    wh = tmp_path / "wh.duckdb"
    with profile.use("kp"):
        code = ingest.run(raw, wh, log=lambda *a, **k: print(*a))
    out = capsys.readouterr() if capsys else None
    return code, (out.out + out.err) if out else "", wh, raw


def test_maintain_target_without_a_band_is_refused(tmp_path, capsys):
    text = (
        f"{HEAD},band_low,band_high\n{OK_ROW},,\n"
        "T2,health,Vaccine stock-outs held,%,maintain,95,2024-06,95,2025-06,Secretary,no,,\n"
    )
    code, out, wh, raw = _load(tmp_path, text, capsys=capsys)
    assert code == 1, out
    assert (
        f"{raw}/targets.csv row 3, column band_low: maintain target without a band "
        "(band_low and band_high required)"
    ) in out
    assert not wh.exists()  # nothing loads


@pytest.mark.parametrize(
    "row, column, rule",
    [
        # a maintain target whose level lies outside its own band
        ("T2,health,Held,%,maintain,95,2024-06,99,2025-06,S,no,93,97,,,",
         "target_value", "maintain target_value outside its band"),
        # a band upside down
        ("T2,health,Held,%,maintain,95,2024-06,95,2025-06,S,no,97,93,,,",
         "band_high", "band_high below band_low"),
        # a band on an up target
        ("T2,health,Up,%,up,60,2024-06,80,2025-06,S,no,70,90,,,",
         "band_low", "band given for an up/down target"),
        # a relative tolerance of 150%
        ("T2,health,Up,%,up,60,2024-06,80,2025-06,S,no,,,1.5,change,",
         "tolerance", "tolerance negative, or 1 or more for a relative basis"),
        # an unknown basis
        ("T2,health,Up,%,up,60,2024-06,80,2025-06,S,no,,,0.1,of plan,",
         "tolerance_basis", "unknown tolerance_basis"),
        # a basis without a tolerance
        ("T2,health,Up,%,up,60,2024-06,80,2025-06,S,no,,,,absolute,",
         "tolerance", "tolerance_basis given without a tolerance"),
        # a quarterly target dated in the middle of a quarter (Aug is not Sep/Dec/Mar/Jun)
        ("T2,health,Up,%,up,60,2024-06,80,2025-05,S,no,,,,,quarterly",
         "target_month", "target_month not at the end of the target's period"),
        ("T2,health,Up,%,up,60,2024-06,80,2025-06,S,no,,,,,weekly",
         "frequency", "unknown frequency"),
        ("T2,health,Up,%,sideways,60,2024-06,80,2025-06,S,no,,,,,",
         "direction", "unknown direction"),
    ],
)  # fmt: skip
def test_self_contradicting_targets_are_refused(tmp_path, capsys, row, column, rule):
    text = f"{HEAD},band_low,band_high,tolerance,tolerance_basis,frequency\n{OK_ROW},,,,,\n{row}\n"
    code, out, wh, raw = _load(tmp_path, text, capsys=capsys)
    assert code == 1, out
    assert f"{raw}/targets.csv row 3, column {column}: {rule}" in out
    assert not wh.exists()


def test_quarterly_actuals_must_fall_on_quarter_ends(tmp_path, capsys):
    text = (
        f"{HEAD},frequency\n{OK_ROW},\n"
        "Q1,health,Quarterly coverage,%,up,60,2024-06,80,2025-06,S,no,quarterly\n"
    )
    actuals = "Q1,2024-09,,62\nQ1,2024-11,,63\nT1,2024-11,,61\n"  # Q1 in Nov: mid-quarter
    code, out, wh, raw = _load(tmp_path, text, actuals=actuals, capsys=capsys)
    assert code == 1, out
    assert f"{raw}/target_actuals.csv row 3, column month: actual month not at the end" in out
    assert "row 4" not in out  # the monthly target's November reading is fine
    assert not wh.exists()


def test_valid_new_rules_load(tmp_path, capsys):
    """A baseline past its target, a target of 0, a maintain band, no unit, own tolerances and
    quarterly / annual targets all load, and the new columns reach the warehouse."""
    import duckdb

    text = (
        f"{HEAD},band_low,band_high,tolerance,tolerance_basis,frequency\n"
        f"{OK_ROW},,,,,\n"
        "P,health,Already past,%,up,97,2024-06,95,2025-06,S,no,,,,,\n"
        "Z,health,Down to zero,,down,10,2024-06,0,2025-06,S,no,,,0.5,absolute,\n"
        "M,health,Held,%,maintain,95,2024-06,95,2025-06,S,no,93,97,,,\n"
        "Q,health,Quarterly,%,up,60,2024-06,80,2025-06,S,no,,,0.05,planned,quarterly\n"
        "A,health,Annual,%,up,60,2024-06,80,2026-06,S,no,,,,,annual\n"
    )
    actuals = "Q,2024-09,,62\nA,2025-06,,70\nZ,2024-11,,6\n"
    code, out, wh, _ = _load(tmp_path, text, actuals=actuals, capsys=capsys)
    assert code == 0, out
    con = duckdb.connect(str(wh), read_only=True)
    rows = con.execute(
        "SELECT target_id, unit, frequency, tolerance, tolerance_basis, band_low, band_high "
        "FROM targets ORDER BY target_id"
    ).fetchall()
    con.close()
    assert rows == [
        ("A", "%", "annual", None, None, None, None),
        ("M", "%", None, None, None, 93.0, 97.0),
        ("P", "%", None, None, None, None, None),
        ("Q", "%", "quarterly", 0.05, "planned", None, None),
        ("T1", "%", None, None, None, None, None),
        ("Z", None, None, 0.5, "absolute", None, None),
    ]


def test_files_without_the_new_columns_still_load(tmp_path, capsys):
    code, out, _, _ = _load(
        tmp_path, f"{HEAD}\n{OK_ROW}\n", actuals="T1,2024-11,,61\n", capsys=capsys
    )
    assert code == 0, out


@pytest.mark.parametrize(
    "row, rule",
    [
        ("V,health,Verified,%,up,60,2024-06,80,2025-06,S,no,T9", "verifies a target_id not in targets"),
        ("V,health,Verified,%,up,60,2024-06,80,2025-06,S,no,V", "a target cannot verify itself"),
        ("V,energy,Verified,%,up,60,2024-06,80,2025-06,S,no,T1",
         "verifies a target of another department"),
    ],
)  # fmt: skip
def test_self_contradicting_verification_is_refused(tmp_path, capsys, row, rule):
    text = f"{HEAD},verifies\n{OK_ROW},\n{row}\n"
    code, out, wh, raw = _load(tmp_path, text, capsys=capsys)
    assert code == 1, out
    assert f"{raw}/targets.csv row 3, column verifies: {rule}" in out
    assert not wh.exists()
