"""Performance contracts: a ministry's KPIs for one fiscal year, with weights, annual targets
and grade bands, scored each quarter against the plan to date.

Inputs (warehouse tables, see docs/data-dictionary.md): ``contracts`` (one row per department
and fiscal year, optional grade bands), ``contract_kpis`` (weights summing to 100, direction,
optional baseline, annual target, band for maintain KPIs) and ``contract_progress`` (the actual
at each quarter end, optional planned value for that quarter).

Rules (docs/methods.md section 4a; settings in ``params/contracts.yaml``):

Plan to date
    The planned value at a quarter end is the ``planned`` given for that quarter; otherwise,
    for a KPI with a baseline, the straight line from the baseline (start of the year) to the
    annual target (end of the year): ``baseline + (target - baseline) * q / 4``; otherwise the
    annual target. The fourth quarter's plan is the annual target unless the file says
    otherwise.
Achievement
    ``up`` with a baseline: ``(actual - baseline) / (plan - baseline)``; ``down`` with a
    baseline: the same formula (both differences are negative); without a baseline ``actual /
    plan`` (up) or ``plan / actual`` (down). Where the plan equals the baseline the KPI has
    achieved its plan when the actual is at or beyond the baseline in its direction.
    ``maintain``: 1 inside ``[band_low, band_high]``, else 0. Clipped to ``[0, cap]``.
Score to date
    Each KPI is scored on its latest quarter with an actual, up to the report month, against the
    plan for *that* quarter (data lag does not count against it). ``score = 100 * sum(w * a) /
    sum(w)``; a KPI with no actual yet scores 0 (``missing: zero``) or is left out
    (``missing: exclude``); with no actual at all there is no score. Grade from the contract's
    bands (``band_a``..``band_d``) or the settings' bands.
Progress by quarter
    The same score as it stood at each ended quarter of the year (the actuals reported for
    that quarter or earlier ones).
Annual progress
    Separately, the latest actual against the annual target (same achievement formula).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from helpers import profile
from helpers.data.calendar import add_months, as_month, fiscal_year, fy_start
from helpers.data.vocabulary import CONTRACT_BANDS

__all__ = [
    "ContractSettings",
    "ContractScore",
    "load_settings",
    "plan_at",
    "achievement",
    "score_contract",
    "league",
]

QUARTERS = 4
SETTING_KEYS = {"grades", "cap", "missing"}


@dataclass(frozen=True)
class ContractSettings:
    """Grade bands (highest first: (min score, grade, label)), achievement cap, missing rule."""

    grades: tuple[tuple[float, str, str], ...] = (
        (90.0, "A", "Outstanding"),
        (75.0, "B", "Very good"),
        (60.0, "C", "Good"),
        (50.0, "D", "Fair"),
        (0.0, "E", "Poor"),
    )
    cap: float = 1.0
    missing: str = "zero"

    def with_bands(self, bands: tuple[float, ...] | None) -> ContractSettings:
        """These settings with a contract's own band_a..band_d (None: unchanged)."""
        if bands is None:
            return self
        grades = tuple(
            (float(b), g, lab)
            for b, (_, g, lab) in zip(bands, self.grades[: len(bands)], strict=True)
        )
        last = self.grades[-1]
        return ContractSettings((*grades, (0.0, last[1], last[2])), self.cap, self.missing)

    def grade(self, score: float | None) -> str | None:
        if score is None or math.isnan(score):
            return None
        for minimum, grade, _ in self.grades:
            if score >= minimum - 1e-9:
                return grade
        return self.grades[-1][1]

    def label(self, grade: str | None) -> str | None:
        return next((lab for _, g, lab in self.grades if g == grade), None)


def load_settings(path: str | Path | None = None) -> ContractSettings:
    """``contracts.yaml``: the active profile's own, else the shared one in ``params/``."""
    path = Path(path) if path is not None else profile.active().params_file("contracts.yaml")
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    unknown = set(doc) - SETTING_KEYS
    if unknown:
        raise ValueError(
            f"{path}: unknown settings {sorted(unknown)} (known: {sorted(SETTING_KEYS)})"
        )
    kwargs: dict = {}
    if "grades" in doc:
        rows = doc["grades"]
        try:
            grades = tuple(
                (float(g["min"]), str(g["grade"]), str(g.get("label", g["grade"]))) for g in rows
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: grades: each needs min and grade ({exc})") from None
        mins = [g[0] for g in grades]
        if not grades or mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError(f"{path}: grades: give the bands from the highest min down")
        if mins[-1] != 0:
            raise ValueError(f"{path}: grades: the last band must start at 0")
        kwargs["grades"] = grades
    if "cap" in doc:
        cap = doc["cap"]
        if not isinstance(cap, int | float) or not 1.0 <= float(cap) <= 2.0:
            raise ValueError(f"{path}: cap must be a number from 1.0 to 2.0")
        kwargs["cap"] = float(cap)
    if "missing" in doc:
        if doc["missing"] not in ("zero", "exclude"):
            raise ValueError(f"{path}: missing must be zero or exclude")
        kwargs["missing"] = doc["missing"]
    return ContractSettings(**kwargs)


# ------------------------------------------------------------------------------------ rules


def quarter_end(fy: str, q: int):
    """Last month of fiscal quarter ``q`` (1-4) of ``fy``."""
    return add_months(fy_start(fy), 3 * q - 1)


def quarter_of(month, fy: str) -> int:
    """Fiscal quarter (1-4) of a month inside ``fy``."""
    start = fy_start(fy)
    m = as_month(month)
    return ((m.year - start.year) * 12 + m.month - start.month) // 3 + 1


def plan_at(kpi: dict, q: int, planned: float | None = None) -> float:
    """The planned value at the end of quarter ``q`` (see the module docstring)."""
    if planned is not None and not (isinstance(planned, float) and math.isnan(planned)):
        return float(planned)
    target, base = float(kpi["target"]), kpi.get("baseline")
    if kpi["direction"] == "maintain" or base is None or pd.isna(base) or q >= QUARTERS:
        return target
    return float(base) + (target - float(base)) * q / QUARTERS


def achievement(kpi: dict, actual: float, plan: float, cap: float = 1.0) -> float:
    """Achievement of one actual against a plan, clipped to [0, cap] (module docstring)."""
    if actual is None or pd.isna(actual):
        return math.nan
    direction, base = kpi["direction"], kpi.get("baseline")
    if direction == "maintain":
        raw = 1.0 if kpi["band_low"] <= actual <= kpi["band_high"] else 0.0
    elif base is not None and not pd.isna(base):
        sign = 1.0 if direction == "up" else -1.0
        if abs(plan - base) < 1e-12:
            raw = 1.0 if sign * (actual - base) >= 0 else 0.0
        else:
            raw = (actual - base) / (plan - base)
    elif direction == "up":
        raw = actual / plan
    else:
        raw = cap if actual <= 0 else plan / actual
    return float(min(max(raw, 0.0), cap))


def prepare(kpis: pd.DataFrame) -> pd.DataFrame:
    """The KPI rows, checked with the rules ``make data`` applies (ValueError otherwise)."""
    from helpers.data.schemas import kpi_rules  # pandera: only when scoring

    df = kpis.copy()
    for c in ("baseline", "band_low", "band_high", "target", "weight"):
        if c not in df.columns:
            df[c] = np.nan
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    for column, rule, fn in kpi_rules():
        bad = ~fn(df)
        if bad.any():
            ids = ", ".join(df.loc[bad, "kpi_id"].astype(str).head(5))
            raise ValueError(f"contract KPIs {ids}: {column}: {rule}")
    return df


# ---------------------------------------------------------------------------------- scoring


@dataclass
class ContractScore:
    """One ministry's contract for the report month's fiscal year, scored."""

    department: str
    fiscal_year: str
    month: object
    settings: ContractSettings
    #: per KPI: kpi_id, title, unit, direction, weight, baseline, target, quarter (of the
    #: latest actual), actual, plan (for that quarter), achievement, points, annual_progress
    kpis: pd.DataFrame
    #: per ended quarter: quarter, quarter_end, score, grade, reported (KPIs with an actual)
    quarters: pd.DataFrame
    score: float = math.nan
    grade: str | None = None
    quarters_ended: int = 0
    signed_date: object = None
    own_bands: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def has_contract(self) -> bool:
        return len(self.kpis) > 0

    @property
    def reported(self) -> int:
        return int(self.kpis["actual"].notna().sum()) if self.has_contract else 0

    @property
    def label(self) -> str | None:
        return self.settings.label(self.grade)


def _weighted(points: pd.Series, weights: pd.Series, settings: ContractSettings) -> float:
    have = points.notna()
    if not have.any():
        return math.nan
    if settings.missing == "zero":
        p, w = points.fillna(0.0), weights
    else:
        p, w = points[have], weights[have]
    total = float(w.sum())
    return math.nan if total <= 0 else 100.0 * float((p * w).sum()) / total


def _bands(row) -> tuple[float, ...] | None:
    vals = [row.get(b) for b in CONTRACT_BANDS]
    if any(v is None or pd.isna(v) for v in vals):
        return None
    return tuple(float(v) for v in vals)


def score_contract(
    contracts: pd.DataFrame,
    kpis: pd.DataFrame,
    progress: pd.DataFrame,
    department: str,
    month,
    settings: ContractSettings | None = None,
) -> ContractScore:
    """Score ``department``'s contract for the fiscal year of ``month`` (rows after the report
    month are ignored)."""
    settings = settings or ContractSettings()
    month = as_month(month)
    fy = fiscal_year(month)
    con = contracts[(contracts["department"] == department) & (contracts["fiscal_year"] == fy)]
    signed, own = None, False
    if len(con):
        row = con.iloc[0].to_dict()
        bands = _bands(row)
        if bands is not None:
            settings, own = settings.with_bands(bands), True
        signed = row.get("signed_date")
    k = kpis[(kpis["department"] == department) & (kpis["fiscal_year"] == fy)]
    k = prepare(k).sort_values("kpi_id").reset_index(drop=True) if len(k) else k
    ended = sum(1 for q in range(1, QUARTERS + 1) if quarter_end(fy, q) <= month)
    empty_q = pd.DataFrame(columns=["quarter", "quarter_end", "score", "grade", "reported"])
    if not len(k):
        return ContractScore(department, fy, month, settings, k, empty_q, quarters_ended=ended)
    prog = progress[progress["kpi_id"].isin(k["kpi_id"])].copy()
    prog["month"] = pd.to_datetime(prog["month"])
    prog = prog[prog["month"] <= pd.Timestamp(month)]
    prog["q"] = [quarter_of(m, fy) for m in prog["month"]]
    by = {(r.kpi_id, r.q): r for r in prog.itertuples()}

    def at(kpi: dict, q: int) -> tuple[float, float, float]:
        r = by.get((kpi["kpi_id"], q))
        if r is None:
            return math.nan, math.nan, math.nan
        plan = plan_at(kpi, q, r.planned)
        return float(r.actual), plan, achievement(kpi, float(r.actual), plan, settings.cap)

    def latest_by(kpi: dict, q_end: int) -> int | None:
        return max((q for q in range(1, q_end + 1) if (kpi["kpi_id"], q) in by), default=None)

    rows, per_q = [], {q: [] for q in range(1, ended + 1)}
    for kpi in k.to_dict("records"):
        latest = latest_by(kpi, ended)
        for q in per_q:  # the score as it stood at each quarter end
            lq = latest_by(kpi, q)
            per_q[q].append(at(kpi, lq)[2] if lq else math.nan)
        actual, plan, ach = at(kpi, latest) if latest else (math.nan, math.nan, math.nan)
        annual = (
            achievement(kpi, actual, float(kpi["target"]), settings.cap) if latest else math.nan
        )
        rows.append(
            {
                "kpi_id": kpi["kpi_id"],
                "title": kpi["title"],
                "unit": kpi.get("unit"),
                "direction": kpi["direction"],
                "weight": float(kpi["weight"]),
                "baseline": kpi.get("baseline"),
                "target": float(kpi["target"]),
                "band_low": kpi.get("band_low"),
                "band_high": kpi.get("band_high"),
                "quarter": latest,
                "actual": actual,
                "plan": plan,
                "achievement": ach,
                "annual_progress": annual,
            }
        )
    table = pd.DataFrame(rows)
    table["points"] = table["weight"] * table["achievement"]
    score = _weighted(table["achievement"], table["weight"], settings)
    quarters = pd.DataFrame(
        [
            {
                "quarter": q,
                "quarter_end": quarter_end(fy, q),
                "score": (s := _weighted(pd.Series(a), table["weight"], settings)),
                "grade": settings.grade(s),
                "reported": int(pd.Series(a).notna().sum()),
            }
            for q, a in per_q.items()
        ],
        columns=empty_q.columns,
    )
    return ContractScore(
        department,
        fy,
        month,
        settings,
        table,
        quarters,
        score=score,
        grade=settings.grade(score),
        quarters_ended=ended,
        signed_date=signed,
        own_bands=own,
    )


def league(
    contracts: pd.DataFrame,
    kpis: pd.DataFrame,
    progress: pd.DataFrame,
    month,
    settings: ContractSettings | None = None,
) -> pd.DataFrame:
    """One row per department with a contract for the report month's fiscal year: score,
    grade, KPIs reported / total, rank (ties share a rank: 1, 2, 2, 4), best first; departments
    not yet scored last."""
    fy = fiscal_year(month)
    depts = sorted(set(contracts.loc[contracts["fiscal_year"] == fy, "department"]))
    rows = []
    for d in depts:
        s = score_contract(contracts, kpis, progress, d, month, settings)
        rows.append(
            {
                "department": d,
                "score": s.score,
                "grade": s.grade,
                "kpis": len(s.kpis),
                "reported": s.reported,
            }
        )
    df = pd.DataFrame(rows, columns=["department", "score", "grade", "kpis", "reported"])
    df["rank"] = df["score"].round(1).rank(method="min", ascending=False).astype("Int64")
    return df.sort_values(
        ["score", "department"], ascending=[False, True], na_position="last"
    ).reset_index(drop=True)


def headline_values(s: ContractScore) -> dict:
    """Portal badge figures."""
    return {
        "contract_score": None if math.isnan(s.score) else round(s.score, 1),
        "contract_grade": s.grade,
        "kpis": len(s.kpis),
        "reported": s.reported,
    }
