"""The survey instrument (survey.yaml): scales, non-answers, labels, categories, design, raking.

A made-up government ("Surveyland", three districts, one department with a clinic service)
is written in a temporary folder with its own instrument, and its wave file goes through
``make data`` (``ingest.run``) and the report's analysis. KP's own instrument must equal the
built-in default (KP's figures are unchanged).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import paths, profile
from helpers.analysis import survey as an
from helpers.data import ingest
from helpers.data import survey_instrument as si
from helpers.data.registry import load_registry

DISTRICTS = {"SL1": "North", "SL2": "Centre", "SL3": "South"}

BASE = {
    "respondent_id": "resp",
    "scales": {
        "ten": {
            "range": [0, 10],
            "satisfied": [7, 10],
            "non_answer": {98: "don't know", 99: "refused"},
        },
        "five": {
            "title": "Likert",
            "range": [1, 5],
            "satisfied": [4, 5],
            "non_answer": {9: "don't know", "DK": "don't know"},
            "labels": {
                "Very dissatisfied": 1,
                "Dissatisfied": 2,
                "Neutral": 3,
                "Satisfied": 4,
                "Very satisfied": 5,
            },
        },
    },
    "items": {
        "overall": {"column": "q_overall", "scale": "five", "asked": "everyone"},
        "satisfaction": {
            "prefix": "sat",
            "scale": "ten",
            "asked": "users",
            "wording": "How satisfied are you with the clinic (0-10)?",
        },
        "courtesy": {
            "prefix": "court",
            "scale": "ten",
            "asked": "users",
            "label": "Staff courtesy",
        },
        "speed": {"prefix": "speed", "scale": "ten", "asked": "users"},
        "price": {"prefix": "price", "scale": "ten", "asked": "users"},
    },
    "outcome": "satisfaction",
    "overall": "overall",
    "drivers": ["courtesy", "speed", "price"],
    "categories": {
        "gender": {
            "column": "sex",
            "levels": {
                "female": ["F", "woman"],
                "male": ["M", "man"],
                "other": ["X"],
                "not stated": ["refused", "NS"],
            },
            "reference": "male",
        },
        "age_band": {"column": "agegrp", "levels": ["16-34", "35-64", "65+"]},
    },
    "geography": {"column": "district", "values": {v: k for k, v in DISTRICTS.items()}},
    "design": {"weight": "wt", "psu": "cluster", "strata": "district", "fpc": None},
}


def _geojson() -> dict:
    feats = []
    for i, (code, name) in enumerate(DISTRICTS.items()):
        ring = [[i, 0], [i + 1, 0], [i + 1, 1], [i, 1], [i, 0]]
        feats.append(
            {
                "type": "Feature",
                "properties": {"code": code, "name": name},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def make_profile(folder: Path, instrument: dict | None, geography: bool = True) -> profile.Profile:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "districts.geojson").write_text(json.dumps(_geojson()), encoding="utf-8")
    doc = {
        "name": "surveyland",
        "government": {
            "name": "Government of Surveyland",
            "short": "Surveyland",
            "scope": "country",
        },
        "currency": {"code": "SLD", "unit": "million"},
        "fiscal_year": {"start_month": 1, "label": "start"},
        "geography": {"file": "districts.geojson", "id_property": "code", "name_property": "name"},
        "priority_areas": ["Health"],
        "registry": "departments.yaml",
    }
    if not geography:
        del doc["geography"]
    (folder / "profile.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    reg = {
        "registry_start": "2020-01-01",
        "departments": [
            {
                "slug": "health",
                "priority_area": "Health",
                "names": [{"name": "Health", "valid_from": "2020-01-01", "valid_to": None}],
            }
        ],
        "services": [{"service": "clinic", "label": "Public clinics", "department": "health"}],
    }
    (folder / "departments.yaml").write_text(yaml.safe_dump(reg), encoding="utf-8")
    if instrument is not None:
        (folder / "survey.yaml").write_text(
            yaml.safe_dump(instrument, allow_unicode=True), encoding="utf-8"
        )
    return profile.parse(doc, folder, "surveyland")


def wave_file(n_per_psu: int = 30, seed: int = 5) -> pd.DataFrame:
    """Three districts x two clusters; 0-10 ratings where courtesy and speed drive satisfaction;
    price is never answered (a question dropped from this wave)."""
    rng = np.random.default_rng(seed)
    rows, rid = [], 0
    sexes = ["F", "M", "woman", "man", "X", "NS"]
    for code, name in DISTRICTS.items():
        for c in range(2):
            for _ in range(n_per_psu):
                rid += 1
                used = rng.random() < 0.8
                court, speed = rng.integers(0, 11, 2)
                sat = int(np.clip(round((court + speed) / 2 + rng.normal(0, 1.5)), 0, 10))
                rows.append(
                    {
                        "resp": rid,
                        "district": name,  # names, mapped to codes by the instrument
                        "cluster": f"{code}-{c}",
                        "wt": 50.0 + 10 * c,
                        "sex": sexes[rid % len(sexes)],
                        "agegrp": ["16-34", "35-64", "65+"][rid % 3],
                        "q_overall": ["Very satisfied", "Satisfied", "Neutral", "DK", 9, 2][
                            rid % 6
                        ],
                        "used_clinic": int(used),
                        "sat_clinic": (sat if rid % 17 else 98) if used else None,
                        "court_clinic": court if used else None,
                        "speed_clinic": speed if used else None,
                        "price_clinic": None,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture()
def land(tmp_path, monkeypatch):
    """Write the profile and a wave; returns a loader: run make data, return (code, log)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    wh = tmp_path / "wh.duckdb"
    state = {"instrument": copy.deepcopy(BASE), "frame": wave_file()}

    def load():
        prof = make_profile(
            tmp_path / "profiles" / "surveyland", state["instrument"], state.get("geography", True)
        )
        state["frame"].to_csv(raw / "survey_2025-06.csv", index=False)
        lines: list[str] = []
        with profile.use(prof):
            try:
                reg = load_registry()
                code = ingest.run(
                    raw,
                    wh,
                    registry=reg,
                    force=True,
                    log=lambda *a, **k: lines.append(" ".join(map(str, a))),
                )
            finally:
                pass
        state["prof"] = prof
        return code, "\n".join(lines)

    state.update(load=load, wh=wh, raw=raw)
    monkeypatch.setenv("KP_WAREHOUSE", str(wh))
    return state


# ------------------------------------------------------------------------------------ KP
def test_kp_instrument_file_equals_the_builtin_default():
    kp = si.load(paths.PARAMS_DIR / "profiles" / "kp" / "survey.yaml")
    assert dataclasses.replace(kp, path=None) == si.KP_INSTRUMENT
    sc = kp.outcome_item.scale
    assert sc.codes == (1, 2, 3, 4, 5) and sc.satisfied_codes == (4, 5)
    assert sc.dissatisfied_codes == (1, 2) and dict(sc.non_answer_codes) == {9: "don't know"}
    assert sc.rule == "Likert code not in 1-5 or 9 (don't know)"
    assert kp.drivers == ("staff_behaviour", "waiting_time", "cost", "availability", "cleanliness")
    assert kp.categories["gender"].levels == ("female", "male")
    assert kp.categories["age_band"].levels == ("18-29", "30-44", "45-59", "60+")
    assert kp.stratum_column == "district_pcode" and not kp.equal_weights


# ------------------------------------------------------------------------------ scales
def test_ten_point_scale_reads_9_as_an_answer_and_98_99_as_non_answers():
    inst = si.parse(copy.deepcopy(BASE))
    sc = inst.outcome_item.scale
    assert 9 in sc.codes and 9 in sc.satisfied_codes
    assert sc.dissatisfied == (0, 3)  # mirrored from 7-10
    assert sc.allowed == (*range(11), 98, 99)
    f = pd.DataFrame(
        {"respondent_id": range(6), "service": "clinic", "satisfaction": [9, 7, 6, 0, 3, np.nan]}
    )
    out = an.prepare_frame(f, inst)
    assert out["satisfied"].tolist()[:5] == [1, 1, 0, 0, 0]
    assert out["net"].tolist()[:5] == [1, 1, 0, -1, -1]
    with pytest.raises(an.SurveyDataError, match="outside 0..10"):
        an.prepare_frame(f.assign(satisfaction=[11, 1, 1, 1, 1, 1]), inst)


def test_yes_no_scale():
    doc = copy.deepcopy(BASE)
    doc["scales"]["yn"] = {"type": "yesno"}
    doc["items"]["courtesy"]["scale"] = "yn"
    sc = si.parse(doc).items["courtesy"].scale
    assert sc.codes == (0, 1) and sc.satisfied_codes == (1,) and sc.labels == {"yes": 1, "no": 0}


def _refused(doc: dict, field: str, words: str) -> None:
    with pytest.raises(si.InstrumentError) as exc:
        si.parse(doc, Path("params/profiles/x/survey.yaml"))
    msg = str(exc.value)
    assert "params/profiles/x/survey.yaml" in msg and f"field '{field}'" in msg, msg
    assert words in msg, msg


def test_contradictions_are_refused_with_file_field_and_rule():
    d = copy.deepcopy(BASE)
    d["scales"]["ten"]["satisfied"] = [7, 11]
    _refused(d, "scales.ten.satisfied", "outside the scale 0-10")
    d = copy.deepcopy(BASE)
    d["scales"]["five"]["non_answer"] = {5: "don't know"}
    _refused(d, "scales.five.non_answer.5", "lies inside the scale 1-5")
    d = copy.deepcopy(BASE)
    d["scales"]["ten"]["non_answer"] = {9: "don't know"}
    _refused(d, "scales.ten.non_answer.9", "a real answer, not a non-answer")
    d = copy.deepcopy(BASE)
    d["scales"]["five"]["labels"]["Extremely satisfied"] = 6
    _refused(d, "scales.five.labels.Extremely satisfied", "not on the scale 1-5")
    d = copy.deepcopy(BASE)
    d["scales"]["five"]["dissatisfied"] = [3, 4]
    _refused(d, "scales.five.dissatisfied", "overlaps the satisfied range")
    d = copy.deepcopy(BASE)
    d["drivers"] = ["courtesy", "colour"]
    _refused(d, "drivers[1]", "'colour' is not a per-service item")
    d = copy.deepcopy(BASE)
    d["items"]["speed"]["asked"] = "some"
    _refused(d, "items.speed.asked", "not one of everyone, users")
    d = copy.deepcopy(BASE)
    d["categories"]["gender"]["reference"] = "men"
    _refused(d, "categories.gender.reference", "not one of the levels")


def test_fpc_counts_says_what_the_fpc_column_holds():
    # default: the fpc column counts persons -> no finite population correction
    d = copy.deepcopy(BASE)
    d["design"]["fpc"] = "pop"
    assert si.parse(copy.deepcopy(d)).design.fpc_counts == "persons"
    assert not si.parse(copy.deepcopy(d)).design.applies_fpc
    d["design"]["fpc_counts"] = "psus"
    assert si.parse(copy.deepcopy(d)).design.applies_fpc
    d["design"]["fpc_counts"] = "households"
    _refused(d, "design.fpc_counts", "one of persons, psus, fraction")
    d["design"]["fpc_counts"] = "psus"
    d["design"]["weights_sum_to"] = "fpc"  # weights sum to a population of persons, not PSUs
    _refused(d, "design.weights_sum_to", "needs design.fpc_counts: persons")
    assert si.KP_INSTRUMENT.design.fpc_counts == "persons"
    assert not si.KP_INSTRUMENT.design.applies_fpc


def test_raking_totals_that_disagree_are_refused():
    d = copy.deepcopy(BASE)
    d["design"]["raking"] = [
        {
            "margin": ["gender"],
            "totals": {"female": 500, "male": 480, "other": 10, "not stated": 10},
        },
        {"margin": "age_band", "totals": {"16-34": 400, "35-64": 400, "65+": 300}},
    ]
    _refused(d, "design.raking[1].totals", "totals sum to 1,100 but design.raking[0] sums to 1,000")
    d["design"]["raking"][1]["totals"]["65+"] = 200
    assert len(si.parse(copy.deepcopy(d)).design.raking) == 2
    # district x gender and gender: the gender sub-totals must agree
    d["design"]["raking"].append(
        {
            "margin": ["district_pcode", "gender"],
            "totals": [
                {"district_pcode": p, "gender": g, "total": t}
                for p in DISTRICTS
                for g, t in (("female", 170), ("male", 160), ("other", 3), ("not stated", 0.34))
            ],
        }
    )
    _refused(d, "design.raking[2].totals", "gender female: 510 here but 500 in design.raking[0]")
    d = copy.deepcopy(BASE)
    d["design"]["raking"] = [{"margin": ["gender"], "totals": {"female": 500, "male": 480}}]
    _refused(d, "design.raking[0].totals", "no total for gender not stated, other")


# ----------------------------------------------------------------------- make data and report
def test_make_data_reads_the_instrument_labels_names_and_categories(land):
    code, log = land["load"]()
    assert code == 0, log
    con = duckdb.connect(str(land["wh"]), read_only=True)
    try:
        resp = con.execute("SELECT * FROM survey_respondents ORDER BY respondent_id").df()
        rat = con.execute("SELECT * FROM survey_ratings ORDER BY respondent_id").df()
    finally:
        con.close()
    assert set(resp["district_pcode"]) == set(DISTRICTS)  # names mapped to codes
    assert set(resp["gender"]) == {"female", "male", "other", "not stated"}
    # labels -> codes; 'DK' (a text non-answer) and 9 (a code) -> NULL
    by_label = resp.set_index("respondent_id")["overall_satisfaction"]
    assert by_label[1] == 4 and by_label[2] == 3 and by_label[5] == 2 and by_label[6] == 5
    assert pd.isna(by_label[3]) and pd.isna(by_label[4])
    assert "courtesy" in rat.columns and "price" in rat.columns and rat["price"].isna().all()
    # 98 = don't know on the 0-10 scale -> NULL; a real 9 stays 9
    assert rat["satisfaction"].max() <= 10 and (rat["satisfaction"] == 9).any()
    assert rat["satisfaction"].isna().sum() >= 1
    assert resp["stratum"].isna().all()  # strata = the geography column (district)


@pytest.fixture
def nchs_width_rules_off(monkeypatch):
    """The made-up survey is small: these tests check estimates against hand sums, so the NCHS
    interval-width rules (tested in test_survey.py) are switched off; min_n still applies."""
    from helpers.analysis import survey as an

    monkeypatch.setattr(an, "NCHS_MAX_WIDTH", 2.0)
    monkeypatch.setattr(an, "NCHS_MAX_RELATIVE_WIDTH", math.inf)


def test_report_on_a_zero_to_ten_survey(land, nchs_width_rules_off):
    code, log = land["load"]()
    assert code == 0, log
    from helpers.present import survey as ps

    with profile.use(land["prof"]):
        res = ps.survey_report("health", "2025-12", min_n=10)
        assert res.available
        raw = land["frame"]
        used = raw[raw["used_clinic"] == 1]
        ok = used[used["sat_clinic"] != 98]
        hand = (ok["wt"] * (ok["sat_clinic"] >= 7)).sum() / ok["wt"].sum()
        est = res.estimates.set_index(["service", "measure"]).loc[("clinic", "satisfied")]
        assert est["estimate"] == pytest.approx(hand, abs=1e-12)
        # drivers: courtesy and speed used; price lacked data and the report says so
        assert set(res.drivers.loc[res.drivers.kind == "attribute", "term"]) == {
            "courtesy",
            "speed",
        }
        assert res.drivers_lacking == {"price": "no answers"}
        notes = " ".join(res.notes)
        assert "price: no answers" in notes
        assert set(res.drivers["label"]) >= {
            "Staff courtesy",
            "Speed",
            "Gender female (vs male)",
            "Gender other (vs male)",
        }
        html = "".join(
            o._repr_mimebundle_().get("text/html", "")
            for o in [*ps.methods_note(res), *ps.service_table(res), ps.survey_key_messages(res)]
        )
        assert "Satisfied (7-10)" in html and "Mean score (0-10)" in html
        assert "rating 7-10 on a 11-point scale" in html
        assert (
            "&#x27;don&#x27;t know&#x27; and &#x27;refused&#x27; answers" in html
            or "'don't know' and 'refused'" in html
        )


def test_equal_weights_srs_and_not_surveyed(land, nchs_width_rules_off):
    land["instrument"]["design"] = {"weight": None, "psu": None, "strata": "district", "fpc": None}
    f = land["frame"]
    land["frame"] = f[f["district"] != "South"].drop(columns=["wt", "cluster"])
    code, log = land["load"]()
    assert code == 0, log
    from helpers.present import survey as ps

    with profile.use(land["prof"]):
        res = ps.survey_report("health", "2025-12", min_n=10)
        d = res.districts.set_index("pcode")
        assert d.loc["SL3", "status"] == "not surveyed" and not d.loc["SL3", "surveyed"]
        assert d.loc["SL1", "status"] == "" and d.loc["SL1", "surveyed"]
        used = land["frame"][land["frame"]["used_clinic"] == 1]
        ok = used[used["sat_clinic"] != 98]
        est = res.estimates.set_index(["service", "measure"]).loc[("clinic", "satisfied")]
        assert est["estimate"] == pytest.approx((ok["sat_clinic"] >= 7).mean(), abs=1e-12)
        assert est["n_eff_kish"] == pytest.approx(len(ok))  # equal weights: Kish n_eff = n
        msgs = ps.survey_key_messages(res).extra["application/vnd.kp.key-messages+json"]["messages"]
        assert any(
            "1 of 3 districts had no respondent rating these services (not surveyed)" in m
            for m in msgs
        )
        assert not any("fewer than 10 ratings" in m for m in msgs)
        text = " ".join(n.plain for n in ps.methods_note(res))
        assert "no weights: every respondent counts equally (equal weights)" in text
        assert "simple random sampling of respondents within districts (strata)" in text


def test_raking_to_population_totals_in_the_report(land):
    land["instrument"]["design"]["raking"] = [
        {
            "margin": ["district_pcode", "gender"],
            "totals": [
                {"district_pcode": p, "gender": g, "total": t}
                for p in DISTRICTS
                for g, t in (("female", 4000), ("male", 3800), ("other", 100), ("not stated", 100))
            ],
        },
        {"margin": ["age_band"], "totals": {"16-34": 10_000, "35-64": 9_000, "65+": 5_000}},
    ]
    code, log = land["load"]()
    assert code == 0, log
    from helpers.data import warehouse as wh

    with profile.use(land["prof"]):
        inst = si.active()
        frame = an.complete_frame(
            wh.survey_frame("2025-06", ["clinic"]), wh.survey_respondents("2025-06")
        )
        design = an.design_for(an.prepare_frame(frame, inst), inst)
        units = design.data.assign(_w=design.w).drop_duplicates("respondent_id")
        got = units.groupby(["district_pcode", "gender"])["_w"].sum()
        assert got.to_numpy() == pytest.approx(
            [4000 if g == "female" else 3800 if g == "male" else 100 for _p, g in got.index],
            rel=1e-9,
        )
        assert units.groupby("age_band")["_w"].sum().to_dict() == pytest.approx(
            {"16-34": 10_000, "35-64": 9_000, "65+": 5_000}, rel=1e-9
        )
        from helpers.present import survey as ps

        res = ps.survey_report("health", "2025-12", min_n=10)
        text = " ".join(n.plain for n in ps.methods_note(res))
        assert "raked to known population totals (district pcode x gender; age band)" in text


def test_no_geography_no_unit_view(land):
    """A profile without districts or regions: the instrument has no geography; the report
    has figures but no per-unit table, chart or map."""
    land["geography"] = False
    code, log = land["load"]()
    assert code == 2 and "the profile surveyland has no geography" in log  # still names one
    del land["instrument"]["geography"]
    land["instrument"]["design"]["strata"] = None
    code, log = land["load"]()
    assert code == 0, log
    from helpers.present import survey as ps

    with profile.use(land["prof"]):
        res = ps.survey_report("health", "2025-12", min_n=10)
        assert res.available and res.strata == 1
        assert ps.district_table(res) == [] and ps.district_map(res) == []
        assert res.headline_satisfaction is not None


def test_make_data_refuses_a_contradicting_instrument(land, capsys):
    code, _ = land["load"]()
    assert code == 0
    before = land["wh"].read_bytes()
    land["instrument"]["scales"]["ten"]["satisfied"] = [7, 12]
    code, log = land["load"]()
    assert code == 2
    assert "survey.yaml: field 'scales.ten.satisfied': [7, 12] lies outside the scale 0-10" in log
    assert land["wh"].read_bytes() == before  # nothing loads


def test_make_data_refuses_weights_that_do_not_sum_to_the_population(land):
    land["instrument"]["design"]["fpc"] = "pop"
    land["instrument"]["design"]["weights_sum_to"] = "fpc"
    f = land["frame"]
    f["pop"] = f.groupby("district")["wt"].transform("sum")
    f.loc[f["district"] == "Centre", "pop"] = 99_999.0
    code, log = land["load"]()
    assert code == 1
    assert (
        "survey_2025-06.csv district SL2, column wt: weights sum to 3,300.0 but pop is "
        "99,999.0 (rule: the weights of a stratum sum to its population"
    ) in log, log
    assert "the warehouse was not changed" in log
    assert not land["wh"].exists()


def test_unknown_label_and_category_are_rejected_with_row_and_column(land):
    f = land["frame"]
    f["q_overall"] = f["q_overall"].astype(object)
    f.loc[3, "q_overall"] = "Somewhat happy"
    f.loc[4, "sex"] = "unknown"
    code, log = land["load"]()
    assert code == 1
    assert (
        "survey_2025-06.csv row 5, column q_overall: not a whole-number code ('Somewhat happy')"
        in log
    ), log
    assert "survey_2025-06.csv row 6, column sex: unknown gender" in log, log


def test_overall_item_in_another_scale_and_date_independent():
    inst = si.parse(copy.deepcopy(BASE))
    assert inst.overall_item.scale.name == "five"
    assert inst.present_services(["used_clinic", "sat_clinic"], ("clinic", "school")) == ["clinic"]
    assert dt.date(2025, 6, 1)  # wave from the file name
