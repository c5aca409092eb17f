"""Input file specifications and their pandera validation.

Every input is described by an :class:`InputSpec` (columns, kinds, keys, rules). Validation runs in
two pandera passes so that every problem is reported with file, row, column and rule:

1. *format* (on the raw text/cells): required columns present, required values present, values
   parse as their kind (number, integer, month, date, yes/no, Likert code). Thousands separators
   ("1,234.5") are **rejected** with their own message: they are ambiguous with decimal commas
   and an export setting, not data.
2. *content* (on the typed rows that passed pass 1): allowed values, registry membership
   (department, district, entity, service, target), ranges, unique keys, cross-column rules
   (e.g. negative amounts only on reversal rows).

The data dictionary (docs/data-dictionary.md) documents the same rules for data suppliers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from helpers import lazy
from helpers import profile as profiles
from helpers.data import calendar
from helpers.data.vocabulary import (
    ACTION_STATUSES,
    CONTRACT_BANDS,
    DELIVERY_RATINGS,
    DIRECTIONS,
    DISTRICT_ROLLUPS,
    MILESTONE_STATUSES,
)

if TYPE_CHECKING:
    import pandera.pandas as pa
else:  # a report kernel reads the rules below (target_rules ...) but runs no schema
    pa = lazy.module("pandera.pandas", globals(), "pa")

# The rules use the *active* profile's chart of accounts (``chart_of_accounts:`` in
# profile.yaml; KP's New Accounting Model when it has none).


def funds() -> tuple[str, ...]:
    """The active profile's fund codes (KP: current, development)."""
    return profiles.active().chart.funds


def object_classes() -> tuple[str, ...]:
    """The active profile's object-class codes (KP: A01..A13)."""
    return profiles.active().chart.codes


WEIGHT_TOTAL = 100.0  # the weights of a contract's KPIs sum to this
WEIGHT_SLACK = 0.01
TARGET_FREQUENCIES = ("monthly", "quarterly", "annual")  # blank = monthly
PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}
TOLERANCE_BASES = ("change", "planned", "absolute")  # blank = the profile's (scorecard.yaml)
MILESTONE_STATUS = MILESTONE_STATUSES
RATINGS = DELIVERY_RATINGS  # worst to best (helpers.data.vocabulary)
ACTION_STATUS = ACTION_STATUSES
GENDERS = ("female", "male")
AGE_BANDS = ("18-29", "30-44", "45-59", "60+")
AREAS = ("urban", "rural")
LIKERT = (1, 2, 3, 4, 5)
DONT_KNOW = 9  # survey missing code: "don't know" -> NULL
LIKERT_CODES = (*LIKERT, DONT_KNOW)
ATTRIBUTES = {  # survey column prefix -> warehouse column
    "sat": "satisfaction",
    "staff": "staff_behaviour",
    "wait": "waiting_time",
    "cost": "cost",
    "avail": "availability",
    "clean": "cleanliness",
}
TRUE_WORDS = {"1", "yes", "y", "true", "t"}
FALSE_WORDS = {"0", "no", "n", "false", "f"}

_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_THOUSANDS_RE = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"
_INT_RE = r"^[+-]?\d+(\.0*)?$"
_MONTH_RE = r"^\d{4}-(0[1-9]|1[0-2])(-01)?$"
_DATE_RE = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
_FY_RE = re.compile(r"^(\d{4})-(\d{2})$")

KINDS = ("text", "number", "int", "month", "date", "bool", "likert", "fy")


@dataclass(frozen=True)
class Field:
    """One input column: name, kind (see KINDS) and whether a value is required."""

    name: str
    kind: str = "text"
    required: bool = True
    doc: str = ""
    #: the column itself may be absent from the file (read as blank); e.g. targets' tolerance
    optional_column: bool = False


@dataclass
class Context:
    """What content rules check against: the registry and the other inputs already read."""

    departments: frozenset[str] = frozenset()
    districts: frozenset[str] = frozenset()
    entities: frozenset[str] = frozenset()
    services: tuple[str, ...] = ()
    fiscal_years: frozenset[str] = frozenset()
    target_departments: dict[str, str] = field(default_factory=dict)
    #: target id -> frequency (monthly, quarterly, annual) from targets
    target_frequencies: dict[str, str] = field(default_factory=dict)
    #: the chart of accounts (default: the active profile's)
    funds: tuple[str, ...] = field(default_factory=funds)
    object_classes: tuple[str, ...] = field(default_factory=object_classes)
    #: object classes whose budget lines may be negative (chart: may_be_negative / role revenue)
    negative_classes: frozenset[str] = field(
        default_factory=lambda: profiles.active().chart.negative_ok
    )
    #: row labels a mapping marked as lines that may be negative (for the file being checked)
    negative_rows: frozenset = frozenset()
    #: performance contracts present: (department, fiscal_year)
    contracts: frozenset = frozenset()
    #: contract KPI id -> fiscal year (from contract_kpis)
    kpi_years: dict[str, str] = field(default_factory=dict)
    #: rows rejected in a parent file, by parent stem: {key tuple: 'row 5'}; a child row whose
    #: parent was rejected is counted once, as "<parent> rejected" (InputSpec.parent)
    rejected: dict[str, dict[tuple, str]] = field(default_factory=dict)

    def month_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last month of the budget's fiscal years (from budget_allocations).

        Only the budget family's own monthly file is checked against it: every other family's
        months come from its own data, so a government may provide any family alone."""
        if not self.fiscal_years:
            return None
        years = sorted(self.fiscal_years, key=calendar.fy_start_year)
        first = pd.Timestamp(calendar.fy_start(years[0]))
        last = pd.Timestamp(calendar.fy_end(years[-1]))
        return first, last


RuleBuilder = Callable[[Context], "list[pa.Check]"]


@dataclass(frozen=True)
class InputSpec:
    """An input file: stem (file name without extension), target table, columns, key, rules."""

    stem: str
    table: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    formats: tuple[str, ...] = ("csv", "xlsx")
    column_rules: Callable[[Context], dict[str, list[pa.Check]]] | None = None
    frame_rules: Callable[[Context], list[pa.Check]] | None = None
    doc: str = ""
    #: the file whose rows this one's rows belong to (matched on the parent's key columns)
    parent: str | None = None
    #: what one row is called in messages about its children ("target rejected")
    noun: str = "row"

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]


# --------------------------------------------------------------------------- parsing (vectorised)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _strip(s: pd.Series) -> pd.Series:
    return s.astype("string").str.strip()


def parse_number(s: pd.Series) -> pd.Series:
    """Numbers as float64 (NaN where blank, not a plain number, or not finite: '1e309' would
    otherwise load as infinity)."""
    if _is_numeric(s):
        v = s.astype("float64")
    else:
        t = _strip(s)
        ok = t.str.fullmatch(_NUMBER_RE).fillna(False).astype(bool)
        v = pd.to_numeric(t.where(ok), errors="coerce").astype("float64")
    return v.where(np.isfinite(v))


MAX_EXACT_INT = 2**53  # whole numbers beyond this are not exact in a float (nor safe as ids)


def parse_int(s: pd.Series) -> pd.Series:
    """Whole numbers as Int64 (NA where blank, fractional or beyond +-2**53)."""
    v = parse_number(s)
    whole = (np.floor(v) == v) & (v.abs() <= MAX_EXACT_INT)
    return v.where(whole).astype("Int64") if len(v) else v.astype("Int64")


def parse_month_series(s: pd.Series) -> pd.Series:
    """A column of month cells: 'YYYY-MM' (or 'YYYY-MM-01', or a spreadsheet date on the 1st)
    -> datetime64 first of month, NaT where a cell is not a month. For one month given as text
    use :func:`helpers.data.calendar.parse_month`."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.where(s.dt.day == 1).astype("datetime64[s]")
    t = _strip(s)
    ok = t.str.fullmatch(_MONTH_RE).fillna(False).astype(bool)
    return pd.to_datetime(
        t.where(ok).str.slice(0, 7) + "-01", errors="coerce", format="%Y-%m-%d"
    ).astype("datetime64[s]")


def parse_date(s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.normalize().astype("datetime64[s]")
    t = _strip(s)
    ok = t.str.fullmatch(_DATE_RE).fillna(False).astype(bool)
    return pd.to_datetime(t.where(ok), errors="coerce", format="%Y-%m-%d").astype("datetime64[s]")


def parse_bool(s: pd.Series) -> pd.Series:
    if _is_numeric(s):
        return s.map({1: True, 0: False}).astype("boolean")
    t = _strip(s).str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[t.isin(TRUE_WORDS).fillna(False).astype(bool)] = True
    out[t.isin(FALSE_WORDS).fillna(False).astype(bool)] = False
    return out


def parse_text(s: pd.Series) -> pd.Series:
    t = _strip(s)
    return t.where(t != "")


PARSERS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "text": parse_text,
    "number": parse_number,
    "int": parse_int,
    "month": parse_month_series,
    "date": parse_date,
    "bool": parse_bool,
    "likert": parse_int,
    "fy": parse_text,
}

_KIND_RULE = {
    "number": "not a number",
    "int": "not a whole number",
    "month": "not a month (YYYY-MM)",
    "date": "not a date (YYYY-MM-DD)",
    "bool": "not yes/no (1/0, yes/no, true/false)",
    "likert": "not a whole-number code",
}


def _parses(kind: str) -> Callable[[pd.Series], pd.Series]:
    parser = PARSERS[kind]

    def check(s: pd.Series) -> pd.Series:
        if kind in {"number", "int", "likert"} and not _is_numeric(s):
            # values with thousands separators get their own message (see below)
            t = _strip(s)
            thousands = t.str.fullmatch(_THOUSANDS_RE).fillna(False).astype(bool)
            return parser(s).notna() | thousands
        return parser(s).notna()

    return check


def _no_thousands(s: pd.Series) -> pd.Series:
    if _is_numeric(s):
        return pd.Series(True, index=s.index)
    return ~_strip(s).str.fullmatch(_THOUSANDS_RE).fillna(False).astype(bool)


def _fy_ok(s: pd.Series) -> pd.Series:
    """A fiscal-year label in the profile's style (2024-25 for a year starting mid-year, 2024 for January)."""
    return _strip(s).map(lambda v: isinstance(v, str) and calendar.is_fy_label(v)).astype(bool)


def month_fy(month: pd.Series) -> pd.Series:
    """Fiscal-year label of each month (NaT -> <NA>), in the profile's calendar."""
    out = pd.Series(pd.NA, index=month.index, dtype="string")
    ok = month.notna()
    if ok.any():
        starts = month[ok].dt.year - (month[ok].dt.month < calendar.fy_start_month())
        labels = {y: calendar.fy_label_of(int(y)) for y in starts.unique()}
        out[ok] = starts.map(labels)
    return out


def _elementwise(d: pd.DataFrame, results: dict[str, pd.Series]) -> pd.DataFrame:
    """A frame of pass/fail flags shaped like ``d`` (True for columns not in ``results``)."""
    true = np.ones(len(d), dtype=bool)
    data = {c: (results[c].to_numpy(dtype=bool) if c in results else true) for c in d.columns}
    return pd.DataFrame(data, index=d.index)


GROUPED_KINDS = ("likert", "bool")  # checked in one element-wise pass when a file has many


def _grouped_check(kind: str, columns: list[str]) -> pa.Check:
    parses = _parses(kind)

    def check(d: pd.DataFrame) -> pd.DataFrame:
        return _elementwise(d, {c: parses(d[c]) | d[c].isna() for c in columns})

    return pa.Check(check, error=f"*|{_KIND_RULE[kind]}")


def format_schema(spec: InputSpec) -> pa.DataFrameSchema:
    """Pass 1: columns present, required values present, values parse as their kind."""
    grouped = {k: [f.name for f in spec.fields if f.kind == k] for k in GROUPED_KINDS}
    grouped = {k: v for k, v in grouped.items() if len(v) > 3}
    cols = {}
    for f in spec.fields:
        checks = []
        if f.kind in _KIND_RULE and f.kind not in grouped:
            checks.append(pa.Check(_parses(f.kind), error=_KIND_RULE[f.kind]))
        if f.kind in {"number", "int"} or (f.kind == "likert" and "likert" not in grouped):
            checks.append(
                pa.Check(
                    _no_thousands,
                    error="thousands separator in number (export plain numbers, e.g. 1234.5)",
                )
            )
        if f.kind == "fy":
            checks.append(
                pa.Check(_fy_ok, error=f"not a fiscal year ({calendar.fy_label_example()})")
            )
        cols[f.name] = pa.Column(None, checks=checks, nullable=not f.required, required=True)
    frame_checks = [_grouped_check(k, v) for k, v in grouped.items()]
    return pa.DataFrameSchema(cols, checks=frame_checks, name=spec.stem)


def parse_frame(spec: InputSpec, raw: pd.DataFrame) -> pd.DataFrame:
    """Typed frame (index preserved) from raw cells that passed :func:`format_schema`."""
    out = pd.DataFrame(index=raw.index)
    for f in spec.fields:
        out[f.name] = PARSERS[f.kind](raw[f.name])
    return out


# --------------------------------------------------------------------------- content rules


def _isin(values, what: str) -> pa.Check:
    allowed = list(values)
    shown = ", ".join(map(str, allowed)) if len(allowed) <= 14 else f"{len(allowed)} known values"
    return pa.Check.isin(allowed, error=f"{what} (allowed: {shown})")


def _known(values, what: str) -> pa.Check:
    allowed = list(values)
    return pa.Check.isin(allowed, error=f"unknown {what} (not in the registry)")


def _non_negative(what: str = "amount") -> pa.Check:
    return pa.Check.ge(0, error=f"negative {what}")


def _in_data_months(ctx: Context, what: str = "month") -> list[pa.Check]:
    rng = ctx.month_range()
    if rng is None:
        return []
    first, last = rng
    label = f"{first:%Y-%m}..{last:%Y-%m}"
    return [
        pa.Check.in_range(
            first,
            last + pd.offsets.MonthEnd(0),
            error=f"{what} out of range ({label}, the data's fiscal years)",
        )
    ]


def _row_rule(column: str, rule: str, fn: Callable[[pd.DataFrame], pd.Series]) -> pa.Check:
    """A frame-level rule reported against one column: error text is 'column|rule'."""
    return pa.Check(fn, error=f"{column}|{rule}")


def _budget_alloc_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "department": [_known(ctx.departments, "department")],
        "fund": [_isin(ctx.funds, "unknown fund")],
        "object_class": [_isin(ctx.object_classes, "unknown object class")],
    }


def _may_be_negative(ctx: Context, d: pd.DataFrame) -> pd.Series:
    """Lines allowed to be negative: their class says so, or the mapping marked the row."""
    ok = d["object_class"].isin(list(ctx.negative_classes)).fillna(False).astype(bool)
    if ctx.negative_rows:
        ok |= d.index.isin(list(ctx.negative_rows))
    return ok


def _budget_alloc_rows(ctx: Context) -> list[pa.Check]:
    def non_negative(col: str) -> Callable[[pd.DataFrame], pd.Series]:
        return lambda d: (d[col] >= 0) | d[col].isna() | _may_be_negative(ctx, d)

    def revised_pair(d: pd.DataFrame) -> pd.Series:
        return d["revised_estimate"].isna() == d["revised_month"].isna()

    def revised_in_year(d: pd.DataFrame) -> pd.Series:
        start = pd.to_datetime(
            d["fiscal_year"].map(
                lambda fy: calendar.fy_start(fy) if calendar.is_fy_label(fy) else None
            ),
            errors="coerce",
        )
        m = d["revised_month"]
        return m.isna() | ((m >= start) & (m < start + pd.DateOffset(years=1)))

    return [
        _row_rule("budget_estimate", "negative amount", non_negative("budget_estimate")),
        _row_rule("revised_estimate", "negative amount", non_negative("revised_estimate")),
        _row_rule(
            "revised_month",
            "revised_estimate and revised_month must both be given or both blank",
            revised_pair,
        ),
        _row_rule("revised_month", "revised_month outside the fiscal year", revised_in_year),
    ]


def _budget_monthly_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "department": [_known(ctx.departments, "department")],
        "month": _in_data_months(ctx),
        "fund": [_isin(ctx.funds, "unknown fund")],
        "object_class": [_isin(ctx.object_classes, "unknown object class")],
    }


def _budget_monthly_rows(ctx: Context) -> list[pa.Check]:
    def signed(col: str) -> Callable[[pd.DataFrame], pd.Series]:
        return lambda d: (
            (d[col] >= 0)
            | d[col].isna()
            | d["reversal"].fillna(False).astype(bool)
            | _may_be_negative(ctx, d)
        )

    def in_fiscal_years(d: pd.DataFrame) -> pd.Series:
        if not ctx.fiscal_years:
            return pd.Series(True, index=d.index)
        fy = month_fy(d["month"])
        return fy.isin(list(ctx.fiscal_years)).fillna(False).astype(bool)

    fys = ", ".join(sorted(ctx.fiscal_years))
    return [
        _row_rule("release", "negative amount without reversal flag", signed("release")),
        _row_rule(
            "release",
            "blank while other rows of the file give releases (give every row's, or none)",
            lambda d: d["release"].notna() | bool(d["release"].isna().all()),
        ),
        _row_rule("expenditure", "negative amount without reversal flag", signed("expenditure")),
        _row_rule(
            "month",
            f"month outside the fiscal years in budget_allocations ({fys})",
            in_fiscal_years,
        ),
    ]


def period_end(month: pd.Series, frequency: pd.Series) -> pd.Series:
    """True where ``month`` is the last month of a period of ``frequency`` (fiscal quarters and
    years of the profile's calendar; every month for monthly or blank). NaT/NA pass."""
    n = frequency.map(PERIOD_MONTHS).fillna(1).astype(int)
    k = (month.dt.month - calendar.fy_start_month()) % 12 + 1  # 1 = first month of the year
    ok = (k % n) == 0
    return (month.isna() | ok.fillna(True)).astype(bool)


def _quarter_ends() -> str:
    """The fiscal quarters' last months in the profile's calendar ('Sep, Dec, Mar, Jun')."""
    return ", ".join(
        pd.Timestamp(2000, (calendar.fy_start_month() - 1 + k) % 12 + 1, 1).strftime("%b")
        for k in (2, 5, 8, 11)
    )


def _period_rule(what: str) -> str:
    q = _quarter_ends()
    y = pd.Timestamp(2000, (calendar.fy_start_month() - 2) % 12 + 1, 1).strftime("%b")
    return f"{what} not at the end of the target's period (quarterly: {q}; annual: {y})"


def target_rules() -> list[tuple[str, str, Callable[[pd.DataFrame], pd.Series]]]:
    """The rules a targets row must satisfy: (column, rule, fn(frame) -> bool per row).

    One list for ``make data`` (:func:`_targets_rows`) and the analysis
    (:func:`helpers.analysis.stocktake.prepare_targets`): a target file that contradicts itself
    is refused at load, never first at report time. Optional columns may be absent from ``d``.
    """

    def col(d: pd.DataFrame, c: str) -> pd.Series:
        return d[c] if c in d.columns else pd.Series(np.nan, index=d.index, dtype="float64")

    def text(d: pd.DataFrame, c: str) -> pd.Series:
        v = d[c] if c in d.columns else pd.Series(pd.NA, index=d.index, dtype="object")
        return v.astype("string").str.strip()

    def maintain(d):
        return (text(d, "direction") == "maintain").fillna(False).astype(bool)

    def no_band(d):
        return ~maintain(d) | (col(d, "band_low").notna() & col(d, "band_high").notna())

    def band_only_maintain(d):
        has = col(d, "band_low").notna() | col(d, "band_high").notna()
        return maintain(d) | ~has | text(d, "direction").isna()

    def band_order(d):
        lo, hi = col(d, "band_low"), col(d, "band_high")
        return lo.isna() | hi.isna() | (lo <= hi)

    def value_in_band(d):
        lo, hi, tv = col(d, "band_low"), col(d, "band_high"), col(d, "target_value")
        return ~maintain(d) | lo.isna() | hi.isna() | tv.isna() | ((lo <= tv) & (tv <= hi))

    def basis(d):
        b = text(d, "tolerance_basis")
        return b.isna() | b.isin(TOLERANCE_BASES).fillna(False).astype(bool)

    def tolerance_range(d):
        t, b = col(d, "tolerance"), text(d, "tolerance_basis")
        relative = b.isin(["change", "planned"]).fillna(False).astype(bool)
        return t.isna() | ((t >= 0) & (~relative | (t < 1)))

    def basis_needs_tolerance(d):
        return text(d, "tolerance_basis").isna() | col(d, "tolerance").notna()

    def frequency(d):
        f = text(d, "frequency")
        return f.isna() | f.isin(TARGET_FREQUENCIES).fillna(False).astype(bool)

    def verifies(d, check):
        v = text(d, "verifies")
        ids = d["target_id"].astype("string").str.strip()
        dept = dict(zip(ids, d["department"], strict=False)) if "department" in d else {}
        ver = dict(zip(ids, v, strict=False))
        out = []
        for i, tid, dep in zip(v, ids, d.get("department", ids), strict=True):
            if i is pd.NA or i is None or (isinstance(i, float) and np.isnan(i)):
                out.append(True)
            elif check == "known":
                out.append(i in dept)
            elif check == "self":
                out.append(i != tid)
            elif check == "department":
                out.append(i not in dept or dept[i] == dep)
            else:  # chain: the verified target must itself be a reported one
                out.append(i not in ver or pd.isna(ver[i]))
        return pd.Series(out, index=d.index, dtype=bool)

    def rollup(d):
        r = text(d, "district_rollup")
        return r.isna() | r.isin(DISTRICT_ROLLUPS).fillna(False).astype(bool)

    def rollup_districts(d):
        r = text(d, "district_rollup")
        has = (
            d["has_districts"] if "has_districts" in d.columns else pd.Series(False, index=d.index)
        )
        return r.isna() | has.fillna(False).astype(bool)

    def at_period_end(c):
        def fn(d):
            if c not in d.columns:
                return pd.Series(True, index=d.index)
            return period_end(pd.to_datetime(d[c]), text(d, "frequency"))

        return fn

    return [
        ("target_month", "target_month not after baseline_month",
         lambda d: ~(d["target_month"] <= d["baseline_month"]).fillna(False).astype(bool)),
        ("band_low", "maintain target without a band (band_low and band_high required)", no_band),
        ("band_low", "band given for an up/down target (only maintain targets have a band)",
         band_only_maintain),
        ("band_high", "band_high below band_low", band_order),
        ("target_value", "maintain target_value outside its band (band_low..band_high)",
         value_in_band),
        ("tolerance_basis", f"unknown tolerance_basis (allowed: {', '.join(TOLERANCE_BASES)})",
         basis),
        ("tolerance", "tolerance negative, or 1 or more for a relative basis (change, planned)",
         tolerance_range),
        ("tolerance", "tolerance_basis given without a tolerance", basis_needs_tolerance),
        ("frequency", f"unknown frequency (allowed: {', '.join(TARGET_FREQUENCIES)})", frequency),
        ("baseline_month", _period_rule("baseline_month"), at_period_end("baseline_month")),
        ("target_month", _period_rule("target_month"), at_period_end("target_month")),
        ("district_rollup", f"unknown district_rollup (allowed: {', '.join(DISTRICT_ROLLUPS)})",
         rollup),
        ("district_rollup", "district_rollup needs has_districts yes", rollup_districts),
        ("verifies", "verifies a target_id not in targets", lambda d: verifies(d, "known")),
        ("verifies", "a target cannot verify itself", lambda d: verifies(d, "self")),
        ("verifies", "verifies a target of another department",
         lambda d: verifies(d, "department")),
        ("verifies", "verifies a target that itself verifies another",
         lambda d: verifies(d, "chain")),
    ]  # fmt: skip


def _targets_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "department": [_known(ctx.departments, "department")],
        "direction": [_isin(DIRECTIONS, "unknown direction")],
    }


def _targets_rows(ctx: Context) -> list[pa.Check]:
    return [_row_rule(c, rule, fn) for c, rule, fn in target_rules()]


def _target_ref(ctx: Context) -> list[pa.Check]:
    return [pa.Check.isin(list(ctx.target_departments), error="unknown target_id (not in targets)")]


def _dept_matches_target(ctx: Context) -> list[pa.Check]:
    def same(d: pd.DataFrame) -> pd.Series:
        expected = d["target_id"].map(ctx.target_departments)
        return expected.isna() | d["target_id"].isna() | (expected == d["department"])

    return [_row_rule("department", "department differs from the target's department", same)]


def _at_target_frequency(ctx: Context, what: str) -> list[pa.Check]:
    """Trajectory and actual months at the end of their target's period (quarterly, annual)."""

    def fn(d: pd.DataFrame) -> pd.Series:
        freq = d["target_id"].map(ctx.target_frequencies)
        return period_end(d["month"], freq.astype("object"))

    return [_row_rule("month", _period_rule(f"{what} month"), fn)]


def _trajectory_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {"target_id": _target_ref(ctx)}


def _trajectory_rows(ctx: Context) -> list[pa.Check]:
    return _at_target_frequency(ctx, "trajectory")


def _actuals_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "target_id": _target_ref(ctx),
        "district_pcode": [_known(ctx.districts, "district")],
    }


def _actuals_rows(ctx: Context) -> list[pa.Check]:
    return _at_target_frequency(ctx, "actual")


def _milestones_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "target_id": _target_ref(ctx),
        "department": [_known(ctx.departments, "department")],
        "status": [_isin(MILESTONE_STATUS, "unknown status")],
    }


def _milestones_rows(ctx: Context) -> list[pa.Check]:
    def completed_has_date(d: pd.DataFrame) -> pd.Series:
        return (d["status"] != "completed") | d["completed_date"].notna()

    return [
        *_dept_matches_target(ctx),
        _row_rule("completed_date", "status completed without completed_date", completed_has_date),
    ]


def _ratings_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "target_id": _target_ref(ctx),
        "department": [_known(ctx.departments, "department")],
        "rating": [_isin(RATINGS, "unknown rating")],
    }


def _actions_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "target_id": _target_ref(ctx),
        "department": [_known(ctx.departments, "department")],
        "status": [_isin(ACTION_STATUS, "unknown status")],
    }


def _revenue_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "department": [_known(ctx.departments, "department")],
        "budget_estimate": [_non_negative()],
        "actual": [_non_negative()],
    }


def _revenue_rows(ctx: Context) -> list[pa.Check]:
    def category_named(d: pd.DataFrame) -> pd.Series:
        # a category is a name, not a number: an amount shifted into the category column
        # (a misaligned export) would otherwise load as a category of its own
        return ~d["category"].astype("string").str.fullmatch(_NUMBER_RE).fillna(False).astype(bool)

    return [_row_rule("category", "category is a number (expected a revenue line's name)",
                      category_named)]  # fmt: skip


def _pse_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    amounts = ["own_revenue", "grants_received", "expenditure", "liabilities", "assets", "cash"]

    def quarter_end(s: pd.Series) -> pd.Series:
        return s.dt.is_quarter_end

    return {
        "entity_id": [_known(ctx.entities, "entity")],
        "quarter_end": [
            pa.Check(quarter_end, error="not a quarter end (31 Mar, 30 Jun, 30 Sep, 31 Dec)"),
        ],
        **{a: [_non_negative()] for a in amounts},
    }


def _pse_rows(ctx: Context) -> list[pa.Check]:
    return [
        _row_rule(
            "submitted_date",
            "submitted before the quarter ended",
            lambda d: d["submitted_date"].isna() | (d["submitted_date"] >= d["quarter_end"]),
        )
    ]


def _contracts_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    bands = {
        b: [pa.Check.in_range(0, 100, include_min=False, error="band not in (0, 100]")]
        for b in CONTRACT_BANDS
    }
    return {"department": [_known(ctx.departments, "department")], **bands}


def _contracts_rows(ctx: Context) -> list[pa.Check]:
    def all_or_none(d: pd.DataFrame) -> pd.Series:
        n = d[list(CONTRACT_BANDS)].notna().sum(axis=1)
        return (n == 0) | (n == len(CONTRACT_BANDS))

    def descending(d: pd.DataFrame) -> pd.Series:
        v = d[list(CONTRACT_BANDS)]
        ok = pd.Series(True, index=d.index)
        for hi, lo in zip(CONTRACT_BANDS, CONTRACT_BANDS[1:], strict=False):
            ok &= v[hi].isna() | v[lo].isna() | (v[hi] > v[lo])
        return ok

    first = CONTRACT_BANDS[0]
    return [
        _row_rule(first, "give all four bands or none (none: the profile's)", all_or_none),
        _row_rule(first, "bands must fall from band_a to band_d", descending),
    ]


def kpi_rules() -> list[tuple[str, str, Callable[[pd.DataFrame], pd.Series]]]:
    """The rules a contract KPI row must satisfy (column, rule, fn(frame) -> bool per row); one
    list for ``make data`` and :func:`helpers.analysis.contracts.prepare`."""

    def is_(d, direction):
        return (d["direction"] == direction).fillna(False).astype(bool)

    def band(d):
        ok = d["band_low"].notna() & d["band_high"].notna() & (d["band_low"] <= d["band_high"])
        return ~is_(d, "maintain") | ok

    def band_only_maintain(d):
        return is_(d, "maintain") | (d["band_low"].isna() & d["band_high"].isna())

    def beyond_baseline(d):
        b, t = d["baseline"], d["target"]
        up = ~is_(d, "up") | b.isna() | t.isna() | (t > b)
        down = ~is_(d, "down") | b.isna() | t.isna() | (t < b)
        return up & down

    def ratio_target(d):
        # without a baseline, achievement is actual / target (up) or target / actual (down)
        t = d["target"]
        plain = (is_(d, "up") | is_(d, "down")) & d["baseline"].isna()
        return ~plain | t.isna() | (t > 0)

    return [
        ("band_low", "a maintain KPI needs band_low <= band_high", band),
        ("band_low", "band_low/band_high only for direction maintain", band_only_maintain),
        ("target", "target must lie beyond the baseline in the KPI's direction", beyond_baseline),
        ("target", "without a baseline the target must be above 0", ratio_target),
    ]


def _kpis_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "department": [_known(ctx.departments, "department")],
        "direction": [_isin(DIRECTIONS, "unknown direction")],
        "weight": [pa.Check.gt(0, error="weight not positive")],
    }


def _kpis_rows(ctx: Context) -> list[pa.Check]:
    def has_contract(d: pd.DataFrame) -> pd.Series:
        keys = pd.Series(list(zip(d["department"], d["fiscal_year"], strict=True)), index=d.index)
        known = d["department"].isna() | d["fiscal_year"].isna()
        return known | keys.isin(list(ctx.contracts))

    def weights_sum(d: pd.DataFrame) -> pd.Series:
        total = d.groupby(["department", "fiscal_year"], dropna=False)["weight"].transform("sum")
        return d["weight"].isna() | ((total - WEIGHT_TOTAL).abs() <= WEIGHT_SLACK)

    return [
        _row_rule(
            "fiscal_year", "no contract for this department and year (contracts)", has_contract
        ),
        _row_rule(
            "weight", f"the weights of a contract's KPIs must sum to {WEIGHT_TOTAL:g}", weights_sum
        ),
        *[_row_rule(c, rule, fn) for c, rule, fn in kpi_rules()],
    ]


def _progress_cols(ctx: Context) -> dict[str, list[pa.Check]]:
    return {
        "kpi_id": [
            pa.Check.isin(list(ctx.kpi_years), error="unknown kpi_id (not in contract_kpis)")
        ]
    }


def _progress_rows(ctx: Context) -> list[pa.Check]:
    def in_year(d: pd.DataFrame) -> pd.Series:
        fy = d["kpi_id"].map(ctx.kpi_years)
        got = month_fy(d["month"]).astype("object")
        return fy.isna() | d["month"].isna() | (got == fy)

    def quarter(d: pd.DataFrame) -> pd.Series:
        return period_end(d["month"], pd.Series("quarterly", index=d.index))

    return [
        _row_rule("month", "month outside the KPI's fiscal year", in_year),
        _row_rule("month", f"progress month not at a quarter end ({_quarter_ends()})", quarter),
    ]


F = Field
SPECS: dict[str, InputSpec] = {
    s.stem: s
    for s in [
        InputSpec(
            "budget_allocations",
            "budget_allocations",
            (
                F("department"),
                F("fiscal_year", "fy"),
                F("fund"),
                F("object_class"),
                F("budget_estimate", "number"),
                F("revised_estimate", "number", False),
                F("revised_month", "month", False),
            ),
            ("department", "fiscal_year", "fund", "object_class"),
            column_rules=_budget_alloc_cols,
            frame_rules=_budget_alloc_rows,
        ),
        InputSpec(
            "budget_monthly",
            "budget_monthly",
            (
                F("department"),
                F("month", "month"),
                F("fund"),
                F("object_class"),
                # releases: a within-year cash plan some sources do not have (BOOST); the
                # column may be left out, or blank on every row of a file, never on some
                F("release", "number", False, optional_column=True),
                F("expenditure", "number"),
                F("reversal", "bool", False),
            ),
            ("department", "month", "fund", "object_class"),
            column_rules=_budget_monthly_cols,
            frame_rules=_budget_monthly_rows,
        ),
        InputSpec(
            "revenue",
            "revenue",
            (
                F("department"),
                F("fiscal_year", "fy"),
                F("category"),
                F("budget_estimate", "number"),
                F("actual", "number", False),
            ),
            ("department", "fiscal_year", "category"),
            column_rules=_revenue_cols,
            frame_rules=_revenue_rows,
            doc="The revenue book: originally budgeted and actual receipts per fiscal year, "
            "revenue category and collecting department (PEFA PI-3).",
        ),
        InputSpec(
            "targets",
            "targets",
            (
                F("target_id"),
                F("department"),
                F("title"),
                F("unit", required=False),
                F("direction"),
                F("baseline", "number"),
                F("baseline_month", "month"),
                F("target_value", "number"),
                F("target_month", "month"),
                F("owner"),
                F("has_districts", "bool"),
                F("frequency", required=False, optional_column=True),
                F("tolerance", "number", False, optional_column=True),
                F("tolerance_basis", required=False, optional_column=True),
                F("band_low", "number", False, optional_column=True),
                F("band_high", "number", False, optional_column=True),
                F("verifies", required=False, optional_column=True),
                F("district_rollup", required=False, optional_column=True),
            ),
            ("target_id",),
            column_rules=_targets_cols,
            frame_rules=_targets_rows,
            noun="target",
        ),
        InputSpec(
            "target_trajectory",
            "target_trajectory",
            (F("target_id"), F("month", "month"), F("planned", "number")),
            ("target_id", "month"),
            column_rules=_trajectory_cols,
            frame_rules=_trajectory_rows,
            parent="targets",
        ),
        InputSpec(
            "target_actuals",
            "target_actuals",
            (
                F("target_id"),
                F("month", "month"),
                F("district_pcode", required=False),
                F("actual", "number"),
            ),
            ("target_id", "month", "district_pcode"),
            column_rules=_actuals_cols,
            frame_rules=_actuals_rows,
            parent="targets",
        ),
        InputSpec(
            "milestones",
            "milestones",
            (
                F("milestone_id"),
                F("target_id"),
                F("department"),
                F("title"),
                F("due_date", "date"),
                F("completed_date", "date", False),
                F("status"),
            ),
            ("milestone_id",),
            column_rules=_milestones_cols,
            frame_rules=_milestones_rows,
            parent="targets",
        ),
        InputSpec(
            "ratings",
            "ratings",
            (
                F("department"),
                F("target_id"),
                F("stocktake_date", "date"),
                F("rating"),
                F("comment", required=False),
            ),
            ("target_id", "stocktake_date"),
            column_rules=_ratings_cols,
            frame_rules=_dept_matches_target,
            parent="targets",
        ),
        InputSpec(
            "actions",
            "actions",
            (
                F("action_id"),
                F("department"),
                F("target_id", required=False),
                F("stocktake_date", "date"),
                F("action"),
                F("owner"),
                F("due_date", "date"),
                F("status"),
            ),
            ("action_id",),
            column_rules=_actions_cols,
            frame_rules=_dept_matches_target,
            parent="targets",
        ),
        InputSpec(
            "pse_returns",
            "pse_returns",
            (
                F("entity_id"),
                F("quarter_end", "date"),
                F("own_revenue", "number"),
                F("grants_received", "number"),
                F("expenditure", "number"),
                F("liabilities", "number"),
                F("assets", "number"),
                F("cash", "number"),
                F("submitted_date", "date", False),
            ),
            ("entity_id", "quarter_end"),
            column_rules=_pse_cols,
            frame_rules=_pse_rows,
        ),
        InputSpec(
            "contracts",
            "contracts",
            (
                F("department"),
                F("fiscal_year", "fy"),
                F("signed_date", "date", False, optional_column=True),
                *(F(b, "number", False, optional_column=True) for b in CONTRACT_BANDS),
            ),
            ("department", "fiscal_year"),
            column_rules=_contracts_cols,
            frame_rules=_contracts_rows,
            noun="contract",
        ),
        InputSpec(
            "contract_kpis",
            "contract_kpis",
            (
                F("kpi_id"),
                F("department"),
                F("fiscal_year", "fy"),
                F("title"),
                F("unit", required=False, optional_column=True),
                F("direction"),
                F("weight", "number"),
                F("baseline", "number", False, optional_column=True),
                F("target", "number"),
                F("band_low", "number", False, optional_column=True),
                F("band_high", "number", False, optional_column=True),
            ),
            ("kpi_id",),
            column_rules=_kpis_cols,
            frame_rules=_kpis_rows,
            parent="contracts",
            noun="KPI",
        ),
        InputSpec(
            "contract_progress",
            "contract_progress",
            (
                F("kpi_id"),
                F("month", "month"),
                F("actual", "number"),
                F("planned", "number", False, optional_column=True),
            ),
            ("kpi_id", "month"),
            column_rules=_progress_cols,
            frame_rules=_progress_rows,
            parent="contract_kpis",
        ),
    ]
}


SURVEY_STEM = "survey"  # survey_YYYY-MM.{sav,csv,xlsx}, one file per wave
SURVEY_FILE_RE = re.compile(r"^survey_(\d{4}-\d{2})\.(sav|csv|xlsx)$")
SURVEY_BASE_FIELDS = (
    F("respondent_id", "int"),
    F("district_pcode"),
    F("psu"),
    F("weight", "number"),
    F("stratum_population", "number"),
    F("gender"),
    F("age_band"),
    F("area"),
    F("overall_satisfaction", "likert", False),
)


def survey_base_fields(inst) -> list[Field]:
    """The respondent-level columns an instrument uses (KP: all of SURVEY_BASE_FIELDS), by
    their canonical names; a design column the instrument leaves out is not read."""
    d = inst.design
    out = [F("respondent_id", "int")]
    if inst.geography is not None:
        out.append(F("district_pcode"))
    if d.psu is not None:
        out.append(F("psu"))
    if d.weight is not None:
        out.append(F("weight", "number"))
    if inst.stratum_column == "stratum":
        out.append(F("stratum"))
    if d.fpc is not None:
        out.append(F("stratum_population", "number"))
    for name in ("gender", "age_band", "area"):
        if name in inst.categories:
            out.append(F(name, "text", inst.categories[name].required))
    if inst.overall is not None:
        out.append(F("overall_satisfaction", "likert", False))
    return out


def survey_spec(services: tuple[str, ...], instrument=None) -> InputSpec:
    """The spec of one survey wave file for the services present in it (wide layout), as the
    instrument (default: the active profile's, see :mod:`helpers.data.survey_instrument`)
    defines it. Column names are canonical (KP's); :func:`helpers.data.ingest` renames the
    file's own columns to them and reports problems under the file's names."""
    from helpers.data import survey_instrument

    inst = instrument or survey_instrument.active()
    fields = survey_base_fields(inst)
    rating_cols: dict[str, tuple[str | None, object]] = {}  # column -> (used column, scale)
    for s in services:
        used = f"{inst.used_prefix}_{s}"
        if inst.needs_used(s):
            fields.append(F(used, "bool"))
        for item in inst.service_items.values():
            col = item.canonical(s)
            fields.append(F(col, "likert", False))
            rating_cols[col] = (used if item.asked == "users" else None, item.scale)

    def cols(ctx: Context) -> dict[str, list[pa.Check]]:
        out: dict[str, list[pa.Check]] = {
            "district_pcode": [_known(ctx.districts, "district")],
            "weight": [pa.Check.gt(0, error="weight not positive")],
            "stratum_population": [pa.Check.gt(0, error="stratum_population not positive")],
        }
        for name, cat in inst.categories.items():
            what = {"gender": "unknown gender", "age_band": "unknown age band"}.get(
                name, f"unknown {name.replace('_', ' ')}"
            )
            out[name] = [_isin(cat.levels, what)]
        if inst.overall_item is not None:
            sc = inst.overall_item.scale
            out["overall_satisfaction"] = [pa.Check.isin(list(sc.allowed), error=sc.rule)]
        return out

    def rows(ctx: Context) -> list[pa.Check]:
        names = {f.name for f in fields}

        def one_district_per_psu(d: pd.DataFrame) -> pd.Series:
            n = d.groupby("psu")["district_pcode"].transform("nunique")
            return n <= 1

        def one_stratum_per_psu(d: pd.DataFrame) -> pd.Series:
            n = d.groupby("psu")["stratum"].transform("nunique")
            return n <= 1

        strata = inst.stratum_column

        def constant_population(d: pd.DataFrame) -> pd.Series:
            if strata is None:
                return pd.Series(d["stratum_population"].nunique() <= 1, index=d.index)
            n = d.groupby(strata)["stratum_population"].transform("nunique")
            return n <= 1

        checks = []
        if "psu" in names and strata == "district_pcode":
            checks.append(
                _row_rule("psu", "PSU appears in more than one district", one_district_per_psu)
            )
        elif "psu" in names and strata == "stratum":
            checks.append(
                _row_rule("psu", "PSU appears in more than one stratum", one_stratum_per_psu)
            )
        if "stratum_population" in names:
            where = {"district_pcode": "district", "stratum": "stratum"}.get(strata, "file")
            checks.append(
                _row_rule(
                    "stratum_population",
                    f"stratum_population differs within the {where}",
                    constant_population,
                )
            )
        by_rule: dict[str, list[str]] = {}
        for c, (_u, sc) in rating_cols.items():
            by_rule.setdefault(sc.rule, []).append(c)
        for rule, group in by_rule.items():
            allowed = list(rating_cols[group[0]][1].allowed)

            def codes_ok(d: pd.DataFrame, group=group, allowed=allowed) -> pd.DataFrame:
                return _elementwise(d, {c: d[c].isin(allowed) | d[c].isna() for c in group})

            checks.append(pa.Check(codes_ok, error=f"*|{rule}"))
        users_only = {c: u for c, (u, _sc) in rating_cols.items() if u is not None}

        def unused_blank(d: pd.DataFrame) -> pd.DataFrame:
            return _elementwise(
                d,
                {c: d[u].fillna(True).astype(bool) | d[c].isna() for c, u in users_only.items()},
            )

        if users_only:
            checks.append(
                pa.Check(
                    unused_blank, error="*|rating given for a service not used (used_<service> = 0)"
                )
            )
        return checks

    return InputSpec(
        SURVEY_STEM,
        "survey",
        tuple(fields),
        ("respondent_id",),
        formats=("sav", "csv", "xlsx"),
        column_rules=cols,
        frame_rules=rows,
    )


def content_schema(spec: InputSpec, ctx: Context) -> pa.DataFrameSchema:
    """Pass 2: allowed values, registry membership, ranges, unique key, cross-column rules."""
    rules = spec.column_rules(ctx) if spec.column_rules else {}
    cols = {
        f.name: pa.Column(None, checks=rules.get(f.name, []), nullable=True, required=True)
        for f in spec.fields
    }
    return pa.DataFrameSchema(
        cols,
        checks=spec.frame_rules(ctx) if spec.frame_rules else [],
        unique=list(spec.key),
        report_duplicates="exclude_first",
        name=spec.stem,
    )


@dataclass(frozen=True)
class Problem:
    """One validation failure. ``row`` is the label used in messages (None: whole file)."""

    column: str | None
    rule: str
    value: object = None
    index: int | None = None


def failures(
    schema: pa.DataFrameSchema, frame: pd.DataFrame, key: tuple[str, ...] = ()
) -> list[Problem]:
    """Run a pandera schema lazily and turn its failure cases into :class:`Problem` rows."""
    try:
        schema.validate(frame, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
    out: dict[tuple, Problem] = {}
    for rec in fc.to_dict("records"):
        check = str(rec.get("check"))
        column = rec.get("column")
        idx = rec.get("index")
        idx = None if idx is None or (isinstance(idx, float) and np.isnan(idx)) else int(idx)
        value = rec.get("failure_case")
        if check == "column_in_dataframe":
            out[(None, "missing", value)] = Problem(str(value), "missing column")
            continue
        if check == "not_nullable":
            rule = "missing value"
        elif check == "multiple_fields_uniqueness":
            column = key[-1] if key else column
            rule = f"duplicate key ({', '.join(key)})"
            value = frame.loc[idx, column] if idx is not None and column in frame else value
        elif check.startswith("*|") and isinstance(value, dict) and value:
            # An element-wise frame check: one problem per failing column of the row.
            rule = check[2:]
            for column, cell in value.items():
                k = (idx, column, rule)
                if k not in out:
                    out[k] = Problem(str(column), rule, _plain(cell), idx)
            continue
        elif "|" in check and rec.get("schema_context") == "DataFrameSchema":
            column, rule = check.split("|", 1)
            value = frame.loc[idx, column] if idx is not None and column in frame else None
        else:
            rule = check
        if column is not None and idx is not None and column in frame:
            value = frame.loc[idx, column]
        k = (idx, column, rule)
        if k not in out:
            out[k] = Problem(None if column is None else str(column), rule, _plain(value), idx)
    return sorted(
        out.values(), key=lambda p: (p.index if p.index is not None else -1, p.column or "")
    )


def _plain(value):
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):  # components: strftime fails outside years 1-9999
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
