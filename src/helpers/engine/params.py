"""The suite declaration (params/suite.yaml) and parameter validation.

Everything a run will pass to a notebook is checked here, in the driver, before any kernel
starts: known names, declared types and bounds, months in the data's range, departments in the
registry, and no path tricks (absolute paths, ``..``, NUL, separators) in any string value.
A violation raises :class:`ParamError`, which the CLI turns into one line on stderr and exit 2.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from helpers import profile as profiles
from helpers.data.calendar import parse_month
from helpers.data.groups import INPUT_GROUPS
from helpers.engine.inputs import APPLIES_TO_SQL

PARAM_TYPES = {"department", "month", "int", "float", "str", "bool"}
SCOPES = {"department", "province"}
APPLIES_TO = frozenset(APPLIES_TO_SQL)  # the rules the warehouse can answer
ISOLATION_MODES = {"warm", "fresh"}
PUBLISHERS = {"nbconvert", "quarto"}
FORMATS = {"html", "pdf"}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
SUITE_KEYS = {"profile", "families", "formats", "settings"}
FAMILY_KEYS = {"title", "notebook", "scope", "applies_to", "data", "parameters"}
SPEC_KEYS = {"type", "default", "min", "max", "choices"}
_SAFE_TOKEN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ParamError(ValueError):
    """A parameter, selection or suite declaration is invalid (CLI exit status 2)."""


@dataclass(frozen=True)
class ParamSpec:
    """One declared notebook parameter."""

    name: str
    type: str
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Family:
    """A report family: one notebook, run per department or once per month (province)."""

    name: str
    title: str
    notebook: str
    scope: str
    parameters: dict[str, ParamSpec]
    applies_to: str | None = None
    data: tuple[str, ...] = ()  # input groups it reads; planned when any of them has data


@dataclass(frozen=True)
class Settings:
    """Run settings from suite.yaml (``settings:``), possibly overridden on the command line."""

    timeout_seconds: float = 600.0
    isolation: str = "warm"
    recycle_after: int = 100
    jobs: int | None = None  # None = one per core
    publisher: str = "nbconvert"


@dataclass(frozen=True)
class Suite:
    """The parsed suite declaration."""

    path: Path
    families: dict[str, Family]
    formats: tuple[str, ...]
    settings: Settings
    raw_text: str = field(repr=False, default="")

    def family_by_selector(self, selector: str) -> Family:
        """Resolve a NOTEBOOK= selector: a family name or its notebook file name (with or
        without ``.ipynb``). Only names declared in suite.yaml are accepted."""
        check_safe_string("notebook", selector)
        if selector in self.families:
            return self.families[selector]
        stem = selector.removesuffix(".ipynb")
        for fam in self.families.values():
            if fam.notebook.removesuffix(".ipynb") == stem:
                return fam
        known = ", ".join(sorted(self.families))
        raise ParamError(f"unknown notebook {selector!r} (suite.yaml declares: {known})")


def check_safe_string(name: str, value: str) -> None:
    """Reject values that could escape a directory or confuse a shell/file system."""
    if "\x00" in value:
        raise ParamError(f"parameter {name!r}: NUL character not allowed")
    if any(ord(c) < 32 for c in value):
        raise ParamError(f"parameter {name!r}: control characters not allowed")
    if value.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:[\\/]", value):
        raise ParamError(f"parameter {name!r}: absolute paths not allowed ({value!r})")
    parts = re.split(r"[\\/]", value)
    if ".." in parts:
        raise ParamError(f"parameter {name!r}: path traversal not allowed ({value!r})")


def _check_token(kind: str, value: str) -> None:
    check_safe_string(kind, value)
    if not _SAFE_TOKEN_RE.match(value):
        raise ParamError(f"{kind} {value!r}: only letters, digits, '_', '-' and '.' allowed")


def _spec_from_yaml(family: str, name: str, decl: Any) -> ParamSpec:
    where = f"suite.yaml: {family}.parameters.{name}"
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ParamError(f"{where}: parameter names must be lower_snake_case identifiers")
    if not isinstance(decl, Mapping) or "type" not in decl:
        raise ParamError(f"{where}: needs a mapping with 'type' and 'default'")
    ptype = decl["type"]
    if not isinstance(ptype, str) or ptype not in PARAM_TYPES:
        raise ParamError(f"{where}: unknown type {ptype!r} (one of {sorted(PARAM_TYPES)})")
    if "default" not in decl:
        raise ParamError(f"{where}: missing 'default'")
    unknown = set(map(str, decl)) - SPEC_KEYS
    if unknown:
        raise ParamError(f"{where}: unknown keys {sorted(unknown)}")
    for bound in ("min", "max"):
        value = decl.get(bound)
        if value is not None and (
            ptype not in ("int", "float") or not _is_number(value) or not math.isfinite(value)
        ):
            raise ParamError(
                f"{where}: '{bound}' must be a finite number on an int/float parameter"
            )
    choices = decl.get("choices")
    if choices is not None and (
        not isinstance(choices, list)
        or not choices
        or not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in choices)
    ):
        raise ParamError(f"{where}: 'choices' must be a non-empty list of strings or numbers")
    return ParamSpec(
        name=str(name),
        type=ptype,
        default=decl["default"],
        min=decl.get("min"),
        max=decl.get("max"),
        choices=tuple(choices) if choices is not None else None,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _settings_from_yaml(raw: Any) -> Settings:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ParamError("suite.yaml: 'settings' must be a mapping")
    raw = dict(raw)
    known = {"timeout_seconds", "isolation", "recycle_after", "jobs", "publisher"}
    unknown = set(map(str, raw)) - known
    if unknown:
        raise ParamError(f"suite.yaml: unknown settings {sorted(unknown)}")
    timeout = raw.get("timeout_seconds", 600)
    if not _is_number(timeout):
        raise ParamError(f"suite.yaml: settings.timeout_seconds must be a number, got {timeout!r}")
    recycle = raw.get("recycle_after", 100)
    if not isinstance(recycle, int) or isinstance(recycle, bool):
        raise ParamError(f"suite.yaml: settings.recycle_after must be an integer, got {recycle!r}")
    for key in ("isolation", "publisher"):
        if key in raw and not isinstance(raw[key], str):
            raise ParamError(f"suite.yaml: settings.{key} must be a string, got {raw[key]!r}")
    jobs = raw.get("jobs", "auto")
    if isinstance(jobs, bool) or not isinstance(jobs, (int, str, type(None))):
        raise ParamError(
            f"suite.yaml: settings.jobs must be a positive integer or auto, got {jobs!r}"
        )
    s = Settings(
        timeout_seconds=float(timeout),
        isolation=str(raw.get("isolation", "warm")),
        recycle_after=recycle,
        jobs=None if jobs in (None, "auto") else _positive_int("settings.jobs", jobs),
        publisher=str(raw.get("publisher", "nbconvert")),
    )
    validate_settings(s)
    return s


def _positive_int(name: str, value: Any) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ParamError(f"{name} must be a positive integer, got {value!r}") from None
    if n < 1 or str(value).strip() != str(n):
        raise ParamError(f"{name} must be a positive integer, got {value!r}")
    return n


def validate_settings(s: Settings) -> None:
    """Check run settings (after command-line overrides)."""
    if not (s.timeout_seconds > 0 and math.isfinite(s.timeout_seconds)):
        raise ParamError(f"timeout must be a positive number of seconds, got {s.timeout_seconds}")
    if s.isolation not in ISOLATION_MODES:
        raise ParamError(f"isolation must be one of {sorted(ISOLATION_MODES)}, got {s.isolation!r}")
    if s.recycle_after < 1:
        raise ParamError(f"recycle_after must be >= 1, got {s.recycle_after}")
    if s.publisher not in PUBLISHERS:
        raise ParamError(f"publisher must be one of {sorted(PUBLISHERS)}, got {s.publisher!r}")


def check_profile_families(prof, suite: Suite) -> None:
    """A profile's ``families:`` must name families the suite defines."""
    unknown = [f for f in prof.families or () if f not in suite.families]
    if unknown:
        raise ParamError(
            f"{prof.source}: field 'families': unknown family {unknown[0]!r} "
            f"(the suite has {', '.join(suite.families)})"
        )


def load_suite(path: Path) -> Suite:
    """Read and check suite.yaml. Raises ParamError for anything malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamError(f"suite file not found: {path}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ParamError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, Mapping):
        raise ParamError(f"{path}: expected a mapping with 'families', 'formats' and 'settings'")
    unknown = set(map(str, raw)) - SUITE_KEYS
    if unknown:
        raise ParamError(f"{path}: unknown top-level keys {sorted(unknown)}")
    fams_raw = raw.get("families")
    if not isinstance(fams_raw, Mapping) or not fams_raw:
        raise ParamError(f"{path}: 'families' must be a non-empty mapping")
    families: dict[str, Family] = {}
    for name, decl in fams_raw.items():
        name = str(name)
        families[name] = _family_from_yaml(name, decl)
    return Suite(
        path=path,
        families=families,
        formats=_formats_from_yaml(path, raw.get("formats")),
        settings=_settings_from_yaml(raw.get("settings")),
        raw_text=text,
    )


def _family_from_yaml(name: str, decl: Any) -> Family:
    """One family's declaration in suite.yaml, checked."""
    if not _NAME_RE.match(name):
        raise ParamError(f"suite.yaml: family name {name!r} must be lower_snake_case")
    if not isinstance(decl, Mapping):
        raise ParamError(f"suite.yaml: family {name!r} must be a mapping")
    unknown = set(map(str, decl)) - FAMILY_KEYS
    if unknown:
        raise ParamError(f"suite.yaml: family {name!r}: unknown keys {sorted(unknown)}")
    if not isinstance(decl.get("notebook"), str):
        raise ParamError(f"suite.yaml: {name}.notebook must be a file name ending .ipynb")
    nb = decl["notebook"]
    if not nb.endswith(".ipynb") or "/" in nb or "\\" in nb:
        raise ParamError(f"suite.yaml: {name}.notebook must be a file name ending .ipynb")
    _check_token(f"suite.yaml: {name}.notebook", nb)
    scope = decl.get("scope")
    if not isinstance(scope, str) or scope not in SCOPES:
        raise ParamError(f"suite.yaml: {name}.scope must be one of {sorted(SCOPES)}")
    applies = decl.get("applies_to")
    if applies is not None and (not isinstance(applies, str) or applies not in APPLIES_TO):
        raise ParamError(
            f"suite.yaml: {name}.applies_to {applies!r} unknown (one of {sorted(APPLIES_TO)})"
        )
    if applies is not None and scope != "department":
        raise ParamError(f"suite.yaml: {name}.applies_to only makes sense for scope department")
    data = decl.get("data") or []
    data = [data] if isinstance(data, str) else data
    if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
        raise ParamError(f"suite.yaml: {name}.data must be a list of input groups")
    unknown_groups = [d for d in data if d not in INPUT_GROUPS]
    if unknown_groups:
        raise ParamError(
            f"suite.yaml: {name}.data: unknown input group {unknown_groups[0]!r} "
            f"(one of {', '.join(INPUT_GROUPS)})"
        )
    params_raw = decl.get("parameters") or {}
    if not isinstance(params_raw, Mapping):
        raise ParamError(f"suite.yaml: {name}.parameters must be a mapping")
    params = {str(p): _spec_from_yaml(name, p, d) for p, d in params_raw.items()}
    if "month" not in params or params["month"].type != "month":
        raise ParamError(f"suite.yaml: {name} must declare a 'month' parameter of type month")
    if scope == "department" and params.get("department", ParamSpec("", "", None)).type != (
        "department"
    ):
        raise ParamError(f"suite.yaml: {name} (scope department) must declare 'department'")
    if scope == "province" and "department" in params:
        raise ParamError(f"suite.yaml: {name} (scope province) must not declare 'department'")
    return Family(
        name=name,
        title=_title(name, decl.get("title")),
        notebook=nb,
        scope=scope,
        parameters=params,
        applies_to=applies,
        data=tuple(data),
    )


def _formats_from_yaml(path: Path, formats_raw: Any) -> tuple[str, ...]:
    """suite.yaml's ``formats`` (default html), checked, duplicates dropped."""
    formats_raw = formats_raw or ["html"]
    if not isinstance(formats_raw, list) or not all(isinstance(f, str) for f in formats_raw):
        raise ParamError(f"{path}: 'formats' must be a list such as [html, pdf]")
    formats = tuple(dict.fromkeys(formats_raw))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ParamError(f"suite.yaml: unknown formats {bad} (one of {sorted(FORMATS)})")
    return formats


def _title(name: str, title: Any) -> str:
    """The family's title; ``{scope}`` / ``{Scope}`` in it become the active profile's scope word
    ('Province overview' for KP, 'Country overview' for a country)."""
    if title is None:
        return name
    if not isinstance(title, str) or not title.strip() or any(ord(c) < 32 for c in title):
        raise ParamError(f"suite.yaml: {name}.title must be one line of text")
    scope = profiles.active().scope_word
    return title.replace("{scope}", scope).replace("{Scope}", scope[:1].upper() + scope[1:])


def parse_assignment(text: str) -> tuple[str | None, str, str]:
    """Parse a ``--param`` value: ``name=value`` or ``family.name=value``."""
    if "=" not in text:
        raise ParamError(f"--param expects NAME=VALUE or FAMILY.NAME=VALUE, got {text!r}")
    lhs, value = text.split("=", 1)
    family, _, name = lhs.rpartition(".")
    if not _NAME_RE.match(name) or (family and not _NAME_RE.match(family)):
        raise ParamError(f"--param: bad parameter name {lhs!r}")
    return (family or None), name, value


def coerce_value(
    spec: ParamSpec,
    value: Any,
    *,
    departments: Iterable[str] | None = None,
    month_range: tuple[dt.date, dt.date] | None = None,
) -> Any:
    """Convert ``value`` (a YAML literal or a command-line string) to the declared type and
    check it. Returns the value as it will be injected into the notebook."""
    name = spec.name
    if isinstance(value, str):
        check_safe_string(name, value)
    t = spec.type
    out: Any
    if t in ("department", "month", "str"):
        out = _coerce_text(t, name, value, departments, month_range)
    elif t == "bool":
        out = _coerce_bool(name, value)
    elif t == "int":
        out = _coerce_int(name, value)
    else:  # float
        out = _coerce_float(name, value)
    if spec.min is not None and out < spec.min:
        raise ParamError(f"parameter {name!r} = {out} is below the minimum {spec.min}")
    if spec.max is not None and out > spec.max:
        raise ParamError(f"parameter {name!r} = {out} is above the maximum {spec.max}")
    if spec.choices is not None and out not in spec.choices:
        raise ParamError(f"parameter {name!r} = {out!r} not one of {list(spec.choices)}")
    return out


def _coerce_text(
    t: str,
    name: str,
    value: Any,
    departments: Iterable[str] | None,
    month_range: tuple[dt.date, dt.date] | None,
) -> str:
    """A ``department``, ``month`` or ``str`` parameter, checked."""
    if not isinstance(value, str):
        raise ParamError(f"parameter {name!r} must be a string, got {value!r}")
    if t == "department":
        _check_token(f"parameter {name!r}", value)
        if departments is not None and value not in set(departments):
            raise ParamError(f"parameter {name!r}: unknown department {value!r}")
    elif t == "month":
        try:
            m = parse_month(value)
        except ValueError:
            raise ParamError(f"parameter {name!r}: month must be YYYY-MM, got {value!r}") from None
        if month_range is not None:
            lo, hi = month_range
            if not lo <= m <= hi:
                raise ParamError(
                    f"parameter {name!r}: month {value} outside the data's range "
                    f"{lo:%Y-%m}..{hi:%Y-%m}"
                )
    return value


def _coerce_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0"}:
        return value.lower() in {"true", "yes", "1"}
    raise ParamError(f"parameter {name!r} must be true/false, got {value!r}")


def _coerce_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ParamError(f"parameter {name!r} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    raise ParamError(f"parameter {name!r} must be an integer, got {value!r}")


def _coerce_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ParamError(f"parameter {name!r} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParamError(f"parameter {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ParamError(f"parameter {name!r} must be finite, got {value!r}")
    return out


def resolve_parameters(
    family: Family,
    *,
    month: str,
    department: str | None,
    overrides: Mapping[str, Any],
    departments: Iterable[str],
    month_range: tuple[dt.date, dt.date] | None,
) -> dict[str, Any]:
    """The full, validated parameter set of one job: declared defaults, then overrides, then
    ``month``/``department`` from the job. Unknown override names raise ParamError."""
    unknown = set(overrides) - set(family.parameters)
    if unknown:
        raise ParamError(f"{family.name}: unknown parameter(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in family.parameters.items():
        raw = overrides.get(name, spec.default)
        if spec.type == "month":
            raw = month if name == "month" else raw
        if spec.type == "department" and name == "department":
            raw = department
        values[name] = coerce_value(spec, raw, departments=departments, month_range=month_range)
    return values


#: Top-level keys of the other parameter files (read inside the report kernels).
SCORECARD_KEYS = {"status", "scoring", "default_weight", "weights"}


def check_parameter_files(params_dir: Path) -> None:
    """Validate ``scorecard.yaml`` and ``pse.yaml`` in ``params_dir`` with the same code the
    reports use, so a bad value stops the run here (ParamError, exit 2) instead of failing every
    report inside its kernel. Imports the settings modules (no pandas): call only when something
    will run.
    """
    params_dir = Path(params_dir)
    checks = []
    scorecard = params_dir / "scorecard.yaml"
    if scorecard.is_file():

        def check_scorecard() -> None:
            from helpers.analysis import stocktake_settings

            config = stocktake_settings.load_config(scorecard)
            unknown = set(map(str, config)) - SCORECARD_KEYS
            if unknown:
                raise ValueError(
                    f"unknown keys {sorted(unknown)} (known: {sorted(SCORECARD_KEYS)})"
                )
            weight = config.get("default_weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise ValueError(f"default_weight must be a number, got {weight!r}")
            stocktake_settings.StocktakeSettings.from_config(config)
            stocktake_settings.ScorecardRule.from_config(config)

        checks.append((scorecard, check_scorecard))
    pse = params_dir / "pse.yaml"
    if pse.is_file():

        def check_pse() -> None:
            from helpers.analysis import pse_settings

            pse_settings.load_settings(pse)

        checks.append((pse, check_pse))
    for path, check in checks:
        try:
            check()
        except yaml.YAMLError as exc:
            raise ParamError(f"{path}: not valid YAML ({exc})") from None
        except (ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
            detail = str(exc).replace(f"{path}: ", "")
            raise ParamError(f"{path}: {type(exc).__name__}: {detail}") from None
