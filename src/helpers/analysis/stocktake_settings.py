"""The stocktake's settings: the status rule's thresholds (:class:`StocktakeSettings`) and the
delivery scorecard's scoring (:class:`ScorecardRule`), read from ``scorecard.yaml``
(:func:`load_config`). :mod:`helpers.analysis.stocktake` documents the rules and re-exports
these names; they live here, without pandas, because the engine's driver checks the parameter
files with this same code before a run starts (``helpers.engine.params``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from helpers import profile

TOLERANCE_BASES = ("change", "planned", "absolute")


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read ``scorecard.yaml`` (status rule settings, KPI weights, scoring rule): the active
    profile's own, else the shared one in ``params/``."""
    path = Path(path) if path is not None else profile.active().params_file("scorecard.yaml")
    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return config


@dataclass(frozen=True)
class StocktakeSettings:
    """Thresholds of the trajectory, trend and projection rules (see the module docstring)."""

    tolerance: float = 0.10
    tolerance_basis: str = "change"
    projection_window: int = 12
    min_points: int = 4
    interval_level: float = 0.80
    trend_flat: float = 0.01
    stale_after: int = 3
    #: months after the target month by which the target period's actual is expected; until
    #: it arrives (or this lag passes) a target past its date is not yet ``missed``
    missed_after: int = 3

    def __post_init__(self) -> None:
        if self.tolerance_basis not in TOLERANCE_BASES:
            raise ValueError(
                f"tolerance_basis must be one of {TOLERANCE_BASES}, got {self.tolerance_basis!r}"
            )
        if self.tolerance_basis == "absolute":
            if not (self.tolerance >= 0 and math.isfinite(self.tolerance)):
                raise ValueError(f"tolerance must not be negative, got {self.tolerance}")
        elif not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance}")
        if self.min_points < 3:
            raise ValueError(f"min_points must be at least 3, got {self.min_points}")
        if self.projection_window < self.min_points:
            raise ValueError("projection_window must be at least min_points months")
        if not 0 < self.interval_level < 1:
            raise ValueError(f"interval_level must be in (0, 1), got {self.interval_level}")
        if self.trend_flat < 0 or self.stale_after < 0 or self.missed_after < 0:
            raise ValueError("trend_flat, stale_after and missed_after must not be negative")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> StocktakeSettings:
        """Build from the ``status`` section of the scorecard config (unknown keys are errors)."""
        section = dict((config or {}).get("status") or {})
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(section) - known
        if unknown:
            raise ValueError(f"unknown status settings: {sorted(unknown)} (known: {sorted(known)})")
        return cls(**section)


@dataclass(frozen=True)
class ScorecardRule:
    """Delivery scorecard scoring: weights, achievement cap, missing-data rule, grade bands."""

    default_weight: float = 1.0
    overrides: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    cap: float = 1.0
    missing: str = "zero"
    grades: tuple[tuple[float, str], ...] = (
        (85.0, "A"),
        (70.0, "B"),
        (55.0, "C"),
        (40.0, "D"),
        (0.0, "E"),
    )

    def __post_init__(self) -> None:
        if not (self.default_weight >= 0 and math.isfinite(self.default_weight)):
            raise ValueError(f"default_weight must be a non-negative number: {self.default_weight}")
        for dept, weights in self.overrides.items():
            for tid, w in (weights or {}).items():
                if not isinstance(w, int | float) or isinstance(w, bool) or w < 0:
                    raise ValueError(
                        f"weight for {dept}/{tid} must be a non-negative number: {w!r}"
                    )
        if not 1.0 <= self.cap <= 2.0:
            raise ValueError(f"cap must be between 1.0 and 2.0, got {self.cap}")
        if self.missing not in ("zero", "exclude"):
            raise ValueError(f"missing must be 'zero' or 'exclude', got {self.missing!r}")
        mins = [m for m, _ in self.grades]
        if not mins or mins != sorted(mins, reverse=True) or mins[-1] != 0:
            raise ValueError("grades must be listed from the highest band down to a band at 0")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> ScorecardRule:
        """Build from the scorecard config (``default_weight``, ``weights``, ``scoring``)."""
        config = dict(config or {})
        scoring = dict(config.get("scoring") or {})
        kwargs: dict[str, Any] = {}
        if "default_weight" in config:
            kwargs["default_weight"] = float(config["default_weight"])
        kwargs["overrides"] = {
            str(d): {str(t): w for t, w in (ws or {}).items()}
            for d, ws in (config.get("weights") or {}).items()
        }
        for key in ("cap", "missing"):
            if key in scoring:
                kwargs[key] = scoring[key]
        if "grades" in scoring:
            kwargs["grades"] = tuple((float(g["min"]), str(g["grade"])) for g in scoring["grades"])
        unknown = set(scoring) - {"cap", "missing", "grades"}
        if unknown:
            raise ValueError(f"unknown scoring settings: {sorted(unknown)}")
        return cls(**kwargs)

    def weight(self, department: str, target_id: str) -> float:
        """The weight of one KPI: the department override if there is one, else the default."""
        return float(self.overrides.get(department, {}).get(target_id, self.default_weight))

    def grade(self, score: float) -> str | None:
        """The grade band of a 0-100 score (None for a missing score)."""
        if score is None or (isinstance(score, float) and math.isnan(score)):
            return None
        for minimum, label in self.grades:
            if score >= minimum:
                return label
        return self.grades[-1][1]


def as_rule(weights: ScorecardRule | Mapping[str, Any] | None) -> ScorecardRule:
    """The scorecard rule of a config mapping (``load_config()``), or the rule itself."""
    if isinstance(weights, ScorecardRule):
        return weights
    return ScorecardRule.from_config(weights)


def rule_and_settings(
    weights: ScorecardRule | Mapping[str, Any] | None, settings: StocktakeSettings | None = None
) -> tuple[ScorecardRule, StocktakeSettings]:
    """The scorecard rule and the status settings (``settings``, else the config mapping's
    ``status`` section, else the defaults)."""
    if settings is None:
        settings = StocktakeSettings.from_config(weights if isinstance(weights, Mapping) else None)
    return as_rule(weights), settings
