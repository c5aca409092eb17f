"""Public sector entity (PSE) financial oversight: ratios, return compliance, risk ratings.

Inputs are plain DataFrames shaped like the warehouse tables (docs/architecture.md):

- ``entities(entity_id, name, department, entity_type)``
- ``pse_returns(entity_id, quarter_end, own_revenue, grants_received, expenditure, liabilities,
  assets, cash, submitted_date)`` - one row per return received; a quarter without a row is a
  missing return.

Definitions (amounts in the profile's currency unit; flows are for the quarter, stocks at the quarter end):

- income = own revenue + grants received
- surplus = income - expenditure; surplus before grants = own revenue - expenditure
- surplus margin = surplus / expenditure (a deficit above x% of expenditure is margin < -x)
- own-revenue share = own revenue / income; grant dependence = grants / income
- cash cover (months) = cash / (quarterly expenditure / 3)
- equity = assets - liabilities (negative equity flagged)
- liabilities growth q/q and y/y: against the previous quarter end and the same quarter a year
  earlier; year-on-year change of own revenue, grants, expenditure (ratios) and cash cover
  (months). A ratio whose denominator is zero or whose comparison return is missing is NaN.

A report month has a cut-off (the month's last day). Returns submitted after the cut-off are
treated as not received. The reporting quarter follows ``reporting_quarter`` in params/pse.yaml
(see :func:`reporting_quarter`). Ratings follow the rules in params/pse.yaml (see :func:`rate`).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# the settings live in pse_settings, without pandas: the engine's driver checks the parameter
# files with them before a run; this module re-exports them
from helpers.analysis.pse_settings import (
    HIGH,
    LOW,
    MEDIUM,
    METRIC_LABELS,  # noqa: F401 (re-exported)
    NO_RETURN,
    RATING_RANK,
    RATINGS,
    PseSettings,
    RiskRule,  # noqa: F401 (re-exported)
    load_settings,  # noqa: F401 (re-exported)
)
from helpers.data import tables
from helpers.data.calendar import as_month
from helpers.data.calendar import quarter_label as _fiscal_quarter_label

ENTITY_COLUMNS = tables.columns("entities")
RETURN_COLUMNS = tables.columns("pse_returns")
AMOUNT_COLUMNS = tuple(
    c for c in RETURN_COLUMNS if c not in ("entity_id", "quarter_end", "submitted_date")
)
# Amounts that cannot be negative in a valid return (own revenue and cash may be: write-backs,
# overdrafts).
NON_NEGATIVE = ("grants_received", "expenditure", "liabilities", "assets")


ON_TIME, LATE, UNKNOWN_DATE, MISSING, NOT_DUE = (
    "On time",
    "Late",
    "Received (date unknown)",
    "Missing",
    "Not yet due",
)
STATUSES = (ON_TIME, LATE, UNKNOWN_DATE, MISSING, NOT_DUE)


def _month_end(year: int, month: int) -> pd.Timestamp:
    return pd.Timestamp(year, month, calendar.monthrange(year, month)[1])


def quarter_end_of(day: Any) -> pd.Timestamp:
    """The last day of the calendar quarter containing ``day``."""
    ts = pd.Timestamp(day)
    return _month_end(ts.year, ((ts.month - 1) // 3 + 1) * 3)


def is_quarter_end(day: Any) -> bool:
    """True if ``day`` is 31 Mar, 30 Jun, 30 Sep or 31 Dec."""
    ts = pd.Timestamp(day).normalize()
    return ts == quarter_end_of(ts)


def shift_quarter(quarter: Any, n: int) -> pd.Timestamp:
    """The quarter end ``n`` quarters after (n < 0: before) the quarter end ``quarter``."""
    q = pd.Timestamp(quarter)
    if not is_quarter_end(q):
        raise ValueError(f"{q.date()} is not a quarter end")
    total = q.year * 12 + (q.month - 1) + 3 * n
    return _month_end(total // 12, total % 12 + 1)


def quarter_range(last: Any, n: int) -> list[pd.Timestamp]:
    """The ``n`` quarter ends ending at ``last``, oldest first."""
    return [shift_quarter(last, -k) for k in range(n - 1, -1, -1)]


def quarter_label(quarter: Any) -> str:
    """Fiscal quarter label in the profile's calendar: 2024-12-31 -> 'Q2 2024-25' for a fiscal
    year starting in the seventh month, 'Q4 2024' for a January year."""
    return _fiscal_quarter_label(pd.Timestamp(quarter))


def quarter_text(quarter: Any) -> str:
    """Long label: 2024-12-31 -> 'quarter ending 31 December 2024 (Q2 2024-25)' (see
    :func:`quarter_label`)."""
    q = pd.Timestamp(quarter)
    return f"quarter ending {q.day} {q.strftime('%B %Y')} ({quarter_label(q)})"


def month_cutoff(month: Any) -> pd.Timestamp:
    """The last day of the report month: returns received after it are not counted."""
    m = as_month(month)
    return _month_end(m.year, m.month)


def reporting_quarter(month: Any, deadline_days: int, rule: str = "deadline") -> pd.Timestamp:
    """The quarter a month's report rates.

    ``rule='deadline'`` (default in params/pse.yaml): the latest quarter end whose return deadline
    (quarter end + ``deadline_days``) falls on or before the month's last day, e.g. March 2025 with
    45 days -> 2024-12-31 (deadline 14 Feb 2025); May 2025 -> 2025-03-31 (deadline 15 May).
    ``rule='latest'``: the latest quarter end on or before the month's last day (March 2025 ->
    2025-03-31).
    """
    if rule not in ("deadline", "latest"):
        raise ValueError(f"rule must be 'deadline' or 'latest', got {rule!r}")
    cutoff = month_cutoff(month)
    q = quarter_end_of(cutoff)
    if q > cutoff:
        q = shift_quarter(q, -1)
    if rule == "deadline":
        while q + pd.Timedelta(days=deadline_days) > cutoff:
            q = shift_quarter(q, -1)
    return q


# --------------------------------------------------------------------------- validation


def validate_entities(entities: pd.DataFrame) -> pd.DataFrame:
    """Check the entities frame and return a clean copy (ids as strings). Raises ValueError."""
    missing = [c for c in ENTITY_COLUMNS if c not in entities.columns]
    if missing:
        raise ValueError(f"entities is missing columns {missing}")
    df = entities.loc[:, list(ENTITY_COLUMNS)].copy()
    if df["entity_id"].isna().any():
        raise ValueError("entities has rows without entity_id")
    df["entity_id"] = df["entity_id"].astype(str)
    dup = df["entity_id"][df["entity_id"].duplicated()]
    if len(dup):
        raise ValueError(f"entities has duplicate entity_id: {sorted(set(dup))[:5]}")
    if df["department"].isna().any():
        raise ValueError("entities has rows without an overseeing department")
    df["name"] = df["name"].fillna(df["entity_id"]).astype(str)
    df["department"] = df["department"].astype(str)
    df["entity_type"] = df["entity_type"].fillna("").astype(str)
    return df.reset_index(drop=True)


def validate_returns(returns: pd.DataFrame, entities: pd.DataFrame | None = None) -> pd.DataFrame:
    """Check the returns frame and return a clean copy. Raises ValueError on bad input.

    Checks: required columns; dates parse; ``quarter_end`` is a quarter end; one return per
    entity and quarter; amounts present and numeric; grants, expenditure, liabilities and assets
    not negative; submission not before the quarter end; every entity known (if ``entities``).
    """
    missing = [c for c in RETURN_COLUMNS if c not in returns.columns]
    if missing:
        raise ValueError(f"pse_returns is missing columns {missing}")
    df = returns.loc[:, list(RETURN_COLUMNS)].copy()
    if df["entity_id"].isna().any():
        raise ValueError("pse_returns has rows without entity_id")
    df["entity_id"] = df["entity_id"].astype(str)
    try:
        df["quarter_end"] = (
            pd.to_datetime(df["quarter_end"]).dt.normalize().astype("datetime64[ns]")
        )
        df["submitted_date"] = (
            pd.to_datetime(df["submitted_date"]).dt.normalize().astype("datetime64[ns]")
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"pse_returns has unparseable dates: {exc}") from exc
    if df["quarter_end"].isna().any():
        raise ValueError("pse_returns has rows without quarter_end")
    bad_q = df.loc[~df["quarter_end"].map(is_quarter_end), "quarter_end"]
    if len(bad_q):
        raise ValueError(
            f"pse_returns quarter_end must be a quarter end; got {bad_q.iloc[0].date()}"
        )
    dup = df.duplicated(["entity_id", "quarter_end"], keep=False)
    if dup.any():
        first = df.loc[dup].iloc[0]
        raise ValueError(
            f"pse_returns has {int(dup.sum())} rows duplicating (entity_id, quarter_end), e.g. "
            f"{first['entity_id']} {first['quarter_end'].date()}"
        )
    for col in AMOUNT_COLUMNS:
        try:
            df[col] = pd.to_numeric(df[col]).astype("float64")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"pse_returns.{col} is not numeric: {exc}") from exc
        if df[col].isna().any() or np.isinf(df[col]).any():
            n = int((df[col].isna() | np.isinf(df[col])).sum())
            raise ValueError(f"pse_returns.{col} has {n} empty or infinite values")
    for col in NON_NEGATIVE:
        neg = df[col] < 0
        if neg.any():
            raise ValueError(f"pse_returns.{col} has {int(neg.sum())} negative values")
    early = df["submitted_date"].notna() & (df["submitted_date"] < df["quarter_end"])
    if early.any():
        raise ValueError(
            f"pse_returns has {int(early.sum())} returns submitted before their quarter ended"
        )
    if entities is not None:
        known = set(entities["entity_id"].astype(str))
        unknown = sorted(set(df["entity_id"]) - known)
        if unknown:
            raise ValueError(f"pse_returns has returns from unknown entities: {unknown[:5]}")
    return df.sort_values(["entity_id", "quarter_end"]).reset_index(drop=True)


def coverage(returns: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last quarter end with any return in ``returns`` (None, None when empty)."""
    if returns.empty:
        return None, None
    q = pd.to_datetime(returns["quarter_end"])
    return pd.Timestamp(q.min()).normalize(), pd.Timestamp(q.max()).normalize()


def coverage_from_months(first_month: Any, last_month: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Quarters covered by a data load spanning ``first_month``..``last_month`` (e.g. the
    warehouse's ``data_range()``): the end of the quarter containing the first month, and the
    latest quarter end on or before the end of the last month.

    Department reports use this rather than the returns themselves, so a report depends only on
    load metadata and its own department's rows (the batch cache key covers exactly those).
    """
    first = quarter_end_of(as_month(first_month))
    cutoff = month_cutoff(last_month)
    last = quarter_end_of(cutoff)
    if last > cutoff:
        last = shift_quarter(last, -1)
    if last < first:
        raise ValueError(f"data range {first_month}..{last_month} covers no full quarter end")
    return first, last


# --------------------------------------------------------------------------- metrics


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den, NaN where den is zero, negative or missing."""
    den = den.astype("float64")
    out = num.astype("float64") / den.where(den > 0)
    return out.astype("float64")


def compute_metrics(returns: pd.DataFrame) -> pd.DataFrame:
    """Ratios for each return (one row per entity and quarter with a return).

    ``returns`` must already be validated (:func:`validate_returns`). Comparisons with the previous
    quarter and the same quarter last year use the entity's returns for those exact quarters; a
    missing comparison return gives NaN.
    """
    df = returns.copy()
    df["income"] = df["own_revenue"] + df["grants_received"]
    df["surplus"] = df["income"] - df["expenditure"]
    df["surplus_before_grants"] = df["own_revenue"] - df["expenditure"]
    df["surplus_margin"] = _ratio(df["surplus"], df["expenditure"])
    df["surplus_margin_before_grants"] = _ratio(df["surplus_before_grants"], df["expenditure"])
    df["own_revenue_share"] = _ratio(df["own_revenue"], df["income"])
    df["grant_dependence"] = _ratio(df["grants_received"], df["income"])
    df["cash_cover_months"] = _ratio(df["cash"], df["expenditure"] / 3.0)
    df["equity"] = df["assets"] - df["liabilities"]
    df["negative_equity"] = df["equity"] < 0

    lag_cols = ["liabilities", "own_revenue", "grants_received", "expenditure", "cash_cover_months"]
    for n, suffix in ((1, "_prev_q"), (4, "_prev_y")):
        lagged = df[["entity_id", "quarter_end", *lag_cols]].copy()
        shifted = {q: shift_quarter(q, n) for q in lagged["quarter_end"].unique()}
        lagged["quarter_end"] = lagged["quarter_end"].map(shifted).astype("datetime64[ns]")
        lagged = lagged.rename(columns={c: c + suffix for c in lag_cols})
        df = df.merge(lagged, on=["entity_id", "quarter_end"], how="left")

    df["liabilities_growth_qoq"] = _ratio(df["liabilities"], df["liabilities_prev_q"]) - 1
    df["liabilities_growth_yoy"] = _ratio(df["liabilities"], df["liabilities_prev_y"]) - 1
    df["own_revenue_yoy"] = _ratio(df["own_revenue"], df["own_revenue_prev_y"]) - 1
    df["grants_yoy"] = _ratio(df["grants_received"], df["grants_received_prev_y"]) - 1
    df["expenditure_yoy"] = _ratio(df["expenditure"], df["expenditure_prev_y"]) - 1
    df["cash_cover_change_yoy"] = df["cash_cover_months"] - df["cash_cover_months_prev_y"]
    return df.drop(columns=[c + s for c in lag_cols for s in ("_prev_q", "_prev_y")])


def rate(metrics: pd.DataFrame, settings: PseSettings) -> pd.DataFrame:
    """Add ``rating`` (High/Medium/Low), ``reasons`` (the rules that fired, '; '-joined; a medium
    rule is left out when a high rule on the same metric fired) and ``n_high_reasons`` to metrics
    rows (each row is a received return).

    High if any high rule holds; else Medium if any medium rule holds; else Low. NaN metrics never
    fire a rule.
    """
    df = metrics.copy()
    n = len(df)
    high_hits = [(r, r.holds(df[r.metric])) for r in settings.high_rules]
    med_hits = [(r, r.holds(df[r.metric])) for r in settings.medium_rules]
    any_high = np.zeros(n, dtype=bool)
    any_med = np.zeros(n, dtype=bool)
    for _, hit in high_hits:
        any_high |= hit.to_numpy()
    for _, hit in med_hits:
        any_med |= hit.to_numpy()
    df["rating"] = np.where(any_high, HIGH, np.where(any_med, MEDIUM, LOW))
    df["rating"] = df["rating"].astype(str)
    reasons: list[str] = []
    n_high: list[int] = []
    for i in range(n):
        hi = [r for r, hit in high_hits if hit.iat[i]]
        # a medium rule on a metric that already fired a high rule adds nothing
        me = [r for r, hit in med_hits if hit.iat[i] and r.metric not in {h.metric for h in hi}]
        reasons.append("; ".join(r.label for r in hi + me))
        n_high.append(len(hi))
    df["reasons"] = pd.Series(reasons, index=df.index, dtype=str)
    df["n_high_reasons"] = pd.Series(n_high, index=df.index, dtype="int64")
    return df


def return_status(
    entities: pd.DataFrame,
    returns: pd.DataFrame,
    quarters: Sequence[Any],
    cutoff: Any,
    deadline_days: int,
) -> pd.DataFrame:
    """Status of each entity's return for each quarter, as known on ``cutoff``.

    One row per entity and quarter with ``deadline`` (quarter end + ``deadline_days``),
    ``submitted_date``, ``status`` (On time / Late / Received (date unknown) / Missing /
    Not yet due) and ``days_late`` (days after the deadline; for a missing return, days overdue at
    the cut-off). A return submitted after ``cutoff`` counts as not received. Both frames must be
    validated.
    """
    cutoff = pd.Timestamp(cutoff)
    qs = pd.DatetimeIndex([pd.Timestamp(q) for q in quarters]).astype("datetime64[ns]")
    grid = entities[["entity_id"]].merge(pd.DataFrame({"quarter_end": qs}), how="cross")
    known = returns[returns["submitted_date"].isna() | (returns["submitted_date"] <= cutoff)]
    grid = grid.merge(
        known[["entity_id", "quarter_end", "submitted_date"]].assign(_received=True),
        on=["entity_id", "quarter_end"],
        how="left",
    )
    received = grid["_received"].eq(True)
    grid["deadline"] = grid["quarter_end"] + pd.Timedelta(days=deadline_days)
    sub = grid["submitted_date"]
    status = np.select(
        [
            received & sub.notna() & (sub <= grid["deadline"]),
            received & sub.notna(),
            received,
            grid["deadline"] > cutoff,
        ],
        [ON_TIME, LATE, UNKNOWN_DATE, NOT_DUE],
        default=MISSING,
    )
    grid["status"] = pd.Series(status, index=grid.index, dtype=str)
    late_days = (sub - grid["deadline"]).dt.days
    overdue_days = (cutoff - grid["deadline"]).dt.days
    grid["days_late"] = np.where(
        grid["status"] == LATE,
        late_days,
        np.where(grid["status"] == MISSING, overdue_days, np.nan),
    )
    return grid.drop(columns="_received")


# --------------------------------------------------------------------------- assessment


@dataclass
class PseAssessment:
    """Everything a PSE report shows for one scope (a department or the province) and month.

    - ``quarter``: the reporting quarter; ``quarters``: trend window (oldest first, ends there)
    - ``panel``: entity x quarter in the window - return status plus metrics and ``rating``
      (``No return`` where no return was received)
    - ``current``: one row per entity for the reporting quarter, with ``previous_rating``,
      ``last_return`` (latest quarter with a return) and ``missing_in_window``
    - ``worsened``: deterioration scores since the previous quarter, worst first
    - ``notes``: data notes (plain sentences)
    """

    month: dt.date
    cutoff: pd.Timestamp
    quarter: pd.Timestamp
    previous_quarter: pd.Timestamp
    quarters: list[pd.Timestamp]
    settings: PseSettings
    entities: pd.DataFrame
    panel: pd.DataFrame
    current: pd.DataFrame
    worsened: pd.DataFrame
    notes: list[str]
    data_start: pd.Timestamp | None = None

    @property
    def before_data(self) -> bool:
        """The reporting quarter is before the first quarter in the data: nothing to rate."""
        return self.data_start is not None and self.quarter < self.data_start

    @property
    def n_entities(self) -> int:
        """Number of entities in scope."""
        return int(len(self.entities))

    @property
    def n_at_risk(self) -> int:
        """Entities whose current rating is in ``settings.at_risk_ratings``."""
        return int(self.current["rating"].isin(self.settings.at_risk_ratings).sum())

    def rating_counts(self) -> dict[str, int]:
        """Entities per current rating, every rating present (zeros included)."""
        counts = self.current["rating"].value_counts()
        return {r: int(counts.get(r, 0)) for r in RATINGS}

    def status_counts(self) -> dict[str, int]:
        """Entities per return status for the reporting quarter (zeros included)."""
        counts = self.current["status"].value_counts()
        return {s: int(counts.get(s, 0)) for s in STATUSES}


def assess(
    entities: pd.DataFrame,
    returns: pd.DataFrame,
    month: Any,
    settings: PseSettings,
    data_coverage: tuple[Any, Any] | None = None,
) -> PseAssessment:
    """Rate every entity in ``entities`` for the report ``month``.

    ``returns`` may hold other entities' returns only if they are in ``entities``. Returns after
    the reporting quarter or submitted after the month's cut-off are ignored.
    ``data_coverage`` = (first, last) quarter end with any return in the whole warehouse
    (:func:`coverage` on all returns); the trend window is clipped to start at ``first``. For a
    reporting quarter before ``first`` the assessment is empty (``before_data``, a note says
    why) rather than showing every entity as missing. Defaults to the coverage of ``returns``.
    """
    ents = validate_entities(entities)
    rets = validate_returns(returns, ents)
    month_start = as_month(month)
    cutoff = month_cutoff(month_start)
    quarter = reporting_quarter(month_start, settings.deadline_days, settings.reporting_quarter)
    previous = shift_quarter(quarter, -1)
    first, last = data_coverage if data_coverage is not None else coverage(rets)
    first = pd.Timestamp(first) if first is not None else None
    last = pd.Timestamp(last) if last is not None else None
    notes: list[str] = []
    before_data = first is not None and quarter < first
    window = quarter_range(quarter, settings.trend_quarters)
    if before_data:
        # Nothing to rate yet: an empty window gives empty tables, not every entity "missing".
        window = []
        notes.append(
            f"No returns are covered yet: the reporting quarter for {month_start:%B %Y} is the "
            f"{quarter_text(quarter)}, before the first quarter in the data "
            f"({quarter_text(first)}, due by {first + pd.Timedelta(days=settings.deadline_days):%d %B %Y})."
        )
    elif first is not None and window[0] < first:
        window = [q for q in window if q >= first]
        notes.append(
            f"Trends start at the {quarter_text(first)}, the first quarter in the data "
            f"({len(window)} quarter{'' if len(window) == 1 else 's'} shown)."
        )
    if last is not None and quarter > last:
        notes.append(
            f"The {quarter_text(quarter)} is after the last quarter the loaded data cover "
            f"({quarter_label(last)}): returns for it show as missing until the data are updated."
        )

    after_cutoff = rets["submitted_date"].notna() & (rets["submitted_date"] > cutoff)
    in_window = rets["quarter_end"].isin(window)
    n_late_arrivals = int((after_cutoff & in_window).sum())
    if n_late_arrivals:
        notes.append(
            f"{n_late_arrivals} return(s) for these quarters arrived after the cut-off "
            f"({cutoff:%d %B %Y}) and are treated as not received in this report."
        )
    known = rets[~after_cutoff & (rets["quarter_end"] <= quarter)]
    n_unknown = int((known["submitted_date"].isna() & known["quarter_end"].isin(window)).sum())
    if n_unknown:
        notes.append(
            f"{n_unknown} return(s) have no submission date: counted as received, timeliness "
            "unknown."
        )

    rated = rate(compute_metrics(known), settings)
    status = return_status(ents, rets, window, cutoff, settings.deadline_days)
    panel = status.merge(
        rated.drop(columns=["submitted_date"]), on=["entity_id", "quarter_end"], how="left"
    )
    panel = ents.merge(panel, on="entity_id", how="right")
    panel["rating"] = panel["rating"].fillna(NO_RETURN).astype(str)
    panel["reasons"] = panel["reasons"].fillna("").astype(str)
    panel = panel.sort_values(["department", "name", "quarter_end"]).reset_index(drop=True)

    current = panel[panel["quarter_end"] == quarter].copy()
    prev_rating = panel.loc[panel["quarter_end"] == previous, ["entity_id", "rating"]]
    current = current.merge(
        prev_rating.rename(columns={"rating": "previous_rating"}), on="entity_id", how="left"
    )
    current["previous_rating"] = current["previous_rating"].fillna(NO_RETURN).astype(str)
    last_ret = known.groupby("entity_id")["quarter_end"].max().rename("last_return")
    current = current.merge(last_ret, left_on="entity_id", right_index=True, how="left")
    received_status = [ON_TIME, LATE, UNKNOWN_DATE]
    missing_n = (
        panel[panel["status"] == MISSING].groupby("entity_id").size().rename("missing_in_window")
    )
    current = current.merge(missing_n, left_on="entity_id", right_index=True, how="left")
    current["missing_in_window"] = current["missing_in_window"].fillna(0).astype("int64")
    current = current.reset_index(drop=True)

    never = sorted(set(ents["entity_id"]) - set(rets["entity_id"]))
    if never:
        names = ents.set_index("entity_id").loc[never, "name"].tolist()
        notes.append(
            f"{len(never)} entit{'y has' if len(never) == 1 else 'ies have'} no returns in the "
            f"data at all: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}."
        )
    cur_rec = current[current["status"].isin(received_status)]
    undefined = {
        "cash cover": int(cur_rec["cash_cover_months"].isna().sum()),
        "grant dependence": int(cur_rec["grant_dependence"].isna().sum()),
        "liabilities growth vs a year earlier": int(cur_rec["liabilities_growth_yoy"].isna().sum()),
    }
    parts = [f"{k} for {v}" for k, v in undefined.items() if v]
    if parts:
        notes.append(
            "Some ratios cannot be computed for the reporting quarter (zero expenditure or income, "
            "or no return a year earlier), so their rules did not apply: " + "; ".join(parts) + "."
        )

    worsened = worsened_most(panel, quarter, previous, settings)
    return PseAssessment(
        month=month_start,
        cutoff=cutoff,
        quarter=quarter,
        previous_quarter=previous,
        quarters=window,
        settings=settings,
        entities=ents,
        panel=panel,
        current=current,
        worsened=worsened,
        notes=notes,
        data_start=first,
    )


def worsened_most(
    panel: pd.DataFrame,
    quarter: Any,
    previous: Any,
    settings: PseSettings,
) -> pd.DataFrame:
    """Deterioration score of each entity between ``previous`` and ``quarter`` (params/pse.yaml).

    Only entities rated (a return received) in both quarters are scored. Components, each clipped
    to +-cap and multiplied by its weight; NaN components count 0:
    rating_step (rank now - rank before), cash_cover (months lost), surplus_margin (pp of
    expenditure lost), grant_dependence (pp gained), liabilities_growth (q/q growth in %).
    Returns rows with score > 0, worst first (ties by name), at most ``worsened_top_n``.
    """
    cols = [
        "entity_id",
        "rating",
        "cash_cover_months",
        "surplus_margin",
        "grant_dependence",
        "liabilities_growth_qoq",
    ]
    now = panel.loc[panel["quarter_end"] == pd.Timestamp(quarter)]
    before = panel.loc[panel["quarter_end"] == pd.Timestamp(previous), cols]
    both = now.merge(before, on="entity_id", suffixes=("", "_before"))
    both = both[(both["rating"] != NO_RETURN) & (both["rating_before"] != NO_RETURN)].copy()
    raw = {
        "rating_step": both["rating"].map(RATING_RANK) - both["rating_before"].map(RATING_RANK),
        "cash_cover": both["cash_cover_months_before"] - both["cash_cover_months"],
        "surplus_margin": 100 * (both["surplus_margin_before"] - both["surplus_margin"]),
        "grant_dependence": 100 * (both["grant_dependence"] - both["grant_dependence_before"]),
        "liabilities_growth": 100 * both["liabilities_growth_qoq"],
    }
    score = pd.Series(0.0, index=both.index)
    for name, values in raw.items():
        values = values.astype("float64")
        cap = settings.worsening_caps.get(name)
        if cap is not None:
            values = values.clip(-cap, cap)
        contrib = (values * settings.worsening_weights.get(name, 0.0)).fillna(0.0)
        both[f"score_{name}"] = contrib
        score = score + contrib
    both["score"] = score.round(6)
    keep = [
        "entity_id",
        "name",
        "department",
        "entity_type",
        "rating_before",
        "rating",
        "cash_cover_months_before",
        "cash_cover_months",
        "surplus_margin_before",
        "surplus_margin",
        "grant_dependence_before",
        "grant_dependence",
        "liabilities_growth_qoq",
        "score",
        *[f"score_{c}" for c in raw],
    ]
    out = both.loc[both["score"] > 0, keep]
    out = out.sort_values(["score", "name"], ascending=[False, True])
    return out.head(settings.worsened_top_n).reset_index(drop=True)


# --------------------------------------------------------------------------- summaries


def rating_counts(current: pd.DataFrame, by: str = "department") -> pd.DataFrame:
    """Entities per rating for each value of ``by``: columns High, Medium, Low, No return, Total."""
    if current.empty:
        return pd.DataFrame(columns=[by, *RATINGS, "Total"])
    tab = pd.crosstab(current[by], current["rating"]).reindex(columns=list(RATINGS), fill_value=0)
    tab["Total"] = tab.sum(axis=1)
    return tab.reset_index().rename_axis(columns=None)


def compliance(
    panel: pd.DataFrame,
    by: str | None = "department",
    quarters: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Return timeliness counts (per ``by`` value, or overall when None) over ``quarters``.

    Columns: each status, ``due`` (returns whose deadline has passed), ``on_time_rate`` = on time /
    due and ``received_rate`` = received (on time, late, date unknown) / due; NaN when nothing is
    due.
    """
    df = panel
    if quarters is not None:
        df = df[df["quarter_end"].isin([pd.Timestamp(q) for q in quarters])]
    keys = [by] if by else []
    if df.empty:
        return pd.DataFrame(columns=[*keys, *STATUSES, "due", "on_time_rate", "received_rate"])
    if by:
        tab = pd.crosstab(df[by], df["status"])
    else:
        tab = df["status"].value_counts().to_frame().T
    tab = tab.reindex(columns=list(STATUSES), fill_value=0).astype("int64")
    tab["due"] = tab[[ON_TIME, LATE, UNKNOWN_DATE, MISSING]].sum(axis=1)
    due = tab["due"].where(tab["due"] > 0)
    tab["on_time_rate"] = (tab[ON_TIME] / due).astype("float64")
    tab["received_rate"] = ((tab[ON_TIME] + tab[LATE] + tab[UNKNOWN_DATE]) / due).astype("float64")
    out = tab.reset_index() if by else tab.reset_index(drop=True)
    return out.rename_axis(columns=None)


def riskiest(current: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` riskiest rated entities: High before Medium before Low, then more high-risk rules
    fired, then lower cash cover, then name. Entities without a return are not ranked here (they
    are listed with the returns)."""
    rated = current[current["rating"] != NO_RETURN].copy()
    rated["_rank"] = rated["rating"].map(RATING_RANK)
    rated["_n_reasons"] = rated["reasons"].map(lambda s: len(s.split("; ")) if s else 0)
    rated = rated[rated["_rank"] > 0]
    rated = rated.sort_values(
        ["_rank", "n_high_reasons", "_n_reasons", "cash_cover_months", "name"],
        ascending=[False, False, False, True, True],
        na_position="last",
    )
    return rated.drop(columns=["_rank", "_n_reasons"]).head(n).reset_index(drop=True)


def totals_trend(panel: pd.DataFrame, quarters: Sequence[Any]) -> pd.DataFrame:
    """Totals per quarter (in the profile's currency unit) of own revenue, grants, expenditure,
    liabilities, cash.

    Two bases, because missing returns make raw totals jump: ``basis='all returns'`` sums every
    return received; ``basis='like-for-like'`` sums only entities with a return in every quarter
    of ``quarters``. Columns: quarter_end, basis, entities (returns summed), the amounts, and
    ``grant_dependence`` (total grants / total income).
    """
    qs = [pd.Timestamp(q) for q in quarters]
    rec = panel[panel["quarter_end"].isin(qs) & (panel["rating"] != NO_RETURN)]
    full = rec.groupby("entity_id")["quarter_end"].nunique()
    ll_ids = set(full[full == len(qs)].index)
    frames = []
    amounts = ["own_revenue", "grants_received", "expenditure", "liabilities", "cash"]
    for basis, part in (
        ("all returns", rec),
        ("like-for-like", rec[rec["entity_id"].isin(ll_ids)]),
    ):
        g = part.groupby("quarter_end")
        tot = g[amounts].sum().reindex(qs, fill_value=0.0)
        tot["entities"] = g.size().reindex(qs, fill_value=0).astype("int64")
        tot.index.name = "quarter_end"
        tot = tot.reset_index()
        tot.insert(1, "basis", basis)
        frames.append(tot)
    out = pd.concat(frames, ignore_index=True)
    income = out["own_revenue"] + out["grants_received"]
    out["grant_dependence"] = (out["grants_received"] / income.where(income > 0)).astype("float64")
    empty = out["entities"] == 0
    out.loc[empty, amounts] = np.nan
    return out


def headline_figures(assessment: PseAssessment) -> dict[str, int]:
    """The portal badge figures: ``at_risk`` and ``entities`` (counts); ``at_risk`` is None
    before the first quarter in the data (nothing rated, so no badge)."""
    at_risk = None if assessment.before_data else assessment.n_at_risk
    return {"at_risk": at_risk, "entities": assessment.n_entities}
