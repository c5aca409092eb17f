"""PEFA PI-3 revenue outturn (the optional revenue input: :func:`helpers.data.warehouse.revenue`):
PI-3.1 aggregate and PI-3.2 composition, attached to a :class:`PefaResult` by
:func:`with_revenue`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from helpers.analysis.budget.common import (
    _EPS,
)
from helpers.analysis.budget.pefa import (
    PefaResult,
    _completed_years,
    _three,
    composition_variance,
    pefa_pi2_score,
)
from helpers.analysis.budget.prepare import (
    _ratio,
    _require,
)

#: Columns of a revenue frame for :func:`pefa_revenue`: one row per fiscal year and revenue
#: category (GFS 3-digit or comparable: main tax types, non-tax revenue, grants, transfers),
#: amounts in the profile's currency unit; ``actual`` blank for a year not yet closed. A
#: ``department`` column (the collecting department: the warehouse's revenue table) is optional.
REVENUE_COLUMNS = ("fiscal_year", "category", "budget_estimate", "actual")


#: Columns of :attr:`RevenueResult.years`.
REVENUE_YEAR_COLUMNS = [
    "fiscal_year",
    "budget_estimate",
    "actual",
    "outturn",
    "variance",
    "categories",
]


#: PI-3.1 bands: (score, lowest, highest outturn), edges inclusive (PEFA 2016, dimension 3.1).
PI31_BANDS = (("A", 0.97, 1.06), ("B", 0.94, 1.12), ("C", 0.92, 1.16))


PI3_NOT_PROVIDED = (
    "PI-3 (revenue outturn) not assessed: revenue not provided (no revenue file among the "
    "budget inputs)."
)


def pefa_pi31_score(outturns: Sequence[float]) -> str:
    """PEFA 2016 PI-3.1 score from exactly three yearly revenue outturns (actual / originally
    budgeted revenue). A: 97-106% in at least two of the three years; B: 94-112%;
    C: 92-116%; else D. Band edges inclusive (as PI-1)."""
    vals = _three(outturns, "revenue outturns")
    for grade, low, high in PI31_BANDS:
        if sum(low - _EPS <= v <= high + _EPS for v in vals) >= 2:
            return grade
    return "D"


@dataclass
class RevenueResult:
    """PI-3.1 (aggregate revenue outturn) and PI-3.2 (revenue composition) over the last three
    completed fiscal years.

    ``years``: :data:`REVENUE_YEAR_COLUMNS` (budget and actual totals, outturn = actual /
    budget, variance = composition variance over the categories, categories = how many).
    ``detail``: the same years by category (fiscal_year, category, budget_estimate, actual,
    outturn). ``scope``: None for the whole government, else the collecting department's slug.
    ``provided``: False when the suite has no revenue input at all (then ``note`` says so).
    """

    years: pd.DataFrame
    pi31: str | None
    pi32: str | None
    note: str
    scope: str | None = None
    provided: bool = True
    detail: pd.DataFrame = field(default_factory=pd.DataFrame)


def _revenue_frame(revenue: pd.DataFrame) -> pd.DataFrame:
    _require(revenue, REVENUE_COLUMNS, "revenue")
    cols = list(REVENUE_COLUMNS) + (["department"] if "department" in revenue.columns else [])
    df = revenue.loc[:, cols].copy()
    df["fiscal_year"] = df["fiscal_year"].astype(str)
    df["category"] = df["category"].astype(str)
    for c in ("budget_estimate", "actual"):
        df[c] = pd.to_numeric(df[c]).astype("float64")
    if df["budget_estimate"].isna().any():
        raise ValueError("revenue: budget_estimate is missing on some rows")
    return df


def pefa_revenue(
    revenue: pd.DataFrame | None, month, department: str | None = None
) -> RevenueResult:
    """PEFA 2016 PI-3 from a tidy revenue frame (:data:`REVENUE_COLUMNS`), or a "not assessed"
    result when ``revenue`` is None (no revenue input).

    Years: the last three fiscal years with revenue rows before the fiscal year of ``month``.
    PI-3.1 = total actual / total originally budgeted revenue (Field Guide, dimension 3.1; all
    revenue, current and capital, 3:6; shared revenue passing through the budget included,
    3:8). PI-3.2 = the composition variance of :func:`composition_variance` over the
    categories (dimension 3.2: A below 5% in two of three years, B 10%, C 15%, as PI-2); a
    category's rows of several departments are added up. With ``department`` only that
    collecting department's rows count (PEFA's method applied to part of the budget). Not
    scored with fewer than three years, a year with a category's actual missing, or a year
    without positive budgeted revenue.
    """
    empty = pd.DataFrame(columns=REVENUE_YEAR_COLUMNS)
    if revenue is None:
        return RevenueResult(empty, None, None, PI3_NOT_PROVIDED, department, provided=False)
    df = _revenue_frame(revenue)
    if department is not None and "department" in df.columns:
        df = df.loc[df["department"] == department]
    if df.empty:
        return RevenueResult(
            empty,
            None,
            None,
            "PI-3 (revenue outturn) not assessed: "
            + (
                "the revenue book has no receipts collected by this department."
                if department
                else "the revenue book has no rows."
            ),
            department,
        )
    years = _completed_years(df["fiscal_year"], month)
    used = df.loc[df["fiscal_year"].isin(years)]
    # a category's actual is missing when any of its rows (departments) has none
    detail = (
        used.groupby(["fiscal_year", "category"], sort=True)
        .agg(
            budget_estimate=("budget_estimate", "sum"),
            actual=("actual", lambda s: s.sum() if s.notna().all() else math.nan),
        )
        .reset_index()
    )
    detail["outturn"] = [
        _ratio(a, b) if pd.notna(a) else math.nan
        for a, b in zip(detail["actual"], detail["budget_estimate"], strict=True)
    ]
    rows, unclosed = [], []
    for fy in years:
        g = detail.loc[detail["fiscal_year"] == fy].set_index("category")
        if g["actual"].isna().any():
            unclosed.append(f"{fy} ({int(g['actual'].isna().sum())} of {len(g)} categories)")
        b, a = float(g["budget_estimate"].sum()), float(g["actual"].sum())
        try:
            variance = composition_variance(g["actual"], g["budget_estimate"])
        except ValueError:
            variance = math.nan
        rows.append(
            {
                "fiscal_year": fy,
                "budget_estimate": b,
                "actual": a if not g["actual"].isna().any() else math.nan,
                "outturn": _ratio(a, b) if not g["actual"].isna().any() else math.nan,
                "variance": variance,
                "categories": len(g),
            }
        )
    table = pd.DataFrame(rows, columns=REVENUE_YEAR_COLUMNS)

    def result(pi31, pi32, note):
        return RevenueResult(table, pi31, pi32, note, department, detail=detail)

    if len(table) < 3:
        return result(
            None,
            None,
            f"PI-3 not scored: PEFA needs three completed fiscal years of revenue; the data "
            f"hold {len(table)} ({', '.join(table['fiscal_year']) or 'none'}).",
        )
    if unclosed:
        return result(
            None, None, f"PI-3 not scored: actual revenue missing for {'; '.join(unclosed)}."
        )
    if table["outturn"].isna().any():
        return result(None, None, "PI-3 not scored: a year has no positive budgeted revenue.")
    pi32 = pefa_pi2_score(table["variance"]) if table["variance"].notna().all() else None
    note = (
        f"PI-3 uses the originally budgeted revenue for {', '.join(table['fiscal_year'])}, by "
        f"{int(table['categories'].max())} revenue categories."
    )
    if pi32 is None:
        note += " PI-3.2 not scored: the variance could not be computed for every year."
    return result(pefa_pi31_score(table["outturn"]), pi32, note)


def with_revenue(
    pefa: PefaResult, revenue: pd.DataFrame | None, month, department: str | None = None
) -> PefaResult:
    """``pefa`` with its PI-3 (:attr:`PefaResult.revenue`) computed from ``revenue`` (None:
    no revenue input; the report then says PI-3 is not assessed). Returns ``pefa``."""
    pefa.revenue = pefa_revenue(revenue, month, department)
    return pefa
