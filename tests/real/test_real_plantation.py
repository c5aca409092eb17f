"""KP plantation monitoring (../shared/real-data/kp_plantation_monitoring/data.json) loaded as
"reported vs verified" target actuals through the shipped mapping
``params/profiles/kp/mappings/plantation_monitoring.yaml`` alone.

Skips with a reason when the real-data folder is absent. The expected totals are summed by hand
from the JSON with ``math.fsum`` (not with the mapping code):

- area reported 124.4762 ha, verified 123.5763 ha (99.28% of reported);
- plants reported 12,898,022, verified 12,778,778: verified - reported = -119,244, which equals
  the sum of the file's own per-site variance column ``Varience.1`` (99.08% of reported).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from helpers import paths, profile
from helpers.analysis import stocktake as st
from helpers.data import ingest
from helpers.present import stocktake as pst

REAL = paths.ROOT.parent / "shared" / "real-data"
if not REAL.is_dir():
    REAL = Path("/work/shared/real-data")

REPORTED_AREA, VERIFIED_AREA = "Area", "Aera ha (Mointering Team)"
REPORTED_PLANTS, VERIFIED_PLANTS = (
    "Total plants planted (per recored)",
    "Total plants planted (Mointering team )",
)
TARGETS = (
    "target_id,department,title,unit,direction,baseline,baseline_month,target_value,"
    "target_month,owner,has_districts,frequency,verifies\n"
    "kp-plantation-area-reported,forestry-environment-wildlife,Area planted,ha,up,0,2019-06,"
    "150,2021-06,Secretary Forestry,no,annual,\n"
    "kp-plantation-area-verified,forestry-environment-wildlife,Area planted (verified),ha,up,0,"
    "2019-06,150,2021-06,Monitoring team,no,annual,kp-plantation-area-reported\n"
    "kp-plantation-plants-reported,forestry-environment-wildlife,Plants planted,,up,0,2019-06,"
    "15000000,2021-06,Secretary Forestry,no,annual,\n"
    "kp-plantation-plants-verified,forestry-environment-wildlife,Plants planted (verified),,up,"
    "0,2019-06,15000000,2021-06,Monitoring team,no,annual,kp-plantation-plants-reported\n"
)


def _source() -> Path:
    p = REAL / "kp_plantation_monitoring" / "data.json"
    if not p.is_file():
        pytest.skip(f"real data not available: {p} (see ../shared/real-data/README.md)")
    return p


def test_plantation_reported_vs_verified(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(_source(), raw / "data.json")  # the published file, read through the mapping
    props = [m["options"]["properties"] for m in json.loads(_source().read_text("utf-8"))]
    (raw / "targets.csv").write_text(TARGETS)
    (raw / "target_trajectory.csv").write_text("target_id,month,planned\n")
    wh = tmp_path / "wh.duckdb"
    with profile.use("kp"):
        code = ingest.run(raw, wh, log=lambda *a, **k: print(*a))
    out = capsys.readouterr()
    assert code == 0, out.out + out.err

    # by hand, from the JSON
    assert len(props) == 129
    hand = {c: math.fsum(p[c] for p in props) for c in
            (REPORTED_AREA, VERIFIED_AREA, REPORTED_PLANTS, VERIFIED_PLANTS)}  # fmt: skip
    assert hand[REPORTED_AREA] == pytest.approx(124.4762)
    assert hand[VERIFIED_AREA] == pytest.approx(123.5763)
    assert hand[REPORTED_PLANTS] == 12_898_022
    assert hand[VERIFIED_PLANTS] == 12_778_778
    assert hand[VERIFIED_PLANTS] - hand[REPORTED_PLANTS] == sum(p["Varience.1"] for p in props)

    con = duckdb.connect(str(wh), read_only=True)
    rows = dict(
        con.execute(
            "SELECT target_id, actual FROM target_actuals "
            "WHERE district_pcode IS NULL AND month = DATE '2020-06-01'"
        ).fetchall()
    )
    targets = con.execute("SELECT * FROM targets").df()
    actuals = con.execute("SELECT * FROM target_actuals").df()
    con.close()
    assert rows["kp-plantation-area-reported"] == pytest.approx(hand[REPORTED_AREA], abs=1e-9)
    assert rows["kp-plantation-area-verified"] == pytest.approx(hand[VERIFIED_AREA], abs=1e-9)
    assert rows["kp-plantation-plants-reported"] == hand[REPORTED_PLANTS]
    assert rows["kp-plantation-plants-verified"] == hand[VERIFIED_PLANTS]
    assert len(actuals) == 4  # 129 sites x 4 columns summed to four totals

    # the evidence check in the stocktake
    with profile.use("kp"):
        v = st.verification(st.prepare_targets(targets), st.prepare_actuals(actuals), "2020-06")
    v = v.set_index("target_id")
    plants = v.loc["kp-plantation-plants-reported"]
    assert plants["difference"] == -119_244
    assert plants["verified_share"] == pytest.approx(12_778_778 / 12_898_022)  # 99.08%
    area = v.loc["kp-plantation-area-reported"]
    assert area["verified_share"] == pytest.approx(123.5763 / 124.4762)  # 99.28%
    empty = lambda cols: pd.DataFrame(columns=cols)  # noqa: E731
    with profile.use("kp"):
        pack = st.build_pack(
            "forestry-environment-wildlife", "2020-06", targets, empty(st.TRAJECTORY_COLUMNS),
            actuals, empty(st.MILESTONE_COLUMNS), empty(st.RATING_COLUMNS),
            empty(st.ACTION_COLUMNS), pd.DataFrame({"pcode": [], "name": []}),
        )  # fmt: skip
    # the verified indicators are evidence, not targets of their own
    assert sorted(pack.summary["target_id"]) == [
        "kp-plantation-area-reported",
        "kp-plantation-plants-reported",
    ]
    sentence = pst.verification_sentence(pack)
    assert (
        "Plants planted: reported 12,898,022.0, verified 12,778,778.0 (\u2212119,244.0" in sentence
    )
    assert "99.1% of the reported value" in sentence
