"""`make reports`: plan, validate, skip what has not changed, execute, publish atomically.

``cli(argv) -> int`` is what ``python -m helpers.cli reports`` calls. Exit status: 0 all good,
1 some report failed, 2 bad parameter / missing input (nothing ran, nothing written), 3 the
month is locked by another run.

``--months A..B`` (``make reports MONTHS=2024-07..2025-06``) runs every month from A to B
inclusive, in order, each as a normal run of that month (its own lock, ledger run, manifest and
atomic publish). The whole range is validated (format, order, every month planned against the
warehouse) before the first month starts, under one shared hold of the warehouse.

The driver stays light until it knows something must run: parsing suite.yaml, hashing the
notebooks and the helpers' code and reading memoised warehouse facts take a fraction of a
second; kernels, papermill and DuckDB are only touched when a job has to execute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers import interrupts, paths
from helpers import profile as profiles
from helpers.data import warehouse_lock
from helpers.engine import assemble, background
from helpers.engine.cache import Cache, Environment, job_key, notebook_code_hash, sha256_bytes
from helpers.engine.inputs import Warehouse, WarehouseFacts, WarehouseMissing
from helpers.engine.jobs import PUBLISHED, JobResult, JobSpec, Reason, RunStatus, Status, excerpt
from helpers.engine.params import (
    ParamError,
    Settings,
    Suite,
    check_parameter_files,
    check_profile_families,
    load_suite,
    validate_settings,
)
from helpers.engine.plan import Job, MonthPlan, check_notebooks, parse_overrides, plan_month

if TYPE_CHECKING:
    from helpers.engine.dask_executor import DaskRunner
    from helpers.engine.ledger import Ledger
    from helpers.engine.pool import LocalPool

log = logging.getLogger("helpers.engine")
PACKAGES = (
    "pandas numpy matplotlib seaborn statsmodels scipy duckdb pandera papermill nbclient "
    "nbconvert nbformat ipykernel jupyter_client typst pypandoc_binary dask distributed"
).split()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m helpers.cli reports",
        description="Plan, execute and publish the reports of a month.",
    )
    p.add_argument("--month", default="", help="YYYY-MM (required unless --months)")
    p.add_argument(
        "--months",
        default="",
        metavar="A..B",
        help="every month from A to B inclusive (YYYY-MM..YYYY-MM), one run per month",
    )
    p.add_argument("--profile", default=None, help="jurisdiction profile (env KP_PROFILE)")
    p.add_argument("--dept", action="append", default=[], help="department slug(s), comma list")
    p.add_argument("--notebook", action="append", default=[], help="family or notebook name(s)")
    p.add_argument("--jobs", default=None, help="parallel workers (default: one per core)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="[FAMILY.]NAME=VALUE")
    p.add_argument("--force", action="store_true", help="re-run selected jobs even if cached")
    p.add_argument("--only-failed", action="store_true", help="run only jobs that failed last")
    p.add_argument("--plan", action="store_true", help="list the jobs and exit (dry run)")
    p.add_argument("--timeout", type=float, default=None, help="per-notebook timeout (s)")
    p.add_argument("--isolation", choices=["warm", "fresh"], default=None)
    p.add_argument("--recycle-after", type=int, default=None)
    p.add_argument("--executor", choices=["local", "dask"], default=None, help="env EXECUTOR")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (env SCHEDULER)")
    p.add_argument(
        "--no-workers-timeout",
        default=None,
        metavar="S",
        help="Dask: stop the run when no worker is connected for S seconds (default 120; "
        "env KP_DASK_NO_WORKERS_TIMEOUT)",
    )
    p.add_argument(
        "--publisher", choices=["nbconvert", "quarto"], default=None, help="env PUBLISHER"
    )
    p.add_argument("--wait", action="store_true", help="wait if the month is being run")
    p.add_argument("--suite", type=Path, default=None, help="suite.yaml (default params/)")
    p.add_argument("--notebooks-dir", type=Path, default=None)
    p.add_argument("--outputs", type=Path, default=None)
    p.add_argument("--warehouse", type=Path, default=None)
    return p


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (not the stream of the
    first call: in-process callers such as tests replace and close it between runs)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _setup_logging() -> None:
    if not log.handlers:
        h = _StderrHandler()
        h.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False


def git_info(root: Path) -> dict[str, Any]:
    """Commit and dirty flag of the repository (``unknown`` outside git)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class RunContext:
    """Resolved locations and settings of one invocation."""

    def __init__(self, args: argparse.Namespace):
        env = os.environ
        self.suite_path = args.suite or Path(env.get("KP_PARAMS", paths.PARAMS_DIR)) / "suite.yaml"
        self.notebooks_dir = args.notebooks_dir or Path(
            env.get("KP_NOTEBOOKS", paths.NOTEBOOKS_DIR)
        )
        self.outputs = (args.outputs or paths.outputs_dir()).resolve()
        self.warehouse = (args.warehouse or paths.warehouse_path()).resolve()
        # The code and environment that the cache key covers (overridable for deployments
        # that install helpers elsewhere, and for tests).
        self.helpers_dir = Path(env.get("KP_HELPERS_SRC", Path(__file__).resolve().parents[1]))
        self.lock_file = Path(env.get("KP_LOCK_FILE", paths.ROOT / "requirements.lock"))
        self.executor = args.executor or env.get("EXECUTOR") or "local"
        self.scheduler: str = args.scheduler or env.get("SCHEDULER") or ""
        self.dask: _Connecting | None = None  # the connection, started while checks run
        # --months: the local workers, kept warm from one month of the range to the next
        self.pool: LocalPool | None = None
        if self.executor not in {"local", "dask"}:
            raise ParamError(f"EXECUTOR must be local or dask, got {self.executor!r}")
        if self.executor == "dask" and not self.scheduler:
            raise ParamError("EXECUTOR=dask needs SCHEDULER=tcp://host:port (or --scheduler)")
        raw = args.no_workers_timeout or env.get("KP_DASK_NO_WORKERS_TIMEOUT") or "120"
        try:
            self.no_workers_timeout = float(raw)
        except ValueError:
            self.no_workers_timeout = -1.0
        if not 0 < self.no_workers_timeout < 1e6:
            raise ParamError(
                f"--no-workers-timeout must be a positive number of seconds, got {raw!r}"
            )
        if self.executor == "dask":
            from helpers.engine.dask_executor import check_address

            try:
                check_address(self.scheduler)
            except ValueError as exc:
                raise ParamError(str(exc)) from None


@dataclass
class Invocation:
    """One ``reports`` invocation once it is validated, planned and keyed: what the steps that
    execute and publish the month read."""

    args: argparse.Namespace
    argv: list[str]
    ctx: RunContext
    suite: Suite
    settings: Settings
    plan: MonthPlan
    cache: Cache
    t0: float  # monotonic time the invocation started
    env: Environment | None = None  # the code fingerprint (Dask workers check it)


@dataclass
class MonthRun:
    """An invocation that runs: what the run created (its id, staging build, ledger)."""

    inv: Invocation
    run_id: str
    staging: Path
    git: dict[str, Any]
    ledger: Ledger
    n_workers: int


def _settings(suite_settings: Settings, args: argparse.Namespace) -> Settings:
    s = suite_settings
    if args.timeout is not None:
        s = replace(s, timeout_seconds=args.timeout)
    if args.isolation:
        s = replace(s, isolation=args.isolation)
    if args.recycle_after is not None:
        s = replace(s, recycle_after=args.recycle_after)
    if args.jobs not in (None, "", "auto"):
        try:
            n = int(args.jobs)
        except ValueError:
            raise ParamError(f"--jobs must be a positive integer, got {args.jobs!r}") from None
        if n < 1:
            raise ParamError(f"--jobs must be a positive integer, got {args.jobs!r}")
        s = replace(s, jobs=n)
    publisher = args.publisher or os.environ.get("PUBLISHER")
    if publisher:
        s = replace(s, publisher=publisher)
    validate_settings(s)
    if s.publisher == "quarto":
        from helpers.publish import quarto

        if not quarto.available():
            raise ParamError(f"PUBLISHER=quarto: {quarto.QuartoNotInstalled()}")
    return s


def compute_keys(plan: MonthPlan, facts: WarehouseFacts, env: Environment, cache: Cache) -> None:
    """Fill in each job's data checksum, cache key and whether the cache holds it."""
    nb_hashes: dict[Path, str | None] = {}
    for job in plan.jobs:
        if job.notebook not in nb_hashes:
            nb_hashes[job.notebook] = (
                notebook_code_hash(job.notebook) if job.notebook.is_file() else None
            )
        nb_hash = nb_hashes[job.notebook]
        job.data_checksum = facts.slice_checksum(job.department)
        if nb_hash is None:
            job.key, job.cached = "", False
            continue
        # The family is part of the key: two families may run the same notebook with the same
        # parameters, and a cache entry holds files named after its family.
        job.key = job_key(
            notebook_hash=sha256_bytes(f"{job.family}\0{nb_hash}".encode()),
            params=job.params,
            data_checksum=job.data_checksum,
            env=env,
        )
        job.cached = cache.has(job.key)


def manifest_matches(manifest: dict[str, Any] | None, plan: MonthPlan, formats) -> bool:
    """The published month already shows exactly these jobs with these keys, all succeeded."""
    if not manifest:
        return False
    if sorted(manifest.get("formats", [])) != sorted(formats):
        return False
    published = {j["id"]: (j.get("key"), j.get("status")) for j in manifest.get("jobs", [])}
    # What a new build would contain: the selected jobs and every other job whose current key is
    # cached (the rest would be listed as not run).
    expected = {j.id: j.key for j in plan.jobs if j.id in plan.selected or j.cached}
    if set(published) != set(expected):
        return False
    return all(
        published[i][0] == k and k and published[i][1] in PUBLISHED for i, k in expected.items()
    )


def print_plan(plan: MonthPlan, to_run: set[str], out=None) -> None:
    """The dry run: every job of the month, whether it is selected, cached, or would run."""
    out = out or sys.stdout
    print(f"plan for {plan.month}: {len(plan.jobs)} jobs", file=out)
    print(f"{'job':<44} {'selected':<9} {'cached':<7} {'action':<8} key", file=out)
    for j in plan.jobs:
        sel = j.id in plan.selected
        action = "run" if j.id in to_run else ("reuse" if j.cached else "skip")
        print(
            f"{j.id:<44} {'yes' if sel else 'no':<9} {'yes' if j.cached else 'no':<7} "
            f"{action:<8} {j.key[:12] or '(notebook missing)'}",
            file=out,
        )
    print(f"{len(to_run)} to run, {sum(j.cached for j in plan.jobs)} cached", file=out)


def job_spec(
    job: Job,
    *,
    settings: Settings,
    formats,
    cache: Cache,
    staging: Path,
    git: dict[str, Any],
    warehouse: Path,
    params_dir: Path,
    log_dir: Path,
) -> JobSpec:
    """What workers (local or Dask) execute for ``job``."""
    return JobSpec(
        id=job.id,
        family=job.family,
        title=job.title,
        department=job.department,
        month=job.month,
        notebook=str(job.notebook),
        params=job.params,
        key=job.key,
        cache_root=str(cache.root),
        formats=list(formats),
        publisher=settings.publisher,
        timeout=settings.timeout_seconds,
        isolation=settings.isolation,
        recycle_after=settings.recycle_after,
        log_dir=str(log_dir),
        env={
            "KP_WAREHOUSE": str(warehouse),
            "KP_PARAMS": str(params_dir),
            profiles.PROFILE_ENV: profiles.active_name(),
        },
        failed_path=str(staging / job.folder / f"{job.family}.failed.ipynb"),
        provenance={
            "commit": git.get("commit"),
            "dirty": git.get("dirty"),
            "data_checksum": job.data_checksum,
            "cache_key": job.key,
        },
    )


#: The longest range ``--months`` accepts (ten years): a typo such as 2024-07..2204-06 is
#: refused at once instead of planning two centuries.
MAX_RANGE_MONTHS = 120


def parse_month_range(text: str) -> list[str]:
    """``'2024-07..2025-06'`` -> ``['2024-07', ..., '2025-06']`` (both ends included; a single
    month ``'2025-03'`` is a range of one). Raises ParamError, one line, on anything else."""
    from helpers.data.calendar import add_months, parse_month

    parts = str(text).strip().split("..")
    if len(parts) > 2 or not all(parts):
        raise ParamError(f"--months must be YYYY-MM..YYYY-MM, got {text!r}")
    try:
        first, last = parse_month(parts[0]), parse_month(parts[-1])
    except ValueError:
        raise ParamError(f"--months must be YYYY-MM..YYYY-MM, got {text!r}") from None
    n = (last.year - first.year) * 12 + last.month - first.month + 1
    if n < 1:
        raise ParamError(f"--months {text}: the first month is after the last")
    if n > MAX_RANGE_MONTHS:
        raise ParamError(f"--months {text}: {n} months; at most {MAX_RANGE_MONTHS} in one command")
    return [f"{add_months(first, i):%Y-%m}" for i in range(n)]


def run(argv: list[str], facts: WarehouseFacts | None = None) -> int:
    """The whole run; raises ParamError / WarehouseMissing / MonthBusy for the CLI to map."""
    t0 = time.monotonic()
    args = build_parser().parse_args(argv)
    if args.months:
        return run_months(args, argv, facts, t0)
    if not args.month:
        raise ParamError("--month is required (make reports MONTH=YYYY-MM)")
    try:
        prof = profiles.select(args.profile)
    except profiles.ProfileError as exc:
        raise ParamError(str(exc)) from None
    ctx = RunContext(args)
    # read under the warehouse's shared lock: `make data` cannot rebuild it during the run
    with warehouse_lock.hold(ctx.warehouse, shared=True):
        return _locked_run(args, argv, ctx, prof, facts, t0)


def run_months(args, argv, facts: WarehouseFacts | None, t0: float) -> int:
    """``--months A..B``: validate every month of the range, then run them in order.

    Each month is a normal run (lock, keys, execute, ledger run, manifest, atomic publish);
    nothing is written before the whole range has been planned. Returns the worst status: 1 if
    any month had a failed report (the later months still run), 3 (MonthBusy, raised) stops
    at the month another run holds, leaving the months before it published.
    """
    if args.month:
        raise ParamError("give --month or --months, not both")
    months = parse_month_range(args.months)
    try:
        prof = profiles.select(args.profile)
    except profiles.ProfileError as exc:
        raise ParamError(str(exc)) from None
    ctx = RunContext(args)
    per_month = [replace_month(args, m) for m in months]
    with warehouse_lock.hold(ctx.warehouse, shared=True):  # one data version for the range
        if facts is None:
            facts = _warehouse_facts(ctx, prof, Cache(ctx.outputs / ".cache"))
        for margs in per_month:  # every month planned first: a bad one refuses the whole range
            _locked_run(margs, argv, ctx, prof, facts, t0, check_only=True)
        statuses: dict[str, int] = {}
        if ctx.executor == "local" and not args.plan:
            # One set of workers for the whole range: each month's run would otherwise pay
            # the workers' start and a kernel boot again (seconds per month). Their kernel
            # and worker logs go to outputs/.runs/months-<pid>/.
            from helpers.engine.pool import LocalPool

            settings = _settings(load_suite(ctx.suite_path).settings, args)
            ctx.pool = LocalPool(
                settings.jobs or default_workers(),
                settings.isolation,
                settings.recycle_after,
                str(ctx.outputs / ".runs" / f"months-{os.getpid()}"),
                keep_workers=True,
            )
        try:
            for margs in per_month:
                statuses[margs.month] = _locked_run(margs, argv, ctx, prof, facts, time.monotonic())
        finally:
            if ctx.pool is not None:
                ctx.pool.close()
                ctx.pool = None
    if not args.plan:
        bad = [m for m, s in statuses.items() if s]
        log.info(
            f"months {months[0]}..{months[-1]}: {len(months)} months, "
            f"{len(months) - len(bad)} all published"
            + (f", reports failed in {', '.join(bad)}" if bad else "")
            + f" in {time.monotonic() - t0:.1f} s"
        )
    return max(statuses.values(), default=0)


def replace_month(args: argparse.Namespace, month: str) -> argparse.Namespace:
    """A copy of the parsed arguments for one month of a ``--months`` range."""
    out = argparse.Namespace(**vars(args))
    out.month, out.months = month, ""
    return out


def _warehouse_facts(ctx, prof, cache: Cache) -> Warehouse:
    facts = Warehouse(ctx.warehouse, memo_path=cache.root / "warehouse.json")
    loaded = facts.profile()
    if loaded and loaded != prof.name:
        raise ParamError(
            f"the warehouse {ctx.warehouse} was loaded for profile {loaded!r}, not "
            f"{prof.name!r}: run `make data PROFILE={prof.name}`"
        )
    return facts


def _locked_run(
    args, argv, ctx, prof, facts: WarehouseFacts | None, t0: float, check_only: bool = False
) -> int:
    """The run once the warehouse is held: plan, keys, execute, publish. ``check_only``:
    stop after validating the month's plan and settings (``--months`` checks every month
    first); nothing is written."""
    suite = load_suite(ctx.suite_path)
    check_profile_families(prof, suite)
    settings = _settings(suite.settings, args)
    cache = Cache(ctx.outputs / ".cache")
    if facts is None:
        facts = _warehouse_facts(ctx, prof, cache)
    overrides = parse_overrides(args.param, suite)
    plan = plan_month(
        suite,
        facts,
        month=args.month,
        notebooks_dir=ctx.notebooks_dir,
        depts=args.dept,
        notebooks=args.notebook,
        overrides=overrides,
        families=prof.families,
    )
    check_notebooks(plan.jobs, suite)  # every planned family, even in a narrowed run
    if check_only:
        if not args.plan:
            check_parameter_files(ctx.suite_path.parent)
        return 0
    env = Environment.compute(
        ctx.helpers_dir,
        ctx.lock_file,
        suite.formats,
        settings.publisher,
        params_dir=ctx.suite_path.parent,
        profile_files=prof.files(),
    )
    compute_keys(plan, facts, env, cache)
    ledger_path = ctx.outputs / "ledger.duckdb"
    if args.only_failed:
        from helpers.engine.ledger import Ledger

        failed = Ledger(ledger_path).last_failed(plan.month) if ledger_path.exists() else set()
        plan.selected &= failed
    to_run = {j.id for j in plan.selected_jobs() if args.force or not j.cached}

    if args.plan:
        print_plan(plan, to_run)
        _save_facts(facts)
        return 0
    if to_run and ctx.executor == "dask":  # connect while the parameter files are checked
        ctx.dask = _Connecting(ctx.scheduler)
    if to_run:  # the reports read these files in their kernels: refuse bad values first
        check_parameter_files(ctx.suite_path.parent)
    assemble.check_writable(ctx.outputs)  # one line, not a traceback, when it cannot be
    _save_facts(facts)  # only once everything is valid: a rejected run writes nothing

    with assemble.month_lock(ctx.outputs, plan.month, wait=args.wait, log=log.info):
        # What killed runs of the month left (staging, temporary cache folders of dead
        # processes) goes even when nothing needs to run; a live run's is never touched.
        assemble.clean_leftovers(ctx.outputs, plan.month)
        cache.clean_stale_tmp()
        # Another run may have filled the cache while this one waited for the lock.
        for job in plan.jobs:
            job.cached = bool(job.key) and cache.has(job.key)
        to_run = {j.id for j in plan.selected_jobs() if args.force or not j.cached}
        published = assemble.published_manifest(ctx.outputs, plan.month)
        _warn_dropped(published, plan)
        if not to_run and manifest_matches(published, plan, suite.formats):
            n_published = len(published["jobs"]) if published else 0
            log.info(
                f"{plan.month}: up to date ({n_published} reports, all cached) "
                f"in {time.monotonic() - t0:.2f} s"
            )
            return 0
        if args.only_failed and not to_run:
            log.info(f"{plan.month}: no failed jobs to re-run")
        inv = Invocation(args, argv, ctx, suite, settings, plan, cache, t0, env)
        return _execute_and_publish(inv, to_run)


class _Connecting:
    """Connect to the Dask scheduler in a thread (it overlaps the driver's last checks)."""

    def __init__(self, address: str):
        self._runner: DaskRunner | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._connect, args=(address,), daemon=True)
        self._thread.start()

    def _connect(self, address: str) -> None:
        try:
            from helpers.engine.dask_executor import DaskRunner

            self._runner = DaskRunner(address)
        except BaseException as exc:  # re-raised in the main thread
            self._error = exc

    def result(self):
        from helpers.engine.dask_executor import SchedulerUnreachable

        self._thread.join()
        if isinstance(self._error, SchedulerUnreachable):
            raise ParamError(str(self._error))
        if self._error is not None:
            raise self._error
        return self._runner


#: Memory one worker needs (its kernel with the largest report's frames, plus the publisher):
#: about 1 GB measured on the KP sample; the automatic worker count leaves room for it.
WORKER_MEMORY_GB = 1.5


def default_workers() -> int:
    """``jobs: auto``: one worker per core, fewer when the memory available would not hold
    them (``MemAvailable`` / ``WORKER_MEMORY_GB``), at least one."""
    cores = os.cpu_count() or 1
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            kb = next(int(line.split()[1]) for line in fh if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return cores
    return max(1, min(cores, int(kb / 1024 / 1024 / WORKER_MEMORY_GB)))


def _project_relative(path: Path) -> str:
    """A path inside the project as project-relative text; outside it, only its name."""
    try:
        return str(Path(path).resolve().relative_to(paths.ROOT.resolve()))
    except ValueError:
        return Path(path).name


#: Status of a report outside a narrowed run (DEPT=, NOTEBOOK=, --only-failed) whose inputs
#: changed since it was last built: listed in the portal, never published from stale output.
NOT_REBUILT = Status.NOT_REBUILT
NOT_REBUILT_REASON = "out of date (code or data changed); the next full run rebuilds it"


def _save_facts(facts: WarehouseFacts) -> None:
    if isinstance(facts, Warehouse):
        try:
            facts.save()
        except OSError:
            pass  # a memo: losing it only costs time (a dry run on read-only outputs)


def _import_publishing() -> None:
    """What the month's assembly imports (the portal: nbconvert, nbformat; the disclosure
    gate: the survey instrument, PDFium), imported while the workers start and execute,
    not after them when the driver alone works."""
    try:
        import helpers.publish.portal  # noqa: F401
        from helpers.publish import disclosure
    except ImportError:
        return
    disclosure.warm_up()


def _execute_and_publish(inv: Invocation, to_run: set[str]) -> int:
    """Connect to the cluster first (Dask), then run and publish (``_execute_and_publish_on``)."""
    runner = None
    if inv.ctx.executor == "dask" and to_run:
        # Before anything is written: an unreachable scheduler is a bad parameter (exit 2).
        connecting = inv.ctx.dask or _Connecting(inv.ctx.scheduler)
        runner = connecting.result()
    try:
        return _execute_and_publish_on(runner, inv, to_run)
    finally:
        if runner is not None:
            runner.close()


def _execute_and_publish_on(runner, inv: Invocation, to_run: set[str]) -> int:
    """Start the local pool's workers first (their kernel zygote's imports are the longest
    step before the first report starts), then record, run and publish the month."""
    ctx, settings = inv.ctx, inv.settings
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    log_dir = ctx.outputs / ".runs" / run_id
    n_workers = settings.jobs or default_workers()
    pool = None
    if runner is None and ctx.executor == "local" and to_run:
        from helpers.engine.pool import LocalPool

        pool = ctx.pool or LocalPool(
            n_workers, settings.isolation, settings.recycle_after, str(log_dir)
        )
        pool.start(len(to_run))
    try:
        return _record_run_publish(runner, pool, inv, to_run, run_id, log_dir, n_workers)
    finally:
        if pool is not None and pool is not ctx.pool:
            pool.close()  # its workers have stopped (or never ran a job: a refused record)


def _record_run_publish(
    runner, pool, inv: Invocation, to_run: set[str], run_id: str, log_dir: Path, n_workers: int
) -> int:
    from helpers.engine.ledger import Ledger
    from helpers.engine.progress import Progress

    ctx, plan, settings, cache, t0 = inv.ctx, inv.plan, inv.settings, inv.cache, inv.t0
    background.start(_import_publishing, "kp-import-publishing")
    staging = assemble.staging_dir(ctx.outputs, plan.month, run_id)
    git = git_info(paths.ROOT)
    ledger = Ledger(ctx.outputs / "ledger.duckdb")
    mrun = MonthRun(inv, run_id, staging, git, ledger, n_workers)
    ledger.start_run(
        run_id,
        plan.month,
        inv.argv,
        {
            "commit": git["commit"],
            "dirty": git["dirty"],
            "executor": ctx.executor,
            "isolation": settings.isolation,
            "n_jobs": n_workers,
        },
    )
    staging.mkdir(parents=True)
    jobs_by_id = {j.id: j for j in plan.jobs}
    run_jobs = [j for j in plan.jobs if j.id in to_run]
    specs = [
        job_spec(
            j,
            settings=settings,
            formats=inv.suite.formats,
            cache=cache,
            staging=staging,
            git=git,
            warehouse=ctx.warehouse,
            params_dir=ctx.suite_path.parent,
            log_dir=log_dir,
        )
        for j in run_jobs
    ]
    results: dict[str, JobResult] = {}
    selected_cached = [j for j in plan.selected_jobs() if j.id not in to_run and j.cached]
    progress = Progress(total=len(run_jobs) + len(selected_cached))
    progress.log(
        f"run {run_id}: month {plan.month}, {len(run_jobs)} to run, "
        f"{len(selected_cached)} cached, executor {ctx.executor}"
        + (
            f" ({n_workers} workers, {settings.isolation} kernels)"
            if ctx.executor == "local"
            else ""
        )
    )
    for j in selected_cached:
        progress.finish(j.id, Status.CACHED)

    def on_start(job_id: str, worker) -> None:
        progress.start(job_id)

    def on_result(res: JobResult) -> None:
        job = jobs_by_id[res.id]
        res.family, res.department = job.family, job.department
        results[res.id] = res
        detail = ""
        if res.status == Status.FAILED:
            first = (res.error or "").splitlines()[:1]
            detail = f"{res.reason}: {first[0] if first else ''}"[:160]
        progress.finish(res.id, res.status, detail)
        ledger.record_jobs(run_id, plan.month, [res])

    try:
        if runner is not None:
            from helpers.engine.dask_executor import NoWorkers, lock_text_of
            from helpers.engine.pool import DURATIONS_FILE, Durations

            assert inv.env is not None  # computed before any job runs
            try:
                runner.run(
                    specs,
                    cache=cache,
                    code={
                        "helpers": inv.env.helpers,
                        "templates": inv.env.templates,
                        "lock": inv.env.lock,
                    },
                    lock_text=lock_text_of(ctx.lock_file),
                    params_dir=paths.PARAMS_DIR,
                    suite_dir=ctx.suite_path.parent,
                    reference_dir=paths.REFERENCE_DIR,
                    warehouse=ctx.warehouse,
                    on_start=on_start,
                    on_result=on_result,
                    on_tick=progress.draw,
                    no_workers_timeout=ctx.no_workers_timeout,
                    run_id=run_id,
                    order=Durations(cache.root / DURATIONS_FILE).order,
                )
            except NoWorkers as exc:
                progress.close()
                shutil.rmtree(staging, ignore_errors=True)
                note = f"{exc}; the published month is unchanged"
                ledger.finish_run(
                    run_id, RunStatus.FAILED, progress.counts, time.monotonic() - t0, note=note
                )
                print(f"error: {plan.month}: {note}", file=sys.stderr)
                return 1
        elif pool is not None:
            pool.run(specs, on_start, on_result, on_tick=progress.draw)
    except BaseException:
        progress.close()
        ledger.finish_run(run_id, RunStatus.INTERRUPTED, progress.counts, time.monotonic() - t0)
        raise
    progress.close()

    counts: dict[str, int] = dict(progress.counts)
    try:
        build, counts = _assemble_month(mrun, results)
    except assemble.DisclosureBlocked as exc:
        return _blocked(mrun, exc, counts)
    except OSError as exc:  # e.g. the disk filled up while the month was being assembled
        shutil.rmtree(staging, ignore_errors=True)
        note = f"publish failed: {type(exc).__name__}: {exc}; the published month is unchanged"
        ledger.finish_run(run_id, RunStatus.FAILED, counts, time.monotonic() - t0, note=note)
        print(f"error: {plan.month}: {note}", file=sys.stderr)
        return 1
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        ledger.finish_run(run_id, RunStatus.INTERRUPTED, counts, time.monotonic() - t0)
        raise
    total = time.monotonic() - t0
    failed = counts[Status.FAILED]
    ledger.finish_run(run_id, RunStatus.FAILED if failed else RunStatus.OK, counts, total)
    _print_summary(mrun, results, counts, total, build)
    return 1 if failed else 0


def _outcome(job: Job, results: dict[str, JobResult], cache: Cache) -> JobResult:
    """What the month shows for ``job``: this run's result, else its cache entry under the
    current key (``cached``), else ``not_rebuilt``."""
    res = results.get(job.id)
    if res is not None:
        return res
    rec = cache.result(job.key) if job.key and job.cached else None
    if rec is None:
        # Outside this run's selection and out of date: listed (never a stale file), so
        # readers see it needs rebuilding instead of the report silently vanishing.
        return JobResult(
            id=job.id,
            key=job.key,
            status=Status.NOT_REBUILT,
            reason=NOT_REBUILT_REASON,
            family=job.family,
            department=job.department,
        )
    return JobResult.from_dict(
        dict(
            rec,
            id=job.id,
            status=Status.CACHED,
            family=job.family,
            department=job.department,
        )
    )


def _link_files(job: Job, res: JobResult, cache: Cache, staging: Path) -> dict[str, str]:
    """Put the job's files into the staging build; their paths relative to the month."""
    folder = staging / job.folder
    files: dict[str, str] = {}
    if res.published:
        for kind, name in res.files.items():
            assemble.link_or_copy(cache.entry(job.key) / name, folder / name)
            files[kind] = f"{job.folder}/{name}"
    elif res.status == Status.FAILED:
        failed_nb = folder / f"{job.family}.failed.ipynb"
        if failed_nb.exists():
            files["failed_ipynb"] = f"{job.folder}/{failed_nb.name}"
    return files


def _portal_item(job: Job, res: JobResult, files: dict[str, str], plan: MonthPlan) -> dict:
    """The month index's item for a job (contract in docs/architecture.md)."""
    dept = plan.departments.get(job.department) if job.department else None
    return {
        "family": job.family,
        "family_title": job.title,
        "scope": job.scope,
        "department": job.department,
        "department_name": dept.name if dept else None,
        "priority_area": dept.priority_area if dept else None,
        "status": res.status.value,
        "error": res.error if res.status == Status.FAILED else None,
        "note": res.reason if res.status == Status.NOT_REBUILT else None,
        "html": files.get("html"),
        "pdf": files.get("pdf"),
        "headline": res.headline or {},
    }


def _manifest_job(job: Job, res: JobResult, files: dict[str, str]) -> dict[str, Any]:
    """A job's entry in ``manifest.json``."""
    return {
        "id": job.id,
        "family": job.family,
        "department": job.department,
        "status": res.status.value,
        "reason": res.reason,
        "key": job.key,
        "params": job.params,
        "data_checksum": job.data_checksum,
        "files": files,
        "hashes": res.hashes or {},
        "run_at": res.run_at,
        "duration_s": res.duration,
        "failing_cell": res.failing_cell,
        "error": res.error if res.status == Status.FAILED else None,
    }


def _assemble_month(mrun: MonthRun, results: dict[str, JobResult]) -> tuple[Path, dict[str, int]]:
    """Link every job of the plan into the staging build, write the manifest and publish it
    (disclosure scan, then the atomic swap). Returns (build directory, counts)."""
    inv = mrun.inv
    plan, cache = inv.plan, inv.cache
    reports, manifest_jobs, not_run, cached_rows = [], [], [], []
    for job in plan.jobs:
        res = _outcome(job, results, cache)
        if job.id not in results and res.status == Status.CACHED:
            cached_rows.append(res)
        files = _link_files(job, res, cache, mrun.staging)
        reports.append(_portal_item(job, res, files, plan))
        if res.status == Status.NOT_REBUILT:
            not_run.append(
                {
                    "id": job.id,
                    "family": job.family,
                    "department": job.department,
                    "status": Status.NOT_REBUILT.value,
                    "key": job.key,
                    "reason": NOT_REBUILT_REASON,
                }
            )
            continue
        manifest_jobs.append(_manifest_job(job, res, files))
    mrun.ledger.record_jobs(mrun.run_id, plan.month, cached_rows)
    counts: dict[str, int] = {
        s.value: sum(1 for r in reports if r["status"] == s)
        for s in (Status.DONE, Status.CACHED, Status.FAILED)
    }
    if not_run:
        counts[NOT_REBUILT] = len(not_run)
    manifest = _manifest(mrun, counts, manifest_jobs, not_run)
    build = assemble.publish_month(
        inv.ctx.outputs, plan.month, mrun.run_id, mrun.staging, reports, manifest, log=log.info
    )
    return build, counts


def _manifest(
    mrun: MonthRun,
    counts: dict[str, int],
    jobs: list[dict[str, Any]],
    not_run: list[dict[str, Any]],
) -> dict[str, Any]:
    """``manifest.json`` of the month (docs/engine.md "Ledger and manifest")."""
    inv = mrun.inv
    args, settings, plan, suite = inv.args, inv.settings, inv.plan, inv.suite
    return {
        "month": plan.month,
        "run_id": mrun.run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": mrun.git,
        "selection": {
            "argv": inv.argv,
            "dept": args.dept,
            "notebook": args.notebook,
            "force": args.force,
            "only_failed": args.only_failed,
        },
        "settings": {
            "timeout_seconds": settings.timeout_seconds,
            "isolation": settings.isolation,
            "recycle_after": settings.recycle_after,
            "workers": mrun.n_workers,
            "executor": inv.ctx.executor,
            "publisher": settings.publisher,
        },
        "formats": list(suite.formats),
        "inputs": {
            "warehouse": _project_relative(inv.ctx.warehouse),  # no machine paths on the site
            "data_checksums": {j.folder: j.data_checksum for j in plan.jobs},
            "suite_sha256": sha256_bytes(suite.raw_text.encode()),
        },
        "packages": package_versions(),
        "timings": {"total_s": round(time.monotonic() - inv.t0, 3)},
        "counts": counts,
        "jobs": jobs,
        "not_run": not_run,
        "profile": {
            "name": profiles.active().name,
            "government": profiles.active().government,
        },
        "not_provided": [
            {"family": f, "title": suite.families[f].title} for f in plan.not_provided
        ],
        "not_used": plan.not_used,
    }


def _blocked(mrun: MonthRun, exc: assemble.DisclosureBlocked, counts: dict[str, int]) -> int:
    """The month failed the disclosure scan: record why, drop the offending cache entries (so
    they are re-executed, never reused), keep the findings beside the run's logs."""
    from helpers.publish import disclosure

    plan, cache, ctx = mrun.inv.plan, mrun.inv.cache, mrun.inv.ctx
    offending = {
        j.id: j
        for j in plan.jobs
        if any(f.file.startswith(f"{j.folder}/{j.family}.") for f in exc.findings)
    }
    rows = []
    for job_id, job in sorted(offending.items()):
        mine = [str(f) for f in exc.findings if f.file.startswith(f"{job.folder}/{job.family}.")]
        rows.append(
            JobResult(
                id=job_id,
                key=job.key,
                status=Status.BLOCKED,
                reason=Reason.DISCLOSURE,
                error=excerpt("\n".join(mine)),
                family=job.family,
                department=job.department,
            )
        )
        if job.key:
            shutil.rmtree(cache.entry(job.key), ignore_errors=True)
    mrun.ledger.record_jobs(mrun.run_id, plan.month, rows)
    note = disclosure.summarise(exc.findings)
    duration = time.monotonic() - mrun.inv.t0
    mrun.ledger.finish_run(mrun.run_id, RunStatus.BLOCKED, counts, duration, note=note)
    path = ctx.outputs / ".runs" / mrun.run_id / "disclosure.json"
    report: Path | None = path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        assemble.write_json_atomic(path, [f.to_dict() for f in exc.findings])
    except OSError:
        report = None
    lines = [f"error: {exc}"]
    lines += [f"  {f}" for f in exc.findings[:20]]
    if len(exc.findings) > 20:
        lines.append(f"  ... and {len(exc.findings) - 20} more")
    if report is not None:
        lines.append(f"all findings: {report}")
    print("\n".join(lines), file=sys.stderr)
    return 1


def _warn_dropped(published: dict[str, Any] | None, plan: MonthPlan) -> None:
    """Say which reports of the published month this run no longer plans (a department
    removed from the registry, a family whose data were withdrawn): they are not silently
    dropped from the month, the operator is told before the month is replaced."""
    if not published:
        return
    planned = {j.id for j in plan.jobs}
    gone = sorted(str(j.get("id")) for j in published.get("jobs", []) if j.get("id") not in planned)
    if gone:
        shown = ", ".join(gone[:6]) + (f" and {len(gone) - 6} more" if len(gone) > 6 else "")
        log.warning(
            f"warning: {len(gone)} report(s) published for {plan.month} are no longer planned "
            f"(not in the registry for the month, or their data are no longer provided): "
            f"{shown}; a run that replaces the month stops publishing them"
        )


def _print_summary(
    mrun: MonthRun, results: dict[str, JobResult], counts: dict[str, int], total: float, build: Path
) -> None:
    plan = mrun.inv.plan
    month_dir = mrun.inv.ctx.outputs / plan.month
    lines = [f"{'job':<44} {'status':<7} {'reason':<12} {'time':>7}"]
    for job in plan.jobs:
        res = results.get(job.id)
        if res is None:
            continue
        dur = res.duration
        lines.append(
            f"{job.id:<44} {res.status:<7} {res.reason or '':<12} "
            f"{(f'{dur:.1f}s' if dur is not None else '-'):>7}"
        )
    if len(lines) > 1:
        print("\n".join(lines))
    stale = counts.get(NOT_REBUILT, 0)
    print(
        f"{plan.month}: {counts['done']} done, {counts['cached']} cached, {counts['failed']} failed"
        + (f", {stale} not rebuilt" if stale else "")
        + f" in {total:.1f} s -> {month_dir} ({build.name})"
    )
    if stale:
        print(
            f"warning: {stale} report(s) outside this run's selection are out of date for the "
            f"current code or data and are listed as 'not rebuilt' (not published); "
            f"`make reports MONTH={plan.month}` rebuilds them"
        )


def cli(argv: list[str], facts: WarehouseFacts | None = None) -> int:
    """Entry point for ``python -m helpers.cli reports``; returns the exit status.
    ``facts`` replaces the warehouse (tests)."""
    _setup_logging()
    try:
        # SIGTERM stops like Ctrl-C, with its own status; both are recorded, so that one a
        # library turned into an error still stops the run (helpers.interrupts)
        with interrupts.handling(KeyboardInterrupt, Terminated):
            try:
                return run(list(argv), facts=facts)
            except Exception:
                interrupts.check()  # an error DuckDB made of a Ctrl-C is still the Ctrl-C
                raise
    except (ParamError, WarehouseMissing) as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # always one line
        return 2
    except assemble.OutputsUnwritable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (assemble.MonthBusy, warehouse_lock.WarehouseBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:  # e.g. the disk filled up: publishing is atomic, nothing half-made
        print(f"error: {exc}; the published month is unchanged", file=sys.stderr)
        return 1
    except Terminated:
        print("terminated: the published month is unchanged", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: the published month is unchanged", file=sys.stderr)
        return 130


class Terminated(KeyboardInterrupt):
    """SIGTERM: the run stops as on Ctrl-C (workers and kernels stopped, month unchanged)."""


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
