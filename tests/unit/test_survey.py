"""Unit tests for the survey estimator and the citizen-survey analysis (tiny hand-made data).

Every expected value is worked out by hand in the comment next to it.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from helpers.analysis import survey as an
from helpers.survey import LonelyPSUError, SurveyDesign, SurveyDesignError


# ---------------------------------------------------------------------------- estimator
@pytest.fixture
def strat() -> pd.DataFrame:
    # stratum A: y = 1, 3 with w = 2, 2; stratum B: y = 2, 4, 6 with w = 1, 1, 1
    return pd.DataFrame(
        {
            "h": ["A", "A", "B", "B", "B"],
            "y": [1.0, 3.0, 2.0, 4.0, 6.0],
            "w": [2.0, 2.0, 1.0, 1.0, 1.0],
            "N": [4, 4, 6, 6, 6],
            "f": [0.5, 0.5, 0.5, 0.5, 0.5],
            "g": ["x", "y", "x", "y", "y"],
        }
    )


def test_stratified_total_by_hand(strat):
    # total = 2*1 + 2*3 + 2 + 4 + 6 = 20
    # A: w*y = 2, 6 -> deviations -2, 2 -> ss 8, x n/(n-1) = 2 -> 16
    # B: w*y = 2, 4, 6 -> ss 8, x 3/2 -> 12; variance 28
    r = SurveyDesign(strat, "w", strata="h").total("y").iloc[0]
    assert r["estimate"] == pytest.approx(20.0)
    assert r["se"] == pytest.approx(np.sqrt(28.0))
    assert r["n"] == 5
    assert r["n_eff"] == pytest.approx(49 / 11)  # (sum w)^2 / sum w^2 = 49 / 11


def test_stratified_mean_by_hand(strat):
    # mean = 20 / 7; z = w (y - 20/7) / 7
    # A: z = -26/49, 2/49 -> ss 392/2401, x 2 = 784/2401
    # B: z = -6/49, 8/49, 22/49 -> ss 392/2401, x 1.5 = 588/2401; var = 1372/2401 = 4/7
    r = SurveyDesign(strat, "w", strata="h").mean("y").iloc[0]
    assert r["estimate"] == pytest.approx(20 / 7)
    assert r["se"] == pytest.approx(np.sqrt(4 / 7))
    z = 1.959963984540054
    assert r["ci_low"] == pytest.approx(20 / 7 - z * np.sqrt(4 / 7))
    assert r["ci_high"] == pytest.approx(20 / 7 + z * np.sqrt(4 / 7))


def test_fpc_as_population_or_fraction(strat):
    # N_A = 4 with 2 PSUs and N_B = 6 with 3 PSUs: f = 0.5 in both -> variance halves
    a = SurveyDesign(strat, "w", strata="h", fpc="N").mean("y").iloc[0]
    b = SurveyDesign(strat, "w", strata="h", fpc="f").mean("y").iloc[0]
    assert a["se"] == pytest.approx(np.sqrt(2 / 7))
    assert b["se"] == pytest.approx(np.sqrt(2 / 7))
    t = SurveyDesign(strat, "w", strata="h", fpc="N").total("y").iloc[0]
    assert t["se"] == pytest.approx(np.sqrt(14.0))


def test_cluster_total_by_hand():
    # PSU totals of w*y: p1 = 1 + 2 = 3, p2 = 2*3 = 6, p3 = 0 -> mean 3, ss 18, x 3/2 = 27
    df = pd.DataFrame(
        {"p": [1, 1, 2, 3, 3], "y": [1.0, 2.0, 3.0, 0.0, 0.0], "w": [1.0, 1.0, 2.0, 1.0, 1.0]}
    )
    r = SurveyDesign(df, "w", psu="p").total("y").iloc[0]
    assert r["estimate"] == pytest.approx(9.0)
    assert r["se"] == pytest.approx(np.sqrt(27.0))


def test_ratio_by_hand():
    # R = (1 + 2 + 3) / (1 + 1 + 2) = 1.5 (weights 1); z_i = (y - 1.5 x) / 4
    # z = (1-1.5)/4, (2-1.5)/4, (3-3)/4 = -1/8, 1/8, 0 -> ss about mean 0 = 1/32, x 3/2 = 3/64
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": [1.0, 1.0, 2.0], "w": [1.0, 1.0, 1.0]})
    r = SurveyDesign(df, "w").ratio("y", "x").iloc[0]
    assert r["estimate"] == pytest.approx(1.5)
    assert r["se"] == pytest.approx(np.sqrt(3 / 64))


def test_domain_uses_full_design_not_subset(strat):
    # domain = rows 2 (A, y=3, w=2) and 3 (B, y=2, w=1): mean = (6 + 2) / 3 = 8/3
    # z: A = [0, 2(3 - 8/3)/3 = 2/9] -> ss 2/81, x 2 = 4/81
    #    B = [(2 - 8/3)/3 = -2/9, 0, 0] -> mean -2/27, ss 24/729, x 3/2 = 4/81; var = 8/81
    d = SurveyDesign(strat, "w", strata="h")
    mask = pd.Series([False, True, True, False, False])
    r = d.mean("y", domain=mask).iloc[0]
    assert r["estimate"] == pytest.approx(8 / 3)
    assert r["se"] == pytest.approx(np.sqrt(8) / 9)
    assert r["n"] == 2
    # subsetting the data instead would leave one row per stratum: a different (undefined) SE
    with pytest.raises(LonelyPSUError):
        SurveyDesign(strat[mask], "w", strata="h")


def test_by_equals_domain_masks(strat):
    d = SurveyDesign(strat, "w", strata="h")
    by = d.mean("y", by="g").set_index("g")
    for g in ("x", "y"):
        one = d.mean("y", domain=strat["g"] == g).iloc[0]
        assert by.loc[g, "estimate"] == pytest.approx(one["estimate"])
        assert by.loc[g, "se"] == pytest.approx(one["se"])


def test_missing_values_are_a_domain(strat):
    # y missing on row 0 -> same as the domain of rows 1..4
    with_na = strat.assign(y=[np.nan, 3.0, 2.0, 4.0, 6.0])
    d_na = SurveyDesign(with_na, "w", strata="h")
    d = SurveyDesign(strat, "w", strata="h")
    a = d_na.mean("y").iloc[0]
    b = d.mean("y", domain=strat.index != 0).iloc[0]
    assert a["estimate"] == pytest.approx(b["estimate"])  # (6 + 12) / 5 = 3.6
    assert a["estimate"] == pytest.approx(3.6)
    assert a["se"] == pytest.approx(b["se"])
    assert a["n"] == 4


def test_proportion_is_mean_of_indicator(strat):
    d = SurveyDesign(strat.assign(ind=(strat["g"] == "x").astype(float)), "w", strata="h")
    p = d.proportion("g").set_index("level")
    m = d.mean("ind").iloc[0]
    # weighted share of 'x' = (2 + 1) / 7 = 3/7
    assert p.loc["x", "estimate"] == pytest.approx(3 / 7)
    assert p.loc["x", "se"] == pytest.approx(m["se"])
    assert p["estimate"].sum() == pytest.approx(1.0)
    assert p.loc["x", "se"] == pytest.approx(p.loc["y", "se"])  # two levels: same SE


def test_lonely_psu_options():
    df = pd.DataFrame({"h": ["A", "A", "B"], "y": [1.0, 3.0, 5.0], "w": [1.0, 1.0, 1.0]})
    with pytest.raises(LonelyPSUError, match="single PSU"):
        SurveyDesign(df, "w", strata="h")
    # remove: B contributes nothing; A: w*y = 1, 3 -> ss 2, x 2 = 4
    r = SurveyDesign(df, "w", strata="h", lonely_psu="remove").total("y").iloc[0]
    assert r["se"] == pytest.approx(2.0)
    # adjust: B's PSU total 5 centred at the mean of all PSU totals (1 + 3 + 5) / 3 = 3 -> 4
    r = SurveyDesign(df, "w", strata="h", lonely_psu="adjust").total("y").iloc[0]
    assert r["se"] == pytest.approx(np.sqrt(8.0))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"w": [1.0, -1.0, 1.0, 1.0, 1.0]}, "negative"),
        ({"w": [1.0, np.nan, 1.0, 1.0, 1.0]}, "missing"),
        ({"N": [4, 5, 6, 6, 6]}, "varies within a stratum"),
        ({"N": [0.5, 0.5, 6, 6, 6]}, "mixes"),
        ({"N": [1.5, 1.5, 6, 6, 6]}, "smaller than the number"),
        ({"h": ["A", None, "B", "B", "B"]}, "missing"),
    ],
)
def test_bad_designs_raise_clear_errors(strat, change, match):
    bad = strat.assign(**change)
    with pytest.raises(SurveyDesignError, match=match):
        SurveyDesign(bad, "w", strata="h", fpc="N")


def test_unknown_columns_and_non_numeric(strat):
    with pytest.raises(SurveyDesignError, match="not in the data"):
        SurveyDesign(strat, "weight")
    d = SurveyDesign(strat, "w", strata="h")
    with pytest.raises(SurveyDesignError, match="not numeric"):
        d.mean("g")
    with pytest.raises(SurveyDesignError, match="not in the survey data"):
        d.mean("nope")


def test_psu_codes_shared_across_strata_need_nest():
    df = pd.DataFrame(
        {"h": ["A", "A", "B", "B"], "p": [1, 2, 1, 2], "y": [1.0, 2, 3, 4], "w": [1.0] * 4}
    )
    with pytest.raises(SurveyDesignError, match="nest=True"):
        SurveyDesign(df, "w", strata="h", psu="p")
    nested = SurveyDesign(df, "w", strata="h", psu="p", nest=True)
    assert nested.n_psu == 4


def test_empty_domain_gives_nan_not_error(strat):
    d = SurveyDesign(strat, "w", strata="h")
    r = d.mean("y", domain=np.zeros(5, dtype=bool)).iloc[0]
    assert np.isnan(r["estimate"]) and np.isnan(r["se"]) and r["n"] == 0


def test_logit_equal_weights_is_hc0_sandwich_times_small_sample_factor():
    # one stratum, each row its own PSU, no fpc: V = n/(n-1) x the HC0 sandwich
    rng = np.random.default_rng(1)
    n = 400
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.8 * x)))).astype(float)
    df = pd.DataFrame({"y": y, "x": x, "w": 3.0})
    res = SurveyDesign(df, "w").logit("y", ["x"]).set_index("term")
    ref = sm.Logit(y, sm.add_constant(x)).fit(disp=0, cov_type="HC0")
    assert res.loc["x", "coef"] == pytest.approx(ref.params[1], rel=1e-6)
    assert res.loc["x", "se"] == pytest.approx(ref.bse[1] * np.sqrt(n / (n - 1)), rel=1e-6)
    assert res.loc["x", "odds_ratio"] == pytest.approx(np.exp(ref.params[1]), rel=1e-6)


def test_logit_perfect_separation_is_a_clear_error():
    df = pd.DataFrame({"y": [0.0, 0, 0, 1, 1, 1], "x": [1.0, 2, 3, 4, 5, 6], "w": [1.0] * 6})
    with pytest.raises(SurveyDesignError, match="perfect separation"):
        SurveyDesign(df, "w").logit("y", ["x"])


def test_logit_rejects_non_binary_outcome():
    df = pd.DataFrame({"y": [0.0, 2, 0, 1, 1, 0], "x": [1.0, 2, 3, 4, 5, 6], "w": [1.0] * 6})
    with pytest.raises(SurveyDesignError, match="0/1"):
        SurveyDesign(df, "w").logit("y", ["x"])


def test_35_domains_of_10000_respondents_each_get_their_weighted_mean_and_n():
    """Domain estimates at survey size: each stratum's mean is its weighted mean
    sum(w * y) / sum(w), and n its respondent count (speed is the benchmark's job)."""
    rng = np.random.default_rng(0)
    n = 10_000
    h = rng.integers(0, 35, n)
    psu = h * 100 + rng.integers(0, 10, n)
    df = pd.DataFrame(
        {"h": h, "p": psu, "w": rng.uniform(50, 500, n), "y": rng.integers(1, 6, n).astype(float)}
    )
    df["N"] = 1_000_000
    d = SurveyDesign(df, "w", strata="h", psu="p", fpc="N")
    res = d.means(["y"], by="h").set_index("h")
    assert len(res) == 35
    for stratum, grp in df.groupby("h"):
        expected = (grp["w"] * grp["y"]).sum() / grp["w"].sum()
        assert res.loc[stratum, "estimate"] == pytest.approx(expected, rel=1e-12)
        assert res.loc[stratum, "n"] == len(grp)
    assert len(d.proportion("y", by="h")) > 0


# ---------------------------------------------------------------------------- analysis
def _frame(n_per_psu: int = 25, seed: int = 3) -> pd.DataFrame:
    """Three districts x eight PSUs; D3 is small (8 x 2 respondents) to test suppression.

    Eight PSUs a district give 24 - 3 = 21 design degrees of freedom (the Korn-Graubard
    interval of a design with 3 degrees of freedom is too wide to publish anything)."""
    rng = np.random.default_rng(seed)
    rows = []
    rid = 0
    for d, size in (("PK501", n_per_psu), ("PK502", n_per_psu), ("PK503", 5)):
        for p in range(8):
            for _ in range(size * 4 // 8):
                rid += 1
                sat = float(rng.integers(1, 6))
                rows.append(
                    {
                        "wave": dt.date(2024, 12, 1),
                        "respondent_id": rid,
                        "district_pcode": d,
                        "psu": f"{d}-{p}",
                        "weight": 100.0 + p,
                        "stratum_population": 50_000,
                        "gender": ["female", "male"][rng.integers(0, 2)],
                        "age_band": ["18-29", "30-44", "45-59", "60+"][rng.integers(0, 4)],
                        "area": ["rural", "urban"][rng.integers(0, 2)],
                        "overall_satisfaction": sat,
                        "service": "bhu" if rid % 10 else "hospital",
                        "satisfaction": sat,
                        "staff_behaviour": float(np.clip(sat + rng.integers(-2, 3), 1, 5)),
                        "waiting_time": float(np.clip(sat + rng.integers(-2, 3), 1, 5)),
                        "cost": float(rng.integers(1, 6)),
                        "availability": float(rng.integers(1, 6)),
                        "cleanliness": float(rng.integers(1, 6)),
                    }
                )
    return pd.DataFrame(rows)


SERVICES = pd.DataFrame(
    {"service": ["bhu", "hospital"], "label": ["Basic health units", "Hospitals"]}
)
DISTRICTS = pd.DataFrame(
    {
        "pcode": ["PK501", "PK502", "PK503", "PK504"],
        "name": ["Abbottabad", "Bajaur", "Bannu", "Batagram"],
    }
)


def test_prepare_frame_indicators():
    f = pd.DataFrame(
        {c: [1] * 6 for c in an.REQUIRED_COLUMNS} | {"satisfaction": [1, 2, 3, 4, 5, None]}
    )
    out = an.prepare_frame(f)
    assert out["satisfied"].tolist()[:5] == [0, 0, 0, 1, 1]
    assert out["net"].tolist()[:5] == [-1, -1, 0, 1, 1]
    assert np.isnan(out["satisfied"].iloc[5]) and np.isnan(out["net"].iloc[5])


def test_prepare_frame_rejects_bad_input():
    f = pd.DataFrame({c: [1] for c in an.REQUIRED_COLUMNS} | {"satisfaction": [7]})
    with pytest.raises(an.SurveyDataError, match="outside 1..5"):
        an.prepare_frame(f)
    with pytest.raises(an.SurveyDataError, match="lacks columns"):
        an.prepare_frame(f.drop(columns=["service"]))


def _cells(rows):
    est = pd.DataFrame(rows, columns=["estimate", "se", "n", "n_eff"])
    return est.assign(ci_low=np.nan, ci_high=np.nan)


def test_nchs_rules_by_hand():
    """NCHS Data Presentation Standards for Proportions (Parker et al. 2017), worked by hand.

    design n_eff = p (1 - p) / se^2 (at most n); the rule's n_eff = min(design, Kish).
    A: n = 29 < 30 -> suppressed (n).
    B: p 0.5, se 0.05, n 30: design 0.25 / 0.0025 = 100 -> 30; Kish 25 -> n_eff 25 < 30.
    C: p 0.1, se 0.03, n 100: design 0.09 / 0.0009 = 100; Korn-Graubard = Clopper-Pearson for
       10 of 100 = 0.04900 to 0.17622 (R binom.test(10, 100)); width 0.1272 is over 0.05 and
       under 0.30, relative 1.272 <= 1.30, complement 0.141: published, no flag.
    D: p 0.05, se sqrt(0.05 x 0.95 / 100), n 100: Clopper-Pearson for 5 of 100 = 0.01643 to
       0.11283 (binom.test(5, 100)); width 0.0964, relative 1.93 > 1.30 -> suppressed.
    E: p 0.5, se 0.01, n 2500: width about 2 x 1.96 x 0.01 = 0.039 <= 0.05 -> published.
    F: p 0.5, se 0.08, n 40: design n_eff 39; width at least the Wald 0.31 >= 0.30 ->
       suppressed.
    G: p 0, se 0, n 40: n_eff = n = 40; the width rules do not apply at 0%: published, review.
    """
    rows = [
        (0.5, 0.05, 29, 29.0),
        (0.5, 0.05, 30, 25.0),
        (0.1, 0.03, 100, 100.0),
        (0.05, math.sqrt(0.05 * 0.95 / 100), 100, 100.0),
        (0.5, 0.01, 2500, 2500.0),
        (0.5, 0.08, 40, 40.0),
        (0.0, 0.0, 40, 40.0),
    ]
    out = an.apply_disclosure(_cells(rows), min_n=30)
    assert out["suppressed"].tolist() == [True, True, False, True, False, True, False]
    assert out["status"].tolist() == [
        "suppressed (n<30)",
        "suppressed (effective n<30)",
        "",
        "suppressed (CI wider than 130% of the estimate)",
        "",
        "suppressed (CI 30% wide or more)",
        "review (0% or 100%)",
    ]
    assert out.loc[2, "ci_low"] == pytest.approx(0.04900469, abs=1e-7)
    assert out.loc[2, "ci_high"] == pytest.approx(0.1762226, abs=1e-7)
    assert out.loc[2, "n_eff"] == pytest.approx(100.0)
    # deff = n se^2 / (p (1 - p)) = 100 x 0.0009 / 0.09 = 1.0
    assert out.loc[2, "deff"] == pytest.approx(1.0)
    # CI at 0%: Clopper-Pearson upper = 1 - 0.025^(1/40) = 0.0881
    assert out.loc[6, "ci_high"] == pytest.approx(1 - 0.025 ** (1 / 40))
    assert out.loc[6, "unstable"] and not out.loc[2, "unstable"]
    assert out.loc[0, "n"] == 29 and np.isnan(out.loc[0, "estimate"])  # counts stay


def test_korn_graubard_is_clopper_pearson_by_the_f_identity():
    # Clopper-Pearson lower bound for x of n: x / (x + (n - x + 1) F(0.975; 2(n - x + 1), 2x))
    from scipy.stats import f

    x, n = 10, 100
    lower = x / (x + (n - x + 1) * f.ppf(0.975, 2 * (n - x + 1), 2 * x))
    upper = (
        (x + 1)
        * f.ppf(0.975, 2 * (x + 1), 2 * (n - x))
        / (n - x + (x + 1) * f.ppf(0.975, 2 * (x + 1), 2 * (n - x)))
    )
    lo, hi = an.korn_graubard(np.array([0.1]), np.array([100.0]))
    assert lo[0] == pytest.approx(lower, rel=1e-9) and hi[0] == pytest.approx(upper, rel=1e-9)
    # finite df: the effective size is scaled by (t_{n-1} / t_df)^2, here (t_99 / t_10)^2 < 1,
    # so the interval widens
    lo10, hi10 = an.korn_graubard(np.array([0.1]), np.array([100.0]), np.array([100.0]), df=10)
    assert lo10[0] < lo[0] and hi10[0] > hi[0]


def test_p_094_and_006_with_the_same_se_are_treated_alike():
    # se 0.02, n 500: design n_eff = 0.06 x 0.94 / 0.0004 = 141 for both. The Korn-Graubard
    # intervals mirror each other (low of 6% = 1 - high of 94%), width the same. 6%: width over
    # 130% of the estimate -> suppressed; 94%: the same width over 130% of its complement -> also
    # suppressed (COMPLEMENT_RULE "suppress"; the old RSE rule flagged only 6%: RSE 33% vs 2%).
    out = an.apply_disclosure(_cells([(0.06, 0.02, 500, 500.0), (0.94, 0.02, 500, 500.0)]))
    raw_lo, raw_hi = an.share_interval(
        np.array([0.06, 0.94]), np.array([0.02] * 2), np.array([500.0] * 2)
    )
    assert raw_lo[0] == pytest.approx(1 - raw_hi[1]) and raw_hi[0] == pytest.approx(1 - raw_lo[1])
    width = raw_hi[0] - raw_lo[0]
    assert 0.05 < width < 0.30 and width / 0.06 > 1.3
    assert out["suppressed"].tolist() == [True, True]
    assert out["n_eff_design"].isna().all()  # blanked with the figure
    # NCHS as published: 6% suppressed, 94% published for statistical review
    nchs = an.COMPLEMENT_RULE
    try:
        an.COMPLEMENT_RULE = "review"
        strict = an.apply_disclosure(_cells([(0.06, 0.02, 500, 500.0), (0.94, 0.02, 500, 500.0)]))
    finally:
        an.COMPLEMENT_RULE = nchs
    assert strict["suppressed"].tolist() == [True, False] and strict.loc[1, "unstable"]


def test_logit_interval_stays_inside_0_1_where_wald_does_not():
    # p 0.02, se 0.015: Wald 0.02 -/+ 1.96 x 0.015 = -0.0094 .. 0.0494 (leaves 0..1).
    # logit: log(0.02 / 0.98) = -3.8918; se on logit 0.015 / (0.02 x 0.98) = 0.7653;
    # -3.8918 -/+ 1.95996 x 0.7653 = -5.3918 .. -2.3918 -> 0.00454 .. 0.08379
    lo, hi = an.logit_interval(np.array([0.02]), np.array([0.015]))
    assert lo[0] == pytest.approx(1 / (1 + math.exp(5.3918)), rel=1e-3)
    assert hi[0] == pytest.approx(1 / (1 + math.exp(2.3918)), rel=1e-3)
    assert 0 < lo[0] < 0.02 < hi[0] < 1


def test_nchs_example_cell_kish_n_eff_166_is_suppressed():
    # 30 respondents, 29 weigh 1 and one weighs 100: Kish n_eff = 129^2 / (29 + 100^2)
    # = 16,641 / 10,029 = 1.66 < 30 -> suppressed although n = 30 >= min_n.
    rows = []
    for i in range(30):
        rows.append(
            {
                "respondent_id": i + 1,
                "district_pcode": "PK501",
                "psu": f"P{i % 6}",
                "weight": 100.0 if i == 0 else 1.0,
                "service": "bhu",
                "satisfaction": float(1 + i % 5),
            }  # fmt: skip
        )
    frame = pd.DataFrame(rows)
    est = an.service_estimates(frame, SERVICES.iloc[:1])
    cell = est[(est.service == "bhu") & (est.measure == "satisfied")].iloc[0]
    assert cell["n"] == 30 and cell["suppressed"]
    assert cell["status"] == "suppressed (effective n<30)"
    counts = an.cell_respondents(an.design_for(an.prepare_frame(frame)), np.ones(30, bool))
    assert counts["n_eff"].iloc[0] == pytest.approx(16641 / 10029)
    assert round(16641 / 10029, 2) == 1.66


def test_pooled_cells_count_respondents_not_ratings():
    # 200 respondents each rate both services: 400 ratings, 200 respondents in the pool
    rows = []
    for i in range(200):
        for svc in ("bhu", "hospital"):
            rows.append(
                {
                    "respondent_id": i + 1,
                    "district_pcode": "PK501",
                    "psu": f"P{i // 10}",
                    "weight": 1.0,
                    "service": svc,
                    "satisfaction": float(1 + i % 5),
                }  # fmt: skip
            )
    est = an.service_estimates(pd.DataFrame(rows), SERVICES)
    pooled = est[(est.service == "all") & (est.measure == "satisfied")].iloc[0]
    assert pooled["n"] == 200 and pooled["n_ratings"] == 400
    assert pooled["n_eff"] <= 200 and not pooled["suppressed"]


def test_tied_districts_share_a_rank_competition_style():
    ranks = an.rank_lowest_first(pd.Series([0.5, 0.4, 0.5, 0.6, np.nan]))
    # 40% -> 1; the two 50% tie at 2; 60% -> 4 (not 3); missing -> no rank
    assert ranks.tolist()[:4] == [2, 1, 2, 4] and ranks.isna().tolist()[4]


def test_compare_waves_z_test():
    cur = pd.DataFrame({"k": ["a", "b"], "estimate": [0.60, 0.5], "se": [0.03, 0.01]})
    prev = pd.DataFrame({"k": ["a", "b"], "estimate": [0.55, np.nan], "se": [0.04, np.nan]})
    out = an.compare_waves(cur, prev, ["k"]).set_index("k")
    # z = 0.05 / sqrt(0.03^2 + 0.04^2) = 0.05 / 0.05 = 1 -> p = 2 (1 - Phi(1)) = 0.3173
    assert out.loc["a", "z"] == pytest.approx(1.0)
    assert out.loc["a", "p_value"] == pytest.approx(0.31731050786291415)
    assert not out.loc["a", "significant"]
    assert np.isnan(out.loc["b", "change"])


def test_select_wave():
    waves = [dt.date(2022, 12, 1), dt.date(2023, 6, 1)]
    assert an.select_wave(waves, "2023-03") == dt.date(2022, 12, 1)
    assert an.select_wave(waves, "2023-06") == dt.date(2023, 6, 1)
    assert an.select_wave(waves, "2022-11") is None


def test_complete_frame_adds_non_users():
    frame = _frame()
    users = frame[frame["respondent_id"] > 3]
    out = an.complete_frame(users, frame.drop(columns=["service", "satisfaction"]))
    assert len(out) == len(frame)
    assert out["service"].isna().sum() == 3


def test_service_estimates_suppress_and_pool():
    f = an.prepare_frame(_frame())
    est = an.service_estimates(f, SERVICES, min_n=30)
    bhu = est[(est.service == "bhu") & (est.measure == "satisfied")].iloc[0]
    # by hand: the weighted share of bhu ratings 4-5
    sub = f[f.service == "bhu"]
    expected = (sub.weight * sub.satisfied).sum() / sub.weight.sum()
    assert bhu["estimate"] == pytest.approx(expected)
    assert bhu["n"] == len(sub)
    hosp = est[(est.service == "hospital") & (est.measure == "satisfied")].iloc[0]
    assert hosp["n"] < 30 and hosp["suppressed"] and np.isnan(hosp["estimate"])
    net = est[(est.service == "hospital") & (est.measure == "net")].iloc[0]
    assert net["suppressed"] and net["status"] == "suppressed (n<30)"
    assert set(est.service) == {"bhu", "hospital", "all"}
    assert est[est.measure == "satisfied"]["ci_low"].dropna().ge(0).all()


def test_district_estimates_rank_and_suppression():
    f = an.prepare_frame(_frame())
    d = an.district_estimates(f, ["bhu", "hospital"], DISTRICTS, min_n=30)
    assert len(d) == 4
    by = d.set_index("pcode")
    assert by.loc["PK503", "suppressed"]  # 20 ratings < 30
    assert by.loc["PK504", "n"] == 0 and by.loc["PK504", "suppressed"]
    pub = d[d.estimate.notna()]
    assert sorted(pub["rank"].tolist()) == [1, 2]
    assert pub.sort_values("estimate")["rank"].tolist() == [1, 2]


def test_analyse_end_to_end_has_no_respondent_rows():
    f1 = _frame(seed=3)
    f0 = _frame(seed=4).assign(wave=dt.date(2024, 6, 1))
    res = an.analyse(
        "health",
        "2025-03",
        SERVICES,
        DISTRICTS,
        {dt.date(2024, 6, 1): f0, dt.date(2024, 12, 1): f1},
        min_n=30,
    )
    assert res.available and res.wave == dt.date(2024, 12, 1)
    assert res.previous_wave == dt.date(2024, 6, 1)
    for table in (res.estimates, res.changes, res.districts, res.drivers, res.trend):
        assert "respondent_id" not in table.columns
        assert len(table) < len(f1)
    assert not res.notes, res.notes
    assert set(res.drivers["label"]) >= {"Waiting time", "Staff behaviour"}
    assert res.headline_satisfaction is not None


def test_analyse_before_first_wave():
    res = an.analyse("health", "2022-01", SERVICES, DISTRICTS, {dt.date(2024, 12, 1): _frame()})
    assert not res.available and res.wave is None
    assert res.first_wave == dt.date(2024, 12, 1)
    assert res.headline_satisfaction is None


def test_analyse_rejects_bad_min_n():
    with pytest.raises(ValueError, match="min_n"):
        an.analyse("health", "2025-03", SERVICES, DISTRICTS, {}, min_n=0)


# ---------------------------------------------------------------------------- presentation
def test_present_outputs_have_no_respondent_rows_and_show_suppression():
    from helpers.present import survey as ps

    f1 = _frame(seed=3)
    res = an.analyse("health", "2025-03", SERVICES, DISTRICTS, {dt.date(2024, 12, 1): f1}, min_n=30)
    objs = [ps.survey_meta(res), ps.survey_key_messages(res), ps.survey_headline(res)]
    for fn in (
        ps.service_table,
        ps.change_table,
        ps.district_table,
        ps.drivers_table,
        ps.district_map,
        ps.district_chart,
        ps.drivers_chart,
        ps.service_chart,
        ps.trend_chart,
        ps.methods_note,
    ):
        objs.extend(fn(res))
    html = "".join(o._repr_mimebundle_().get("text/html", "") for o in objs)
    assert "respondent_id" not in html
    assert "suppressed (n&lt;30)" in html  # Bannu (20 ratings) and Batagram (none)
    messages = objs[1].extra["application/vnd.kp.key-messages+json"]["messages"]
    assert any("Too few respondents rated hospitals" in m for m in messages)
    assert objs[2].extra["application/vnd.kp.headline+json"]["satisfaction"] is not None


def test_present_before_first_wave_says_so():
    from helpers.present import survey as ps

    res = an.analyse("health", "2022-01", SERVICES, DISTRICTS, {dt.date(2024, 12, 1): _frame()})
    msgs = ps.survey_key_messages(res).extra["application/vnd.kp.key-messages+json"]["messages"]
    assert "No citizen survey wave had been fielded by January 2022" in msgs[0]
    assert "December 2024" in msgs[0]
    assert ps.service_table(res) == [] and ps.district_map(res) == []
    assert ps.survey_headline(res).extra["application/vnd.kp.headline+json"]["satisfaction"] is None
    assert ps.survey_headline(res).extra["application/vnd.kp.headline+json"]["detail"] == {
        "previous_wave": None,
        "changes": [],
    }


def test_fpc_only_when_the_instrument_counts_psus():
    # KP: stratum_population counts persons (50,000 here) -> no FPC at all
    f = an.prepare_frame(_frame())
    kp = an.design_for(f)
    assert kp.fpc is None
    assert an.design_words()["fpc"] is False and an.design_words()["fpc_counts"] == "persons"
    # the same design with N_h = 16 PSUs per district (8 sampled: f_h = 0.5) has
    # variance x (1 - 0.5): SE x sqrt(0.5)
    import dataclasses

    from helpers.data import survey_instrument as si

    inst = si.active()
    psus = dataclasses.replace(inst, design=dataclasses.replace(inst.design, fpc_counts="psus"))
    g = f.assign(stratum_population=16)
    with_fpc = an.design_for(g, psus)
    se0 = kp.mean("satisfied")["se"].iloc[0]
    se1 = with_fpc.mean("satisfied")["se"].iloc[0]
    assert se1 == pytest.approx(se0 * math.sqrt(0.5))


def test_breakdowns_by_gender_and_area_use_the_full_design():
    f = an.prepare_frame(_frame())
    b = an.breakdown_estimates(f, SERVICES, "gender")
    assert set(b["level"]) == {"female", "male"} and set(b["service"]) == {"bhu", "hospital", "all"}
    bhu_f = b[(b.service == "bhu") & (b.level == "female")].iloc[0]
    sub = f[(f.service == "bhu") & (f.gender == "female")]
    assert bhu_f["n"] == sub["respondent_id"].nunique()
    if not bhu_f["suppressed"]:
        assert bhu_f["estimate"] == pytest.approx(
            (sub.weight * sub.satisfied).sum() / sub.weight.sum()
        )
    # the domain keeps every PSU: same estimate as a domain mask on the full design
    d = an.design_for(f)
    mask = ((f.service == "bhu") & (f.gender == "female")).to_numpy()
    assert d.mean("satisfied", domain=mask)["estimate"].iloc[0] == pytest.approx(
        (sub.weight * sub.satisfied).sum() / sub.weight.sum()
    )
    hosp = b[b.service == "hospital"]
    assert hosp["suppressed"].all()  # about 10 hospital ratings a gender: below min_n


def test_logit_setting_gives_the_logit_interval_and_korn_graubard_at_the_edges():
    p, se, n = np.array([0.02, 0.0]), np.array([0.015, 0.0]), np.array([400.0, 40.0])
    lo, hi = an.share_interval(p, se, n, method="logit")
    lg_lo, lg_hi = an.logit_interval(p[:1], se[:1])
    assert lo[0] == pytest.approx(lg_lo[0]) and hi[0] == pytest.approx(lg_hi[0])
    # at 0% the logit interval does not exist: Korn-Graubard upper 1 - 0.025^(1/40)
    assert lo[1] == 0.0 and hi[1] == pytest.approx(1 - 0.025 ** (1 / 40))
    with pytest.raises(ValueError, match="korn-graubard"):
        an.share_interval(p, se, n, method="wald")


def test_key_message_says_why_a_big_cell_is_not_published():
    from helpers.present import survey as ps

    f = _frame()
    # make every bhu respondent in PSU 0 of each district weigh 400 (the rest 1): the share's
    # effective n collapses although n stays large
    f["weight"] = np.where(f["psu"].str.endswith("-0") & (f["service"] == "bhu"), 400.0, 1.0)
    res = an.analyse("health", "2025-03", SERVICES, DISTRICTS, {dt.date(2024, 12, 1): f})
    bhu = res.estimates[(res.estimates.service == "bhu") & (res.estimates.measure == "satisfied")]
    row = bhu.iloc[0]
    used = f[f["service"] == "bhu"]
    kish = used["weight"].sum() ** 2 / (used["weight"] ** 2).sum()  # by hand, about 24
    assert row["n"] == len(used) >= 30 and kish < 30
    assert row["suppressed"] and row["status"] == "suppressed (effective n<30)"
    msgs = ps.survey_key_messages(res).extra["application/vnd.kp.key-messages+json"]["messages"]
    assert any(
        "too uncertain to publish" in m and f"{len(used)} respondents; effective n<30" in m
        for m in msgs
    )


def test_title_block_dates_the_wave_and_leaves_out_an_as_of_without_figures():
    """'data as of survey wave December 2022' read oddly; with no figures there is no date."""
    import dataclasses

    from helpers.present import survey as ps
    from helpers.present.display import META_MIME

    res = an.analyse(
        "health", "2025-03", SERVICES, DISTRICTS, {dt.date(2024, 12, 1): _frame(seed=3)}, min_n=30
    )
    meta = ps.survey_meta(res)
    assert meta.extra[META_MIME]["as_of"] == "December 2024 (survey wave)"
    assert meta.plain.endswith("(data as of December 2024 (survey wave))")
    for empty in (
        dataclasses.replace(res, wave=None),
        dataclasses.replace(
            res, services=res.services.iloc[0:0], estimates=res.estimates.iloc[0:0]
        ),
    ):
        meta = ps.survey_meta(empty)
        assert meta.extra[META_MIME]["as_of"] == ""
        assert "as of" not in meta.plain and "as of" not in meta.html
        assert "survey wave" not in meta.html
