"""Start-up work that nothing waits on yet, run in a thread while a kernel boots.

At a run's start the kernel zygote's imports are the longest step before the first report can
run; the workers' own warm-ups (importing and priming the publishers) fit beside it on the
other cores. On a machine with as many cores as workers, all of them at once would take the
zygote's core too (Linux shares the CPU between sessions, so thread priorities do not help):
warm-ups that name the same ``lock`` file run one at a time, leaving the zygote its core.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable


def start(target: Callable[[], None], name: str, lock: str | None = None) -> threading.Thread:
    """Run ``target`` in a daemon thread (holding the ``lock`` file, when given, while it runs);
    returns the started thread."""

    def body() -> None:
        if lock is None:
            target()
            return
        try:
            fh = open(lock, "a")  # noqa: SIM115 - held for the whole warm-up
        except OSError:
            target()  # no lock to be had: run anyway (only the timing differs)
            return
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            target()

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread
