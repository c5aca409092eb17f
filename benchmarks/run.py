"""`make bench`: the naive loop against `make reports` on the same jobs, plus re-run times.

Measured side by side in one invocation, on the same month and the same job set
(--depts departments x every family that applies to them, plus the province notebooks):

1. naive:  a sequential loop of the `papermill` CLI and `jupyter nbconvert --to html --no-input`
           per report (what a user would write in a shell script; HTML only);
2. engine: `make reports` into a fresh outputs directory (HTML and PDF);
3. no-change re-run of (2);
4. one department's data changed: a copy of the warehouse with one amount changed, KP_WAREHOUSE
   pointing at it; checks that only that department's reports (and the province reports, which
   read every department) re-ran.

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
       [--no-snapshot] [--notebook FAMILY,...] [--dask]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
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


def naive_loop(jobs, workdir: Path, extra_env: dict[str, str] | None = None) -> float:
    """Sequential papermill CLI + nbconvert CLI per report; returns seconds."""
    env = dict(os.environ, **(extra_env or {}))
    t0 = time.monotonic()
    for j in jobs:
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
    return time.monotonic() - t0


def make_reports(
    month: str,
    jobs,
    outputs: Path,
    warehouse: Path,
    extra_env: dict[str, str] | None = None,
    args: str = "",
) -> float:
    """`make reports` selecting exactly ``jobs`` (their departments and families)."""
    env = dict(
        os.environ, **(extra_env or {}), KP_OUTPUTS=str(outputs), KP_WAREHOUSE=str(warehouse)
    )
    depts = ",".join(sorted({j.folder for j in jobs}))
    families = ",".join(sorted({j.family for j in jobs}))
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
            f"MONTH={month}",
            f"DEPT={depts}",
            f"NOTEBOOK={families}",
            *([f"ARGS={args}"] if args else []),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.monotonic() - t0
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--month", default="2025-03")
    p.add_argument("--depts", type=int, default=6, help="departments in the job set (default 6)")
    p.add_argument("--skip-naive", action="store_true", help="skip the (slow) naive loop")
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
    rows = []
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
            f"{', '.join(depts)}; plus province), {os.cpu_count()} cores"
            + ("" if extra_env else "; working tree (no snapshot)")
        )
        if args.dask:
            rows = dask_comparison(args.month, jobs, warehouse, extra_env, tmp)
            print()
            print(f"{'measure':<40} {'seconds':>9}")
            for name, secs in rows:
                print(f"{name:<40} {secs:>9.1f}")
            return 0
        naive = None
        if not args.skip_naive:
            print(
                "naive loop (papermill CLI + nbconvert CLI per report, HTML only) ...", flush=True
            )
            naive = naive_loop(jobs, tmp / "naive", extra_env)
            rows.append(("naive loop, HTML only", naive))
        print("make reports (fresh outputs, HTML + PDF) ...", flush=True)
        outputs = tmp / "outputs"
        ours = make_reports(args.month, jobs, outputs, warehouse, extra_env)
        rows.append(("make reports, HTML + PDF", ours))
        breakdown = worker_breakdown(outputs)
        print("make reports again, nothing changed ...", flush=True)
        again = make_reports(args.month, jobs, outputs, warehouse, extra_env)
        rows.append(("no-change re-run", again))
        again_ran = executed_since(outputs, args.month, runs_before=1)
        changed = depts[0]
        print(f"make reports after changing one amount of {changed!r} ...", flush=True)
        copy = tmp / "warehouse-changed.duckdb"
        changed_warehouse(warehouse, copy, changed)
        one = make_reports(args.month, jobs, outputs, copy, extra_env)
        rows.append((f"one department changed ({changed})", one))
        statuses = last_run_statuses(outputs, args.month)
        reran = sorted(k for k, v in statuses.items() if v == "done")
        expected = sorted(j.id for j in jobs if j.department in (changed, None))

    print()
    print("where the workers' time went in the full run (mean seconds per report):")
    print(f"  {'family':<22} {'reports':>7} {'execute':>8} {'publish':>8} {'total':>7}")
    for fam, n, ex, pub, tot in breakdown:
        print(f"  {fam:<22} {n:>7} {ex:>8.2f} {pub:>8.2f} {tot:>7.2f}")
    if again_ran:
        print(
            f"warning: the no-change re-run executed {len(again_ran)} reports "
            "(an input changed between the runs)"
        )
    print()
    print(f"{'measure':<40} {'seconds':>9}")
    for name, secs in rows:
        print(f"{name:<40} {secs:>9.1f}" if secs >= 10 else f"{name:<40} {secs:>9.2f}")
    if naive is not None:
        print(f"{'speed-up (naive / make reports)':<40} {naive / ours:>8.1f}x")
    print(f"re-ran after the change: {', '.join(reran) or 'nothing'}")
    ok = reran == expected
    print(
        "only the changed department's reports (and the province reports) re-ran: "
        + ("yes" if ok else f"NO (expected {', '.join(expected)})")
    )

    bench_data = ROOT / "benchmarks" / "bench_data.py"
    if bench_data.exists():
        spec = importlib.util.spec_from_file_location("bench_data", bench_data)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if hasattr(mod, "run"):
            print("\ndata benchmarks (benchmarks/bench_data.py):")
            figures = mod.run()
            if isinstance(figures, dict):
                for k, v in figures.items():
                    print(f"  {k:<38} {v}")
            elif figures is not None:
                print(figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
