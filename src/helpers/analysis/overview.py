"""Province overview: every department side by side (budget execution, targets, survey).

Pure functions on tidy DataFrames; nothing here opens the warehouse (the loader in
:mod:`helpers.present.overview` passes the frames in). The overview reuses the family analyses
and adds only what the side-by-side view needs:

- budget position per department: :func:`helpers.analysis.budget.province_summary`;
- targets: :func:`helpers.analysis.stocktake.province_scorecard` (departments without targets
  are shown as "no targets", never as a score of 0);
- citizen survey: design-based, disclosure-controlled estimates from
  :mod:`helpers.analysis.survey` for the latest wave at or before the report month and the
  wave before it (no respondent-level row ever leaves this module);
- PEFA budget reliability at province level: :func:`helpers.analysis.budget.pefa_province`.

Definitions
-----------
Gap matrix (the heatmap)
    For each department budgeted in the fiscal year of the report month and each month m of
    that year up to the report month: ``gap = cumulative expenditure from the fiscal year's first month to m / annual BE - m/12``
    (a ratio; 0.05 = 5 percentage points ahead of the time-elapsed benchmark). Cumulative
    expenditure covers reported rows only, exactly as in ``province_summary``; a month with no
    row for the department is a data gap and its cell is missing (NaN), never zero. A department
    with a zero BE has no utilisation (NaN).

Province totals
    Province utilisation = sum of departments' cumulative expenditure / sum of their BE.

"Needs attention" rule (:class:`AttentionRule`, each threshold a named constant)
    A department collects a *reason* for each warning sign below, and needs attention when it
    has at least ``min_reasons`` of them (default 2: the time-elapsed benchmark is linear while
    spending is bunched in the year's last two months, so one sign alone is common and not on its own alarming).

    ``underspend``         utilisation of BE more than ``underspend_margin`` below the benchmark;
    ``projected_low``      projected year-end spending below ``projection_floor`` of BE;
    ``projected_high``     projected year-end spending above ``projection_ceiling`` of BE;
    ``low_grade``          performance-contract grade in ``low_grades`` (the bottom bands);
    ``targets_off_track``  share of targets on track (or met) below ``min_on_track_share``;
    ``missing_months``     more than ``max_missing_months`` months missing or incomplete this
                           fiscal year;
    ``satisfaction_fall``  a statistically significant fall (two-sided p < ``fall_p_value``) in
                           satisfaction with one of the department's surveyed services since the
                           previous wave.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers import profile
from helpers.analysis import budget as bud
from helpers.analysis import stocktake as st
from helpers.analysis import survey as sv
from helpers.analysis.stocktake import targets_in_force
from helpers.data.calendar import as_month, fiscal_year, fy_month_index, fy_months, fy_start_month
from helpers.data.groups import INPUT_GROUPS

__all__ = [
    "UNDERSPEND_MARGIN",
    "PROJECTION_FLOOR",
    "PROJECTION_CEILING",
    "LOW_GRADES",
    "MIN_ON_TRACK_SHARE",
    "MAX_MISSING_MONTHS",
    "FALL_P_VALUE",
    "MIN_REASONS",
    "REASONS",
    "LEAGUE_COLUMNS",
    "AttentionRule",
    "SurveyOverview",
    "ProvinceOverview",
    "department_slices",
    "province_summary",
    "province_scorecard",
    "gap_matrix",
    "province_totals",
    "targets_in_force",
    "survey_overview",
    "league_table",
    "attention_reasons",
    "needing_attention",
    "build_overview",
    "headline_values",
]

#: Under-spending: utilisation of BE more than this below the time-elapsed benchmark (ratio).
UNDERSPEND_MARGIN = bud.DEFAULT_UNDERSPEND_MARGIN
#: Projected year-end spending below this share of BE is a warning sign.
PROJECTION_FLOOR = 0.90
#: Projected year-end spending above this share of BE (over-spending) is a warning sign.
PROJECTION_CEILING = 1.00
#: Performance-contract grades at the bottom of the scale (params/scorecard.yaml bands).
LOW_GRADES = ("D", "E")
#: A department with fewer than this share of its targets on track (or met) is flagged.
MIN_ON_TRACK_SHARE = 0.5
#: More than this many missing or incomplete months this fiscal year is a warning sign.
MAX_MISSING_MONTHS = 0
#: A fall in service satisfaction counts when the two-sided p-value is below this.
FALL_P_VALUE = 0.05
#: A department needs attention when it shows at least this many warning signs.
MIN_REASONS = 2

#: Reason codes in display order, with a short label for tables.
REASONS: dict[str, str] = {
    "underspend": "Behind the spending benchmark",
    "projected_low": "Projected to under-spend the year",
    "projected_high": "Projected to over-spend the year",
    "low_grade": "Low scorecard grade",
    "targets_off_track": "Too few targets on track",
    "missing_months": "Spending data missing",
    "satisfaction_fall": "Service satisfaction fell",
}

LEAGUE_COLUMNS = [
    "department",
    "name",
    "priority_area",
    "budget_estimate",
    "expenditure",
    "util_be",
    "benchmark",
    "gap",
    "projection_be",
    "projection_method",
    "months_missing",
    "budget_status",
    "targets",
    "on_track",
    "score",
    "grade",
    "targets_status",
    "satisfaction",
    "satisfaction_ci_low",
    "satisfaction_ci_high",
    "satisfaction_n",
    "satisfaction_change",
    "survey_status",
]

_SURVEY_SERVICE_COLUMNS = [
    "service",
    "label",
    "department",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "n_eff",
    "suppressed",
    "unstable",
    "status",
    "previous",
    "change",
    "p_value",
    "significant",
]
_SURVEY_DEPT_COLUMNS = [
    "department",
    "services",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "suppressed",
    "unstable",
    "status",
    "previous",
    "change",
    "p_value",
    "significant",
]
NO_TARGETS = "no targets"
NO_SERVICE = "no surveyed service"
NO_WAVE = "no survey wave yet"
NO_BUDGET = "no budget this year"


# --------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionRule:
    """Thresholds of the "needs attention" rule (see the module docstring)."""

    underspend_margin: float = UNDERSPEND_MARGIN
    projection_floor: float = PROJECTION_FLOOR
    projection_ceiling: float = PROJECTION_CEILING
    low_grades: tuple[str, ...] = LOW_GRADES
    min_on_track_share: float = MIN_ON_TRACK_SHARE
    max_missing_months: int = MAX_MISSING_MONTHS
    fall_p_value: float = FALL_P_VALUE
    min_reasons: int = MIN_REASONS

    def __post_init__(self) -> None:
        if not 0 <= self.underspend_margin < 1:
            raise ValueError(f"underspend_margin must be in [0, 1), got {self.underspend_margin}")
        if not 0 < self.projection_floor <= self.projection_ceiling:
            raise ValueError(
                "projection_floor must be positive and not above projection_ceiling, got "
                f"{self.projection_floor} and {self.projection_ceiling}"
            )
        if not 0 <= self.min_on_track_share <= 1:
            raise ValueError(f"min_on_track_share must be in [0, 1], got {self.min_on_track_share}")
        if int(self.max_missing_months) != self.max_missing_months or self.max_missing_months < 0:
            raise ValueError(
                f"max_missing_months must be a whole number >= 0, got {self.max_missing_months}"
            )
        if not 0 < self.fall_p_value < 1:
            raise ValueError(f"fall_p_value must be in (0, 1), got {self.fall_p_value}")
        if int(self.min_reasons) != self.min_reasons or self.min_reasons < 1:
            raise ValueError(f"min_reasons must be a whole number >= 1, got {self.min_reasons}")
        if isinstance(self.low_grades, str):
            raise ValueError("low_grades must be a sequence of grade labels, not one string")

    def describe(self) -> str:
        """The rule in one plain paragraph (printed in the report's data notes)."""
        grades = " or ".join(self.low_grades) if self.low_grades else "none"
        k = int(self.max_missing_months)
        missing = "any month" if k == 0 else f"more than {k} month{'s' if k != 1 else ''}"
        return (
            f"A department needs attention when it shows at least {self.min_reasons} of these "
            f"warning signs: spending more than {self.underspend_margin * 100:.0f} points "
            f"behind the time-elapsed benchmark; projected year-end spending below "
            f"{self.projection_floor:.0%} or above {self.projection_ceiling:.0%} of the budget "
            f"estimate; a scorecard grade of {grades} (KPIs scored against the plan to date, so "
            "a department on its trajectories is not marked down early in the year); fewer than "
            f"{self.min_on_track_share:.0%} of its targets on track; {missing} of spending "
            f"data missing or incomplete this fiscal year; a statistically significant fall "
            f"(p < {self.fall_p_value:g}) in "
            "satisfaction with one of its surveyed services since the previous survey wave."
        )


def province_benchmark(summary: pd.DataFrame, month, frequency: str = "monthly") -> float:
    """The benchmark the province figures are read against. Monthly data: the report month's
    (m / 12). Quarterly or annual data: the latest as-of among the departments (the end of the
    latest period any department reported: the data's as-of); NaN when none reported yet.
    Departments that have not reported that period are behind it in the table, and named in
    their own reports."""
    if bud.check_frequency(frequency) == "monthly":
        return bud.time_benchmark(month)
    b = pd.to_numeric(summary.get("benchmark"), errors="coerce") if len(summary) else None
    return float(b.max()) if b is not None and b.notna().any() else math.nan


# --------------------------------------------------------------------------------------------
# One department at a time (linear in the number of departments)
# --------------------------------------------------------------------------------------------


def department_slices(frame: pd.DataFrame, column: str = "department") -> dict[str, pd.DataFrame]:
    """``frame`` cut into one frame per value of ``column`` in one pass (a groupby), each
    prepared when the frame is (:func:`helpers.analysis.budget.take_rows`). Filtering
    the whole frame once per department instead costs departments x rows: quadratic in the
    size of the government."""
    out = {}
    for key, idx in frame.groupby(frame[column].astype(str), sort=False).indices.items():
        out[str(key)] = bud.take_rows(frame, idx)
    return out


def _empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    return bud.take_rows(frame, slice(0, 0))


def province_summary(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    month,
    underspend_margin: float = bud.DEFAULT_UNDERSPEND_MARGIN,
    frequency: str = "monthly",
) -> pd.DataFrame:
    """:func:`helpers.analysis.budget.province_summary`, the same rows in the same order,
    computed one department's rows at a time: each department's position, coverage and
    projection read only that department's rows, so the cost grows linearly with the number
    of departments."""
    alloc = bud.prepare_allocations(allocations)
    mon = bud.prepare_monthly(monthly)
    fy = fiscal_year(as_month(month))
    budgeted = sorted(set(alloc.loc[alloc["fiscal_year"] == fy, "department"]))
    a_by, m_by = department_slices(alloc), department_slices(mon)
    parts = [
        bud.province_summary(
            a_by[d],
            m_by.get(d, _empty_like(mon)),
            month,
            underspend_margin=underspend_margin,
            frequency=frequency,
        )
        for d in budgeted
    ]
    if not parts:
        return bud.province_summary(alloc, mon, month, underspend_margin, frequency)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["gap", "department"], na_position="last").reset_index(drop=True)


def province_scorecard(
    targets: pd.DataFrame,
    trajectory: pd.DataFrame,
    actuals: pd.DataFrame,
    month,
    weights=None,
) -> pd.DataFrame:
    """:func:`helpers.analysis.stocktake.province_scorecard`, the same rows in the same order,
    computed one department's targets at a time (a department's score, grade and counts
    depend on its own targets only), so the cost grows linearly with the number of
    departments."""
    cols = ["department", "score", "grade", "targets", "on_track"]
    if not len(targets):
        return st.province_scorecard(targets, trajectory, actuals, month, weights=weights)
    rule, settings = st.rule_and_settings(weights)
    # prepared once for the province (each step is linear in rows), then cut by department
    t, tr, a = st.scorecard_inputs(targets, trajectory, actuals)
    dept_of = dict(zip(t["target_id"], t["department"].astype(str), strict=True))

    def by_department(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
        keyed = frame.assign(_dept=frame["target_id"].map(dept_of).fillna(""))
        return {k: v.drop(columns="_dept") for k, v in department_slices(keyed, "_dept").items()}

    t_by = department_slices(t)
    tr_by, a_by = by_department(tr), by_department(a)
    parts = [
        st.province_scorecard_rows(
            t_by[d], tr_by.get(d, tr.iloc[:0]), a_by.get(d, a.iloc[:0]), month, rule, settings
        )
        for d in sorted(t_by)
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=cols).astype({"targets": int, "on_track": int})
    return st.sort_province_scorecard(pd.concat(parts, ignore_index=True))


# --------------------------------------------------------------------------------------------
# Budget: the gap matrix and province totals
# --------------------------------------------------------------------------------------------


def gap_matrix(
    allocations: pd.DataFrame, monthly: pd.DataFrame, month, frequency: str = "monthly"
) -> pd.DataFrame:
    """Gap to the time-elapsed benchmark per department (rows) and fiscal month (columns).

    Rows: departments budgeted in the fiscal year of ``month`` (sorted by slug; index name
    ``department``). Columns: month starts (Timestamps) from the fiscal year's first month to ``month`` (name ``month``).
    Values: cumulative expenditure to that month / annual BE minus fiscal month / 12 (ratios).
    NaN where the department has no ``budget_monthly`` row in that month (a data gap) or a zero
    BE. Raises ``ValueError`` when nothing is budgeted in that fiscal year.

    Quarterly or annual data (``frequency``): one column per period ended by ``month`` (its
    last month), the benchmark at that month; a period without rows is NaN. Annual data
    before the year's last month: no column.
    """
    freq = bud.check_frequency(frequency)
    n = bud.PERIOD_MONTHS[freq]
    alloc = bud.prepare_allocations(allocations)
    mon = bud.prepare_monthly(monthly)
    m = as_month(month)
    fy = fiscal_year(m)
    all_months = fy_months(fy)
    months = [pd.Timestamp(all_months[e - 1]) for e in range(n, fy_month_index(m) + 1, n)]
    be = alloc.loc[alloc["fiscal_year"] == fy].groupby("department")["budget_estimate"].sum()
    if be.empty:
        raise ValueError(f"no budget allocations in fiscal year {fy}")
    if not months:
        out = pd.DataFrame(
            index=be.index, columns=pd.DatetimeIndex([], name="month"), dtype="float64"
        )
        out.index.name = "department"
        return out
    rows = mon.loc[
        (mon["fiscal_year"] == fy)
        & (mon["month"] <= months[-1])
        & (mon["department"].isin(be.index))
    ]
    if n > 1 and len(rows):  # date each row at its period's last month
        rows = rows.copy()
        end = ((rows["fy_m"] + n - 1) // n) * n
        rows["month"] = [months[int(e) // n - 1] for e in end]
    flows = pd.DataFrame(np.nan, index=be.index, columns=pd.Index(months), dtype="float64")
    if len(rows):
        sums = rows.groupby(["department", "month"])["expenditure"].sum().unstack("month")
        flows = sums.reindex(index=be.index, columns=months).astype("float64")
    reported = flows.notna()
    cumulative = flows.fillna(0.0).cumsum(axis=1)
    util = cumulative.div(be.where(be > 0), axis=0)
    bench = pd.Series([bud.time_benchmark(x) for x in months], index=months, dtype="float64")
    gaps = util.sub(bench, axis=1).where(reported)
    gaps.index.name = "department"
    gaps.columns = pd.Index(months, name="month")
    return gaps


def province_totals(
    summary: pd.DataFrame, month, benchmark: float | None = None
) -> dict[str, float]:
    """Province-wide budget position from :func:`~helpers.analysis.budget.province_summary`.

    Returns budget_estimate and expenditure (the profile's currency unit, summed over departments), utilisation
    (expenditure / BE), benchmark and gap (utilisation - benchmark). ``benchmark`` defaults to
    the report month's (monthly data); with quarterly or annual data the caller passes the
    benchmark at the data's as-of (:func:`province_benchmark`).
    """
    bud_cols = ("budget_estimate", "expenditure")
    missing = [c for c in bud_cols if c not in summary.columns]
    if missing:
        raise ValueError(f"province summary is missing columns {missing}")
    be = float(summary["budget_estimate"].sum())
    spent = float(summary["expenditure"].sum())
    util = spent / be if be > 0 else math.nan
    bench = bud.time_benchmark(month) if benchmark is None else float(benchmark)
    if not math.isfinite(bench):
        util = math.nan  # quarterly or annual data with nothing reported yet: unknown, not 0%
    return {
        "budget_estimate": be,
        "expenditure": spent,
        "utilisation": util,
        "benchmark": bench,
        "gap": util - bench,
    }


# --------------------------------------------------------------------------------------------
# Survey: province-wide satisfaction per service and per department
# --------------------------------------------------------------------------------------------


@dataclass
class SurveyOverview:
    """Disclosure-controlled survey figures for the overview (no respondent-level rows).

    ``services``: one row per surveyed service plus ``service == "all"`` (every surveyed
    service pooled), top-2-box satisfaction in ``wave`` with CI, n, flags, and the change since
    ``previous_wave``. ``departments``: the same for each department's services pooled.
    """

    wave: dt.date | None
    previous_wave: dt.date | None
    min_n: int
    services: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=_SURVEY_SERVICE_COLUMNS)
    )
    departments: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=_SURVEY_DEPT_COLUMNS)
    )
    notes: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        """True when a wave at or before the report month has published figures."""
        return self.wave is not None and not self.services.empty

    @property
    def overall(self) -> pd.Series | None:
        """The pooled row (every surveyed service), or None."""
        if self.services.empty:
            return None
        row = self.services[self.services["service"] == "all"]
        return None if row.empty else row.iloc[0]

    @property
    def overall_satisfaction(self) -> float | None:
        """Pooled top-2-box satisfaction (None when unavailable or suppressed)."""
        row = self.overall
        if row is None or pd.isna(row["estimate"]):
            return None
        return float(row["estimate"])


def _satisfied(est: pd.DataFrame) -> pd.DataFrame:
    return est[est["measure"] == "satisfied"].drop(columns="measure").reset_index(drop=True)


def _with_change(cur: pd.DataFrame, prev: pd.DataFrame | None, key: str) -> pd.DataFrame:
    if prev is None:
        out = cur.copy()
        for col in ("previous", "change", "p_value"):
            out[col] = np.nan
        out["significant"] = False
        return out
    ch = sv.compare_waves(cur, prev, [key])[[key, "previous", "change", "p_value", "significant"]]
    out = cur.merge(ch, on=key, how="left")
    out["significant"] = out["significant"].fillna(False).astype(bool)
    return out


_DEPT_COL = "_service_department"


def _with_department(frame: pd.DataFrame, dept_of: dict[str, str]) -> pd.DataFrame:
    """Add the department of each rated service (missing for respondents with no rating)."""
    out = frame.copy()
    out[_DEPT_COL] = out["service"].map(dept_of)
    unknown = out["service"].notna() & out[_DEPT_COL].isna()
    if unknown.any():
        bad = sorted(set(out.loc[unknown, "service"].astype(str)))
        raise ValueError(f"survey frame rates services that are not registered: {bad}")
    return out


def _department_estimates(design, departments: list[str], min_n: int) -> pd.DataFrame:
    """Top-2-box satisfaction with each department's services pooled (unit = service use).

    One pass over the full design with ``by`` = the service's department, which is the same
    domain estimate as the pooled ``"all"`` row of ``service_estimates`` for that department.
    Departments nobody rated get n = 0 and are suppressed.
    """
    res = design.mean("satisfied", by=_DEPT_COL)
    rated = design.data["satisfied"].notna().to_numpy() & design.data[_DEPT_COL].notna().to_numpy()
    res = sv._with_respondents(res, design, rated, _DEPT_COL)  # n = respondents, not ratings
    res = res.rename(columns={_DEPT_COL: "department"})
    res = res.set_index("department").reindex(departments).reset_index()
    res["n"] = res["n"].fillna(0).astype("int64")
    return sv.apply_disclosure(res, min_n, df=sv.design_df(design))


def survey_overview(
    current: pd.DataFrame | None,
    previous: pd.DataFrame | None,
    services: pd.DataFrame,
    wave,
    previous_wave=None,
    min_n: int = sv.DEFAULT_MIN_N,
) -> SurveyOverview:
    """Province-wide satisfaction per surveyed service and per department, with change.

    ``current``/``previous`` are the survey frames of ``wave`` and ``previous_wave`` (all
    services, every respondent of the wave kept: see
    :func:`helpers.analysis.survey.complete_frame`); ``previous`` may be None. ``services`` has
    columns service, label, department. Estimates use the full design (strata = districts,
    PSUs, weights, fpc); cells below ``min_n`` ratings are suppressed and never compared.
    """
    if not isinstance(min_n, int | np.integer) or isinstance(min_n, bool) or min_n < 1:
        raise ValueError(f"min_n must be a positive integer, got {min_n!r}")
    need = [c for c in ("service", "label", "department") if c not in services.columns]
    if need:
        raise ValueError(f"services is missing columns {need}")
    w = as_month(wave) if wave is not None else None
    pw = as_month(previous_wave) if previous_wave is not None and previous is not None else None
    res = SurveyOverview(wave=w, previous_wave=pw, min_n=int(min_n))
    if services.empty:
        res.notes.append("No surveyed services are registered.")
        return res
    svc = services[["service", "label", "department"]].reset_index(drop=True)
    if svc["service"].duplicated().any():
        raise ValueError("services lists a service more than once")
    labels = svc.groupby("department")["label"].agg(lambda x: "; ".join(x))
    if w is None or current is None or len(current) == 0:
        # No wave yet: keep the surveyed departments (no figures) so that they read
        # "no survey wave yet" rather than "no surveyed service".
        empty = pd.DataFrame({"department": list(labels.index), "services": list(labels)})
        res.departments = empty.reindex(columns=_SURVEY_DEPT_COLUMNS)
        res.departments["n"] = 0
        return res
    dept_of = dict(zip(svc["service"], svc["department"], strict=True))
    cur = _with_department(sv.prepare_frame(current), dept_of)
    design = sv.design_for(cur)
    prev = design_p = None
    if pw is not None and len(previous):
        prev = _with_department(sv.prepare_frame(previous), dept_of)
        design_p = sv.design_for(prev)
    codes = svc[["service", "label"]]
    est = _satisfied(sv.service_estimates(cur, codes, min_n, design))
    est_p = (
        _satisfied(sv.service_estimates(prev, codes, min_n, design_p)) if prev is not None else None
    )
    out = _with_change(est, est_p, "service")
    out["department"] = out["service"].map(dept_of)
    out.loc[out["service"] == "all", "label"] = "All surveyed services"
    res.services = out[_SURVEY_SERVICE_COLUMNS].reset_index(drop=True)

    depts = sorted(set(svc["department"]))
    d_cur = _department_estimates(design, depts, min_n)
    d_prev = _department_estimates(design_p, depts, min_n) if prev is not None else None
    dep = _with_change(d_cur, d_prev, "department")
    dep["services"] = dep["department"].map(labels)
    res.departments = dep[_SURVEY_DEPT_COLUMNS].reset_index(drop=True)
    if pw is None:
        res.notes.append("No earlier survey wave: change since the previous wave is not shown.")
    return res


# --------------------------------------------------------------------------------------------
# League table and the attention rule
# --------------------------------------------------------------------------------------------


def league_table(
    registry: pd.DataFrame,
    summary: pd.DataFrame,
    scorecard: pd.DataFrame,
    survey: SurveyOverview,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """One row per department: budget position, scorecard and survey side by side.

    ``registry`` (slug, name, priority_area) holds the departments valid at the report month;
    ``summary`` is :func:`~helpers.analysis.budget.province_summary`; ``scorecard`` is
    :func:`~helpers.analysis.stocktake.province_scorecard`. Departments without targets get
    ``targets_status = "no targets"`` and missing (not zero) targets/score; departments with
    no surveyed service get ``survey_status = "no surveyed service"``. A department found in
    the data but not in the registry keeps its slug as its name (a line is added to ``notes``).
    Sorted by gap to the benchmark, furthest behind first (no budget last), then name.
    Columns: :data:`LEAGUE_COLUMNS`.
    """
    for frame, cols, what in (
        (registry, ("slug", "name", "priority_area"), "registry"),
        (summary, ("department", "util_be", "gap", "projection_be", "months_missing"), "summary"),
        (scorecard, ("department", "score", "grade", "targets", "on_track"), "scorecard"),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{what} is missing columns {missing}")
    for frame, col, what in (
        (registry, "slug", "registry"),
        (summary, "department", "summary"),
        (scorecard, "department", "scorecard"),
    ):
        if frame[col].duplicated().any():
            raise ValueError(f"{what} has duplicated departments")
    reg = registry.rename(columns={"slug": "department"})[["department", "name", "priority_area"]]
    reg = reg.astype({"department": "str"})
    known = set(reg["department"])
    extra = sorted(
        (set(summary["department"].astype(str)) | set(scorecard["department"].astype(str))) - known
    )
    if extra:
        reg = pd.concat(
            [reg, pd.DataFrame({"department": extra, "name": extra, "priority_area": None})],
            ignore_index=True,
        )
        if notes is not None:
            notes.append(
                "Not in the department registry at the report month (shown by code): "
                + ", ".join(extra)
                + "."
            )
    budgeted = set(summary["department"].astype(str))
    out = reg.merge(summary.astype({"department": "str"}), on="department", how="left")
    out["budget_status"] = np.where(out["department"].isin(budgeted), "", NO_BUDGET)
    card = scorecard.astype({"department": "str"})[
        ["department", "score", "grade", "targets", "on_track"]
    ]
    out = out.merge(card, on="department", how="left")
    out["targets"] = out["targets"].astype("Int64")
    out["on_track"] = out["on_track"].astype("Int64")
    out["targets_status"] = np.where(out["targets"].isna(), NO_TARGETS, "")
    dep = survey.departments
    s = dep.rename(
        columns={
            "estimate": "satisfaction",
            "ci_low": "satisfaction_ci_low",
            "ci_high": "satisfaction_ci_high",
            "n": "satisfaction_n",
            "change": "satisfaction_change",
            "status": "_status",
        }
    )[
        [
            "department",
            "satisfaction",
            "satisfaction_ci_low",
            "satisfaction_ci_high",
            "satisfaction_n",
            "satisfaction_change",
            "_status",
        ]
    ]
    out = out.merge(s, on="department", how="left")
    surveyed = out["department"].isin(set(dep["department"]))
    if survey.wave is None:
        status = np.where(surveyed, NO_WAVE, NO_SERVICE)
    else:
        status = np.where(surveyed, out["_status"].fillna(""), NO_SERVICE)
    out["survey_status"] = status
    out = out.drop(columns="_status")
    for col in (
        "budget_estimate",
        "expenditure",
        "util_be",
        "benchmark",
        "gap",
        "projection_be",
        "score",
        "satisfaction",
        "satisfaction_ci_low",
        "satisfaction_ci_high",
        "satisfaction_change",
    ):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    out["months_missing"] = out["months_missing"].astype("Int64")
    out["satisfaction_n"] = pd.to_numeric(out["satisfaction_n"]).astype("Int64")
    out = out.sort_values(["gap", "name"], na_position="last", kind="mergesort")
    return out[LEAGUE_COLUMNS].reset_index(drop=True)


def _fy_end_name() -> str:
    """Name of the fiscal year's last month (the month before its first)."""
    return dt.date(2000, (fy_start_month() + 10) % 12 + 1, 1).strftime("%B")


def _pts(x: float) -> str:
    n = abs(float(x)) * 100
    return f"{n:.0f} point{'s' if round(n) != 1 else ''}"


def attention_reasons(
    league: pd.DataFrame, services: pd.DataFrame, rule: AttentionRule | None = None
) -> pd.DataFrame:
    """Every warning sign of every department: department, name, reason (code), text.

    ``league`` is :func:`league_table`; ``services`` is :attr:`SurveyOverview.services` (may be
    empty). Texts are plain words with the numbers that triggered the sign. Rows follow the
    league order and, within a department, the order of :data:`REASONS`.
    """
    rule = rule or AttentionRule()
    need = [c for c in ("department", "name", *LEAGUE_COLUMNS[3:]) if c not in league.columns]
    if need:
        raise ValueError(f"league table is missing columns {need}")
    falls: dict[str, list[str]] = {}
    if len(services):
        svc = services[(services["service"] != "all") & services["change"].notna()]
        svc = svc[(svc["change"] < 0) & (svc["p_value"] < rule.fall_p_value)]
        for r in svc.itertuples(index=False):
            falls.setdefault(str(r.department), []).append(
                f"satisfaction with {str(r.label)[:1].lower() + str(r.label)[1:]} fell "
                f"{_pts(r.change)} since the previous survey wave, to {r.estimate:.0%}"
            )
    year_end = _fy_end_name()
    rows: list[dict] = []
    for r in league.itertuples(index=False):
        found: list[tuple[str, str]] = []
        if pd.notna(r.gap) and r.gap < -rule.underspend_margin - 1e-9:
            found.append(
                (
                    "underspend",
                    f"has spent {r.util_be:.0%} of its budget estimate against a "
                    f"{r.benchmark:.0%} benchmark ({_pts(r.gap)} behind)",
                )
            )
        if pd.notna(r.projection_be) and r.projection_be < rule.projection_floor - 1e-9:
            found.append(
                (
                    "projected_low",
                    f"is projected to spend only {r.projection_be:.0%} of its budget estimate "
                    f"by the end of {year_end}",
                )
            )
        if pd.notna(r.projection_be) and r.projection_be > rule.projection_ceiling + 1e-9:
            found.append(
                (
                    "projected_high",
                    f"is projected to spend {r.projection_be:.0%} of its budget estimate by the "
                    f"end of {year_end}, more than budgeted",
                )
            )
        if pd.notna(r.grade) and str(r.grade) in rule.low_grades:
            found.append(
                (
                    "low_grade",
                    f"has a scorecard grade of {r.grade} ({r.score:.0f} out of 100)",
                )
            )
        if pd.notna(r.targets) and int(r.targets) > 0:
            share = int(r.on_track) / int(r.targets)
            if share < rule.min_on_track_share - 1e-9:
                on = int(r.on_track)
                count = "none" if on == 0 else f"only {on}"
                found.append(
                    ("targets_off_track", f"has {count} of its {int(r.targets)} targets on track")
                )
        if pd.notna(r.months_missing) and int(r.months_missing) > rule.max_missing_months:
            k = int(r.months_missing)
            found.append(
                (
                    "missing_months",
                    f"has {k} month{'s' if k != 1 else ''} of spending data missing or "
                    "incomplete this year",
                )
            )
        for text in falls.get(str(r.department), []):
            found.append(("satisfaction_fall", text))
        for code, text in found:
            rows.append({"department": r.department, "name": r.name, "reason": code, "text": text})
    return pd.DataFrame(rows, columns=["department", "name", "reason", "text"])


def needing_attention(
    reasons: pd.DataFrame, league: pd.DataFrame, rule: AttentionRule | None = None
) -> pd.DataFrame:
    """Departments with at least ``rule.min_reasons`` warning signs, most signs first.

    Columns: department, name, n_reasons, reasons (list of codes), text (the reasons joined
    in one plain sentence fragment, e.g. "has spent 33% ...; is projected to ..."), gap.
    Ties on the number of signs are broken by the league order (furthest behind first).
    A department counts each kind of sign once (two services whose satisfaction fell are one
    sign), so the count does not depend on how many services a department has.
    """
    rule = rule or AttentionRule()
    order = {d: i for i, d in enumerate(league["department"])}
    gap = dict(zip(league["department"], league["gap"], strict=True))
    rows = []
    for dept, part in reasons.groupby("department", sort=False):
        codes = list(dict.fromkeys(part["reason"]))
        if len(codes) < rule.min_reasons:
            continue
        rows.append(
            {
                "department": dept,
                "name": part["name"].iloc[0],
                "n_reasons": len(codes),
                "reasons": codes,
                "text": "; ".join(part["text"]),
                "gap": gap.get(dept, math.nan),
                "_order": order.get(dept, len(order)),
            }
        )
    cols = ["department", "name", "n_reasons", "reasons", "text", "gap"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows).sort_values(["n_reasons", "_order"], ascending=[False, True])
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The whole overview
# --------------------------------------------------------------------------------------------


@dataclass
class ProvinceOverview:
    """Everything the province overview notebook shows for one month."""

    month: dt.date
    fiscal_year: str
    fy_m: int
    benchmark: float
    rule: AttentionRule
    summary: pd.DataFrame
    totals: dict[str, float]
    gaps: pd.DataFrame
    scorecard: pd.DataFrame
    survey: SurveyOverview
    league: pd.DataFrame
    reasons: pd.DataFrame
    attention: pd.DataFrame
    pefa: bud.PefaResult
    notes: list[str] = field(default_factory=list)
    # The input groups the government provides (load_info.inputs): sections and sentences about
    # targets or the survey appear only when their data exist at all.
    inputs: frozenset[str] = frozenset(INPUT_GROUPS)
    #: the budget data's frequency (monthly, quarterly, annual)
    frequency: str = "monthly"
    #: performance contracts league (helpers.analysis.contracts.league) when provided
    contracts: pd.DataFrame | None = None
    #: the last closed year's projections against its outturn, per department and for the
    #: province (:func:`helpers.analysis.budget.province_forecast_record`)
    forecast: bud.ForecastRecord | None = None

    def has(self, group: str) -> bool:
        """Whether the government provides the input group (budget, stocktake, survey, pse)."""
        return group in self.inputs

    @property
    def departments(self) -> int:
        """Number of departments in the league table."""
        return len(self.league)

    @property
    def behind(self) -> pd.DataFrame:
        """League rows more than the margin behind the benchmark, furthest behind first."""
        lg = self.league
        return lg[lg["gap"] < -self.rule.underspend_margin - 1e-9]

    @property
    def targets_total(self) -> int:
        """Targets across the province (departments with targets)."""
        return int(self.scorecard["targets"].sum()) if len(self.scorecard) else 0

    @property
    def on_track_total(self) -> int:
        """Targets on track or met across the province."""
        return int(self.scorecard["on_track"].sum()) if len(self.scorecard) else 0


def build_overview(
    month,
    registry: pd.DataFrame,
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    scorecard: pd.DataFrame,
    survey: SurveyOverview,
    rule: AttentionRule | None = None,
    inputs: frozenset[str] | None = None,
    frequency: str = "monthly",
) -> ProvinceOverview:
    """Compute the province overview for ``month`` from frames already read.

    ``allocations``/``monthly``: all departments (several years: PEFA uses the last three
    completed ones; rows after ``month`` are ignored). ``scorecard``: output of
    :func:`helpers.analysis.stocktake.province_scorecard` for ``month``. ``survey``: output of
    :func:`survey_overview`. The budget position per department comes from
    :func:`helpers.analysis.budget.province_summary` with ``rule.underspend_margin``.
    ``frequency``: the budget data's (``load_info['budget.frequency']``), passed to the budget
    analysis (projections, coverage and benchmarks by the data's own periods).
    """
    freq = bud.check_frequency(frequency)
    rule = rule or AttentionRule()
    m = as_month(month)
    alloc = bud.prepare_allocations(allocations)
    mon = bud.prepare_monthly(monthly)
    if not (alloc["fiscal_year"] == fiscal_year(m)).any():
        raise ValueError(
            f"no department has a budget for FY {fiscal_year(m)}: the "
            f"{profile.active().scope_word} overview for "
            f"{m:%Y-%m} needs the budget allocations of that fiscal year"
        )
    mon = bud.months_upto(mon, m)
    summary = province_summary(
        alloc, mon, m, underspend_margin=rule.underspend_margin, frequency=freq
    )
    bench = province_benchmark(summary, m, freq)
    notes: list[str] = list(survey.notes)
    league = league_table(registry, summary, scorecard, survey, notes)
    reasons = attention_reasons(league, survey.services, rule)
    return ProvinceOverview(
        month=m,
        fiscal_year=fiscal_year(m),
        fy_m=fy_month_index(m),
        benchmark=bench,
        rule=rule,
        summary=summary,
        totals=province_totals(summary, m, bench),
        gaps=gap_matrix(alloc, mon, m, freq),
        scorecard=scorecard.reset_index(drop=True),
        survey=survey,
        league=league,
        reasons=reasons,
        attention=needing_attention(reasons, league, rule),
        pefa=bud.pefa_province(alloc, mon, m, require_complete=False, frequency=freq),
        notes=notes,
        inputs=frozenset(INPUT_GROUPS) if inputs is None else frozenset(inputs),
        frequency=freq,
        forecast=bud.province_forecast_record(alloc, mon, m, frequency=freq),
    )


def headline_values(ov: ProvinceOverview) -> dict[str, float | int | str | None]:
    """Portal headline (docs/architecture.md keys): utilisation and benchmark (province ratios of
    BE), on_track and targets (province counts), satisfaction (all surveyed services pooled),
    plus departments, behind (more than the margin behind the benchmark), attention and wave
    (ISO date of the survey wave, as the citizen survey family emits it)."""

    def clean(x) -> float | None:
        return None if x is None or not math.isfinite(float(x)) else round(float(x), 4)

    has_targets = len(ov.scorecard) > 0
    return {
        "utilisation": clean(ov.totals["utilisation"]),
        "benchmark": clean(ov.benchmark),
        "on_track": ov.on_track_total if has_targets else None,
        "targets": ov.targets_total if has_targets else None,
        "satisfaction": clean(ov.survey.overall_satisfaction)
        if ov.survey.overall_satisfaction is not None
        else None,
        "departments": ov.departments,
        "behind": len(ov.behind),
        "attention": len(ov.attention),
        "wave": ov.survey.wave.isoformat() if ov.survey.wave else None,
    }
