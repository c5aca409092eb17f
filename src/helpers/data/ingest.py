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

This module is the loading step and the CLI. Reading is :mod:`helpers.data.readers`, validation
:mod:`helpers.data.validate`, plausibility warnings :mod:`helpers.data.plausibility`, the
warehouse columns :mod:`helpers.data.tables`; the names callers use from those are re-exported
here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

from helpers import interrupts, paths
from helpers import profile as profiles
from helpers.data import mapping as mappings
from helpers.data import survey_instrument, tables, warehouse_lock
from helpers.data.groups import INPUT_GROUPS
from helpers.data.plausibility import plausibility
from helpers.data.readers import (
    InputError,
    RawFile,
    _display,
    read_csv,
    read_input,
    read_json,
    read_sav,
    read_source,
    read_xlsx,
)
from helpers.data.registry import Registry, RegistryError, load_registry
from helpers.data.validate import (
    MAX_MESSAGES_PER_FILE,
    Outcome,
    _rule_name,
    chart_names,
    collect,
    rating_columns,
)
from helpers.hashing import (
    sha256_file,
)

__all__ = [
    "MAX_MESSAGES_PER_FILE",
    "SCHEMA_VERSION",
    "TABLES",
    "InputError",
    "Outcome",
    "RawFile",
    "build_warehouse",
    "chart_names",
    "cli",
    "collect",
    "current_checksums",
    "default_data_dir",
    "group_ranges",
    "loaded_checksums",
    "log_notes",
    "main",
    "notes_frame",
    "plausibility",
    "rating_columns",
    "read_csv",
    "read_input",
    "read_json",
    "read_sav",
    "read_source",
    "read_xlsx",
    "run",
    "write_rejected",
]

SCHEMA_VERSION = "7"


# the warehouse tables (one definition: helpers.data.tables)
TABLES = tables.TABLES


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
        interrupts.check()  # a Ctrl-C a DuckDB read swallowed still keeps the old warehouse
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
