"""Year-end projection: the seasonal-profile and regression methods, their back-test, and the
one chosen for the headline (:func:`project_year_end`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS

from helpers.analysis.budget.common import (
    _SEED,
    _SIMULATIONS,
    CHOICE_TOLERANCE,
    MIN_MODEL_DF,
    MODEL_INTERVAL,
    PERIOD_MONTHS,
    PERIOD_WORDS,
    PLAUSIBLE_MAX,
    PROJECTION_LOOKBACK,
    check_frequency,
)
from helpers.analysis.budget.coverage import (
    _complete_years,
    month_coverage,
)
from helpers.analysis.budget.prepare import (
    _dept_rows,
    _ratio,
    _ts,
    department_rows,
    prepare_allocations,
    prepare_monthly,
    rows_where,
)
from helpers.analysis.budget.trend import (
    _monthly_totals,
)
from helpers.analysis.budget.utilisation import (
    _position_date,
)
from helpers.data.calendar import (
    fiscal_year,
    fy_month_index,
)

_METHOD_LABELS = {
    "outturn": "Actual outturn",
    "profile": "Prior-year monthly profile",
    "model": "Seasonal regression (statsmodels OLS)",
    "pace": "Straight-line pace",
}


def _method_label(method: str, frequency: str = "monthly") -> str:
    """'Prior-year monthly profile' ('quarterly' for quarterly data, 'annual' for annual)."""
    word = {"monthly": "monthly", "quarterly": "quarterly", "annual": "annual"}[frequency]
    return _METHOD_LABELS[method].replace("monthly", word)


@dataclass
class Projection:
    """Year-end expenditure projection for one fiscal year (amounts in the profile's currency unit, and ratios of BE).

    ``methods`` has one row per method (profile, model) with columns method, label, available,
    point, low, high, point_be, low_be, high_be, backtest_mape, backtest_years, note;
    ``backtest`` one row per past year and method (fiscal_year, method, projection, low, high,
    actual, ape, covered). ``method`` is the method used for the headline and ``reason`` says
    why.
    """

    fiscal_year: str
    fy_m: int
    budget_estimate: float
    reported_to_date: float
    months_reported: int
    method: str
    label: str
    point: float
    low: float
    high: float
    reason: str
    methods: pd.DataFrame
    backtest: pd.DataFrame
    frequency: str = "monthly"
    #: why the headline projection was withheld ('' when it was not), see PLAUSIBLE_MAX
    withheld: str = ""
    #: the fiscal month of the as-of the projection starts from (monthly: the report month)
    as_of_m: int = 0
    #: fiscal months (period ends) of this year reported incomplete: left out of the reported
    #: spending the projection scales and projected like missing months (docs/methods.md 1.6)
    incomplete_m: tuple[int, ...] = ()

    @property
    def months_covered(self) -> int:
        """Months of the year covered by the reported periods (``months_reported`` counts
        periods: months, quarters or years)."""
        return self.months_reported * PERIOD_MONTHS[self.frequency]

    @property
    def point_be(self) -> float:
        return _ratio(self.point, self.budget_estimate)

    @property
    def low_be(self) -> float:
        return _ratio(self.low, self.budget_estimate)

    @property
    def high_be(self) -> float:
        return _ratio(self.high, self.budget_estimate)

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


def _incomplete_periods(
    alloc: pd.DataFrame,
    mon: pd.DataFrame,
    department: str,
    years: Iterable[str],
    month,
    frequency: str = "monthly",
) -> set[tuple[str, int]]:
    """(fiscal_year, fy_m of the period end) of every *partial* period of ``years`` up to
    ``month`` (the whole year for earlier years): an incomplete period (1.2) in which a
    budgeted line is unreported that the department does report in another period of the same
    year. A line never reported in the year is not a gap of one period (it is missing from
    every period alike), so it does not make a period partial."""
    f = check_frequency(frequency)
    n = PERIOD_MONTHS[f]
    fy_now = None if month is None else fiscal_year(month)
    a = _dept_rows(alloc, department)
    rows = _dept_rows(mon, department)
    out = set()
    for fy in years:
        last_m = fy_month_index(month) if fy == fy_now else 12
        expected = set(
            map(
                tuple,
                rows_where(a, "fiscal_year", fy)[["fund", "object_class"]].to_numpy().tolist(),
            )
        )
        r = rows_where(rows, "fiscal_year", fy)
        fm = r["fy_m"].to_numpy(dtype="int64")
        keep = fm <= last_m
        if not keep.any() or not expected:
            continue
        end = ((fm[keep] + n - 1) // n) * n  # (plain arrays: this runs for every projection)
        keys = list(
            zip(
                r["fund"].to_numpy()[keep].tolist(),
                r["object_class"].to_numpy()[keep].tolist(),
                strict=True,
            )
        )
        by_period: dict[int, set] = {}
        for e, k in zip(end.tolist(), keys, strict=True):
            by_period.setdefault(int(e), set()).add(k)
        seen = set(keys) & expected
        for e, have in by_period.items():
            if e > last_m:
                continue  # a period not yet ended is not read
            if (expected - have) & seen:
                out.add((fy, e))
    return out


@dataclass(frozen=True)
class PastYears:
    """What :func:`project_year_end` reads of the fiscal years before the projected one:
    which are complete (every period reported; ``complete`` holds every earlier year, in
    order) and their partial periods. It is the same at every month of one fiscal year, so the
    forecast record (up to eleven projections of one year) works it out once
    (:func:`past_years`) and passes it to each projection."""

    fiscal_year: str
    complete: dict[str, bool]
    partial: frozenset[tuple[str, int]]


def past_years(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    fy: str,
    frequency: str = "monthly",
    years: list[str] | None = None,
) -> PastYears:
    """:class:`PastYears` of ``department`` for projections in fiscal year ``fy``; ``years``:
    the earlier years (default: every year of the data before ``fy``)."""
    freq = check_frequency(frequency)
    alloc = department_rows(prepare_allocations(allocations), department)
    mon = department_rows(prepare_monthly(monthly), department)
    if years is None:
        seen = set(_dept_rows(mon, department)["fiscal_year"])
        years = sorted(
            y for y in seen | set(_dept_rows(alloc, department)["fiscal_year"]) if y < fy
        )
    complete = _complete_years(alloc, mon, department, years, freq)
    partial = _incomplete_periods(alloc, mon, department, years, None, freq)
    return PastYears(fy, complete, frozenset(partial))


def _profile_method(history: dict[str, np.ndarray], reported: dict[int, float], n: int = 1) -> dict:
    """Scale reported spending by the share of the year those months took in prior years.

    ``history`` maps complete prior fiscal years to their 12 monthly totals; ``reported`` maps
    fiscal months of the current year to expenditure. Point: mean profile; interval: the range of
    projections using each prior year's profile alone (needs two or more prior years).
    """
    usable = {fy: v for fy, v in history.items() if np.nansum(v) > 0}
    if not usable:
        return {"available": False, "note": "needs at least one complete prior year"}
    if not reported:
        return {"available": False, "note": "no month reported this year"}
    idx = np.array(sorted(reported)) // n - 1  # period ends (fiscal months) to period numbers
    cum = float(sum(reported.values()))
    shares = np.vstack([v / v.sum() for v in usable.values()])
    mean_share = shares.mean(axis=0)[idx].sum()
    if mean_share <= 0:
        return {"available": False, "note": "prior years show no spending in the reported months"}
    point = cum / mean_share
    per_year = [cum / s for s in shares[:, idx].sum(axis=1) if s > 0]
    if len(per_year) >= 2:
        low, high = min(per_year), max(per_year)
        note = f"range across {len(per_year)} prior-year profiles"
    else:
        low = high = math.nan
        note = "one prior year: no interval"
    return {"available": True, "point": point, "low": low, "high": high, "note": note}


def _model_method(
    history: _Periods,
    current: dict[int, float],
    interval: float = MODEL_INTERVAL,
    ends: Sequence[int] = tuple(range(1, 13)),
) -> dict:
    """OLS on log monthly spending with fiscal-year and fiscal-month fixed effects.

    ``history``: the prior years' period totals (any reported months); ``current`` maps this
    year's reported fiscal months to expenditure. Months not reported this year are predicted
    from this year's level and the month effects; the interval is simulated (parameter
    uncertainty and residual noise, fixed seed). Months with non-positive spending are left out
    of the fit (log scale).
    """
    if not current:
        return {"available": False, "note": "no month reported this year"}
    # prior years' rows, then this year's (plain arrays: this runs for every back-test year)
    fys = np.concatenate([history.fiscal_year, np.full(len(current), "__current__", object)])
    fms = np.concatenate([history.fy_m, np.fromiter(current, "int64", len(current))])
    spent = np.concatenate([history.expenditure, np.array(list(current.values()), float)])
    keep = spent > 0
    fys, fms, spent = fys[keep], fms[keep], spent[keep]
    to_predict = [k for k in ends if k not in current]
    seen_years = set(fys.tolist())
    if "__current__" not in seen_years:
        return {"available": False, "note": "no positive spending reported this year"}
    if len(seen_years) < 2:
        return {"available": False, "note": "needs at least one prior year"}
    months = sorted(set(fms.tolist()))
    if set(to_predict) - set(months):
        return {"available": False, "note": "some months never observed in prior years"}
    years = ["__current__"] + sorted(seen_years - {"__current__"})
    n_params = 1 + (len(years) - 1) + (len(months) - 1)
    if len(spent) - n_params < MIN_MODEL_DF:
        return {"available": False, "note": "too few months to fit"}
    x = _design(fys, fms, years, months)
    res = OLS(np.log(spent), x).fit()
    cum = float(sum(current.values()))
    if not to_predict:
        return {"available": True, "point": cum, "low": cum, "high": cum, "note": "year complete"}
    xp = _design(
        np.full(len(to_predict), "__current__", object), np.array(to_predict), years, months
    )
    beta = np.asarray(res.params, dtype="float64")
    sigma2 = float(res.scale)
    point = cum + float(np.exp(xp @ beta + sigma2 / 2).sum())
    rng = np.random.default_rng(_SEED)
    betas = rng.multivariate_normal(beta, np.asarray(res.cov_params()), size=_SIMULATIONS)
    eps = rng.normal(0.0, math.sqrt(sigma2), size=(_SIMULATIONS, len(to_predict)))
    sums = cum + np.exp(betas @ xp.T + eps).sum(axis=1)
    tail = (1 - interval) / 2
    low, high = (float(q) for q in np.quantile(sums, [tail, 1 - tail]))
    return {
        "available": True,
        "point": point,
        "low": low,
        "high": high,
        "note": f"{interval:.0%} simulated interval, {int(res.df_resid)} residual df",
    }


def _design(fys: np.ndarray, fms: np.ndarray, years: list, months: list) -> np.ndarray:
    """Intercept, then one dummy per year after the first and per month after the first."""
    cols = [np.ones(len(fys))]
    cols += [(fys == year).astype("float64") for year in years[1:]]
    cols += [(fms == mm).astype("float64") for mm in months[1:]]
    return np.column_stack(cols)


@dataclass(frozen=True)
class _Periods:
    """Period totals as plain arrays (one element per period, in the totals' order): what the
    methods read, many times per projection (pandas' per-call cost dominated on frames this
    small)."""

    fiscal_year: np.ndarray  # object
    fy_m: np.ndarray  # int64
    expenditure: np.ndarray  # float64

    @classmethod
    def of(cls, totals: pd.DataFrame) -> _Periods:
        return cls(
            totals["fiscal_year"].to_numpy(dtype=object),
            totals["fy_m"].to_numpy(dtype="int64"),
            totals["expenditure"].to_numpy(dtype="float64"),
        )

    def where(self, keep: np.ndarray) -> _Periods:
        return _Periods(self.fiscal_year[keep], self.fy_m[keep], self.expenditure[keep])

    def year_total(self, fy: str) -> float:
        """The year's expenditure, summed as pandas sums a column (NaN counts as 0)."""
        return float(np.nansum(self.expenditure[self.fiscal_year == fy]))


def _year_inputs(totals: _Periods, fy: str, upto_m: int) -> dict[int, float]:
    keep = (totals.fiscal_year == fy) & (totals.fy_m <= upto_m)
    return dict(zip(totals.fy_m[keep].tolist(), totals.expenditure[keep].tolist(), strict=True))


def _run_methods(
    totals: _Periods,
    complete: dict[str, bool],
    fy: str,
    m: int,
    lookback: int,
    frequency: str = "monthly",
) -> dict[str, dict]:
    prior = sorted(y for y in complete if y < fy)[-lookback:]
    year_of = totals.fiscal_year
    history = {}
    for y in prior:
        if complete[y]:
            sel = year_of == y
            # in fiscal-month order (a year's totals hold each period once)
            order = np.argsort(totals.fy_m[sel], kind="stable")
            history[y] = totals.expenditure[sel][order]
    reported = _year_inputs(totals, fy, m)
    hist_rows = totals.where(np.isin(year_of, prior))
    n = PERIOD_MONTHS[frequency]
    if frequency == "annual":
        model = {"available": False, "note": "annual data: no within-year profile to model"}
    else:
        model = _model_method(hist_rows, reported, ends=tuple(range(n, 13, n)))
    return {"profile": _profile_method(history, reported, n), "model": model}


def project_year_end(
    allocations: pd.DataFrame,
    monthly: pd.DataFrame,
    department: str,
    month,
    lookback: int = PROJECTION_LOOKBACK,
    frequency: str = "monthly",
    past: PastYears | None = None,
    totals: pd.DataFrame | None = None,
) -> Projection:
    """Project the department's full-year expenditure for the fiscal year of ``month``.

    Methods (both learn from up to ``lookback`` prior fiscal years of the department itself):

    - ``profile``: reported spending this year / the share of annual spending the same months
      took in complete prior years (mean profile); interval = range over single-year profiles.
    - ``model``: statsmodels OLS of log monthly spending on fiscal-year and fiscal-month effects,
      fitted on prior years and this year's reported months; 80% simulated interval.

    Back-test: each method is applied at the same fiscal month in every complete past year that
    has at least one complete year before it, using only data available then, and compared with
    that year's actual outturn (absolute percentage error; MAPE over years).

    Headline method: the regression when its back-test MAPE over the years both could be tested
    on is lower than the profile method's by more than ``CHOICE_TOLERANCE``, else the profile
    method; the profile method when there is no common back-test year (it is the simpler one); the
    model when the profile is unavailable; a straight-line pace (reported spending x 12 / months
    reported, no interval) when neither is available (e.g. no prior year).
    Missing months are handled by both methods (they are projected, not read as zero).

    Quarterly and annual data (``frequency``): the same methods on the data's own periods
    (quarterly: a prior-year quarterly profile; a regression with quarter effects), starting
    from the as-of (the last reported period's end, :func:`as_of_month`); the back-test is run
    at that same point. The straight-line pace is reported spending / the share of the year
    the reported periods cover (months covered / 12; monthly: x 12 / months reported). Annual
    data: no within-year projection; a year with its executed amount shows its outturn.
    A headline projection above ``PLAUSIBLE_MAX`` x BE (200%) is withheld (NaN, ``withheld``
    says why) unless the year is complete (an outturn is never withheld).

    Rows of ``monthly`` after ``month`` are never read: the projection for a past month from
    today's data is the one that month's data gave (tested; the forecast record relies on it).

    ``past``: the earlier years' state from :func:`past_years` for the same data (used when it
    is for this fiscal year and the same earlier years; otherwise worked out here).
    ``totals``: the department's period totals (``_monthly_totals``) of the same data over at
    least the periods ended by ``month``; those after it are dropped here. A period's total
    reads only that period's rows, so the result is the same as working them out from
    ``monthly`` (the forecast record works them out once for its up to eleven projections).
    """
    freq = check_frequency(frequency)
    n_months = PERIOD_MONTHS[freq]
    alloc = department_rows(prepare_allocations(allocations), department)
    mon = department_rows(prepare_monthly(monthly), department)
    fy = fiscal_year(month)
    m = fy_month_index(month)
    if freq != "monthly":
        at = _position_date(alloc, mon, department, month, freq)
        m = fy_month_index(at) if at is not None else 0
    a = _dept_rows(alloc, department)
    a_fy = rows_where(a, "fiscal_year", fy)
    be = float(a_fy["budget_estimate"].sum())
    if a_fy.empty:
        raise ValueError(f"no budget allocations for {department!r} in {fy}")
    if totals is None:
        totals = _monthly_totals(mon, department, _ts(month), freq)
    else:
        totals = totals.loc[totals["month"] <= _ts(month)].reset_index(drop=True)
    years = sorted(y for y in set(totals["fiscal_year"]) | set(a["fiscal_year"]) if y < fy)
    if past is None or (past.fiscal_year, list(past.complete)) != (fy, years):
        past = past_years(alloc, mon, department, fy, freq, years=years)
    complete = past.complete
    # An incomplete period (some budgeted lines reported, others not) is treated like a missing
    # one: its partial total would enter the reported spending while the period's full share of
    # the year entered the divisor, understating the projection. Both methods project it instead.
    partial = past.partial | _incomplete_periods(alloc, mon, department, [fy], month, freq)
    periods = _Periods.of(totals)
    if partial:
        key = zip(periods.fiscal_year.tolist(), periods.fy_m.tolist(), strict=True)
        periods = periods.where(np.array([k not in partial for k in key], dtype=bool))
    incomplete_now = sorted(m_ for y, m_ in partial if y == fy)
    live = _run_methods(periods, complete, fy, m, lookback, freq)

    bt_rows = []
    for y in years:
        if not complete[y]:
            continue
        actual = periods.year_total(y)
        if actual <= 0:
            continue
        earlier = {k: v for k, v in complete.items() if k < y}
        if not any(earlier.values()):
            continue
        res = _run_methods(periods, earlier, y, m, lookback, freq)
        for method, r in res.items():
            if not r["available"]:
                continue
            low, high = r["low"], r["high"]
            covered = (
                bool(low <= actual <= high) if math.isfinite(low) and math.isfinite(high) else None
            )
            bt_rows.append(
                {
                    "fiscal_year": y,
                    "method": method,
                    "projection": r["point"],
                    "low": low,
                    "high": high,
                    "actual": actual,
                    "ape": abs(r["point"] - actual) / actual,
                    "covered": covered,
                }
            )
    backtest = pd.DataFrame(
        bt_rows,
        columns=["fiscal_year", "method", "projection", "low", "high", "actual", "ape", "covered"],
    )

    # each method's back-test errors by year, in year order (plain dicts: this runs for every
    # projection)
    apes = {m: {b["fiscal_year"]: b["ape"] for b in bt_rows if b["method"] == m} for m in live}
    method_rows = []
    for method in ("profile", "model"):
        r = live[method]
        bt = list(apes[method].values())
        method_rows.append(
            {
                "method": method,
                "label": _method_label(method, freq),
                "available": r["available"],
                "point": r.get("point", math.nan),
                "low": r.get("low", math.nan),
                "high": r.get("high", math.nan),
                "backtest_mape": _mean(bt) if bt else math.nan,
                "backtest_years": len(bt),
                "note": r["note"],
            }
        )
        row = method_rows[-1]
        for col in ("point", "low", "high"):
            row[f"{col}_be"] = row[col] / be if be > 0 else math.nan
    methods = pd.DataFrame(method_rows)

    reported = _year_inputs(periods, fy, m)
    chosen, reason = _choose(live, apes)
    if chosen == "pace":
        if not reported:
            point = math.nan
            reason = (
                "annual data: the year's executed amount is not in the data yet, and there is "
                "no within-year projection"
                if freq == "annual"
                else f"no {PERIOD_WORDS[freq][0]} reported this year: no projection"
            )
        else:
            point = float(sum(reported.values())) * 12 / (n_months * len(reported))
        low = high = math.nan
    else:
        point, low, high = (live[chosen][k] for k in ("point", "low", "high"))
    complete_now = m == 12 and bool(reported) and len(reported) == 12 // n_months
    if freq != "monthly" and complete_now:
        statuses = set(month_coverage(alloc, mon, department, month, freq)["status"])
        if statuses <= {"reported"}:
            # quarterly or annual data, the year closed: the figure is the actual outturn
            chosen = "outturn"
            point = low = high = float(sum(reported.values()))
            reason = "the year is complete: the figure is the actual outturn, not a projection"
    if chosen == "pace" and freq != "monthly":
        reason = reason.replace("reported months", f"reported {PERIOD_WORDS[freq][1]}")
    withheld = ""
    if not complete_now and be > 0 and math.isfinite(point) and point > PLAUSIBLE_MAX * be:
        withheld = (
            f"the {_method_label(chosen, freq).lower()} gives {point / be:.0%} of the budget estimate, "
            f"above the plausibility limit of {PLAUSIBLE_MAX:.0%}; no year-end projection is shown"
        )
        point = low = high = math.nan
    return Projection(
        fiscal_year=fy,
        fy_m=m,
        budget_estimate=be,
        reported_to_date=float(sum(reported.values())),
        months_reported=len(reported),
        method=chosen,
        label=_method_label(chosen, freq),
        point=float(point),
        low=float(low),
        high=float(high),
        reason=reason,
        methods=methods,
        backtest=backtest,
        frequency=freq,
        withheld=withheld,
        as_of_m=m,
        incomplete_m=tuple(incomplete_now),
    )


def _mean(values: list[float]) -> float:
    """The mean as pandas takes it (numpy's sum, then / n)."""
    return float(np.asarray(values, dtype="float64").sum() / len(values))


def _choose(live: dict[str, dict], apes: dict[str, dict[str, float]]) -> tuple[str, str]:
    """The headline method and why; ``apes``: each method's back-test error by year."""
    prof, mod = live["profile"]["available"], live["model"]["available"]
    if prof and mod:
        p, q = apes["profile"], apes["model"]
        common = sorted(set(p) & set(q))
        if common:
            pm, qm = _mean([p[y] for y in common]), _mean([q[y] for y in common])
            years = f"{len(common)} past year{'s' if len(common) > 1 else ''}"
            if qm < pm - CHOICE_TOLERANCE:
                return "model", (
                    f"lower back-test error than the profile method ({qm:.1%} against {pm:.1%}, "
                    f"{years})"
                )
            return "profile", (
                f"back-test error {pm:.1%} against {qm:.1%} for the regression ({years}); the "
                "simpler method is kept unless the regression is clearly better"
            )
        return "profile", "no past year to back-test both methods on; the simpler method is used"
    if prof:
        return "profile", f"the regression model is unavailable ({live['model']['note']})"
    if mod:
        return "model", f"the profile method is unavailable ({live['profile']['note']})"
    return "pace", "no usable prior year: straight-line pace of reported months, no interval"
