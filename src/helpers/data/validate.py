"""Validation: every input file checked against its schema (:mod:`helpers.data.schemas`) or
mapping, all problems collected as ``<file> row <n>, column <c>: <rule> (<value>)`` and bad
rows set aside with their reason (:func:`collect` -> :class:`Outcome`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from helpers import profile as profiles
from helpers.data import mapping as mappings
from helpers.data import schemas, survey_instrument, tables
from helpers.data.groups import INPUT_GROUPS
from helpers.data.plausibility import (
    plausibility,
)
from helpers.data.readers import (
    InputError,
    RawFile,
    _display,
    _fmt_value,
    read_input,
    read_source,
)
from helpers.data.registry import Registry
from helpers.data.schemas import (
    SPECS,
    SURVEY_FILE_RE,
    Context,
    InputSpec,
)
from helpers.hashing import (
    sha256_file,
)

MAX_MESSAGES_PER_FILE = 20


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
    return {i: tuple(None if pd.isna(c[i]) else str(c[i]) for c in cols) for i in frame.index}


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


assert KP_RATING_COLUMNS == tuple(c for c, _ in tables.TABLES["survey_ratings"][0][3:])


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
            wave = pd.Timestamp(schemas.parse_month_series(pd.Series([label])).iloc[0])
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
