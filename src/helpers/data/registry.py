"""The dated registry: departments (with name history), districts, public sector entities and
surveyed services.

Sources (reviewed files, not generated), both named by the active jurisdiction profile
(:mod:`helpers.profile`):
- its registry (``params/profiles/<p>/departments.yaml``): departments, entities, services (see
  the comments in that file); priority areas must be among the profile's;
- its geography (a GeoJSON boundary file; id and name properties from the profile), or none:
  a government without a district breakdown has an empty ``districts`` table.

The registry is loaded into the warehouse tables ``departments``, ``districts``, ``entities`` and
``survey_services`` by :mod:`helpers.data.ingest`; report code reads those tables through
:mod:`helpers.data.warehouse`, not this module.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import yaml

from helpers import profile as profiles

SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_SLUG = 64  # slugs name output folders and files: bounded well below file-name limits
#: slugs the outputs use for themselves (the province folder, the site's own folders)
RESERVED_SLUGS = frozenset({"province", "dashboards", "assets", "index", "builds", "cache"})
#: bidirectional controls and invisible marks: they can make a name read as another
BIDI_RE = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def _check_text(value: str, where: str) -> str:
    """A registry name without bidirectional control characters (U+202E and friends)."""
    m = BIDI_RE.search(value)
    if m:
        raise RegistryError(
            f"{where}: {value!r} holds the invisible direction control U+{ord(m.group()):04X}; "
            "remove it"
        )
    return value


SERVICE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class RegistryError(ValueError):
    """The registry files are inconsistent (duplicate slug, unknown department, bad dates...)."""


def departments_file() -> Path:
    """The active profile's registry file (``params/profiles/<p>/departments.yaml``)."""
    return profiles.active().registry_file


def districts_file() -> Path | None:
    """The active profile's boundary file (None: the profile has no geography)."""
    geo = profiles.active().geography
    return geo.file if geo is not None else None


def _as_date(value, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise RegistryError(f"{where}: not a date (YYYY-MM-DD): {value!r}") from exc


@dataclass(frozen=True)
class Registry:
    """Registry tables as DataFrames, in the column order of the warehouse tables."""

    departments: pd.DataFrame
    districts: pd.DataFrame
    entities: pd.DataFrame
    survey_services: pd.DataFrame
    sources: tuple[Path, ...] = field(default_factory=tuple)

    @cached_property
    def slugs(self) -> frozenset[str]:
        """Every department slug ever registered."""
        return frozenset(self.departments["slug"])

    @cached_property
    def pcodes(self) -> frozenset[str]:
        return frozenset(self.districts["pcode"])

    @cached_property
    def entity_ids(self) -> frozenset[str]:
        return frozenset(self.entities["entity_id"])

    @cached_property
    def services(self) -> tuple[str, ...]:
        """Survey service codes in registry order."""
        return tuple(self.survey_services["service"])

    def valid_on(self, on: dt.date | None = None) -> pd.DataFrame:
        """Department rows valid on a date (default today): valid_from <= on < valid_to."""
        on = on or dt.date.today()
        d = self.departments
        ok = (d["valid_from"] <= on) & (d["valid_to"].isna() | (d["valid_to"] > on))
        return d.loc[ok].reset_index(drop=True)

    def resolve(self, name_or_slug: str, on: dt.date | None = None) -> str:
        """The slug for a slug or an official name (current or former, case-insensitive).

        With ``on``, a name only resolves if it was the official name on that date.
        Raises ``KeyError`` when nothing matches.
        """
        text = str(name_or_slug).strip()
        if text in self.slugs:
            return text
        rows = self.departments if on is None else self.valid_on(on)
        hit = rows.loc[rows["name"].str.casefold() == text.casefold(), "slug"]
        if hit.empty:
            raise KeyError(f"unknown department {name_or_slug!r}")
        return str(hit.iloc[0])

    def name(self, slug: str, on: dt.date | None = None) -> str:
        """Official name of a department on a date (default today)."""
        rows = self.valid_on(on)
        hit = rows.loc[rows["slug"] == slug, "name"]
        if hit.empty:
            raise KeyError(f"department {slug!r} has no name valid on {on or dt.date.today()}")
        return str(hit.iloc[0])


def _load_departments(doc: dict, src: Path, areas: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    seen: set[str] = set()
    for i, dep in enumerate(doc.get("departments") or [], start=1):
        where = f"{src}: departments[{i}]"
        slug = dep.get("slug")
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            raise RegistryError(f"{where}: slug must be lowercase-hyphen, got {slug!r}")
        if len(slug) > MAX_SLUG:
            raise RegistryError(f"{where}: slug longer than {MAX_SLUG} characters ({len(slug)})")
        if slug in RESERVED_SLUGS:
            raise RegistryError(
                f"{where}: slug {slug!r} is reserved (the outputs use "
                f"{', '.join(sorted(RESERVED_SLUGS))}); choose another"
            )
        if slug in seen:
            raise RegistryError(f"{where}: duplicate slug {slug!r}")
        seen.add(slug)
        area = dep.get("priority_area")
        if area not in areas:
            raise RegistryError(
                f"{where} ({slug}): priority_area {area!r} not in the profile's priority_areas "
                f"({', '.join(areas)})"
            )
        names = dep.get("names") or []
        if not names:
            raise RegistryError(f"{where} ({slug}): no names")
        periods = []
        for n in names:
            start = _as_date(n.get("valid_from"), f"{where} ({slug}) valid_from")
            end = _as_date(n.get("valid_to"), f"{where} ({slug}) valid_to")
            if start is None:
                raise RegistryError(f"{where} ({slug}): valid_from is required")
            if end is not None and end <= start:
                raise RegistryError(f"{where} ({slug}): valid_to {end} is not after {start}")
            if not n.get("name"):
                raise RegistryError(f"{where} ({slug}): empty name")
            periods.append((start, end, _check_text(str(n["name"]), f"{where} ({slug}) name")))
        periods.sort(key=lambda p: p[0])
        for (_, end_a, _), (start_b, _, _) in zip(periods, periods[1:], strict=False):
            if end_a is None or end_a > start_b:
                raise RegistryError(f"{where} ({slug}): name periods overlap at {start_b}")
        for start, end, name in periods:
            rows.append(
                {
                    "slug": slug,
                    "name": name,
                    "priority_area": area,
                    "valid_from": start,
                    "valid_to": end,
                }
            )
    if not rows:
        raise RegistryError(f"{src}: no departments")
    return pd.DataFrame(rows)


def _load_districts(src: Path | None, id_prop: str, name_prop: str) -> pd.DataFrame:
    if src is None:
        return pd.DataFrame({"pcode": pd.Series(dtype=str), "name": pd.Series(dtype=str)})
    try:
        doc = json.loads(src.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"{src}: district boundaries file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{src}: not valid GeoJSON ({exc})") from exc
    rows = []
    for i, f in enumerate(doc.get("features", []), start=1):
        props = f.get("properties") or {}
        missing = [p for p in (id_prop, name_prop) if props.get(p) in (None, "")]
        if missing:
            raise RegistryError(f"{src}: feature {i} has no property {missing[0]!r}")
        rows.append({"pcode": str(props[id_prop]), "name": str(props[name_prop])})
    df = pd.DataFrame(rows, columns=["pcode", "name"])
    if df.empty or df["pcode"].duplicated().any():
        raise RegistryError(f"{src}: expected unique {id_prop} values in the features")
    return df.sort_values("pcode").reset_index(drop=True)


def _load_entities(doc: dict, slugs: set[str], src: Path) -> pd.DataFrame:
    rows = []
    for dep, items in (doc.get("entities") or {}).items():
        if dep not in slugs:
            raise RegistryError(f"{src}: entities listed under unknown department {dep!r}")
        for item in items or []:
            rows.append(
                {
                    "entity_id": str(item["id"]),
                    "name": _check_text(str(item["name"]), f"{src}: entity {item['id']}"),
                    "department": dep,
                    "entity_type": str(item["type"]),
                }
            )
    df = pd.DataFrame(rows, columns=["entity_id", "name", "department", "entity_type"])
    dup = df.loc[df["entity_id"].duplicated(), "entity_id"]
    if not dup.empty:
        raise RegistryError(f"{src}: duplicate entity id {dup.iloc[0]!r}")
    return df.sort_values("entity_id").reset_index(drop=True)


def _load_services(doc: dict, slugs: set[str], src: Path) -> pd.DataFrame:
    rows = []
    for item in doc.get("services") or []:
        code = str(item.get("service", ""))
        if not SERVICE_RE.match(code):
            raise RegistryError(f"{src}: service code must be lowercase letters/digits: {code!r}")
        if item.get("department") not in slugs:
            raise RegistryError(
                f"{src}: service {code!r} mapped to unknown department {item.get('department')!r}"
            )
        rows.append(
            {
                "service": code,
                "label": _check_text(str(item["label"]), f"{src}: service {code}"),
                "department": item["department"],
            }
        )
    df = pd.DataFrame(rows, columns=["service", "label", "department"])
    if df["service"].duplicated().any():
        raise RegistryError(f"{src}: duplicate service code")
    return df


def load_registry(
    departments_path: Path | None = None, districts_path: Path | None = None
) -> Registry:
    """Read and check the registry files; raise :class:`RegistryError` on any inconsistency."""
    prof = profiles.active()
    dep_src = Path(departments_path or departments_file())
    dis_src = districts_path or districts_file()
    dis_src = Path(dis_src) if dis_src is not None else None
    geo = prof.geography
    try:
        doc = yaml.safe_load(dep_src.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise RegistryError(f"{dep_src}: registry file not found") from exc
    except yaml.YAMLError as exc:
        raise RegistryError(f"{dep_src}: not valid YAML ({exc})") from exc
    departments = _load_departments(doc, dep_src, prof.priority_areas)
    slugs = set(departments["slug"])
    return Registry(
        departments=departments,
        districts=_load_districts(
            dis_src,
            geo.id_property if geo else "admin2Pcode",
            geo.name_property if geo else "admin2Name_en",
        ),
        entities=_load_entities(doc, slugs, dep_src),
        survey_services=_load_services(doc, slugs, dep_src),
        sources=(dep_src, prof.source) + ((dis_src,) if dis_src is not None else ()),
    )
