"""`make bench`: what users would otherwise run against `make reports`, on the same jobs.

Measured side by side in one invocation, on the same month and the same job set
(--depts departments x every family that applies to them, plus the province notebooks):

1. naive sequential: a loop of the `papermill` CLI and `jupyter nbconvert --to html --no-input`
   per report (what a user would write in a shell script; HTML only);
2. naive parallel: the same two CLI calls per report, as many at once as there are cores (a
   thread pool of subprocesses, as `xargs -P` would run them; HTML only);
3. engine: `make reports` into a fresh outputs directory (HTML and PDF, portal), run three
   times: before, between and after the naive loops; each ratio divides a naive loop by the
   mean of the two engine runs either side of it (a shared machine's speed drifts over the
   minutes a naive loop takes), and the median run is the engine's figure elsewhere; at each
   of the three points the engine also runs publishing HTML only (a copy of the parameters
   with ``formats: [html]``), the naive loops' output, for the like-for-like ratios;
4. warm-kernel floor: the same notebooks executed back to back on one warm kernel, parameters
   injected, nothing published (benchmarks/warm_floor.py): the least executing them can cost
   on one core;
5. no-change re-run of (3);
6. one department's data changed: a copy of the warehouse with one amount changed, KP_WAREHOUSE
   pointing at it; checks that only that department's reports (and the province reports, which
   read every department) re-ran.

Both naive loops publish HTML only: the ratios are printed for the engine publishing what
they publish (HTML, and the portal) and for the engine as `make reports` runs (HTML, PDF and
the portal), which favours the naive loops. CPU seconds per report by family come from the
floor (the kernel's CPU time per notebook) and the engine's cache entries (execution and
publishing wall time per report); the engine's CPU per report is the whole `make reports`
process tree's CPU time.

Then, unless skipped: the full month (every department, HTML + PDF + portal, fresh outputs);
scaling: the engine on the job set with one worker (against the default one per core), one
department's report (``--scale-family``) for 1 month and for 12 months in one command
(``--months``), and a
registry four times larger (every department cloned three times in a warehouse copy:
planning cost measured, the month's run time estimated from the measured per-report times).
Targets are printed next to the figures.

Both approaches run a *snapshot* of the code, notebooks and parameters (copied into the
benchmark's temporary folder; PYTHONPATH, KP_HELPERS_SRC, KP_NOTEBOOKS, KP_PARAMS and KP_LOCK_FILE
point at it), so an engineer saving a file in the shared tree mid-benchmark neither changes
what is measured nor invalidates the cache between the runs (``--no-snapshot`` uses the tree).
After the full run it prints where the workers' time went (execution, publishing) per family,
from the cache entries the run wrote.

Also prints benchmarks/bench_data.run() figures when that module exists.

``--dask`` measures the executors instead (``make bench ARGS=--dask``): the same job set with
the local executor (``JOBS=2``) and on a two-worker local Dask cluster (a ``dask scheduler`` and
two ``dask worker --nthreads 1`` processes started for the purpose), each fresh and then forced
again (``--force``: every report re-executed; the local pool starts new kernels, long-lived
Dask workers keep theirs).

Usage: .venv/bin/python benchmarks/run.py [--month 2025-03] [--depts 6] [--skip-naive]
       [--skip-parallel] [--skip-floor] [--skip-full-month] [--skip-scaling]
       [--scale-months 12] [--scale-family budget_execution] [--no-snapshot] [--notebook FAMILY,...] [--dask]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from helpers import paths  # noqa: E402
from helpers.engine.inputs import Warehouse  # noqa: E402
from helpers.engine.params import load_suite  # noqa: E402
from helpers.engine.plan import plan_month  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def snapshot(dest: Path) -> dict[str, str]:
    """Copy src/helpers, notebooks/, params/ and requirements.lock to ``dest``; return the
    environment that makes `make reports`, papermill and the kernels use the copy."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    shutil.copytree(ROOT / "src" / "helpers", dest / "src" / "helpers", ignore=ignore)
    shutil.copytree(paths.NOTEBOOKS_DIR, dest / "notebooks", ignore=ignore)
    shutil.copytree(paths.PARAMS_DIR, dest / "params", ignore=ignore)
    shutil.copy2(ROOT / "requirements.lock", dest / "requirements.lock")
    return {
        "PYTHONPATH": str(dest / "src"),
        "KP_ROOT": str(ROOT),  # data/reference and the git commit still come from the tree
        "KP_HELPERS_SRC": str(dest / "src" / "helpers"),
        "KP_NOTEBOOKS": str(dest / "notebooks"),
        "KP_PARAMS": str(dest / "params"),
        "KP_LOCK_FILE": str(dest / "requirements.lock"),
    }


def html_only_params(params_dir: Path, dest: Path) -> Path:
    """A copy of ``params_dir`` whose suite publishes HTML only (``formats: [html]``): the
    engine making what the naive loops make, for the like-for-like ratios."""
    shutil.copytree(params_dir, dest)
    suite = dest / "suite.yaml"
    text, n = re.subn(r"(?m)^formats:.*$", "formats: [html]", suite.read_text())
    if n != 1:
        raise SystemExit(f"{suite}: no single top-level 'formats:' line to set to [html]")
    suite.write_text(text)
    return dest


def job_set(
    month: str,
    n_depts: int,
    warehouse: Path,
    notebooks_dir: Path | None = None,
    params_dir: Path | None = None,
    families: list[str] | None = None,
):
    """The jobs both approaches run: n departments x every family that applies to them, plus
    the province notebooks (jobs whose notebook file exists), optionally only ``families``."""
    suite = load_suite((params_dir or paths.PARAMS_DIR) / "suite.yaml")
    facts = Warehouse(warehouse)
    plan = plan_month(suite, facts, month=month, notebooks_dir=notebooks_dir or paths.NOTEBOOKS_DIR)
    if families:
        unknown = set(families) - {j.family for j in plan.jobs}
        if unknown:
            raise SystemExit(f"unknown report family: {', '.join(sorted(unknown))}")
        plan.jobs = [j for j in plan.jobs if j.family in families]
    # The departments with the most reports first (those with targets, survey and entities),
    # so the sample exercises every family.
    counts: dict[str, int] = {}
    for j in plan.jobs:
        if j.department and j.notebook.is_file():
            counts[j.department] = counts.get(j.department, 0) + 1
    depts = sorted(counts, key=lambda d: (-counts[d], d))[:n_depts]
    jobs = [
        j
        for j in plan.jobs
        if (j.department in depts or j.department is None) and j.notebook.is_file()
    ]
    return depts, jobs


def naive_report(j, workdir: Path, env: dict[str, str]) -> None:
    """One report as a user's script would make it: papermill CLI, then nbconvert CLI."""
    out = workdir / j.folder / f"{j.family}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(VENV_BIN / "papermill"), str(j.notebook), str(out), "-k", "kp-reports"]
    for k, v in j.params.items():
        cmd += ["-p", k, str(v)]
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=j.notebook.parent)
    subprocess.run(
        [str(VENV_BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(out)],
        check=True,
        capture_output=True,
        env=env,
    )


def naive_loop(jobs, workdir: Path, extra_env: dict[str, str] | None = None) -> float:
    """Sequential papermill CLI + nbconvert CLI per report; returns seconds."""
    env = dict(os.environ, **(extra_env or {}))
    t0 = time.monotonic()
    for j in jobs:
        naive_report(j, workdir, env)
    return time.monotonic() - t0


def naive_parallel(
    jobs, workdir: Path, extra_env: dict[str, str] | None = None, procs: int | None = None
) -> float:
    """The same CLI pair per report, ``procs`` reports at a time (default: one per core), as
    ``xargs -P`` would run them; the longest families first, as a user who knows them would
    list them. Returns seconds."""
    env = dict(os.environ, **(extra_env or {}))
    procs = procs or os.cpu_count() or 1
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=procs) as pool:
        for f in [pool.submit(naive_report, j, workdir, env) for j in jobs]:
            f.result()
    return time.monotonic() - t0


def warm_floor(jobs, tmp: Path, extra_env: dict[str, str] | None = None) -> dict:
    """benchmarks/warm_floor.py on ``jobs`` (one warm kernel, no publishing)."""
    spec = tmp / "floor-jobs.json"
    out = tmp / "floor.json"
    spec.write_text(
        json.dumps(
            [
                {"id": j.id, "family": j.family, "notebook": str(j.notebook), "params": j.params}
                for j in jobs
            ]
        )
    )
    env = dict(os.environ, **(extra_env or {}))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "warm_floor.py"), "--jobs", str(spec)]
        + ["--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit("the warm-kernel floor failed")
    return json.loads(out.read_text())


#: CPU seconds (user + system) of the last `make reports` process tree (driver, workers,
#: kernels: every descendant that was waited for).
LAST_CPU = {"s": 0.0}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def make_reports(
    month: str,
    jobs,
    outputs: Path,
    warehouse: Path,
    extra_env: dict[str, str] | None = None,
    args: str = "",
    months: str = "",
) -> float:
    """`make reports` selecting exactly ``jobs`` (their departments and families; ``None``:
    the full month); ``months`` A..B runs that range in one command instead of ``month``."""
    env = dict(
        os.environ, **(extra_env or {}), KP_OUTPUTS=str(outputs), KP_WAREHOUSE=str(warehouse)
    )
    # Under `make bench ARGS=...` the outer make's variables reach this make through
    # MAKEFLAGS: `make reports` would get the benchmark's ARGS (and refuse --depts).
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(name, None)
    selection = []
    if jobs is not None:
        selection = [
            f"DEPT={','.join(sorted({j.folder for j in jobs}))}",
            f"NOTEBOOK={','.join(sorted({j.family for j in jobs}))}",
        ]
    cpu0 = _children_cpu()
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            "make",
            "--no-print-directory",
            # the venv running this benchmark, already set up (`make bench` checked it)
            f"VENV={VENV_BIN.parent}",
            "-o",
            f"{VENV_BIN.parent}/.setup-stamp",
            "reports",
            f"MONTHS={months}" if months else f"MONTH={month}",
            *selection,
            f"ARGS={args}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.monotonic() - t0
    LAST_CPU["s"] = _children_cpu() - cpu0
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"make reports failed with status {proc.returncode}")
    if proc.returncode == 1:
        print("  note: some reports failed (see the summary in the engine's output)")
        sys.stderr.write(proc.stdout[-3000:])
    return took


def worker_breakdown(outputs: Path) -> list[tuple[str, int, float, float, float]]:
    """(family, reports, mean execute s, mean publish s, mean total s) from the cache entries
    (``result.json`` records what each worker measured)."""
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for rec_file in (outputs / ".cache").glob("*/result.json"):
        try:
            rec = json.loads(rec_file.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("status") != "done":
            continue
        rows.setdefault(rec.get("family", "?"), []).append(
            (
                float(rec.get("execute_s") or 0),
                float(rec.get("publish_s") or 0),
                float(rec.get("duration") or 0),
            )
        )
    return [
        (
            fam,
            len(v),
            sum(x[0] for x in v) / len(v),
            sum(x[1] for x in v) / len(v),
            sum(x[2] for x in v) / len(v),
        )
        for fam, v in sorted(rows.items())
    ]


def changed_warehouse(src: Path, dest: Path, department: str) -> None:
    """Copy the warehouse and add 1.0 (PKR million) to one expenditure row of ``department``."""
    import duckdb

    shutil.copy2(src, dest)
    con = duckdb.connect(str(dest))
    try:
        n = con.execute(
            "UPDATE budget_monthly SET expenditure = expenditure + 1.0 WHERE rowid = "
            "(SELECT min(rowid) FROM budget_monthly WHERE department = ?)",
            [department],
        ).fetchone()
        if not n or not n[0]:
            raise SystemExit(f"no budget row to change for {department}")
    finally:
        con.close()


#: Columns naming a department or an object of one: suffixed in each clone of the registry.
_CLONED_KEYS = ("slug", "department", "target_id", "milestone_id", "action_id", "entity_id")
#: Tables that are not per department (the survey's services map to the real departments).
_NOT_CLONED = {"districts", "load_info", "source_files", "survey_ratings", "survey_respondents"}


def scaled_warehouse(src: Path, dest: Path, factor: int) -> int:
    """Copy the warehouse with every department (and its targets, milestones, actions,
    entities and their rows) cloned ``factor - 1`` times under new slugs; returns the number
    of departments in the copy."""
    import duckdb

    shutil.copy2(src, dest)
    con = duckdb.connect(str(dest))
    try:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
            if t not in _NOT_CLONED and not t.startswith("survey")
        ]
        for t in tables:
            cols = [d[0] for d in con.execute(f'SELECT * FROM "{t}" LIMIT 0').description]
            if not set(cols) & set(_CLONED_KEYS):
                continue
            for i in range(2, factor + 1):
                exprs = []
                for c in cols:
                    if c in _CLONED_KEYS:
                        exprs.append(f"\"{c}\" || '-c{i}'")
                    elif c == "name" and t in {"departments", "entities"}:
                        exprs.append(f"\"{c}\" || ' ({i})'")
                    else:
                        exprs.append(f'"{c}"')
                con.execute(
                    f'INSERT INTO "{t}" SELECT {", ".join(exprs)} FROM "{t}" '
                    f'WHERE NOT regexp_matches("{[c for c in cols if c in _CLONED_KEYS][0]}", '
                    f"'-c[0-9]+$')"
                )
        return con.execute("SELECT count(DISTINCT slug) FROM departments").fetchone()[0]
    finally:
        con.close()


def plan_seconds(month: str, outputs: Path, warehouse: Path, extra_env) -> tuple[float, int]:
    """Seconds of `helpers.cli reports --plan` (validate, plan, keys: the driver's own cost
    before anything runs) and the number of jobs it planned."""
    env = dict(
        os.environ, **(extra_env or {}), KP_OUTPUTS=str(outputs), KP_WAREHOUSE=str(warehouse)
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "helpers.cli", "reports", "--month", month, "--plan"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    took = time.monotonic() - t0
    if proc.returncode:
        sys.stderr.write(proc.stderr[-2000:])
        raise SystemExit("planning the scaled registry failed")
    first = proc.stdout.splitlines()[0]  # "plan for 2025-03: 93 jobs"
    return took, int(first.split(":")[1].split()[0])


def last_run_statuses(outputs: Path, month: str) -> dict[str, str]:
    from helpers.engine.ledger import Ledger

    led = Ledger(outputs / "ledger.duckdb")
    run_id = led.runs(month)[-1]["run_id"]
    return {j["job_id"]: j["status"] for j in led.jobs(run_id)}


def executed_since(outputs: Path, month: str, runs_before: int) -> list[str]:
    """Jobs executed by the runs recorded after the first ``runs_before`` runs of the month
    (a run that stopped at "up to date" records nothing)."""
    from helpers.engine.ledger import Ledger

    led = Ledger(outputs / "ledger.duckdb")
    done = []
    for run in led.runs(month)[runs_before:]:
        done += [j["job_id"] for j in led.jobs(run["run_id"]) if j["status"] == "done"]
    return done


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_comparison(month, jobs, warehouse, extra_env, tmp: Path) -> list[tuple[str, float]]:
    """Local executor against a two-worker local Dask cluster, fresh and forced."""
    rows = []
    local = tmp / "outputs-local"
    print("local executor (JOBS=2), fresh outputs ...", flush=True)
    rows.append(
        (
            "local executor, fresh",
            make_reports(month, jobs, local, warehouse, extra_env, "--jobs 2"),
        )
    )
    print("local executor, --force ...", flush=True)
    rows.append(
        (
            "local executor, --force",
            make_reports(month, jobs, local, warehouse, extra_env, "--jobs 2 --force"),
        )
    )
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, **(extra_env or {}))
    logs = open(tmp / "cluster.log", "wb")  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [
                str(VENV_BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            stdout=logs,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    ]
    try:
        for i in (1, 2):
            procs.append(
                subprocess.Popen(
                    [
                        str(VENV_BIN / "dask"),
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--name",
                        f"bench-{i}",
                        "--local-directory",
                        str(tmp / f"worker-{i}"),
                    ],
                    stdout=logs,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    cwd=tmp,
                )
            )
        from distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        remote = tmp / "outputs-dask"
        dask_args = f"--executor dask --scheduler {address}"
        print("two-worker Dask cluster, fresh outputs (kernels start) ...", flush=True)
        rows.append(
            (
                "dask, 2 workers, fresh",
                make_reports(month, jobs, remote, warehouse, extra_env, dask_args),
            )
        )
        print("two-worker Dask cluster, --force (warm kernels) ...", flush=True)
        rows.append(
            (
                "dask, 2 workers, --force (warm)",
                make_reports(month, jobs, remote, warehouse, extra_env, dask_args + " --force"),
            )
        )
        same = {k: v for k, v in _keys(local, month).items()} == _keys(remote, month)
        print(f"same cache keys in both executors: {'yes' if same else 'NO'}")
    finally:
        import signal

        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    return rows


def _keys(outputs: Path, month: str) -> dict[str, str]:
    manifest = json.loads((outputs / month / "manifest.json").read_text())
    return {j["id"]: j["key"] for j in manifest["jobs"]}


TARGETS = {
    "naive": 10.0,  # engine at least 10x faster than the naive sequential loop
    "parallel": 5.0,  # and 5x faster than the naive parallel loop
    "full_month_s": 60.0,  # the full month (HTML + PDF + portal) under 60 s
    "no_change_s": 2.0,  # the no-change re-run under 2 s
}


def _fmt_s(secs: float) -> str:
    return f"{secs:.1f}" if secs >= 10 else f"{secs:.2f}"


def _add(rows: list, name: str, secs: float) -> None:
    """Record a measure and print it at once (a long benchmark cut short still shows it)."""
    rows.append((name, secs))
    print(f"  {name}: {_fmt_s(secs)} s", flush=True)


def _mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--month", default="2025-03")
    p.add_argument("--depts", type=int, default=6, help="departments in the job set (default 6)")
    p.add_argument("--skip-naive", action="store_true", help="skip the (slow) naive loops")
    p.add_argument("--skip-parallel", action="store_true", help="skip the naive parallel loop")
    p.add_argument("--skip-floor", action="store_true", help="skip the warm-kernel floor")
    p.add_argument("--skip-full-month", action="store_true", help="skip the full month run")
    p.add_argument("--skip-scaling", action="store_true", help="skip workers/months/registry")
    p.add_argument(
        "--scale-months", type=int, default=12, help="months in the range run (default 12)"
    )
    p.add_argument(
        "--scale-family",
        default="budget_execution",
        help="the family run for 1 and for --scale-months months ('' = all of the department's)",
    )
    p.add_argument(
        "--no-snapshot",
        action="store_true",
        help="run the working tree itself (concurrent edits then disturb the measurement)",
    )
    p.add_argument("--notebook", default="", help="only these families (comma list)")
    p.add_argument(
        "--dask",
        action="store_true",
        help="compare the local executor with a 2-worker Dask cluster",
    )
    args = p.parse_args(argv)
    warehouse = paths.warehouse_path()
    if not warehouse.exists():
        print(f"error: warehouse not found at {warehouse}: run `make data`", file=sys.stderr)
        return 2
    families = [f.strip() for f in args.notebook.split(",") if f.strip()] or None
    cores = os.cpu_count() or 1
    rows: list[tuple[str, float]] = []
    scaling: list[tuple[str, int, float]] = []  # (what, reports, seconds)
    bench_t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kp-bench-") as tmp:
        tmp = Path(tmp)
        extra_env = None if args.no_snapshot else snapshot(tmp / "snapshot")
        depts, jobs = job_set(
            args.month,
            args.depts,
            warehouse,
            notebooks_dir=Path(extra_env["KP_NOTEBOOKS"]) if extra_env else None,
            params_dir=Path(extra_env["KP_PARAMS"]) if extra_env else None,
            families=families,
        )
        print(
            f"benchmark: month {args.month}, {len(jobs)} reports ({len(depts)} departments: "
            f"{', '.join(depts)}; plus province), {cores} cores"
            + ("" if extra_env else "; working tree (no snapshot)")
        )
        if args.dask:
            rows = dask_comparison(args.month, jobs, warehouse, extra_env, tmp)
            print()
            print(f"{'measure':<40} {'seconds':>9}")
            for name, secs in rows:
                print(f"{name:<40} {secs:>9.1f}")
            return 0
        naive = parallel = floor = None
        # The engine runs before, between and after the naive loops: each ratio divides a
        # naive loop by the mean of the two engine runs either side of it, so a machine whose
        # speed drifts during the benchmark (shared hosts) moves both sides of a ratio alike.
        engine_runs: list[tuple[float, float]] = []  # (wall s, CPU s)
        html_runs: list[float] = []  # the same jobs published as the naive loops do: HTML only
        html_env = None  # made with the first HTML-only run (none without the naive loops)

        def engine_run(label: str) -> Path:
            out = tmp / f"outputs-{len(engine_runs) + 1}"
            when = f" {label}" if label else ""
            print(f"make reports{when} (fresh outputs, HTML + PDF + portal, {cores} workers) ...",
                  flush=True)  # fmt: skip
            engine_runs.append((make_reports(args.month, jobs, out, warehouse, extra_env),
                                LAST_CPU["s"]))  # fmt: skip
            if not args.skip_naive:
                nonlocal html_env
                if html_env is None:
                    params = Path(extra_env["KP_PARAMS"]) if extra_env else paths.PARAMS_DIR
                    html_only = html_only_params(params, tmp / "params-html-only")
                    html_env = dict(extra_env or {}, KP_PARAMS=str(html_only))
                print(f"make reports{when} (fresh outputs, HTML only, as the naive loops) ...",
                      flush=True)  # fmt: skip
                html_out = tmp / f"outputs-html-{len(html_runs) + 1}"
                html_runs.append(make_reports(args.month, jobs, html_out, warehouse, html_env))
            return out

        naive_cpu: dict[str, float] = {}
        if not args.skip_naive:
            engine_run("before the naive loops")
            print(
                "naive sequential loop (papermill CLI + nbconvert CLI per report, HTML only) ...",
                flush=True,
            )
            cpu0 = _children_cpu()
            naive = naive_loop(jobs, tmp / "naive", extra_env)
            naive_cpu["naive"] = _children_cpu() - cpu0
            _add(rows, "naive sequential loop, HTML only", naive)
            if not args.skip_parallel:
                engine_run("between the naive loops")
                print(
                    f"naive parallel loop (the same CLIs, {cores} reports at a time, HTML only) ...",
                    flush=True,
                )
                cpu0 = _children_cpu()
                parallel = naive_parallel(jobs, tmp / "naive-parallel", extra_env, cores)
                naive_cpu["parallel"] = _children_cpu() - cpu0
                _add(rows, f"naive parallel loop ({cores} processes), HTML only", parallel)
        outputs = engine_run("after the naive loops" if engine_runs else "")
        walls = [w for w, _ in engine_runs]
        ours = sorted(walls)[len(walls) // 2]  # the median engine run
        ours_cpu = sorted(c for _, c in engine_runs)[len(walls) // 2]
        around = {  # the engine runs either side of each naive loop
            "naive": walls[0:2],
            "parallel": walls[1:3] if parallel is not None else walls[0:2],
        }
        around_html = {
            "naive": html_runs[0:2],
            "parallel": html_runs[1:3] if parallel is not None else html_runs[0:2],
        }
        for i, w in enumerate(walls, 1):
            _add(rows, f"make reports, HTML + PDF + portal (run {i})", w)
        for i, w in enumerate(html_runs, 1):
            _add(rows, f"make reports, HTML only (run {i})", w)
        breakdown = worker_breakdown(outputs)
        if not args.skip_floor:
            print("warm-kernel floor (one kernel, notebooks back to back, no publishing) ...")
            floor = warm_floor(jobs, tmp, extra_env)
            _add(rows, "warm-kernel floor, execute only", floor["total_s"])
        print("make reports again, nothing changed ...", flush=True)
        again = make_reports(args.month, jobs, outputs, warehouse, extra_env)
        _add(rows, "no-change re-run", again)
        again_ran = executed_since(outputs, args.month, runs_before=1)
        changed = depts[0]
        print(f"make reports after changing one amount of {changed!r} ...", flush=True)
        copy = tmp / "warehouse-changed.duckdb"
        changed_warehouse(warehouse, copy, changed)
        one = make_reports(args.month, jobs, outputs, copy, extra_env)
        _add(rows, f"one department changed ({changed})", one)
        statuses = last_run_statuses(outputs, args.month)
        reran = sorted(k for k, v in statuses.items() if v == "done")
        expected = sorted(j.id for j in jobs if j.department in (changed, None))

        full = None
        if not args.skip_full_month and not families:
            print(f"full month {args.month} (every report, HTML + PDF + portal) ...", flush=True)
            full_out = tmp / "outputs-full"
            full_s = make_reports(args.month, None, full_out, warehouse, extra_env)
            n_full = len(_keys(full_out, args.month))
            full = (n_full, full_s, LAST_CPU["s"])
            scaling.append((f"full month, {cores} workers", n_full, full_s))
            print(f"  full month: {n_full} reports in {_fmt_s(full_s)} s", flush=True)

        if not args.skip_scaling:
            print("scaling: the job set with 1 worker ...", flush=True)
            one_w = make_reports(
                args.month, jobs, tmp / "outputs-1w", warehouse, extra_env, "--jobs 1"
            )
            scaling.append(("job set, 1 worker", len(jobs), one_w))
            print(f"  job set, 1 worker: {_fmt_s(one_w)} s", flush=True)
            scaling.append((f"job set, {cores} workers", len(jobs), ours))
            dept_jobs = [
                j
                for j in jobs
                if j.department == changed
                and (not args.scale_family or j.family == args.scale_family)
            ]
            from helpers.data.calendar import add_months, parse_month

            last = f"{add_months(parse_month(args.month), args.scale_months - 1):%Y-%m}"
            first = args.month
            print(f"scaling: {changed} for 1 month, then {first}..{last} ...", flush=True)
            m1 = make_reports(first, dept_jobs, tmp / "outputs-m1", warehouse, extra_env)
            scaling.append(
                (f"{changed} {args.scale_family or '(all)'}, 1 month", len(dept_jobs), m1)
            )
            print(f"  1 month: {_fmt_s(m1)} s", flush=True)
            range_out = tmp / "outputs-m12"
            m12 = make_reports(
                first, dept_jobs, range_out, warehouse, extra_env, months=f"{first}..{last}"
            )
            n12 = sum(
                len(_keys(range_out, f"{add_months(parse_month(first), i):%Y-%m}"))
                for i in range(args.scale_months)
            )
            scaling.append(
                (
                    f"{changed} {args.scale_family or '(all)'}, {args.scale_months} months, one command",
                    n12,
                    m12,
                )
            )
            print(f"  {args.scale_months} months: {n12} reports in {_fmt_s(m12)} s", flush=True)
            print("scaling: a registry 4x larger (planning, and the month estimated) ...")
            big = tmp / "warehouse-4x.duckdb"
            n_big = scaled_warehouse(warehouse, big, 4)
            plan_1x = plan_seconds(args.month, tmp / "outputs-plan1", warehouse, extra_env)
            plan_4x = plan_seconds(args.month, tmp / "outputs-plan4", big, extra_env)

    print()
    if breakdown:
        print("where the workers' time went in the engine run (mean wall seconds per report):")
        print(f"  {'family':<22} {'reports':>7} {'execute':>8} {'publish':>8} {'total':>7}")
        for fam, n, ex, pub, tot in breakdown:
            print(f"  {fam:<22} {n:>7} {ex:>8.2f} {pub:>8.2f} {tot:>7.2f}")
    if floor is not None:
        by_fam: dict[str, list[dict]] = {}
        for r in floor["reports"]:
            by_fam.setdefault(r["family"], []).append(r)
        print(
            f"warm-kernel floor per report (one kernel; its start and imports "
            f"{floor['kernel_start_s']:.1f} s, not counted):"
        )
        print(f"  {'family':<22} {'reports':>7} {'wall s':>8} {'CPU s':>8}")
        for fam, rs in sorted(by_fam.items()):
            wall = sum(r["wall_s"] for r in rs) / len(rs)
            cpu = sum(r["cpu_s"] for r in rs) / len(rs)
            print(f"  {fam:<22} {len(rs):>7} {wall:>8.2f} {cpu:>8.2f}")
    print(
        f"engine CPU per report (driver + workers + kernels, all cores): "
        f"{ours_cpu / max(1, len(jobs)):.2f} s ({ours_cpu:.0f} s CPU for {len(jobs)} reports "
        f"in {ours:.0f} s wall)"
    )
    if again_ran:
        print(
            f"warning: the no-change re-run executed {len(again_ran)} reports "
            "(an input changed between the runs)"
        )
    print()
    print(f"{'measure':<48} {'seconds':>9}")
    for name, secs in rows:
        print(f"{name:<48} {_fmt_s(secs):>9}")
    print()
    print(f"{'ratio (same jobs)':<48} {'measured':>9}  target")
    for what, runs, bracket in (
        ("HTML only, as the naive loops", html_runs, around_html),
        ("HTML + PDF + portal", walls, around),
    ):
        for key, loop, secs in (("naive", "sequential", naive), ("parallel", "parallel", parallel)):
            if secs is not None and bracket[key]:
                x = secs / (sum(bracket[key]) / len(bracket[key]))
                print(f"{f'engine ({what}) vs naive {loop}':<56} {x:>6.1f}x  "
                      f">= {TARGETS[key]:.0f}x {_mark(x >= TARGETS[key])}")  # fmt: skip
        if naive is not None:
            print(
                f"  (each naive loop against the mean of the engine runs either side of it; "
                f"engine runs {', '.join(f'{w:.1f}' for w in runs)} s)"
            )
    if naive is not None:
        used = ", ".join(
            f"{k} {v:.0f} s ({v / ours_cpu:.1f}x the engine's)" for k, v in naive_cpu.items()
        )
        print(
            f"  CPU seconds of the process trees: engine with PDF {ours_cpu:.0f} s (median run); "
            f"{used}"
        )
    if floor is not None:
        x = ours / floor["total_s"]
        print(
            f"{'engine / warm-kernel floor (1 = the floor)':<48} {x:>8.2f}x  "
            f"(the floor runs on one core, the engine on {cores})"
        )
    print(
        f"{'no-change re-run':<48} {_fmt_s(again):>8}s  < {TARGETS['no_change_s']:.0f} s "
        f"{_mark(again < TARGETS['no_change_s'])}"
    )
    if full is not None:
        n_full, full_s, full_cpu = full
        print(
            f"{f'full month ({n_full} reports)':<48} {_fmt_s(full_s):>8}s  "
            f"< {TARGETS['full_month_s']:.0f} s {_mark(full_s < TARGETS['full_month_s'])}"
        )
        print(
            f"{'full month, reports per minute':<48} {n_full / full_s * 60:>9.1f}  "
            f"(CPU {full_cpu / n_full:.2f} s per report)"
        )
    print(f"{'job set, reports per minute':<48} {len(jobs) / ours * 60:>9.1f}")
    print(f"re-ran after the change: {', '.join(reran) or 'nothing'}")
    ok = reran == expected
    print(
        "only the changed department's reports (and the province reports) re-ran: "
        + ("yes" if ok else f"NO (expected {', '.join(expected)})")
    )
    if scaling:
        print()
        print("scaling (reports per minute, HTML + PDF + portal, fresh outputs):")
        print(f"  {'run':<44} {'reports':>7} {'seconds':>8} {'per min':>8}")
        for what, n, secs in scaling:
            print(f"  {what:<44} {n:>7} {_fmt_s(secs):>8} {n / secs * 60:>8.1f}")
    if not args.skip_scaling:
        (t1, n1), (t4, n4) = plan_1x, plan_4x
        print(
            f"registry 4x ({n_big} departments in a warehouse copy): plan + keys "
            f"{t4:.2f} s for {n4} jobs (against {t1:.2f} s for {n1})"
        )
        if full is not None:
            n_full, full_s, _ = full
            print(
                f"  estimated 4x month at the measured full-month rate: "
                f"{n4 / (n_full / full_s):.0f} s for {n4} reports (province reports read 4x "
                f"the data: see 'Province overview scale')"
            )
    print(f"\nbenchmark took {time.monotonic() - bench_t0:.0f} s")

    bench_data = ROOT / "benchmarks" / "bench_data.py"
    if bench_data.exists():
        spec = importlib.util.spec_from_file_location("bench_data", bench_data)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if hasattr(mod, "run"):
            print("\ndata benchmarks (benchmarks/bench_data.py):")
            try:
                figures = mod.run()
            except (Exception, SystemExit) as exc:  # e.g. no data/raw in this checkout
                print(f"  not measured: {type(exc).__name__}: {exc}")
                figures = None
            if isinstance(figures, dict):
                for k, v in figures.items():
                    print(f"  {k:<38} {v}")
            elif figures is not None:
                print(figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
