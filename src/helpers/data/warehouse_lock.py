"""The warehouse's lock: ``make data`` rebuilds it under an exclusive lock, a report run reads
it under a shared one, so a rebuild never lands in the middle of a run (which would publish
and cache figures from two different loads under one data checksum) and two loads never race.

A lock file beside the warehouse (``<name>.lock``), locked with ``flock``: the lock goes
with the process (a crashed run leaves no stale lock). Light: no pandas; the engine imports it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse (CLI exit status 3)."""


def lock_path(warehouse: Path) -> Path:
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.name}.lock")


@contextlib.contextmanager
def hold(warehouse: Path, shared: bool) -> Iterator[None]:
    """Hold the warehouse lock (shared: reading; exclusive: rebuilding) or raise
    :class:`WarehouseBusy` at once, naming what holds it."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            what = (
                "`make data` is rebuilding it"
                if shared
                else "a report run or another `make data` is using it"
            )
            raise WarehouseBusy(
                f"the warehouse {warehouse} is busy: {what}; run again when that ends"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock
