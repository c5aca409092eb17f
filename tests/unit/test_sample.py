"""The sample generator: deterministic, options honoured, realistic structure."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyreadstat

from helpers.data.sample import SampleOptions, write_sample

OPTS = SampleOptions(
    seed=11,
    first_fy="2023-24",
    last_fy="2024-25",
    respondents=500,
    departments=("health", "zakat-ushr", "communication-works"),
)


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_options_give_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_sample(a, OPTS)
    write_sample(b, OPTS)
    assert _digest(a) == _digest(b)
    c = tmp_path / "c"
    write_sample(c, SampleOptions(**{**OPTS.__dict__, "seed": 12}))
    assert _digest(c)["budget_monthly.csv"] != _digest(a)["budget_monthly.csv"]


def test_options_and_structure(kp_small_raw):
    files = {p.name for p in kp_small_raw.iterdir()}
    assert {
        "budget_allocations.csv",
        "budget_monthly.csv",
        "targets.csv",
        "pse_returns.xlsx",
        "survey_2024-12.sav",
        "survey_2025-06.sav",
    } <= files
    monthly = pd.read_csv(kp_small_raw / "budget_monthly.csv")
    assert set(monthly["department"]) == {"health", "local-government", "zakat-ushr"}
    assert monthly["month"].min() == "2024-07" and monthly["month"].max() == "2025-06"
    # zakat-ushr has data gaps: fewer than 12 months
    assert monthly.loc[monthly["department"] == "zakat-ushr", "month"].nunique() < 12
    # reversals are the only negative rows, and they are flagged
    neg = monthly.loc[monthly["expenditure"] < 0]
    assert len(neg) > 0 and (neg["reversal"] == 1).all()
    # June bunching of development spending: June share well above 1/12
    dev = monthly.loc[monthly["fund"] == "development"]
    june_share = (
        dev.loc[dev["month"].str.endswith("-06"), "expenditure"].sum() / dev["expenditure"].sum()
    )
    assert june_share > 0.2


def test_survey_codes_and_design(kp_small_raw):
    df, meta = pyreadstat.read_sav(str(kp_small_raw / "survey_2024-12.sav"))
    assert (df["overall_satisfaction"] == 9).any()  # don't know code present in the raw file
    assert set(df["overall_satisfaction"].dropna().unique()) <= {1, 2, 3, 4, 5, 9}
    assert df["respondent_id"].is_unique and (df["weight"] > 0).all()
    assert df["district_pcode"].nunique() == 35
    assert df.groupby("district_pcode")["psu"].nunique().between(2, 15).all()
    # weights sum to the stratum population in every district
    s = df.groupby("district_pcode").agg(w=("weight", "sum"), pop=("stratum_population", "first"))
    assert ((s["w"] - s["pop"]).abs() / s["pop"] < 1e-3).all()
    # ratings only where the service was used
    assert df.loc[df["used_bhu"] == 0, "sat_bhu"].isna().all()
    # waiting time drives satisfaction
    used = df.loc[(df["used_bhu"] == 1) & (df["sat_bhu"] < 9) & (df["wait_bhu"] < 9)]
    assert used["sat_bhu"].corr(used["wait_bhu"]) > 0.3


def test_pse_returns_have_negative_equity_and_late_returns(kp_small_raw):
    pse = pd.read_excel(kp_small_raw / "pse_returns.xlsx")
    assert (pse["liabilities"] > pse["assets"]).any()
    lag = (pd.to_datetime(pse["submitted_date"]) - pd.to_datetime(pse["quarter_end"])).dt.days
    assert (lag > 45).any() and (lag <= 45).any()
