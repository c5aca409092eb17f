"""PEFA 2016 budget reliability (PI-1, PI-2) against worked examples computed by hand.

Reference: PEFA Framework 2016, PI-1 aggregate expenditure outturn and PI-2 expenditure
composition outturn (2.1 by administrative head, 2.2 by economic classification). Every
expected value below is worked out in the comment next to it, never taken from the code.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers import budget
from helpers.budget import (
    aggregate_outturn,
    composition_variance,
    pefa_department,
    pefa_pi1_score,
    pefa_pi2_score,
    pefa_province,
)
from helpers.data.calendar import fy_months

# ---------------------------------------------------------------------------------------------
# PI-1 aggregate outturn
# ---------------------------------------------------------------------------------------------


def test_public_names_are_reexported():
    for name in budget.__all__:
        assert hasattr(budget, name)
    assert {"aggregate_outturn", "composition_variance", "pefa_pi1_score", "pefa_pi2_score"} <= set(
        budget.__all__
    )


def test_aggregate_outturn_scalars():
    # 93 / 100 = 0.93
    assert aggregate_outturn(93.0, 100.0) == pytest.approx(0.93)
    # above budget: 1,150 / 1,000 = 1.15
    assert aggregate_outturn(1150, 1000) == pytest.approx(1.15)


def test_aggregate_outturn_sums_array_likes():
    # actual 90 + 250 + 260 = 600; budget 100 + 200 + 300 = 600 -> 1.0
    assert aggregate_outturn([90, 250, 260], [100, 200, 300]) == pytest.approx(1.0)
    # 45 + 45 = 90 over 50 + 50 = 100 -> 0.9
    assert aggregate_outturn(pd.Series([45.0, 45.0]), pd.Series([50.0, 50.0])) == pytest.approx(0.9)


@pytest.mark.parametrize("budget_value", [0, -10, math.nan])
def test_aggregate_outturn_rejects_non_positive_or_missing_budget(budget_value):
    with pytest.raises(ValueError):
        aggregate_outturn(50, budget_value)


def test_aggregate_outturn_rejects_missing_actual():
    with pytest.raises(ValueError):
        aggregate_outturn([10, math.nan], [10, 10])


# ---------------------------------------------------------------------------------------------
# PI-2 composition variance
# ---------------------------------------------------------------------------------------------


def test_composition_variance_worked_example_equal_totals():
    # budget [100, 200, 300], actual [90, 250, 260]: sumA = 600, sumB = 600, AdjB = B.
    # |90-100| + |250-200| + |260-300| = 10 + 50 + 40 = 100; 100 / 600 = 0.16667
    a = pd.Series([90.0, 250.0, 260.0], index=["A01", "A03", "A09"])
    b = pd.Series([100.0, 200.0, 300.0], index=["A01", "A03", "A09"])
    assert composition_variance(a, b) == pytest.approx(100 / 600)


def test_composition_variance_adjusts_budget_to_actual_total():
    # budget [100, 100], actual [120, 60]: sumA = 180, sumB = 200, AdjB = B x 0.9 = [90, 90].
    # |120-90| + |60-90| = 60; 60 / 180 = 0.3333
    a = pd.Series([120.0, 60.0], index=["x", "y"])
    b = pd.Series([100.0, 100.0], index=["x", "y"])
    assert composition_variance(a, b) == pytest.approx(1 / 3)


def test_composition_variance_uniform_shortfall_is_zero():
    # every head spends 80% of its budget: AdjB = 0.8 B = A -> variance 0
    b = pd.Series([50.0, 150.0, 300.0], index=list("abc"))
    assert composition_variance(b * 0.8, b) == pytest.approx(0.0)


def test_composition_variance_aligns_by_label_not_position():
    # same as the worked example with the actual series in a different order
    a = pd.Series([260.0, 90.0, 250.0], index=["A09", "A01", "A03"])
    b = pd.Series([100.0, 200.0, 300.0], index=["A01", "A03", "A09"])
    assert composition_variance(a, b) == pytest.approx(100 / 600)


def test_composition_variance_zero_budget_head_counts_in_full():
    # budget [100, 0], actual [80, 20]: sumA = sumB = 100, AdjB = [100, 0];
    # |80-100| + |20-0| = 40; 40 / 100 = 0.4
    a = pd.Series([80.0, 20.0], index=["a", "b"])
    b = pd.Series([100.0, 0.0], index=["a", "b"])
    assert composition_variance(a, b) == pytest.approx(0.4)


@pytest.mark.parametrize(
    "actual, budget_series",
    [
        (pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([1.0, 2.0], index=["a", "c"])),
        (pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([1.0, 2.0, 3.0], index=list("abc"))),
        (pd.Series([], dtype="float64"), pd.Series([], dtype="float64")),
        (pd.Series([1.0, 2.0], index=["a", "a"]), pd.Series([1.0, 2.0], index=["a", "a"])),
        (pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([0.0, 0.0], index=["a", "b"])),
        (pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([5.0, -1.0], index=["a", "b"])),
        (pd.Series([1.0, math.nan], index=["a", "b"]), pd.Series([1.0, 2.0], index=["a", "b"])),
        (pd.Series([0.0, 0.0], index=["a", "b"]), pd.Series([1.0, 2.0], index=["a", "b"])),
    ],
    ids=[
        "different-labels",
        "different-length",
        "empty",
        "duplicated-labels",
        "zero-total-budget",
        "negative-budget",
        "missing-actual",
        "zero-total-actual",
    ],
)
def test_composition_variance_rejects_bad_input(actual, budget_series):
    with pytest.raises(ValueError):
        composition_variance(actual, budget_series)


def test_composition_variance_needs_series():
    with pytest.raises(ValueError):
        composition_variance([1, 2], [1, 2])


# ---------------------------------------------------------------------------------------------
# Scores: the two-of-three rule
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outturns, expected",
    [
        ([1.00, 1.00, 1.00], "A"),
        ([0.95, 1.05, 0.50], "A"),  # both edges inside A, two of three
        ([1.00, 0.50, 2.00], "D"),  # only one year in any band
        ([1.00, 1.02, 0.50], "A"),  # one bad year does not matter
        ([0.949, 1.051, 1.00], "B"),  # only one year in 95-105; all three in 90-110
        ([0.90, 1.10, 0.50], "B"),  # B edges inclusive
        ([0.97, 0.91, 0.80], "B"),  # A: 1 year, B: 2 years
        ([0.85, 1.15, 2.00], "C"),  # C edges inclusive
        ([0.849, 1.151, 1.00], "D"),  # only one year inside 85-115
        ([0.80, 0.70, 1.30], "D"),
    ],
)
def test_pi1_score(outturns, expected):
    assert pefa_pi1_score(outturns) == expected


def test_pi1_edges_from_computed_ratios():
    # 95/100 and 105/100 computed in floating point are still inside A
    o = [aggregate_outturn(95, 100), aggregate_outturn(105, 100), aggregate_outturn(50, 100)]
    assert pefa_pi1_score(o) == "A"
    # 19/20 and 21/20 (0.95, 1.05) likewise
    assert pefa_pi1_score([19 / 20, 21 / 20, 0.0]) == "A"


@pytest.mark.parametrize(
    "variances, expected",
    [
        ([0.00, 0.01, 0.04], "A"),
        ([0.049, 0.049, 0.50], "A"),
        ([0.05, 0.05, 0.01], "B"),  # exactly 5% is not below 5%: only one year < 5%
        ([0.0999, 0.12, 0.20], "C"),  # A: 0, B: 1, C: 2
        ([0.10, 0.10, 0.01], "C"),  # exactly 10% is not below 10%
        ([0.149, 0.149, 0.30], "C"),
        ([0.15, 0.20, 0.01], "D"),  # one year in each band at most
        ([0.30, 0.40, 0.50], "D"),
    ],
)
def test_pi2_score(variances, expected):
    assert pefa_pi2_score(variances) == expected


def test_pi2_score_on_worked_example():
    # the worked example (0.1667) twice and a perfect year: A: 1 (0.0 < 5%), B: 1, C: 1 -> D
    v = composition_variance(
        pd.Series([90.0, 250.0, 260.0], index=list("abc")),
        pd.Series([100.0, 200.0, 300.0], index=list("abc")),
    )
    assert pefa_pi2_score([v, v, 0.0]) == "D"


@pytest.mark.parametrize("values", [[], [1.0], [1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
def test_scores_need_exactly_three_years(values):
    with pytest.raises(ValueError, match="exactly 3"):
        pefa_pi1_score(values)
    with pytest.raises(ValueError, match="exactly 3"):
        pefa_pi2_score(values)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.1, "x"])
def test_scores_reject_bad_values(bad):
    with pytest.raises(ValueError):
        pefa_pi1_score([1.0, 1.0, bad])
    with pytest.raises(ValueError):
        pefa_pi2_score([0.0, 0.0, bad])


# ---------------------------------------------------------------------------------------------
# Department (PI-1, PI-2.2) and province (PI-1, PI-2.1) from warehouse-shaped frames
# ---------------------------------------------------------------------------------------------

YEARS = ["2022-23", "2023-24", "2024-25", "2025-26"]


def _frames(spend: dict[tuple[str, str, str], float], budgets: dict[tuple[str, str], float]):
    """Allocations from budgets[(department, object_class)] (same BE every year, current fund)
    and monthly rows spreading spend[(department, fiscal_year, object_class)] evenly over the
    twelve months of the year."""
    alloc = pd.DataFrame(
        [
            {
                "department": d,
                "fiscal_year": fy,
                "fund": "current",
                "object_class": oc,
                "budget_estimate": be,
                "revised_estimate": None,
                "revised_month": None,
            }
            for fy in YEARS
            for (d, oc), be in budgets.items()
        ]
    )
    monthly = pd.DataFrame(
        [
            {
                "department": d,
                "fiscal_year": fy,
                "month": m,
                "fund": "current",
                "object_class": oc,
                "release": amount / 12,
                "expenditure": amount / 12,
            }
            for (d, fy, oc), amount in spend.items()
            for m in fy_months(fy)
        ]
    )
    return alloc, monthly


def _department_case():
    # BE each year: A01 100, A03 100 (total 200).
    # 2022-23: A01 100, A03 90  -> outturn 190/200 = 0.95; AdjB = 0.95 x 100 = 95 each,
    #          variance (|100-95| + |90-95|) / 190 = 10/190 = 0.05263
    # 2023-24: A01 105, A03 105 -> outturn 1.05; variance 0
    # 2024-25: A01 150, A03 50  -> outturn 1.00; variance (50 + 50) / 200 = 0.5
    spend = {
        ("d", "2022-23", "A01"): 100.0,
        ("d", "2022-23", "A03"): 90.0,
        ("d", "2023-24", "A01"): 105.0,
        ("d", "2023-24", "A03"): 105.0,
        ("d", "2024-25", "A01"): 150.0,
        ("d", "2024-25", "A03"): 50.0,
        ("d", "2025-26", "A01"): 10.0,
        ("d", "2025-26", "A03"): 10.0,
    }
    return _frames(spend, {("d", "A01"): 100.0, ("d", "A03"): 100.0})


def test_pefa_department_worked_example():
    alloc, monthly = _department_case()
    res = pefa_department(alloc, monthly, "d", "2025-08")
    y = res.years.set_index("fiscal_year")
    assert list(y.index) == ["2022-23", "2023-24", "2024-25"]
    assert y["outturn"].tolist() == pytest.approx([0.95, 1.05, 1.00])
    assert y["variance"].tolist() == pytest.approx([10 / 190, 0.0, 0.5])
    # PI-1: 0.95, 1.05, 1.00 all inside 95-105 -> A
    assert res.pi1 == "A"
    # PI-2.2: below 5% only in 2023-24 (0.0); below 10% in 2022-23 (5.3%) and 2023-24 -> B
    assert res.pi2 == "B"
    assert res.pi2_dimension == "PI-2.2"


def test_pefa_department_uses_budget_estimate_not_revised():
    alloc, monthly = _department_case()
    alloc["revised_estimate"] = alloc["budget_estimate"] * 2  # would halve every outturn
    alloc["revised_month"] = pd.Timestamp("2023-01-01")
    res = pefa_department(alloc, monthly, "d", "2025-08")
    assert res.years["outturn"].tolist() == pytest.approx([0.95, 1.05, 1.00])


def test_pefa_department_fewer_than_three_years_not_scored():
    alloc, monthly = _department_case()
    # in March 2025 only 2022-23 and 2023-24 are completed
    res = pefa_department(alloc, monthly, "d", "2025-03")
    assert len(res.years) == 2
    assert res.pi1 is None and res.pi2 is None
    assert "three completed" in res.note


def test_pefa_department_missing_month_blocks_score_unless_allowed():
    alloc, monthly = _department_case()
    gap = pd.to_datetime(monthly["month"]) == pd.Timestamp("2023-11-01")
    monthly = monthly.loc[~gap]
    strict = pefa_department(alloc, monthly, "d", "2025-08")
    assert strict.pi1 is None and "missing" in strict.note
    assert strict.years.set_index("fiscal_year").loc["2023-24", "months_missing"] == 1
    loose = pefa_department(alloc, monthly, "d", "2025-08", require_complete=False)
    # 2023-24 on reported months: 210 x 11/12 = 192.5 -> outturn 0.9625 (still in A)
    assert loose.years.set_index("fiscal_year").loc["2023-24", "outturn"] == pytest.approx(0.9625)
    assert loose.pi1 == "A"
    assert "Provisional" in loose.note


def test_pefa_province_worked_example():
    # BE each year: department a 100, b 300 (total 400); one object class each.
    # 2022-23: a 90,  b 270 -> outturn 360/400 = 0.90; AdjB = 0.9 x B = A -> variance 0
    # 2023-24: a 100, b 300 -> outturn 1.00; variance 0
    # 2024-25: a 150, b 250 -> outturn 1.00; variance (50 + 50) / 400 = 0.25
    # PI-1: 1.00 twice inside 95-105 -> A; PI-2.1: 0 twice below 5% -> A
    spend = {
        ("a", "2022-23", "A01"): 90.0,
        ("b", "2022-23", "A01"): 270.0,
        ("a", "2023-24", "A01"): 100.0,
        ("b", "2023-24", "A01"): 300.0,
        ("a", "2024-25", "A01"): 150.0,
        ("b", "2024-25", "A01"): 250.0,
    }
    alloc, monthly = _frames(spend, {("a", "A01"): 100.0, ("b", "A01"): 300.0})
    res = pefa_province(alloc, monthly, "2025-07")
    y = res.years.set_index("fiscal_year")
    assert y["outturn"].tolist() == pytest.approx([0.9, 1.0, 1.0])
    assert y["variance"].tolist() == pytest.approx([0.0, 0.0, 0.25])
    assert res.pi1 == "A" and res.pi2 == "A"
    assert res.pi2_dimension == "PI-2.1"


# ---------------------------------------------------------------------------------------------
# Exclusions by chart-of-accounts role (PEFA 2016 Field Guide 1.1:7, 2.1:1, 2.2:1)
# ---------------------------------------------------------------------------------------------


def test_principal_over_run_alone_scores_a_on_pi1_and_pi2():
    # KP chart: A10 principal repayments, A07 interest. BE every year A01 100, A03 100,
    # A07 20, A10 50. Every year the department spends A01 100, A03 100, A07 20 as budgeted
    # and repays A10 150 of principal (three times its budget).
    # PI-1 leaves principal out (1.1:7): 220 / 220 = 100% each year -> A. Counting principal
    # it would be 370 / 270 = 137% -> D.
    # PI-2.2 (interest in, principal out): A = B on every head -> variance 0 -> A.
    years = ("2022-23", "2023-24", "2024-25")
    spend = {}
    for fy in years:
        spend |= {("d", fy, "A01"): 100.0, ("d", fy, "A03"): 100.0}
        spend |= {("d", fy, "A07"): 20.0, ("d", fy, "A10"): 150.0}
    budgets = {("d", "A01"): 100.0, ("d", "A03"): 100.0, ("d", "A07"): 20.0, ("d", "A10"): 50.0}
    alloc, monthly = _frames(spend, budgets)
    res = pefa_department(alloc, monthly, "d", "2025-08")
    y = res.years.set_index("fiscal_year")
    assert y["budget_estimate"].tolist() == pytest.approx([220.0] * 3)
    assert y["actual"].tolist() == pytest.approx([220.0] * 3)
    assert y["outturn"].tolist() == pytest.approx([1.0] * 3)
    assert y["variance"].tolist() == pytest.approx([0.0] * 3)
    assert y["heads"].tolist() == [3, 3, 3]  # A01, A03, A07 (interest stays in PI-2.2)
    assert res.pi1 == "A" and res.pi2 == "A"
    assert res.excluded["PI-1"] == ("A10",)
    assert res.excluded["PI-2.2"] == ("A10",)
    # the province (one department): PI-1 and PI-2.1 also A
    prov = pefa_province(alloc, monthly, "2025-08")
    assert prov.pi1 == "A" and prov.pi2 == "A"


def test_interest_is_in_pi2_2_and_out_of_pi2_1():
    # Department a: BE A01 100, A07 (interest) 100; b: BE A01 200. Every year a spends A01 100
    # and A07 150 (interest over-runs by 50); b spends 200.
    # PI-1: (250 + 200) / 400 = 112.5% -> C (85-115) every year.
    # PI-2.1 (by department, interest out, 2.1:1): a 100 / 100, b 200 / 200 -> variance 0 -> A.
    # PI-2.2 of a (interest in, 2.2:1): sum A / sum B = 250 / 200 = 1.25; AdjB 125, 125;
    # (|100 - 125| + |150 - 125|) / 250 = 20% -> D.
    spend = {}
    for fy in ("2022-23", "2023-24", "2024-25"):
        spend |= {("a", fy, "A01"): 100.0, ("a", fy, "A07"): 150.0, ("b", fy, "A01"): 200.0}
    alloc, monthly = _frames(spend, {("a", "A01"): 100.0, ("a", "A07"): 100.0, ("b", "A01"): 200.0})
    prov = pefa_province(alloc, monthly, "2025-08")
    assert prov.years["outturn"].tolist() == pytest.approx([1.125] * 3)
    assert prov.pi1 == "C"
    assert prov.years["variance"].tolist() == pytest.approx([0.0] * 3)
    assert prov.pi2 == "A"
    assert prov.excluded["PI-2.1"] == ("A10", "A07")
    dept = pefa_department(alloc, monthly, "a", "2025-08")
    assert dept.years["variance"].tolist() == pytest.approx([0.2] * 3)
    assert dept.pi2 == "D"


# ---------------------------------------------------------------------------------------------
# PI-2.1 with more than 20 heads (Field Guide, dimension 2.1, data requirements)
# ---------------------------------------------------------------------------------------------


def _many_heads(budgets: dict[str, float], actual: dict[str, float]):
    spend = {(d, fy, "A01"): actual[d] for fy in ("2022-23", "2023-24", "2024-25") for d in actual}
    return _frames(spend, {(d, "A01"): be for d, be in budgets.items()})


def test_22_heads_two_small_heads_swapping_spending_is_the_residual_line():
    # 20 heads h01..h20 with BE 100 each and 2 small heads s1, s2 with BE 10 each (total
    # 2,020). The 20 largest make up 2,000 / 2,020 = 99% >= 75%, and 20 is the minimum: s1
    # and s2 form one residual line with BE 20. Each year the large heads spend 100; s1 spends
    # 5 and s2 15 (they swap 5). Residual actual 20 = its budget: sum A = sum B = 2,020, AdjB = B,
    # variance 0 -> A. Head by head it would be (5 + 5) / 2,020 = 0.495%.
    budgets = {f"h{i:02d}": 100.0 for i in range(1, 21)} | {"s1": 10.0, "s2": 10.0}
    actual = {f"h{i:02d}": 100.0 for i in range(1, 21)} | {"s1": 5.0, "s2": 15.0}
    alloc, monthly = _many_heads(budgets, actual)
    res = pefa_province(alloc, monthly, "2025-08")
    assert res.years["heads"].tolist() == [21, 21, 21]  # 20 heads + the residual line
    assert res.years["residual_heads"].tolist() == [2, 2, 2]
    assert res.years["variance"].tolist() == pytest.approx([0.0] * 3, abs=1e-12)
    a, b, n = budget.pefa_heads(pd.Series(actual), pd.Series(budgets))
    assert n == 2
    assert a["(other heads)"] == pytest.approx(20.0) and b["(other heads)"] == pytest.approx(20.0)


def test_more_than_20_heads_keep_the_largest_making_up_75_percent():
    # 40 heads with BE 25 each (1,000). 20 heads make up only 50%; the 75% rule needs the
    # largest 30 (750 / 1,000). Ties are broken by name: g01..g30 kept, g31..g40 (BE 250)
    # form the residual line.
    # Actual: every head spends 25, except g01 spends 35 and g40 spends 15 (sum 1,000).
    # Kept heads: |35 - 25| = 10; residual actual 25 x 9 + 15 = 240 against 250: 10.
    # variance = (10 + 10) / 1,000 = 2%.
    budgets = {f"g{i:02d}": 25.0 for i in range(1, 41)}
    actual = dict(budgets) | {"g01": 35.0, "g40": 15.0}
    alloc, monthly = _many_heads(budgets, actual)
    res = pefa_province(alloc, monthly, "2025-08")
    assert res.years["heads"].tolist() == [31, 31, 31]
    assert res.years["residual_heads"].tolist() == [10, 10, 10]
    assert res.years["variance"].tolist() == pytest.approx([0.02] * 3)


def test_twenty_heads_or_fewer_are_all_assessed():
    # 20 heads: no residual line; h01 spends 110 and h02 90 -> variance 20 / 2,000 = 1%.
    budgets = {f"h{i:02d}": 100.0 for i in range(1, 21)}
    actual = dict(budgets) | {"h01": 110.0, "h02": 90.0}
    alloc, monthly = _many_heads(budgets, actual)
    res = pefa_province(alloc, monthly, "2025-08")
    assert res.years["residual_heads"].tolist() == [0, 0, 0]
    assert res.years["variance"].tolist() == pytest.approx([0.01] * 3)


# ---------------------------------------------------------------------------------------------
# PI-2.3 contingency (scoring table of dimension 2.3; Field Guide 2.3:3)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shares, expected",
    [
        ([0.02, 0.04, 0.06], "B"),  # the Field Guide's example: average 4%
        ([0.029, 0.029, 0.029], "A"),
        ([0.03, 0.03, 0.03], "B"),  # 3% is B (between 3% and 6%, inclusive)
        ([0.06, 0.06, 0.06], "B"),  # 6% inclusive
        ([0.061, 0.061, 0.061], "C"),
        ([0.10, 0.10, 0.10], "D"),  # C needs less than 10%
        ([0.0, 0.0, 0.27], "C"),  # average 9%
    ],
)
def test_pi23_score(shares, expected):
    assert budget.pefa_pi23_score(shares) == expected


def _contingency_profile(tmp_path):
    from helpers import profile

    (tmp_path / "departments.yaml").write_text("departments: []\n", encoding="utf-8")
    doc = {
        "name": "t",
        "government": {"name": "Government of T", "short": "T"},
        "currency": {"code": "PKR", "unit": "million"},
        "fiscal_year": {"start_month": 7, "label": "start-end"},
        "priority_areas": ["Health"],
        "registry": "departments.yaml",
        "chart_of_accounts": {
            "funds": ["current", "development"],
            "object_classes": [
                {"code": "A01", "name": "Employees", "role": "salary"},
                {"code": "A03", "name": "Operating", "role": "non_salary"},
                {"code": "CX", "name": "Contingency reserve", "role": "contingency"},
            ],
        },
    }
    return profile.use(profile.parse(doc, tmp_path))


def test_pi23_contingency_share_of_the_original_budget(tmp_path):
    # BE every year A01 60, A03 30, CX (contingency) 10: original budget 100.
    # Charged to contingency: 2, 4, 6 -> 2%, 4%, 6% of 100; average 4% -> B.
    # PI-2.2 leaves contingency out (2.2:1): A01 60 and A03 30 spent as budgeted -> 0 -> A.
    # PI-1 keeps it: 92, 94, 96 of 100 -> two years in 90-110 but only 96 in 95-105 -> B.
    years = ("2022-23", "2023-24", "2024-25")
    spend = {}
    for fy, c in zip(years, (2.0, 4.0, 6.0), strict=True):
        spend |= {("d", fy, "A01"): 60.0, ("d", fy, "A03"): 30.0, ("d", fy, "CX"): c}
    with _contingency_profile(tmp_path):
        alloc, monthly = _frames(spend, {("d", "A01"): 60.0, ("d", "A03"): 30.0, ("d", "CX"): 10.0})
        res = pefa_department(alloc, monthly, "d", "2025-08")
        assert res.years["contingency_share"].tolist() == pytest.approx([0.02, 0.04, 0.06])
        assert res.pi23 == "B"
        assert "4.0%" in res.pi23_note
        assert res.years["variance"].tolist() == pytest.approx([0.0] * 3, abs=1e-12)
        assert res.pi2 == "A"
        assert res.years["outturn"].tolist() == pytest.approx([0.92, 0.94, 0.96])
        assert res.pi1 == "B"
        prov = pefa_province(alloc, monthly, "2025-08")
        assert prov.pi23 == "B"


def test_pi23_not_assessed_without_a_contingency_line():
    alloc, monthly = _department_case()  # KP chart: no class with role contingency
    res = pefa_department(alloc, monthly, "d", "2025-08")
    assert res.pi23 is None
    assert "no contingency line" in res.pi23_note


@pytest.mark.parametrize("name", ["kp", "federal", "punjab"])
def test_every_profile_names_principal_and_interest_for_pefa(name):
    # KP's default chart (also the federal and Punjab profiles', which name no chart of their
    # own): A10 principal repayments, A07 interest. The federal budget-book mappings map
    # "PRINCIPAL REPAYMENTS OF LOANS" to A10 and "INTEREST PAYMENT" to A07.
    import yaml

    from helpers import paths, profile

    with profile.use(name):
        assert budget.pefa_excluded_classes("PI-1") == ("A10",)
        assert budget.pefa_excluded_classes("PI-2.1") == ("A10", "A07")
        assert budget.pefa_excluded_classes("PI-2.2") == ("A10",)
    if name == "federal":
        folder = paths.PARAMS_DIR / "profiles" / "federal" / "mappings"
        for f in ("federal_budget_2023_24.yaml", "federal_budget_2024_25.yaml"):
            m = yaml.safe_load((folder / f).read_text(encoding="utf-8"))
            classes = m["values"]["object_class"]["map"]
            assert classes["PRINCIPAL REPAYMENTS OF LOANS"] == "A10"
            assert classes["INTEREST PAYMENT"] == "A07"


# ---------------------------------------------------------------------------------------------
# PI-3 revenue outturn (Field Guide dimensions 3.1 and 3.2; input: the optional revenue book)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outturns, expected",
    [
        ([0.97, 1.06, 0.80], "A"),  # both edges of 97-106% count
        ([0.96, 1.07, 1.00], "B"),  # one year in A; 96% and 107% in 94-112%
        ([0.93, 1.13, 0.50], "C"),  # 93% and 113% only in 92-116%
        ([0.91, 1.17, 1.00], "D"),  # one year in every band
    ],
)
def test_pi31_score(outturns, expected):
    assert budget.pefa_pi31_score(outturns) == expected


def test_pefa_revenue_worked_example():
    # Budgeted revenue every year: tax 80, non-tax 20 (100).
    # 2022-23 actual 80 + 20 = 100: outturn 100%, variance 0.
    # 2023-24 actual 70 + 20 = 90: outturn 90%; AdjB = 0.9 x (80, 20) = (72, 18);
    #         (|70 - 72| + |20 - 18|) / 90 = 4.44%.
    # 2024-25 actual 100 + 10 = 110: outturn 110%; AdjB = (88, 22); (12 + 12) / 110 = 21.8%.
    # PI-3.1: A band only 2022-23; B band (94-112%) 2022-23 and 2024-25 -> B.
    # PI-3.2: below 5% in 2022-23 and 2023-24 -> A.
    actual = {"2022-23": (80, 20), "2023-24": (70, 20), "2024-25": (100, 10), "2025-26": (5, 1)}
    rev = pd.DataFrame(
        [
            {"fiscal_year": fy, "category": cat, "budget_estimate": be, "actual": a}
            for fy, pair in actual.items()
            for cat, be, a in zip(("tax", "non-tax"), (80.0, 20.0), pair, strict=True)
        ]
    )
    res = budget.pefa_revenue(rev, "2025-08")
    y = res.years.set_index("fiscal_year")
    assert list(y.index) == ["2022-23", "2023-24", "2024-25"]
    assert y["outturn"].tolist() == pytest.approx([1.0, 0.9, 1.1])
    assert y["variance"].tolist() == pytest.approx([0.0, 4 / 90, 24 / 110])
    assert res.pi31 == "B" and res.pi32 == "A"
    few = budget.pefa_revenue(rev, "2025-03")
    assert few.pi31 is None and "three completed" in few.note


def _book(lines: dict) -> pd.DataFrame:
    """A revenue book from {(department, category): (budget, {fiscal_year: actual})}."""
    return pd.DataFrame(
        [
            {
                "department": dept,
                "fiscal_year": fy,
                "category": cat,
                "budget_estimate": be,
                "actual": a,
            }
            for (dept, cat), (be, actuals) in lines.items()
            for fy, a in actuals.items()
        ]
    )


# Excise collects motor vehicle tax (budget 60) and property tax (40); Finance receives
# transfers (900) as budgeted. 2025-26 is not closed (actual blank).
EXCISE_BOOK = _book(
    {
        ("excise", "motor vehicle tax"): (
            60.0,
            {"2022-23": 57.0, "2023-24": 54.0, "2024-25": 68.0, "2025-26": None},
        ),
        ("excise", "property tax"): (
            40.0,
            {"2022-23": 40.0, "2023-24": 30.0, "2024-25": 46.0, "2025-26": None},
        ),
        ("finance", "transfers"): (
            900.0,
            {"2022-23": 900.0, "2023-24": 900.0, "2024-25": 900.0, "2025-26": None},
        ),
    }
)


def test_pi3_by_department_hand_example():
    # Excise: outturns 97/100, 84/100, 114/100. In 97-106%: one year (97%); in 94-112%: one
    # (97%); in 92-116%: two (97%, 114%) -> PI-3.1 C.
    # Variances: 2022-23 AdjB = 0.97 x (60, 40) = (58.2, 38.8): (1.2 + 1.2) / 97;
    # 2023-24 AdjB = 0.84 x (60, 40) = (50.4, 33.6): (3.6 + 3.6) / 84;
    # 2024-25 AdjB = 1.14 x (60, 40) = (68.4, 45.6): (0.4 + 0.4) / 114.
    # Below 5% in 2022-23 and 2024-25 -> PI-3.2 A.
    res = budget.pefa_revenue(EXCISE_BOOK, "2025-09", department="excise")
    y = res.years.set_index("fiscal_year")
    assert list(y.index) == ["2022-23", "2023-24", "2024-25"]
    assert y["budget_estimate"].tolist() == [100.0, 100.0, 100.0]
    assert y["actual"].tolist() == [97.0, 84.0, 114.0]
    assert y["variance"].tolist() == pytest.approx([2.4 / 97, 7.2 / 84, 0.8 / 114])
    assert y["categories"].tolist() == [2, 2, 2]
    assert (res.pi31, res.pi32) == ("C", "A")
    assert res.scope == "excise"


def test_pi3_whole_government_adds_every_department():
    # Totals 997, 984, 1,014 of 1,000: all in 97-106% -> PI-3.1 A.
    # 2023-24: AdjB = 0.984 x (60, 40, 900) = (59.04, 39.36, 885.6);
    # |54 - 59.04| + |30 - 39.36| + |900 - 885.6| = 5.04 + 9.36 + 14.4 = 28.8; / 984.
    res = budget.pefa_revenue(EXCISE_BOOK, "2025-09")
    y = res.years.set_index("fiscal_year")
    assert y["outturn"].tolist() == pytest.approx([0.997, 0.984, 1.014])
    assert y.loc["2023-24", "variance"] == pytest.approx(28.8 / 984)
    assert res.pi31 == "A"
    assert res.scope is None


def test_pi3_a_category_of_two_departments_is_one_category():
    # "fees" budgeted 50 in each of two departments: one category of 100 for the province.
    book = _book(
        {
            ("a", "fees"): (50.0, {"2021-22": 50.0, "2022-23": 40.0, "2023-24": 60.0}),
            ("b", "fees"): (50.0, {"2021-22": 50.0, "2022-23": 60.0, "2023-24": 40.0}),
            ("b", "tax"): (100.0, {"2021-22": 100.0, "2022-23": 100.0, "2023-24": 100.0}),
        }
    )
    res = budget.pefa_revenue(book, "2024-08")
    # Province: fees 100 and tax 100 each year, as budgeted: variance 0, outturn 100%.
    assert res.years["categories"].tolist() == [2, 2, 2]
    assert res.years["variance"].tolist() == pytest.approx([0.0, 0.0, 0.0])
    assert (res.pi31, res.pi32) == ("A", "A")
    # Department a alone: 100%, 80%, 120% -> two years in no band but one in A -> D.
    assert budget.pefa_revenue(book, "2024-08", department="a").pi31 == "D"


def test_pi3_not_assessed_or_not_scored_says_why():
    none = budget.pefa_revenue(None, "2025-09")
    assert none.provided is False and none.pi31 is None
    assert "not assessed: revenue not provided" in none.note
    other = budget.pefa_revenue(EXCISE_BOOK, "2025-09", department="health")
    assert other.pi31 is None and "no receipts collected by this department" in other.note
    # 2025-26 is not closed: at a month of 2026-27 the three years are 2023-24 .. 2025-26
    # and the last has no actuals.
    open_year = budget.pefa_revenue(EXCISE_BOOK, "2026-08", department="excise")
    assert list(open_year.years["fiscal_year"]) == ["2023-24", "2024-25", "2025-26"]
    assert open_year.pi31 is None and open_year.pi32 is None
    assert "actual revenue missing for 2025-26 (2 of 2 categories)" in open_year.note


def test_pi3_a_category_missing_one_departments_actual_is_not_closed():
    # "fees" of a (actual 50) and b (actual blank) in 2023-24: the province's fees actual is
    # unknown, not 50.
    book = _book(
        {
            ("a", "fees"): (50.0, {"2021-22": 50.0, "2022-23": 50.0, "2023-24": 50.0}),
            ("b", "fees"): (50.0, {"2021-22": 50.0, "2022-23": 50.0, "2023-24": None}),
        }
    )
    res = budget.pefa_revenue(book, "2024-08")
    assert res.pi31 is None
    assert "actual revenue missing for 2023-24 (1 of 1 categories)" in res.note
    assert budget.pefa_revenue(book, "2024-08", department="a").pi31 == "A"
