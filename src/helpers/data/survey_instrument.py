"""The survey instrument: how one government's survey files are read (``survey.yaml``).

A profile may hold ``params/profiles/<p>/survey.yaml`` describing its survey as the
questionnaire defines it; without one the KP instrument (:data:`KP_INSTRUMENT`, the same as
``params/profiles/kp/survey.yaml``) applies. The file says

- ``scales``: per scale its codes (``range: [1, 5]``, ``[1, 4]``, ``[0, 10]``, or
  ``type: yesno``), the ``satisfied`` range (``[4, 5]``, ``[7, 10]``), optionally the
  ``dissatisfied`` range (default: the satisfied range mirrored to the low end), the
  ``non_answer`` codes or text labels (``{9: don't know}``, ``{98: don't know, 99: refused}``,
  ``{"IAP": not asked}``; never a code inside the range) and text ``labels`` mapped to codes
  (``{"Very satisfied": 5}``);
- ``items``: per question its ``scale``, ``wording``, ``asked`` (``everyone`` or ``users`` of
  the service) and where it is in the file: ``column`` (one column, respondent level, e.g.
  overall satisfaction), ``prefix`` (one column per service, ``<prefix>_<service>``) or
  ``columns`` (``{service: column}``);
- ``outcome`` (the per-service satisfaction item, stored as ``satisfaction``), ``overall``
  (the respondent-level overall item, or none) and ``drivers`` (the attributes of the
  key-driver model: any number, any names);
- ``categories``: gender, age band and area as the survey defines them: the column, the levels
  (with the source values of each), the reference level of the driver model and labels;
- ``geography``: the column holding the profile's geographic unit (or none) and a value map
  from the file's names to the unit codes;
- ``design``: the ``weight``, ``psu``, ``strata`` and ``fpc`` columns, each optional (equal
  weights; simple random sampling within strata; one stratum; no FPC); ``fpc_counts`` says
  what the fpc column counts (``persons``, the default: the stratum population, no FPC;
  ``psus``: the number of PSUs in the stratum; ``fraction``: the PSU sampling fraction),
  ``weights_sum_to``
  (``fpc``: the weights of a stratum sum to its population; or a number: the wave's weights
  sum to it) and ``raking`` margins with known population totals.

:func:`parse` checks the file for contradictions and raises :class:`InstrumentError` naming the
file, the field and the rule; ``make data`` stops (exit 2) and nothing loads. The module
imports only :mod:`helpers.profile` and :mod:`helpers.data.mapping` (for the error class).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from helpers import lazy
from helpers import profile as profiles
from helpers.data.mapping import MappingError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # the disclosure scanner reads a survey instrument's column names without pandas
    np = lazy.module("numpy", globals(), "np")
    pd = lazy.module("pandas", globals(), "pd")

FILE = "survey.yaml"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ASKED = ("everyone", "users")
#: what a design's fpc column may count (only psus and fraction give a finite population
#: correction; persons is a population size, which R's svydesign(fpc=) would misread as PSUs)
FPC_COUNTS = ("persons", "psus", "fraction")
CATEGORY_NAMES = ("gender", "age_band", "area")
#: canonical respondent columns an item name must not take
RESERVED = {
    "wave",
    "respondent_id",
    "district_pcode",
    "psu",
    "weight",
    "stratum",
    "stratum_population",
    "gender",
    "age_band",
    "area",
    "service",
    "satisfied",
    "net",
    "overall_satisfied",
}
#: survey_ratings' fixed rating columns (KP's names); other attributes are added after them
KP_RATING_COLUMNS = (
    "satisfaction",
    "staff_behaviour",
    "waiting_time",
    "cost",
    "availability",
    "cleanliness",
)
TOLERANCE = 0.001  # relative: weights against their totals, raking margins against each other


class InstrumentError(MappingError):
    """The instrument file is invalid or contradicts itself (``make data`` exits 2)."""


def normalise(value: object) -> str:
    """'Very  Satisfied' == 'very satisfied' (case and spacing ignored) for label matching."""
    return re.sub(r"\s+", " ", str(value)).strip().lower()


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --------------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class Scale:
    """Codes of one answer scale: a range of integers, its satisfied range and non-answers."""

    name: str
    low: int
    high: int
    satisfied: tuple[int, int]
    dissatisfied: tuple[int, int]
    #: non-answer code -> meaning ('don't know'); read as missing
    non_answer_codes: Mapping[int, str] = field(default_factory=dict)
    #: normalised text label -> meaning (a non-answer given as text); read as missing
    non_answer_labels: Mapping[str, str] = field(default_factory=dict)
    #: normalised text label -> code
    labels: Mapping[str, int] = field(default_factory=dict)
    title: str = "Likert"

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1))

    @property
    def allowed(self) -> tuple[int, ...]:
        """Codes a file may hold: the scale and its non-answer codes."""
        return (*self.codes, *sorted(self.non_answer_codes))

    @property
    def points(self) -> int:
        return self.high - self.low + 1

    @property
    def satisfied_codes(self) -> tuple[int, ...]:
        return tuple(range(self.satisfied[0], self.satisfied[1] + 1))

    @property
    def dissatisfied_codes(self) -> tuple[int, ...]:
        return tuple(range(self.dissatisfied[0], self.dissatisfied[1] + 1))

    @property
    def satisfied_text(self) -> str:
        """'4-5' (or '1' for one code)."""
        lo, hi = self.satisfied
        return str(lo) if lo == hi else f"{lo}-{hi}"

    @property
    def dissatisfied_text(self) -> str:
        lo, hi = self.dissatisfied
        return str(lo) if lo == hi else f"{lo}-{hi}"

    @property
    def range_text(self) -> str:
        return f"{self.low}-{self.high}"

    @property
    def rule(self) -> str:
        """The validation rule's text: "Likert code not in 1-5 or 9 (don't know)"."""
        extra = ", ".join(f"{c} ({m})" for c, m in sorted(self.non_answer_codes.items()))
        return f"{self.title} code not in {self.range_text}" + (f" or {extra}" if extra else "")

    def recode_text(self, s: pd.Series) -> pd.Series:
        """Cells as read: text labels become their code, text non-answers blank."""
        if not self.labels and not self.non_answer_labels:
            return s

        def one(v):
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                return v
            key = normalise(v)
            if key in self.labels:
                return str(self.labels[key])
            if key in self.non_answer_labels:
                return None
            return v

        return s.map(one).astype("object")


@dataclass(frozen=True)
class Item:
    """One question: scale, wording, who answers, and where it is in the file."""

    name: str
    scale: Scale
    wording: str = ""
    asked: str = "users"
    column: str | None = None  # respondent level
    prefix: str | None = None  # per service: <prefix>_<service>
    columns: Mapping[str, str] = field(default_factory=dict)  # per service: explicit
    label: str = ""  # short label in tables and sentences ('Waiting time')

    @property
    def per_service(self) -> bool:
        return self.column is None

    def source(self, service: str) -> str:
        """The file's column of this item for one service."""
        if service in self.columns:
            return self.columns[service]
        return f"{self.prefix or self.name}_{service}"

    def canonical(self, service: str) -> str:
        """The column name used in validation and messages (the KP names: sat_bhu)."""
        return f"{self.prefix or self.name}_{service}"


@dataclass(frozen=True)
class Category:
    """A respondent category (gender, age band, area): levels and their source values."""

    name: str
    column: str
    levels: tuple[str, ...]
    values: Mapping[str, str]  # normalised source value -> level
    reference: str
    labels: Mapping[str, str]  # level -> label of the driver-model contrast
    required: bool = True

    def recode(self, s: pd.Series) -> pd.Series:
        def one(v):
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                return v
            return self.values.get(normalise(v), v)

        return s.map(one).astype("object")

    def label(self, level: str) -> str:
        return (
            self.labels.get(level)
            or f"{self.name.replace('_', ' ').capitalize()} {level} (vs {self.reference})"
        )


@dataclass(frozen=True)
class Margin:
    """One raking margin: its variables and the population total of each cell."""

    variables: tuple[str, ...]
    totals: Mapping[tuple, float]

    @property
    def grand_total(self) -> float:
        return float(sum(self.totals.values()))

    def frame(self) -> pd.DataFrame:
        rows = [(*k, v) for k, v in self.totals.items()]
        return pd.DataFrame(rows, columns=[*self.variables, "total"])


@dataclass(frozen=True)
class Design:
    weight: str | None = "weight"
    psu: str | None = "psu"
    strata: str | None = "district_pcode"
    fpc: str | None = "stratum_population"
    weights_sum_to: str | float | None = None  # 'fpc' or a number
    raking: tuple[Margin, ...] = ()
    #: what the fpc column counts: ``persons`` (the stratum's population: used by
    #: weights_sum_to, never as a finite population correction, because R's ``fpc`` wants
    #: PSUs), ``psus`` (the number of PSUs in the stratum, N_h) or ``fraction`` (the share of
    #: the stratum's PSUs sampled). Only ``psus`` and ``fraction`` give an FPC.
    fpc_counts: str = "persons"

    @property
    def applies_fpc(self) -> bool:
        """True when the fpc column holds PSU counts or sampling fractions (an FPC applies)."""
        return self.fpc is not None and self.fpc_counts in ("psus", "fraction")


@dataclass(frozen=True)
class Instrument:
    path: Path | None
    description: str
    respondent_id: str
    items: Mapping[str, Item]
    outcome: str
    overall: str | None
    drivers: tuple[str, ...]
    categories: Mapping[str, Category]
    geography: str | None
    geography_values: Mapping[str, str]
    design: Design
    used_prefix: str = "used"
    files: Mapping[str, str] = field(default_factory=dict)  # file name -> wave 'YYYY-MM'

    @property
    def outcome_item(self) -> Item:
        return self.items[self.outcome]

    @property
    def overall_item(self) -> Item | None:
        return self.items.get(self.overall) if self.overall else None

    @property
    def service_items(self) -> dict[str, Item]:
        """Per-service items, the outcome first, in the file's order."""
        out = {self.outcome: self.items[self.outcome]}
        out |= {k: v for k, v in self.items.items() if v.per_service and k != self.outcome}
        return out

    @property
    def attributes(self) -> dict[str, Item]:
        """Per-service items other than the outcome (stored in survey_ratings)."""
        return {k: v for k, v in self.service_items.items() if k != self.outcome}

    def needs_used(self, service: str) -> bool:
        return any(i.asked == "users" for i in self.service_items.values())

    @property
    def stratum_column(self) -> str | None:
        """The canonical column of the strata: district_pcode when the strata are the
        geography (KP), else stratum."""
        if self.design.strata is None:
            return None
        return "district_pcode" if self.design.strata == self.geography else "stratum"

    @property
    def equal_weights(self) -> bool:
        return self.design.weight is None

    def label_of(self, item: str) -> str:
        """A short label for an attribute ('Staff behaviour')."""
        it = self.items.get(item)
        if it is not None and it.label:
            return it.label
        return LABELS.get(item) or item.replace("_", " ").capitalize()

    def present_services(self, columns, services) -> list[str]:
        """Services of the registry whose columns are in the file."""
        cols = set(columns)
        out = []
        for s in services:
            if self.needs_used(s) and f"{self.used_prefix}_{s}" in cols:
                out.append(s)
            elif any(i.source(s) in cols for i in self.service_items.values()):
                out.append(s)
        return out


LABELS = {
    "staff_behaviour": "Staff behaviour",
    "waiting_time": "Waiting time",
    "cost": "Cost",
    "availability": "Availability",
    "cleanliness": "Cleanliness",
}


# ------------------------------------------------------------------------------ the KP default
KP_DOC: dict[str, Any] = {
    "description": "KP citizen perception survey (5-point Likert, 9 = don't know)",
    "respondent_id": "respondent_id",
    "scales": {
        "likert5": {
            "title": "Likert",
            "range": [1, 5],
            "satisfied": [4, 5],
            "dissatisfied": [1, 2],
            "non_answer": {9: "don't know"},
            "labels": {
                "Very dissatisfied": 1,
                "Dissatisfied": 2,
                "Neither satisfied nor dissatisfied": 3,
                "Satisfied": 4,
                "Very satisfied": 5,
            },
        }
    },
    "items": {
        "overall_satisfaction": {
            "column": "overall_satisfaction",
            "scale": "likert5",
            "asked": "everyone",
            "wording": "Overall, how satisfied are you with the services of the government?",
        },
        "satisfaction": {
            "prefix": "sat",
            "scale": "likert5",
            "asked": "users",
            "wording": "How satisfied were you with this service?",
        },
        "staff_behaviour": {
            "prefix": "staff",
            "scale": "likert5",
            "asked": "users",
            "wording": "How satisfied were you with the behaviour of the staff?",
        },
        "waiting_time": {
            "prefix": "wait",
            "scale": "likert5",
            "asked": "users",
            "wording": "How satisfied were you with the waiting time?",
        },
        "cost": {
            "prefix": "cost",
            "scale": "likert5",
            "asked": "users",
            "wording": "How satisfied were you with the cost?",
        },
        "availability": {
            "prefix": "avail",
            "scale": "likert5",
            "asked": "users",
            "wording": "How satisfied were you with the availability of the service?",
        },
        "cleanliness": {
            "prefix": "clean",
            "scale": "likert5",
            "asked": "users",
            "wording": "How satisfied were you with the cleanliness of the premises?",
        },
    },
    "outcome": "satisfaction",
    "overall": "overall_satisfaction",
    "drivers": ["staff_behaviour", "waiting_time", "cost", "availability", "cleanliness"],
    "used_prefix": "used",
    "categories": {
        "gender": {
            "column": "gender",
            "levels": {"female": ["female"], "male": ["male"]},
            "reference": "male",
            "labels": {"female": "Women (vs men)"},
        },
        "age_band": {
            "column": "age_band",
            "levels": {"18-29": ["18-29"], "30-44": ["30-44"], "45-59": ["45-59"], "60+": ["60+"]},
            "reference": "18-29",
            "labels": {
                "30-44": "Aged 30-44 (vs 18-29)",
                "45-59": "Aged 45-59 (vs 18-29)",
                "60+": "Aged 60+ (vs 18-29)",
            },
        },
        "area": {
            "column": "area",
            "levels": {"urban": ["urban"], "rural": ["rural"]},
            "reference": "urban",
            "labels": {"rural": "Rural (vs urban)"},
        },
    },
    "geography": {"column": "district_pcode"},
    "design": {
        "weight": "weight",
        "psu": "psu",
        "strata": "district_pcode",
        "fpc": "stratum_population",
        "fpc_counts": "persons",
    },
}

TOP_KEYS = {
    "description",
    "respondent_id",
    "scales",
    "items",
    "outcome",
    "overall",
    "drivers",
    "used_prefix",
    "categories",
    "geography",
    "design",
    "files",
}


# ------------------------------------------------------------------------------------ parsing
def parse(doc: Any, path: Path | None = None) -> Instrument:
    """Check an instrument document and build the :class:`Instrument` (InstrumentError)."""
    src = str(path) if path is not None else "survey instrument (built-in KP default)"

    def bad(where: str, why: str) -> InstrumentError:
        return InstrumentError(f"{src}: field '{where}': {why}")

    if not isinstance(doc, Mapping):
        raise InstrumentError(f"{src}: expected a mapping of fields")
    unknown = sorted(set(map(str, doc)) - TOP_KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown field (known: {', '.join(sorted(TOP_KEYS))})")

    def text(v, where, default=None, optional=False):
        v = default if v is None else v
        if v is None and optional:
            return None
        if not isinstance(v, str) or not v.strip():
            raise bad(where, "missing or not text")
        return v.strip()

    # scales
    raw_scales = doc.get("scales")
    if not isinstance(raw_scales, Mapping) or not raw_scales:
        raise bad("scales", "must be a mapping of scale names to their codes")
    scales: dict[str, Scale] = {}
    for name, s in raw_scales.items():
        scales[str(name)] = _scale(str(name), s, bad)

    # items
    raw_items = doc.get("items")
    if not isinstance(raw_items, Mapping) or not raw_items:
        raise bad("items", "must be a mapping of item names to their questions")
    items: dict[str, Item] = {}
    for name, it in raw_items.items():
        name = str(name)
        where = f"items.{name}"
        if not NAME_RE.match(name) or name in RESERVED:
            raise bad(
                where,
                "an item name is lowercase letters, digits and '_', not a column the "
                f"warehouse uses ({', '.join(sorted(RESERVED))})",
            )
        if not isinstance(it, Mapping):
            raise bad(where, "must be a mapping (scale, wording, asked, column/prefix/columns)")
        extra = sorted(
            set(map(str, it))
            - {"scale", "wording", "asked", "column", "prefix", "columns", "label"}
        )
        if extra:
            raise bad(
                f"{where}.{extra[0]}",
                "unknown field (known: asked, column, columns, label, prefix, scale, wording)",
            )
        sc = it.get("scale")
        if sc not in scales:
            raise bad(f"{where}.scale", f"{sc!r} is not one of the scales ({', '.join(scales)})")
        asked = it.get("asked", "users")
        if asked not in ASKED:
            raise bad(f"{where}.asked", f"{asked!r} not one of {', '.join(ASKED)}")
        given = [k for k in ("column", "prefix", "columns") if it.get(k) is not None]
        if len(given) > 1 and "column" in given:
            raise bad(
                where,
                "give column (one respondent-level column) or prefix/columns (per service), not both",
            )
        column = text(it.get("column"), f"{where}.column", optional=True)
        prefix = text(it.get("prefix"), f"{where}.prefix", optional=True)
        cols = it.get("columns") or {}
        if not isinstance(cols, Mapping) or not all(
            isinstance(v, str) and v for v in cols.values()
        ):
            raise bad(f"{where}.columns", "must map service codes to column names")
        if column is not None and asked == "users":
            raise bad(f"{where}.asked", "a respondent-level item (column) is asked of everyone")
        items[name] = Item(
            name,
            scales[sc],
            wording=str(it.get("wording") or ""),
            asked=asked,
            column=column,
            prefix=prefix,
            columns={str(k): str(v) for k, v in cols.items()},
            label=str(it.get("label") or ""),
        )

    outcome = text(doc.get("outcome"), "outcome", "satisfaction")
    if outcome not in items or not items[outcome].per_service:
        raise bad("outcome", f"{outcome!r} must name a per-service item")
    overall = doc.get("overall")
    if overall is not None:
        if overall not in items or items[overall].per_service:
            raise bad("overall", f"{overall!r} must name a respondent-level item (with column:)")
    drivers = doc.get("drivers") or []
    if not isinstance(drivers, list):
        raise bad("drivers", "must be a list of per-service item names")
    for i, d in enumerate(drivers):
        if d not in items or not items[d].per_service or d == outcome:
            raise bad(f"drivers[{i}]", f"{d!r} is not a per-service item other than the outcome")
    if len(set(drivers)) != len(drivers):
        raise bad("drivers", "names must be unique")
    resp_items = [k for k, v in items.items() if not v.per_service]
    if any(k != overall for k in resp_items):
        k = next(k for k in resp_items if k != overall)
        raise bad(f"items.{k}", "a respondent-level item other than the overall item is not used")

    # categories
    raw_cats = doc.get("categories") or {}
    if not isinstance(raw_cats, Mapping):
        raise bad("categories", "must be a mapping (gender, age_band, area)")
    cats: dict[str, Category] = {}
    for name, c in raw_cats.items():
        where = f"categories.{name}"
        if name not in CATEGORY_NAMES:
            raise bad(where, f"unknown category (known: {', '.join(CATEGORY_NAMES)})")
        if not isinstance(c, Mapping):
            raise bad(where, "must be a mapping (column, levels, reference, labels)")
        column = text(c.get("column"), f"{where}.column", name)
        levels_doc = c.get("levels")
        if isinstance(levels_doc, list):
            levels_doc = {str(lv): [lv] for lv in levels_doc}
        if not isinstance(levels_doc, Mapping) or len(levels_doc) < 1:
            raise bad(
                f"{where}.levels", "must list the levels (or map each level to its source values)"
            )
        values: dict[str, str] = {}
        for lv, srcs in levels_doc.items():
            srcs = srcs if isinstance(srcs, list) else [srcs]
            for sv in [lv, *srcs]:
                key = normalise(sv)
                if key in values and values[key] != str(lv):
                    raise bad(
                        f"{where}.levels.{lv}",
                        f"source value {sv!r} is also given for {values[key]!r}",
                    )
                values[key] = str(lv)
        levels = tuple(str(k) for k in levels_doc)
        ref = str(c.get("reference", levels[0]))
        if ref not in levels:
            raise bad(
                f"{where}.reference", f"{ref!r} is not one of the levels ({', '.join(levels)})"
            )
        labels = c.get("labels") or {}
        if not isinstance(labels, Mapping) or set(map(str, labels)) - set(levels):
            raise bad(f"{where}.labels", "must map levels to labels")
        cats[name] = Category(
            name,
            column,
            levels,
            values,
            ref,
            {str(k): str(v) for k, v in labels.items()},
            bool(c.get("required", True)),
        )

    # geography
    geo = doc.get("geography")
    geo_col, geo_values = None, {}
    if geo is not None:
        if not isinstance(geo, Mapping):
            raise bad("geography", "must be a mapping (column, values) or left out")
        geo_col = text(geo.get("column"), "geography.column")
        gv = geo.get("values") or {}
        if not isinstance(gv, Mapping):
            raise bad("geography.values", "must map the file's names to unit codes")
        geo_values = {normalise(k): str(v) for k, v in gv.items()}

    # design
    ddoc = doc.get("design") or {}
    if not isinstance(ddoc, Mapping):
        raise bad(
            "design",
            "must be a mapping (weight, psu, strata, fpc, fpc_counts, weights_sum_to, raking)",
        )
    extra = sorted(
        set(map(str, ddoc))
        - {"weight", "psu", "strata", "fpc", "fpc_counts", "weights_sum_to", "raking"}
    )
    if extra:
        raise bad(
            f"design.{extra[0]}",
            "unknown field (known: fpc, fpc_counts, psu, raking, strata, weight, weights_sum_to)",
        )
    dcols = {
        k: text(ddoc.get(k), f"design.{k}", optional=True)
        for k in ("weight", "psu", "strata", "fpc")
    }
    wst = ddoc.get("weights_sum_to")
    if wst is not None:
        if wst == "fpc":
            if dcols["fpc"] is None or dcols["weight"] is None:
                raise bad("design.weights_sum_to", "'fpc' needs both design.weight and design.fpc")
        elif isinstance(wst, int | float) and not isinstance(wst, bool) and wst > 0:
            if dcols["weight"] is None:
                raise bad("design.weights_sum_to", "a total needs design.weight")
            wst = float(wst)
        else:
            raise bad("design.weights_sum_to", f"{wst!r}: 'fpc' or a positive number")
    margins = _raking(ddoc.get("raking"), cats, geo_col, bad)
    fpc_counts = ddoc.get("fpc_counts", "persons")
    if fpc_counts not in FPC_COUNTS:
        raise bad("design.fpc_counts", f"{fpc_counts!r}: one of {', '.join(FPC_COUNTS)}")
    if wst == "fpc" and fpc_counts != "persons":
        raise bad("design.weights_sum_to", "'fpc' needs design.fpc_counts: persons")
    design = Design(
        dcols["weight"], dcols["psu"], dcols["strata"], dcols["fpc"], wst, margins, fpc_counts
    )

    files = doc.get("files") or {}
    if not isinstance(files, Mapping) or not all(
        isinstance(v, str) and re.match(r"^\d{4}-(0[1-9]|1[0-2])$", v) for v in files.values()
    ):
        raise bad("files", "must map file names to their wave month (YYYY-MM)")

    used_prefix = text(doc.get("used_prefix"), "used_prefix", "used")
    return Instrument(
        path=path,
        description=str(doc.get("description") or ""),
        respondent_id=text(doc.get("respondent_id"), "respondent_id", "respondent_id"),
        items=items,
        outcome=outcome,
        overall=overall,
        drivers=tuple(drivers),
        categories=cats,
        geography=geo_col,
        geography_values=geo_values,
        design=design,
        used_prefix=used_prefix,
        files={str(k): str(v) for k, v in files.items()},
    )


def _range(v, where, bad) -> tuple[int, int]:
    if not (isinstance(v, list) and len(v) == 2 and all(_is_int(x) for x in v) and v[0] <= v[1]):
        raise bad(where, f"{v!r}: a range [low, high] of whole numbers")
    return int(v[0]), int(v[1])


def _scale(name: str, s: Any, bad) -> Scale:
    where = f"scales.{name}"
    if not isinstance(s, Mapping):
        raise bad(where, "must be a mapping (range or type, satisfied, non_answer, labels)")
    extra = sorted(
        set(map(str, s))
        - {"type", "range", "satisfied", "dissatisfied", "non_answer", "labels", "title"}
    )
    if extra:
        raise bad(
            f"{where}.{extra[0]}",
            "unknown field (known: dissatisfied, labels, non_answer, range, satisfied, title, type)",
        )
    kind = s.get("type", "range")
    labels_doc = dict(s.get("labels") or {})
    if kind == "yesno":
        lo, hi = 0, 1
        sat = _range(s.get("satisfied", [1, 1]), f"{where}.satisfied", bad)
        labels_doc = {"yes": 1, "no": 0, **labels_doc}
    elif kind == "range":
        lo, hi = _range(s.get("range"), f"{where}.range", bad)
        if lo == hi:
            raise bad(f"{where}.range", "a scale needs at least two codes")
        if hi - lo > 100 or lo < -100 or hi > 120:
            raise bad(f"{where}.range", "codes must lie within -100..120")
        if "satisfied" not in s:
            raise bad(f"{where}.satisfied", "missing (the codes counted as satisfied, e.g. [4, 5])")
        sat = _range(s.get("satisfied"), f"{where}.satisfied", bad)
    else:
        raise bad(f"{where}.type", f"{kind!r} not one of range, yesno")
    if sat[0] < lo or sat[1] > hi:
        raise bad(f"{where}.satisfied", f"{list(sat)} lies outside the scale {lo}-{hi}")
    if sat == (lo, hi):
        raise bad(f"{where}.satisfied", "covers the whole scale: nobody could be dissatisfied")
    if "dissatisfied" in s:
        dis = _range(s.get("dissatisfied"), f"{where}.dissatisfied", bad)
        if dis[0] < lo or dis[1] > hi:
            raise bad(f"{where}.dissatisfied", f"{list(dis)} lies outside the scale {lo}-{hi}")
    else:  # mirrored: [4, 5] on 1-5 -> [1, 2]; [7, 10] on 0-10 -> [0, 3]
        dis = (lo + (hi - sat[1]), lo + (hi - sat[0]))
    if not (dis[1] < sat[0] or dis[0] > sat[1]):
        raise bad(f"{where}.dissatisfied", f"{list(dis)} overlaps the satisfied range {list(sat)}")
    na_doc = s.get("non_answer") or {}
    if not isinstance(na_doc, Mapping):
        raise bad(f"{where}.non_answer", "must map codes or text labels to their meaning")
    na_codes: dict[int, str] = {}
    na_labels: dict[str, str] = {}
    for k, meaning in na_doc.items():
        code = k
        if isinstance(k, str) and re.fullmatch(r"[+-]?\d+", k.strip()):
            code = int(k)
        if _is_int(code):
            if lo <= code <= hi:
                raise bad(
                    f"{where}.non_answer.{k}",
                    f"code {code} lies inside the scale {lo}-{hi} (a real answer, not a non-answer)",
                )
            na_codes[int(code)] = str(meaning)
        elif isinstance(k, str) and k.strip():
            na_labels[normalise(k)] = str(meaning)
        else:
            raise bad(f"{where}.non_answer", f"{k!r}: a whole-number code or a text label")
    if not isinstance(labels_doc, Mapping):
        raise bad(f"{where}.labels", "must map text answers to codes")
    labels: dict[str, int] = {}
    for text_, code in labels_doc.items():
        if not _is_int(code) or not lo <= code <= hi:
            raise bad(f"{where}.labels.{text_}", f"code {code!r} is not on the scale {lo}-{hi}")
        if normalise(text_) in na_labels:
            raise bad(f"{where}.labels.{text_}", "is also a non-answer label")
        labels[normalise(text_)] = int(code)
    return Scale(
        name, lo, hi, sat, dis, na_codes, na_labels, labels, str(s.get("title") or "Answer")
    )


def _raking(doc: Any, cats: Mapping[str, Category], geo_col: str | None, bad) -> tuple[Margin, ...]:
    """``raking: [{margin: [district_pcode, gender], totals: [{district_pcode: .., gender: ..,
    total: N}, ...]}, {margin: [age_band], totals: {18-29: N, ...}}]``."""
    if doc is None:
        return ()
    if not isinstance(doc, list) or not doc:
        raise bad("design.raking", "must be a list of margins (margin, totals)")
    allowed = set(cats) | {"district_pcode"}
    out: list[Margin] = []
    for i, m in enumerate(doc):
        where = f"design.raking[{i}]"
        if not isinstance(m, Mapping) or set(m) - {"margin", "totals"}:
            raise bad(where, "must be a mapping with margin (variables) and totals")
        vars_ = m.get("margin")
        vars_ = [vars_] if isinstance(vars_, str) else vars_
        if not isinstance(vars_, list) or not vars_ or not all(isinstance(v, str) for v in vars_):
            raise bad(f"{where}.margin", "must name one or more variables")
        for v in vars_:
            if v not in allowed:
                raise bad(
                    f"{where}.margin", f"{v!r}: raking variables are {', '.join(sorted(allowed))}"
                )
            if v == "district_pcode" and geo_col is None:
                raise bad(f"{where}.margin", "district_pcode needs a geography column")
        totals_doc = m.get("totals")
        totals: dict[tuple, float] = {}
        if isinstance(totals_doc, Mapping) and len(vars_) == 1:
            recs = [{vars_[0]: k, "total": v} for k, v in totals_doc.items()]
        elif isinstance(totals_doc, list):
            recs = totals_doc
        else:
            raise bad(
                f"{where}.totals",
                "a list of {<variables>..., total} rows (or a mapping for one variable)",
            )
        for j, r in enumerate(recs):
            rw = f"{where}.totals[{j}]"
            if not isinstance(r, Mapping) or set(map(str, r)) != {*vars_, "total"}:
                raise bad(rw, f"must give {', '.join(vars_)} and total")
            t = r["total"]
            if isinstance(t, bool) or not isinstance(t, int | float) or not t > 0:
                raise bad(f"{rw}.total", f"{t!r}: a population total is a positive number")
            key = tuple(str(r[v]) for v in vars_)
            for v, val in zip(vars_, key, strict=True):
                if v in cats and val not in cats[v].levels:
                    raise bad(
                        f"{rw}.{v}", f"{val!r} is not a level of {v} ({', '.join(cats[v].levels)})"
                    )
            if key in totals:
                raise bad(rw, f"cell {key} is given twice")
            totals[key] = float(t)
        for v in vars_:
            if v in cats:
                missing = set(cats[v].levels) - {k[vars_.index(v)] for k in totals}
                if missing:
                    raise bad(f"{where}.totals", f"no total for {v} {', '.join(sorted(missing))}")
        out.append(Margin(tuple(vars_), totals))
    # Consistency: every margin has the same grand total, and margins sharing variables agree
    # on the sub-totals of those variables.
    g0 = out[0].grand_total
    for i, m in enumerate(out[1:], start=1):
        if abs(m.grand_total - g0) > TOLERANCE * g0:
            raise bad(
                f"design.raking[{i}].totals",
                f"totals sum to {m.grand_total:,.0f} but design.raking[0] sums to {g0:,.0f}: "
                "the margins must describe the same population",
            )
    for i, a in enumerate(out):
        for j in range(i + 1, len(out)):
            b = out[j]
            common = [v for v in a.variables if v in b.variables]
            if not common:
                continue
            sa = a.frame().groupby(common)["total"].sum()
            sb = b.frame().groupby(common)["total"].sum()
            both = pd.concat([sa.rename("a"), sb.rename("b")], axis=1)
            off = both[
                ~np.isclose(both["a"], both["b"], rtol=TOLERANCE, atol=0) | both.isna().any(axis=1)
            ]
            if len(off):
                k = off.index[0]
                raise bad(
                    f"design.raking[{j}].totals",
                    f"{', '.join(common)} {k}: {off.iloc[0]['b']:,.0f} here but "
                    f"{off.iloc[0]['a']:,.0f} in design.raking[{i}] (margins must agree)",
                )
    return tuple(out)


# ------------------------------------------------------------------------------------ loading
KP_INSTRUMENT = parse(copy.deepcopy(KP_DOC))


def path_for(prof: profiles.Profile | None = None) -> Path:
    prof = prof or profiles.active()
    return prof.folder / FILE


def load(path: Path) -> Instrument:
    """Read and check an instrument file (memoised on its modification time)."""
    path = Path(path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        raise InstrumentError(f"{path}: survey instrument file not found") from None
    return _load_cached(str(path), stamp)


@lru_cache(maxsize=16)
def _load_cached(path_text: str, _stamp: int) -> Instrument:
    path = Path(path_text)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InstrumentError(f"{path}: not valid YAML ({exc})") from None
    return parse(doc, path)


def active(prof: profiles.Profile | None = None) -> Instrument:
    """The active profile's instrument: its ``survey.yaml``, else the KP default (for a
    profile without a geography: without the district column and without strata)."""
    prof = prof or profiles.active()
    p = path_for(prof)
    if p.is_file():
        return load(p)
    if prof.geography is None:
        return KP_NO_GEOGRAPHY
    return KP_INSTRUMENT


KP_NO_GEOGRAPHY = dataclasses.replace(
    KP_INSTRUMENT,
    geography=None,
    design=dataclasses.replace(KP_INSTRUMENT.design, strata=None),
)
