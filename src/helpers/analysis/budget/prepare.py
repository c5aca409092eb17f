"""Input preparation: validate and normalise ``budget_allocations`` and ``budget_monthly``
rows (:func:`prepare_allocations`, :func:`prepare_monthly`), and the small row helpers the other
budget modules share.

Every public budget function prepares its inputs, and calls the others with frames it has
already prepared. A frame is *prepared* when :func:`prepare_allocations` or
:func:`prepare_monthly` returned it, or when :func:`department_rows` or :func:`months_upto` cut
(or :func:`take_rows`) it from a prepared frame; preparing it again returns it unchanged, without validating it again.
This module alone keeps that record (by identity, weakly held: nothing is stored on the frame).
Any other frame, including one derived from a prepared frame by other pandas operations, is
validated and normalised again, which gives the same rows. Because prepared frames are only
read, what is worked out from one can be kept with it: :func:`rows_where` keeps its cuts and
:func:`derived` any other result (the period totals), both dropped when the frame is freed.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from helpers import profile
from helpers.analysis.budget.common import (
    ALLOCATION_COLUMNS,
    MONTHLY_COLUMNS,
    current_fund,
    development_classes,
    funds,
    salary_classes,
)
from helpers.data.calendar import (
    as_month,
    fy_label_of,
    fy_start_month,
)


def _require(df: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a DataFrame")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}")


def _month_starts(values: pd.Series, name: str, allow_missing: bool = False) -> pd.Series:
    ts = pd.to_datetime(values)
    if not allow_missing and ts.isna().any():
        raise ValueError(f"{name} has missing dates")
    return ts.dt.to_period("M").dt.to_timestamp()


def _fy_of_timestamps(ts: pd.Series) -> pd.Series:
    """The fiscal-year label of each month start (the profile's calendar and label style)."""
    s = fy_start_month()
    start = ts.dt.year.where(ts.dt.month >= s, ts.dt.year - 1)
    labels = {int(y): fy_label_of(int(y)) for y in start.dropna().unique()}
    return start.map(labels)


def _fy_m(ts: pd.Series) -> pd.Series:
    """Month number within the fiscal year (its first month = 1 ... 12)."""
    return ((ts.dt.month - fy_start_month()) % 12 + 1).astype("int64")


def _money(value: float) -> str:
    """An amount in the profile's currency with one decimal, in the unit it is held in."""
    return profile.active().currency.fmt(value)


def _fund_check(df: pd.DataFrame, name: str) -> None:
    known = funds()
    bad = sorted(set(df["fund"].dropna().astype(str)) - set(known))
    if bad or df["fund"].isna().any():
        raise ValueError(f"{name}: fund must be one of {known}, found {bad or 'missing'}")


#: id -> frame, for the frames this module prepared (an entry goes when its frame is freed).
_PREPARED: weakref.WeakValueDictionary[int, pd.DataFrame] = weakref.WeakValueDictionary()


def _mark(df: pd.DataFrame) -> pd.DataFrame:
    _PREPARED[id(df)] = df
    return df


def is_prepared(df: object) -> bool:
    """True for a frame :func:`prepare_allocations`, :func:`prepare_monthly`,
    :func:`department_rows` or :func:`months_upto` returned (or :func:`take_rows` cut from
    one)."""
    return isinstance(df, pd.DataFrame) and _PREPARED.get(id(df)) is df


def prepare_allocations(allocations: pd.DataFrame) -> pd.DataFrame:
    """Validate and normalise ``budget_allocations`` rows (returns a new frame).

    Raises ``ValueError`` on missing columns, unknown funds, duplicated keys, missing or negative
    budget estimates.
    """
    if is_prepared(allocations):
        return allocations
    _require(allocations, ALLOCATION_COLUMNS, "budget_allocations")
    df = allocations.loc[:, list(ALLOCATION_COLUMNS)].copy()
    df["department"] = df["department"].astype(str)
    df["fiscal_year"] = df["fiscal_year"].astype(str)
    df["object_class"] = df["object_class"].astype(str)
    _fund_check(df, "budget_allocations")
    df["fund"] = df["fund"].astype(str)
    df["budget_estimate"] = pd.to_numeric(df["budget_estimate"]).astype("float64")
    df["revised_estimate"] = pd.to_numeric(df["revised_estimate"]).astype("float64")
    df["revised_month"] = _month_starts(df["revised_month"], "revised_month", allow_missing=True)
    if df["budget_estimate"].isna().any():
        raise ValueError("budget_allocations: budget_estimate is missing on some rows")
    if (df["budget_estimate"] < 0).any():
        raise ValueError("budget_allocations: budget_estimate must not be negative")
    key = ["department", "fiscal_year", "fund", "object_class"]
    if df.duplicated(key).any():
        dups = df.loc[df.duplicated(key, keep=False), key].head(3).to_dict("records")
        raise ValueError(f"budget_allocations: duplicated keys, e.g. {dups}")
    df["component"] = _components(df)
    return _mark(df)


def prepare_monthly(monthly: pd.DataFrame) -> pd.DataFrame:
    """Validate and normalise ``budget_monthly`` rows (returns a new frame).

    Adds ``fy_m`` (fiscal month, the year's first month = 1) and ``component``. Raises ``ValueError`` on missing
    columns, unknown funds, duplicated keys, a fiscal year inconsistent with the month, or
    missing expenditure values (a data gap is a missing row, never a NULL amount). Releases
    are NaN where the source has none (sums of them stay NaN: unknown, not zero).
    """
    if is_prepared(monthly):
        return monthly
    _require(monthly, MONTHLY_COLUMNS, "budget_monthly")
    df = monthly.loc[:, list(MONTHLY_COLUMNS)].copy()
    df["department"] = df["department"].astype(str)
    df["fiscal_year"] = df["fiscal_year"].astype(str)
    df["object_class"] = df["object_class"].astype(str)
    _fund_check(df, "budget_monthly")
    df["fund"] = df["fund"].astype(str)
    df["month"] = _month_starts(df["month"], "budget_monthly.month")
    for col in ("release", "expenditure"):
        df[col] = pd.to_numeric(df[col]).astype("float64")
    # a source without releases has none on any row (NaN: unknown, never zero)
    if df["expenditure"].isna().any():
        raise ValueError("budget_monthly: expenditure is missing on some rows")
    if len(df):
        wrong = df["fiscal_year"] != _fy_of_timestamps(df["month"])
        if wrong.any():
            row = df.loc[wrong].iloc[0]
            raise ValueError(
                f"budget_monthly: fiscal_year {row['fiscal_year']} does not match month "
                f"{row['month']:%Y-%m}"
            )
    key = ["department", "month", "fund", "object_class"]
    if df.duplicated(key).any():
        dups = df.loc[df.duplicated(key, keep=False), key].head(3).to_dict("records")
        raise ValueError(f"budget_monthly: duplicated keys, e.g. {dups}")
    df["fy_m"] = _fy_m(df["month"])
    df["component"] = _components(df)
    return _mark(df)


def _components(df: pd.DataFrame) -> pd.Series:
    dev = (df["fund"] != current_fund()) | df["object_class"].isin(development_classes())
    comp = np.where(
        dev,
        "development",
        np.where(df["object_class"].isin(salary_classes()), "salary", "non_salary"),
    )
    return pd.Series(comp, index=df.index, dtype="str")


_SCOPE_COMPONENTS = {
    "total": ("salary", "non_salary", "development"),
    "current": ("salary", "non_salary"),
    "salary": ("salary",),
    "non_salary": ("non_salary",),
    "development": ("development",),
}


def _ratio(num: float, den: float) -> float:
    if den is None or num is None:
        return math.nan
    if not (math.isfinite(num) and math.isfinite(den)) or den <= 0:
        return math.nan
    return num / den


def _ts(month) -> pd.Timestamp:
    return pd.Timestamp(as_month(month))


#: (id of a prepared frame, column) -> (a weak reference to the frame, the row positions of
#: each value, the parts cut so far).
_SPLITS: dict[tuple[int, str], tuple[weakref.ref, dict[Any, Any], dict[Any, pd.DataFrame]]] = {}


def _forget(entries: dict, key: tuple[int, Any], ref: weakref.ref) -> None:
    """The frame of an entry of ``entries`` (:data:`_SPLITS`, :data:`_DERIVED`) was freed: drop
    the entry, unless a newer frame (which may reuse the id) holds it now. ``entries`` is bound
    when the reference is made: at interpreter exit the module's globals may already be gone
    when the last frames are freed."""
    if entries.get(key, (None,))[0] is ref:
        del entries[key]


def rows_where(df: pd.DataFrame, column: str, value: Any) -> pd.DataFrame:
    """The rows of ``df`` whose ``column`` equals ``value``, in their order (``df.loc[df[column]
    == value]``). A prepared frame is grouped by ``column`` once, and each value's rows are cut
    once, as a prepared part that later calls return (a frame of one value is its own part):
    the analyses ask the same frame for the same department or year hundreds of times in a
    province month. The parts are shared, so they are read, never changed in place."""
    if not is_prepared(df):
        return df.loc[df[column] == value]
    key = (id(df), column)
    hit = _SPLITS.get(key)
    if hit is None or hit[0]() is not df:
        values = df[column].unique()
        if len(values) == 1:
            positions: dict[Any, Any] = {values[0]: slice(None)}
        else:
            positions = df.groupby(column, sort=False, dropna=True).indices
        ref = weakref.ref(df, functools.partial(_forget, _SPLITS, key))
        hit = _SPLITS[key] = (ref, positions, {})
    _, positions, parts = hit
    part = parts.get(value)
    if part is None:
        where = positions.get(value)
        if isinstance(where, slice):
            return df  # never kept in ``parts``: the entry would keep its own frame alive
        part = parts[value] = _mark(df.iloc[where if where is not None else slice(0, 0)])
    return part


#: (id of a prepared frame, key) -> (a weak reference to the frame, what was worked out from it)
_DERIVED: dict[tuple[int, Any], tuple[weakref.ref, Any]] = {}


def derived(df: pd.DataFrame, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, worked out from the prepared frame ``df`` once for each ``key`` while
    ``df`` lives (prepared frames are read, never changed in place; an unprepared frame is
    computed every time). A frame is handed out as a copy, so no caller changes another's."""
    if not is_prepared(df):
        return compute()
    k = (id(df), key)
    hit = _DERIVED.get(k)
    if hit is None or hit[0]() is not df:
        ref = weakref.ref(df, functools.partial(_forget, _DERIVED, k))
        hit = _DERIVED[k] = (ref, compute())
    value = hit[1]
    return value.copy() if isinstance(value, pd.DataFrame) else value


def _dept_rows(df: pd.DataFrame, department: str) -> pd.DataFrame:
    return rows_where(df, "department", str(department))


def _prepared(df: pd.DataFrame, what: str) -> None:
    if not is_prepared(df):
        raise ValueError(f"{what} needs a frame from prepare_allocations or prepare_monthly")


def department_rows(df: pd.DataFrame, department: str) -> pd.DataFrame:
    """A prepared frame cut to one department, itself prepared: later filters then run on that
    department's rows only."""
    _prepared(df, "department_rows")
    return _mark(_dept_rows(df, department))


def take_rows(frame: pd.DataFrame, positions) -> pd.DataFrame:
    """``frame.iloc[positions]``, prepared when ``frame`` is (any other frame: a plain cut).
    For code that cuts frames generically, prepared budget frames among them."""
    part = frame.iloc[positions]
    return _mark(part) if is_prepared(frame) else part


def months_upto(monthly: pd.DataFrame, month) -> pd.DataFrame:
    """A prepared ``budget_monthly`` frame cut to the months on or before ``month``, itself
    prepared."""
    _prepared(monthly, "months_upto")
    return _mark(monthly.loc[monthly["month"] <= _ts(month)])
