"""Validate the input files and (re)build the DuckDB warehouse.

``python -m helpers.cli data [--data-dir DIR] [--warehouse PATH] [--rejected-dir DIR]``

- The data directory is ``--data-dir``, else ``$DATA_DIR``, else ``data/raw``. When it is the
  default ``data/raw`` and holds no files, the sample data are generated into it first.
- Every file is validated (see :mod:`helpers.data.schemas`); all problems are collected and
  printed as ``<file> row <n>, column <c>: <rule> (<value>)``; rejected rows go to
  ``<rejected-dir>/<file>.csv`` (default ``data/rejected`` beside the warehouse) with the reason.
- Any problem: exit code 1 and the existing warehouse is left byte-identical. Otherwise the
  warehouse is built in a temporary file beside the target and moved into place atomically.
- When the checksums of every input equal those already loaded, nothing is rebuilt.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import io
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from helpers import paths
from helpers import profile as profiles
from helpers.data import mapping as mappings
from helpers.data import schemas, survey_instrument, tables, warehouse_lock
from helpers.data.groups import INPUT_GROUPS
from helpers.data.registry import Registry, RegistryError, load_registry
from helpers.data.schemas import (
    SPECS,
    SURVEY_FILE_RE,
    Context,
    InputSpec,
)

SCHEMA_VERSION = "7"
# the warehouse tables (one definition: helpers.data.tables)
TABLES = tables.TABLES
MAX_MESSAGES_PER_FILE = 20



class InputError(Exception):
    """A whole file cannot be read (missing, empty, not UTF-8, corrupt, bad header)."""


@dataclass
class RawFile:
    """An input file read as cells; ``frame.index`` holds the row numbers used in messages."""

    path: Path
    display: str
    frame: pd.DataFrame
    row_word: str = "row"
    sha256: str = ""
    #: mapped sources: where a canonical cell came from, (file, 'row 12', source column)
    locate: object = None
    #: name of the rejected-rows file (default: the input file's name)
    rejected_name: str | None = None
    #: canonical rows a mapping marked as lines that may be negative
    negative_rows: frozenset = frozenset()

    def where(self, index, column: str | None) -> tuple[str, str, str | None]:
        if self.locate is not None:
            return self.locate(index, column)
        return self.display, f"{self.row_word} {index}", column


@dataclass
class Outcome:
    """Everything one ingestion run found: typed tables, messages, rejected rows, checksums."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    rejected: dict[str, pd.DataFrame] = field(default_factory=dict)
    sources: list[tuple[str, str, int, str]] = field(default_factory=list)
    provided: set[str] = field(default_factory=set)
    #: rows rejected, per file: {file: {rule: rows}} (each row counted once, by its first rule)
    rejected_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: plausibility warnings and mapping notes (the load goes on); stored in data_notes
    notes: list[mappings.Note] = field(default_factory=list)
    #: per loaded input: where its typed rows came from (RawFile.where)
    origin: dict[str, RawFile] = field(default_factory=dict)
    #: extra load_info keys (frequency of each mapped input, mappings used)
    info: dict[str, str] = field(default_factory=dict)
    #: per mapped input: amount column -> scale factor (to see amounts in source units)
    scales: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.messages

    @property
    def rows_rejected(self) -> int:
        return sum(sum(c.values()) for c in self.rejected_counts.values())

    def summary(self) -> str:
        """'38,012 rows rejected in 3 files: 37,950 unknown department, 51 duplicate key, ...'"""
        by_rule: dict[str, int] = {}
        for counts in self.rejected_counts.values():
            for rule, n in counts.items():
                by_rule[rule] = by_rule.get(rule, 0) + n
        n = self.rows_rejected
        files = sum(1 for c in self.rejected_counts.values() if c)
        parts = ", ".join(f"{v:,} {k}" for k, v in sorted(by_rule.items(), key=lambda kv: -kv[1]))
        head = (
            f"{n:,} row{'s' if n != 1 else ''} rejected in {files} file{'s' if files != 1 else ''}"
            + (f": {parts}" if parts else "")
        )
        file_level = len(self.messages) - self.row_messages
        if file_level > 0:
            head += f"; {file_level} file-level problem{'s' if file_level != 1 else ''}"
        return head

    row_messages: int = 0


# ---------------------------------------------------------------------------------------- reading


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _blank_to_na(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            t = s.astype("string").str.strip()
            out[c] = t.where(t != "")
    return out


def read_csv(
    path: Path, display: str, encoding: str = "utf-8", header_row: int = 1
) -> pd.DataFrame:
    """CSV as text cells. UTF-8 (a BOM is accepted); other encodings are rejected clearly
    unless a mapping declares the file's encoding (``encoding: latin-1``)."""
    data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{display}: file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        if encoding.lower().replace("_", "-") not in {"utf-8", "utf8"}:
            raise InputError(
                f"{display} row {line}: not {encoding} text (byte 0x{data[exc.start]:02x}) as "
                "its mapping declares"
            ) from None
        raise InputError(
            f"{display} row {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}, e.g. a latin-1 "
            "export); save the file as 'CSV UTF-8' (or declare encoding: in a mapping)"
        ) from None
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_values=[],
            skip_blank_lines=False,
            skiprows=header_row - 1,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(f"{display}: not a readable CSV file ({str(exc).strip()})") from None
    df.columns = [str(c).strip() for c in df.columns]
    _check_header(list(df.columns), display)
    df.index = pd.RangeIndex(header_row + 1, len(df) + header_row + 1)
    return _blank_to_na(df)


def _check_header(header: list[str], display: str) -> None:
    """Row 1 must name each column once (a repeated name makes the column ambiguous)."""
    seen: set[str] = set()
    dups = [h for h in header if h and (h in seen or seen.add(h))]
    if dups:
        raise InputError(
            f"{display} row 1: column name(s) {', '.join(repr(d) for d in dict.fromkeys(dups))} "
            "appear more than once in the header"
        )


def _cell_text(v) -> object:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


def read_xlsx(path: Path, display: str, sheet=None, header_row: int = 1) -> pd.DataFrame:
    """A worksheet (default the first) as text cells; ``header_row`` (default 1) is the header."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if sheet is None:
                ws = wb.worksheets[0]
            elif isinstance(sheet, int):
                ws = wb.worksheets[sheet - 1]
            elif sheet in wb.sheetnames:
                ws = wb[sheet]
            else:
                raise InputError(
                    f"{display}: no worksheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})"
                )
            rows = [tuple(_cell_text(v) for v in r) for r in ws.iter_rows(values_only=True)]
            rows = rows[header_row - 1 :]
        finally:
            wb.close()
    except InputError:
        raise
    except Exception as exc:  # openpyxl raises many types for damaged files
        kind = type(exc).__name__
        raise InputError(
            f"{display}: cannot read the Excel workbook (truncated or corrupt? {kind}: {exc})"
        ) from None
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    if not rows:
        raise InputError(f"{display}: file is empty")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    _check_header(header, display)
    width = len(header)
    body = [list(r[:width]) + [None] * (width - len(r)) for r in rows[1:]]
    df = pd.DataFrame(body, columns=header, dtype=object)
    df = df.loc[:, [h != "" for h in header]]
    df.index = pd.RangeIndex(header_row + 1, len(df) + header_row + 1)
    return _blank_to_na(df)


def read_sav(path: Path, display: str) -> pd.DataFrame:
    """SPSS system file (codes, not value labels); cases numbered from 1."""
    import pyreadstat

    if path.stat().st_size == 0:
        raise InputError(f"{display}: file is empty")
    try:
        df, _meta = pyreadstat.read_sav(str(path))
    except Exception as exc:  # pyreadstat.ReadstatError and friends
        raise InputError(
            f"{display}: cannot read the SPSS file (truncated or corrupt? {exc})"
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    _check_header(list(df.columns), display)
    df.index = pd.RangeIndex(1, len(df) + 1)
    return _blank_to_na(df)


def read_input(path: Path, display: str) -> RawFile:
    """Read any supported input by extension (.csv, .xlsx, .sav)."""
    ext = path.suffix.lower()
    if ext == ".csv":
        frame, word = read_csv(path, display), "row"
    elif ext == ".xlsx":
        frame, word = read_xlsx(path, display), "row"
    elif ext == ".sav":
        frame, word = read_sav(path, display), "case"
    else:
        raise InputError(f"{display}: unsupported file type {ext!r} (use .csv or .xlsx)")
    return RawFile(path, display, frame, word, sha256_file(path))


# ------------------------------------------------------------------------------------- validation


def _fmt_value(v) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, float) and v.is_integer():
        return str(v)
    return str(v)


def _rule_name(rule: str) -> str:
    """The rule without its detail, for counts: 'unknown department (not in the registry)' ->
    'unknown department'; 'duplicate key (a, b)' -> 'duplicate key'."""
    return rule.split(" (")[0].strip()


def _suggest(column: str | None, value, ctx: Context, reg: Registry | None) -> str:
    """'; closest: ...' (difflib) or '; valid: ...' for an unknown code."""
    if not isinstance(value, str) or column is None:
        return ""
    named: dict[str, str] = {}  # candidate text -> code shown
    if column == "department" and reg is not None:
        d = reg.departments
        named = {s: s for s in d["slug"]} | dict(zip(d["name"], d["slug"], strict=True))
    elif column == "district_pcode" and reg is not None:
        d = reg.districts
        named = {p: p for p in d["pcode"]} | dict(zip(d["name"], d["pcode"], strict=True))
    elif column == "entity_id" and reg is not None:
        d = reg.entities
        named = {e: e for e in d["entity_id"]} | dict(zip(d["name"], d["entity_id"], strict=True))
    elif column == "target_id":
        named = {t: t for t in ctx.target_departments}
    elif column == "object_class":
        chart = profiles.active().chart
        named = {c.code: c.code for c in chart.object_classes} | chart_names(chart)
    if not named:
        return ""
    hits = mappings.closest(value, list(named))
    if hits:
        shown = []
        for h in hits:
            code = named[h]
            shown.append(repr(code) if code == h else f"{code!r} ({h})")
        return "; closest: " + ", ".join(dict.fromkeys(shown))
    codes = sorted(set(named.values()))
    more = f", ... ({len(codes)} in all)" if len(codes) > 14 else ""
    return "; valid: " + ", ".join(codes[:14]) + more


def chart_names(chart) -> dict[str, str]:
    return {c.name: c.code for c in chart.object_classes}


def _validate(
    raw: RawFile, spec: InputSpec, ctx: Context, out: Outcome, reg: Registry | None = None
) -> pd.DataFrame | None:
    """Both pandera passes over **all** rows (a format problem does not hide a content one);
    messages, per-rule counts and rejected rows into ``out``; typed valid rows returned."""
    absent = [f.name for f in spec.fields if f.optional_column and f.name not in raw.frame.columns]
    if absent:  # an optional column left out of the file reads as blank
        raw = dataclasses.replace(raw, frame=raw.frame.assign(**{c: None for c in absent}))
    missing = [c for c in spec.columns if c not in raw.frame.columns]
    if missing:
        out.messages.append(
            f"{raw.display}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)} (header has: {', '.join(map(str, raw.frame.columns))})"
        )
        return None
    frame = raw.frame[spec.columns]
    problems = schemas.failures(schemas.format_schema(spec), frame, spec.key)
    bad_cells = {(p.index, p.column) for p in problems if p.index is not None}
    bad_rows = {p.index for p in problems if p.index is not None}
    typed = schemas.parse_frame(spec, frame)
    if raw.negative_rows:
        ctx = dataclasses.replace(ctx, negative_rows=raw.negative_rows)
    row_rules = {
        str(c.error).split("|", 1)[1]
        for c in (spec.frame_rules(ctx) if spec.frame_rules else [])
        if "|" in str(c.error)
    }
    key_na = typed[list(spec.key)].isna().any(axis=1) if spec.key else None
    for p in schemas.failures(schemas.content_schema(spec, ctx), typed, spec.key):
        if p.index in bad_rows:
            # no cascades inside a row: a cell that did not parse is not checked again, nor
            # are the rules across columns or the key of a row with an unparsed cell
            if (p.index, p.column) in bad_cells or p.rule in row_rules:
                continue
            if p.rule.startswith("duplicate key") and key_na is not None and key_na.loc[p.index]:
                continue
        problems.append(p)
    problems.sort(key=lambda p: p.index if p.index is not None else -1)

    # a row whose parent row was rejected is counted once, as "<parent> rejected"
    parent = SPECS.get(spec.parent) if spec.parent else None
    gone = ctx.rejected.get(spec.parent, {}) if parent else {}
    if gone and all(c in frame.columns for c in parent.key):
        keys = _row_keys(frame, parent.key)
        parent_rejected = {i: k for i, k in keys.items() if k in gone}
        problems = [p for p in problems if p.index not in parent_rejected]
        shown_col = parent.key[-1] if len(parent.key) == 1 else parent.key[0]
        for i, k in parent_rejected.items():
            problems.append(
                schemas.Problem(
                    shown_col,
                    f"{parent.noun} rejected (in {parent.stem}, {gone[k]})",
                    k[0] if len(k) == 1 else " ".join(k),
                    i,
                )
            )
        problems.sort(key=lambda p: p.index if p.index is not None else -1)

    reasons: dict[int, list[str]] = {}
    first_rule: dict[int, str] = {}
    shown = 0
    for p in problems:
        if p.index is None:
            out.messages.append(f"{raw.display}: {p.rule} {p.column!r}")
            continue
        reasons.setdefault(p.index, []).append(f"{p.column}: {p.rule}")
        first_rule.setdefault(p.index, _rule_name(p.rule))
        if shown < MAX_MESSAGES_PER_FILE:
            value = "" if p.value is None else f" ({_fmt_value(p.value)})"
            hint = _suggest(p.column, p.value, ctx, reg) if p.rule.startswith("unknown ") else ""
            display, where, column = raw.where(p.index, p.column)
            out.messages.append(f"{display} {where}, column {column}: {p.rule}{value}{hint}")
            out.row_messages += 1
        shown += 1
    if shown > MAX_MESSAGES_PER_FILE:
        out.messages.append(
            f"{raw.display}: ... and {shown - MAX_MESSAGES_PER_FILE} more problems (all rows in the rejected file)"
        )
        out.row_messages += 1
    counts: dict[str, int] = {}
    for rule in first_rule.values():
        counts[rule] = counts.get(rule, 0) + 1
    if counts:
        out.rejected_counts[raw.display] = counts
    if reasons:
        rej = raw.frame.loc[sorted(reasons)].copy()
        rej.insert(0, "reason", ["; ".join(reasons[i]) for i in rej.index])
        if raw.locate is not None:
            loc = [raw.where(i, None) for i in rej.index]
            rej.insert(0, "source_row", [w for _, w, _ in loc])
            rej.insert(0, "source_file", [f for f, _, _ in loc])
        else:
            rej.insert(0, raw.row_word, rej.index)
        out.rejected[raw.rejected_name or raw.path.name] = rej
    if reasons and any(c.parent == spec.stem for c in SPECS.values()):
        keys = _row_keys(frame, spec.key)
        valid = {keys[i] for i in frame.index if i not in reasons}
        gone = ctx.rejected.setdefault(spec.stem, {})
        for i in sorted(reasons):
            k = keys[i]
            if all(isinstance(v, str) for v in k) and k not in valid:
                gone.setdefault(k, raw.where(i, None)[1])
    return typed.loc[~typed.index.isin(reasons)]


def _row_keys(frame: pd.DataFrame, columns) -> dict:
    """Row index -> tuple of the key columns' stripped text (None where blank)."""
    cols = [frame[c].astype("string").str.strip() for c in columns]
    return {
        i: tuple(None if pd.isna(c[i]) else str(c[i]) for c in cols) for i in frame.index
    }


def _find(
    data_dir: Path, stem: str, formats: tuple[str, ...], display_dir: str, out: Outcome
) -> Path | None:
    found = [
        data_dir / f"{stem}.{ext}" for ext in formats if (data_dir / f"{stem}.{ext}").is_file()
    ]
    if not found:
        names = " or ".join(f"{stem}.{e}" for e in formats)
        out.messages.append(
            f"{display_dir}/{stem}.{formats[0]}: missing input file (expected {names})"
        )
        return None
    if len(found) > 1:
        out.messages.append(
            f"{display_dir}: both {found[0].name} and {found[1].name} present; keep exactly one"
        )
        return None
    return found[0]


def _ctx(reg: Registry) -> Context:
    return Context(
        departments=reg.slugs,
        districts=reg.pcodes,
        entities=reg.entity_ids,
        services=reg.services,
    )


def _survey_tables(
    wave: pd.Timestamp, typed: pd.DataFrame, services: list[str], instrument=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """survey_respondents and survey_ratings rows of one wave (non-answer codes -> NULL).

    Ratings: one row per respondent and service used (or per respondent and service when the
    service's items are asked of everyone); columns satisfaction (the instrument's outcome),
    KP's five attributes (NULL when the instrument has none of that name) and the instrument's
    other attributes."""
    inst = instrument or survey_instrument.active()

    def codes(s: pd.Series, scale) -> pd.Series:
        na = list(scale.non_answer_codes)
        return (s.where(~s.isin(na)) if na else s).astype("Int64")

    resp = pd.DataFrame({"wave": wave, "respondent_id": typed["respondent_id"]})
    for col in ("district_pcode", "psu", "weight", "stratum", "stratum_population"):
        resp[col] = typed[col] if col in typed.columns else None
    if inst.stratum_column is None:
        resp["stratum"] = None
    for col in ("gender", "age_band", "area"):
        resp[col] = typed[col] if col in typed.columns else None
    overall = inst.overall_item
    resp["overall_satisfaction"] = (
        codes(typed["overall_satisfaction"], overall.scale)
        if overall is not None
        else pd.array([pd.NA] * len(typed), dtype="Int64")
    )
    columns = rating_columns(inst)
    parts = []
    for s in services:
        if inst.needs_used(s):
            used = typed[f"{inst.used_prefix}_{s}"].fillna(False).astype(bool)
            everyone = any(i.asked == "everyone" for i in inst.service_items.values())
            sub = typed if everyone else typed.loc[used]
        else:
            sub = typed
        part = pd.DataFrame({"wave": wave, "respondent_id": sub["respondent_id"], "service": s})
        for col in columns:
            name = inst.outcome if col == "satisfaction" else col
            item = inst.items.get(name)
            if item is None or not item.per_service:
                part[col] = pd.array([pd.NA] * len(sub), dtype="Int64")
            else:
                part[col] = codes(sub[item.canonical(s)], item.scale)
        parts.append(part)
    cols = ["wave", "respondent_id", "service", *columns]
    ratings = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    return resp, ratings


KP_RATING_COLUMNS = survey_instrument.KP_RATING_COLUMNS
assert KP_RATING_COLUMNS == tuple(c for c, _ in TABLES["survey_ratings"][0][3:])


def rating_columns(inst) -> list[str]:
    """survey_ratings' rating columns: satisfaction, KP's attributes, then the instrument's
    other attributes (in its order)."""
    extra = [a for a in inst.attributes if a not in KP_RATING_COLUMNS]
    return [*KP_RATING_COLUMNS, *extra]


def _survey_canonical(raw: RawFile, inst, services: list[str], out: Outcome) -> RawFile | None:
    """The wave file with the instrument's columns under their canonical names (KP's), text
    labels recoded to codes and category values to levels; problems name the file's columns."""
    d = inst.design
    source: dict[str, str] = {"respondent_id": inst.respondent_id}
    if inst.geography is not None:
        source["district_pcode"] = inst.geography
    for canon, col in (("psu", d.psu), ("weight", d.weight), ("stratum_population", d.fpc)):
        if col is not None:
            source[canon] = col
    if inst.stratum_column == "stratum":
        source["stratum"] = d.strata
    for name, cat in inst.categories.items():
        source[name] = cat.column
    if inst.overall_item is not None:
        source["overall_satisfaction"] = inst.overall_item.column
    scales = {}
    if inst.overall_item is not None:
        scales["overall_satisfaction"] = inst.overall_item.scale
    for s in services:
        if inst.needs_used(s):
            source[f"{inst.used_prefix}_{s}"] = f"{inst.used_prefix}_{s}"
        for item in inst.service_items.values():
            source[item.canonical(s)] = item.source(s)
            scales[item.canonical(s)] = item.scale
    frame = raw.frame
    optional = {item.canonical(s) for s in services for item in inst.service_items.values()}
    missing = [
        (c, src) for c, src in source.items() if src not in frame.columns and c not in optional
    ]
    if missing:
        shown = ", ".join(repr(src) + (f" ({c})" if c != src else "") for c, src in missing)
        out.messages.append(
            f"{raw.display}: missing column{'s' if len(missing) > 1 else ''} {shown} "
            f"(the survey instrument {inst.path or 'default'} names them)"
        )
        return None
    renamed = {c: src for c, src in source.items() if c != src}
    changed = False
    new = frame.copy() if renamed else frame
    for c, src in source.items():
        if src not in frame.columns:  # an optional item not in this file: all blank
            new = new.copy() if new is frame else new
            new[c] = None
            changed = True
            continue
        col = frame[src]
        textual = col.dtype == object or pd.api.types.is_string_dtype(col)
        if c in scales and textual and (scales[c].labels or scales[c].non_answer_labels):
            rec = scales[c].recode_text(col)
            if not rec.equals(col):
                new = new.copy() if new is frame else new
                new[c], changed = rec, True
                continue
        if c in inst.categories and textual:
            rec = inst.categories[c].recode(col)
            if not rec.equals(col):
                new = new.copy() if new is frame else new
                new[c], changed = rec, True
                continue
        if c == "district_pcode" and textual and inst.geography_values:
            rec = col.map(
                lambda v: (
                    inst.geography_values.get(survey_instrument.normalise(v), v)
                    if isinstance(v, str)
                    else v
                )
            ).astype("object")
            new = new.copy() if new is frame else new
            new[c], changed = rec, True
            continue
        if c != src:
            new[c] = col
    if not renamed and not changed:
        return raw

    def locate(index, column, raw=raw):
        return raw.display, f"{raw.row_word} {index}", source.get(column, column)

    return dataclasses.replace(raw, frame=new, locate=locate if renamed else None)


def _survey_totals(
    display: str, typed: pd.DataFrame, inst, registry: Registry, out: Outcome
) -> None:
    """Rules across the rows of a wave: the weights sum to their totals; every raking cell
    has respondents (file-level messages: nothing loads)."""
    d = inst.design
    rule_tol = f"tolerance {survey_instrument.TOLERANCE:.1%}"
    if d.weights_sum_to is not None and len(typed):
        w = typed["weight"].astype(float)
        if d.weights_sum_to == "fpc":
            by = inst.stratum_column
            keys = typed[by] if by is not None else pd.Series("all", index=typed.index)
            sw = w.groupby(keys).sum()
            pop = typed["stratum_population"].astype(float).groupby(keys).first()
            for k in sw.index:
                if abs(sw[k] - pop[k]) > survey_instrument.TOLERANCE * pop[k]:
                    unit = {"district_pcode": "district", "stratum": "stratum"}.get(by, "file")
                    out.messages.append(
                        f"{display} {unit} {k}, column {d.weight}: weights sum to {sw[k]:,.1f} "
                        f"but {d.fpc} is {pop[k]:,.1f} (rule: the weights of a stratum sum to "
                        f"its population, design.weights_sum_to: fpc; {rule_tol})"
                    )
        else:
            total = float(d.weights_sum_to)
            if abs(w.sum() - total) > survey_instrument.TOLERANCE * total:
                out.messages.append(
                    f"{display}, column {d.weight}: weights sum to {w.sum():,.1f} but "
                    f"design.weights_sum_to is {total:,.1f} (rule: the weights sum to the "
                    f"population total; {rule_tol})"
                )
    for i, m in enumerate(d.raking):
        if "district_pcode" in m.variables:
            unknown = sorted(
                {k[m.variables.index("district_pcode")] for k in m.totals} - set(registry.pcodes)
            )
            if unknown:
                out.messages.append(
                    f"{inst.path}: field 'design.raking[{i}].totals', column district_pcode: "
                    f"unknown district {unknown[0]!r} (rule: raking cells are registry units)"
                )
                continue
        have = (
            set(map(tuple, typed[list(m.variables)].astype(str).to_numpy()))
            if len(typed)
            else set()
        )
        empty = [k for k in m.totals if k not in have]
        if empty:
            out.messages.append(
                f"{display}: no respondent in raking cell {', '.join(m.variables)} = "
                f"{', '.join(empty[0])} of {inst.path}, field 'design.raking[{i}]' (rule: "
                "every cell with a population total needs respondents to be raked)"
            )


def collect(data_dir: Path, registry: Registry, display_dir: str | None = None) -> Outcome:
    """Read and validate every input; return typed warehouse tables or the problems found."""
    out = Outcome()
    display_dir = display_dir or str(data_dir)
    ctx = _ctx(registry)
    for src in registry.sources:
        out.sources.append((_display(src), sha256_file(src), 0, "registry"))
    out.tables["departments"] = registry.departments
    out.tables["districts"] = registry.districts
    out.tables["entities"] = registry.entities
    out.tables["survey_services"] = registry.survey_services

    prof = profiles.active()
    maps = mappings.load_mappings(prof.mappings_dir, SPECS)  # MappingError: exit 2
    files = sorted(p for p in data_dir.iterdir() if p.is_file()) if data_dir.is_dir() else []
    mapped: dict[str, list[tuple[mappings.Mapping, Path]]] = {}
    for m in maps:
        for p in files:
            if m.matches(p.name):
                mapped.setdefault(m.produces, []).append((m, p))
    for m in maps:
        out.sources.append((_display(m.path), sha256_file(m.path), 0, "mapping"))
    lookup = mappings.registry_lookup(registry, prof.chart)

    def exists(stem: str) -> bool:
        return stem in mapped or any(
            (data_dir / f"{stem}.{e}").is_file() for e in SPECS[stem].formats
        )

    def load_mapped(stem: str) -> RawFile | None:
        spec = SPECS[stem]
        parts: list[mappings.Mapped] = []
        for m, path in mapped[stem]:
            display = f"{display_dir}/{path.name}"
            try:
                src = read_source(path, display, m)
            except InputError as exc:
                out.messages.append(f"{exc} (read through mapping {m.name})")
                continue
            out.sources.append((path.name, sha256_file(path), len(src), spec.table))
            part = mappings.apply(m, src, display, spec, lookup)
            out.notes += part.notes
            parts.append(part)
            out.info[f"frequency.{stem}"] = m.frequency
            out.info[f"cumulative.{stem}"] = str(m.cumulative).lower()
            if m.scale:
                out.scales[stem] = dict(m.scale)
        for e in spec.formats:
            if (data_dir / f"{stem}.{e}").is_file():
                out.notes.append(
                    mappings.Note(
                        f"{display_dir}/{stem}.{e}",
                        None,
                        None,
                        f"not read: a mapped source replaces it ({', '.join(sorted({m.name for m, _ in mapped[stem]}))})",
                    )
                )
        if not parts:
            return None
        frame = pd.concat([p.frame for p in parts], ignore_index=True)
        offsets, n = [], 0
        for p in parts:
            offsets.append(n)
            n += len(p.frame)

        def locate(index, column, parts=parts, offsets=offsets):
            k = max(i for i, o in enumerate(offsets) if o <= index)
            return parts[k].locate(index - offsets[k], column)

        neg = frozenset(o + i for p, o in zip(parts, offsets, strict=True) for i in p.negative_ok)
        display = (
            parts[0].display if len(parts) == 1 else f"{stem} (mapped from {len(parts)} files)"
        )
        return RawFile(
            data_dir,
            display,
            frame,
            locate=locate,
            rejected_name=f"{stem}.csv",
            negative_rows=neg,
        )

    def load(stem: str) -> pd.DataFrame | None:
        spec = SPECS[stem]
        if stem in mapped:
            raw = load_mapped(stem)
            if raw is None:
                return None
        else:
            path = _find(data_dir, stem, spec.formats, display_dir, out)
            if path is None:
                return None
            display = f"{display_dir}/{path.name}"
            try:
                raw = read_input(path, display)
            except InputError as exc:
                out.messages.append(str(exc))
                return None
            out.sources.append((path.name, raw.sha256, len(raw.frame), spec.table))
        typed = _validate(raw, spec, ctx, out, registry)
        out.origin[stem] = raw
        return typed

    # Which input groups are provided: any of a group's files present. A provided group needs
    # all its required files; its missing optional files load as empty tables.
    wanted: list[str] = []
    for group, (required, optional) in INPUT_GROUPS.items():
        stems = required + optional
        if not stems or not any(exists(s) for s in stems):
            continue
        out.provided.add(group)
        for stem in required:
            if not exists(stem):
                others = ", ".join(s for s in stems if exists(s))
                out.messages.append(
                    f"{display_dir}/{stem}.{SPECS[stem].formats[0]}: missing input file "
                    f"(the {group} inputs need it: {others} present)"
                )
        wanted += [s for s in stems if exists(s)]

    if "budget_allocations" in wanted:
        alloc = load("budget_allocations")
        if alloc is not None:
            ctx.fiscal_years = frozenset(alloc["fiscal_year"].dropna())
            out.tables["budget_allocations"] = alloc
    if "budget_monthly" in wanted:
        monthly = load("budget_monthly")
        if monthly is not None:
            monthly = monthly.copy()
            monthly["fiscal_year"] = (
                schemas.month_fy(monthly["month"]).astype(str)
                if len(monthly)
                else pd.Series(dtype=str)
            )
            out.tables["budget_monthly"] = monthly
    if "targets" in wanted:
        targets = load("targets")
        if targets is not None:
            ctx.target_departments = dict(
                zip(targets["target_id"], targets["department"], strict=True)
            )
            ctx.target_frequencies = dict(
                zip(targets["target_id"], targets["frequency"].fillna("monthly"), strict=True)
            )
            out.tables["targets"] = targets
    for stem in (
        "target_trajectory",
        "target_actuals",
        "milestones",
        "ratings",
        "actions",
        "revenue",
        "pse_returns",
        "contracts",
        "contract_kpis",
        "contract_progress",
    ):
        if stem in wanted:
            typed = load(stem)
            if typed is not None:
                out.tables[stem] = typed
                if stem == "contracts":
                    ctx.contracts = frozenset(
                        zip(typed["department"], typed["fiscal_year"], strict=True)
                    )
                elif stem == "contract_kpis":
                    ctx.kpi_years = dict(zip(typed["kpi_id"], typed["fiscal_year"], strict=True))

    # survey: one file per wave, survey_YYYY-MM.{sav,csv,xlsx} (or named in the instrument's
    # files:), read as the profile's survey instrument defines it
    inst = survey_instrument.active(prof)  # InstrumentError (a MappingError): exit 2
    if inst.geography is not None and prof.geography is None:
        raise survey_instrument.InstrumentError(
            f"{inst.path}: field 'geography.column': the profile {prof.name} has no geography "
            "(no districts or regions): leave geography out of the instrument"
        )
    if inst.path is not None:
        out.sources.append((_display(inst.path), sha256_file(inst.path), 0, "survey_instrument"))
    named = {p.name: p for p in files if p.name in inst.files}
    files = [p for p in files if p.name.startswith("survey_") and p.name not in named]
    waves: dict[str, Path] = {}
    for p in files:
        m = SURVEY_FILE_RE.match(p.name)
        if not m:
            out.messages.append(
                f"{display_dir}/{p.name}: not a survey file name (expected survey_YYYY-MM.sav/.csv/.xlsx)"
            )
            continue
        if m.group(1) in waves:
            out.messages.append(
                f"{display_dir}: two files for survey wave {m.group(1)}; keep exactly one"
            )
            continue
        waves[m.group(1)] = p
    for name, p in sorted(named.items()):
        label = inst.files[name]
        if label in waves:
            out.messages.append(
                f"{display_dir}: two files for survey wave {label} ({waves[label].name}, {name}); "
                "keep exactly one"
            )
            continue
        waves[label] = p
    if waves:
        out.provided.add("survey")
    resp_parts, rating_parts = [], []
    for label, path in sorted(waves.items()):
        display = f"{display_dir}/{path.name}"
        try:
            wave = pd.Timestamp(schemas.parse_month(pd.Series([label])).iloc[0])
        except (TypeError, ValueError):
            wave = pd.NaT
        if pd.isna(wave):
            out.messages.append(f"{display}: wave month {label!r} in the file name is not a month")
            continue
        try:
            raw = read_input(path, display)
        except InputError as exc:
            out.messages.append(str(exc))
            continue
        present = inst.present_services(raw.frame.columns, registry.services)
        spec = schemas.survey_spec(tuple(present), inst)
        prefixes = (inst.used_prefix, *{i.prefix or i.name for i in inst.service_items.values()})
        d_ = inst.design
        for c in raw.frame.columns:
            head, _, svc = c.partition("_")
            if (
                head in prefixes
                and svc
                and c not in spec.columns
                and c not in {i.column for i in inst.items.values()}
                and c not in {d_.weight, d_.psu, d_.strata, d_.fpc, inst.respondent_id}
            ):
                out.messages.append(
                    f"{display}: column {c!r} names a service not in the registry ({svc!r})"
                )
        out.sources.append(
            (path.name, raw.sha256, len(raw.frame), "survey_respondents,survey_ratings")
        )
        canon = _survey_canonical(raw, inst, present, out)
        if canon is None:
            continue
        typed = _validate(canon, spec, ctx, out, registry)
        if typed is not None:
            _survey_totals(display, typed, inst, registry, out)
            r, t = _survey_tables(wave, typed, present, inst)
            resp_parts.append(r)
            rating_parts.append(t)
    if resp_parts:
        out.tables["survey_respondents"] = pd.concat(resp_parts, ignore_index=True)
        out.tables["survey_ratings"] = pd.concat(rating_parts, ignore_index=True)
    if "budget" in out.provided:
        monthly = out.tables.get("budget_monthly")
        annual_only = monthly is None or not len(monthly)
        out.info["budget.frequency"] = out.info.get(
            "frequency.budget_monthly",
            out.info.get("frequency.budget_allocations", "monthly") if annual_only else "monthly",
        )
        # the warehouse always holds flows: a cumulative source is converted at load
        out.info["budget.source_cumulative"] = out.info.get("cumulative.budget_monthly", "false")
        out.info["budget.stored_as"] = "flows"
    used = sorted({m.name for lst in mapped.values() for m, _ in lst})
    if used:
        out.info["mappings"] = ",".join(used)
    if out.ok:
        out.notes += plausibility(out)
    return out


def read_source(path: Path, display: str, m: mappings.Mapping) -> pd.DataFrame:
    """A mapped source file as text cells (index = source row numbers), as its mapping says."""
    ext = path.suffix.lower()
    if ext == ".csv":
        return read_csv(path, display, encoding=m.encoding, header_row=m.header_row)
    if ext == ".xlsx":
        return read_xlsx(path, display, sheet=m.sheet, header_row=m.header_row)
    if ext == ".sav":
        return read_sav(path, display)
    if ext == ".json":
        return read_json(path, display, m.records, m.fields_from, m.encoding)
    raise InputError(f"{display}: unsupported file type {ext!r} (use .csv, .xlsx or .json)")


def _dig(value, path: str | None, display: str, where: str):
    for part in (path or "").split(".") if path else []:
        if not isinstance(value, dict) or part not in value:
            raise InputError(f"{display}: {where}: no {part!r} (path {path!r})")
        value = value[part]
    return value


def read_json(
    path: Path, display: str, records: str | None, fields_from: str | None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """A JSON list of records as text cells, one row per record (row 1 = the first record):
    the keys of ``fields_from`` inside each record are the columns, under their own names;
    the record's other values are columns named by their dotted path (a list of numbers,
    e.g. [lon, lat], gives one column per element: center.0, center.1)."""
    import json

    try:
        doc = json.loads(path.read_bytes().decode(encoding))
    except UnicodeDecodeError as exc:
        raise InputError(f"{display}: not {encoding} text (byte offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{display} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    rows = _dig(doc, records, display, "records")
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{display}: expected a non-empty list of records at {records or 'the top'}")
    out = []
    for i, rec in enumerate(rows, start=1):
        if not isinstance(rec, dict):
            raise InputError(f"{display} record {i}: not an object")
        flat: dict[str, object] = {}

        def walk(v, prefix: str, skip: str | None, flat=flat) -> None:
            if prefix and prefix == skip:
                return
            if isinstance(v, dict):
                for k, x in v.items():
                    walk(x, f"{prefix}.{k}" if prefix else str(k), skip)
            elif isinstance(v, list) and all(not isinstance(x, dict | list) for x in v):
                for k, x in enumerate(v):
                    flat[f"{prefix}.{k}"] = x
            else:
                flat[prefix] = v

        walk(rec, "", fields_from)
        if fields_from:
            own = _dig(rec, fields_from, display, f"record {i}")
            if not isinstance(own, dict):
                raise InputError(f"{display} record {i}: {fields_from!r} is not an object")
            flat |= {str(k): v for k, v in own.items()}
        out.append({k: None if v is None else str(v) for k, v in flat.items()})
    df = pd.DataFrame(out, dtype="object")
    df.columns = [str(c).strip() for c in df.columns]
    _check_header(list(df.columns), display)
    df.index = pd.RangeIndex(1, len(df) + 1)
    return _blank_to_na(df)


# ------------------------------------------------------------------------------- plausibility

YEAR_RANGE = (1990, 2100)
LINE_MEDIAN_FACTOR = 10
YEAR_ON_YEAR_FACTOR = 1000
AMOUNTS = {
    "budget_allocations": ("budget_estimate", "revised_estimate"),
    "budget_monthly": ("release", "expenditure"),
    "revenue": ("budget_estimate", "actual"),
    "pse_returns": (
        "own_revenue",
        "grants_received",
        "expenditure",
        "liabilities",
        "assets",
        "cash",
    ),
}


def _looks_like_date(v: float) -> str | None:
    """'a year' for whole numbers 1990..2100 (not a multiple of 100); 'a date' for YYYYMMDD."""
    if not np.isfinite(v) or v != np.floor(v):
        return None
    n = int(abs(v))
    if YEAR_RANGE[0] <= n <= YEAR_RANGE[1] and n % 100:
        return "a year"
    if 19900101 <= n <= 21001231:
        try:
            dt.date(n // 10000, n // 100 % 100, n % 100)
            return "a date (YYYYMMDD)"
        except ValueError:
            return None
    return None


def plausibility(out: Outcome) -> list[mappings.Note]:
    """Warnings (the load goes on): zero BE with spending, a line over 10x its department's
    median line, amounts that look like years or dates, a total 1000x off the previous year."""
    notes: list[mappings.Note] = []

    def note(stem: str, index, column: str, rule: str, value) -> None:
        t = out.tables[stem]
        dept = str(t.at[index, "department"]) if "department" in t.columns else None
        raw = out.origin.get(stem)
        if raw is None:
            notes.append(mappings.Note(stem, None, column, rule, value, dept))
            return
        display, where, col = raw.where(index, column)
        m = re.match(r"(?:row|case)s? (\d+)", where)
        row = int(m.group(1)) if m else None
        notes.append(mappings.Note(display, row, col, rule, value, dept))

    for stem, cols in AMOUNTS.items():
        t = out.tables.get(stem)
        if t is None or not len(t):
            continue
        scale = out.scales.get(stem, {})
        for c in cols:
            v = t[c].dropna()
            src = v / scale.get(c, 1.0)  # as written in the source file
            kinds = src.map(_looks_like_date)
            for i, k in kinds.dropna().items():
                note(stem, i, c, f"amount looks like {k}", _fmt_value(float(src[i])))

    alloc = out.tables.get("budget_allocations")
    monthly = out.tables.get("budget_monthly")
    if alloc is not None and len(alloc):
        key = ["department", "fiscal_year", "fund", "object_class"]
        if monthly is not None and len(monthly):
            spent = monthly.groupby(key)["expenditure"].sum()
            j = alloc.join(spent.rename("_spent"), on=key)
            hit = (j["budget_estimate"] == 0) & (j["_spent"] > 0)
            for i in j.index[hit]:
                note(
                    "budget_allocations",
                    i,
                    "budget_estimate",
                    "zero budget estimate with spending",
                    f"spent {j.at[i, '_spent']:.6g}",
                )
        # a line over 10x the median of the same line (department, fund, object class) in
        # the other fiscal years: salary lines are routinely 10-50x a department's median
        # line in real budgets, so the median is taken over the line's own years
        be = alloc["budget_estimate"]
        line = ["department", "fund", "object_class"]
        pos = be.where(be > 0)
        n = pos.groupby([alloc[c] for c in line]).transform("count")
        med = pos.groupby([alloc[c] for c in line]).transform("median")
        hit = (be > LINE_MEDIAN_FACTOR * med) & (n >= 3)
        for i in alloc.index[hit]:
            note(
                "budget_allocations",
                i,
                "budget_estimate",
                f"line over {LINE_MEDIAN_FACTOR}x its median over the years",
                f"{be[i]:.6g} (median over {int(n[i])} years {med[i]:.6g})",
            )
        tot = alloc.groupby(["department", "fiscal_year"])["budget_estimate"].sum().reset_index()
        tot["_start"] = tot["fiscal_year"].map(calendar_start_year)
        tot = tot.sort_values(["department", "_start"])
        tot["_prev"] = tot.groupby("department")["budget_estimate"].shift(1)
        tot["_prev_start"] = tot.groupby("department")["_start"].shift(1)
        ratio = tot["budget_estimate"] / tot["_prev"]
        off = (
            (tot["_prev"] > 0)
            & (tot["budget_estimate"] > 0)
            & (tot["_start"] - tot["_prev_start"] == 1)
            & ((ratio > YEAR_ON_YEAR_FACTOR) | (ratio < 1 / YEAR_ON_YEAR_FACTOR))
        )
        for _, r in tot.loc[off].iterrows():
            first = alloc.index[
                (alloc["department"] == r["department"])
                & (alloc["fiscal_year"] == r["fiscal_year"])
            ][0]
            raw = out.origin.get("budget_allocations")
            display = raw.where(first, None)[0] if raw is not None else "budget_allocations"
            notes.append(
                mappings.Note(
                    display,
                    None,
                    "budget_estimate",
                    f"{r['department']} {r['fiscal_year']}: total {YEAR_ON_YEAR_FACTOR}x off "
                    "the previous year",
                    f"{r['budget_estimate']:.6g} against {r['_prev']:.6g}",
                    r["department"],
                )
            )
    return notes


def calendar_start_year(fy) -> int | None:
    from helpers.data import calendar

    try:
        return calendar.fy_start_year(str(fy))
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------- loading


def _display(path: Path) -> str:
    """A path as messages and the recorded checksums name it: relative to the project when
    inside it (the same from any working directory), else to the working directory, else as
    given."""
    full = Path(path).resolve()
    for base in (paths.ROOT, Path.cwd()):
        try:
            return str(full.relative_to(Path(base).resolve()))
        except ValueError:
            continue
    return str(path)


# The month columns that give each input group its own range of months.
GROUP_MONTHS: dict[str, tuple[tuple[str, str], ...]] = {
    "budget": (("budget_monthly", "month"),),
    "stocktake": (("target_trajectory", "month"), ("target_actuals", "month")),
    "pse": (("pse_returns", "quarter_end"),),
    "contracts": (("contract_progress", "month"),),
    "survey": (("survey_respondents", "wave"),),
}


def group_ranges(tables: dict[str, pd.DataFrame]) -> dict[str, tuple[dt.date, dt.date]]:
    """First and last month of each input group that has data (groups without rows left out)."""
    out = {}
    for group, cols in GROUP_MONTHS.items():
        months = [
            pd.to_datetime(tables[t][c]).dropna()
            for t, c in cols
            if t in tables and c in tables[t].columns and len(tables[t])
        ]
        months = [m for m in months if len(m)]
        alloc = tables.get("budget_allocations")
        if group == "budget" and alloc is not None and len(alloc):
            # The budget's own fiscal years count too (first month of the first year to the
            # first month of the last: the latest budget adopted), so an annual budget whose
            # executed amounts end earlier can still be reported for its later years.
            from helpers.data import calendar

            years = sorted(set(alloc["fiscal_year"].dropna()), key=calendar.fy_start_year)
            ends = [calendar.fy_start(years[0]), calendar.fy_start(years[-1])]
            months.append(pd.to_datetime(pd.Series(ends)))
        if not months:
            continue
        allm = pd.concat(months)
        lo, hi = allm.min(), allm.max()
        out[group] = (dt.date(lo.year, lo.month, 1), dt.date(hi.year, hi.month, 1))
    return out


def _load_info(
    tables: dict[str, pd.DataFrame], extra: dict[str, str] | None = None
) -> pd.DataFrame:
    prof = profiles.active()
    ranges = group_ranges(tables)
    first = min(lo for lo, _ in ranges.values())
    last = max(hi for _, hi in ranges.values())
    spent = tables.get("budget_monthly")
    if spent is not None and len(spent) and spent["month"].notna().any():
        hi = pd.Timestamp(spent["month"].max())
        as_of = dt.date(hi.year, hi.month, 1)  # the last month with budget execution data
    else:
        as_of = ranges["budget"][1] if "budget" in ranges else last
    info = {
        "data_as_of": f"{as_of:%Y-%m-%d}",
        "first_month": f"{first:%Y-%m-%d}",
        "last_month": f"{last:%Y-%m-%d}",
        "inputs": ",".join(sorted(ranges)),
        **{f"months.{g}": f"{lo:%Y-%m-%d}..{hi:%Y-%m-%d}" for g, (lo, hi) in ranges.items()},
        "profile": prof.name,
        "fy_start_month": str(prof.fy_start_month),
        "loaded_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "schema_version": SCHEMA_VERSION,
    }
    rev = tables.get("revenue")
    if rev is not None and len(rev):  # every report's data slice: PI-3 assessed or not
        years = sorted(set(rev["fiscal_year"].dropna().astype(str)))
        info["revenue.fiscal_years"] = f"{years[0]}..{years[-1]}"
    if "budget" in ranges:  # the defaults of an unmapped (monthly, flows) budget
        info |= {
            "budget.frequency": "monthly",
            "budget.source_cumulative": "false",
            "budget.stored_as": "flows",
        }
    info |= extra or {}
    return pd.DataFrame({"key": list(info), "value": list(info.values())})


def _empty_table(name: str) -> pd.DataFrame:
    cols, _ = TABLES[name]
    return pd.DataFrame({c: pd.Series([], dtype="object") for c, _ in cols})


def notes_frame(notes: list[mappings.Note]) -> pd.DataFrame:
    """The data_notes table: file, row, column, rule, value (one row per note)."""
    return pd.DataFrame(
        {
            "file": [n.file for n in notes],
            "row": pd.array([n.row for n in notes], dtype="Int64"),
            "column": [n.column for n in notes],
            "rule": [n.rule for n in notes],
            "value": [None if n.value is None else str(n.value) for n in notes],
            "department": [n.department for n in notes],
        }
    )


def build_warehouse(
    target: Path,
    tables: dict[str, pd.DataFrame],
    sources: list[tuple[str, str, int, str]],
    notes: list[mappings.Note] | None = None,
    info: dict[str, str] | None = None,
) -> None:
    """Write all tables into a temporary DuckDB file beside ``target``, then replace it atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    # Also what a killed load left (``run`` holds the exclusive lock: no other load is live).
    for p in (tmp, *target.parent.glob(f".{target.name}.*.tmp*")):
        p.unlink(missing_ok=True)
    tables = dict(tables)
    for name in TABLES:
        if name not in tables and name not in {"load_info", "source_files"}:
            tables[name] = _empty_table(name)
    ddl = _with_survey_columns(tables)
    if notes is not None:
        tables["data_notes"] = notes_frame(notes)
    tables["load_info"] = _load_info(tables, info)
    tables["source_files"] = pd.DataFrame(sources, columns=["file", "sha256", "rows", "table_name"])
    try:
        con = duckdb.connect(str(tmp))
        try:
            for name, (cols, order) in ddl.items():
                df = tables[name]
                df = df[[c for c, _ in cols]].reset_index(drop=True)
                con.register("_src", df)
                select = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in cols)
                ddl = ", ".join(f'"{c}" {t}' for c, t in cols)
                con.execute(f'CREATE TABLE "{name}" ({ddl})')
                con.execute(
                    f'INSERT INTO "{name}" SELECT {select} FROM _src ORDER BY {", ".join(order)}'
                )
                con.unregister("_src")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, target)
    finally:
        for p in (tmp, Path(f"{tmp}.wal")):
            p.unlink(missing_ok=True)


def _with_survey_columns(tables: dict[str, pd.DataFrame]) -> dict:
    """TABLES, with survey_ratings extended by the instrument's own attribute columns."""
    ratings = tables.get("survey_ratings")
    cols, order = TABLES["survey_ratings"]
    known = {c for c, _ in cols}
    extra = [c for c in (ratings.columns if ratings is not None else []) if c not in known]
    if not extra:
        return TABLES
    return TABLES | {"survey_ratings": ([*cols, *((c, "SMALLINT") for c in extra)], order)}


def loaded_checksums(target: Path) -> dict[str, str] | None:
    """{file: sha256} recorded in an existing warehouse (None when absent or unreadable)."""
    if not Path(target).is_file():
        return None
    try:
        con = duckdb.connect(str(target), read_only=True)
        try:
            rows = con.execute("SELECT file, sha256 FROM source_files").fetchall()
            ver = con.execute("SELECT value FROM load_info WHERE key = 'schema_version'").fetchone()
        finally:
            con.close()
    except duckdb.Error:
        return None
    if not ver or ver[0] != SCHEMA_VERSION:
        return None
    return dict(rows)


def current_checksums(data_dir: Path, registry: Registry) -> dict[str, str]:
    """{file: sha256} of the registry sources, the profile's mapping files and every input
    file in ``data_dir``."""
    sums = {_display(src): sha256_file(src) for src in registry.sources}
    inst = survey_instrument.path_for()
    if inst.is_file():
        sums[_display(inst)] = sha256_file(inst)
    mdir = profiles.active().mappings_dir
    if mdir.is_dir():
        for p in sorted(mdir.glob("*.yaml")) + sorted(mdir.glob("*.yml")):
            sums[_display(p)] = sha256_file(p)
    for p in sorted(data_dir.iterdir()):
        if p.is_file() and p.suffix.lower() in {".csv", ".xlsx", ".sav", ".json"}:
            sums[p.name] = sha256_file(p)
    return sums


def write_rejected(rejected_dir: Path, rejected: dict[str, pd.DataFrame]) -> list[Path]:
    """Replace ``rejected_dir/*.csv`` with this run's rejected rows (one file per input)."""
    rejected_dir = Path(rejected_dir)
    if rejected_dir.is_dir():
        for old in rejected_dir.glob("*.csv"):
            old.unlink()
    written = []
    if rejected:
        rejected_dir.mkdir(parents=True, exist_ok=True)
        for name, df in rejected.items():
            p = rejected_dir / f"{Path(name).stem}.csv"
            df.to_csv(p, index=False)
            written.append(p)
    return written


def default_data_dir() -> Path:
    return paths.raw_dir()


def run(
    data_dir: Path,
    warehouse: Path,
    rejected_dir: Path | None = None,
    *,
    force: bool = False,
    registry: Registry | None = None,
    log=print,
) -> int:
    """Validate and load; return the exit code (0 ok or unchanged, 1 invalid input, 2 setup
    problem, 3 the warehouse is busy: a report run or another load holds it)."""
    try:
        with warehouse_lock.hold(Path(warehouse), shared=False):
            return _run(data_dir, warehouse, rejected_dir, force=force, registry=registry, log=log)
    except warehouse_lock.WarehouseBusy as exc:
        log(f"error: {exc}", file=sys.stderr)
        return 3


def _run(data_dir, warehouse, rejected_dir, *, force, registry, log) -> int:
    t0 = time.perf_counter()
    data_dir = Path(data_dir)
    warehouse = Path(warehouse)
    rejected_dir = Path(rejected_dir) if rejected_dir else warehouse.parent / "rejected"
    display_dir = _display(data_dir)
    if not data_dir.is_dir():
        log(f"error: data directory {display_dir} does not exist", file=sys.stderr)
        return 2
    try:
        reg = registry or load_registry()
    except RegistryError as exc:
        log(f"error: registry: {exc}", file=sys.stderr)
        return 2
    if not force and loaded_checksums(warehouse) == current_checksums(data_dir, reg):
        log(
            f"{_display(warehouse)} is up to date: inputs unchanged since the last load (nothing to do)"
        )
        return 0
    try:
        outcome = collect(data_dir, reg, display_dir)
    except mappings.MappingError as exc:
        log(f"error: {exc}", file=sys.stderr)
        return 2
    if outcome.ok and not group_ranges(outcome.tables):
        outcome.messages.append(
            f"{display_dir}: no input data (no rows in any of the budget, stocktake, survey or "
            "PSE files); see docs/data-dictionary.md for the file names"
        )
    write_rejected(rejected_dir, outcome.rejected)
    if not outcome.ok:
        log(
            f"error: {outcome.summary()}; the warehouse was not changed",
            file=sys.stderr,
        )
        for m in outcome.messages:
            log(f"  {m}", file=sys.stderr)
        if outcome.rejected:
            log(f"rejected rows written to {_display(rejected_dir)}/", file=sys.stderr)
        return 1
    build_warehouse(warehouse, outcome.tables, outcome.sources, outcome.notes, outcome.info)
    if outcome.notes:
        log_notes(outcome.notes, log)
    counts = ", ".join(f"{k} {len(v):,}" for k, v in outcome.tables.items())
    log(f"loaded {_display(warehouse)} in {time.perf_counter() - t0:.1f} s: {counts}")
    ranges = group_ranges(outcome.tables)
    missing = [g for g in INPUT_GROUPS if g not in ranges]
    log(
        f"profile {profiles.active().name}: inputs "
        + ", ".join(f"{g} {lo:%Y-%m}..{hi:%Y-%m}" for g, (lo, hi) in ranges.items())
        + (f"; not provided: {', '.join(missing)}" if missing else "")
    )
    return 0


MAX_NOTES_SHOWN = 30


def log_notes(notes: list[mappings.Note], log=print) -> None:
    """'warning: 3 data notes (the load went on; stored in data_notes): ...'"""
    by_rule: dict[str, int] = {}
    for n in notes:
        r = _rule_name(re.sub(r"^\S+ \S+: ", "", n.rule) if "total" in n.rule else n.rule)
        by_rule[r] = by_rule.get(r, 0) + 1
    parts = ", ".join(f"{v:,} {k}" for k, v in sorted(by_rule.items(), key=lambda kv: -kv[1]))
    log(
        f"warning: {len(notes):,} data note{'s' if len(notes) != 1 else ''} (the load went on; stored in data_notes): {parts}"
    )
    for n in notes[:MAX_NOTES_SHOWN]:
        where = f" row {n.row}" if n.row is not None else ""
        col = f", column {n.column}" if n.column else ""
        value = f" ({n.value})" if n.value is not None else ""
        log(f"  {n.file}{where}{col}: {n.rule}{value}")
    if len(notes) > MAX_NOTES_SHOWN:
        log(f"  ... and {len(notes) - MAX_NOTES_SHOWN:,} more (table data_notes)")


def _print(*args, file=None) -> None:
    print(*args, file=file or sys.stdout)


def cli(argv: list[str] | None = None) -> int:
    """``python -m helpers.cli data`` entry point."""
    ap = argparse.ArgumentParser(
        prog="python -m helpers.cli data",
        description="Validate the input files and (re)build the warehouse.",
    )
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="input directory (default: $DATA_DIR, else data/raw)",
    )
    ap.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        help="DuckDB file to build (default: $KP_WAREHOUSE, else data/warehouse.duckdb)",
    )
    ap.add_argument(
        "--rejected-dir",
        type=Path,
        default=None,
        help="where rejected rows go (default: 'rejected' beside the warehouse)",
    )
    ap.add_argument(
        "--force", action="store_true", help="rebuild even when the inputs are unchanged"
    )
    ap.add_argument(
        "--profile",
        default=None,
        help="jurisdiction profile (default: $KP_PROFILE, else suite.yaml)",
    )
    args = ap.parse_args(argv)
    try:
        prof = profiles.select(args.profile)
    except profiles.ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env_dir = os.environ.get("DATA_DIR")
    data_dir = args.data_dir or (Path(env_dir) if env_dir else default_data_dir())
    warehouse = args.warehouse or paths.warehouse_path()
    try:
        is_default = data_dir.resolve() == default_data_dir().resolve()
        if is_default and (not data_dir.exists() or not any(data_dir.iterdir())):
            from helpers.data.sample import write_sample

            print(f"{_display(data_dir)} is empty: generating the {prof.name} sample data first")
            write_sample(data_dir)
        return run(data_dir, warehouse, args.rejected_dir, force=args.force, log=_print)
    except duckdb.InterruptException:  # Ctrl-C inside a DuckDB statement
        print("interrupted: the warehouse was not changed", file=sys.stderr)
        return 130
    except (OSError, duckdb.Error) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the warehouse is replaced atomically: the old one stands
        print("interrupted: the warehouse was not changed", file=sys.stderr)
        return 130


def main() -> int:
    return cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
