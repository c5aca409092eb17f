"""The run ledger, ``outputs/ledger.duckdb``: one row per run and one per job per run.

Only the driver writes it (DuckDB allows one writer process). Runs of different months may
overlap, so every write opens the file under an exclusive ``flock`` on ``ledger.lock`` and
closes it again; writes are small and rare (one per finished job). An operator who holds the
file open (any DuckDB connection, even read-only, locks it for other processes) never breaks
a run: writes retry for a few seconds, then go to ``ledger.duckdb.pending.jsonl`` and are
applied by the next write; reads use a copy. Finished jobs are appended to that journal too
when the ledger was written less than ``FLUSH_SECONDS`` ago (opening the file costs about
60 ms, once per job in a month of 93), and the next write applies them: a run's records are in
the file when it ends, and in the journal if it was killed first. Query it safely from a copy
(``cp outputs/ledger.duckdb /tmp/ledger.duckdb``), see docs/engine.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from helpers import interrupts
from helpers.engine.jobs import JobResult, RunStatus, Status

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


BUSY_SECONDS = 5.0  # how long a write waits for another program's hold on the ledger
FLUSH_SECONDS = 10.0  # finished jobs wait in the journal at most this long between writes


class LedgerBusy(RuntimeError):
    """Another program holds the ledger file past the retry."""


class LedgerUnwritable(OSError):
    """The ledger cannot be written (a full disk, a read-only folder) and its journal cannot
    either: raised only where a run must not start without its record (``start_run``)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)  # naive UTC (TIMESTAMPTZ needs pytz)


class Ledger:
    """Append-only records of runs and jobs."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._warned = False  # one warning per run, not one per job
        self._written_at = -math.inf  # time.monotonic() of the last write to the file

    @contextlib.contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[Any]:
        """Open the ledger under the write lock. An operator's open connection (DuckDB locks
        the file for any other process) makes it retry for ``BUSY_SECONDS``; reads then use a
        copy, writes raise :class:`LedgerBusy` (the callers keep the records in the journal)."""
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            con, copied = None, False
            deadline = time.monotonic() + BUSY_SECONDS
            while con is None:
                try:
                    con = duckdb.connect(str(self.path))
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower():
                        raise  # not another program's hold (e.g. the disk is full): no retry
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    if not read_only or not self.path.exists():
                        raise LedgerBusy(f"{self.path}: {exc}") from None
                    copy = Path(tempfile.mkdtemp(prefix="ledger-")) / self.path.name
                    shutil.copy2(self.path, copy)  # a reader holds it: read a copy
                    con, copied = duckdb.connect(str(copy), read_only=True), True
            try:
                if not copied:
                    con.execute(SCHEMA)
                    self._replay(con)
                yield con
            finally:
                con.close()

    def _journal(self) -> Path:
        return self.path.with_name(self.path.name + ".pending.jsonl")

    def _replay(self, con) -> None:
        """Apply the writes kept while the ledger was held by a reader (or could not be
        written), in one transaction, then drop them. A last line cut short (the disk filled
        up while it was written) is skipped."""
        j = self._journal()
        if not j.exists():
            return
        lines = j.read_text(encoding="utf-8").splitlines()
        con.execute("BEGIN TRANSACTION")
        try:
            for n, line in enumerate(lines):
                try:
                    rec = json.loads(line)
                except ValueError:
                    if n == len(lines) - 1:
                        break
                    raise
                if rec["many"]:
                    con.executemany(rec["sql"], rec["params"])
                else:
                    con.execute(rec["sql"], rec["params"])
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            raise
        j.unlink()

    def _append_journal(self, statements: list[tuple[str, list, bool]]) -> None:
        """Append to the journal under the write lock (a replay reads it, then removes it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(
            json.dumps({"sql": sql, "params": params, "many": many}, default=str) + "\n"
            for sql, params, many in statements
        )
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # before opening: a replay may remove the file
            with open(self._journal(), "a", encoding="utf-8") as fh:
                fh.write(text)

    def _write(self, statements: list[tuple[str, list, bool]], strict: bool = False) -> None:
        """Run (sql, params, many) statements in one transaction; if a reader holds the ledger
        past the retry, keep them in ``ledger.duckdb.pending.jsonl`` (applied, in order, by the
        next write) and warn: a run never fails because someone is reading its ledger.

        A write that fails otherwise (the disk is full: DuckDB cannot append to its WAL) is
        rolled back whole, so the file stays as it was, and journalled the same way. If the
        journal cannot be written either, ``strict`` raises :class:`LedgerUnwritable`; else
        the records are lost with one warning (the run's outcome is decided by publishing)."""
        import duckdb

        try:
            with self._connect() as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    for sql, params, many in statements:
                        (con.executemany if many else con.execute)(sql, params)
                    con.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(duckdb.Error):
                        con.execute("ROLLBACK")
                    raise
            self._written_at = time.monotonic()
            return
        except LedgerBusy as exc:
            why = f"the ledger is held by another program ({exc})"
        except (duckdb.Error, OSError) as exc:
            interrupts.check()  # DuckDB reports a Ctrl-C during its statement as its own error
            why = f"the ledger cannot be written ({' '.join(str(exc).split())})"
        try:
            self._append_journal(statements)
        except OSError as exc:
            if strict:
                raise LedgerUnwritable(f"{why}, nor its journal ({exc})") from None
            if not self._warned:
                self._warned = True
                print(f"warning: {why}; this run's records are lost", file=sys.stderr)
            return
        if not self._warned:
            self._warned = True
            print(
                f"warning: {why}; this run's records are kept in {self._journal().name} "
                "until the next write",
                file=sys.stderr,
            )

    def start_run(self, run_id: str, month: str, argv: list[str], meta: dict[str, Any]) -> None:
        """Record a run as started; mark earlier unfinished runs of the month as killed (the
        caller holds the month lock, so they cannot still be running)."""
        self._write(
            [
                (
                    "UPDATE runs SET status = ? WHERE month = ? AND status = ?",
                    [RunStatus.KILLED.value, month, RunStatus.RUNNING.value],
                    False,
                ),
                (
                    "INSERT INTO runs (run_id, month, started_at, status, argv, git_commit, "
                    "git_dirty, executor, isolation, n_jobs) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        run_id,
                        month,
                        _now(),
                        RunStatus.RUNNING.value,
                        json.dumps(argv),
                        meta.get("commit"),
                        meta.get("dirty"),
                        meta.get("executor"),
                        meta.get("isolation"),
                        meta.get("n_jobs"),
                    ],
                    False,
                ),
            ],
            strict=True,  # a run does not start without its record
        )

    def record_jobs(self, run_id: str, month: str, rows: Sequence[JobResult]) -> None:
        """Record finished (or cached, or blocked) jobs: in the file, or in the journal when
        the file was written less than ``FLUSH_SECONDS`` ago (the next write applies it)."""
        if not rows:
            return
        values = []
        for r in rows:
            cell = r.failing_cell
            values.append(
                [
                    run_id,
                    month,
                    r.id,
                    r.family,
                    r.department,
                    r.status.value,
                    None if r.reason is None else str(r.reason),
                    r.duration,
                    r.key,
                    cell["index"] if cell else None,
                    cell["source"] if cell else None,
                    r.error,
                    json.dumps(r.hashes or {}, sort_keys=True),
                    r.worker,
                    _now(),
                ]
            )
        insert = [
            ("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values, True)
        ]
        if time.monotonic() - self._written_at < FLUSH_SECONDS:
            try:
                self._append_journal(insert)  # the next write applies it
                return
            except OSError:
                pass  # no room for the journal: try the file itself
        self._write(insert)

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        counts: dict[str, int],
        duration: float,
        note: str | None = None,
    ) -> None:
        """Record the end of a run: ``ok``, ``failed`` (some report failed, or publishing
        failed: see ``note``), ``blocked`` (the disclosure scan refused the month: ``note`` says
        why) or ``interrupted``."""
        self._write(
            [
                (
                    "UPDATE runs SET finished_at = ?, status = ?, n_done = ?, n_cached = ?,"
                    " n_failed = ?, duration_s = ?, note = ? WHERE run_id = ?",
                    [
                        _now(),
                        RunStatus(status).value,
                        counts.get(Status.DONE, 0),
                        counts.get(Status.CACHED, 0),
                        counts.get(Status.FAILED, 0),
                        duration,
                        None if note is None else str(note)[:4000],
                        run_id,
                    ],
                    False,
                )
            ]
        )

    def last_failed(self, month: str) -> set[str]:
        """Job ids whose most recent record for ``month`` is a failure (or was blocked by the
        disclosure scan)."""
        if not self.path.exists():
            return set()
        with self._connect(read_only=True) as con:
            rows = con.execute(
                "SELECT job_id FROM (SELECT job_id, status, row_number() OVER ("
                " PARTITION BY job_id ORDER BY recorded_at DESC) AS rn FROM jobs"
                " WHERE month = ?) WHERE rn = 1 AND status IN (?, ?)",
                [month, Status.FAILED.value, Status.BLOCKED.value],
            ).fetchall()
        return {r[0] for r in rows}

    def jobs(self, run_id: str) -> list[dict[str, Any]]:
        """The job rows of one run (for tests and inspection)."""
        with self._connect(read_only=True) as con:
            cur = con.execute("SELECT * FROM jobs WHERE run_id = ? ORDER BY job_id", [run_id])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def runs(self, month: str | None = None) -> list[dict[str, Any]]:
        with self._connect(read_only=True) as con:
            sql = (
                "SELECT * FROM runs"
                + (" WHERE month = ?" if month else "")
                + " ORDER BY started_at"
            )
            cur = con.execute(sql, [month] if month else [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
