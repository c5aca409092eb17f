"""The records a run passes around: what a worker is asked to do and what it reports back.

- :class:`JobSpec`: one job as a worker executes it (built by :func:`helpers.engine.run.job_spec`,
  read by :mod:`helpers.engine.execute`, queued by :mod:`helpers.engine.pool`, shipped by
  :mod:`helpers.engine.dask_executor` after its paths are replaced by blob names);
- :class:`JobResult`: what became of it (recorded by :mod:`helpers.engine.ledger`, counted by
  :mod:`helpers.engine.progress`, published by :mod:`helpers.engine.run`);
- :class:`Status` (from the neutral :mod:`helpers.status`), :class:`Reason` and
  :class:`RunStatus`: the vocabularies, ``str`` valued so that JSON files and the ledger hold
  exactly the strings they held before these types existed.

Both records pickle (local worker processes receive and return them as they are). Between the
driver and a Dask worker, whose installed code may differ (the code check is one of the things
it reports), they travel as plain dicts: :meth:`JobSpec.to_dict` / :meth:`JobSpec.from_dict`,
:meth:`JobResult.to_dict` / :meth:`JobResult.from_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypedDict

from helpers.status import PUBLISHED, Status

__all__ = [
    "ERROR_EXCERPT_CHARS",
    "PUBLISHED",
    "FailingCell",
    "JobResult",
    "JobSpec",
    "Reason",
    "RunStatus",
    "Status",
    "describe",
    "excerpt",
]

#: Longest error text a result carries (ledger ``error_excerpt``, manifest ``error``, portal).
ERROR_EXCERPT_CHARS = 1500


class Reason(StrEnum):
    """Why a job failed (``JobResult.reason``; docs/engine.md "Failures")."""

    CELL_ERROR = "cell_error"  # a cell raised
    TIMEOUT = "timeout"  # the notebook's deadline passed
    KERNEL_DIED = "kernel_died"  # crash, os._exit, out of memory
    WORKER_DIED = "worker_died"  # the worker process (or Dask worker) vanished
    PUBLISH_ERROR = "publish_error"  # executed, but HTML/PDF/cache could not be written
    ENGINE_ERROR = "engine_error"  # the engine itself failed (unreadable notebook, no kernel)
    CODE_MISMATCH = "code_mismatch"  # Dask: the worker runs other code or packages
    DISCLOSURE = "disclosure"  # blocked: the disclosure scan found something in its files


class RunStatus(StrEnum):
    """The status of a whole run in the ledger's ``runs`` table."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    BLOCKED = "blocked"
    INTERRUPTED = "interrupted"
    KILLED = "killed"


class FailingCell(TypedDict):
    """The cell that failed: its index in the report notebook and the start of its source."""

    index: int
    source: str


def excerpt(text: str) -> str:
    """``text`` cut to :data:`ERROR_EXCERPT_CHARS`."""
    return text[:ERROR_EXCERPT_CHARS]


def describe(exc: BaseException) -> str:
    """``"TypeName: message"``, cut to :data:`ERROR_EXCERPT_CHARS`."""
    return excerpt(f"{type(exc).__name__}: {exc}")


def _pick(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` that are fields of the dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class JobSpec:
    """One job as a worker executes it. Paths are strings: the spec crosses processes."""

    id: str  # "<department or province>/<family>"
    family: str
    key: str  # the cache key (docs/engine.md "The cache key")
    notebook: str  # the notebook file the worker reads
    params: dict[str, Any]  # the resolved, validated parameters injected by papermill
    cache_root: str  # outputs/.cache: the entry <cache_root>/<key>/ is written there
    failed_path: str  # where a failed job's notebook goes (inside the staging build)
    timeout: float  # seconds for the whole notebook
    isolation: str = "warm"  # warm | fresh
    recycle_after: int = 100  # reports per kernel
    title: str = ""
    department: str | None = None  # None: a province report
    month: str = ""
    formats: list[str] = field(default_factory=list)  # of html, pdf
    publisher: str = "nbconvert"  # nbconvert | quarto
    log_dir: str | None = None  # kernel logs (outputs/.runs/<run>/)
    env: dict[str, str] = field(default_factory=dict)  # set by the reset cell before the report
    provenance: dict[str, Any] = field(default_factory=dict)  # the HTML/PDF footer
    kernel_env: dict[str, str] | None = None  # Dask: the kernel's own start environment
    prescan: bool = True  # run the disclosure scan on the files once published

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        """The spec from a dict (its other entries, such as a Dask job's blob names, are not
        part of the spec and are left out); a missing required field raises TypeError."""
        return cls(**_pick(cls, data))


@dataclass
class JobResult:
    """What became of one job. A new result is a failure until the worker says otherwise."""

    id: str
    key: str
    status: Status = Status.FAILED
    reason: str | None = None  # a Reason value when failed or blocked; a note when not rebuilt
    error: str | None = None  # excerpt (at most ERROR_EXCERPT_CHARS)
    failing_cell: FailingCell | None = None
    files: dict[str, str] = field(default_factory=dict)  # kind -> file name in the entry
    hashes: dict[str, str] = field(default_factory=dict)  # kind -> SHA-256
    headline: dict[str, Any] = field(default_factory=dict)  # the report's headline bundle
    report_meta: dict[str, Any] = field(default_factory=dict)
    worker: str | None = None  # "<host>:<pid>"
    run_at: str | None = None  # ISO time the job started
    duration: float | None = None  # seconds, the whole job
    execute_s: float | None = None  # seconds executing the notebook
    publish_s: float | None = None  # seconds publishing it
    family: str | None = None  # filled in by the driver
    department: str | None = None  # filled in by the driver

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @classmethod
    def failed(
        cls,
        job_id: str,
        key: str,
        reason: Reason,
        error: str,
        *,
        duration: float | None = None,
        worker: str | None = None,
    ) -> JobResult:
        """A job that failed before (or without) a worker's own result: the error cut to
        :data:`ERROR_EXCERPT_CHARS`."""
        return cls(
            id=job_id,
            key=key,
            status=Status.FAILED,
            reason=reason,
            error=excerpt(error),
            duration=duration,
            worker=worker,
        )

    @property
    def published(self) -> bool:
        """Its files are part of the month (done or cached)."""
        return self.status in PUBLISHED

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``status`` and ``reason`` as ``str``) for the Dask boundary."""
        out = dataclasses.asdict(self)
        out["status"] = self.status.value
        if self.reason is not None:
            out["reason"] = str(self.reason)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobResult:
        """The result from a dict: a worker's reply, or a cache entry's ``result.json`` (its
        provenance and parameters are not part of the result and are left out)."""
        return cls(**_pick(cls, data))

    def cache_record(self, spec: JobSpec, provenance: dict[str, Any]) -> dict[str, Any]:
        """The ``result.json`` of the cache entry a successful job writes: the result without
        its id and the driver's fields, plus what made it (provenance, family, parameters)."""
        rec = self.to_dict()
        for name in ("id", "family", "department"):
            rec.pop(name)
        rec.update(provenance=provenance, family=spec.family, params=spec.params)
        return rec
