"""Utilisation: the budget position by scope and by object class at the report's as-of, against
the budget estimate, the final grant and the releases.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from helpers.analysis.budget.common import (
    check_frequency,
    object_classes,
    scope_labels,
    time_benchmark,
)
from helpers.analysis.budget.coverage import (
    _UNKNOWN_BEFORE_REPORTING,
    as_of_month,
    month_coverage,
)
from helpers.analysis.budget.prepare import (
    _SCOPE_COMPONENTS,
    _dept_rows,
    _ratio,
    _ts,
    prepare_allocations,
    prepare_monthly,
    rows_where,
)
from helpers.data.calendar import (
    add_months,
    fiscal_year,
    fy_months,
)


def _position_rows(
    alloc_fy: pd.DataFrame, mon_to_date: pd.DataFrame, month: pd.Timestamp, groups: dict
) -> list[dict]:
    # sums over each group's rows, as arrays (this runs for every department, scope and year)
    be_all = alloc_fy["budget_estimate"].to_numpy(dtype="float64")
    revised = alloc_fy["revised_estimate"].to_numpy(dtype="float64")
    revised_by_now = (alloc_fy["revised_month"] <= month).to_numpy(dtype=bool)
    spent_all = mon_to_date["expenditure"].to_numpy(dtype="float64")
    released_all = mon_to_date["release"].to_numpy(dtype="float64")
    rows = []
    for key, mask_fn in groups.items():
        in_a = np.asarray(mask_fn(alloc_fy), dtype=bool)
        in_m = np.asarray(mask_fn(mon_to_date), dtype=bool)
        if not in_a.any() and not in_m.any():
            continue
        be = float(be_all[in_a].sum())
        rev = revised[in_a]
        known = bool(in_a.any()) and bool((~np.isnan(rev) & revised_by_now[in_a]).all())
        final = float(rev.sum()) if known else math.nan
        spent = float(spent_all[in_m].sum())
        released = float(released_all[in_m].sum())
        rows.append(
            {
                "key": key,
                "budget_estimate": be,
                "final_grant": final,
                "releases": released,
                "expenditure": spent,
                "util_be": _ratio(spent, be),
                "util_final_grant": _ratio(spent, final),
                "util_releases": _ratio(spent, released),
                "released_unspent": released - spent,
                "release_share_of_be": _ratio(released, be),
            }
        )
    return rows


def _scope_groups() -> dict:
    return {
        scope: (lambda df, comps=comps: df["component"].isin(comps))
        for scope, comps in _SCOPE_COMPONENTS.items()
    }


def _position_date(alloc, mon, department, month, frequency) -> pd.Timestamp | None:
    if check_frequency(frequency) == "monthly":
        return _ts(month)
    return as_of_month(month_coverage(alloc, mon, department, month, frequency), month, frequency)


def utilisation(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    frequency: str = "monthly",
) -> pd.DataFrame:
    """Cumulative position at ``month`` for one department, one row per scope.

    With quarterly or annual data the position is at the report's as-of (the end of the last
    reported period, :func:`as_of_month`) and so is the benchmark; with nothing reported yet
    this year the spending columns are NaN (unknown), not zero.

    Scopes: total, current, salary, non_salary, development (scopes with no budget and no
    spending are left out). Columns: scope, label, budget_estimate, final_grant (NaN until the
    revised estimate is known at ``month``), releases, expenditure (cumulative, reported rows
    only), util_be, util_final_grant, util_releases, released_unspent, release_share_of_be,
    benchmark, gap_be (util_be - benchmark), last_year_util_be (same fiscal month last year,
    against last year's BE), change_vs_last_year (points).
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    month_ts = _ts(month)
    fy = fiscal_year(month)
    a = _dept_rows(alloc, department)
    if rows_where(a, "fiscal_year", fy).empty:
        raise ValueError(f"no budget allocations for {department!r} in {fy}")
    groups = _scope_groups()
    at = _position_date(alloc, mon, department, month, frequency)
    upto = at if at is not None else _ts(add_months(fy_months(fy)[0], -1))
    rows = _position_rows(
        rows_where(a, "fiscal_year", fy), _to_date(mon, department, fy, upto), month_ts, groups
    )
    out = pd.DataFrame(rows).rename(columns={"key": "scope"})
    out.insert(1, "label", out["scope"].map(scope_labels()))
    if at is None:
        for col in (*_UNKNOWN_BEFORE_REPORTING, "release_share_of_be"):
            out[col] = math.nan
    out["benchmark"] = time_benchmark(at) if at is not None else math.nan
    out["gap_be"] = out["util_be"] - out["benchmark"]
    last = _last_year_point(alloc, mon, department, at if at is not None else month, groups)
    out["last_year_util_be"] = out["scope"].map(last).astype("float64")
    out["change_vs_last_year"] = out["util_be"] - out["last_year_util_be"]
    return out.reset_index(drop=True)


def _to_date(mon: pd.DataFrame, department: str, fy: str, month_ts: pd.Timestamp) -> pd.DataFrame:
    rows = _dept_rows(mon, department)
    rows = rows_where(rows, "fiscal_year", fy)
    return rows.loc[rows["month"] <= month_ts]


def _last_year_point(alloc, mon, department, month, groups) -> dict[str, float]:
    prev_month = add_months(month, -12)
    prev_fy = fiscal_year(prev_month)
    a = _dept_rows(alloc, department)
    a = rows_where(a, "fiscal_year", prev_fy)
    if a.empty:
        return {}
    mo = _to_date(mon, department, prev_fy, _ts(prev_month))
    if mo.empty:
        return {}
    return {r["key"]: r["util_be"] for r in _position_rows(a, mo, _ts(prev_month), groups)}


def utilisation_by_object_class(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    frequency: str = "monthly",
) -> pd.DataFrame:
    """Cumulative position by object class (both funds together) at ``month``.

    Columns: object_class, label, budget_estimate, final_grant, releases, expenditure,
    util_be, util_final_grant, util_releases, released_unspent, share_of_spending, benchmark,
    gap_be. Sorted by object class.
    """
    alloc = prepare_allocations(allocations)
    mon = prepare_monthly(monthly)
    month_ts = _ts(month)
    fy = fiscal_year(month)
    a = _dept_rows(alloc, department)
    a = rows_where(a, "fiscal_year", fy)
    if a.empty:
        raise ValueError(f"no budget allocations for {department!r} in {fy}")
    at = _position_date(alloc, mon, department, month, frequency)
    mo = _to_date(
        mon,
        department,
        fy,
        at if at is not None else _ts(fy_months(fy)[0]) - pd.DateOffset(months=1),
    )
    classes = sorted(set(a["object_class"]) | set(mo["object_class"]))
    groups = {oc: (lambda df, oc=oc: df["object_class"] == oc) for oc in classes}
    out = pd.DataFrame(_position_rows(a, mo, month_ts, groups)).rename(
        columns={"key": "object_class"}
    )
    out.insert(1, "label", out["object_class"].map(object_classes()).fillna("Unknown class"))
    total = out["expenditure"].sum()
    out["share_of_spending"] = out["expenditure"] / total if total > 0 else math.nan
    if at is None:
        for col in (*_UNKNOWN_BEFORE_REPORTING, "share_of_spending"):
            out[col] = math.nan
    out["benchmark"] = time_benchmark(at) if at is not None else math.nan
    out["gap_be"] = out["util_be"] - out["benchmark"]
    return out.drop(columns=["release_share_of_be"]).reset_index(drop=True)
