"""Stocktake analysis: evidence next to the delivery unit's recorded ratings.

Pure functions on tidy DataFrames with the warehouse columns (docs/architecture.md):
``targets``, ``target_trajectory``, ``target_actuals``, ``milestones``, ``ratings``, ``actions``.
Nothing here opens the warehouse; the notebook passes the frames in.

Rules (each threshold is a named setting, read from ``params/scorecard.yaml``):

Trajectory
    The planned value in any month is read from the trajectory, linearly interpolated between
    the planned points, anchored at ``baseline`` in ``baseline_month`` and ``target_value`` in
    ``target_month`` when the trajectory does not give those months; after the last point the
    plan holds its last value.

Gap
    ``gap`` is the latest department-wide actual minus the planned value *for the month of that
    actual* (data often lag the report month), signed by direction so that a positive gap is
    ahead of trajectory and a negative gap is behind: ``gap = s * (actual - planned)`` with
    ``s = +1`` for ``up`` and ``-1`` for ``down`` targets. ``gap_pct = gap / |planned|``.

Status (one of ``met``, ``on track``, ``off track``, ``missed``, ``no data``)
    ``no data``  no department-wide actual at or before the report month;
    ``met``      the latest actual has reached the target value in the target's direction;
    ``missed``   the target date is before the report month, the latest actual has not
                 reached the target value, and the verdict is final: an actual for the target
                 month (or later) has arrived, or more than ``missed_after`` (3) months have
                 passed since the target month. Until then the target is assessed against the
                 trajectory (``on track`` / ``off track``) with ``awaiting_final`` set;
    ``on track`` ``gap >= -tolerance * |target_value - baseline|`` (behind by no more than a
                 share ``tolerance`` of the whole planned change; default 10%);
    ``off track`` otherwise.
    Measuring the tolerance against the whole planned change (not the planned value) keeps the
    rule scale-free and usable when the planned value is zero (e.g. a 'down' target to zero).

Trend and projection
    An ordinary least squares line (statsmodels OLS, actual on month number) is fitted to the
    department-wide actuals in the last ``projection_window`` months up to the report month
    (gaps are simply absent points; the month number keeps the spacing right). At least
    ``min_points`` actuals are needed. The slope is the trend (units per month), labelled
    ``improving`` / ``worsening`` by its sign in the target's direction, or ``flat`` when its
    size is below ``trend_flat * |target_value - baseline|`` per month. The projection is the
    fitted value at ``target_month`` with a ``interval_level`` (default 80%) *prediction*
    interval for a single month's value (``obs_ci_lower``/``obs_ci_upper``). No projection is
    made once the target date has passed. ``projected_outcome`` is ``meets``/``misses`` from the
    point projection; ``likelihood`` is ``likely to meet`` when the whole interval reaches the
    target, ``likely to miss`` when none of it does, else ``uncertain``.

Rating versus evidence (the rating itself is recorded data and is never computed)
    Two signals: trajectory (+ on track/met, - off track/missed) and projection (+ meets,
    - misses). ``Green`` is contradicted by any adverse signal (or a missed target);
    ``Amber-Green`` when both signals are adverse (or the target was missed); ``Amber-Red`` and
    ``Red`` when both signals are favourable (or the target is already met).

Milestones (judged at the last day of the report month, from ``completed_date``)
    ``completed on time`` / ``completed late`` (completed by then, on or before / after the due
    date), ``overdue`` (not completed by then and due before then; days and whole months
    overdue), ``due this month`` (due on the last day), ``not yet due``, ``dropped``.
    Completion rate over time: of the milestones (not dropped) due by the end of each month,
    the share completed by then, and the share completed on or before their due date.

Scorecard (delivery targets)
    Each KPI (target) is scored against its *plan to date*: the trajectory's planned value for
    the month of the latest actual (the report month's plan when that actual is stale).
    ``achievement = (latest_actual - baseline) / (plan_to_date - baseline)`` (works for 'up'
    and 'down'; a plan still at the baseline: 1 at or beyond it, else 0), clipped to
    ``[0, cap]`` (``cap`` 1.0 = 100% by default), so a KPI exactly on its trajectory scores 1 in
    every month. Progress against the annual target (the planned value at the end of the
    report month's fiscal year, or the target value when the target date falls earlier) is
    reported beside it and does not enter the score. A KPI without an actual scores 0
    (``missing: zero``) or is
    left out (``missing: exclude``); with no actual for any weighted KPI there is no score (not a
    score of 0). ``score = 100 * sum(w * achievement) / sum(w)``, capped at
    100, and a grade from the score bands. Weights: ``default_weight`` plus per-department
    overrides keyed by target_id; a weight of 0 leaves a KPI out.

Natural bounds (:func:`natural_bounds`)
    The straight-line projection and its interval are clipped to the measure's range: 0-100
    for a ``%`` target between 0 and 100, at least 0 for any target whose baseline and target
    value are >= 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# the settings live in stocktake_settings, without pandas: the engine's driver checks the
# parameter files with them before a run; this module re-exports them
from helpers.analysis.stocktake_settings import (
    TOLERANCE_BASES,  # noqa: F401 (re-exported)
    ScorecardRule,
    StocktakeSettings,
    as_rule,
    load_config,  # noqa: F401 (re-exported)
    rule_and_settings,
)
from helpers.data.calendar import as_month, fiscal_year, fy_start
from helpers.data.vocabulary import (
    ACTION_STATUSES,
    DELIVERY_RATINGS,
    DIRECTIONS,
    MILESTONE_STATUSES,
)

RATINGS: tuple[str, ...] = DELIVERY_RATINGS  # worst -> best (helpers.data.vocabulary)
RATING_RANK = {r: i for i, r in enumerate(RATINGS)}
FREQUENCIES = ("monthly", "quarterly", "annual")
PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}
PERIOD_WORD = {"monthly": "month", "quarterly": "quarter", "annual": "year"}
OPTIONAL_TARGET_COLUMNS = (
    "frequency", "tolerance", "tolerance_basis", "band_low", "band_high", "verifies",
    "district_rollup",
)  # fmt: skip

MET, ON_TRACK, OFF_TRACK, MISSED, NO_DATA = "met", "on track", "off track", "missed", "no data"
STATUSES = (MET, ON_TRACK, OFF_TRACK, MISSED, NO_DATA)
GOOD_STATUSES = (MET, ON_TRACK)

TARGET_COLUMNS = (
    "target_id",
    "department",
    "title",
    "unit",
    "direction",
    "baseline",
    "baseline_month",
    "target_value",
    "target_month",
)
TRAJECTORY_COLUMNS = ("target_id", "month", "planned")
ACTUAL_COLUMNS = ("target_id", "month", "district_pcode", "actual")
MILESTONE_COLUMNS = ("milestone_id", "target_id", "title", "due_date", "completed_date", "status")
RATING_COLUMNS = ("target_id", "stocktake_date", "rating")
ACTION_COLUMNS = (
    "action_id",
    "target_id",
    "stocktake_date",
    "action",
    "owner",
    "due_date",
    "status",
)


# --------------------------------------------------------------------------------------------
# Input checks and coercion
# --------------------------------------------------------------------------------------------


def _month_ts(value: Any) -> pd.Timestamp:
    return pd.Timestamp(as_month(value))


def _month_end(month: pd.Timestamp) -> pd.Timestamp:
    return month + pd.offsets.MonthEnd(0)


def _mi(ts: pd.Timestamp) -> int:
    """Month number (months since year 0) for spacing-aware regression and month arithmetic."""
    return ts.year * 12 + ts.month - 1


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}")


def _to_dates(s: pd.Series, name: str) -> pd.Series:
    try:
        out = pd.to_datetime(s)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} holds values that are not dates: {exc}") from exc
    return out.astype("datetime64[ns]")


def _to_months(s: pd.Series, name: str) -> pd.Series:
    d = _to_dates(s, name)
    return d.dt.to_period("M").dt.to_timestamp()


def _numeric(s: pd.Series, name: str) -> pd.Series:
    out = pd.to_numeric(s, errors="coerce").astype("float64")
    bad = out.isna() & s.notna()
    if bad.any():
        raise ValueError(f"{name} holds non-numeric values: {list(s[bad].head(3))}")
    return out


def prepare_targets(targets: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce the targets table; raises ValueError on inconsistent rows."""
    _require(targets, TARGET_COLUMNS, "targets")
    t = targets.copy()
    t["target_id"] = t["target_id"].astype(str)
    dup = t["target_id"][t["target_id"].duplicated()]
    if len(dup):
        raise ValueError(f"targets: duplicate target_id {sorted(set(dup))}")
    bad_dir = t.loc[~t["direction"].isin(DIRECTIONS), "target_id"]
    if len(bad_dir):
        raise ValueError(
            f"targets: direction must be 'up', 'down' or 'maintain' for {list(bad_dir)}"
        )
    for col in ("baseline", "target_value"):
        t[col] = _numeric(t[col], f"targets.{col}")
        if t[col].isna().any():
            raise ValueError(
                f"targets.{col} is missing for {list(t.loc[t[col].isna(), 'target_id'])}"
            )
    for col in ("baseline_month", "target_month"):
        t[col] = _to_months(t[col], f"targets.{col}")
        if t[col].isna().any():
            raise ValueError(
                f"targets.{col} is missing for {list(t.loc[t[col].isna(), 'target_id'])}"
            )
    for col in OPTIONAL_TARGET_COLUMNS:
        if col not in t.columns:
            t[col] = pd.NA
    for col in ("tolerance", "band_low", "band_high"):
        t[col] = _numeric(t[col], f"targets.{col}")
    for col in ("frequency", "tolerance_basis", "verifies", "district_rollup"):
        t[col] = t[col].astype("object").where(t[col].notna(), None)
    # the same rules as make data (helpers.data.schemas.target_rules): one definition
    from helpers.data.schemas import target_rules

    for column, rule, fn in target_rules():
        bad = t.loc[~fn(t).to_numpy(dtype=bool), "target_id"]
        if len(bad):
            raise ValueError(f"targets.{column}: {rule}: {list(bad)}")
    t["frequency"] = t["frequency"].fillna("monthly")
    if "has_districts" not in t.columns:
        t["has_districts"] = False
    t["has_districts"] = t["has_districts"].fillna(False).astype(bool)
    if "owner" not in t.columns:
        t["owner"] = pd.NA
    return t.reset_index(drop=True)


def prepare_trajectory(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce the trajectory table (one planned value per target and month)."""
    _require(trajectory, TRAJECTORY_COLUMNS, "trajectory")
    tr = trajectory[list(TRAJECTORY_COLUMNS)].copy()
    tr["target_id"] = tr["target_id"].astype(str)
    tr["month"] = _to_months(tr["month"], "trajectory.month")
    tr["planned"] = _numeric(tr["planned"], "trajectory.planned")
    tr = tr.dropna(subset=["month", "planned"])
    dup = tr.duplicated(["target_id", "month"])
    if dup.any():
        raise ValueError(
            f"trajectory: more than one planned value for {tr.loc[dup, ['target_id', 'month']].head(3).to_dict('records')}"
        )
    return tr.sort_values(["target_id", "month"]).reset_index(drop=True)


def prepare_actuals(actuals: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce the actuals table; rows with no value are treated as missing months."""
    _require(actuals, ACTUAL_COLUMNS, "actuals")
    a = actuals[list(ACTUAL_COLUMNS)].copy()
    a["target_id"] = a["target_id"].astype(str)
    a["month"] = _to_months(a["month"], "actuals.month")
    a["actual"] = _numeric(a["actual"], "actuals.actual")
    a["district_pcode"] = a["district_pcode"].astype("string")
    a = a.dropna(subset=["month", "actual"])
    dup = a.duplicated(["target_id", "month", "district_pcode"])
    if dup.any():
        raise ValueError(
            f"actuals: more than one value for {a.loc[dup, ['target_id', 'month', 'district_pcode']].head(3).to_dict('records')}"
        )
    return a.sort_values(["target_id", "month"]).reset_index(drop=True)


def with_rollup(targets: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """Prepared actuals plus a department-wide row for every month in which a target with a
    ``district_rollup`` (sum or mean) has district values but no department-wide value: the
    sum or the unweighted mean of the districts reporting that month. Column ``rolled_up``
    holds the number of districts behind a derived row (NA for reported rows)."""
    a = actuals.copy()
    a["rolled_up"] = pd.array([pd.NA] * len(a), dtype="Int64")
    rule = {}
    if "district_rollup" in targets.columns:
        rule = {
            t: r
            for t, r in zip(targets["target_id"], targets["district_rollup"], strict=True)
            if isinstance(r, str) and r
        }
    if not rule:
        return a
    dist = a[a["target_id"].isin(list(rule)) & a["district_pcode"].notna()]
    wide = a[a["district_pcode"].isna()]
    have = set(zip(wide["target_id"], wide["month"], strict=True))
    rows = []
    for (tid, month), g in dist.groupby(["target_id", "month"], sort=True):
        if (tid, month) in have:
            continue
        value = g["actual"].sum() if rule[tid] == "sum" else g["actual"].mean()
        rows.append({"target_id": tid, "month": month, "district_pcode": pd.NA,
                     "actual": float(value), "rolled_up": len(g)})  # fmt: skip
    if not rows:
        return a
    extra = pd.DataFrame(rows).astype({"district_pcode": "string", "rolled_up": "Int64"})
    out = pd.concat([a, extra], ignore_index=True)
    return out.sort_values(["target_id", "month"], kind="mergesort").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Trajectory, status, projection
# --------------------------------------------------------------------------------------------


def _sign(direction: str) -> float:
    """+1 for up, -1 for down (and 0 for maintain: no better side)."""
    return 1.0 if direction == "up" else -1.0 if direction == "down" else 0.0


def _blank(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def frequency_of(target: Mapping[str, Any]) -> str:
    """The target's reporting frequency (monthly when not given)."""
    f = target.get("frequency")
    return "monthly" if _blank(f) else str(f)


def period_months(target: Mapping[str, Any]) -> int:
    """Months in one reporting period of the target (1, 3 or 12)."""
    return PERIOD_MONTHS[frequency_of(target)]


def band_of(target: Mapping[str, Any]) -> tuple[float, float]:
    """(band_low, band_high) of a maintain target (NaN, NaN otherwise)."""
    lo, hi = target.get("band_low"), target.get("band_high")
    return (
        math.nan if _blank(lo) else float(lo),
        math.nan if _blank(hi) else float(hi),
    )


def tolerance_rule(
    target: Mapping[str, Any], settings: StocktakeSettings | None = None
) -> tuple[float, str]:
    """(tolerance, basis) in force for a target: its own when given, else the profile's."""
    settings = settings or StocktakeSettings()
    tol, basis = target.get("tolerance"), target.get("tolerance_basis")
    if _blank(tol):
        return float(settings.tolerance), settings.tolerance_basis
    return float(tol), (settings.tolerance_basis if _blank(basis) else str(basis))


def allowed_shortfall(
    target: Mapping[str, Any], planned: float, settings: StocktakeSettings | None = None
) -> float:
    """How far behind the plan an up/down target may be and still be on track (target's unit).

    ``change``: tolerance x |target_value - baseline|; ``planned``: tolerance x |planned| (0
    when the plan is 0); ``absolute``: the tolerance itself."""
    tol, basis = tolerance_rule(target, settings)
    if basis == "absolute":
        return tol
    if basis == "planned":
        return tol * abs(planned) if not math.isnan(planned) else math.nan
    return tol * abs(float(target["target_value"]) - float(target["baseline"]))


def _in_band(value: float, band: tuple[float, float]) -> bool:
    return band[0] <= value <= band[1]


def band_distance(value: float, band: tuple[float, float]) -> float:
    """How far a value lies outside the band (0 inside it)."""
    return max(0.0, band[0] - value, value - band[1])


def _plan_points(
    target: Mapping[str, Any], trajectory_t: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Known planned points (month number, value), anchored at baseline and target."""
    pts = {
        _mi(m): float(v)
        for m, v in zip(trajectory_t["month"], trajectory_t["planned"], strict=True)
    }
    pts.setdefault(_mi(target["baseline_month"]), float(target["baseline"]))
    pts.setdefault(_mi(target["target_month"]), float(target["target_value"]))
    xs = np.array(sorted(pts), dtype=float)
    ys = np.array([pts[int(x)] for x in xs], dtype=float)
    return xs, ys


def planned_at(target: Mapping[str, Any], trajectory_t: pd.DataFrame, months: Any) -> np.ndarray:
    """Planned value(s) in the given month(s), interpolated as described in the module docstring.

    Months before the baseline month return NaN; after the last planned point the plan holds.
    """
    xs, ys = _plan_points(target, trajectory_t)
    ms = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(months)))
    x = np.array([_mi(m) for m in ms], dtype=float)
    out = np.interp(x, xs, ys)
    out[x < xs[0]] = np.nan
    return out


def plan_path(target: Mapping[str, Any], trajectory_t: pd.DataFrame) -> pd.DataFrame:
    """The monthly plan from the baseline month to the last planned point (for charts)."""
    xs, _ = _plan_points(target, trajectory_t)
    first = pd.Timestamp(year=int(xs[0]) // 12, month=int(xs[0]) % 12 + 1, day=1)
    months = pd.date_range(first, periods=int(xs[-1] - xs[0]) + 1, freq="MS")
    return pd.DataFrame({"month": months, "planned": planned_at(target, trajectory_t, months)})


PERCENT_UNITS = ("%", "percent", "per cent")


def natural_bounds(target: Mapping[str, Any]) -> tuple[float, float]:
    """The values a target's measure can take: a projection is clipped to them.

    Unit ``%`` with baseline and target value in 0-100 (a share): 0 to 100. Any other target
    whose baseline and target value are both at or above 0 (a count, an amount, a length, a
    percentage that may exceed 100 such as a growth index): at least 0. Otherwise (e.g. a net balance that
    may be negative) no bound.
    """
    unit = str(target.get("unit") or "").strip().lower()
    ends = (float(target["baseline"]), float(target["target_value"]))
    nonneg = min(ends) >= 0
    if unit in PERCENT_UNITS and nonneg and max(ends) <= 100:
        return 0.0, 100.0
    return (0.0, math.inf) if nonneg else (-math.inf, math.inf)


@dataclass
class Projection:
    """OLS fit on recent actuals: trend and projected value at the target date."""

    n_points: int = 0
    slope: float = math.nan
    value: float = math.nan
    lower: float = math.nan
    upper: float = math.nan
    level: float = 0.8
    path: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["month", "mean", "lower", "upper"])
    )
    reason: str = ""
    #: the straight line left the measure's natural range and was clipped to it
    bounded: bool = False

    @property
    def available(self) -> bool:
        return not math.isnan(self.value)


def project(
    target: Mapping[str, Any],
    series: pd.DataFrame,
    month: Any,
    settings: StocktakeSettings | None = None,
) -> Projection:
    """Fit OLS to the department-wide actuals in the projection window and project to the target date.

    ``series`` has columns ``month`` and ``actual`` (one target, department-wide values).
    """
    settings = settings or StocktakeSettings()
    month = _month_ts(month)
    lo = _mi(month) - settings.projection_window * period_months(target) + 1
    first = pd.Timestamp(year=lo // 12, month=lo % 12 + 1, day=1)
    recent = series[(series["month"] <= month) & (series["month"] >= first)].sort_values("month")
    proj = Projection(n_points=len(recent), level=settings.interval_level)
    passed = pd.Timestamp(target["target_month"]) < month
    if len(recent) < settings.min_points:
        proj.reason = (
            "the target date has passed"
            if passed
            else f"{len(recent)} {frequency_of(target)} actual(s) in the last "
            f"{settings.projection_window} {PERIOD_WORD[frequency_of(target)]}s; at least "
            f"{settings.min_points} are needed for a trend and projection"
        )
        return proj
    x0 = _mi(recent["month"].iloc[0])
    x = np.array([_mi(m) - x0 for m in recent["month"]], dtype=float)
    y = recent["actual"].to_numpy(dtype=float)
    # here, not at import (the driver reads this module's settings); the modules themselves,
    # not statsmodels.api, which imports formulas, time series and graphics too
    from statsmodels.regression.linear_model import OLS
    from statsmodels.tools.tools import add_constant

    fit = OLS(y, add_constant(x)).fit()
    proj.slope = float(fit.params[1])
    if passed:
        proj.reason = "the target date has passed"
        return proj
    target_month = pd.Timestamp(target["target_month"])
    last = recent["month"].iloc[-1]
    months = pd.date_range(last, target_month, freq="MS")
    xp = np.array([_mi(m) - x0 for m in months], dtype=float)
    frame = fit.get_prediction(add_constant(xp, has_constant="add")).summary_frame(
        alpha=1 - settings.interval_level
    )
    mean = frame["mean"].to_numpy(dtype=float)
    lower = frame["obs_ci_lower"].to_numpy(dtype=float)
    upper = frame["obs_ci_upper"].to_numpy(dtype=float)
    if not np.isfinite(lower).all():  # a perfect fit leaves no residual variance
        lower = upper = mean
    # a straight line must not leave the measure's natural range (no 104%, no -20 posts)
    lo_b, hi_b = natural_bounds(target)
    proj.path = pd.DataFrame(
        {
            "month": months,
            "mean": np.clip(mean, lo_b, hi_b),
            "lower": np.clip(lower, lo_b, hi_b),
            "upper": np.clip(upper, lo_b, hi_b),
        }
    )
    proj.bounded = bool(np.any(mean < lo_b) or np.any(mean > hi_b))
    proj.value = float(proj.path["mean"].iloc[-1])
    proj.lower = float(proj.path["lower"].iloc[-1])
    proj.upper = float(proj.path["upper"].iloc[-1])
    return proj


def _meets(value: float, target_value: float, direction: str, band=None) -> bool:
    """At or beyond the target in its direction; for maintain, inside the band."""
    if direction == "maintain":
        return _in_band(value, band)
    return _sign(direction) * (value - target_value) >= 0


def missing_months(
    target: Mapping[str, Any], trajectory_t: pd.DataFrame, series: pd.DataFrame, month: Any
) -> list[pd.Timestamp]:
    """Months in which a department-wide actual was expected but none is recorded.

    Expected: from the first trajectory month (or the month after the baseline) to the report
    month, and not beyond the last planned month.
    """
    month = _month_ts(month)
    step = period_months(target)
    if len(trajectory_t):
        start = trajectory_t["month"].min()
        end_plan = max(trajectory_t["month"].max(), target["target_month"])
    else:
        start = target["baseline_month"] + pd.DateOffset(months=step)
        end_plan = target["target_month"]
    end = min(month, end_plan)
    if end < start:
        return []
    have = set(series["month"])
    return [m for m in pd.date_range(start, end, freq=f"{step}MS") if m not in have]


def _target_series(actuals_t: pd.DataFrame, month: pd.Timestamp) -> pd.DataFrame:
    """A target's department-wide actuals (``district_pcode`` missing) up to ``month``, by month."""
    return actuals_t.loc[
        actuals_t["district_pcode"].isna() & (actuals_t["month"] <= month), ["month", "actual"]
    ].sort_values("month")


#: what :func:`_status_fields` says of the latest actual, in the order of assess_target's row
_LATEST_FIELDS = (
    "latest_month",
    "latest_actual",
    "planned_at_latest",
    "gap",
    "gap_pct",
    "months_since_latest",
    "stale",
    "awaiting_final",
)


def _status_fields(
    target: Mapping[str, Any],
    trajectory_t: pd.DataFrame,
    series: pd.DataFrame,
    month: pd.Timestamp,
    settings: StocktakeSettings,
) -> dict[str, Any]:
    """The latest actual against the plan, and the status it gives (the part of
    :func:`assess_target` that neither the trend nor the projection enters)."""
    direction = target["direction"]
    s = _sign(direction)
    band = band_of(target)
    maintain = direction == "maintain"
    journey = abs(float(target["target_value"]) - float(target["baseline"]))
    step = period_months(target)
    date_passed = bool(target["target_month"] < month)
    row: dict[str, Any] = {
        "latest_month": pd.NaT,
        "latest_actual": math.nan,
        "planned_at_latest": math.nan,
        "gap": math.nan,
        "gap_pct": math.nan,
        "months_since_latest": math.nan,
        "stale": False,
        "awaiting_final": False,
        "allowed_shortfall": math.nan,
        "outside_band": math.nan,
    }
    if series.empty:
        row["status"] = NO_DATA
        return row
    latest_month = series["month"].iloc[-1]
    latest = float(series["actual"].iloc[-1])
    planned = float(planned_at(target, trajectory_t, latest_month)[0])
    if math.isnan(planned):  # an actual before the baseline month: compare with the baseline
        planned = float(target["baseline"])
    # maintain: the gap is minus the distance outside the band (0 inside it)
    gap = -band_distance(latest, band) if maintain else s * (latest - planned)
    allowed = 0.0 if maintain else allowed_shortfall(target, planned, settings)
    row.update(
        latest_month=latest_month,
        latest_actual=latest,
        planned_at_latest=planned,
        gap=gap,
        gap_pct=gap / abs(planned) if planned != 0 else math.nan,
        months_since_latest=_mi(month) - _mi(latest_month),
        # a quarterly or annual reading is due only once a period: stale after the period
        # plus the usual lag
        stale=(_mi(month) - _mi(latest_month)) > settings.stale_after + step - 1,
        allowed_shortfall=allowed,
        outside_band=band_distance(latest, band) if maintain else math.nan,
    )
    # Missed only once the verdict can be known: an actual for the target period has
    # arrived, or the target period's actual is more than `missed_after` months overdue.
    final = date_passed and (
        latest_month >= target["target_month"]
        or _mi(month) - _mi(target["target_month"]) > settings.missed_after
    )
    row["awaiting_final"] = date_passed and not final
    if maintain:
        inside = _in_band(latest, band)
        if final:
            row["status"] = MET if inside else MISSED
        else:
            row["status"] = ON_TRACK if inside else OFF_TRACK
    elif _meets(latest, float(target["target_value"]), direction):
        row["status"] = MET
    elif final:
        row["status"] = MISSED
    elif gap >= -allowed - 1e-12 * max(1.0, journey, abs(planned)):
        row["status"] = ON_TRACK
    else:
        row["status"] = OFF_TRACK
    return row


def target_status(
    target: Mapping[str, Any],
    trajectory_t: pd.DataFrame,
    actuals_t: pd.DataFrame,
    month: Any,
    settings: StocktakeSettings | None = None,
) -> str:
    """The status :func:`assess_target` gives the target (without its trend and projection:
    the province scorecard counts the targets on track)."""
    month = _month_ts(month)
    series = _target_series(actuals_t, month)
    return _status_fields(target, trajectory_t, series, month, settings or StocktakeSettings())[
        "status"
    ]


def assess_target(
    target: Mapping[str, Any],
    trajectory_t: pd.DataFrame,
    actuals_t: pd.DataFrame,
    month: Any,
    settings: StocktakeSettings | None = None,
) -> tuple[dict[str, Any], Projection]:
    """Evidence for one target in the report month: gap, status, trend, projection, missing months.

    ``trajectory_t`` and ``actuals_t`` are that target's rows (prepared); only department-wide
    actuals (``district_pcode`` missing) at or before ``month`` are used.
    """
    settings = settings or StocktakeSettings()
    month = _month_ts(month)
    direction = target["direction"]
    s = _sign(direction)
    band = band_of(target)
    maintain = direction == "maintain"
    journey = abs(float(target["target_value"]) - float(target["baseline"]))
    # the scale of "flat": the planned change, or a maintain target's band width
    scale = (band[1] - band[0]) if maintain else journey
    step = period_months(target)
    tol, basis = tolerance_rule(target, settings)
    series = _target_series(actuals_t, month)
    date_passed = bool(target["target_month"] < month)
    row: dict[str, Any] = {
        "target_id": target["target_id"],
        "title": target.get("title", target["target_id"]),
        "unit": target.get("unit", ""),
        "direction": direction,
        "owner": target.get("owner"),
        "baseline": float(target["baseline"]),
        "target_value": float(target["target_value"]),
        "target_month": target["target_month"],
        "date_passed": date_passed,
        "planned_now": float(planned_at(target, trajectory_t, month)[0]),
    }
    status = _status_fields(target, trajectory_t, series, month, settings)
    row.update({k: status[k] for k in _LATEST_FIELDS})
    row.update(
        frequency=frequency_of(target),
        band_low=band[0],
        band_high=band[1],
        tolerance=tol,
        tolerance_basis=basis,
        allowed_shortfall=status["allowed_shortfall"],
        outside_band=status["outside_band"],
    )
    proj = project(target, series, month, settings)
    missing = missing_months(target, trajectory_t, series, month)
    row["missing_months"] = missing
    row["n_missing"] = len(missing)
    row["status"] = status["status"]
    # trend
    row["trend_per_month"] = proj.slope
    if math.isnan(proj.slope):
        row["trend"] = None
    elif abs(proj.slope) < settings.trend_flat * scale:
        row["trend"] = "flat"
    elif maintain:
        row["trend"] = "rising" if proj.slope > 0 else "falling"
    else:
        row["trend"] = "improving" if s * proj.slope > 0 else "worsening"
    row["trend_per_period"] = proj.slope * step
    # projection
    row.update(
        projected=proj.value,
        projected_lower=proj.lower,
        projected_upper=proj.upper,
        projection_points=proj.n_points,
        projection_note=proj.reason,
        projection_bounded=proj.bounded,
    )
    if proj.available and maintain:
        row["projected_outcome"] = "meets" if _in_band(proj.value, band) else "misses"
        if _in_band(proj.lower, band) and _in_band(proj.upper, band):
            row["likelihood"] = "likely to meet"
        elif proj.upper < band[0] or proj.lower > band[1]:
            row["likelihood"] = "likely to miss"
        else:
            row["likelihood"] = "uncertain"
    elif proj.available:
        tv = float(target["target_value"])
        row["projected_outcome"] = "meets" if _meets(proj.value, tv, direction) else "misses"
        worst = proj.lower if direction == "up" else proj.upper
        best = proj.upper if direction == "up" else proj.lower
        if _meets(worst, tv, direction):
            row["likelihood"] = "likely to meet"
        elif not _meets(best, tv, direction):
            row["likelihood"] = "likely to miss"
        else:
            row["likelihood"] = "uncertain"
    else:
        row["projected_outcome"] = None
        row["likelihood"] = None
    return row, proj


# --------------------------------------------------------------------------------------------
# Ratings, evidence flags, actions
# --------------------------------------------------------------------------------------------


def stocktake_dates(
    ratings: pd.DataFrame, month: Any, actions: pd.DataFrame | None = None
) -> list[pd.Timestamp]:
    """Stocktake dates on or before the last day of the report month, oldest first.

    A stocktake is a date on which ratings were recorded; only when a department has no ratings
    at all up to the month are the dates on which actions were agreed used instead.
    """
    end = _month_end(_month_ts(month))
    for df, name in ((ratings, "ratings"), (actions, "actions")):
        if df is not None and len(df) and "stocktake_date" in df.columns:
            dates = set(_to_dates(df["stocktake_date"], f"{name}.stocktake_date").dropna())
            dates = sorted(d for d in dates if d <= end)
            if dates:
                return dates
    return []


def rating_changes(
    ratings: pd.DataFrame, month: Any, actions: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Recorded rating per target at the stocktake in force and at the previous stocktake.

    The stocktake in force is the latest stocktake date at or before the report month (end of
    month). Columns: target_id, rating, comment, previous_rating, rating_change
    ('up'/'down'/'same'/'new'/'not rated'). Ratings are shown as recorded, never computed.
    """
    _require(ratings, RATING_COLUMNS, "ratings")
    r = ratings.copy()
    r["target_id"] = r["target_id"].astype(str)
    r["stocktake_date"] = _to_dates(r["stocktake_date"], "ratings.stocktake_date")
    bad = r.loc[r["rating"].notna() & ~r["rating"].isin(RATINGS), "rating"]
    if len(bad):
        raise ValueError(f"ratings: unknown rating values {sorted(set(bad))}; expected {RATINGS}")
    dup = r.duplicated(["target_id", "stocktake_date"])
    if dup.any():
        raise ValueError("ratings: more than one rating for a target at one stocktake")
    if "comment" not in r.columns:
        r["comment"] = pd.NA
    dates = stocktake_dates(r, month, actions)
    cols = ["target_id", "rating", "comment", "previous_rating", "rating_change"]
    current = dates[-1] if dates else None
    previous = dates[-2] if len(dates) > 1 else None
    now = (
        r[r["stocktake_date"] == current][["target_id", "rating", "comment"]]
        if current is not None
        else r.iloc[0:0][["target_id", "rating", "comment"]]
    )
    before = (
        r[r["stocktake_date"] == previous][["target_id", "rating"]].rename(
            columns={"rating": "previous_rating"}
        )
        if previous is not None
        else pd.DataFrame(
            {"target_id": pd.Series(dtype="str"), "previous_rating": pd.Series(dtype="str")}
        )
    )
    out = now.merge(before, on="target_id", how="outer")

    def change(cur: Any, prev: Any) -> str:
        if pd.isna(cur):
            return "not rated"
        if pd.isna(prev):
            return "new"
        d = RATING_RANK[cur] - RATING_RANK[prev]
        return "up" if d > 0 else "down" if d < 0 else "same"

    out["rating_change"] = [
        change(c, p) for c, p in zip(out["rating"], out["previous_rating"], strict=True)
    ]
    return out[cols].reset_index(drop=True)


def evidence_flag(rating: Any, status: str, projected_outcome: str | None) -> str:
    """Where the evidence contradicts the recorded rating, a short reason; else ''.

    See the module docstring for the rule.
    """
    if rating is None or pd.isna(rating):
        return ""
    traj = +1 if status in GOOD_STATUSES else -1 if status in (OFF_TRACK, MISSED) else 0
    proj = +1 if projected_outcome == "meets" else -1 if projected_outcome == "misses" else 0
    adverse = []
    if status == MISSED:
        adverse.append("target date passed without meeting the target")
    elif traj < 0:
        adverse.append("off trajectory")
    if proj < 0:
        adverse.append("projected to miss")
    favourable = []
    if status == MET:
        favourable.append("target already met")
    elif traj > 0:
        favourable.append("on trajectory")
    if proj > 0:
        favourable.append("projected to meet")
    if rating == "Green":
        contradicted = status == MISSED or traj < 0 or proj < 0
        reasons = adverse
    elif rating == "Amber-Green":
        contradicted = status == MISSED or (traj < 0 and proj < 0)
        reasons = adverse
    elif rating in ("Amber-Red", "Red"):
        contradicted = status == MET or (traj > 0 and proj > 0)
        reasons = favourable
    else:
        raise ValueError(f"unknown rating {rating!r}")
    return f"Rated {rating} but {' and '.join(reasons)}" if contradicted else ""


def actions_review(
    actions: pd.DataFrame, ratings: pd.DataFrame | None, month: Any
) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """Actions agreed at the stocktake in force, with their recorded status.

    Adds ``past_due`` (open or overdue and the due date is before the last day of the report
    month) and ``days_past_due``. Returns (table, stocktake date).
    """
    _require(actions, ACTION_COLUMNS, "actions")
    a = actions.copy()
    a["target_id"] = a["target_id"].astype("string")
    a["stocktake_date"] = _to_dates(a["stocktake_date"], "actions.stocktake_date")
    a["due_date"] = _to_dates(a["due_date"], "actions.due_date")
    bad = a.loc[~a["status"].isin(ACTION_STATUSES), "status"]
    if len(bad):
        raise ValueError(f"actions: unknown status {sorted(set(bad))}; expected {ACTION_STATUSES}")
    dates = stocktake_dates(ratings if ratings is not None else a.iloc[0:0], month, a)
    if not dates:
        return a.iloc[0:0].assign(
            past_due=pd.Series(dtype=bool), days_past_due=pd.Series(dtype=float)
        ), None
    current = dates[-1]
    end = _month_end(_month_ts(month))
    out = a[a["stocktake_date"] == current].copy()
    open_ = out["status"].isin(["open", "overdue"])
    out["past_due"] = open_ & (out["due_date"] < end)
    out["days_past_due"] = np.where(out["past_due"], (end - out["due_date"]).dt.days, np.nan)
    return out.sort_values(["due_date", "action_id"]).reset_index(drop=True), current


# --------------------------------------------------------------------------------------------
# Milestones
# --------------------------------------------------------------------------------------------


def prepare_milestones(milestones: pd.DataFrame) -> pd.DataFrame:
    """Check and coerce milestones; a completed milestone must carry its completion date."""
    _require(milestones, MILESTONE_COLUMNS, "milestones")
    m = milestones.copy()
    m["target_id"] = m["target_id"].astype("string")
    m["due_date"] = _to_dates(m["due_date"], "milestones.due_date")
    m["completed_date"] = _to_dates(m["completed_date"], "milestones.completed_date")
    bad = m.loc[~m["status"].isin(MILESTONE_STATUSES), "status"]
    if len(bad):
        raise ValueError(
            f"milestones: unknown status {sorted(set(bad))}; expected {MILESTONE_STATUSES}"
        )
    if m["due_date"].isna().any():
        raise ValueError(
            f"milestones without a due date: {list(m.loc[m['due_date'].isna(), 'milestone_id'])}"
        )
    no_date = m.loc[(m["status"] == "completed") & m["completed_date"].isna(), "milestone_id"]
    if len(no_date):
        raise ValueError(f"milestones marked completed without a completed_date: {list(no_date)}")
    open_dated = m.loc[
        m["status"].isin(["not started", "in progress"]) & m["completed_date"].notna(),
        "milestone_id",
    ]
    if len(open_dated):
        raise ValueError(
            f"milestones with a completed_date but status not completed: {list(open_dated)}"
        )
    return m.reset_index(drop=True)


def milestone_status(milestones: pd.DataFrame, month: Any) -> pd.DataFrame:
    """State of each milestone at the last day of the report month (see module docstring).

    Adds: state, due_this_month, days_overdue, months_overdue, days_late.
    """
    m = prepare_milestones(milestones)
    month = _month_ts(month)
    end = _month_end(month)
    done = m["completed_date"].notna() & (m["completed_date"] <= end) & (m["status"] != "dropped")
    on_time = done & (m["completed_date"] <= m["due_date"])
    overdue = ~done & (m["status"] != "dropped") & (m["due_date"] < end)
    due_month = (m["due_date"] >= month) & (m["due_date"] <= end)
    state = np.select(
        [m["status"] == "dropped", on_time, done, overdue, due_month],
        ["dropped", "completed on time", "completed late", "overdue", "due this month"],
        default="not yet due",
    )
    m["state"] = state
    m["due_this_month"] = due_month
    m["days_overdue"] = np.where(overdue, (end - m["due_date"]).dt.days, np.nan)
    months_over = [
        (end.year - d.year) * 12 + end.month - d.month - (1 if end.day < d.day else 0)
        if o
        else np.nan
        for d, o in zip(m["due_date"], overdue, strict=True)
    ]
    m["months_overdue"] = np.array(months_over, dtype=float)
    m["days_late"] = np.where(
        done & ~on_time, (m["completed_date"] - m["due_date"]).dt.days, np.nan
    )
    return m.sort_values(["due_date", "milestone_id"]).reset_index(drop=True)


def milestone_completion_rate(
    milestones: pd.DataFrame, month: Any, months: int = 12
) -> pd.DataFrame:
    """Completion rate over the ``months`` months to the report month.

    For each month: ``due`` milestones (not dropped) due by its last day, ``completed`` by then,
    ``on_time`` (completed by then and on or before the due date), ``completion_rate`` =
    completed / due and ``on_time_rate`` = on_time / due (NaN when nothing was due).
    """
    m = prepare_milestones(milestones)
    m = m[m["status"] != "dropped"]
    month = _month_ts(month)
    rows = []
    for mo in pd.date_range(month - pd.DateOffset(months=months - 1), month, freq="MS"):
        end = _month_end(mo)
        due = m["due_date"] <= end
        completed = due & m["completed_date"].notna() & (m["completed_date"] <= end)
        on_time = completed & (m["completed_date"] <= m["due_date"])
        n = int(due.sum())
        rows.append(
            {
                "month": mo,
                "due": n,
                "completed": int(completed.sum()),
                "on_time": int(on_time.sum()),
                "completion_rate": completed.sum() / n if n else math.nan,
                "on_time_rate": on_time.sum() / n if n else math.nan,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Districts
# --------------------------------------------------------------------------------------------


def district_breakdown(
    target: Mapping[str, Any],
    actuals_t: pd.DataFrame,
    districts: pd.DataFrame,
    month: Any,
) -> pd.DataFrame:
    """Latest district actuals (at or before the report month) for one target, best first.

    Columns: district_pcode, district, month, actual, department_value, difference
    (direction-signed: positive = better than the department-wide value), rank (1 = best).
    Empty when the target has no district data.
    """
    _require(districts, ("pcode", "name"), "districts")
    month = _month_ts(month)
    cols = [
        "district_pcode",
        "district",
        "month",
        "actual",
        "department_value",
        "difference",
        "rank",
    ]
    d = actuals_t[actuals_t["district_pcode"].notna() & (actuals_t["month"] <= month)]
    if d.empty:
        return pd.DataFrame(columns=cols)
    latest = d["month"].max()
    d = d[d["month"] == latest]
    names = dict(zip(districts["pcode"].astype(str), districts["name"], strict=True))
    unknown = sorted(set(d["district_pcode"]) - set(names))
    if unknown:
        raise ValueError(f"actuals for {target['target_id']}: unknown district pcodes {unknown}")
    dept = actuals_t[actuals_t["district_pcode"].isna() & (actuals_t["month"] == latest)]["actual"]
    dept_value = float(dept.iloc[0]) if len(dept) else math.nan
    s = _sign(target["direction"])
    out = pd.DataFrame(
        {
            "district_pcode": d["district_pcode"].astype(str).to_numpy(),
            "district": [names[p] for p in d["district_pcode"]],
            "month": latest,
            "actual": d["actual"].to_numpy(dtype=float),
        }
    )
    out["department_value"] = dept_value
    if target["direction"] == "maintain":  # better = closer to the level to hold
        tv = float(target["target_value"])
        out["difference"] = abs(dept_value - tv) - (out["actual"] - tv).abs()
        out = out.sort_values(["difference", "district"], ascending=[False, True])
        out["rank"] = np.arange(1, len(out) + 1)
        return out[cols].reset_index(drop=True)
    out["difference"] = s * (out["actual"] - dept_value)
    out = out.sort_values(["actual", "district"], ascending=[target["direction"] == "down", True])
    out["rank"] = np.arange(1, len(out) + 1)
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Reported against verified
# --------------------------------------------------------------------------------------------

VERIFICATION_COLUMNS = [
    "target_id", "verified_id", "title", "unit", "month", "reported", "verified",
    "difference", "verified_share", "note",
]  # fmt: skip


def reported_targets(targets_t: pd.DataFrame) -> pd.DataFrame:
    """The targets that are not a verification of another (``verifies`` blank)."""
    if "verifies" not in targets_t.columns:
        return targets_t
    return targets_t[targets_t["verifies"].isna()]


def verification(targets_t: pd.DataFrame, actuals_t: pd.DataFrame, month: Any) -> pd.DataFrame:
    """Reported against independently verified values (an evidence check of what is reported).

    A target whose ``verifies`` names another target holds the verified values of that (the
    reported) target. Per pair: the latest month at or before ``month`` in which both have a
    department-wide actual; ``difference = verified - reported`` and ``verified_share =
    verified / reported`` (NaN when the reported value is 0). ``note`` says when only one side
    has data. Columns: VERIFICATION_COLUMNS (empty without pairs)."""
    month = _month_ts(month)
    if "verifies" not in targets_t.columns:
        return pd.DataFrame(columns=VERIFICATION_COLUMNS)
    pairs = targets_t[targets_t["verifies"].notna()]
    titles = dict(zip(targets_t["target_id"], targets_t["title"], strict=True))
    units = dict(zip(targets_t["target_id"], targets_t["unit"], strict=True))
    a = actuals_t[actuals_t["district_pcode"].isna() & (actuals_t["month"] <= month)]
    rows = []
    for ver in pairs.to_dict("records"):
        rep_id, ver_id = ver["verifies"], ver["target_id"]
        r = a[a["target_id"] == rep_id].set_index("month")["actual"]
        v = a[a["target_id"] == ver_id].set_index("month")["actual"]
        both = sorted(set(r.index) & set(v.index))
        row = {
            "target_id": rep_id,
            "verified_id": ver_id,
            "title": titles.get(rep_id, rep_id),
            "unit": units.get(rep_id),
            "month": pd.NaT,
            "reported": math.nan,
            "verified": math.nan,
            "difference": math.nan,
            "verified_share": math.nan,
            "note": "",
        }
        if both:
            m = both[-1]
            rv, vv = float(r[m]), float(v[m])
            row.update(
                month=m,
                reported=rv,
                verified=vv,
                difference=vv - rv,
                verified_share=vv / rv if rv != 0 else math.nan,
            )
        elif len(r) and not len(v):
            row["note"] = "reported, not verified yet"
        elif len(v) and not len(r):
            row["note"] = "verified, nothing reported"
        elif len(r):
            row["note"] = "reported and verified in different months"
        else:
            row["note"] = "no data"
        rows.append(row)
    return pd.DataFrame(rows, columns=VERIFICATION_COLUMNS)


# --------------------------------------------------------------------------------------------
# Scorecard
# --------------------------------------------------------------------------------------------


def annual_target(target: Mapping[str, Any], trajectory_t: pd.DataFrame, month: Any) -> float:
    """Planned value at the end of the report month's fiscal year (the target value if earlier)."""
    fy_end = pd.Timestamp(fy_start(fiscal_year(as_month(month)))) + pd.DateOffset(months=11)
    if target["target_month"] <= fy_end:
        return float(target["target_value"])
    value = float(planned_at(target, trajectory_t, fy_end)[0])
    return float(target["baseline"]) if math.isnan(value) else value


def achievement(
    latest: float,
    baseline: float,
    annual: float,
    direction: str,
    band: tuple[float, float] | None = None,
) -> float:
    """Uncapped achievement: share of the distance from baseline to the annual target travelled.

    When the annual target does not lie beyond the baseline in the target's direction, the KPI
    is achieved (1.0) if the actual is at or beyond the annual target, else 0.0. NaN if no actual.
    """
    if latest is None or math.isnan(latest):
        return math.nan
    if direction == "maintain":  # held within the band: achieved; outside it: not
        return 1.0 if _in_band(latest, band) else 0.0
    s = _sign(direction)
    denom = annual - baseline
    if s * denom <= 0:
        return 1.0 if s * (latest - annual) >= 0 else 0.0
    return (latest - baseline) / denom


def plan_to_date(
    target: Mapping[str, Any],
    trajectory_t: pd.DataFrame,
    latest_month: Any,
    month: Any,
    settings: StocktakeSettings | None = None,
) -> float:
    """The planned value a KPI is scored against: the plan for the month of its latest actual.

    Data lag the report month, so a February actual is compared with the February plan (as the
    gap is, 2.2). A stale actual (older than the stale rule allows) is compared with the plan
    at the report month instead, so that data which stopped arriving are not scored against an
    old, easier plan. Before the baseline month the plan is the baseline. NaN with no actual.
    """
    settings = settings or StocktakeSettings()
    month = _month_ts(month)
    if latest_month is None or pd.isna(latest_month):
        return math.nan
    latest_month = _month_ts(latest_month)
    stale = (_mi(month) - _mi(latest_month)) > settings.stale_after + period_months(target) - 1
    at = month if stale else latest_month
    value = float(planned_at(target, trajectory_t, at)[0])
    return float(target["baseline"]) if math.isnan(value) else value


def scorecard(
    targets: pd.DataFrame,
    trajectory: pd.DataFrame,
    actuals: pd.DataFrame,
    month: Any,
    weights: ScorecardRule | Mapping[str, Any] | None = None,
    settings: StocktakeSettings | None = None,
) -> pd.DataFrame:
    """Per-KPI scorecard rows for the targets given (any number of departments).

    Each KPI is scored against the **plan to date** (:func:`plan_to_date`): a KPI exactly on its
    trajectory achieves 1.0 in every month of the year. Progress against the year-end
    (annual) target is reported next to it and does not enter the score.

    Columns: department, target_id, title, unit, weight, baseline, plan_to_date, latest_month,
    latest_actual, achievement (against the plan to date, uncapped), scored (clipped to
    [0, cap]; 0 when missing under 'zero', NaN when excluded), included, annual_target,
    annual_progress (the distance from baseline to the annual target travelled, uncapped).
    """
    rule, settings = rule_and_settings(weights, settings)
    t, tr, a = scorecard_inputs(targets, trajectory, actuals)
    return _scorecard_rows(t, tr, a, month, rule, settings)


def scorecard_inputs(
    targets: pd.DataFrame, trajectory: pd.DataFrame, actuals: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The scored targets, the trajectory and the actuals (with district roll-ups), prepared."""
    t = reported_targets(prepare_targets(targets))  # a verification is evidence, not a KPI
    return t, prepare_trajectory(trajectory), with_rollup(t, prepare_actuals(actuals))


def _rows_of(df: pd.DataFrame, column: str = "target_id"):
    """``key -> df[df[column] == key]`` (the rows in their order; none for an unknown key),
    grouped once: a department's targets are looked up one by one, each a pass over the whole
    frame before."""
    where = df.groupby(column, sort=False, dropna=True).indices
    none = np.array([], dtype="int64")
    return lambda key: df.iloc[where.get(key, none)]


def _scorecard_rows(
    t: pd.DataFrame,
    tr: pd.DataFrame,
    a: pd.DataFrame,
    month: Any,
    rule: ScorecardRule,
    settings: StocktakeSettings,
) -> pd.DataFrame:
    month = _month_ts(month)
    for dept, overrides in rule.overrides.items():
        known = set(t.loc[t["department"] == dept, "target_id"])
        if dept in set(t["department"]):
            unknown = sorted(set(overrides) - known)
            if unknown:
                raise ValueError(f"scorecard weights for {dept}: unknown target_id {unknown}")
    rows = []
    tr_of, a_of = _rows_of(tr), _rows_of(a)
    for target in t.to_dict("records"):
        tid = target["target_id"]
        tr_t, series = tr_of(tid), a_of(tid)
        series = series[series["district_pcode"].isna() & (series["month"] <= month)]
        series = series.sort_values("month")
        latest = float(series["actual"].iloc[-1]) if len(series) else math.nan
        latest_month = series["month"].iloc[-1] if len(series) else pd.NaT
        plan = plan_to_date(target, tr_t, latest_month, month, settings)
        annual = annual_target(target, tr_t, month)
        band = band_of(target)
        ach = achievement(latest, target["baseline"], plan, target["direction"], band)
        progress = achievement(latest, target["baseline"], annual, target["direction"], band)
        weight = rule.weight(target["department"], tid)
        if math.isnan(ach):
            scored = 0.0 if rule.missing == "zero" else math.nan
        else:
            scored = min(max(ach, 0.0), rule.cap)
        rows.append(
            {
                "department": target["department"],
                "target_id": tid,
                "title": target["title"],
                "unit": target["unit"],
                "weight": weight,
                "baseline": target["baseline"],
                "plan_to_date": plan,
                "latest_month": latest_month,
                "latest_actual": latest,
                "achievement": ach,
                "scored": scored,
                "included": weight > 0 and not math.isnan(scored),
                "annual_target": annual,
                "annual_progress": progress,
            }
        )
    cols = ["department", "target_id", "title", "unit", "weight", "baseline", "plan_to_date",
            "latest_month", "latest_actual", "achievement", "scored", "included",
            "annual_target", "annual_progress"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def score(card: pd.DataFrame) -> float:
    """Weighted score 0-100 of scorecard rows (one department): 100 * sum(w*s)/sum(w), max 100.

    NaN (not scored) when no KPI is weighted or none of the weighted KPIs has an actual yet.
    """
    inc = card[card["included"].astype(bool)]
    w = inc["weight"].sum()
    if w <= 0 or inc["latest_actual"].isna().all():
        return math.nan
    return min(100.0, 100.0 * float((inc["weight"] * inc["scored"]).sum()) / float(w))


def province_scorecard(
    targets: pd.DataFrame,
    trajectory: pd.DataFrame,
    actuals: pd.DataFrame,
    month: Any,
    weights: ScorecardRule | Mapping[str, Any] | None = None,
    settings: StocktakeSettings | None = None,
) -> pd.DataFrame:
    """One row per department: department, score (0-100), grade, targets, on_track.

    ``weights`` is the scorecard config (``load_config()``) or a ``ScorecardRule``. ``on_track``
    counts targets on track or met by the status rule (settings from the config's ``status``
    section when ``weights`` is a config mapping). Sorted by score, best first.
    """
    rule, settings = rule_and_settings(weights, settings)
    t, tr, a = scorecard_inputs(targets, trajectory, actuals)
    return sort_province_scorecard(province_scorecard_rows(t, tr, a, month, rule, settings))


def province_scorecard_rows(
    t: pd.DataFrame,
    tr: pd.DataFrame,
    a: pd.DataFrame,
    month: Any,
    rule: ScorecardRule,
    settings: StocktakeSettings,
) -> pd.DataFrame:
    """:func:`province_scorecard`'s rows, unsorted, from inputs :func:`scorecard_inputs`
    prepared (the province overview prepares the province's once and passes each
    department's share)."""
    card = _scorecard_rows(t, tr, a, month, rule, settings)
    status = {}
    tr_of, a_of = _rows_of(tr), _rows_of(a)
    for target in t.to_dict("records"):
        tid = target["target_id"]
        status[tid] = target_status(target, tr_of(tid), a_of(tid), month, settings)
    rows = []
    for dept, part in card.groupby("department", sort=True):
        sc = score(part)
        rows.append(
            {
                "department": dept,
                "score": sc,
                "grade": rule.grade(sc),
                "targets": len(part),
                "on_track": sum(status[tid] in GOOD_STATUSES for tid in part["target_id"]),
            }
        )
    out = pd.DataFrame(rows, columns=["department", "score", "grade", "targets", "on_track"])
    out["targets"] = out["targets"].astype(int)
    out["on_track"] = out["on_track"].astype(int)
    return out


def sort_province_scorecard(rows: pd.DataFrame) -> pd.DataFrame:
    """Best score first, then by department; unscored departments last."""
    return rows.sort_values(
        ["score", "department"], ascending=[False, True], na_position="last"
    ).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The whole pack for one department and month
# --------------------------------------------------------------------------------------------


SUMMARY_COLUMNS = [
    "target_id", "title", "unit", "direction", "owner", "baseline", "target_value",
    "target_month", "date_passed", "planned_now", "latest_month", "latest_actual",
    "planned_at_latest", "gap", "gap_pct", "months_since_latest", "stale", "missing_months",
    "n_missing", "status", "trend_per_month", "trend", "projected", "projected_lower",
    "projected_upper", "projection_points", "projection_note", "projected_outcome", "likelihood",
    "milestones_overdue", "milestones_due_this_month", "frequency", "band_low", "band_high",
    "tolerance", "tolerance_basis", "allowed_shortfall", "outside_band", "trend_per_period",
    "awaiting_final", "projection_bounded",
]  # fmt: skip


def targets_in_force(
    targets: pd.DataFrame, trajectory: pd.DataFrame, actuals: pd.DataFrame, month
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Keep the targets whose baseline month is at or before ``month`` (and their rows).

    A target set after the report month did not exist then: counting it would show a report for
    an early month with every target "off track" and every scorecard at 0.
    """
    for frame, cols, what in (
        (targets, ("target_id", "baseline_month"), "targets"),
        (trajectory, ("target_id",), "trajectory"),
        (actuals, ("target_id",), "actuals"),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{what} is missing columns {missing}")
    base = pd.to_datetime(targets["baseline_month"])
    if base.isna().any():
        raise ValueError("targets: baseline_month is missing on some rows")
    keep = targets.loc[base <= pd.Timestamp(as_month(month))].reset_index(drop=True)
    ids = set(keep["target_id"])
    return (
        keep,
        trajectory.loc[trajectory["target_id"].isin(ids)].reset_index(drop=True),
        actuals.loc[actuals["target_id"].isin(ids)].reset_index(drop=True),
    )


def _of_department(df: pd.DataFrame, department: str, ids: set[str]) -> pd.DataFrame:
    """Rows of one department: by the ``department`` column when present, else by target_id."""
    if "department" in df.columns:
        return df[df["department"] == department]
    return df[df["target_id"].astype(str).isin(ids)]


@dataclass
class StocktakePack:
    """Everything the stocktake notebook shows for one department and month."""

    department: str
    month: pd.Timestamp
    stocktake_date: pd.Timestamp | None
    previous_stocktake_date: pd.Timestamp | None
    summary: pd.DataFrame
    targets: pd.DataFrame
    plans: dict[str, pd.DataFrame]
    series: dict[str, pd.DataFrame]
    projections: dict[str, Projection]
    districts: dict[str, pd.DataFrame]
    milestones: pd.DataFrame
    completion: pd.DataFrame
    actions: pd.DataFrame
    scorecard: pd.DataFrame
    score: float
    grade: str | None
    settings: StocktakeSettings
    rule: ScorecardRule
    #: reported against verified values (targets with ``verifies``), see :func:`verification`
    verification: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=VERIFICATION_COLUMNS)
    )

    @property
    def n_targets(self) -> int:
        return len(self.summary)

    @property
    def n_on_track(self) -> int:
        """Targets on track or already met (the portal's ``on_track`` badge)."""
        return int(self.summary["status"].isin(GOOD_STATUSES).sum()) if len(self.summary) else 0

    @property
    def share_on_track(self) -> float:
        return self.n_on_track / self.n_targets if self.n_targets else math.nan

    @property
    def as_of(self) -> pd.Timestamp | None:
        """Latest month with a department-wide actual at or before the report month."""
        if self.summary.empty or self.summary["latest_month"].isna().all():
            return None
        return pd.Timestamp(self.summary["latest_month"].max())

    def status_counts(self) -> dict[str, int]:
        """Number of targets in each status (all statuses listed, zeros included)."""
        counts = (
            self.summary["status"].value_counts() if len(self.summary) else pd.Series(dtype=int)
        )
        return {s: int(counts.get(s, 0)) for s in STATUSES}


def build_pack(
    department: str,
    month: Any,
    targets: pd.DataFrame,
    trajectory: pd.DataFrame,
    actuals: pd.DataFrame,
    milestones: pd.DataFrame,
    ratings: pd.DataFrame,
    actions: pd.DataFrame,
    districts: pd.DataFrame,
    settings: StocktakeSettings | None = None,
    rule: ScorecardRule | Mapping[str, Any] | None = None,
) -> StocktakePack:
    """Assess every target of one department in the report month and assemble the pack.

    All frames may hold other departments' rows; only ``department``'s targets in force in the
    report month (:func:`targets_in_force`) are used.
    """
    settings = settings or StocktakeSettings()
    rule = as_rule(rule)
    month = _month_ts(month)
    targets, trajectory, actuals = targets_in_force(targets, trajectory, actuals, month)
    t_all = prepare_targets(targets)
    t_all = t_all[t_all["department"] == department].sort_values("target_id")
    a_all = with_rollup(t_all, prepare_actuals(actuals))
    checks = verification(t_all, a_all[a_all["target_id"].isin(set(t_all["target_id"]))], month)
    # targets holding verified values of another are evidence, not targets of their own
    t = reported_targets(t_all).reset_index(drop=True)
    ids = set(t["target_id"])
    tr = prepare_trajectory(trajectory)
    tr = tr[tr["target_id"].isin(ids)]
    a = a_all[a_all["target_id"].isin(ids)]
    ms = _of_department(milestones, department, ids)
    ms = milestone_status(ms[ms["target_id"].astype(str).isin(ids)], month)
    r = _of_department(ratings, department, ids)
    act = _of_department(actions, department, ids)
    rc = rating_changes(r, month, act)
    dates = stocktake_dates(r, month, act)

    rows, plans, series, projections, dist = [], {}, {}, {}, {}
    tr_of, a_of, ms_of = _rows_of(tr), _rows_of(a), _rows_of(ms)
    for target in t.to_dict("records"):
        tid = target["target_id"]
        tr_t, a_t = tr_of(tid), a_of(tid)
        row, proj = assess_target(target, tr_t, a_t, month, settings)
        due = ms_of(tid)
        row["milestones_overdue"] = int((due["state"] == "overdue").sum())
        row["milestones_due_this_month"] = int(due["due_this_month"].sum())
        rows.append(row)
        plans[tid] = plan_path(target, tr_t)
        series[tid] = a_t.loc[
            a_t["district_pcode"].isna() & (a_t["month"] <= month), ["month", "actual"]
        ].reset_index(drop=True)
        projections[tid] = proj
        if target["has_districts"]:
            dist[tid] = district_breakdown(target, a_t, districts, month)
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    summary = summary.merge(rc, on="target_id", how="left")
    summary["evidence_flag"] = pd.Series(
        [
            evidence_flag(rt, st, po)
            for rt, st, po in zip(
                summary["rating"], summary["status"], summary["projected_outcome"], strict=True
            )
        ],
        index=summary.index,
        dtype=object,
    )
    act_table, _ = actions_review(act, r, month)
    card = scorecard(t, tr, a, month, rule, settings)
    sc = score(card)
    return StocktakePack(
        department=department,
        month=month,
        stocktake_date=dates[-1] if dates else None,
        previous_stocktake_date=dates[-2] if len(dates) > 1 else None,
        summary=summary,
        targets=t,
        plans=plans,
        series=series,
        projections=projections,
        districts=dist,
        milestones=ms,
        completion=milestone_completion_rate(ms, month),
        actions=act_table,
        scorecard=card,
        score=sc,
        grade=rule.grade(sc),
        settings=settings,
        rule=rule,
        verification=checks,
    )
