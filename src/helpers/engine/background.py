"""Start-up work that nothing waits on yet, run in a thread while a kernel boots; and watching
another process from a thread (:func:`watch_process`).

At a run's start the kernel zygote's imports are the longest step before the first report can
run; the workers' own warm-ups (importing and priming the publishers) fit beside it on the
other cores. On a machine with as many cores as workers, all of them at once would take the
zygote's core too (Linux shares the CPU between sessions, so thread priorities do not help):
warm-ups that name the same ``lock`` file run one at a time, leaving the zygote its core.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import threading
import time
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


def watch_process(pid: int, on_exit: Callable[[], None], name: str = "kp-watch") -> None:
    """Call ``on_exit`` (in a daemon thread) once process ``pid`` has exited, any process, not
    only a child: at once through a pidfd where Linux has one, else checked every second."""

    def watch() -> None:
        try:
            fd = os.pidfd_open(pid)
        except OSError as exc:
            if exc.errno == errno.ESRCH:  # gone already
                on_exit()
                return
            fd = None
        except AttributeError:  # not Linux
            fd = None
        if fd is not None:
            select.select([fd], [], [])
            on_exit()
            return
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                on_exit()
                return
            except OSError:
                pass  # alive, another user's

    threading.Thread(target=watch, name=name, daemon=True).start()
