"""Mapping files: turn a real source export into one of the suite's canonical inputs, as data.

A mapping is a YAML file in ``params/profiles/<p>/mappings/`` (one per source export). It says
which file(s) of the data folder it reads and how their rows become rows of a canonical input
(``budget_allocations``, ``budget_monthly``, ``targets``, ``target_actuals`` ...; see
docs/data-dictionary.md, "Mapping files", for every key and a complete example). There is no
Python per dataset: this module is the only code, pure pandas.

Pipeline, in this order (each step optional):

1. ``source``: file name or glob in the data folder, ``sheet`` (xlsx), ``header_row``,
   ``encoding`` (CSV; declared, never guessed); JSON: ``records`` (where the list of records
   is) and ``fields_from`` (the object in each record whose keys are the columns).
2. ``filters``: ``keep:`` / ``drop:`` rows by a source column's value (``in``, ``not_in``,
   ``matches`` (regex), ``blank``); names in ``in`` lists are matched ignoring case, spacing
   and punctuation. ``drop_duplicate_rows``: an exact repeat of an earlier source row is
   dropped (each one listed as a data note).
3. ``columns`` (canonical column: source column, or a list tried in order), ``constants``,
   ``derive`` (a fiscal year or month from a year column); ``wide`` (wide to long: each slice
   takes its own source columns and constants, e.g. one slice per month, quarter or year).
4. ``values``: value maps (source name to code), matched ignoring case, spacing and
   punctuation; ``registry:`` also accepts the registry's own names and codes.
5. ``scale`` (e.g. single units to millions: ``1.0e-6``), ``fill_blank``.
6. ``aggregate: sum``: rows sharing the canonical key are summed.
7. ``cumulative: true``: year-to-date values become flows (per key and fiscal year).

Source row numbers are kept through every step: each canonical row knows the source file,
row and, per canonical column, the source column it came from (:class:`Mapped`), so that every
message cites the **source** cell. A bad mapping file raises :class:`MappingError` (the CLI
exits 2) naming the mapping file and the field.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from helpers import lazy

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # the disclosure scanner reads a survey instrument's column names without pandas
    np = lazy.module("numpy", globals(), "np")
    pd = lazy.module("pandas", globals(), "pd")

TOP_KEYS = {
    "description",
    "source",
    "produces",
    "frequency",
    "cumulative",
    "filters",
    "drop_duplicate_rows",
    "columns",
    "constants",
    "derive",
    "wide",
    "values",
    "scale",
    "fill_blank",
    "aggregate",
    "allow_negative",
}
SOURCE_KEYS = {"file", "sheet", "header_row", "encoding", "records", "fields_from"}
FILTER_KEYS = {"column", "in", "not_in", "matches", "blank"}
VALUE_KEYS = {"map", "registry", "unmatched"}
DERIVE_KEYS = {"from", "as", "year_is", "month"}
FREQUENCIES = ("monthly", "quarterly", "annual")
REGISTRIES = ("departments", "districts", "entities", "object_classes", "funds")
CONSTANT = "(constant)"


class MappingError(ValueError):
    """A mapping file is invalid (unknown key, unknown input, a column the source lacks)."""


def normalise(value: object) -> str:
    """Lower case, letters and digits only: 'MINISTRY  OF  DEFENCE' == 'Ministry of Defence'."""
    return re.sub(r"[^0-9a-z]+", "", str(value).lower())


def closest(value: object, candidates: list[str], n: int = 3) -> list[str]:
    """The closest names to ``value`` (difflib, on normalised text), best first."""
    by_norm: dict[str, str] = {}
    for c in candidates:
        by_norm.setdefault(normalise(c), c)
    hits = difflib.get_close_matches(normalise(value), list(by_norm), n=n, cutoff=0.5)
    return [by_norm[h] for h in hits]


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # in, not_in, matches, blank
    arg: object

    def test(self, s: pd.Series) -> pd.Series:
        if self.op == "blank":
            return s.isna() == bool(self.arg)
        if self.op == "matches":
            pattern = re.compile(str(self.arg))
            return s.map(lambda v: bool(pattern.search(str(v))) if pd.notna(v) else False).astype(
                bool
            )
        norm = s.map(lambda v: None if pd.isna(v) else normalise(v))
        hit = norm.isin({normalise(v) for v in self.arg}).fillna(False).astype(bool)
        return hit if self.op == "in" else ~hit


@dataclass(frozen=True)
class ValueMap:
    column: str  # canonical column
    table: dict[str, str]  # normalised source name -> code
    names: tuple[str, ...]  # names for suggestions
    registry: str | None = None
    unmatched: str = "error"  # or "drop"


@dataclass(frozen=True)
class Derive:
    column: str
    source: str
    kind: str  # fiscal_year | last_month | month
    year_is: str = "end"
    month: int = 6


@dataclass
class Mapping:
    """A parsed mapping file (see the module docstring for the keys)."""

    path: Path
    produces: str
    file: str
    sheet: str | int | None = None
    header_row: int = 1
    encoding: str = "utf-8"
    #: JSON sources: dotted path to the list of records (blank: the file is the list) and the
    #: object inside each record whose keys are the columns (others are kept, dotted)
    records: str | None = None
    fields_from: str | None = None
    frequency: str = "monthly"
    cumulative: bool = False
    filters: list[tuple[str, Condition]] = field(default_factory=list)
    drop_duplicate_rows: bool = False
    columns: dict[str, list[str]] = field(default_factory=dict)
    constants: dict[str, object] = field(default_factory=dict)
    derive: dict[str, Derive] = field(default_factory=dict)
    wide: list[tuple[dict[str, object], dict[str, str]]] = field(default_factory=list)
    values: dict[str, ValueMap] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    fill_blank: dict[str, object] = field(default_factory=dict)
    aggregate: str | None = None
    allow_negative: list[Condition] = field(default_factory=list)
    description: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    def source_columns(self) -> set[str]:
        """Every source column the mapping names (checked against the file's header)."""
        cols = {c for srcs in self.columns.values() for c in srcs}
        cols |= {c.column for _, c in self.filters} | {c.column for c in self.allow_negative}
        cols |= {d.source for d in self.derive.values()}
        cols |= {c for _, take in self.wide for c in take.values()}
        return cols

    def matches(self, file_name: str) -> bool:
        return fnmatch.fnmatch(file_name.lower(), self.file.lower())


# ------------------------------------------------------------------------------------ parsing


def load_mappings(folder: Path, inputs: AbcMapping[str, Any]) -> list[Mapping]:
    """Every ``*.yaml`` in ``folder`` (sorted by name); ``inputs``: stem -> InputSpec."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise MappingError(f"{p}: not valid YAML ({exc})") from None
        out.append(parse(doc, p, inputs))
    return out


def parse(doc: Any, path: Path, inputs: AbcMapping[str, Any]) -> Mapping:
    """Check a mapping document; raise MappingError naming ``path`` and the field."""
    path = Path(path)

    def bad(fld: str, why: str) -> MappingError:
        return MappingError(f"mapping {path}: field '{fld}': {why}")

    if not isinstance(doc, AbcMapping):
        raise MappingError(f"mapping {path}: expected a mapping of fields")
    unknown = sorted(set(map(str, doc)) - TOP_KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    produces = doc.get("produces")
    if produces not in inputs:
        raise bad("produces", f"{produces!r} is not a canonical input ({', '.join(inputs)})")
    spec = inputs[produces]
    canon = set(spec.columns)

    src = doc.get("source")
    if isinstance(src, str):
        src = {"file": src}
    if not isinstance(src, AbcMapping) or not isinstance(src.get("file"), str):
        raise bad("source.file", "missing: the source file name or glob in the data folder")
    extra = sorted(set(map(str, src)) - SOURCE_KEYS)
    if extra:
        raise bad(f"source.{extra[0]}", f"unknown key (known: {', '.join(sorted(SOURCE_KEYS))})")
    header_row = src.get("header_row", 1)
    if isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1:
        raise bad("source.header_row", "must be a row number from 1")
    encoding = str(src.get("encoding", "utf-8"))
    try:
        "x".encode(encoding)
    except LookupError:
        raise bad("source.encoding", f"unknown encoding {encoding!r}") from None

    for key in ("records", "fields_from"):
        if src.get(key) is not None and (not isinstance(src[key], str) or not src[key].strip()):
            raise bad(f"source.{key}", "must be a dotted path inside the JSON file (a.b.c)")
    m = Mapping(
        path=path,
        produces=produces,
        file=src["file"],
        sheet=src.get("sheet"),
        header_row=header_row,
        encoding=encoding,
        records=src.get("records"),
        fields_from=src.get("fields_from"),
        description=str(doc.get("description") or ""),
    )
    freq = doc.get("frequency", "monthly")
    if freq not in FREQUENCIES:
        raise bad("frequency", f"{freq!r} not one of {', '.join(FREQUENCIES)}")
    m.frequency = freq
    cum = doc.get("cumulative", False)
    if not isinstance(cum, bool):
        raise bad("cumulative", "must be true or false")
    m.cumulative = cum
    dd = doc.get("drop_duplicate_rows", False)
    if not isinstance(dd, bool):
        raise bad("drop_duplicate_rows", "must be true or false")
    m.drop_duplicate_rows = dd

    def condition(c: Any, where: str) -> Condition:
        if not isinstance(c, AbcMapping) or not isinstance(c.get("column"), str):
            raise bad(where, "needs column: and one of in, not_in, matches, blank")
        extra = sorted(set(map(str, c)) - FILTER_KEYS)
        if extra:
            raise bad(
                f"{where}.{extra[0]}", f"unknown key (known: {', '.join(sorted(FILTER_KEYS))})"
            )
        ops = [k for k in ("in", "not_in", "matches", "blank") if k in c]
        if len(ops) != 1:
            raise bad(where, "give exactly one of in, not_in, matches, blank")
        op = ops[0]
        arg = c[op]
        if op in {"in", "not_in"}:
            if not isinstance(arg, list):
                arg = [arg]
            arg = tuple(str(a) for a in arg)
        if op == "matches":
            try:
                re.compile(str(arg))
            except re.error as exc:
                raise bad(f"{where}.matches", f"not a regular expression ({exc})") from None
        return Condition(c["column"], op, arg)

    filters = doc.get("filters") or []
    if not isinstance(filters, list):
        raise bad("filters", "must be a list of keep:/drop: conditions")
    for i, f in enumerate(filters):
        if not isinstance(f, AbcMapping) or len(f) != 1 or next(iter(f)) not in {"keep", "drop"}:
            raise bad(f"filters[{i}]", "each filter is {keep: {...}} or {drop: {...}}")
        kind = next(iter(f))
        m.filters.append((kind, condition(f[kind], f"filters[{i}].{kind}")))
    allow = doc.get("allow_negative") or []
    if isinstance(allow, AbcMapping):
        allow = [allow]
    if not isinstance(allow, list):
        raise bad("allow_negative", "must be a condition or a list of conditions")
    m.allow_negative = [condition(c, f"allow_negative[{i}]") for i, c in enumerate(allow)]

    def canonical(col: Any, where: str) -> str:
        if col not in canon:
            raise bad(where, f"{col!r} is not a column of {produces} ({', '.join(spec.columns)})")
        return col

    cols = doc.get("columns") or {}
    if not isinstance(cols, AbcMapping):
        raise bad("columns", "must map canonical columns to source columns")
    for k, v in cols.items():
        canonical(k, f"columns.{k}")
        srcs = v if isinstance(v, list) else [v]
        if not srcs or not all(isinstance(s, str) and s for s in srcs):
            raise bad(f"columns.{k}", "must name a source column (or a list of them)")
        m.columns[k] = list(srcs)
    consts = doc.get("constants") or {}
    if not isinstance(consts, AbcMapping):
        raise bad("constants", "must map canonical columns to values")
    for k, v in consts.items():
        m.constants[canonical(k, f"constants.{k}")] = v
    der = doc.get("derive") or {}
    if not isinstance(der, AbcMapping):
        raise bad("derive", "must map canonical columns to {from, as}")
    for k, v in der.items():
        canonical(k, f"derive.{k}")
        if not isinstance(v, AbcMapping) or not isinstance(v.get("from"), str):
            raise bad(f"derive.{k}", "needs from: (a source column) and as:")
        extra = sorted(set(map(str, v)) - DERIVE_KEYS)
        if extra:
            raise bad(
                f"derive.{k}.{extra[0]}", f"unknown key (known: {', '.join(sorted(DERIVE_KEYS))})"
            )
        kind = v.get("as")
        if kind not in {"fiscal_year", "last_month", "month"}:
            raise bad(f"derive.{k}.as", "one of fiscal_year, last_month, month")
        year_is = v.get("year_is", "end")
        if year_is not in {"start", "end"}:
            raise bad(
                f"derive.{k}.year_is", "start or end (is the year the fiscal year's first or last?)"
            )
        month = v.get("month", 6)
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            raise bad(f"derive.{k}.month", "a month number 1-12")
        m.derive[k] = Derive(k, v["from"], kind, year_is, month)

    wide = doc.get("wide") or []
    if not isinstance(wide, list):
        raise bad("wide", "must be a list of slices {constants: {...}, columns: {...}}")
    for i, sl in enumerate(wide):
        if not isinstance(sl, AbcMapping) or set(map(str, sl)) - {"constants", "columns"}:
            raise bad(f"wide[{i}]", "a slice has constants: and columns: only")
        sc = dict(sl.get("constants") or {})
        take = dict(sl.get("columns") or {})
        for k in sc:
            canonical(k, f"wide[{i}].constants.{k}")
        for k, v in take.items():
            canonical(k, f"wide[{i}].columns.{k}")
            if not isinstance(v, str):
                raise bad(f"wide[{i}].columns.{k}", "must name one source column")
        if not take:
            raise bad(f"wide[{i}].columns", "a slice takes at least one source column")
        m.wide.append((sc, take))

    vals = doc.get("values") or {}
    if not isinstance(vals, AbcMapping):
        raise bad("values", "must map canonical columns to value maps")
    for k, v in vals.items():
        canonical(k, f"values.{k}")
        if not isinstance(v, AbcMapping):
            raise bad(f"values.{k}", "needs map: and/or registry:")
        extra = sorted(set(map(str, v)) - VALUE_KEYS)
        if extra:
            raise bad(
                f"values.{k}.{extra[0]}", f"unknown key (known: {', '.join(sorted(VALUE_KEYS))})"
            )
        table_doc = v.get("map") or {}
        if not isinstance(table_doc, AbcMapping):
            raise bad(f"values.{k}.map", "must map source names to codes")
        table: dict[str, str] = {}
        for name, code in table_doc.items():
            key = normalise(name)
            if key in table and table[key] != str(code):
                raise bad(f"values.{k}.map", f"{name!r} given twice with different codes")
            table[key] = str(code)
        reg = v.get("registry")
        if reg is not None and reg not in REGISTRIES:
            raise bad(f"values.{k}.registry", f"{reg!r} not one of {', '.join(REGISTRIES)}")
        unmatched = v.get("unmatched", "error")
        if unmatched not in {"error", "drop"}:
            raise bad(f"values.{k}.unmatched", "error or drop")
        m.values[k] = ValueMap(k, table, tuple(map(str, table_doc)), reg, unmatched)

    sc = doc.get("scale") or {}
    if not isinstance(sc, AbcMapping):
        raise bad("scale", "must map canonical amount columns to factors")
    for k, v in sc.items():
        canonical(k, f"scale.{k}")
        if isinstance(v, bool) or not isinstance(v, int | float) or v == 0:
            raise bad(f"scale.{k}", "must be a non-zero number (e.g. 1.0e-6: units to millions)")
        m.scale[k] = float(v)
    fb = doc.get("fill_blank") or {}
    if not isinstance(fb, AbcMapping):
        raise bad("fill_blank", "must map canonical columns to values")
    for k, v in fb.items():
        m.fill_blank[canonical(k, f"fill_blank.{k}")] = v
    agg = doc.get("aggregate")
    if agg not in (None, "sum"):
        raise bad("aggregate", "sum (rows sharing the canonical key are added) or left out")
    m.aggregate = agg
    if m.cumulative and "month" not in canon:
        raise bad("cumulative", f"{produces} has no month column to turn into flows")

    # every canonical column must come from somewhere (optional ones may be left out)
    given = set(m.columns) | set(m.constants) | set(m.derive)
    given |= {k for sc_, take in m.wide for k in (*sc_, *take)}
    for f in spec.fields:
        if f.required and f.name not in given:
            raise bad("columns", f"nothing gives the required column {f.name!r} of {produces}")
    return m


# ---------------------------------------------------------------------------------- applying


@dataclass
class Note:
    """A data note (warning): the load goes on; printed by make data, stored in data_notes."""

    file: str
    row: int | None
    column: str | None
    rule: str
    value: object = None
    #: the department the noted row belongs to (shown in that department's reports)
    department: str | None = None


@dataclass
class Mapped:
    """A canonical frame built from one source file, with where each cell came from.

    ``frame``: canonical columns as text cells (the validators parse them), index 0..n-1.
    ``rows``: per canonical row, the source rows it came from (several after ``aggregate``).
    ``cols``: per canonical row, {canonical column: source column}.
    """

    mapping: Mapping
    display: str
    frame: pd.DataFrame
    rows: list[list[int]]
    cols: list[dict[str, str]]
    notes: list[Note] = field(default_factory=list)
    negative_ok: set[int] = field(default_factory=set)
    filtered: int = 0
    source_rows: int = 0

    def locate(self, index: int, column: str | None) -> tuple[str, str, str | None]:
        """(file, 'row 12' or 'rows 12, 15 (summed)', source column) of a canonical cell."""
        rows = self.rows[index]
        where = f"row {rows[0]}"
        if len(rows) > 1:
            shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
            where = f"rows {shown} (summed, {len(rows)} rows)"
        src = self.cols[index].get(column, column) if column else None
        if src == CONSTANT:
            src = f"{column} (constant in {self.mapping.name})"
        return self.display, where, src


def _text(v: float) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return repr(float(v))


def _number(s: pd.Series) -> pd.Series:
    """Plain numbers (NaN for blank or not a number); spreadsheet numbers pass through."""
    from helpers.data.schemas import parse_number

    return parse_number(s)


def _fy_label(year: int, year_is: str) -> str:
    from helpers.data import calendar

    start = year - 1 if year_is == "end" and calendar.fy_start_month() != 1 else year
    return calendar.fy_label_of(int(start))


def _derive(d: Derive, s: pd.Series) -> pd.Series:
    from helpers.data import calendar

    years = _number(s)
    out = pd.Series(pd.NA, index=s.index, dtype="object")
    ok = years.notna() & (years == np.floor(years))
    for i in s.index[ok]:
        y = int(years[i])
        if d.kind == "fiscal_year":
            out[i] = _fy_label(y, d.year_is)
        elif d.kind == "last_month":
            end = calendar.fy_end(_fy_label(y, d.year_is))
            out[i] = f"{end:%Y-%m}"
        else:
            out[i] = f"{y:04d}-{d.month:02d}"
    bad = s.notna() & ~ok
    out[bad] = s[bad]  # left as given: the validator reports it at the source cell
    return out


def apply(
    m: Mapping,
    source: pd.DataFrame,
    display: str,
    spec,
    registry_names: Callable[[str], dict[str, str]] | None = None,
) -> Mapped:
    """Apply mapping ``m`` to ``source`` (text cells, index = source row numbers).

    ``registry_names(kind)`` gives {name or code: code} for a value map's ``registry:``.
    Raises MappingError when the source lacks a column the mapping names."""
    missing = sorted(c for c in m.source_columns() if c not in source.columns)
    if missing:
        raise MappingError(
            f"mapping {m.path}: {display} has no column {missing[0]!r} "
            f"(header has: {', '.join(map(str, source.columns))})"
        )
    notes: list[Note] = []
    df = source
    n0 = len(df)
    for kind, cond in m.filters:
        hit = cond.test(df[cond.column])
        df = df.loc[hit] if kind == "keep" else df.loc[~hit]
    filtered = n0 - len(df)
    if m.drop_duplicate_rows and len(df):
        dup = df.duplicated(keep="first")
        if dup.any():
            key = df.astype("string").fillna("\x00").agg("\x1f".join, axis=1)
            first = {}
            for i, k in zip(df.index, key, strict=True):
                first.setdefault(k, i)
            for i in df.index[dup]:
                notes.append(
                    Note(
                        display,
                        int(i),
                        None,
                        "exact repeat of an earlier row: dropped",
                        f"row {first[key[i]]}",
                    )
                )
            df = df.loc[~dup]
    neg = pd.Series(False, index=df.index)
    for cond in m.allow_negative:
        neg |= cond.test(df[cond.column])

    # canonical columns shared by all slices
    base: dict[str, pd.Series] = {}
    base_cols: dict[str, str] = {}
    for k, srcs in m.columns.items():
        s = df[srcs[0]]
        if len(srcs) > 1 and k not in m.values:
            for extra in srcs[1:]:
                s = s.where(s.notna(), df[extra])
        base[k] = s
        base_cols[k] = srcs[0]
    for k, d in m.derive.items():
        base[k] = _derive(d, df[d.source])
        base_cols[k] = d.source
    for k, v in m.constants.items():
        base[k] = pd.Series(
            [None if v is None else str(v)] * len(df), index=df.index, dtype="object"
        )
        base_cols[k] = CONSTANT

    # value maps (on the shared columns; a list of source columns is tried in order)
    drop = pd.Series(False, index=df.index)
    for k, vm in m.values.items():
        if k not in base:
            continue
        table = dict(vm.table)
        if vm.registry and registry_names:
            for name, code in registry_names(vm.registry).items():
                table.setdefault(normalise(name), code)
        srcs = m.columns.get(k, [base_cols[k]])
        result = pd.Series(pd.NA, index=df.index, dtype="object")
        used = pd.Series(base_cols[k], index=df.index, dtype="object")
        for src in srcs:
            col = df[src] if src in df.columns else base[k]
            hit = col.map(lambda v, t=table: t.get(normalise(v)) if pd.notna(v) else None)
            take = result.isna() & hit.notna()
            result[take] = hit[take]
            used[take] = src
        miss = result.isna() & base[k].notna()
        if vm.unmatched == "drop":
            for name, rows in base[k][miss].groupby(base[k][miss]).groups.items():
                notes.append(
                    Note(
                        display,
                        int(rows[0]),
                        srcs[0],
                        f"no {k} matches the name: rows dropped (unmatched: drop)",
                        f"{name!r}, {len(rows)} row(s)",
                    )
                )
            drop |= miss
        result[miss] = base[k][miss]  # unmatched left as given: the validator names it
        base[k] = result
        base_cols[k] = used  # type: ignore[assignment]
    if drop.any():
        keep = ~drop
        df = df.loc[keep]
        neg = neg.loc[keep]
        base = {k: v.loc[keep] for k, v in base.items()}
        base_cols = {
            k: (v.loc[keep] if isinstance(v, pd.Series) else v) for k, v in base_cols.items()
        }

    slices = m.wide or [({}, {})]
    parts, rows, cols, negs = [], [], [], []
    for consts, take in slices:
        part = pd.DataFrame(index=df.index)
        colmap = {}
        for k, s in base.items():
            part[k] = s
        for k, v in consts.items():
            part[k] = None if v is None else str(v)
            colmap[k] = CONSTANT
        for k, src in take.items():
            part[k] = df[src]
            colmap[k] = src
        if take:  # a slice whose value cells are all blank has nothing to say
            has = pd.concat([df[src].notna() for src in take.values()], axis=1).any(axis=1)
            part = part.loc[has]
        for k, fill in m.fill_blank.items():
            if k in part.columns and (k in take or k in base):
                part[k] = part[k].where(part[k].notna(), str(fill))
        per_row = [
            {
                **{k: (v.loc[i] if isinstance(v, pd.Series) else v) for k, v in base_cols.items()},
                **colmap,
            }
            for i in part.index
        ]
        parts.append(part)
        rows += [[int(i)] for i in part.index]
        cols += per_row
        negs += list(neg.loc[part.index])
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    for f in spec.fields:
        if f.name not in frame.columns:
            frame[f.name] = pd.Series([None] * len(frame), dtype="object")
    frame = frame[spec.columns].astype("object")
    frame = frame.where(frame.notna(), None)

    # scale: parse, multiply, back to text (a cell that does not parse stays as given)
    for k, factor in m.scale.items():
        num = _number(frame[k]) if len(frame) else pd.Series(dtype="float64")
        ok = num.notna()
        frame.loc[ok, k] = (num[ok] * factor).map(_text)

    out = Mapped(m, display, frame.reset_index(drop=True), rows, cols, notes, filtered=filtered)
    out.source_rows = n0
    out.negative_ok = {i for i, v in enumerate(negs) if v}
    if m.aggregate == "sum":
        _aggregate(out, spec)
    if m.cumulative:
        _to_flows(out, spec)
    return out


def _amount_columns(spec) -> list[str]:
    return [f.name for f in spec.fields if f.kind == "number" and f.name not in spec.key]


def _aggregate(out: Mapped, spec) -> None:
    """Sum rows that share the canonical key (rows whose amounts do not parse stay apart)."""
    f = out.frame
    if not len(f):
        return
    amounts = _amount_columns(spec)
    nums = {c: _number(f[c]) for c in amounts}
    parse_ok = pd.Series(True, index=f.index)
    for c in amounts:
        parse_ok &= f[c].isna() | nums[c].notna()
    key = f[list(spec.key)].astype("string").fillna("\x00").agg("\x1f".join, axis=1)
    key = key.where(parse_ok, "\x02" + f.index.astype(str))
    groups = f.groupby(key, sort=False).groups
    if len(groups) == len(f):
        return
    new_rows, new_cols, keep_idx, neg = [], [], [], set()
    frame = f.copy()
    for idxs in groups.values():
        idxs = list(idxs)
        first = idxs[0]
        if len(idxs) > 1:
            for c in amounts:
                vals = nums[c].loc[idxs]
                frame.loc[first, c] = _text(vals.sum()) if vals.notna().any() else None
        keep_idx.append(first)
        new_rows.append(sorted({r for i in idxs for r in out.rows[i]}))
        new_cols.append(out.cols[first])
        if all(i in out.negative_ok for i in idxs) or (len(idxs) == 1 and first in out.negative_ok):
            neg.add(len(keep_idx) - 1)
    out.frame = frame.loc[keep_idx].reset_index(drop=True)
    out.rows, out.cols, out.negative_ok = new_rows, new_cols, neg


def _to_flows(out: Mapped, spec) -> None:
    """Year-to-date values to flows: per key (without the month) and fiscal year, each month's
    value less the previous reported month's; the first reported month of a year stays."""
    from helpers.data.schemas import month_fy, parse_month_series

    f = out.frame
    if not len(f):
        return
    month = parse_month_series(f["month"])
    fy = month_fy(month)
    amounts = _amount_columns(spec)
    group_cols = [c for c in spec.key if c != "month"]
    keys = (
        f[group_cols].astype("string").fillna("\x00").agg("\x1f".join, axis=1)
        + "\x1f"
        + fy.fillna("?")
    )
    order = pd.DataFrame({"k": keys, "m": month}).sort_values(["k", "m"]).index
    for c in amounts:
        v = _number(f[c])
        s = pd.DataFrame({"k": keys, "v": v}).loc[order]
        prev = s.groupby("k")["v"].shift(1)
        flow = s["v"] - prev.fillna(0)
        flow = flow.where(month.loc[order].notna())
        ok = v.loc[order].notna()
        f.loc[flow.index[ok], c] = flow[ok].map(_text)


def registry_lookup(registry, chart) -> Callable[[str], dict[str, str]]:
    """{name or code: code} for each ``registry:`` kind of a value map."""

    def names(kind: str) -> dict[str, str]:
        out: dict[str, str] = {}
        if kind == "departments":
            d = registry.departments
            out.update({s: s for s in d["slug"]})
            out.update(dict(zip(d["name"], d["slug"], strict=True)))
        elif kind == "districts":
            d = registry.districts
            out.update({p: p for p in d["pcode"]})
            out.update(dict(zip(d["name"], d["pcode"], strict=True)))
        elif kind == "entities":
            d = registry.entities
            out.update({e: e for e in d["entity_id"]})
            out.update(dict(zip(d["name"], d["entity_id"], strict=True)))
        elif kind == "object_classes":
            out.update({c.code: c.code for c in chart.object_classes})
            out.update({c.name: c.code for c in chart.object_classes})
        elif kind == "funds":
            out.update({f: f for f in chart.funds})
        return out

    return names
