"""Progress reporting: a one-line live display on a terminal, plain log lines otherwise."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from helpers.engine.jobs import Status


def _fmt_secs(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60:d}:{s % 60:02d}"


class Progress:
    """Counts jobs and shows what runs. ``live`` defaults to ``stream.isatty()``."""

    def __init__(self, total: int, stream: TextIO | None = None, live: bool | None = None):
        self.total = total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.counts: dict[str, int] = {Status.DONE: 0, Status.CACHED: 0, Status.FAILED: 0}
        self.running: dict[str, float] = {}
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self._run_times: list[float] = []

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def estimate_left(self) -> float | None:
        """Remaining seconds from the mean duration of finished jobs and the parallelism seen."""
        ran = self.counts[Status.DONE] + self.counts[Status.FAILED]
        left = self.total - self.finished
        if not ran or not left:
            return None
        rate = ran / max(self.elapsed(), 1e-6)  # jobs per second so far
        return left / rate

    def log(self, text: str) -> None:
        if self.live:
            self._clear()
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} {text}", file=self.stream, flush=True)
        if self.live:
            self.draw(force=True)

    def start(self, job_id: str) -> None:
        self.running[job_id] = time.monotonic()
        if not self.live:
            self.log(f"start   {job_id}")
        else:
            self.draw(force=True)

    def finish(self, job_id: str, status: Status, detail: str = "") -> None:
        started = self.running.pop(job_id, None)
        self.counts[status] = self.counts.get(status, 0) + 1
        took = f"{time.monotonic() - started:5.1f}s" if started else ""
        line = f"{status:<7} {job_id} {took} [{self.finished}/{self.total}]"
        if detail:
            line += f" {detail}"
        if self.live and status != Status.FAILED:
            self.draw(force=True)
        else:
            self.log(line)

    def _clear(self) -> None:
        width = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + " " * (width - 1) + "\r")

    def draw(self, force: bool = False) -> None:
        """Redraw the status line (terminal only; at most 5 times a second)."""
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.2:
            return
        self._last_draw = now
        c = self.counts
        eta = self.estimate_left()
        running = ", ".join(sorted(self.running)) or "-"
        line = (
            f"[{self.finished}/{self.total}] done {c[Status.DONE]} cached {c[Status.CACHED]} "
            f"failed {c[Status.FAILED]} | {_fmt_secs(self.elapsed())} elapsed"
            + (f", ~{_fmt_secs(eta)} left" if eta is not None else "")
            + f" | running: {running}"
        )
        width = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + line[: width - 1].ljust(width - 1))
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self._clear()
            self.stream.flush()
