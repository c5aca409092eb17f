"""Run jobs on a Dask distributed cluster (``EXECUTOR=dask SCHEDULER=tcp://...``).

Workers need nothing of the driver's file system. For each run the driver

1. connects to the scheduler (unreachable within :data:`CONNECT_TIMEOUT_S`: :class:`SchedulerUnreachable`,
   which the CLI reports in one line with exit status 2, before anything is written);
2. turns what the jobs read into content-addressed *blobs*: each notebook, the parameter folder
   (suite.yaml, scorecard/pse/contracts, the profiles), the reference folder (boundary files)
   and the warehouse file. Each blob is one Dask task keyed ``kp-blob-<sha256>`` whose result is
   the bytes: a worker fetches it from a peer (or the scheduler re-creates it from the graph if
   the worker holding it died) once per run, and keeps it on its local disk under
   ``<worker local directory>/kp-store/<sha256>`` for as long as the worker lives;
3. submits one task per job carrying the job's parameters, the blob names and the code
   fingerprint (helpers code, templates, ``requirements.lock``) that the cache key uses. A
   worker whose installed code or packages differ refuses the job (``code_mismatch``) and
   returns nothing to publish;
4. takes each result as it arrives and releases it on the cluster (a worker that dies later
   costs nothing already finished; Dask re-runs only the job that was running on it),
   checks the fingerprint again, and writes the returned files into its own cache
   (``outputs/.cache/<key>/``) and failed notebooks into the staging build. Only the driver
   writes the cache, the ledger and the outputs.

With no worker connected for ``no_workers_timeout`` seconds (or the scheduler gone) the run
stops with :class:`NoWorkers`; the CLI records the run as failed with a note, exit 1.

Each worker process keeps one warm kernel across tasks *and across runs* (the kernel-cleanup
plugin is registered idempotently, so a new run does not tear kernels down); a kernel is
restarted when a job needs another parameter folder, profile or code fingerprint.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from helpers.engine.cache import Cache, sha256_bytes, sha256_file, tree_hash
from helpers.engine.jobs import JobResult, JobSpec, Reason, Status, describe

CONNECT_TIMEOUT_S = 4.0
NO_WORKERS_TIMEOUT_S = 120.0
PLUGIN_NAME = "kp-kernel-cleanup"
ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx|inproc)://[A-Za-z0-9_.\-\[\]:]+$")


class SchedulerUnreachable(RuntimeError):
    """The scheduler did not answer in time (exit status 2: nothing ran)."""


class NoWorkers(RuntimeError):
    """No worker was connected for the allowed time, or the scheduler went away."""


def check_address(address: str) -> None:
    """Refuse an address that is not ``tcp://host:port`` (or another Dask protocol)."""
    if not isinstance(address, str) or not ADDRESS.match(address):
        raise ValueError(f"SCHEDULER must look like tcp://host:8786, got {address!r}")


# -- what the driver ships ------------------------------------------------------------------


def tree_blob(root: Path) -> bytes:
    """A deterministic tar of every file under ``root`` (sorted, no times or owners), so the
    same folder always gives the same bytes and the same content address."""
    buf = io.BytesIO()
    root = Path(root)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if root.is_dir():
            for p in sorted(root.rglob("*")):
                if not p.is_file() or "__pycache__" in p.parts or p.name.startswith(".~"):
                    continue
                data = p.read_bytes()
                info = tarfile.TarInfo(p.relative_to(root).as_posix())
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def lock_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a requirements lock (comments and options ignored)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.split(";")[0].strip()
    return pins


class Shipment:
    """The blobs of one run (sha256 -> bytes) and, per job, the remote spec."""

    def __init__(self, code: dict[str, str], lock_text: str | None):
        self.blobs: dict[str, bytes] = {}
        self.code = dict(code)
        self.lock_text = lock_text
        self._by_path: dict[tuple[str, str], str] = {}

    def add(self, data: bytes) -> str:
        sha = sha256_bytes(data)
        self.blobs.setdefault(sha, data)
        return sha

    def add_file(self, path: Path) -> str:
        key = ("file", str(path))
        if key not in self._by_path:
            self._by_path[key] = self.add(Path(path).read_bytes())
        return self._by_path[key]

    def add_tree(self, path: Path) -> str:
        key = ("tree", str(path))
        if key not in self._by_path:
            self._by_path[key] = self.add(tree_blob(path))
        return self._by_path[key]

    def remote_spec(
        self,
        spec: JobSpec,
        *,
        params_dir: Path,
        reference_dir: Path,
        warehouse: Path,
        suite_dir: Path | None = None,
    ) -> dict[str, Any]:
        """The job as a worker sees it (plain data): no path of the driver's, only blob names.

        ``params_dir`` is the driver's parameter folder (``helpers.paths.PARAMS_DIR``: the
        profiles and parameter files the kernel and the publishers read); ``suite_dir`` the
        folder of the run's ``suite.yaml`` (the reports' ``KP_PARAMS``; usually the same)."""
        keep = (
            "id family title department month params key formats publisher timeout isolation "
            "recycle_after provenance"
        ).split()
        data = spec.to_dict()
        remote = {k: data[k] for k in keep}
        nb = Path(spec.notebook)
        remote["notebook"] = {"sha": self.add_file(nb), "name": nb.name}
        remote["params_tree"] = self.add_tree(params_dir)
        remote["suite_tree"] = self.add_tree(suite_dir or params_dir)
        remote["reference_tree"] = self.add_tree(reference_dir)
        remote["warehouse"] = self.add_file(warehouse) if Path(warehouse).is_file() else None
        remote["profile"] = spec.env.get("KP_PROFILE")
        remote["code"] = self.code
        remote["lock_text"] = self.lock_text
        return remote


def blob_names(remote: dict[str, Any]) -> list[str]:
    names = [remote["notebook"]["sha"], remote["params_tree"], remote["reference_tree"]]
    names.append(remote.get("suite_tree") or remote["params_tree"])
    if remote.get("warehouse"):
        names.append(remote["warehouse"])
    return names


# -- the worker side ------------------------------------------------------------------------


def _host() -> str:
    return (socket.gethostname() or "localhost").replace("/", "_")


def installed_code() -> dict[str, str]:
    """Fingerprint of the helpers code installed where this process imports it from."""
    import helpers

    root = Path(helpers.__file__).resolve().parent
    return {
        "helpers": tree_hash(root, ["**/*.py"]),
        "templates": tree_hash(root / "publish" / "templates", ["**/*"]),
    }


# The code this process loaded (computed when the module is imported on the worker): if the
# installed files change afterwards, the process runs code that no longer matches any key.
_LOADED_CODE: dict[str, str] | None = None
_LOCK_CHECKS: dict[str, str | None] = {}
# One kernel per process, driven from one long-lived thread: one job at a time.
_KERNEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kp-kernel")


def check_code(code: dict[str, str], lock_text: str | None) -> str | None:
    """None if this worker runs the job's code and packages, else why not (one line)."""
    global _LOADED_CODE
    who = f"worker {_host()}:{os.getpid()}"
    now = installed_code()
    if _LOADED_CODE is None:
        _LOADED_CODE = now
    for part in ("helpers", "templates"):
        if code.get(part) != now[part]:
            return (
                f"{who} has different {part} code installed ({now[part][:12]}, the job needs "
                f"{str(code.get(part))[:12]}): install the driver's commit on it"
            )
    if now != _LOADED_CODE:
        return f"{who}: its installed code changed since it started: restart the worker"
    want = code.get("lock")
    if lock_text is None or want in (None, "no-lock-file"):
        return None
    if want not in _LOCK_CHECKS:
        _LOCK_CHECKS[want] = _check_lock(lock_text, want, who)
    return _LOCK_CHECKS[want]


def _check_lock(lock_text: str, want: str, who: str) -> str | None:
    own = os.environ.get("KP_LOCK_FILE")
    if own and Path(own).is_file():
        have = sha256_file(Path(own))
        if have != want:
            return f"{who}: its requirements.lock ({own}) differs from the driver's"
        return None
    if sha256_bytes(lock_text.encode()) != want:
        return f"{who}: the lock shipped with the job does not match its fingerprint"
    from importlib import metadata

    wrong = []
    for name, version in sorted(lock_pins(lock_text).items()):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "not installed"
        if have != version:
            wrong.append(f"{name} {have} (lock: {version})")
    if wrong:
        more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        return (
            f"{who}: installed packages differ from requirements.lock: "
            + ", ".join(wrong[:3])
            + more
        )
    return None


def _store_root() -> Path:
    try:
        from distributed import get_worker

        base = Path(get_worker().local_directory)
    except (ImportError, ValueError):  # not inside a Dask worker
        base = Path(tempfile.gettempdir()) / f"kp-worker-{_host()}-{os.getpid()}"
    root = base / "kp-store"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _materialise(root: Path, sha: str, data: bytes | None, name: str | None) -> Path:
    """``<root>/<sha>/<name>`` (a file) or ``<root>/<sha>/tree`` (an unpacked folder), written
    once per worker; the bytes are checked against their address."""
    final = root / sha
    target = final / (name or "tree")
    if target.exists():
        return target
    if data is None:
        raise RuntimeError(f"blob {sha[:12]} is missing on {_host()}")
    if sha256_bytes(data) != sha:
        raise RuntimeError(f"blob {sha[:12]} arrived damaged on {_host()}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-{_host()}-{os.getpid()}-", dir=root))
    try:
        if name is None:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(tmp / "tree", filter="data")
        else:
            (tmp / name).write_bytes(data)
        try:
            os.rename(tmp, final)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@contextlib.contextmanager
def _job_paths(env: dict[str, str], params_dir: Path, ref_dir: Path):
    """This worker process's view of the job's files while it publishes (the publishers read
    the profile through :mod:`helpers.paths`, as the kernel does); restored afterwards."""
    from helpers import paths

    saved_env = {k: os.environ.get(k) for k in env}
    saved = (paths.PARAMS_DIR, paths.REFERENCE_DIR)
    os.environ.update(env)
    paths.PARAMS_DIR, paths.REFERENCE_DIR = Path(params_dir), Path(ref_dir)
    try:
        yield
    finally:
        paths.PARAMS_DIR, paths.REFERENCE_DIR = saved
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_in_kernel_thread(
    spec: JobSpec, env: dict[str, str], params_dir: Path, ref_dir: Path
) -> JobResult:
    from helpers.engine.execute import process_worker

    with _job_paths(env, params_dir, ref_dir):
        worker = process_worker(spec.isolation, spec.recycle_after, spec.log_dir)
        return worker.run_job(spec)


def run_remote_job(remote: dict[str, Any], blobs: dict[str, bytes]) -> dict[str, Any]:
    """The task a Dask worker runs: check the code, lay out the job's inputs from the blobs on
    local disk, execute and publish into a private scratch folder, return the files' bytes.

    ``remote`` (from :meth:`Shipment.remote_spec`) and the reply are plain data: a
    :class:`JobResult` as a dict plus the files (``record``, ``payload``, ``failed_notebook``)
    and ``worker_code``, read by :func:`land`."""

    t0 = time.monotonic()
    worker = f"{_host()}:{os.getpid()}"
    problem = check_code(remote["code"], remote.get("lock_text"))
    if problem:
        refused = JobResult.failed(
            remote["id"], remote["key"], Reason.CODE_MISMATCH, problem, worker=worker
        )
        return dict(refused.to_dict(), worker_code=installed_code())
    try:
        root = _store_root()
        nb = _materialise(
            root,
            remote["notebook"]["sha"],
            blobs.get(remote["notebook"]["sha"]),
            remote["notebook"]["name"],
        )
        params_dir = _materialise(
            root, remote["params_tree"], blobs.get(remote["params_tree"]), None
        )
        suite_sha = remote.get("suite_tree") or remote["params_tree"]
        suite_dir = _materialise(root, suite_sha, blobs.get(suite_sha), None)
        ref_dir = _materialise(
            root, remote["reference_tree"], blobs.get(remote["reference_tree"]), None
        )
        warehouse = (
            _materialise(
                root, remote["warehouse"], blobs.get(remote["warehouse"]), "warehouse.duckdb"
            )
            if remote.get("warehouse")
            else root / "no-warehouse" / "warehouse.duckdb"
        )
        (root / "jobs").mkdir(exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"job-{_host()}-{os.getpid()}-", dir=root / "jobs"))
    except Exception as exc:
        return JobResult.failed(
            remote["id"],
            remote["key"],
            Reason.ENGINE_ERROR,
            describe(exc),
            duration=round(time.monotonic() - t0, 3),
            worker=worker,
        ).to_dict()
    # What the kernel reads once at boot (a change starts a new kernel) ...
    kernel_env = {
        "KP_PARAMS": str(params_dir),
        "KP_REFERENCE": str(ref_dir),
        "KP_CODE": remote["code"]["helpers"][:16],
    }
    if remote.get("profile"):
        kernel_env["KP_PROFILE"] = remote["profile"]
    # ... and what the reset cell sets before each report.
    job_env = dict(
        kernel_env,
        KP_PARAMS=str(suite_dir),
        KP_WAREHOUSE=str(warehouse),
        KP_NOTEBOOKS=str(nb.parent),
        KP_OUTPUTS=str(scratch / "outputs"),
    )
    spec = JobSpec.from_dict(
        dict(
            remote,
            notebook=str(nb),
            cache_root=str(scratch / "cache"),
            failed_path=str(scratch / "failed" / f"{remote['family']}.failed.ipynb"),
            log_dir=str(root / "logs"),
            env=job_env,
            kernel_env=kernel_env,
            prescan=False,
        )
    )
    try:
        # Always the same thread: the kernel's manager and client belong to the event loop of
        # the thread that started them, and Dask may run successive tasks on other threads.
        result = _KERNEL_THREAD.submit(
            _run_in_kernel_thread,
            spec,
            dict(kernel_env, KP_WAREHOUSE=str(warehouse)),
            params_dir,
            ref_dir,
        ).result()
        res = dict(result.to_dict(), worker_code=installed_code())
        entry = Cache(scratch / "cache").entry(remote["key"])
        if result.status == Status.DONE:
            record = json.loads((entry / "result.json").read_text())
            res["record"] = record
            res["payload"] = {n: (entry / n).read_bytes() for n in record["files"].values()}
        elif Path(spec.failed_path).is_file():
            res["failed_notebook"] = Path(spec.failed_path).read_bytes()
        return res
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _blob_value(data: bytes) -> bytes:
    return data


def _plugin_class():
    from distributed.diagnostics.plugin import WorkerPlugin

    class KernelCleanup(WorkerPlugin):
        """Stops the worker's warm kernel when the Dask worker shuts down. Registered
        idempotently: a later run does not replace it (replacing would tear the kernels down)."""

        name = PLUGIN_NAME
        idempotent = True

        def teardown(self, worker):
            from helpers.engine.execute import shutdown_process_worker

            try:  # on the thread that owns the kernel
                _KERNEL_THREAD.submit(shutdown_process_worker).result(timeout=30)
            except Exception:
                shutdown_process_worker()

    return KernelCleanup


# -- the driver side ------------------------------------------------------------------------


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A Client connected to ``address``, or :class:`SchedulerUnreachable` within ``timeout``."""
    import logging

    from distributed import Client

    quiet = [logging.getLogger(n) for n in ("distributed", "distributed.client")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        return Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
            f"({type(exc).__name__}); is it running?"
        ) from None
    finally:
        for lg, lv in zip(quiet, levels, strict=True):
            lg.setLevel(lv)


def _lost(spec: JobSpec, reason: Reason, message: str) -> JobResult:
    return JobResult.failed(spec.id, spec.key, reason, message)


def land(res: dict[str, Any], spec: JobSpec, code: dict[str, str], cache: Cache) -> JobResult:
    """Check a worker's reply (see :func:`run_remote_job`) and write what it returned: the
    report files into the driver's cache, a failed notebook into the staging build. Returns the
    result without the bytes."""
    payload = res.pop("payload", None)
    failed_nb = res.pop("failed_notebook", None)
    record = res.pop("record", None)
    worker_code = res.pop("worker_code", None)
    result = JobResult.from_dict(res)
    if (
        result.status == Status.DONE
        and worker_code is not None
        and any(worker_code.get(k) != code.get(k) for k in worker_code)
    ):
        return _lost(
            spec,
            Reason.CODE_MISMATCH,
            f"worker {result.worker} returned output of other code; not published",
        )
    if result.status == Status.DONE:
        try:
            if payload is None or record is None:
                raise ValueError("the worker returned no files")
            tmp = cache.staging_dir(spec.key)
            try:
                for kind, name in record["files"].items():
                    data = payload[name]
                    if sha256_bytes(data) != record["hashes"][kind]:
                        raise ValueError(f"{name} arrived damaged")
                    (tmp / name).write_bytes(data)
                cache.commit(tmp, spec.key, record)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        except (OSError, ValueError, KeyError) as exc:
            return _lost(spec, Reason.PUBLISH_ERROR, describe(exc))
    elif failed_nb is not None:
        out = Path(spec.failed_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(failed_nb)
    return result


class DaskRunner:
    """One run's connection to the cluster (connect first: an unreachable scheduler is
    reported before the run writes anything)."""

    def __init__(self, address: str, connect_timeout: float = CONNECT_TIMEOUT_S):
        self.address = address
        self.client = connect(address, connect_timeout)

    def close(self) -> None:
        try:
            self.client.close(timeout=5)
        except Exception:
            pass

    def workers(self) -> int:
        try:
            return len(self.client.nthreads())
        except Exception:
            return 0

    def run(
        self,
        specs: list[JobSpec],
        *,
        cache: Cache,
        code: dict[str, str],
        lock_text: str | None,
        params_dir: Path,
        reference_dir: Path,
        warehouse: Path,
        on_start: Callable[..., None],
        on_result: Callable[[JobResult], None],
        on_tick: Callable[[], None] | None = None,
        no_workers_timeout: float = NO_WORKERS_TIMEOUT_S,
        run_id: str = "",
        order: Callable[[list[JobSpec]], list[JobSpec]] | None = None,
        suite_dir: Path | None = None,
    ) -> None:
        """Ship and run every spec; ``on_result`` gets each result (bytes already landed)."""
        if not specs:
            return
        from distributed import wait

        client = self.client
        try:
            client.register_plugin(_plugin_class()(), name=PLUGIN_NAME)
        except Exception:  # a scheduler refusing plugins must not stop the run
            pass
        if order is not None:
            specs = order(specs)
        ship = Shipment(code, lock_text)
        remote = [
            ship.remote_spec(
                s,
                params_dir=params_dir,
                suite_dir=suite_dir,
                reference_dir=reference_dir,
                warehouse=warehouse,
            )
            for s in specs
        ]
        pending: dict[Any, JobSpec] = {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "large object in task graph": on purpose
                blob_futs = {
                    sha: client.submit(_blob_value, data, key=f"kp-blob-{sha}", pure=False)
                    for sha, data in ship.blobs.items()
                }
            for i, (spec, rspec) in enumerate(zip(specs, remote, strict=True)):
                deps = {sha: blob_futs[sha] for sha in blob_names(rspec)}
                fut = client.submit(
                    run_remote_job,
                    rspec,
                    deps,
                    key=f"kp-{run_id}-{spec.key[:16]}-{spec.id}",
                    pure=False,
                    priority=len(specs) - i,
                )
                pending[fut] = spec
                on_start(spec.id, "dask")
            del blob_futs  # the jobs hold them now; released with the last job
            watchdog = _Watchdog(self, no_workers_timeout)
            while pending:
                try:
                    done, _ = wait(list(pending), timeout=0.5, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = set()
                for fut in done:
                    spec = pending.pop(fut)
                    try:
                        res = fut.result()
                    except Exception as exc:  # the task could not run (e.g. KilledWorker)
                        res = _lost(spec, Reason.WORKER_DIED, describe(exc)).to_dict()
                    fut.release()  # finished: never recomputed if its worker dies later
                    on_result(land(res, spec, code, cache))
                if on_tick:
                    on_tick()
                if pending:
                    watchdog.check(len(pending))
        finally:
            if pending:
                try:
                    client.cancel(list(pending), force=True)
                except Exception:
                    pass


class _Watchdog:
    """Raises :class:`NoWorkers` once the run has had no worker (or no scheduler) for
    ``timeout`` seconds; looks at most once a second."""

    def __init__(self, runner: DaskRunner, timeout: float):
        self.runner, self.timeout = runner, timeout
        self.alone_since: float | None = None
        self.last_check = 0.0

    def check(self, n_pending: int) -> None:
        now = time.monotonic()
        if now - self.last_check < 1.0:
            return
        self.last_check = now
        client = self.runner.client
        if client.status == "running" and self.runner.workers() > 0:
            self.alone_since = None
        elif self.alone_since is None:
            self.alone_since = now
        elif now - self.alone_since >= self.timeout:
            what = (
                "lost the scheduler" if client.status != "running" else "no Dask worker connected"
            )
            raise NoWorkers(
                f"{what} at {self.runner.address} for {self.timeout:g} s; "
                f"{n_pending} report(s) not run"
            )


def lock_text_of(path: Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
