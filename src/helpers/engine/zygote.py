"""A kernel zygote: one process that imports the report kernels' libraries once and forks each
kernel from itself, so the local pool's kernels skip their start-up imports.

A report kernel spends about 2-3 s starting: Python, ipykernel and IPython, then the boot cell's
imports (pandas, matplotlib, statsmodels, scipy, duckdb, every ``helpers`` module a notebook may
use; :mod:`helpers.engine.kernel_boot`), every time a kernel is started: for each worker, after
every ``recycle_after`` reports, after a kernel died or timed out, and for every report with
``--isolation fresh``. The local pool (:class:`helpers.engine.pool.LocalPool`) starts one zygote
when it starts its workers. The zygote imports all of that once, and then
forks one child per kernel the workers ask for. Each child becomes an ordinary ipykernel
(``IPKernelApp``, the kernel spec's own arguments and connection file). The worker's
``jupyter_client`` talks to it as to any kernel. Its boot cell then finds the modules imported.

The kernel a worker gets is the kernel the kernel spec would start, with the same interpreter,
arguments, connection file, environment, working directory and log files:

- the zygote is started with the kernel spec's interpreter and interpreter flags, in the
  environment the workers start kernels with (the driver's, plus ``MPLBACKEND=Agg`` and
  ``PYDEVD_DISABLE_FILE_VALIDATION=1``); a request whose command or environment would differ
  where it matters (another interpreter or flags; ``KP_*``, ``PYTHON*``, matplotlib's, the
  BLAS thread settings, locale, time zone or home folder, which modules and Python read when
  they start) is refused, and the worker starts that kernel itself, as before;
- each child starts a session of its own (so the kernel manager's signals to its process group
  reach it and only it), takes the worker's log file as stdout and stderr, changes to the
  requested folder and takes the requested environment before ipykernel starts;
- a child exits when the worker that asked for it dies (it watches the worker's pid, as
  ipykernel watches its parent), and every child exits when the zygote does (the pool stops it
  with its workers; the zygote exits when the driver does).

Measured (docs/engine.md, "Performance"): ``--isolation fresh`` on the 26-report job set took
23.7 s instead of 45.7 s. A warm run barely changes: its two kernels start once, about as soon as
before (the zygote's imports run on one core while the other starts the workers), and the forked
kernels pay for copying the pages they write of what they share. ``KP_NO_ZYGOTE=1`` turns it off.

Only a Linux feature beyond POSIX is used: ``os.pidfd_open`` (Linux 5.3), to wait for a process
that is not one's child. Where it or ``fork`` is missing, the pool starts no zygote.

Protocol (an ``AF_UNIX`` stream socket, one request per connection): the worker sends one JSON
line ``{"argv": [...], "env": {...}, "cwd": "...", "watch": PID}`` with two file descriptors
(stdout, stderr; ``socket.send_fds``) and reads one JSON line back: ``{"pid": N}`` or
``{"refused": "why"}``.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from helpers.engine import background

#: Environment variables a forked kernel must share with the zygote: modules read them when
#: they are imported (the zygote imported them), or Python read them at start-up.
_MUST_MATCH_PREFIXES = (
    "KP_",
    "PYTHON",
    "MPL",
    "OPENBLAS",
    "OMP_",
    "MKL_",
    "LANG",
    "LC_",
    "TZ",
    "HOME",
    "XDG_",
)
#: How long a worker waits for the zygote's answer (it answers once its imports are done).
ANSWER_TIMEOUT_S = 60.0

available = hasattr(os, "fork") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


def _interpreter(kernel_argv: list[str]) -> list[str] | None:
    """The interpreter and its flags of a kernel command (``[python, *flags, "-m",
    "ipykernel_launcher", "-f", ...]``), or None when it starts kernels some other way."""
    try:
        m = kernel_argv.index("-m")
    except ValueError:
        return None
    return kernel_argv[:m] if kernel_argv[m + 1 : m + 2] == ["ipykernel_launcher"] else None


def _env_mismatch(want: dict[str, str], have: dict[str, str]) -> str:
    keys = {k for k in (*want, *have) if k.startswith(_MUST_MATCH_PREFIXES)}
    diff = sorted(k for k in keys if want.get(k) != have.get(k))
    return f"environment differs in {', '.join(diff)}" if diff else ""


# --------------------------------------------------------------------------------------------
# The zygote process
# --------------------------------------------------------------------------------------------


def _child(req: dict, fds: list[int]) -> None:
    """In the forked child: become the requested kernel (never returns)."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()
        for target, fd in zip((1, 2), fds, strict=False):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        background.watch_process(int(req["watch"]), lambda: os._exit(1), "kp-watch-owner")
        argv = req["argv"]
        m = argv.index("-m")
        sys.argv = ["ipykernel_launcher", *argv[m + 2 :]]
        sys.orig_argv = list(argv)
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _serve_one(conn: socket.socket, listener: socket.socket, interpreter: list[str]) -> None:
    msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 2)
    buf = msg
    while not buf.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            break
        buf += more
    try:
        req = json.loads(buf)
        why = ""
        if _interpreter(list(req["argv"])) != interpreter:
            why = "another interpreter, interpreter flags or kernel module"
        why = why or _env_mismatch(dict(req["env"]), dict(os.environ))
        if why:
            conn.sendall(json.dumps({"refused": why}).encode() + b"\n")
            return
        pid = os.fork()
        if pid == 0:
            conn.close()
            listener.close()
            _child(req, fds)
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    finally:
        for fd in fds:
            os.close(fd)


def kernel_interpreter(kernel_name: str) -> list[str] | None:
    """The interpreter and interpreter flags of kernel spec ``kernel_name``'s command, as a
    worker's ``jupyter_client`` will send it (a bare ``python`` becomes this interpreter), or
    None when there is no such kernel spec or it starts kernels some other way.

    Read from the spec's ``kernel.json`` in the Jupyter data path, where jupyter_client's
    ``KernelSpecManager`` finds it (the first folder that has it; names compared in lower
    case), without importing jupyter_client (a third of a second): the driver calls this
    before it starts the zygote. Were another spec found, a worker's request would differ
    from this command and be refused (the worker starts its kernel itself)."""
    from jupyter_core.paths import jupyter_path

    name = kernel_name.lower()
    for folder in jupyter_path("kernels"):
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            spec = Path(folder, entry, "kernel.json")
            if entry.lower() != name or not spec.is_file():
                continue
            try:
                argv = [str(a) for a in json.loads(spec.read_text(encoding="utf-8"))["argv"]]
            except (OSError, ValueError, KeyError, TypeError):
                return None
            major, minor = sys.version_info[:2]
            python = {"python", f"python{major}", f"python{major}.{minor}"}
            if argv and argv[0] in python:  # as jupyter_client's KernelManager does
                argv[0] = sys.executable
            return _interpreter(argv)
    return None


def serve(sock_path: str, interpreter: list[str]) -> None:
    """The zygote's main (started with the kernel spec's ``interpreter`` and its flags,
    :func:`start`): listen at once (workers' requests wait in the backlog), import the
    kernels' libraries, then fork a kernel per request for that interpreter until the driver
    goes away."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(64)
    os.environ.setdefault("MPLBACKEND", "Agg")
    # What a kernel imports before its first cell, then the boot cell's modules.
    import ipykernel.ipkernel
    import ipykernel.kernelapp  # noqa: F401

    from helpers.engine import kernel_boot

    kernel_boot.preload()
    gc.freeze()  # the collector then never writes to the pages the kernels share
    # Kernels are waited for as they exit, and the zygote, stopped, waits for the rest: their
    # CPU time then counts in the zygote's children's and so in the run's (the benchmark reads
    # it). SIGTERM stops it; a child (kernel) resets both handlers.
    signal.signal(signal.SIGCHLD, lambda *_: _reap(block=False))
    signal.signal(signal.SIGTERM, _stop)
    listener.settimeout(1.0)
    try:
        while os.getppid() == parent:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(ANSWER_TIMEOUT_S)
                try:
                    _serve_one(conn, listener, interpreter)
                except (OSError, ValueError, KeyError):
                    pass  # a bad or broken request: that worker starts its kernel itself
    except SystemExit:
        pass
    finally:
        listener.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _reap(block=True, within=STOP_WAIT_S)
        # leave without tearing down the interpreter (its modules take a while to free)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


#: How long a stopped zygote waits for kernels still running (their workers stop them).
STOP_WAIT_S = 3.0


def _stop(*_) -> None:
    raise SystemExit(0)


def _reap(block: bool, within: float = 0.0) -> None:
    """Wait for exited children (all of them, up to ``within`` seconds, when ``block``)."""
    deadline = time.monotonic() + within
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if not block or time.monotonic() > deadline:
            return
        time.sleep(0.02)


def start(sock_path: str, kernel_name: str, env: dict[str, str], log) -> subprocess.Popen | None:
    """Start a zygote for ``kernel_name``'s kernels listening at ``sock_path``, with the kernel
    spec's interpreter and flags (None, and no zygote, when the spec has no such command)."""
    interpreter = kernel_interpreter(kernel_name)
    if interpreter is None:
        return None
    return subprocess.Popen(
        [*interpreter, "-m", "helpers.engine.zygote", sock_path, json.dumps(interpreter)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


# --------------------------------------------------------------------------------------------
# The worker's side: a jupyter_client provisioner that asks the zygote
# --------------------------------------------------------------------------------------------


class ForkedKernel:
    """The ``subprocess.Popen`` surface jupyter_client's local provisioner uses, for a kernel
    the zygote forked (not this process's child: its exit is read from a pidfd)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._fd: int | None = os.pidfd_open(pid)
        except OSError:  # already gone
            self._fd = None
            self.returncode = 1

    def poll(self) -> int | None:
        if self.returncode is None and self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], 0)
            if ready:
                self._exited()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            self._exited()
        return int(self.returncode or 0)

    def _exited(self) -> None:
        # The exit status belongs to the zygote (its parent); "exited" is all that is known.
        self.returncode = 0
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def request_kernel(sock_path: str, argv: list[str], env: dict, cwd: str, fds: list[int]) -> int:
    """Ask the zygote at ``sock_path`` for a kernel; its pid. Raises ``OSError`` when the
    zygote cannot be reached or refuses (the caller starts the kernel itself)."""
    req = {"argv": argv, "env": env, "cwd": cwd, "watch": os.getpid()}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(ANSWER_TIMEOUT_S)
        s.connect(sock_path)
        socket.send_fds(s, [json.dumps(req).encode() + b"\n"], fds)
        buf = b""
        while not buf.endswith(b"\n"):
            more = s.recv(65536)
            if not more:
                raise OSError("the kernel zygote closed the connection")
            buf += more
    answer = json.loads(buf)
    if "pid" not in answer:
        raise OSError(f"the kernel zygote refused: {answer.get('refused')}")
    return int(answer["pid"])


@functools.cache
def provisioner_class():
    """A jupyter_client ``LocalProvisioner`` that gets its kernel from the zygote named by
    its ``zygote`` attribute, and launches it itself when the zygote cannot serve it."""
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner

    class ZygoteProvisioner(LocalProvisioner):
        zygote: str = ""
        forked: bool = False

        async def launch_kernel(self, cmd, **kwargs):
            # as jupyter_client's launcher sets it (the kernel then polls for its parent)
            env = dict(kwargs.get("env") or os.environ, JPY_PARENT_PID=str(os.getpid()))
            cwd = str(kwargs.get("cwd") or Path.cwd())
            fds = [
                f.fileno() if hasattr(f, "fileno") else int(f)
                for f in (kwargs.get("stdout"), kwargs.get("stderr"))
                if f is not None
            ]
            if len(fds) != 2:
                fds = [sys.stdout.fileno(), sys.stderr.fileno()]
            try:
                pid = request_kernel(self.zygote, list(cmd), dict(env), cwd, fds)
            except (OSError, ValueError) as exc:
                print(f"kernel zygote not used: {exc}", file=sys.stderr, flush=True)
                return await super().launch_kernel(cmd, **kwargs)
            self.forked = True
            self.process = ForkedKernel(pid)  # type: ignore[assignment]
            self.pid = self.pgid = pid
            self.cwd = cwd
            return self.connection_info

    return ZygoteProvisioner


if __name__ == "__main__":
    serve(sys.argv[1], json.loads(sys.argv[2]))
