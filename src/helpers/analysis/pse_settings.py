"""The PSE oversight settings (``pse.yaml``: deadline, risk rules, worsening score) and the
rating and metric names they use. :mod:`helpers.analysis.pse` re-exports them; they live here,
without pandas, because the engine's driver checks the parameter files with this same code
before a run starts (``helpers.engine.params``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from helpers import profile

if TYPE_CHECKING:
    import pandas as pd

HIGH, MEDIUM, LOW, NO_RETURN = "High", "Medium", "Low", "No return"
RATINGS = (HIGH, MEDIUM, LOW, NO_RETURN)
RATING_RANK = {LOW: 0, MEDIUM: 1, HIGH: 2}

_METRIC_LABEL_TEXTS = {
    "own_revenue": "Own revenue ({money})",
    "grants_received": "Grants received ({money})",
    "expenditure": "Expenditure ({money})",
    "liabilities": "Liabilities ({money})",
    "assets": "Assets ({money})",
    "cash": "Cash ({money})",
    "income": "Income ({money})",
    "surplus": "Surplus ({money})",
    "surplus_before_grants": "Surplus before grants ({money})",
    "surplus_margin": "Surplus / expenditure",
    "surplus_margin_before_grants": "Surplus before grants / expenditure",
    "own_revenue_share": "Own revenue / income",
    "grant_dependence": "Grants / income",
    "cash_cover_months": "Cash cover (months of expenditure)",
    "equity": "Equity ({money})",
    "liabilities_growth_qoq": "Liabilities growth vs last quarter",
    "liabilities_growth_yoy": "Liabilities growth vs a year earlier",
    "own_revenue_yoy": "Own revenue change vs a year earlier",
    "grants_yoy": "Grants change vs a year earlier",
    "expenditure_yoy": "Expenditure change vs a year earlier",
    "cash_cover_change_yoy": "Cash cover change vs a year earlier (months)",
}


class _MetricLabels(Mapping):
    """Metric -> display label; amounts are labelled with the active profile's currency unit
    (read on each access, so a label follows the profile in force)."""

    def __getitem__(self, key: str) -> str:
        return _METRIC_LABEL_TEXTS[key].format(money=profile.active().currency.label)

    def __iter__(self):
        return iter(_METRIC_LABEL_TEXTS)

    def __len__(self) -> int:
        return len(_METRIC_LABEL_TEXTS)


METRIC_LABELS: Mapping[str, str] = _MetricLabels()
#: a risk rule's comparisons (numpy's, named: numpy is imported when a rule is applied)
_OPS = {"<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal"}
_WORSENING_COMPONENTS = (
    "rating_step",
    "cash_cover",
    "surplus_margin",
    "grant_dependence",
    "liabilities_growth",
)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class RiskRule:
    """One threshold rule: ``metric op value`` (e.g. cash_cover_months < 1.0)."""

    metric: str
    op: str
    value: float
    label: str

    def holds(self, values: pd.Series) -> pd.Series:
        """Boolean Series: where the rule fires. NaN metric values never fire."""
        import numpy as np
        import pandas as pd

        v = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
        out = getattr(np, _OPS[self.op])(v, self.value) & ~np.isnan(v)
        return pd.Series(out, index=values.index, dtype=bool)

    def describe(self) -> str:
        return f"{self.label} ({self.metric} {self.op} {self.value:g})"


@dataclass(frozen=True)
class PseSettings:
    """Settings from params/pse.yaml (documented there)."""

    deadline_days: int = 45
    reporting_quarter: str = "deadline"
    trend_quarters: int = 8
    high_rules: tuple[RiskRule, ...] = ()
    medium_rules: tuple[RiskRule, ...] = ()
    at_risk_ratings: tuple[str, ...] = (HIGH,)
    worsening_weights: Mapping[str, float] = field(default_factory=dict)
    worsening_caps: Mapping[str, float] = field(default_factory=dict)
    worsened_top_n: int = 5
    riskiest_top_n: int = 10

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PseSettings:
        """Build and validate settings from the parsed YAML mapping; raise ValueError if bad."""
        if not isinstance(raw, Mapping):
            raise ValueError("PSE settings must be a mapping")
        known = {
            "deadline_days",
            "reporting_quarter",
            "trend_quarters",
            "risk_rules",
            "at_risk_ratings",
            "worsening",
            "riskiest_top_n",
        }
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown PSE settings: {sorted(unknown)}")
        deadline = raw.get("deadline_days", 45)
        if not isinstance(deadline, int) or isinstance(deadline, bool) or not 0 <= deadline <= 365:
            raise ValueError(f"deadline_days must be an integer 0..365, got {deadline!r}")
        rule = raw.get("reporting_quarter", "deadline")
        if rule not in ("deadline", "latest"):
            raise ValueError(f"reporting_quarter must be 'deadline' or 'latest', got {rule!r}")
        trend = raw.get("trend_quarters", 8)
        if not isinstance(trend, int) or isinstance(trend, bool) or not 2 <= trend <= 40:
            raise ValueError(f"trend_quarters must be an integer 2..40, got {trend!r}")
        rules = raw.get("risk_rules") or {}
        if set(rules) - {"high", "medium"}:
            raise ValueError(f"risk_rules takes 'high' and 'medium', got {sorted(rules)}")
        high = tuple(_parse_rule(r) for r in rules.get("high") or [])
        medium = tuple(_parse_rule(r) for r in rules.get("medium") or [])
        at_risk = tuple(raw.get("at_risk_ratings", [HIGH]))
        bad = [r for r in at_risk if r not in RATINGS]
        if bad or not at_risk:
            raise ValueError(f"at_risk_ratings must be a non-empty subset of {RATINGS}, got {bad}")
        worsening = raw.get("worsening") or {}
        weights = {k: float(v) for k, v in (worsening.get("weights") or {}).items()}
        caps = {k: float(v) for k, v in (worsening.get("caps") or {}).items()}
        for name, mapping in (("weights", weights), ("caps", caps)):
            unknown = set(mapping) - set(_WORSENING_COMPONENTS)
            if unknown:
                raise ValueError(f"worsening.{name}: unknown components {sorted(unknown)}")
            if any(v < 0 or math.isnan(v) for v in mapping.values()):
                raise ValueError(f"worsening.{name} must be non-negative numbers")
        top_n = int(worsening.get("top_n", 5))
        riskiest = int(raw.get("riskiest_top_n", 10))
        if top_n < 1 or riskiest < 1:
            raise ValueError("worsening.top_n and riskiest_top_n must be at least 1")
        return cls(
            deadline_days=deadline,
            reporting_quarter=rule,
            trend_quarters=trend,
            high_rules=high,
            medium_rules=medium,
            at_risk_ratings=at_risk,
            worsening_weights=weights,
            worsening_caps=caps,
            worsened_top_n=top_n,
            riskiest_top_n=riskiest,
        )


def _parse_rule(raw: Mapping[str, Any]) -> RiskRule:
    if not isinstance(raw, Mapping) or set(raw) != {"metric", "op", "value", "label"}:
        raise ValueError(f"a risk rule needs exactly metric, op, value, label; got {raw!r}")
    if raw["metric"] not in METRIC_LABELS:
        raise ValueError(f"unknown metric in risk rule: {raw['metric']!r}")
    if raw["op"] not in _OPS:
        raise ValueError(f"risk rule op must be one of {sorted(_OPS)}, got {raw['op']!r}")
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"risk rule value must be a number, got {value!r}")
    return RiskRule(str(raw["metric"]), str(raw["op"]), float(value), str(raw["label"]))


def load_settings(path: str | Path | None = None) -> PseSettings:
    """Read ``pse.yaml`` (or ``path``) into validated :class:`PseSettings`: the active profile's
    own, else the shared one in ``params/``."""
    path = Path(path) if path is not None else profile.active().params_file("pse.yaml")
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    try:
        return PseSettings.from_dict(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


# --------------------------------------------------------------------------- quarters
