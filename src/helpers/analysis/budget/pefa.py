"""PEFA budget reliability: the PI-1 / PI-2 primitives (public, re-exported by
:mod:`helpers.budget`), PI-2.3 contingency, and the department and province assessments over
the last three completed fiscal years (PEFA 2016 Field Guide; docs/methods.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from helpers.analysis.budget.common import (
    _EPS,
    PERIOD_MONTHS,
    _chart,
    check_frequency,
)
from helpers.analysis.budget.coverage import (
    month_coverage,
)
from helpers.analysis.budget.prepare import (
    _dept_rows,
    _ratio,
    prepare_allocations,
    prepare_monthly,
)
from helpers.data.calendar import (
    fiscal_year,
    fy_months,
)

if TYPE_CHECKING:  # revenue imports this module
    from helpers.analysis.budget.revenue import RevenueResult


def _finite_float(value, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


def _total(value, what: str) -> float:
    """A scalar, or the sum of an array-like (NaN entries are an error, not zero)."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return _finite_float(value, what)
    arr = pd.Series(value, dtype="float64") if not isinstance(value, pd.Series) else value
    arr = pd.to_numeric(arr, errors="raise").astype("float64")
    if arr.empty:
        raise ValueError(f"{what} is empty")
    if arr.isna().any():
        raise ValueError(f"{what} contains missing values")
    return _finite_float(arr.sum(), what)


def aggregate_outturn(actual, budget) -> float:
    """PEFA PI-1 aggregate expenditure outturn: total actual / total original budget (BE).

    ``actual`` and ``budget`` are amounts (scalars) or array-likes that are summed.
    Returns a ratio, e.g. 0.93. Raises ``ValueError`` if the budget is not positive or a value
    is missing or not finite.
    """
    a = _total(actual, "actual")
    b = _total(budget, "budget")
    if b <= 0:
        raise ValueError(f"budget must be positive, got {b}")
    return a / b


def composition_variance(actual: pd.Series, budget: pd.Series) -> float:
    """PEFA PI-2 expenditure composition variance, as a ratio (0.1667 = 16.7%).

    ``actual`` and ``budget`` are aligned pandas Series with one entry per head (administrative
    unit for PI-2.1, object class for PI-2.2) and the same index labels (order may differ).
    Adjusted budget AdjB_i = B_i x (sum A / sum B); variance = sum |A_i - AdjB_i| / sum AdjB_i.

    A head with zero budget is allowed (unbudgeted spending counts in full). Raises
    ``ValueError`` on empty input, misaligned or duplicated index labels, missing values, a
    negative budget entry, a non-positive total budget or a non-positive total actual.
    """
    if not isinstance(actual, pd.Series) or not isinstance(budget, pd.Series):
        raise ValueError("actual and budget must be pandas Series")
    if actual.empty or budget.empty:
        raise ValueError("actual and budget must not be empty")
    if actual.index.has_duplicates or budget.index.has_duplicates:
        raise ValueError("actual and budget must have unique index labels (one per head)")
    if len(actual) != len(budget) or set(actual.index) != set(budget.index):
        missing_a = sorted(map(str, set(budget.index) - set(actual.index)))
        missing_b = sorted(map(str, set(actual.index) - set(budget.index)))
        raise ValueError(
            "actual and budget are not aligned: "
            f"heads without actual {missing_a}, heads without budget {missing_b}"
        )
    a = pd.to_numeric(actual, errors="raise").astype("float64")
    b = pd.to_numeric(budget, errors="raise").astype("float64").reindex(a.index)
    if a.isna().any() or b.isna().any():
        raise ValueError("actual and budget must not contain missing values")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("actual and budget must be finite")
    if (b < 0).any():
        raise ValueError("budget entries must not be negative")
    sum_a, sum_b = float(a.sum()), float(b.sum())
    if sum_b <= 0:
        raise ValueError(f"total budget must be positive, got {sum_b}")
    if sum_a <= 0:
        raise ValueError(f"total actual must be positive, got {sum_a}")
    adj = b * (sum_a / sum_b)
    return float((a - adj).abs().sum() / adj.sum())


def _three(values, what: str) -> list[float]:
    vals = list(values)
    if len(vals) != 3:
        raise ValueError(
            f"{what}: PEFA scores need exactly 3 completed years, got {len(vals)}; "
            "report the values without a score when fewer years are available"
        )
    out = [_finite_float(v, what) for v in vals]
    if any(v < 0 for v in out):
        raise ValueError(f"{what} must not be negative, got {out}")
    return out


def pefa_pi1_score(outturns: Sequence[float]) -> str:
    """PEFA 2016 PI-1 score from exactly three yearly outturn ratios (actual / BE).

    A: 95-105% in at least two of the three years; B: 90-110%; C: 85-115%; else D.
    Band edges are inclusive (0.95 and 1.05 are inside A). Raises ``ValueError`` unless
    exactly three finite, non-negative ratios are given (fewer years: do not score).
    """
    vals = _three(outturns, "outturns")
    for grade, half_width in (("A", 0.05), ("B", 0.10), ("C", 0.15)):
        inside = sum(1 - half_width - _EPS <= v <= 1 + half_width + _EPS for v in vals)
        if inside >= 2:
            return grade
    return "D"


def pefa_pi2_score(variances: Sequence[float]) -> str:
    """PEFA 2016 PI-2.1 / PI-2.2 score from exactly three yearly composition variances.

    A: variance < 5% in at least two of the three years; B: < 10%; C: < 15%; else D.
    Edges are exclusive (exactly 0.05 is B). Ratios, not percentages. Raises ``ValueError``
    unless exactly three finite, non-negative values are given.
    """
    vals = _three(variances, "variances")
    for grade, limit in (("A", 0.05), ("B", 0.10), ("C", 0.15)):
        if sum(v < limit - _EPS for v in vals) >= 2:
            return grade
    return "D"


#: PEFA 2016 PI-2.1 (Field Guide, dimension 2.1, data requirements): with more than this many
#: main heads, the variance is assessed on the largest heads that together make up
#: PI2_HEAD_SHARE of the budget (at least PI2_MAX_HEADS of them), the rest as one line.
PI2_MAX_HEADS = 20


PI2_HEAD_SHARE = 0.75


#: Label of the line that aggregates the residual heads (PI-2.1).
RESIDUAL_HEAD = "(other heads)"


#: Chart-of-accounts roles left out of each PEFA measure (PEFA 2016 Field Guide): PI-1
#: excludes repayment of debt principal (1.1:7: expenditure includes interest but not
#: principal); PI-2.1 also excludes interest and contingency items (2.1:1); PI-2.2 includes
#: interest and excludes contingency items (2.2:1). Principal is out of PI-2 as it is out of
#: PI-1 (PI-2 adjusts the budget to the PI-1 aggregate).
PEFA_EXCLUDED_ROLES = {
    "PI-1": ("principal",),
    "PI-2.1": ("principal", "interest", "contingency"),
    "PI-2.2": ("principal", "contingency"),
}


def pefa_excluded_classes(measure: str) -> tuple[str, ...]:
    """Object classes of the active chart of accounts left out of ``measure`` ('PI-1',
    'PI-2.1', 'PI-2.2'), from the classes' roles (KP: A10 principal, A07 interest)."""
    chart = _chart()
    return tuple(c for role in PEFA_EXCLUDED_ROLES[measure] for c in chart.with_role(role))


def contingency_classes() -> tuple[str, ...]:
    """Object classes with role ``contingency`` (none in KP's chart)."""
    return _chart().with_role("contingency")


@dataclass
class PefaResult:
    """PEFA budget reliability over the last three completed fiscal years.

    ``years``: one row per year (fiscal_year, budget_estimate and actual of the PI-1 aggregate
    (principal repayments left out), outturn, variance (PI-2.1 or PI-2.2), heads (lines in the
    variance), residual_heads (heads aggregated into one line, PI-2.1), contingency (actual
    expenditure charged to contingency classes), contingency_share (of the PI-1 budget),
    complete, months_missing). ``pi1``/``pi2``/``pi23`` are the scores, or None with ``note``
    (``pi23_note`` for PI-2.3) saying why.
    """

    years: pd.DataFrame
    pi1: str | None
    pi2: str | None
    note: str
    pi2_dimension: str = "PI-2.2"
    extra: dict = field(default_factory=dict)
    pi23: str | None = None
    pi23_note: str = ""
    #: object classes left out, per measure ('PI-1', 'PI-2.1'/'PI-2.2')
    excluded: dict = field(default_factory=dict)
    #: PI-3 revenue outturn (:func:`with_revenue`); None when the caller did not assess it
    revenue: RevenueResult | None = None


PEFA_YEAR_COLUMNS = [
    "fiscal_year",
    "budget_estimate",
    "actual",
    "outturn",
    "variance",
    "heads",
    "residual_heads",
    "contingency",
    "contingency_share",
    "complete",
    "months_missing",
]


def pefa_heads(
    actual: pd.Series,
    budget: pd.Series,
    max_heads: int = PI2_MAX_HEADS,
    share: float = PI2_HEAD_SHARE,
) -> tuple[pd.Series, pd.Series, int]:
    """PI-2.1 heads: with more than ``max_heads`` heads, keep the largest (by original budget)
    that together make up ``share`` of the budget, at least ``max_heads`` of them, and add the
    others up into one line (:data:`RESIDUAL_HEAD`). Ties in budget are broken by head label.

    Returns the aligned actual and budget Series and the number of heads aggregated (0 when
    every head is kept). PEFA 2016 Field Guide, dimension 2.1, data requirements.
    """
    heads = sorted(set(budget.index) | set(actual.index), key=str)
    b = budget.reindex(heads, fill_value=0.0).astype("float64")
    a = actual.reindex(heads, fill_value=0.0).astype("float64")
    if len(heads) <= max_heads:
        return a, b, 0
    order = sorted(heads, key=lambda h: (-float(b[h]), str(h)))
    total = float(b.sum())
    cum, k = 0.0, 0
    for h in order:
        if k >= max_heads and total > 0 and cum >= share * total - _EPS * total:
            break
        cum += float(b[h])
        k += 1
    keep, rest = order[:k], order[k:]
    if not rest:
        return a, b, 0
    a2 = pd.concat([a[keep], pd.Series({RESIDUAL_HEAD: float(a[rest].sum())})])
    b2 = pd.concat([b[keep], pd.Series({RESIDUAL_HEAD: float(b[rest].sum())})])
    return a2, b2, len(rest)


def pefa_pi23_score(shares: Sequence[float]) -> str:
    """PEFA 2016 PI-2.3 score from exactly three yearly shares of actual expenditure charged
    to contingency votes in the original total budget (ratios).

    The simple average of the three (Field Guide 2.3:3): A below 3%; B 3% to 6% inclusive;
    C above 6% and below 10%; else D.
    """
    vals = _three(shares, "contingency shares")
    mean = sum(vals) / 3
    if mean < 0.03 - _EPS:
        return "A"
    if mean <= 0.06 + _EPS:
        return "B"
    if mean < 0.10 - _EPS:
        return "C"
    return "D"


def _completed_years(years: Iterable[str], month, n: int = 3) -> list[str]:
    fy = fiscal_year(month)
    return sorted(y for y in set(years) if y < fy)[-n:]


def _scores(
    table: pd.DataFrame, dimension: str, require_complete: bool
) -> tuple[str | None, str | None, str]:
    if len(table) < 3:
        return (
            None,
            None,
            (
                f"Not scored: PEFA needs three completed fiscal years and the data hold "
                f"{len(table)} ({', '.join(table['fiscal_year']) or 'none'})."
            ),
        )
    provisional = ""
    if not table["complete"].all():
        bad = list(table.loc[~table["complete"], "fiscal_year"])
        gaps = ", ".join(bad) + (" have" if len(bad) > 1 else " has")
        n = int(table["months_missing"].sum())
        if require_complete:
            return (
                None,
                None,
                (
                    f"Not scored: {gaps} missing monthly data ({n} month(s)), so the full-year "
                    "outturn is not known."
                ),
            )
        provisional = (
            f" Provisional: {gaps} {n} missing month(s) in all; scored on reported spending, "
            "which understates the outturn."
        )
    if table["outturn"].isna().any():
        return None, None, "Not scored: a year has no positive budget estimate."
    pi1 = pefa_pi1_score(table["outturn"])
    pi2 = pefa_pi2_score(table["variance"]) if table["variance"].notna().all() else None
    note = (
        f"PI-1 and {dimension} use original budget estimates (BE) for "
        f"{', '.join(table['fiscal_year'])}.{provisional}"
    )
    if pi2 is None:
        note += f" {dimension} not scored: the variance could not be computed for every year."
    return pi1, pi2, note


def _pefa_year(
    a_fy: pd.DataFrame, mo_fy: pd.DataFrame, head: str, dimension: str
) -> dict[str, float]:
    """One year's PEFA figures. ``head`` is the column the PI-2 heads come from (object_class
    for PI-2.2, department for PI-2.1); the roles of :data:`PEFA_EXCLUDED_ROLES` are left out
    of each measure; PI-2.1 aggregates residual heads (:func:`pefa_heads`)."""
    out1 = list(pefa_excluded_classes("PI-1"))
    out2 = list(pefa_excluded_classes(dimension))
    cont = list(contingency_classes())
    be1 = float(a_fy.loc[~a_fy["object_class"].isin(out1), "budget_estimate"].sum())
    act1 = float(mo_fy.loc[~mo_fy["object_class"].isin(out1), "expenditure"].sum())
    a2 = a_fy.loc[~a_fy["object_class"].isin(out2)]
    m2 = mo_fy.loc[~mo_fy["object_class"].isin(out2)]
    b = a2.groupby(head)["budget_estimate"].sum()
    act = m2.groupby(head)["expenditure"].sum()
    if dimension == "PI-2.1":
        act, b, residual = pefa_heads(act, b)
    else:
        heads = sorted(set(b.index) | set(act.index))
        b, act, residual = b.reindex(heads, fill_value=0.0), act.reindex(heads, fill_value=0.0), 0
    try:
        variance = composition_variance(act, b)
    except ValueError:
        variance = math.nan
    contingency = (
        float(mo_fy.loc[mo_fy["object_class"].isin(cont), "expenditure"].sum())
        if cont
        else math.nan
    )
    return {
        "budget_estimate": be1,
        "actual": act1,
        "outturn": _ratio(act1, be1),
        "variance": variance,
        "heads": len(b),
        "residual_heads": residual,
        "contingency": contingency,
        "contingency_share": _ratio(contingency, be1) if cont else math.nan,
    }


def _pi23(table: pd.DataFrame, pi1: str | None) -> tuple[str | None, str]:
    """PI-2.3 from the years table: scored when the chart has a contingency class and PI-1 is
    scored (three complete years with a positive budget)."""
    if not contingency_classes():
        return None, (
            "PI-2.3 (contingency) not assessed: the chart of accounts has no contingency line "
            "(an object class with role contingency)."
        )
    if pi1 is None or len(table) != 3 or table["contingency_share"].isna().any():
        return None, "PI-2.3 not scored: three completed years with full data are needed."
    shares = table["contingency_share"].tolist()
    mean = sum(shares) / 3
    return pefa_pi23_score(shares), (
        f"PI-2.3: on average {mean:.1%} of the original budget was charged to contingency "
        f"({', '.join(f'{s:.1%}' for s in shares)})."
    )


def _pefa_result(
    rows: list[dict], dimension: str, require_complete: bool, heads_word: str
) -> PefaResult:
    table = pd.DataFrame(rows, columns=PEFA_YEAR_COLUMNS)
    pi1, pi2, note = _scores(table, dimension, require_complete)
    pi23, pi23_note = _pi23(table, pi1)
    excluded = {m: pefa_excluded_classes(m) for m in ("PI-1", dimension)}
    return PefaResult(
        years=table,
        pi1=pi1,
        pi2=pi2,
        note=note,
        pi2_dimension=dimension,
        pi23=pi23,
        pi23_note=pi23_note,
        excluded=excluded,
        extra={"heads": heads_word},
    )


def pefa_department(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    require_complete: bool = True,
    frequency: str = "monthly",
) -> PefaResult:
    """PI-1 (aggregate outturn), PI-2.2 (composition by object class) and PI-2.3 (contingency)
    for one department.

    Uses the last three fiscal years completed before the fiscal year of ``month``; actual =
    full-year expenditure, budget = BE (funds together). Classes are left out by their role in
    the chart of accounts (:data:`PEFA_EXCLUDED_ROLES`): principal from PI-1; principal and
    contingency from PI-2.2. Not scored (None) when fewer than three years exist, or when a
    year has missing months and ``require_complete`` is True (with False, scores are computed
    on reported spending and marked provisional).
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    a = _dept_rows(alloc, department)
    mo = _dept_rows(mon, department)
    years = _completed_years(a["fiscal_year"], month)
    n = PERIOD_MONTHS[check_frequency(frequency)]
    rows = []
    for fy in years:
        cov = month_coverage(alloc, mon, department, fy_months(fy)[-1], frequency)
        fig = _pefa_year(
            a.loc[a["fiscal_year"] == fy], mo.loc[mo["fiscal_year"] == fy], "object_class", "PI-2.2"
        )
        rows.append(
            {
                "fiscal_year": fy,
                **fig,
                "complete": bool((cov["status"] == "reported").all()),
                "months_missing": int((cov["status"] != "reported").sum()) * n,
            }
        )
    return _pefa_result(rows, "PI-2.2", require_complete, "object classes")


def pefa_province(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    month,
    require_complete: bool = True,
    frequency: str = "monthly",
) -> PefaResult:
    """Province-level PI-1, PI-2.1 (composition by administrative head = department) and
    PI-2.3 (contingency).

    Uses the last three fiscal years completed before the fiscal year of ``month``. PI-1 leaves
    out principal repayments; PI-2.1 also interest and contingency (by role in the chart of
    accounts). With more than :data:`PI2_MAX_HEADS` departments, PI-2.1 is computed on the
    largest that make up :data:`PI2_HEAD_SHARE` of the budget (at least 20) plus one line for
    the rest (:func:`pefa_heads`). A year counts as complete only when every department
    budgeted that year reported every month; ``months_missing`` counts department-months
    missing or incomplete. With ``require_complete`` False such years are scored on reported
    spending (note: provisional).
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    years = _completed_years(alloc["fiscal_year"], month)
    n = PERIOD_MONTHS[check_frequency(frequency)]
    rows = []
    for fy in years:
        a = alloc.loc[alloc["fiscal_year"] == fy]
        gaps = 0
        for dept in sorted(set(a["department"])):
            cov = month_coverage(alloc, mon, dept, fy_months(fy)[-1], frequency)
            gaps += int((cov["status"] != "reported").sum()) * n
        fig = _pefa_year(a, mon.loc[mon["fiscal_year"] == fy], "department", "PI-2.1")
        rows.append({"fiscal_year": fy, **fig, "complete": gaps == 0, "months_missing": gaps})
    return _pefa_result(rows, "PI-2.1", require_complete, "departments")
