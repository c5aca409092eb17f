"""What the engine needs to know about the warehouse, fetched cheaply.

The registry, the data range, the ``applies_to`` department sets and the slice checksums all
come from :mod:`helpers.data.warehouse` (the only module that opens the warehouse). They only
change when the warehouse file changes, so they are memoised in ``outputs/.cache/warehouse.json``
keyed on the file's identity (device, inode, size, mtime and ctime in nanoseconds; ``make data``
rewrites the file, which changes all of them). A no-change re-run therefore never imports
pandas or DuckDB.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

APPLIES_TO_SQL = {
    # ``?`` = the fiscal year of the report month: a budget report needs that year's budget.
    "departments_with_budget": (
        "SELECT DISTINCT department FROM budget_allocations WHERE fiscal_year = ?"
    ),
    "departments_with_targets": "SELECT DISTINCT department FROM targets",
    "departments_with_surveyed_services": "SELECT DISTINCT department FROM survey_services",
    "departments_with_entities": "SELECT DISTINCT department FROM entities",
    "departments_with_contracts": (
        "SELECT DISTINCT department FROM contracts WHERE fiscal_year = ?"
    ),
}
MEMO_VERSION = 2


class WarehouseMissing(RuntimeError):
    """The warehouse file does not exist (CLI: 'run make data')."""


@dataclass(frozen=True)
class Department:
    """A registry row as the engine and the portal need it."""

    slug: str
    name: str
    priority_area: str


class WarehouseFacts(Protocol):
    """What the planner and the cache need (tests pass a fake)."""

    def departments(self, on: dt.date | None = None) -> list[Department]: ...
    def data_range(self) -> tuple[dt.date, dt.date]: ...
    def inputs(self) -> set[str]: ...
    def applies_to(self, rule: str, month: dt.date | None = None) -> set[str]: ...
    def slice_checksum(self, department: str | None) -> str: ...


def _file_identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime().date()
    return dt.date.fromisoformat(str(value)[:10])


class Warehouse:
    """Warehouse facts through helpers.data.warehouse, memoised on the file's identity.

    ``memo_path`` (optional) is where the memo lives; ``None`` disables it.
    """

    def __init__(self, path: Path, memo_path: Path | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            what = "is a folder, not a warehouse file" if self.path.is_dir() else "not found"
            raise WarehouseMissing(f"warehouse {self.path} {what}: run `make data` first")
        self.memo_path = memo_path
        self._identity = _file_identity(self.path)
        self._memo: dict[str, Any] = self._load_memo()
        self._dirty = False
        self._module: ModuleType | None = None

    # -- memo -------------------------------------------------------------------------
    def _load_memo(self) -> dict[str, Any]:
        if self.memo_path is None:
            return {}
        try:
            memo = json.loads(self.memo_path.read_text())
        except (OSError, ValueError):
            return {}
        if (
            memo.get("version") != MEMO_VERSION
            or memo.get("identity") != self._identity
            or memo.get("path") != str(self.path.resolve())
        ):
            return {}
        return memo.get("facts", {})

    def save(self) -> None:
        """Persist what was computed (atomic write; losing it only costs time)."""
        if self.memo_path is None or not self._dirty:
            return
        if _file_identity(self.path) != self._identity:
            return  # the warehouse changed under us: don't memoise a mix
        self.memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.memo_path.with_name(f".{self.memo_path.name}.{os.getpid()}.tmp")
        payload = {
            "version": MEMO_VERSION,
            "identity": self._identity,
            "path": str(self.path.resolve()),
            "facts": self._memo,
        }
        tmp.write_text(json.dumps(payload, sort_keys=True))
        os.replace(tmp, self.memo_path)
        self._dirty = False

    def _get(self, key: str, compute):
        if key not in self._memo:
            try:
                self._memo[key] = compute()
            except Exception as exc:  # duckdb.Error, the data layer's WarehouseMissing ...
                if type(exc).__module__.split(".")[0] not in {"duckdb", "_duckdb", "helpers"}:
                    raise
                reason = " ".join(str(exc).split())[:200]
                raise WarehouseMissing(
                    f"warehouse {self.path} cannot be read ({reason}): run `make data` to "
                    "rebuild it"
                ) from None
            self._dirty = True
        return self._memo[key]

    # -- helpers.data.warehouse ---------------------------------------------------------
    @property
    def module(self) -> ModuleType:
        """helpers.data.warehouse, imported on first need, pointed at this file."""
        if self._module is None:
            os.environ["KP_WAREHOUSE"] = str(self.path)
            from helpers.data import warehouse

            self._module = warehouse
        return self._module

    def departments(self, on: dt.date | None = None) -> list[Department]:
        """Registry rows valid on ``on`` (default today)."""

        def compute():
            return [
                [str(slug), str(name), str(area or "")]
                for slug, name, area in self.module.registry_rows(on=on)
            ]

        key = f"departments@{on.isoformat() if on else 'today'}"
        return [Department(*row) for row in self._get(key, compute)]

    def data_range(self) -> tuple[dt.date, dt.date]:
        def compute():
            lo, hi = self.module.data_range()
            return [_as_date(lo).isoformat(), _as_date(hi).isoformat()]

        lo, hi = self._get("data_range", compute)
        return dt.date.fromisoformat(lo), dt.date.fromisoformat(hi)

    def _info(self, key: str, default: str = "") -> str:
        return self._get(f"info:{key}", lambda: str(self.module.load_info().get(key, default)))

    def inputs(self) -> set[str]:
        """Input groups with data (``load_info.inputs``: budget, stocktake, survey, pse)."""
        text = self._info("inputs", "budget,stocktake,survey,pse")  # older warehouses: all
        return {g for g in text.split(",") if g}

    def profile(self) -> str:
        """The jurisdiction profile the warehouse was loaded for (older warehouses: '')."""
        return self._info("profile")

    def applies_to(self, rule: str, month: dt.date | None = None) -> set[str]:
        """Departments a family applies to; rules with a ``?`` take the report month's fiscal
        year (``month`` is then required)."""
        sql = APPLIES_TO_SQL[rule]
        params: list[str] = []
        if "?" in sql:
            from helpers.data.calendar import fiscal_year

            params = [fiscal_year(month)]

        def compute():
            got = self.module.rows(sql, params or None)
            return sorted(str(r[0]) for r in got if r[0] is not None)

        return set(self._get(f"applies_to:{rule}:{','.join(params)}", compute))

    def slice_checksum(self, department: str | None) -> str:
        return self._get(
            f"checksum:{department or ''}", lambda: str(self.module.slice_checksum(department))
        )
