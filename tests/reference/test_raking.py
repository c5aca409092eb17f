"""Raking (calibration to known population margins) against hand computations.

Reference: R ``survey::rake`` (Lumley), i.e. iterative proportional fitting of the weights
(Deming & Stephan 1940; the raking-ratio estimator of Deville & Särndal 1992). The worked
example below is what

    d <- data.frame(gender = c("f","f","f","m","m","m","m","m"),
                    area   = c("u","u","r","u","r","r","r","r"),
                    y      = c(1, 1, 0, 1, 1, 0, 0, 0), w = 10)
    des <- svydesign(id = ~1, weights = ~w, data = d)
    r <- rake(des, list(~gender, ~area),
              list(data.frame(gender = c("f", "m"), Freq = c(60, 40)),
                   data.frame(area = c("u", "r"), Freq = c(50, 50))),
              control = list(maxit = 100, epsilon = 1e-12))
    svymean(~y, r)

computes (R's default control, epsilon = 1 on weighted counts and 10 passes, stops after the
second pass here, before convergence; with the tight control it converges to the numbers
below). The expected numbers are computed by hand, not by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers.analysis.survey_design import RakingError, SurveyDesign, rake

ROWS = [
    ("f", "u", 1),
    ("f", "u", 1),
    ("f", "r", 0),
    ("m", "u", 1),
    ("m", "r", 1),
    ("m", "r", 0),
    ("m", "r", 0),
    ("m", "r", 0),
]
GENDER = pd.DataFrame({"gender": ["f", "m"], "total": [60.0, 40.0]})
AREA = pd.DataFrame({"area": ["u", "r"], "total": [50.0, 50.0]})
MARGINS = [(["gender"], GENDER), (["area"], AREA)]

# By hand. Weighted sample table (design weight 10): f-u 20, f-r 10, m-u 10, m-r 40.
# Pass 1, gender: f x 60/30 = 2, m x 40/50 = 0.8 -> f-u 40, f-r 20, m-u 8, m-r 32;
#         area:   u x 50/48,  r x 50/52          -> f-u 41.667, f-r 19.231, m-u 8.333, m-r 30.769.
# Pass 2, gender: f x 60/60.897, m x 40/39.103   -> f-u 41.053, f-r 18.947, m-u 8.525, m-r 31.475;
#         area:   u x 50/49.577, r x 50/50.423   -> f-u 41.403, ... and so on.
# IPF keeps the sample's odds ratio (20 x 40) / (10 x 10) = 8, so the fixed point with margins
# f 60, m 40, u 50, r 50 is f-u = x, f-r = 60 - x, m-u = 50 - x, m-r = x - 10 with
#   x (x - 10) = 8 (60 - x)(50 - x)  <=>  7x^2 - 870x + 24000 = 0,
#   x = (870 - sqrt(84900)) / 14 = 41.330282 (the other root, 82.9, exceeds 60).
X = (870 - math.sqrt(84900)) / 14
CELL_TOTALS = {"fu": X, "fr": 60 - X, "mu": 50 - X, "mr": X - 10}
PER_PERSON = {"fu": X / 2, "fr": 60 - X, "mu": 50 - X, "mr": (X - 10) / 4}
# y = 1 for both f-u, the m-u and one m-r respondent:
#   mean = (X + (50 - X) + (X - 10) / 4) / 100 = (50 + (X - 10) / 4) / 100
MEAN = (50 + (X - 10) / 4) / 100  # 0.578326


def _data() -> pd.DataFrame:
    d = pd.DataFrame(ROWS, columns=["gender", "area", "y"])
    d["w"] = 10.0
    return d


def test_hand_numbers():
    assert X == pytest.approx(41.330282, abs=1e-6)
    assert MEAN == pytest.approx(0.578326, abs=1e-6)


def test_raked_weights_equal_the_hand_fixed_point():
    d = _data()
    w = rake(d, "w", MARGINS)
    cell = d["gender"] + d["area"]
    assert w == pytest.approx(cell.map(PER_PERSON).to_numpy(), abs=1e-9)
    for c, total in CELL_TOTALS.items():
        assert w[(cell == c).to_numpy()].sum() == pytest.approx(total, abs=1e-9)


def test_after_raking_the_weighted_margins_equal_the_totals():
    d = _data()
    w = rake(d, "w", MARGINS)
    assert pd.Series(w).groupby(d["gender"]).sum().to_dict() == pytest.approx({"f": 60, "m": 40})
    assert pd.Series(w).groupby(d["area"]).sum().to_dict() == pytest.approx({"u": 50, "r": 50})


def test_raked_mean_equals_hand_and_r_rake():
    des = SurveyDesign(_data(), weight="w").raked(MARGINS)
    res = des.mean("y").iloc[0]
    assert res["estimate"] == pytest.approx(MEAN, abs=1e-10)
    assert des.total("y").iloc[0]["estimate"] == pytest.approx(100 * MEAN, abs=1e-8)


def test_raked_standard_error_allows_for_the_calibration():
    """R's variance for a raked design residualises the influence values on the margins
    (svyrecvar: ten passes of x - w * ave(x / w, margin)); the passes converge to the residuals
    of an unweighted least-squares fit of x / w on the margin indicators, times w. By hand:
    influence z = w (y - mean) / 100; residualise z / w on (1, male, rural); SE =
    sqrt(n / (n - 1) * sum(e^2)) with e the residuals times w."""
    d = _data()
    des = SurveyDesign(d, weight="w").raked(MARGINS)
    w = d["gender"].add(d["area"]).map(PER_PERSON).to_numpy()
    z = w * (d["y"].to_numpy() - MEAN) / 100
    design = np.column_stack([np.ones(8), d["gender"] == "m", d["area"] == "r"]).astype(float)
    u = z / w
    resid = u - design @ np.linalg.lstsq(design, u, rcond=None)[0]
    e = resid * w
    se = math.sqrt(8 / 7 * ((e - e.mean()) ** 2).sum())
    assert des.mean("y").iloc[0]["se"] == pytest.approx(se, rel=1e-6)
    # smaller than without calibration (the margins carry information)
    plain = SurveyDesign(d.assign(w=w), weight="w").mean("y").iloc[0]["se"]
    assert se < plain


def test_independent_sample_is_exact_after_one_pass():
    """A sample whose table is proportional to the product of its margins: one pass gives the
    fixed point; each weight is design weight x gender factor x age factor. By hand: sample
    (weight 1) gender f 2, m 2; age young 2, old 2 (one of each combination); totals f 30, m 70,
    young 40, old 60 -> f-young 0.3 x 40 = 12, f-old 18, m-young 28, m-old 42."""
    d = pd.DataFrame({"g": ["f", "f", "m", "m"], "a": ["y", "o", "y", "o"], "w": 1.0})
    margins = [
        (["g"], pd.DataFrame({"g": ["f", "m"], "total": [30.0, 70.0]})),
        (["a"], pd.DataFrame({"a": ["y", "o"], "total": [40.0, 60.0]})),
    ]
    assert rake(d, "w", margins, maxit=1) == pytest.approx([12, 18, 28, 42])


def test_two_way_margin_district_by_gender_and_age_band():
    """Margins as a government gives them: district x gender and age band (a KP-like design
    with strata and PSUs). After raking every margin cell equals its total."""
    rng = np.random.default_rng(11)
    n = 600
    d = pd.DataFrame(
        {
            "district": rng.choice(["D1", "D2", "D3"], n),
            "gender": rng.choice(["female", "male"], n, p=[0.4, 0.6]),
            "age": rng.choice(["18-29", "30-44", "45+"], n),
            "y": rng.integers(0, 2, n).astype(float),
        }
    )
    d["psu"] = d["district"] + "-" + rng.integers(0, 5, n).astype(str)
    d["w"] = 100.0 * (1 + (d["district"] == "D2"))
    dg = pd.DataFrame(
        [
            (dd, g, t)
            for dd, g, t in [
                ("D1", "female", 10_000),
                ("D1", "male", 9_000),
                ("D2", "female", 16_000),
                ("D2", "male", 15_000),
                ("D3", "female", 5_000),
                ("D3", "male", 5_000),
            ]
        ],
        columns=["district", "gender", "total"],
    )
    age = pd.DataFrame({"age": ["18-29", "30-44", "45+"], "total": [25_000.0, 20_000.0, 15_000.0]})
    des = SurveyDesign(d, weight="w", strata="district", psu="psu").raked(
        [(["district", "gender"], dg), (["age"], age)]
    )
    got = pd.Series(des.w).groupby([d["district"], d["gender"]]).sum()
    for _, r in dg.iterrows():
        assert got[(r["district"], r["gender"])] == pytest.approx(r["total"], rel=1e-9)
    got_age = pd.Series(des.w).groupby(d["age"]).sum()
    assert got_age.to_dict() == pytest.approx(
        dict(zip(age["age"], age["total"], strict=True)), rel=1e-9
    )
    est = des.mean("y").iloc[0]
    assert 0 < est["se"] < 0.05


def test_impossible_raking_is_refused():
    d = _data()
    with pytest.raises(RakingError, match="without respondents"):
        rake(d, "w", [(["area"], pd.DataFrame({"area": ["u", "r", "x"], "total": [1.0, 1, 1]}))])
    with pytest.raises(RakingError, match="without a population total"):
        rake(d, "w", [(["area"], pd.DataFrame({"area": ["u"], "total": [1.0]}))])
