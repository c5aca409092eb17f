"""Read access to the DuckDB warehouse: the only module that opens it.

Every function opens the file **read-only** (many report workers read at once; see
docs/architecture.md) and returns a pandas DataFrame with rows in a stable order and DATE
columns as ``datetime64``. The path is :func:`helpers.paths.warehouse_path` (``KP_WAREHOUSE``
overrides). A connection is reused within a process until the file on disk changes (the loader
replaces the file atomically, so a changed inode/mtime means a new build).

pandas is imported on first use: the engine's driver reads the warehouse facts it plans a run
with (registry, data range, slice checksums: :func:`rows`, :func:`registry_rows`,
:func:`load_info`, :func:`slice_checksum`) without it, which is 0.3-0.4 s sooner to the first
report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import duckdb

from helpers import lazy, paths
from helpers.data.calendar import as_month

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = lazy.module("pandas", globals(), "pd")


class _OneLine:
    """IPython (JupyterLab) shows this error as its one message line, not a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class UnknownDepartment(_OneLine, KeyError):
    """The slug is not in the registry; ``suggestions`` are the closest registered slugs."""

    def __init__(self, slug: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(slug)
        self.slug = slug
        self.suggestions = tuple(suggestions)

    def __str__(self) -> str:
        text = f"unknown department {self.slug!r} (not in the registry)"
        if self.suggestions:
            text += "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        return text


class BadMonth(_OneLine, ValueError):
    """A report month that is malformed or outside the loaded data."""


def closest_slugs(slug: str, known: Sequence[str], n: int = 3) -> list[str]:
    """Registered slugs closest to ``slug``: a case-insensitive match first, then by spelling."""
    text = str(slug).strip().lower().replace(" ", "-").replace("_", "-")
    exact = [k for k in known if k.lower() == text]
    if exact:
        return exact
    import difflib

    close = difflib.get_close_matches(text, list(known), n=n, cutoff=0.6)
    contains = [k for k in known if text and (text in k or k in text) and k not in close]
    return (close + contains)[:n]


class WarehouseMissing(FileNotFoundError):
    """The warehouse file does not exist yet (run `make data`)."""


_lock = threading.Lock()
_state: dict[str, object] = {}


def _stamp(path: Path) -> tuple:
    st = path.stat()
    return (str(path), st.st_ino, st.st_mtime_ns, st.st_size)


def connect(read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A new connection to the warehouse (read-only unless asked otherwise). Caller closes it."""
    path = paths.warehouse_path()
    if read_only and not path.is_file():
        raise WarehouseMissing(f"warehouse {path} not found: run `make data` first")
    return duckdb.connect(str(path), read_only=read_only)


def _con() -> duckdb.DuckDBPyConnection:
    """The process-wide read-only connection, reopened when the file was rebuilt."""
    path = paths.warehouse_path()
    if not path.is_file():
        raise WarehouseMissing(f"warehouse {path} not found: run `make data` first")
    stamp = _stamp(path)
    with _lock:
        if _state.get("stamp") != stamp or _state.get("pid") != os.getpid():
            old = _state.get("con")
            if old is not None and _state.get("pid") == os.getpid():
                try:
                    old.close()
                except duckdb.Error:
                    pass
            _state.clear()
            _state.update(
                con=duckdb.connect(str(path), read_only=True), stamp=stamp, pid=os.getpid()
            )
        return _state["con"]


def _run(sql: str, params: Sequence | dict | None, fetch):
    con = _con()
    with _lock:
        cur = con.cursor()
    try:
        rel = cur.execute(sql, params) if params is not None else cur.execute(sql)
        return fetch(rel)
    finally:
        cur.close()


def query(sql: str, params: Sequence | dict | None = None) -> pd.DataFrame:
    """Run SQL read-only and return a DataFrame (DATE columns as datetime64)."""
    return _run(sql, params, lambda rel: rel.df())


def rows(sql: str, params: Sequence | dict | None = None) -> list[tuple]:
    """Run SQL read-only and return its rows as tuples (no pandas)."""
    return _run(sql, params, lambda rel: rel.fetchall())


def _scalar(sql: str, params=None):
    df = query(sql, params)
    return None if df.empty else df.iloc[0, 0]


def _memo(key: tuple, compute):
    """``compute()``, remembered for as long as the process's connection is to the same file
    (a rebuilt warehouse reopens it and forgets everything). Kept for what many reports of one
    kernel read alike; a DataFrame is handed out as a copy, so no report changes another's."""
    _con()
    with _lock:
        memo = cast(dict, _state.setdefault("memo", {}))
        hit = memo.get(key)
    if hit is None:
        hit = compute()
        with _lock:
            memo[key] = hit
    frames = sys.modules.get("pandas")  # without pandas imported, no hit is a DataFrame
    return hit.copy() if frames is not None and isinstance(hit, frames.DataFrame) else hit


def _check(slug: str | None) -> str | None:
    if slug is None:
        return None
    known = _memo(
        ("known", slug),
        lambda: bool(rows("SELECT 1 FROM departments WHERE slug = ? LIMIT 1", [slug])),
    )
    if not known:
        slugs = query("SELECT DISTINCT slug FROM departments ORDER BY slug")["slug"].tolist()
        raise UnknownDepartment(slug, closest_slugs(slug, slugs))
    return slug


def notebook_department(slug: str) -> str:
    """The department a notebook opened in JupyterLab reports on: ``slug`` when registered.

    The notebooks' literal default (``params/suite.yaml``'s, e.g. ``health``) is a KP slug; under
    a profile whose registry lacks it, the profile's ``default_department`` stands in (so every
    notebook runs top to bottom under every shipped profile). Batch runs always inject a
    registered slug, so they never take the fallback. Anything else unknown raises
    :class:`UnknownDepartment` with the closest slugs.
    """
    try:
        return _check(slug)
    except UnknownDepartment:
        from helpers import profile as profiles

        fallback = profiles.active().default_department
        if fallback and slug in _suite_department_defaults():
            print(
                f"note: {slug!r} is not a department of the {profiles.active().name} profile; "
                f"showing its default department {fallback!r}"
            )
            return _check(fallback)
        raise


def _suite_department_defaults() -> set[str]:
    import yaml

    suite = yaml.safe_load(
        (Path(os.environ.get("KP_PARAMS", paths.PARAMS_DIR)) / "suite.yaml").read_text()
    )
    return {
        str(f["parameters"]["department"]["default"])
        for f in suite["families"].values()
        if "department" in f.get("parameters", {})
    }


def report_month(month: str) -> dt.date:
    """The first day of the report month ``month`` ('YYYY-MM'), inside the loaded data.

    Raises :class:`BadMonth` (one line in JupyterLab) naming the valid range and closest month.
    """
    from helpers.data.calendar import parse_month

    try:
        day = parse_month(month)
    except ValueError:
        raise BadMonth(f"month must be 'YYYY-MM' (e.g. '2025-03'), got {month!r}") from None
    first, last = data_range()
    if not first <= day <= last:
        closest = first if day < first else last
        raise BadMonth(
            f"month {month!r} is outside the loaded data ({first:%Y-%m} to {last:%Y-%m}); "
            f"closest: {closest:%Y-%m}"
        )
    return day


# ---------------------------------------------------------------------------------------- registry


_REGISTRY_SQL = (
    "SELECT slug, name, priority_area, valid_from, valid_to FROM departments "
    "WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) ORDER BY slug"
)


def _day(on) -> dt.date:
    if on is None:
        return dt.date.today()
    if isinstance(on, dt.datetime):
        return on.date()
    if isinstance(on, dt.date):
        return on
    return pd.Timestamp(on).date()


def departments(on=None) -> pd.DataFrame:
    """Registry rows valid on a date (default: today), one per department, ordered by slug."""
    day = _day(on)
    return query(_REGISTRY_SQL, [day, day])


def registry_rows(on=None) -> list[tuple[str, str, str | None]]:
    """(slug, name, priority_area) of :func:`departments`, as tuples (no pandas)."""
    day = _day(on)
    return [(r[0], r[1], r[2]) for r in rows(_REGISTRY_SQL, [day, day])]


def department(slug: str, on=None) -> dict:
    """One department's registry row (valid on ``on``, default today) as a dict.

    Raises :class:`UnknownDepartment` for a slug that was never registered.
    """
    _check(slug)
    rows = departments(on)
    hit = rows.loc[rows["slug"] == slug]
    if hit.empty:  # registered, but no name valid on that date: take its latest row
        hit = query(
            "SELECT slug, name, priority_area, valid_from, valid_to FROM departments "
            "WHERE slug = ? ORDER BY valid_from DESC LIMIT 1",
            [slug],
        )
    return hit.iloc[0].to_dict()


def districts() -> pd.DataFrame:
    """The 35 districts: pcode, name (ordered by pcode)."""
    return query("SELECT pcode, name FROM districts ORDER BY pcode")


def entities(department: str | None = None) -> pd.DataFrame:
    """Public sector entities (entity_id, name, department, entity_type), optionally one department's."""
    _check(department)
    sql = "SELECT entity_id, name, department, entity_type FROM entities"
    if department is None:
        return query(sql + " ORDER BY department, entity_id")
    return query(sql + " WHERE department = ? ORDER BY entity_id", [department])


# ---------------------------------------------------------------------------------------- metadata


def load_info() -> dict[str, str]:
    """The load_info table as a dict."""
    return dict(rows("SELECT key, value FROM load_info ORDER BY key"))


def data_range() -> tuple[dt.date, dt.date]:
    """(first_month, last_month) of the loaded data."""
    info = load_info()
    return dt.date.fromisoformat(info["first_month"]), dt.date.fromisoformat(info["last_month"])


def as_of() -> dt.date:
    """The last month with budget data (``load_info.data_as_of``)."""
    return dt.date.fromisoformat(load_info()["data_as_of"])


# ------------------------------------------------------------------------------------------ budget


def _where(filters: Iterable[tuple[str, object]]) -> tuple[str, list]:
    clauses, params = [], []
    for clause, value in filters:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def budget_allocations(
    department: str | None = None, fiscal_year: str | None = None
) -> pd.DataFrame:
    """Allocations (BE, RE, revised_month), ordered by department, fiscal_year, fund, object_class."""
    _check(department)
    where, params = _where([("department = ?", department), ("fiscal_year = ?", fiscal_year)])
    return query(
        "SELECT department, fiscal_year, fund, object_class, budget_estimate, revised_estimate, "
        f"revised_month FROM budget_allocations{where} "
        "ORDER BY department, fiscal_year, fund, object_class",
        params,
    )


def budget_monthly(
    department: str | None = None, fiscal_year: str | None = None, upto=None
) -> pd.DataFrame:
    """Monthly releases and expenditure; ``upto`` (a month) keeps months <= upto."""
    _check(department)
    where, params = _where(
        [
            ("department = ?", department),
            ("fiscal_year = ?", fiscal_year),
            ("month <= ?", as_month(upto) if upto is not None else None),
        ]
    )
    return query(
        "SELECT department, fiscal_year, month, fund, object_class, release, expenditure "
        f"FROM budget_monthly{where} ORDER BY department, month, fund, object_class",
        params,
    )


# -------------------------------------------------------------------------------------- stocktakes


def targets(department: str | None = None) -> pd.DataFrame:
    """A department's targets (all departments when None), ordered by target_id."""
    _check(department)
    return query(
        "SELECT * FROM targets WHERE (CAST(? AS VARCHAR) IS NULL OR department = ?) ORDER BY department, target_id",
        [department, department],
    )


def trajectory(department: str | None = None) -> pd.DataFrame:
    """Planned values per target and month for a department's targets."""
    _check(department)
    return query(
        "SELECT j.target_id, j.month, j.planned FROM target_trajectory j "
        "JOIN targets t USING (target_id) WHERE (CAST(? AS VARCHAR) IS NULL OR t.department = ?) ORDER BY j.target_id, j.month",
        [department, department],
    )


def actuals(department: str | None = None) -> pd.DataFrame:
    """Actuals per target, month and district (district_pcode NULL = department-wide)."""
    _check(department)
    return query(
        "SELECT a.target_id, a.month, a.district_pcode, a.actual FROM target_actuals a "
        "JOIN targets t USING (target_id) WHERE (CAST(? AS VARCHAR) IS NULL OR t.department = ?) "
        "ORDER BY a.target_id, a.month, a.district_pcode NULLS FIRST",
        [department, department],
    )


def milestones(department: str | None = None) -> pd.DataFrame:
    _check(department)
    return query(
        "SELECT * FROM milestones WHERE (CAST(? AS VARCHAR) IS NULL OR department = ?) ORDER BY target_id, due_date, milestone_id",
        [department, department],
    )


def ratings(department: str | None = None) -> pd.DataFrame:
    _check(department)
    return query(
        "SELECT * FROM ratings WHERE (CAST(? AS VARCHAR) IS NULL OR department = ?) ORDER BY target_id, stocktake_date",
        [department, department],
    )


def actions(department: str | None = None) -> pd.DataFrame:
    _check(department)
    return query(
        "SELECT * FROM actions WHERE (CAST(? AS VARCHAR) IS NULL OR department = ?) ORDER BY stocktake_date, action_id",
        [department, department],
    )


# ------------------------------------------------------------------------------------------ survey


def survey_waves() -> list[dt.date]:
    """Fieldwork months of the loaded survey waves, ascending."""
    df = query("SELECT DISTINCT wave FROM survey_respondents ORDER BY wave")
    return [w.date() for w in df["wave"]]


def survey_services(department: str | None = None) -> pd.DataFrame:
    """Surveyed services (service, label, department), optionally one department's."""
    _check(department)
    if department is None:
        return query("SELECT service, label, department FROM survey_services ORDER BY service")
    return query(
        "SELECT service, label, department FROM survey_services WHERE department = ? ORDER BY service",
        [department],
    )


def survey_frame(wave, services: Sequence[str] | None = None) -> pd.DataFrame:
    """Respondents of one wave joined to their ratings (one row per respondent and service used).

    Likert columns come back as float64 (1.0..5.0, NaN = missing or don't know).

    With ``services``, only those services' ratings. Respondents who used none of them are not
    returned; use :func:`survey_respondents` for the full respondent file (overall satisfaction).
    """
    w = as_month(wave)
    svc = list(services) if services is not None else None
    where = "WHERE r.wave = ?"
    params: list = [w]
    if svc is not None:
        where += " AND s.service IN (SELECT UNNEST(?::VARCHAR[]))"
        params.append(svc)
    return query(
        "SELECT r.wave, r.respondent_id, r.district_pcode, r.psu, r.weight, r.stratum_population, "
        "r.gender, r.age_band, r.area, r.overall_satisfaction::DOUBLE AS overall_satisfaction, "
        "s.service, s.satisfaction::DOUBLE AS satisfaction, "
        "s.staff_behaviour::DOUBLE AS staff_behaviour, s.waiting_time::DOUBLE AS waiting_time, "
        "s.cost::DOUBLE AS cost, s.availability::DOUBLE AS availability, "
        "s.cleanliness::DOUBLE AS cleanliness "
        "FROM survey_respondents r JOIN survey_ratings s USING (wave, respondent_id) "
        f"{where} ORDER BY s.service, r.respondent_id",
        params,
    )


def survey_respondents(wave) -> pd.DataFrame:
    """All respondents of one wave (design variables, demographics, overall satisfaction).
    Every survey report and the overview read every wave's file: read once per process."""
    w = as_month(wave)
    return _memo(
        ("survey_respondents", w),
        lambda: query(
            "SELECT * REPLACE (overall_satisfaction::DOUBLE AS overall_satisfaction) "
            "FROM survey_respondents WHERE wave = ? ORDER BY respondent_id",
            [w],
        ),
    )


# --------------------------------------------------------------------------------------------- PSE


def pse_returns(department: str | None = None) -> pd.DataFrame:
    """Quarterly returns with the entity's department, name and type."""
    _check(department)
    sql = (
        "SELECT p.entity_id, e.name AS entity_name, e.department, e.entity_type, p.quarter_end, "
        "p.own_revenue, p.grants_received, p.expenditure, p.liabilities, p.assets, p.cash, "
        "p.submitted_date FROM pse_returns p JOIN entities e USING (entity_id)"
    )
    if department is None:
        return query(sql + " ORDER BY e.department, p.entity_id, p.quarter_end")
    return query(sql + " WHERE e.department = ? ORDER BY p.entity_id, p.quarter_end", [department])


# ------------------------------------------------------------------------------------------- cache

# Per table: the department a row belongs to (SQL over aliases t and g) and the join that finds
# it. Shared tables go into the hash of every department that reads them.
_SLICES: dict[str, tuple[str, str]] = {
    "departments": ("t.slug", ""),
    "entities": ("t.department", ""),
    "survey_services": ("t.department", ""),
    "budget_allocations": ("t.department", ""),
    "budget_monthly": ("t.department", ""),
    "revenue": ("t.department", ""),
    "targets": ("t.department", ""),
    "target_trajectory": ("g.department", "JOIN targets g USING (target_id)"),
    "target_actuals": ("g.department", "JOIN targets g USING (target_id)"),
    "milestones": ("t.department", ""),
    "ratings": ("t.department", ""),
    "actions": ("t.department", ""),
    "pse_returns": ("g.department", "JOIN entities g USING (entity_id)"),
    "survey_ratings": ("g.department", "JOIN survey_services g USING (service)"),
    "contracts": ("t.department", ""),
    "contract_kpis": ("t.department", ""),
    "contract_progress": ("g.department", "JOIN contract_kpis g USING (kpi_id)"),
    "data_notes": ("t.department", ""),  # plausibility warnings shown in the reports
}
_SHARED = {
    "districts": "",
    "load_info": "WHERE t.key <> 'loaded_at'",
    "survey_respondents": "",  # only for departments with surveyed services
}


def _slice_sums() -> tuple[dict[str, str], str]:
    """({department: checksum}, whole-warehouse checksum), cached per warehouse build."""
    return _memo(("slice_sums",), _compute_slice_sums)


def _compute_slice_sums() -> tuple[dict[str, str], str]:
    per = rows(
        " UNION ALL ".join(
            f"SELECT '{table}' AS tbl, {dept} AS department, count(*) AS n, "
            f"sum(hash(t)::HUGEINT)::VARCHAR AS h FROM {table} AS t {join} GROUP BY ALL"
            for table, (dept, join) in _SLICES.items()
        )
        + " ORDER BY department, tbl"
    )
    shared = rows(
        " UNION ALL ".join(
            f"SELECT '{table}' AS tbl, count(*) AS n, sum(hash(t)::HUGEINT)::VARCHAR AS h "
            f"FROM {table} AS t {where}"
            for table, where in _SHARED.items()
        )
    )
    token = {tbl: f"{tbl}:{n}:{h}" for tbl, n, h in shared}
    surveyed = {dep for tbl, dep, _, _ in per if tbl == "survey_services"}
    by_dept: dict[str, list[str]] = {}
    for tbl, dep, n, h in per:  # ordered by department, then table
        if dep is not None:  # a row of no department is in the whole-warehouse sum only
            by_dept.setdefault(dep, []).append(f"{tbl}:{n}:{h}")
    sums: dict[str, str] = {}
    for dep in sorted(by_dept):
        head = [token["districts"], token["load_info"]]
        if dep in surveyed:
            head.append(token["survey_respondents"])
        text = "|".join(head) + "||" + "|".join(by_dept[dep])
        sums[str(dep)] = hashlib.sha256(text.encode()).hexdigest()
    everything = (
        "|".join(token[t] for t in sorted(token))
        + "||"
        + "|".join(f"{dep}:{tbl}:{n}:{h}" for tbl, dep, n, h in per)
    )
    total = hashlib.sha256(everything.encode()).hexdigest()
    return sums, total


def slice_checksum(department: str | None = None) -> str:
    """SHA-256 of the rows a department's reports read (all rows when ``department`` is None).

    Covers the department's registry rows, budget, stocktake, PSE and surveyed-service ratings,
    plus the shared tables read with them: districts, load metadata (except ``loaded_at``) and,
    for departments with surveyed services, the survey respondents. Stable across reloads of
    identical data; computed for all departments with one grouped query per table and cached
    per warehouse build.
    """
    sums, total = _slice_sums()
    if department is None:
        return total
    if department not in sums:
        raise UnknownDepartment(department)
    return sums[department]


def revenue(department: str | None = None) -> pd.DataFrame | None:
    """The revenue book (department, fiscal_year, category, budget_estimate, actual), of one
    collecting department or all; None when no revenue was loaded (no revenue file, a
    header-only one, or a warehouse built before the revenue input existed), so that a report
    can say "not provided" rather than "no receipts for this department"."""
    _check(department)
    try:
        n = query("SELECT count(*) AS n FROM revenue")["n"].iloc[0]
    except duckdb.Error:
        return None
    if not n:
        return None
    where, params = _where([("department = ?", department)])
    return query(
        "SELECT department, fiscal_year, category, budget_estimate, actual "
        f"FROM revenue{where} ORDER BY department, fiscal_year, category",
        params,
    )


def contracts(department: str | None = None) -> pd.DataFrame:
    """Performance contracts (department, fiscal_year, signed_date, band_a..band_d)."""
    where, params = _where([("department = ?", _check(department))])
    return query(f"SELECT * FROM contracts{where} ORDER BY department, fiscal_year", params)


def contract_kpis(department: str | None = None) -> pd.DataFrame:
    """The KPIs of the performance contracts (weights, targets, bands)."""
    where, params = _where([("department = ?", _check(department))])
    return query(
        f"SELECT * FROM contract_kpis{where} ORDER BY department, fiscal_year, kpi_id", params
    )


def contract_progress(department: str | None = None) -> pd.DataFrame:
    """Quarterly actuals (and planned values) of the contract KPIs."""
    where, params = _where([("k.department = ?", _check(department))])
    return query(
        "SELECT p.kpi_id, p.month, p.actual, p.planned FROM contract_progress p "
        f"JOIN contract_kpis k USING (kpi_id){where} ORDER BY p.kpi_id, p.month",
        params,
    )


def data_notes(file: str | None = None, department: str | None = None) -> pd.DataFrame:
    """Plausibility warnings and mapping notes recorded at load (file, row, column, rule,
    value, department), of one file or one department; empty for a warehouse built before
    data notes existed."""
    where, params = _where([("file = ?", file), ("department = ?", _check(department))])
    try:
        return query(
            f'SELECT file, "row", "column", rule, value, department FROM data_notes{where} '
            "ORDER BY ALL",
            params,
        )
    except duckdb.Error:
        return pd.DataFrame(columns=["file", "row", "column", "rule", "value", "department"])
