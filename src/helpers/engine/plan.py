"""Plan a month: which jobs (notebook x department, plus province notebooks) with which
validated parameters.

A month's *full plan* is every job the suite defines for that month; the *selection* is what
DEPT= / NOTEBOOK= / --only-failed narrow it to. The published month is assembled from the full
plan (selected jobs are run, other jobs are taken from the cache when their current key hits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.data.calendar import add_months, parse_month
from helpers.engine.inputs import Department, WarehouseFacts
from helpers.engine.params import (
    Family,
    ParamError,
    Suite,
    check_safe_string,
    coerce_value,
    parse_assignment,
    resolve_parameters,
)

PROVINCE = "province"


@dataclass
class Job:
    """One report to produce: a family for a department (or the province) and a month."""

    family: str
    title: str
    scope: str
    department: str | None
    month: str
    notebook: Path
    params: dict[str, Any]
    key: str = ""
    data_checksum: str = ""
    cached: bool = False

    @property
    def folder(self) -> str:
        """Folder inside the month: the department slug, or 'province'."""
        return self.department or PROVINCE

    @property
    def id(self) -> str:
        return f"{self.folder}/{self.family}"


@dataclass
class MonthPlan:
    """The full plan of a month and the ids selected to run."""

    month: str
    jobs: list[Job]
    selected: set[str] = field(default_factory=set)
    departments: dict[str, Department] = field(default_factory=dict)
    # Families not planned because the government provides no data for them: the portal lists
    # them as "not provided". Families its profile does not use (``families:``) are not_used:
    # not planned and not mentioned to readers.
    not_provided: list[str] = field(default_factory=list)
    not_used: list[str] = field(default_factory=list)

    def selected_jobs(self) -> list[Job]:
        return [j for j in self.jobs if j.id in self.selected]


def split_list(text: str | None) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c'] (DEPT= and NOTEBOOK= accept comma lists)."""
    if not text:
        return []
    return [t.strip() for t in str(text).split(",") if t.strip()]


def parse_overrides(assignments: Iterable[str], suite: Suite) -> dict[str | None, dict[str, str]]:
    """--param NAME=VALUE (every family that declares NAME) or FAMILY.NAME=VALUE."""
    out: dict[str | None, dict[str, str]] = {}
    for text in assignments:
        fam, name, value = parse_assignment(text)
        check_safe_string(name, value)
        if name in {"month", "department"}:
            raise ParamError(f"--param {name}: use --month / --dept instead")
        if fam is not None:
            if fam not in suite.families:
                raise ParamError(f"--param {text!r}: unknown family {fam!r}")
            if name not in suite.families[fam].parameters:
                raise ParamError(f"--param {text!r}: {fam} has no parameter {name!r}")
        elif not any(name in f.parameters for f in suite.families.values()):
            raise ParamError(f"--param {text!r}: no family declares a parameter {name!r}")
        out.setdefault(fam, {})[name] = value
    return out


def _family_overrides(fam: Family, overrides: Mapping[str | None, Mapping[str, str]]) -> dict:
    merged = {k: v for k, v in overrides.get(None, {}).items() if k in fam.parameters}
    merged.update(overrides.get(fam.name, {}))
    return merged


def plan_month(
    suite: Suite,
    facts: WarehouseFacts,
    *,
    month: str,
    notebooks_dir: Path,
    depts: Iterable[str] = (),
    notebooks: Iterable[str] = (),
    overrides: Mapping[str | None, Mapping[str, str]] | None = None,
    families: Iterable[str] | None = None,
) -> MonthPlan:
    """Validate the selection and every job's parameters, and list the month's jobs.

    A family is planned when any input group it reads (``data:`` in suite.yaml) has data in
    the warehouse and, when ``families`` (the profile's list) is given, it is listed there.
    Raises ParamError (nothing has run) for any bad value.
    """
    overrides = overrides or {}
    registry, (lo, hi) = _registry_for(facts, month)
    dept_sel = _department_selection(depts, notebooks, registry, month)
    fam_sel = [suite.family_by_selector(n).name for n in split_list(",".join(notebooks))]
    not_used, not_provided = _unplanned(suite, facts, families)
    for f in fam_sel:
        if f in not_used:
            raise ParamError(
                f"--notebook {f}: not used by this government (its profile's families)"
            )
        if f in not_provided:
            raise ParamError(f"--notebook {f}: not provided (no data for it in the warehouse)")

    jobs: list[Job] = []
    for fam in suite.families.values():
        if fam.name in not_provided or fam.name in not_used:
            continue
        jobs += _family_jobs(
            fam,
            facts,
            registry,
            month=month,
            notebooks_dir=notebooks_dir,
            overrides=_family_overrides(fam, overrides),
            month_range=(lo, hi),
        )

    selected = {
        job.id
        for job in jobs
        if (not fam_sel or job.family in fam_sel) and (not dept_sel or job.folder in dept_sel)
    }
    if (dept_sel or fam_sel) and not selected:
        raise ParamError("the selection (DEPT=/NOTEBOOK=) matches no report for this month")
    return MonthPlan(
        month=month,
        jobs=jobs,
        selected=selected,
        departments=registry,
        not_provided=not_provided,
        not_used=not_used,
    )


def _registry_for(
    facts: WarehouseFacts, month: str
) -> tuple[dict[str, Department], tuple[dt.date, dt.date]]:
    """The month checked against the data's range, and the department registry as it stood
    at the end of the report month (a department closed since, or created later, is planned
    only for the months it existed, under that month's name); also the data's range."""
    check_safe_string("month", month)
    try:
        parse_month(month)
    except ValueError:
        raise ParamError(f"--month must be YYYY-MM, got {month!r}") from None
    lo, hi = facts.data_range()
    if not lo <= parse_month(month) <= hi:
        raise ParamError(f"month {month} is outside the data's range {lo:%Y-%m}..{hi:%Y-%m}")
    month_end = add_months(parse_month(month), 1) - dt.timedelta(days=1)
    registry = {d.slug: d for d in facts.departments(on=month_end)}
    if not registry:
        raise ParamError(f"the department registry has no department valid in {month}")
    return registry, (lo, hi)


def _department_selection(
    depts: Iterable[str], notebooks: Iterable[str], registry: Mapping[str, Any], month: str
) -> list[str]:
    """DEPT= as a checked list of slugs (``province`` included); refuses empty selections."""
    dept_sel = split_list(",".join(depts))
    if depts and not dept_sel:
        raise ParamError(f"--dept names no department: {','.join(depts)!r}")
    if notebooks and not split_list(",".join(notebooks)):
        raise ParamError(f"--notebook names no notebook: {','.join(notebooks)!r}")
    for d in dept_sel:
        check_safe_string("department", d)
        if d != PROVINCE and d not in registry:
            raise ParamError(f"unknown department {d!r} (not in the registry for {month})")
    return dept_sel


def _unplanned(
    suite: Suite, facts: WarehouseFacts, families: Iterable[str] | None
) -> tuple[list[str], list[str]]:
    """(families the profile does not use, families whose input groups have no data)."""
    provided = facts.inputs() if hasattr(facts, "inputs") else None
    wanted = set(families) if families is not None else None
    not_used = [f for f in suite.families if wanted is not None and f not in wanted]
    not_provided = [
        f.name
        for f in suite.families.values()
        if f.name not in not_used and provided is not None and f.data and not provided & set(f.data)
    ]
    if len(not_provided) + len(not_used) == len(suite.families):
        raise ParamError("no report family has data: run `make data` with the input files")
    return not_used, not_provided


def _family_jobs(
    fam: Family,
    facts: WarehouseFacts,
    registry: Mapping[str, Any],
    *,
    month: str,
    notebooks_dir: Path,
    overrides: Mapping[str, Any],
    month_range: tuple[dt.date, dt.date],
) -> list[Job]:
    """The family's jobs of the month: once for a province family, else one per department
    it applies to."""
    nb_path = (Path(notebooks_dir) / fam.notebook).resolve()
    if fam.scope == "province":
        targets: list[str | None] = [None]
    else:
        slugs = sorted(registry)
        if fam.applies_to:
            allowed = facts.applies_to(fam.applies_to, month=parse_month(month))
            slugs = [s for s in slugs if s in allowed]
        targets = list(slugs)
    jobs = []
    for dept in targets:
        params = resolve_parameters(
            fam,
            month=month,
            department=dept,
            overrides=overrides,
            departments=registry,
            month_range=month_range,
        )
        jobs.append(
            Job(
                family=fam.name,
                title=fam.title,
                scope=fam.scope,
                department=dept,
                month=month,
                notebook=nb_path,
                params=params,
            )
        )
    return jobs


def notebook_parameters(path: Path) -> list[str]:
    """The names the notebook's ``parameters`` cell assigns; ParamError (one line) when the
    file is missing, not UTF-8 JSON, or has no or several cells tagged ``parameters``."""
    import ast
    import json

    try:
        nb = json.loads(Path(path).read_bytes().decode("utf-8"))
        cells = [
            c
            for c in nb.get("cells", [])
            if "parameters" in (c.get("metadata", {}).get("tags") or [])
        ]
    except FileNotFoundError:
        raise ParamError(f"notebook not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        reason = getattr(exc, "msg", None) or type(exc).__name__
        raise ParamError(f"notebook {path} is not a readable notebook (JSON: {reason})") from None
    if len(cells) != 1:
        raise ParamError(
            f"notebook {path}: {len(cells)} cells tagged 'parameters' (exactly one is needed: "
            "papermill puts the run's values after it; without it every report would show the "
            "notebook's defaults)"
        )
    src = cells[0].get("source", "")
    src = "".join(src) if isinstance(src, list) else str(src)
    try:
        tree = ast.parse(src)
    except SyntaxError as exc:
        raise ParamError(f"notebook {path}: parameters cell line {exc.lineno}: {exc.msg}") from None
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_notebooks(jobs: Iterable[Job], suite) -> None:
    """Before any kernel starts, for every family the month plans (narrowed or not): the
    notebook exists, is a notebook, has exactly one ``parameters`` cell, and that cell assigns
    only parameters the family declares (a lost tag or a renamed parameter would publish the
    notebook's defaults). Declared parameters the cell leaves out are injected by papermill;
    the shipped notebooks declare exactly theirs (tests/unit/test_plan.py)."""
    seen: dict[Path, str] = {}
    for j in jobs:
        seen.setdefault(j.notebook, j.family)
    for path, family in sorted(seen.items()):
        names = notebook_parameters(path)
        declared = set(suite.families[family].parameters)
        extra = sorted(set(names) - declared)
        if extra:  # a run could never set them: the report would always show the default
            raise ParamError(
                f"notebook {path}: parameters cell assigns {', '.join(extra)}, which "
                f"params/suite.yaml does not declare for {family} (a run could never set it)"
            )


__all__ = [
    "Job",
    "MonthPlan",
    "PROVINCE",
    "check_notebooks",
    "notebook_parameters",
    "coerce_value",
    "parse_overrides",
    "plan_month",
    "split_list",
]
