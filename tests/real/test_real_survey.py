"""Real survey data through an instrument definition: the US General Social Survey 2012.

``../shared/real-data/gss2012/gss2012_poliscidata.csv`` (1,974 respondents x 221 columns, CC0,
from the R package poliscidata): weights ``wtss``, no PSUs or strata in the extract, ``region``
(the nine census divisions), answers as text labels ("A GREAT DEAL", "ONLY SOME", "HARDLY
ANY"), split-ballot questions left blank for the respondents not asked.

A test-only profile ``us-gss`` is written in a temporary folder: a made-up boundary file with
the nine divisions (unit codes US1..US9; the instrument maps the file's names to them), four
"services" (confidence in the federal government, Congress, medicine, education) asked of
everyone, and ``survey.yaml`` saying how to read the file. ``make data`` (ingest.run) loads
it; the report's figures are then checked against plain pandas weighted sums written from the
instrument's definition (satisfied = "A GREAT DEAL", dissatisfied = "HARDLY ANY").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import profile
from helpers.data import ingest
from helpers.data.registry import load_registry

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real-data"
if not REAL.is_dir():
    REAL = Path("/work/shared/real-data")
GSS = REAL / "gss2012" / "gss2012_poliscidata.csv"
pytestmark = pytest.mark.skipif(
    not GSS.is_file(), reason=f"GSS 2012 extract not available at {GSS} (../shared/real-data)"
)

DIVISIONS = [
    "NEW ENGLAND",
    "MIDDLE ATLANTIC",
    "E. NOR. CENTRAL",
    "W. NOR. CENTRAL",
    "SOUTH ATLANTIC",
    "E. SOU. CENTRAL",
    "W. SOU. CENTRAL",
    "MOUNTAIN",
    "PACIFIC",
]
SERVICES = {
    "fedgov": "confed",
    "congress": "conlegis",
    "medicine": "conmedic",
    "schools": "coneduc",
}

INSTRUMENT = {
    "description": "GSS 2012 (poliscidata extract): confidence in institutions",
    "respondent_id": "id",
    "scales": {
        "confidence": {
            "title": "Confidence",
            "range": [1, 3],
            "satisfied": [3, 3],
            "dissatisfied": [1, 1],
            "labels": {"HARDLY ANY": 1, "ONLY SOME": 2, "A GREAT DEAL": 3},
            "non_answer": {"DK": "don't know", "IAP": "not asked"},
        },
        "happy": {
            "title": "Happiness",
            "range": [1, 3],
            "satisfied": [3, 3],
            "labels": {"NOT TOO HAPPY": 1, "PRETTY HAPPY": 2, "VERY HAPPY": 3},
        },
    },
    "items": {
        "happy": {
            "column": "happy",
            "scale": "happy",
            "asked": "everyone",
            "wording": "Taken all together, how would you say things are these days?",
        },
        "satisfaction": {
            "columns": SERVICES,
            "scale": "confidence",
            "asked": "everyone",
            "wording": "As far as the people running this institution are concerned, would you "
            "say you have a great deal of confidence, only some confidence, or hardly any?",
        },
    },
    "outcome": "satisfaction",
    "overall": "happy",
    "drivers": [],
    "categories": {
        "gender": {
            "column": "sex",
            "levels": {"female": ["Female"], "male": ["Male"]},
            "reference": "male",
        },
        "age_band": {"column": "age_3", "levels": ["18-40", "41-60", "61+"], "required": False},
    },
    "geography": {
        "column": "region",
        "values": {name: f"US{i + 1}" for i, name in enumerate(DIVISIONS)},
    },
    "design": {"weight": "wtss", "psu": None, "strata": None, "fpc": None},
    "files": {GSS.name: "2012-06"},
}


def _geojson() -> dict:
    feats = []
    for i, name in enumerate(DIVISIONS):
        x, y = float(i % 3), float(i // 3)
        ring = [[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]
        feats.append(
            {
                "type": "Feature",
                "properties": {"code": f"US{i + 1}", "name": name.title()},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def write_profile(folder: Path, instrument: dict) -> profile.Profile:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "divisions.geojson").write_text(json.dumps(_geojson()), encoding="utf-8")
    doc = {
        "name": "us-gss",
        "government": {
            "name": "United States (GSS test profile)",
            "short": "US",
            "scope": "country",
        },
        "currency": {"code": "USD", "unit": "million"},
        "fiscal_year": {"start_month": 10, "label": "end"},
        "geography": {
            "file": "divisions.geojson",
            "id_property": "code",
            "name_property": "name",
            "unit": "division",
            "units": "divisions",
        },
        "priority_areas": ["Government", "Health", "Education"],
        "registry": "departments.yaml",
    }
    (folder / "profile.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    reg = {
        "registry_start": "2010-01-01",
        "departments": [
            {
                "slug": s,
                "priority_area": a,
                "names": [{"name": n, "valid_from": "2010-01-01", "valid_to": None}],
            }
            for s, a, n in (
                ("government", "Government", "Federal government and Congress"),
                ("health", "Health", "Health"),
                ("education", "Education", "Education"),
            )
        ],
        "services": [
            {"service": "fedgov", "label": "Federal government", "department": "government"},
            {"service": "congress", "label": "Congress", "department": "government"},
            {"service": "medicine", "label": "Medicine", "department": "health"},
            {"service": "schools", "label": "Education", "department": "education"},
        ],
    }
    (folder / "departments.yaml").write_text(yaml.safe_dump(reg), encoding="utf-8")
    (folder / "survey.yaml").write_text(yaml.safe_dump(instrument), encoding="utf-8")
    return profile.parse(yaml.safe_load((folder / "profile.yaml").read_text()), folder, "us-gss")


@pytest.fixture(scope="module")
def gss(tmp_path_factory):
    root = tmp_path_factory.mktemp("gss")
    prof = write_profile(root / "profiles" / "us-gss", INSTRUMENT)
    raw = root / "raw"
    raw.mkdir()
    (raw / GSS.name).symlink_to(GSS)
    wh = root / "warehouse.duckdb"
    lines: list[str] = []
    with profile.use(prof):
        reg = load_registry()
        code = ingest.run(
            raw, wh, registry=reg, log=lambda *a, **k: lines.append(" ".join(map(str, a)))
        )
    return {"prof": prof, "wh": wh, "code": code, "log": lines, "raw": raw}


@pytest.fixture()
def report(gss, monkeypatch):
    from helpers.present import survey as ps

    monkeypatch.setenv("KP_WAREHOUSE", str(gss["wh"]))
    with profile.use(gss["prof"]):
        yield lambda dept: ps.survey_report(dept, "2012-12", min_n=30)


def _hand(col: str, by: str | None = None) -> pd.DataFrame:
    """Weighted shares from the raw file, written from the instrument: satisfied = 'A GREAT
    DEAL', dissatisfied = 'HARDLY ANY', blank (not asked) left out; weights wtss."""
    d = pd.read_csv(GSS)
    d = d[d[col].notna()].copy()
    d["key"] = d[by] if by else "all"
    d["wsat"] = d["wtss"] * (d[col] == "A GREAT DEAL")
    d["wnet"] = d["wtss"] * ((d[col] == "A GREAT DEAL").astype(float) - (d[col] == "HARDLY ANY"))
    d["wscore"] = d["wtss"] * d[col].map({"HARDLY ANY": 1, "ONLY SOME": 2, "A GREAT DEAL": 3})
    d["w2"] = d["wtss"] ** 2
    t = d.groupby("key")[["wtss", "wsat", "wnet", "wscore", "w2"]].sum()
    return pd.DataFrame(
        {
            "satisfied": t["wsat"] / t["wtss"],
            "net": t["wnet"] / t["wtss"],
            "mean": t["wscore"] / t["wtss"],
            "n": d.groupby("key").size(),
            "n_eff": t["wtss"] ** 2 / t["w2"],
        }
    )


def test_make_data_loads_the_gss_through_the_instrument(gss):
    assert gss["code"] == 0, "\n".join(gss["log"])
    import duckdb

    con = duckdb.connect(str(gss["wh"]), read_only=True)
    try:
        n = con.execute(
            "SELECT count(*), count(DISTINCT district_pcode) FROM survey_respondents"
        ).fetchone()
        assert n == (1974, 9)
        # asked of everyone: one rating row per respondent and service; blanks (not asked) NULL
        counts = dict(
            con.execute(
                "SELECT service, count(satisfaction) FROM survey_ratings GROUP BY 1"
            ).fetchall()
        )
        raw = pd.read_csv(GSS)
        assert counts == {s: int(raw[c].notna().sum()) for s, c in SERVICES.items()}
        assert con.execute("SELECT count(*) FROM survey_ratings").fetchone()[0] == 4 * 1974
        w = con.execute(
            "SELECT min(weight), max(weight), count(psu), count(stratum) FROM survey_respondents"
        ).fetchone()
        assert w[2] == 0 and w[3] == 0  # no PSUs, no strata in the extract
        genders = dict(
            con.execute("SELECT gender, count(*) FROM survey_respondents GROUP BY 1").fetchall()
        )
        assert genders == {"female": 1088, "male": 886}
        assert (
            con.execute(
                "SELECT count(*) FROM survey_respondents WHERE age_band IS NULL"
            ).fetchone()[0]
            == 5
        )
    finally:
        con.close()


def test_weighted_shares_equal_a_hand_computation(report):
    res = report("government")
    assert res.available and res.wave.isoformat() == "2012-06-01"
    e = res.estimates.set_index(["service", "measure"])
    for svc, col in (("fedgov", "confed"), ("congress", "conlegis")):
        hand = _hand(col).iloc[0]
        assert e.loc[(svc, "satisfied"), "estimate"] == pytest.approx(hand["satisfied"], abs=1e-12)
        assert e.loc[(svc, "net"), "estimate"] == pytest.approx(hand["net"], abs=1e-12)
        assert e.loc[(svc, "satisfaction"), "estimate"] == pytest.approx(hand["mean"], abs=1e-12)
        assert e.loc[(svc, "satisfied"), "n"] == hand["n"]
        assert e.loc[(svc, "satisfied"), "n_eff_kish"] == pytest.approx(hand["n_eff"], rel=1e-12)
    # Figures checked by hand (wtss-weighted sums over the respondents asked): 'a great deal'
    # of confidence in the federal government 189.570 / 1302.555 = 14.55% (1,307 asked;
    # unweighted 15.00%), in Congress 88.195 / 1288.712 = 6.84% (1,295 asked).
    assert e.loc[("fedgov", "satisfied"), "estimate"] == pytest.approx(0.145537, abs=1e-6)
    assert e.loc[("congress", "satisfied"), "estimate"] == pytest.approx(0.068436, abs=1e-6)
    assert e.loc[("fedgov", "satisfied"), "n"] == 1307


def test_standard_error_is_weighted_srs_linearisation(report):
    """No PSUs and no strata: each respondent is its own unit (R svydesign(id=~1,
    weights=~wtss)); the not-asked respondents stay in the design with zero influence."""
    res = report("health")
    d = pd.read_csv(GSS)
    y = (d["conmedic"] == "A GREAT DEAL").astype(float).where(d["conmedic"].notna())
    w = d["wtss"]
    asked = y.notna()
    p = (w * y)[asked].sum() / w[asked].sum()
    z = np.where(asked, w * (y.fillna(0) - p) / w[asked].sum(), 0.0)
    n = len(d)
    se = np.sqrt(n / (n - 1) * ((z - z.mean()) ** 2).sum())
    row = res.estimates.set_index(["service", "measure"]).loc[("medicine", "satisfied")]
    assert row["estimate"] == pytest.approx(p, abs=1e-12)
    assert row["se"] == pytest.approx(se, rel=1e-9)


def test_divisions_from_the_profile_and_department_pool(report):
    res = report("government")
    d = res.districts.set_index("name")
    assert len(d) == 9 and d["surveyed"].all()
    hand = _hand("confed", by="region")
    # the department pools its two services (one rating per respondent and service)
    raw = pd.read_csv(GSS)
    long = pd.concat(
        [
            raw[["region", "wtss"]].assign(a=raw["confed"]),
            raw[["region", "wtss"]].assign(a=raw["conlegis"]),
        ]
    ).dropna(subset=["a"])
    long["sat"] = (long["a"] == "A GREAT DEAL").astype(float)
    pooled = (long["wtss"] * long["sat"]).groupby(long["region"]).sum() / long.groupby("region")[
        "wtss"
    ].sum()
    respondents = raw[raw["confed"].notna() | raw["conlegis"].notna()].groupby("region").size()
    for region, share in pooled.items():
        row = d.loc[region.title()]
        # n counts respondents (once even when they rated both services), not ratings
        assert row["n"] == int(respondents[region])
        if row["suppressed"]:  # NCHS rules (methods 3.4): a reason is given
            assert row["status"].startswith("suppressed (")
        else:
            assert row["estimate"] == pytest.approx(share, abs=1e-12)
    assert (~d["suppressed"]).sum() >= 5
    assert set(hand.index) == set(DIVISIONS)
    whole = (long["wtss"] * long["sat"]).sum() / long["wtss"].sum()
    e = res.estimates.set_index(["service", "measure"])
    assert e.loc[("all", "satisfied"), "estimate"] == pytest.approx(whole, abs=1e-12)


def test_report_words_follow_the_instrument(report):
    from helpers.present import survey as ps

    res = report("government")
    notes = " ".join(n.plain for n in ps.methods_note(res))
    html = "".join(o._repr_mimebundle_().get("text/html", "") for o in ps.methods_note(res))
    assert "simple random sampling of respondents" in html
    assert "rating 3 on a 3-point scale (asked of every respondent)" in html
    assert "no attribute has enough answers" not in html  # no drivers defined, none claimed
    tables = ps.service_table(res)
    assert "Satisfied (3)" in tables[0]._repr_mimebundle_()["text/html"]
    assert notes is not None


def test_disclosure_scan_knows_the_instruments_own_columns(tmp_path):
    """Raw GSS rows under the file's own column names (wtss, region, confed ...) are
    respondent-level data for the disclosure gate, as KP's names are; a sentence that says
    "by sex and age" is not."""
    from helpers.publish import disclosure

    raw = pd.read_csv(GSS, nrows=3)[["wtss", "region", "confed", "conmedic", "sex"]]
    table = raw.to_html(index=False)
    ids = pd.read_csv(GSS, nrows=3)[["id", "happy"]].to_html(index=False)
    text = "<p>Shares by sex and age are in the table below.</p>"
    with profile.use("kp"):
        assert disclosure.scan_html(table, "r.html") == []  # KP's names miss them
    with profile.use(write_profile(tmp_path / "us", INSTRUMENT)):
        (found,) = disclosure.scan_html(table, "r.html")
        assert found.kind == "respondent_rows" and "wtss" in found.detail
        (found,) = disclosure.scan_html(ids, "r.html")
        assert "identifier column(s) id" in found.detail
        assert disclosure.scan_html(text, "r.html") == []


def test_both_service_tables_show_the_hand_worked_figures(report):
    """The service table in two parts (shares; mean score and precision): every cell of the
    medicine row against the weighted figures worked from the raw file (``_hand``), both
    tables carrying the same unweighted n."""
    from bs4 import BeautifulSoup

    from helpers.present import survey as ps

    shares, means = ps.service_table(report("health"))  # medicine is its one service

    def row(obj, label):
        soup = BeautifulSoup(obj._repr_mimebundle_()["text/html"], "html.parser")
        head = [th.get_text(" ", strip=True) for th in soup.thead.find_all("th")]
        for tr in soup.tbody.find_all("tr"):
            cells = [td.get_text(" ", strip=True) for td in tr.find_all(["th", "td"])]
            if cells[0].lower().startswith(label):
                return dict(zip(head, cells, strict=True))
        raise AssertionError(f"no {label!r} row in {head}")

    hand = _hand("conmedic").loc["all"]
    a, b = row(shares, "medicine"), row(means, "medicine")
    assert a["Satisfied (3)"] == f"{hand['satisfied']:.1%}"
    assert a["Net satisfaction"] == f"{hand['net']:.1%}"
    assert a["Respondents (n)"] == b["Respondents (n)"] == f"{int(hand['n']):,}"
    assert b["Mean score (1-3)"] == f"{hand['mean']:.2f}"
    assert "Design effect" in b and "Effective n" in b and "Design effect" not in a
