"""The local executor: long-lived worker processes, each owning one warm kernel.

Workers pull job specs (:class:`~helpers.engine.jobs.JobSpec`) from a shared queue (natural
load balancing) and send back ``("start", worker, job_id)`` and ``("done", worker, result)``
messages (results are :class:`~helpers.engine.jobs.JobResult`). The driver alone keeps
the ledger. A worker that dies (killed, out of memory) has its in-flight job recorded as failed
(``worker_died``) and is replaced. Workers watch the driver: if the driver is killed, they kill
their kernel and exit, so a SIGKILLed run leaves no stray kernels behind.

Jobs are queued longest first (by the run time each family took last time, remembered in
``<cache>/durations.json``; province reports first when nothing is known), so the run does not
end with one worker busy on a long report while the others sit idle.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from helpers import interrupts
from helpers.engine import background
from helpers.engine.execute import process_worker, shutdown_process_worker
from helpers.engine.jobs import JobResult, JobSpec, Reason, Status, describe

Callback = Callable[..., None]


@dataclass(frozen=True)
class WorkerConfig:
    """How every worker process of a pool runs its kernel."""

    isolation: str  # warm | fresh
    recycle_after: int  # reports per kernel
    log_dir: str | None  # the run's log folder (kernel and worker stderr)
    zygote: str | None = None  # the socket of the pool's kernel zygote (helpers.engine.zygote)


def _worker_main(wid: int, task_q, result_q, config: WorkerConfig, parent_pid: int) -> None:
    """Body of one worker process."""
    isolation, recycle_after, log_dir = config.isolation, config.recycle_after, config.log_dir
    # A session of its own: Ctrl-C at the terminal reaches the driver only, which decides
    # (it terminates the workers); the kernels this worker starts are in the same session.
    with contextlib.suppress(OSError):
        os.setsid()
    if log_dir:  # what a dying kernel client prints goes to the run's logs, not the terminal
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        fd = os.open(Path(log_dir) / f"worker-{wid}.stderr", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(fd, 2)
        os.close(fd)
    worker = process_worker(isolation, recycle_after, log_dir, config.zygote)

    def die(*_):
        worker.kill_kernel_now()
        os._exit(1)

    def own_signals() -> None:
        # nbclient installs its own SIGINT/SIGTERM handlers while it runs a notebook and
        # resets them afterwards: put the worker's back before and after every job
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, die)

    own_signals()

    # The driver, not this process's parent: a worker forked by the fork server is its child,
    # and the fork server stays up while its workers do.
    background.watch_process(parent_pid, die, "kp-watch-driver")
    if isolation == "warm":
        try:
            worker.start_kernel()  # warm up while the driver is still queueing
        except Exception:
            pass  # run_job retries and reports the error per job
    while True:
        spec = task_q.get()
        if spec is None:
            break
        result_q.put(("start", wid, spec.id))
        own_signals()
        try:
            res = worker.run_job(spec)
        except BaseException as exc:  # never lose a result: report it as a failure
            res = JobResult.failed(spec.id, spec.key, Reason.ENGINE_ERROR, describe(exc))
        own_signals()
        result_q.put(("done", wid, res))
    shutdown_process_worker()
    # Everything is sent (the queue's feeder thread is flushed): leave without tearing down
    # the interpreter, whose modules (pandas, nbconvert, Typst ...) take 0.2-0.3 s to free.
    result_q.close()
    result_q.join_thread()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def byte_compile_helpers() -> None:
    """Write the bytecode of the ``helpers`` modules that lack it or whose source changed.

    Every worker and every kernel imports all of ``helpers``. pip byte-compiles installed
    packages, but this project is installed editable, and where ``PYTHONDONTWRITEBYTECODE``
    is set (containers, CI) Python never writes it: then each process compiled the ~80 modules
    from source again, 0.25-0.3 s of each kernel's start. Up to date, this check takes ~20 ms;
    where the source folder cannot be written, it changes nothing.
    """
    import compileall

    import helpers

    for folder in helpers.__path__:
        with contextlib.suppress(OSError):
            compileall.compile_dir(folder, quiet=2)


LOST_AFTER_S = 15.0
STOP_GRACE_S = 2.0  # after Ctrl-C / SIGTERM: how long workers get to kill their kernels
DURATIONS_FILE = "durations.json"


def _family(job: JobSpec | JobResult) -> str:
    return str(job.family or job.id.rsplit("/", 1)[-1])


class Durations:
    """Per-family report run times from earlier runs (a hint for ordering, never a result).

    Stored as ``{family: seconds}`` (exponentially smoothed) in ``<cache>/durations.json``,
    written atomically by the driver; a missing or unreadable file means "nothing known".
    """

    SMOOTHING = 0.5

    def __init__(self, path: Path | None):
        self.path = path
        self.known: dict[str, float] = {}
        if path is not None:
            try:
                data = json.loads(path.read_text())
                self.known = {
                    str(k): float(v)
                    for k, v in data.items()
                    if isinstance(v, (int, float)) and v >= 0
                }
            except (OSError, ValueError, AttributeError):
                self.known = {}

    def estimate(self, spec: JobSpec) -> float | None:
        return self.known.get(_family(spec))

    def order(self, specs: Iterable[JobSpec]) -> list[JobSpec]:
        """Longest expected first; unknown families keep their place after the known ones,
        province reports (which read every department's data) first among them."""
        indexed = list(enumerate(specs))

        def key(item):
            i, spec = item
            est = self.estimate(spec)
            if est is not None:
                return (0, -est, i)
            province = spec.department is None
            return (1, 0 if province else 1, i)

        return [spec for _, spec in sorted(indexed, key=key)]

    def record(self, results: Iterable[JobResult]) -> None:
        """Fold the durations of successful reports into the file (best effort)."""
        if self.path is None:
            return
        by_family: dict[str, list[float]] = {}
        for res in results:
            dur = res.duration
            if res.status == Status.DONE and isinstance(dur, (int, float)) and dur > 0:
                by_family.setdefault(_family(res), []).append(float(dur))
        if not by_family:
            return
        merged = dict(self.known)
        for fam, values in by_family.items():
            mean = sum(values) / len(values)
            old = merged.get(fam)
            merged[fam] = mean if old is None else old + self.SMOOTHING * (mean - old)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({k: round(v, 3) for k, v in sorted(merged.items())}))
            os.replace(tmp, self.path)
            self.known = merged
        except OSError:
            tmp.unlink(missing_ok=True)


def _lost(spec: JobSpec, message: str) -> JobResult:
    return JobResult.failed(spec.id, spec.key, Reason.WORKER_DIED, message)


class LocalPool:
    """Run job specs on ``n_workers`` local worker processes.

    ``keep_workers``: after a run that completed, the workers (and their warm kernels) stay up
    for the next :meth:`run` of the same pool, as a ``--months`` range runs one month after
    another; :meth:`close` stops them. Without it they stop in the background once the run
    completed (the driver assembles the month meanwhile); :meth:`close` waits for them. An
    interrupted run stops them before it returns.
    """

    def __init__(
        self,
        n_workers: int,
        isolation: str,
        recycle_after: int,
        log_dir: str | None,
        keep_workers: bool = False,
    ):
        self.n_workers = max(1, int(n_workers))
        self.isolation = isolation
        self.recycle_after = recycle_after
        self.log_dir = log_dir
        self.keep_workers = keep_workers
        self._ctx = _worker_context()
        self._workers: _Workers | None = None
        self._stopping: threading.Thread | None = None  # a completed run's workers stopping

    def _spawn(self, wid: int, task_q, result_q, zygote: str | None):
        p = self._ctx.Process(
            target=_worker_main,
            args=(
                wid,
                task_q,
                result_q,
                WorkerConfig(self.isolation, self.recycle_after, self.log_dir, zygote),
                os.getpid(),
            ),
            name=f"kp-worker-{wid}",
            daemon=False,
        )
        p.start()
        return p

    def run(
        self,
        specs: list[JobSpec],
        on_start: Callback,
        on_result: Callable[[JobResult], None],
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        """Execute every spec; call ``on_start(job_id, worker)`` and ``on_result(result)``
        in the driver as messages arrive."""
        if not specs:
            return
        cache_root = specs[0].cache_root
        durations = Durations(Path(cache_root) / DURATIONS_FILE if cache_root else None)
        specs = durations.order(specs)
        finished: list[JobResult] = []

        def record(res: JobResult) -> None:
            finished.append(res)
            on_result(res)

        workers = self._workers or _Workers(self)
        self._workers = None
        state = _PoolRun(workers, specs, on_start, record)
        completed = False
        try:
            while state.remaining:
                if not state.step(on_tick):
                    break
            completed = True
            durations.record(finished)
        finally:
            if completed and self.keep_workers:
                self._workers = workers
            elif completed:  # they stop (kernels shut down) while the driver assembles
                self._stopping = threading.Thread(target=workers.stop, args=(True,))
                self._stopping.start()
            else:
                workers.stop(completed)

    def start(self, n_jobs: int) -> None:
        """Start the workers (and the kernel zygote) for a run of ``n_jobs`` now, so their
        start overlaps what the driver does before :meth:`run`; :meth:`close` stops them if
        no run follows."""
        if self._workers is None:
            self._workers = _Workers(self)
        self._workers.reap()
        self._workers.add(min(self.n_workers, n_jobs))

    def close(self) -> None:
        """Stop the workers a completed run kept, or :meth:`start` started for a run that did
        not come, and wait until the workers of a completed run have stopped (nothing to do
        when none are up)."""
        if self._stopping is not None:
            self._stopping.join()
            self._stopping = None
        if self._workers is not None:
            self._workers.stop(True)
            self._workers = None
        if self._ctx.get_start_method() == "forkserver":
            _stop_fork_server()


def _worker_context():
    """How the pool starts its workers: forked from ``multiprocessing``'s fork server, which
    imports the workers' libraries and compiles the HTML templates once
    (:mod:`helpers.engine.worker_preload`) instead of once per worker (about 1.3 s of CPU
    each), where the platform has one; started afresh (``spawn``) elsewhere or with
    ``KP_NO_FORKSERVER=1``. The fork server starts with the pool's first worker, in the
    driver's environment and folder at that moment, and stops when the pool closes, so the
    next pool's workers see the environment of their own run."""
    if "forkserver" in mp.get_all_start_methods() and not os.environ.get("KP_NO_FORKSERVER"):
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["helpers.engine.worker_preload"])
        return ctx
    return mp.get_context("spawn")


def _stop_fork_server() -> None:
    """Stop ``multiprocessing``'s fork server (the pool's workers have stopped). It has no
    public stop: its own ``_stop`` (what the standard library's tests use) closes the pipe the
    server watches, waits for it to exit and forgets it."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    pid, stop = getattr(server, "_forkserver_pid", None), getattr(server, "_stop", None)
    if pid is None or stop is None:
        return
    # It exits once every process holding its pipe has (its workers hold it too): stopped
    # first, it never waits for one that is still being killed.
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(OSError, ChildProcessError):
        stop()


class _Workers:
    """A pool's worker processes and the two queues they share with the driver."""

    def __init__(self, pool: LocalPool):
        self.pool = pool
        self.task_q = pool._ctx.Queue()
        self.result_q = pool._ctx.Queue()
        self.procs: dict = {}
        self.next_wid = 0
        self.zygote: _Zygote | None = None

    def reap(self) -> None:
        """Forget workers that exited (one kept between two runs may have died idle)."""
        for wid, p in list(self.procs.items()):
            if not p.is_alive():
                p.join(0.1)
                del self.procs[wid]

    def add(self, n: int) -> None:
        """Start workers until there are ``n``."""
        if len(self.procs) < n:
            byte_compile_helpers()
            if self.zygote is None or not self.zygote.alive():
                if self.zygote is not None:
                    self.zygote.stop()
                self.zygote = _Zygote.start(self.pool.log_dir)
        sock = self.zygote.sock if self.zygote else None
        while len(self.procs) < n:
            self.procs[self.next_wid] = self.pool._spawn(
                self.next_wid, self.task_q, self.result_q, sock
            )
            self.next_wid += 1

    def stop(self, completed: bool) -> None:
        """Stop the workers: after the last job, let them finish (they stop their kernels);
        interrupted, terminate them now (SIGTERM makes workers kill their kernel)."""
        queues = (self.task_q, self.result_q)
        main = threading.current_thread() is threading.main_thread()
        previous = None
        if completed:
            for _ in self.procs:
                self.task_q.put(None)
            deadline = time.monotonic() + 30
        else:
            if main:
                previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits
            for p in self.procs.values():
                p.terminate()
            deadline = time.monotonic() + STOP_GRACE_S
            # queued tasks nobody will read must not hold the interpreter's exit
            for q in queues:
                q.cancel_join_thread()
        for p in self.procs.values():
            p.join(timeout=max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5)
        if self.zygote is not None:
            self.zygote.stop()
            self.zygote = None
        if not completed:
            for q in queues:
                q.close()
            if main:
                signal.signal(signal.SIGINT, previous)


class _Zygote:
    """The pool's kernel zygote process (:mod:`helpers.engine.zygote`): the workers' kernels
    are forked from it instead of each starting Python and importing the libraries again."""

    def __init__(self, proc, folder: str, sock: str):
        self.proc, self.folder, self.sock = proc, folder, sock

    @classmethod
    def start(cls, log_dir: str | None) -> _Zygote | None:
        from helpers.engine import zygote
        from helpers.engine.execute import KERNEL_NAME, kernel_environment

        if not zygote.available or os.environ.get("KP_NO_ZYGOTE"):
            return None
        folder = tempfile.mkdtemp(prefix="kp-zygote-")
        sock = os.path.join(folder, "zygote.sock")
        log = None
        if log_dir:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            log = open(Path(log_dir) / "zygote.log", "ab")  # noqa: SIM115
        try:
            proc = zygote.start(
                sock,
                KERNEL_NAME,
                kernel_environment(),
                log if log is not None else subprocess.DEVNULL,
            )
        finally:
            if log is not None:
                log.close()
        if proc is None:  # the kernel spec starts no ipykernel of its own: no zygote
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return cls(proc, folder, sock)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Stop the zygote (the kernels it forked go with their workers, which have stopped)."""
        with contextlib.suppress(OSError):
            self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)


class _PoolRun:
    """One :meth:`LocalPool.run`: its jobs on the pool's workers, and the jobs in flight."""

    def __init__(
        self,
        workers: _Workers,
        specs: list[JobSpec],
        on_start: Callback,
        on_result: Callable[[JobResult], None],
    ):
        self.workers = workers
        self.on_start, self.on_result = on_start, on_result
        self.task_q, self.result_q = workers.task_q, workers.result_q
        for spec in specs:
            self.task_q.put(spec)
        workers.reap()
        workers.add(min(workers.pool.n_workers, len(specs)))
        self.by_id = {s.id: s for s in specs}
        self.inflight: dict[int, str] = {}  # worker -> the job it announced
        self.remaining = set(self.by_id)
        self.last_message = time.monotonic()

    def step(self, on_tick: Callable[[], None] | None) -> bool:
        """Wait up to 0.5 s for a worker's message and act on it; on silence, look after the
        workers. False when nothing more can arrive (every job was reported lost)."""
        interrupts.check()  # a Ctrl-C that a library turned into an error (helpers.interrupts)
        try:
            kind, wid, payload = self.result_q.get(timeout=0.5)
            self.last_message = time.monotonic()
        except queue.Empty:
            if on_tick:
                on_tick()
            if (
                not self.inflight
                and self.task_q.empty()
                and time.monotonic() - self.last_message > LOST_AFTER_S
            ):
                # Every task was taken but nobody runs it: a worker died between taking a
                # job and announcing it. Report those jobs instead of hanging.
                for job_id in sorted(self.remaining):
                    self.on_result(_lost(self.by_id[job_id], "worker died before starting the job"))
                self.remaining.clear()
                return False
            self._replace_dead()
            return True
        self._handle(kind, wid, payload)
        return True

    def _replace_dead(self) -> None:
        """Report the job of each worker that died as lost, and start a new worker."""
        procs = self.workers.procs
        for wid, p in list(procs.items()):
            if p.is_alive():
                continue
            self._drain()
            running = self.inflight.pop(wid, None)
            del procs[wid]
            if running is not None and running in self.remaining:
                self.remaining.discard(running)
                self.on_result(
                    _lost(self.by_id[running], f"worker process exited with code {p.exitcode}")
                )
            if self.remaining:
                self.workers.add(len(procs) + 1)

    def _handle(self, kind: str, wid: int, payload) -> None:
        if (payload if kind == "start" else payload.id) not in self.by_id:
            return  # a late message about a job of an earlier run on these workers
        if kind == "start":
            self.inflight[wid] = payload
            self.on_start(payload, wid)
        else:
            self.inflight.pop(wid, None)
            if payload.id in self.remaining:
                self.remaining.discard(payload.id)
                self.on_result(payload)

    def _drain(self) -> None:
        while True:
            try:
                kind, wid, payload = self.result_q.get_nowait()
            except queue.Empty:
                return
            self._handle(kind, wid, payload)
