"""Jurisdiction profiles: everything about a government that the reports must not hard-code.

A profile is a folder ``params/profiles/<name>/`` holding ``profile.yaml`` (this module reads
and checks it), the dated department registry it names, and optionally its own ``pse.yaml`` and
``scorecard.yaml`` (else the shared ones in ``params/`` apply). Which profile is active:

- ``KP_PROFILE`` in the environment (``make ... PROFILE=punjab`` sets it through the CLI, and
  the batch engine passes it on to every kernel), else
- ``profile:`` in ``params/suite.yaml`` (the suite's default profile).

Every module that needs the government's name, currency, calendar, geography or priority areas
asks :func:`active`; nothing else in ``helpers`` spells them out. The module imports nothing
from the rest of the package but :mod:`helpers.paths`, so every room may use it.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from helpers import paths

PROFILE_ENV = "KP_PROFILE"
PROFILE_FILE = "profile.yaml"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
FY_LABELS = ("start-end", "start", "end")
AMOUNT_UNITS = ("one", "thousand", "million", "billion")
_UNIT_SUFFIX = {"one": "", "thousand": "k", "million": "m", "billion": "bn"}
TOP_KEYS = {
    "name",
    "government",
    "currency",
    "fiscal_year",
    "geography",
    "priority_areas",
    "registry",
    "families",
    "sample",
    "chart_of_accounts",
    "default_department",
}
ROLES = (
    "salary",
    "non_salary",
    "development",
    "interest",
    "principal",
    "contingency",
    "revenue",
    "other",
)
#: Adjective for the whole government per scope word ('the provincial figure'), used when the
#: profile gives no ``government.adjective``; any other scope word reads as the short name.
SCOPE_ADJECTIVES = {
    "province": "provincial",
    "country": "national",
    "nation": "national",
    "federal government": "federal",
    "state": "state",
    "region": "regional",
    "county": "county",
    "city": "city-wide",
    "municipality": "municipal",
}
#: Offices named in reports and the portal (``government.offices`` overrides each).
DEFAULT_OFFICES = {
    "delivery": "Delivery Unit",
    "finance": "Finance Department",
    "entities": "Finance Department, Corporate Governance Unit",
}
MONTH_NAMES = [dt.date(2000, m, 1).strftime("%B") for m in range(1, 13)]


class ProfileError(ValueError):
    """A profile is unknown, or its file has a missing or invalid field (CLI exit status 2)."""


@dataclass(frozen=True)
class Currency:
    """The currency and the unit every amount in the input files is held in."""

    code: str
    unit: str = "million"

    @property
    def label(self) -> str:
        """'AMD thousand' (table units, axis labels); 'AMD' when amounts are in single units."""
        return self.code if self.unit == "one" else f"{self.code} {self.unit}"

    def fmt(self, value: float | None, compact: bool = False, digits: int = 1) -> str:
        """'AMD 1,234.5k' (unit thousand); with ``compact``, amounts of 1,000 units or more in
        the next unit up ('AMD 12.3m'). None or NaN gives 'n/a'."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        i = AMOUNT_UNITS.index(self.unit)
        v = float(value)
        if compact:
            while abs(v) >= 1000 and i + 1 < len(AMOUNT_UNITS):
                v, i = v / 1000, i + 1
        return f"{self.code} {v:,.{digits}f}{_UNIT_SUFFIX[AMOUNT_UNITS[i]]}"


@dataclass(frozen=True)
class Geography:
    """The sub-national units the survey and district breakdowns use (from a boundary file)."""

    file: Path
    id_property: str
    name_property: str
    unit: str = "district"
    units: str = "districts"


@dataclass(frozen=True)
class ObjectClass:
    """One object class (economic category) of the chart of accounts.

    ``role`` tells the reports (and PEFA indicators) what the class is: one of :data:`ROLES`.
    ``may_be_negative``: budget lines of this class may carry negative amounts (revenue or
    asset-sale lines); a mapping may also mark single lines (see helpers.data.mapping)."""

    code: str
    name: str
    role: str = "other"
    may_be_negative: bool = False


@dataclass(frozen=True)
class ChartOfAccounts:
    """Funds and object classes the budget inputs use (``chart_of_accounts:`` in profile.yaml)."""

    funds: tuple[str, ...]
    object_classes: tuple[ObjectClass, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.object_classes)

    @property
    def names(self) -> dict[str, str]:
        return {c.code: c.name for c in self.object_classes}

    def role(self, code: str) -> str | None:
        return next((c.role for c in self.object_classes if c.code == code), None)

    def with_role(self, role: str) -> tuple[str, ...]:
        return tuple(c.code for c in self.object_classes if c.role == role)

    @property
    def negative_ok(self) -> frozenset[str]:
        """Classes whose lines may be negative (flagged, or role revenue)."""
        return frozenset(
            c.code for c in self.object_classes if c.may_be_negative or c.role == "revenue"
        )


# The KP chart (New Accounting Model): the default when a profile has no chart_of_accounts.
KP_CHART = ChartOfAccounts(
    funds=("current", "development"),
    object_classes=tuple(
        ObjectClass(code, name, role)
        for code, name, role in (
            ("A01", "Employee related expenses", "salary"),
            ("A02", "Project pre-investment analysis", "non_salary"),
            ("A03", "Operating expenses", "non_salary"),
            ("A04", "Employees' retirement benefits", "non_salary"),
            ("A05", "Grants, subsidies and write-off of loans", "non_salary"),
            ("A06", "Transfers", "non_salary"),
            ("A07", "Interest payment", "interest"),
            ("A08", "Loans and advances", "non_salary"),
            ("A09", "Physical assets", "non_salary"),
            ("A10", "Principal repayments", "principal"),
            ("A11", "Investments", "non_salary"),
            ("A12", "Civil works", "non_salary"),
            ("A13", "Repairs and maintenance", "non_salary"),
        )
    ),
)


def _parse_chart(doc: Any, bad) -> ChartOfAccounts:
    """``chart_of_accounts:`` (funds: [..]; object_classes: [{code, name, role, may_be_negative}])."""
    if doc is None:
        return KP_CHART
    if not isinstance(doc, Mapping):
        raise bad("chart_of_accounts", "must be a mapping (funds, object_classes)")
    extra = sorted(set(map(str, doc)) - {"funds", "object_classes"})
    if extra:
        raise bad(f"chart_of_accounts.{extra[0]}", "unknown field (known: funds, object_classes)")
    funds = doc.get("funds", list(KP_CHART.funds))
    if not isinstance(funds, list) or not funds or not all(isinstance(f, str) and f for f in funds):
        raise bad("chart_of_accounts.funds", "must be a non-empty list of fund codes")
    if len(set(funds)) != len(funds):
        raise bad("chart_of_accounts.funds", "fund codes must be unique")
    raw = doc.get("object_classes")
    if raw is None:
        return ChartOfAccounts(tuple(funds), KP_CHART.object_classes)
    if not isinstance(raw, list) or not raw:
        raise bad("chart_of_accounts.object_classes", "must be a non-empty list")
    classes = []
    for i, c in enumerate(raw):
        where = f"chart_of_accounts.object_classes[{i}]"
        if not isinstance(c, Mapping):
            raise bad(where, "must be a mapping (code, name, role)")
        extra = sorted(set(map(str, c)) - {"code", "name", "role", "may_be_negative"})
        if extra:
            raise bad(
                f"{where}.{extra[0]}", "unknown field (known: code, name, role, may_be_negative)"
            )
        code, cname = c.get("code"), c.get("name")
        if not isinstance(code, str) or not code.strip():
            raise bad(f"{where}.code", "missing or not text")
        if not isinstance(cname, str) or not cname.strip():
            raise bad(f"{where}.name", "missing or not text")
        role = c.get("role", "other")
        if role not in ROLES:
            raise bad(f"{where}.role", f"{role!r} not one of {', '.join(ROLES)}")
        neg = c.get("may_be_negative", False)
        if not isinstance(neg, bool):
            raise bad(f"{where}.may_be_negative", "must be true or false")
        classes.append(ObjectClass(code.strip(), cname.strip(), role, neg))
    codes = [c.code for c in classes]
    if len(set(codes)) != len(codes):
        raise bad("chart_of_accounts.object_classes", "codes must be unique")
    return ChartOfAccounts(tuple(funds), tuple(classes))


@dataclass(frozen=True)
class Profile:
    """One government's settings (see ``params/profiles/*/profile.yaml``)."""

    name: str
    folder: Path
    government: str
    short_name: str
    scope_word: str
    scope_adjective: str
    offices: Mapping[str, str]
    currency: Currency
    fy_start_month: int
    fy_label: str
    geography: Geography | None
    priority_areas: tuple[str, ...]
    registry_file: Path
    families: tuple[str, ...] | None
    sample: Mapping[str, Any]
    chart: ChartOfAccounts = KP_CHART
    # The department a notebook opened in JupyterLab shows when its literal default (a KP slug)
    # is not in this registry (helpers.data.warehouse.notebook_department).
    default_department: str | None = None

    @property
    def mappings_dir(self) -> Path:
        """``params/profiles/<p>/mappings/``: one YAML mapping per source export."""
        return self.folder / "mappings"

    @property
    def source(self) -> Path:
        return self.folder / PROFILE_FILE

    @property
    def fy_start_name(self) -> str:
        """Name of the first month of the fiscal year ('April' for an April year)."""
        return MONTH_NAMES[self.fy_start_month - 1]

    def params_file(self, name: str) -> Path:
        """The profile's own ``name`` (e.g. pse.yaml) if it has one, else the shared one."""
        own = self.folder / name
        return own if own.is_file() else paths.PARAMS_DIR / name

    def files(self) -> list[Path]:
        """Every file of the profile that shapes a report (for cache keys)."""
        out = sorted(p for p in self.folder.glob("*") if p.is_file())
        if self.geography is not None and self.geography.file.is_file():
            out.append(self.geography.file)
        return out


def profiles_dir() -> Path:
    return paths.PARAMS_DIR / "profiles"


def known_profiles() -> list[str]:
    d = profiles_dir()
    return sorted(p.name for p in d.iterdir() if (p / PROFILE_FILE).is_file()) if d.is_dir() else []


def default_name() -> str:
    """``profile:`` in params/suite.yaml (the suite's default profile)."""
    suite = paths.PARAMS_DIR / "suite.yaml"
    return _default_cached(str(suite), _mtime(suite))


@lru_cache(maxsize=4)
def _default_cached(suite_text: str, _stamp: int) -> str:
    suite = Path(suite_text)
    try:
        doc = yaml.safe_load(suite.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{suite}: cannot read the default profile ({exc})") from None
    name = doc.get("profile") if isinstance(doc, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{suite}: field 'profile' (the default profile) is missing")
    return name


def active_name() -> str:
    if _OVERRIDE:
        return _OVERRIDE[-1].name
    env = os.environ.get(PROFILE_ENV)
    if env:
        return env
    now = time.monotonic()
    if _DEFAULT and now - _DEFAULT[0] < 1.0:
        return _DEFAULT[1]
    name = default_name()
    _DEFAULT[:] = [now, name]
    return name


_DEFAULT: list = []


def is_default(name: str | None = None) -> bool:
    return (name or active_name()) == default_name()


def active() -> Profile:
    """The active profile (see the module docstring); :func:`use` overrides it."""
    if _OVERRIDE:
        return _OVERRIDE[-1]
    return load(active_name())


_OVERRIDE: list[Profile] = []


def select(name: str | None) -> Profile:
    """Check and activate a profile for this process and its children (the CLIs' --profile):
    sets ``KP_PROFILE``. None or '' keeps the current choice. Raises ProfileError."""
    if not name:
        return active()
    prof = load(name)
    os.environ[PROFILE_ENV] = prof.name
    return prof


@contextmanager
def use(prof: Profile | str):
    """Make ``prof`` (a Profile or a profile name) the active profile inside a ``with`` block."""
    _OVERRIDE.append(load(prof) if isinstance(prof, str) else prof)
    try:
        yield _OVERRIDE[-1]
    finally:
        _OVERRIDE.pop()


def load(name: str) -> Profile:
    """Read and check ``params/profiles/<name>/profile.yaml`` (memoised on the file's mtime)."""
    folder = profiles_dir() / str(name)
    key = (str(name), str(folder))
    hit = _RECENT.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < 1.0:
        return hit[1]
    prof = _load_cached(key[0], key[1], _mtime(folder / PROFILE_FILE))
    _RECENT[key] = (now, prof)
    return prof


# The last profile returned per name, re-checked against its file at most once a second: hot
# paths (the calendar, per row) must not stat a file on every call.
_RECENT: dict[tuple[str, str], tuple[float, Profile]] = {}


def _mtime(p: Path) -> int:
    try:
        return p.stat().st_mtime_ns
    except OSError:
        return 0


@lru_cache(maxsize=16)
def _load_cached(name: str, folder_text: str, _stamp: int) -> Profile:
    folder = Path(folder_text)
    src = folder / PROFILE_FILE
    if not NAME_RE.match(name) or not src.is_file():
        known = ", ".join(known_profiles()) or "(none)"
        raise ProfileError(f"unknown profile {name!r}; known profiles: {known}")
    try:
        doc = yaml.safe_load(src.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{src}: not valid YAML ({exc})") from None
    return parse(doc, folder, name)


def parse(doc: Any, folder: Path, name: str | None = None) -> Profile:
    """Build a Profile from a parsed profile.yaml; raises ProfileError naming file and field."""
    src = Path(folder) / PROFILE_FILE

    def bad(field: str, why: str) -> ProfileError:
        return ProfileError(f"{src}: field '{field}': {why}")

    if not isinstance(doc, Mapping):
        raise ProfileError(f"{src}: expected a mapping of fields")
    unknown = sorted(set(map(str, doc)) - TOP_KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown field (known: {', '.join(sorted(TOP_KEYS))})")

    def section(key: str, required: bool = True) -> Mapping[str, Any] | None:
        v = doc.get(key)
        if v is None and not required:
            return None
        if not isinstance(v, Mapping):
            raise bad(key, "missing" if v is None else "must be a mapping")
        return v

    def text(m: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
        v = m.get(key, default)
        if not isinstance(v, str) or not v.strip():
            raise bad(f"{where}.{key}" if where else key, "missing or not text")
        return v.strip()

    pname = text(doc, "name", "")
    if name is not None and pname != name:
        raise bad("name", f"{pname!r} does not match the folder name {name!r}")
    if not NAME_RE.match(pname):
        raise bad("name", f"{pname!r} must be lowercase letters, digits, '-' or '_'")

    gov = section("government")
    cur = section("currency")
    unit = text(cur, "unit", "currency", "million")
    if unit not in AMOUNT_UNITS:
        raise bad("currency.unit", f"{unit!r} not one of {', '.join(AMOUNT_UNITS)}")
    code = text(cur, "code", "currency")

    fy = section("fiscal_year")
    start = fy.get("start_month")
    if isinstance(start, bool) or not isinstance(start, int) or not 1 <= start <= 12:
        raise bad("fiscal_year.start_month", f"must be a month number 1-12, got {start!r}")
    label = text(fy, "label", "fiscal_year", "start-end" if start != 1 else "start")
    if label not in FY_LABELS:
        raise bad("fiscal_year.label", f"{label!r} not one of {', '.join(FY_LABELS)}")
    if start == 1 and label == "start-end":
        raise bad("fiscal_year.label", "a January fiscal year lies in one calendar year: use start")

    geo_doc = section("geography", required=False)
    geography = None
    if geo_doc is not None:
        file_name = text(geo_doc, "file", "geography")
        gfile = (
            Path(file_name) if Path(file_name).is_absolute() else paths.REFERENCE_DIR / file_name
        )
        if not gfile.is_file():
            gfile = Path(folder) / file_name
        if not gfile.is_file():
            raise bad(
                "geography.file", f"{file_name!r} not found in {paths.REFERENCE_DIR} or {folder}"
            )
        geography = Geography(
            file=gfile,
            id_property=text(geo_doc, "id_property", "geography"),
            name_property=text(geo_doc, "name_property", "geography"),
            unit=text(geo_doc, "unit", "geography", "district"),
            units=text(
                geo_doc, "units", "geography", text(geo_doc, "unit", "geography", "district") + "s"
            ),
        )

    areas = doc.get("priority_areas")
    if not isinstance(areas, list) or not areas or not all(isinstance(a, str) and a for a in areas):
        raise bad("priority_areas", "must be a non-empty list of names")
    if len(set(areas)) != len(areas):
        raise bad("priority_areas", "names must be unique")

    registry = text(doc, "registry", "", "departments.yaml")
    reg_file = Path(folder) / registry
    if not reg_file.is_file():
        raise bad("registry", f"{registry!r} not found in {folder}")

    fams = doc.get("families")
    families = None
    if fams is not None:
        if not isinstance(fams, list) or not fams:
            raise bad("families", "must be a non-empty list (or left out: follow the inputs)")
        if not all(isinstance(f, str) and NAME_RE.match(f) for f in fams):
            raise bad("families", "must list family names of params/suite.yaml")
        families = tuple(fams)  # checked against the suite by the engine

    sample = doc.get("sample") or {}
    if not isinstance(sample, Mapping):
        raise bad("sample", "must be a mapping")

    default_department = doc.get("default_department")
    if default_department is not None and not (
        isinstance(default_department, str) and NAME_RE.match(default_department)
    ):
        raise bad("default_department", "must be a department slug of the registry")

    short = text(gov, "short", "government")
    scope = text(gov, "scope", "government", "province")
    offices_doc = gov.get("offices") or {}
    if not isinstance(offices_doc, Mapping) or set(offices_doc) - set(DEFAULT_OFFICES):
        raise bad("government.offices", f"a mapping with keys among {', '.join(DEFAULT_OFFICES)}")
    offices = {k: text(offices_doc, k, "government.offices", v) for k, v in DEFAULT_OFFICES.items()}
    return Profile(
        name=pname,
        folder=Path(folder),
        government=text(gov, "name", "government"),
        short_name=short,
        scope_word=scope,
        scope_adjective=text(
            gov, "adjective", "government", SCOPE_ADJECTIVES.get(scope.lower(), short)
        ),
        offices=offices,
        currency=Currency(code=code, unit=unit),
        fy_start_month=start,
        fy_label=label,
        geography=geography,
        priority_areas=tuple(areas),
        registry_file=reg_file,
        families=families,
        sample=dict(sample),
        chart=_parse_chart(doc.get("chart_of_accounts"), bad),
        default_department=default_department,
    )
