"""The run ledger, ``outputs/ledger.duckdb``: one row per run and one per job per run.

Only the driver writes it (DuckDB allows one writer process). Runs of different months may
overlap, so every write opens the file under an exclusive ``flock`` on ``ledger.lock`` and
closes it again; writes are small and rare (one per finished job).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, month VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
    status VARCHAR, argv VARCHAR, git_commit VARCHAR, git_dirty BOOLEAN, executor VARCHAR,
    isolation VARCHAR, n_jobs INTEGER, n_done INTEGER, n_cached INTEGER, n_failed INTEGER,
    duration_s DOUBLE, note VARCHAR
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS note VARCHAR;
CREATE TABLE IF NOT EXISTS jobs (
    run_id VARCHAR, month VARCHAR, job_id VARCHAR, family VARCHAR, department VARCHAR,
    status VARCHAR, reason VARCHAR, duration_s DOUBLE, cache_key VARCHAR,
    failing_cell INTEGER, failing_source VARCHAR, error_excerpt VARCHAR, output_hashes VARCHAR,
    worker VARCHAR, recorded_at TIMESTAMP
);
"""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)  # naive UTC (TIMESTAMPTZ needs pytz)


class Ledger:
    """Append-only records of runs and jobs."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            con = duckdb.connect(str(self.path))
            try:
                con.execute(SCHEMA)
                yield con
            finally:
                con.close()

    def start_run(self, run_id: str, month: str, argv: list[str], meta: dict[str, Any]) -> None:
        """Record a run as started; mark earlier unfinished runs of the month as killed (the
        caller holds the month lock, so they cannot still be running)."""
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status = 'killed' WHERE month = ? AND status = 'running'",
                [month],
            )
            con.execute(
                "INSERT INTO runs (run_id, month, started_at, status, argv, git_commit, git_dirty,"
                " executor, isolation, n_jobs) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    month,
                    _now(),
                    json.dumps(argv),
                    meta.get("commit"),
                    meta.get("dirty"),
                    meta.get("executor"),
                    meta.get("isolation"),
                    meta.get("n_jobs"),
                ],
            )

    def record_jobs(self, run_id: str, month: str, rows: list[dict[str, Any]]) -> None:
        """Record finished (or cached) jobs."""
        if not rows:
            return
        values = []
        for r in rows:
            cell = r.get("failing_cell") or {}
            values.append(
                [
                    run_id,
                    month,
                    r["id"],
                    r.get("family"),
                    r.get("department"),
                    r["status"],
                    r.get("reason"),
                    r.get("duration"),
                    r.get("key"),
                    cell.get("index"),
                    cell.get("source"),
                    r.get("error"),
                    json.dumps(r.get("hashes") or {}, sort_keys=True),
                    r.get("worker"),
                    _now(),
                ]
            )
        with self._connect() as con:
            con.executemany(
                "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        counts: dict[str, int],
        duration: float,
        note: str | None = None,
    ) -> None:
        """Record the end of a run: ``ok``, ``failed`` (some report failed, or publishing
        failed: see ``note``), ``blocked`` (the disclosure scan refused the month: ``note`` says
        why) or ``interrupted``."""
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET finished_at = ?, status = ?, n_done = ?, n_cached = ?,"
                " n_failed = ?, duration_s = ?, note = ? WHERE run_id = ?",
                [
                    _now(),
                    status,
                    counts.get("done", 0),
                    counts.get("cached", 0),
                    counts.get("failed", 0),
                    duration,
                    None if note is None else str(note)[:4000],
                    run_id,
                ],
            )

    def last_failed(self, month: str) -> set[str]:
        """Job ids whose most recent record for ``month`` is a failure (or was blocked by the
        disclosure scan)."""
        if not self.path.exists():
            return set()
        with self._connect() as con:
            rows = con.execute(
                "SELECT job_id FROM (SELECT job_id, status, row_number() OVER ("
                " PARTITION BY job_id ORDER BY recorded_at DESC) AS rn FROM jobs"
                " WHERE month = ?) WHERE rn = 1 AND status IN ('failed', 'blocked')",
                [month],
            ).fetchall()
        return {r[0] for r in rows}

    def jobs(self, run_id: str) -> list[dict[str, Any]]:
        """The job rows of one run (for tests and inspection)."""
        with self._connect() as con:
            cur = con.execute("SELECT * FROM jobs WHERE run_id = ? ORDER BY job_id", [run_id])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def runs(self, month: str | None = None) -> list[dict[str, Any]]:
        with self._connect() as con:
            sql = (
                "SELECT * FROM runs"
                + (" WHERE month = ?" if month else "")
                + " ORDER BY started_at"
            )
            cur = con.execute(sql, [month] if month else [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
