"""End-to-end tests of the batch engine with fixture notebooks and a fake warehouse.

Real kernels (`kp-reports`), real publishers, a fake suite.yaml and notebooks dir in tmp_path.
The warehouse facts (registry, data range, slice checksums) come from a small fake so the
tests do not depend on the sample data; the real warehouse is exercised by `make bench`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from helpers.engine import run as engine_run
from helpers.engine.assemble import month_lock
from helpers.engine.execute import FAILED_TAG
from helpers.engine.inputs import Department
from helpers.engine.ledger import Ledger

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("engine")]

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
MONTH = "2025-03"


class FakeWarehouse:
    """Registry of two departments; checksums from a JSON file so a test (or a child process)
    can change one department's data."""

    def __init__(self, sums_file: Path):
        self.sums_file = sums_file

    def departments(self, on=None):
        return [
            Department("health", "Health", "Health"),
            Department("education", "Elementary & Secondary Education", "Education"),
        ]

    def data_range(self):
        return dt.date(2022, 7, 1), dt.date(2026, 6, 1)

    def applies_to(self, rule, month=None):
        return {"health"}

    def slice_checksum(self, department):
        sums = json.loads(self.sums_file.read_text()) if self.sums_file.exists() else {}
        return sums.get(department or "", f"v1-{department}")


def family(name, notebook, scope="department", applies=False, extra=""):
    dept = (
        "      department: {type: department, default: health}\n" if scope == "department" else ""
    )
    return (
        f"  {name}:\n    title: {name.title()} report\n    notebook: {notebook}\n"
        f"    scope: {scope}\n"
        + ("    applies_to: departments_with_targets\n" if applies else "")
        + f'    parameters:\n{dept}      month: {{type: month, default: "2025-03"}}\n{extra}'
    )


class Env:
    """A sandbox: suite, notebooks, outputs, a copy of the helpers' hashed inputs."""

    def __init__(self, tmp: Path, families: list[str], formats="[html]", settings=""):
        self.tmp = tmp
        self.nbdir = tmp / "notebooks"
        shutil.copytree(FIXTURES, self.nbdir, ignore=shutil.ignore_patterns("*.py", "__py*"))
        self.outputs = tmp / "outputs"
        self.suite = tmp / "params" / "suite.yaml"
        self.suite.parent.mkdir()
        self.write_suite(families, formats, settings)
        self.sums = tmp / "sums.json"
        self.facts = FakeWarehouse(self.sums)

    def write_suite(self, families, formats="[html]", settings=""):
        self.suite.write_text(
            "families:\n"
            + "".join(families)
            + f"formats: {formats}\nsettings:\n  timeout_seconds: 60\n  jobs: 2\n{settings}"
        )

    def argv(self, *extra):
        return [
            "--month",
            MONTH,
            "--suite",
            str(self.suite),
            "--notebooks-dir",
            str(self.nbdir),
            "--outputs",
            str(self.outputs),
            *extra,
        ]

    def run(self, *extra):
        return engine_run.cli(self.argv(*extra), facts=self.facts)

    def manifest(self):
        return json.loads((self.outputs / MONTH / "manifest.json").read_text())

    def last_run_jobs(self):
        led = Ledger(self.outputs / "ledger.duckdb")
        run_id = led.runs(MONTH)[-1]["run_id"]
        return {j["job_id"]: j for j in led.jobs(run_id)}


def strip_volatile(nb):
    """Sources and outputs without timing/execution metadata. Object addresses in default
    reprs (``<... at 0x7f...>``) differ between any two processes, so they are masked."""
    text = json.dumps(
        [
            (
                c.cell_type,
                c.source,
                c.get("execution_count"),
                [{k: v for k, v in o.items() if k != "metadata"} for o in c.get("outputs", [])],
            )
            for c in nb.cells
        ],
        sort_keys=True,
    )
    return re.sub(r" at 0x[0-9a-f]+>", " at 0x…>", text)


def test_failures_are_classified_and_do_not_stop_the_others(tmp_path, capsys):
    env = Env(
        tmp_path,
        [
            family("sleeps", "sleeps.ipynb", applies=True),
            family("exits", "exits.ipynb", applies=True),
            family("raises", "raises.ipynb", applies=True),
            family("ok", "ok.ipynb", applies=True),
        ],
        formats="[html, pdf]",
    )
    status = env.run("--timeout", "8")
    err = capsys.readouterr()
    assert status == 1
    jobs = env.last_run_jobs()
    got = {k: (v["status"], v["reason"]) for k, v in jobs.items()}
    assert got == {
        "health/ok": ("done", None),
        "health/raises": ("failed", "cell_error"),
        "health/exits": ("failed", "kernel_died"),
        "health/sleeps": ("failed", "timeout"),
    }
    assert "ValueError: fixture failure for health" in jobs["health/raises"]["error_excerpt"]
    assert "raise ValueError" in jobs["health/raises"]["failing_source"]
    assert jobs["health/ok"]["cache_key"] and json.loads(jobs["health/ok"]["output_hashes"])
    month = env.outputs / MONTH
    assert month.is_symlink()
    for name in ("ok.html", "ok.pdf", "ok.ipynb", "raises.failed.ipynb", "exits.failed.ipynb"):
        assert (month / "health" / name).is_file(), name
    failed = nbformat.read(month / "health" / "raises.failed.ipynb", as_version=4)
    marked = [c for c in failed.cells if FAILED_TAG in c.metadata.get("tags", [])]
    assert len(marked) == 2  # the banner and the failing cell
    assert marked[1].source.startswith("raise ValueError")
    assert not (month / "health" / "ok.failed.ipynb").exists()
    manifest = env.manifest()
    assert manifest["counts"] == {"done": 1, "cached": 0, "failed": 3}
    assert (month / "index.html").is_file() and (env.outputs / "index.html").is_file()
    assert "kernel_died" in err.out and "timeout" in err.out  # the summary table
    html = (month / "health" / "ok.html").read_text()
    assert jobs["health/ok"]["cache_key"][:8] in html  # provenance footer

    # --only-failed selects what failed last time; --force re-runs what is cached.
    assert plan_actions(env, capsys, "--only-failed") == {
        "health/ok": "reuse",
        "health/raises": "run",
        "health/exits": "run",
        "health/sleeps": "run",
    }
    assert plan_actions(env, capsys, "--force", "--notebook", "ok") == {
        "health/ok": "run",
        "health/raises": "skip",
        "health/exits": "skip",
        "health/sleeps": "skip",
    }


def plan_actions(env, capsys, *extra):
    """job id -> action of a dry run (--plan)."""
    capsys.readouterr()
    assert env.run("--plan", *extra) == 0
    out = capsys.readouterr().out.splitlines()
    return {ln.split()[0]: ln.split()[3] for ln in out if "/" in ln.split()[0]}


def test_cache_skips_unchanged_and_reruns_changed_inputs(tmp_path, monkeypatch, capsys):
    helpers_copy = tmp_path / "helpers_src"
    shutil.copytree(
        ROOT / "src" / "helpers", helpers_copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    lock = tmp_path / "requirements.lock"
    shutil.copy(ROOT / "requirements.lock", lock)
    monkeypatch.setenv("KP_HELPERS_SRC", str(helpers_copy))
    monkeypatch.setenv("KP_LOCK_FILE", str(lock))
    fams = [family("ok", "ok.ipynb"), family("overview", "ok.ipynb", scope="province")]
    env = Env(tmp_path, fams)
    assert env.run() == 0
    first = env.manifest()
    assert first["counts"] == {"done": 3, "cached": 0, "failed": 0}

    # No change: nothing runs, the published month stays, and it is quick.
    t0 = time.monotonic()
    assert env.run() == 0
    assert time.monotonic() - t0 < 2.0
    assert env.manifest()["run_id"] == first["run_id"]
    capsys.readouterr()

    def planned():
        return plan_actions(env, capsys)

    assert set(planned().values()) == {"reuse"}

    # One department's data changes: only its report re-runs.
    env.sums.write_text(json.dumps({"education": "v2-education"}))
    assert planned() == {"education/ok": "run", "health/ok": "reuse", "province/overview": "reuse"}
    assert env.run() == 0
    jobs = env.last_run_jobs()
    assert {k: v["status"] for k, v in jobs.items()} == {
        "education/ok": "done",
        "health/ok": "cached",
        "province/overview": "cached",
    }
    assert env.manifest()["counts"] == {"done": 1, "cached": 2, "failed": 0}
    assert set(planned().values()) == {"reuse"}

    # Province data (slice_checksum(None)) only affects the province report.
    env.sums.write_text(json.dumps({"education": "v2-education", "": "v2-all"}))
    assert planned()["province/overview"] == "run" and planned()["health/ok"] == "reuse"
    env.sums.write_text(json.dumps({"education": "v2-education"}))

    def all_rerun(change, undo):
        change()
        assert set(planned().values()) == {"run"}, change.__name__
        undo()
        assert set(planned().values()) == {"reuse"}, change.__name__

    nb_path = env.nbdir / "ok.ipynb"
    nb_text = nb_path.read_text()

    def notebook_code():
        nb = nbformat.reads(nb_text, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell("pass"))
        nb_path.write_text(nbformat.writes(nb))

    def notebook_outputs_only():  # outputs are not code: must NOT re-run
        nb = nbformat.reads(nb_text, as_version=4)
        nb.cells[1].execution_count = 5
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="old output")]
        nb_path.write_text(nbformat.writes(nb))

    notebook_outputs_only()
    assert set(planned().values()) == {"reuse"}
    nb_path.write_text(nb_text)
    all_rerun(notebook_code, lambda: nb_path.write_text(nb_text))

    suite_text = env.suite.read_text()

    def parameters():
        env.suite.write_text(
            suite_text.replace(
                '      month: {type: month, default: "2025-03"}\n',
                '      month: {type: month, default: "2025-03"}\n'
                "      scale: {type: float, default: 2.0}\n",
            )
        )

    all_rerun(parameters, lambda: env.suite.write_text(suite_text))

    def formats():
        env.suite.write_text(suite_text.replace("formats: [html]", "formats: [html, pdf]"))

    all_rerun(formats, lambda: env.suite.write_text(suite_text))

    for path in (
        helpers_copy / "analysis" / "__init__.py",
        helpers_copy / "publish" / "templates" / "kp.css",
        lock,
    ):
        original = path.read_bytes()

        def change(path=path):
            path.write_bytes(path.read_bytes() + b"\n# changed\n")

        change.__name__ = f"change {path.name}"
        all_rerun(change, lambda path=path, original=original: path.write_bytes(original))

    # The month still holds the last good build; a parameter override re-runs and is recorded.
    assert env.run("--param", "ok.scale=3") == 2  # ok declares no 'scale' (bad parameter)


def test_narrowed_run_lists_out_of_date_reports_instead_of_dropping_them(tmp_path, capsys):
    env = Env(tmp_path, [family("ok", "ok.ipynb")])
    assert env.run() == 0
    # Education's data change; the analyst then re-runs health only.
    env.sums.write_text(json.dumps({"education": "v2-education"}))
    capsys.readouterr()
    assert env.run("--dept", "health") == 0
    out = capsys.readouterr().out
    assert "1 not rebuilt" in out and "warning: 1 report(s)" in out
    month = env.outputs / MONTH
    assert (month / "health" / "ok.html").exists()
    assert not (month / "education" / "ok.html").exists()  # the stale file is not published
    [row] = env.manifest()["not_run"]
    assert row["id"] == "education/ok" and row["status"] == "not_rebuilt"
    portal = (month / "index.html").read_text()
    assert "Elementary &amp; Secondary Education" in portal and "not rebuilt" in portal
    # The full run rebuilds it.
    assert env.run() == 0
    assert (month / "education" / "ok.html").exists() and env.manifest()["not_run"] == []


def test_warm_kernel_report_is_identical_to_fresh(tmp_path):
    env = Env(tmp_path, [family("polluter", "polluter.ipynb"), family("ok", "ok.ipynb")])
    # One worker: the polluter runs first on the same warm kernel, then ok.
    assert env.run("--jobs", "1", "--dept", "health", "--isolation", "warm") == 0
    warm = nbformat.read(env.outputs / MONTH / "health" / "ok.ipynb", as_version=4)
    fresh_env = Env(tmp_path / "fresh", [family("ok", "ok.ipynb")])
    assert fresh_env.run("--dept", "health", "--isolation", "fresh") == 0
    fresh = nbformat.read(fresh_env.outputs / MONTH / "health" / "ok.ipynb", as_version=4)
    assert strip_volatile(warm) == strip_volatile(fresh)
    printed = [o for c in warm.cells for o in c.get("outputs", []) if o.get("name") == "stdout"]
    assert printed and "(2, 2)" not in printed[-1]["text"]  # polluted rcParams were reset
    assert not printed[-1]["text"].strip().endswith(" 64")  # lowered rlimit was restored
    assert [c.execution_count for c in warm.cells if c.cell_type == "code"][:2] == [1, 2]


def test_each_run_s_workers_and_kernels_see_that_run_s_environment(tmp_path, monkeypatch):
    """The workers are forked from a fork server that imported their libraries once: it must
    not hand a later run (here, in the same process) the environment of an earlier one, which
    the reports' kernels inherit."""
    env = Env(tmp_path, [family("envprobe", "envprobe.ipynb")])
    probe = nbformat.v4.new_notebook()
    probe.cells = [
        nbformat.v4.new_code_cell(
            "department = 'health'\nmonth = '2025-03'", metadata={"tags": ["parameters"]}
        ),
        nbformat.v4.new_code_cell("import os\nprint(os.environ.get('KP_TEST_MARK'))"),
    ]
    probe.metadata["kernelspec"] = {
        "name": "kp-reports",
        "display_name": "KP",
        "language": "python",
    }
    (env.nbdir / "envprobe.ipynb").write_text(nbformat.writes(probe), encoding="utf-8")

    def printed() -> str:
        nb = nbformat.read(env.outputs / MONTH / "health" / "envprobe.ipynb", as_version=4)
        return "".join(o["text"] for c in nb.cells for o in c.get("outputs", []) if "text" in o)

    for mark in ("first", "second"):
        monkeypatch.setenv("KP_TEST_MARK", mark)
        assert env.run("--dept", "health", "--force") == 0
        assert printed().split() == [mark]


def test_bad_parameters_exit_2_and_write_nothing(tmp_path, capsys):
    env = Env(tmp_path, [family("ok", "ok.ipynb")])
    cases = [
        (["--month", "2030-01"], "outside the data's range"),
        (["--month", "2025-3"], "YYYY-MM"),
        (["--dept", "../../etc"], "traversal"),
        (["--dept", "police"], "unknown department"),
        (["--notebook", "secret.ipynb"], "unknown notebook"),
        (["--param", "ok.colour=red"], "has no parameter"),
        (["--param", "x\x00=1"], "bad parameter name"),
        (["--jobs", "0"], "--jobs"),
        (["--timeout", "-1"], "timeout"),
    ]
    if shutil.which("quarto") is None:  # asked for, but cannot run here: refused up front
        cases.append((["--publisher", "quarto"], "Quarto is not installed"))
    for extra, message in cases:
        argv = env.argv()
        if extra[0] == "--month":
            argv[1] = extra[1]
        else:
            argv += extra
        assert engine_run.cli(argv, facts=env.facts) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], (extra, err)
    assert not env.outputs.exists()


def test_missing_warehouse_says_run_make_data(tmp_path, capsys):
    env = Env(tmp_path, [family("ok", "ok.ipynb")])
    argv = env.argv("--warehouse", str(tmp_path / "nope.duckdb"))
    assert engine_run.cli(argv) == 2
    assert "run `make data`" in capsys.readouterr().err


def test_second_run_of_the_same_month_refuses(tmp_path, capsys):
    env = Env(tmp_path, [family("ok", "ok.ipynb")])
    with month_lock(env.outputs, MONTH):
        assert env.run() == 3
    assert "another run of 2025-03 is in progress" in capsys.readouterr().err


LAUNCHER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_engine import FakeWarehouse
from helpers.engine import run

if __name__ == "__main__":
    sys.exit(run.cli(sys.argv[1:], facts=FakeWarehouse(Path({sums!r}))))
"""


def test_sigkill_leaves_published_month_and_next_run_uses_cache(tmp_path):
    env = Env(
        tmp_path,
        [family("ok", "ok.ipynb", applies=True), family("sleeps", "sleeps.ipynb", applies=True)],
        settings="  isolation: warm\n",
    )
    assert env.run("--notebook", "ok") == 0
    before = env.manifest()
    target_before = os.readlink(env.outputs / MONTH)
    env.sums.write_text(json.dumps({"health": "v2-health"}))  # ok must run again
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER.format(tests=str(Path(__file__).parent), sums=str(env.sums)))
    proc = subprocess.Popen(
        [sys.executable, str(launcher), *env.argv("--jobs", "1")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            if line.split()[1:3] == ["done", "health/ok"]:
                break
            assert time.monotonic() < deadline, "the run did not reach health/ok"
        time.sleep(0.5)  # now inside health/sleeps
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # Workers notice their driver died, kill their kernels and exit.
    for _ in range(50):
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("worker processes outlived the killed driver")
    assert os.readlink(env.outputs / MONTH) == target_before
    assert env.manifest() == before
    assert (env.outputs / MONTH / "health" / "ok.html").is_file()
    # The next run takes health/ok from the cache the killed run filled.
    assert env.run("--notebook", "ok") == 0
    assert env.last_run_jobs()["health/ok"]["status"] == "cached"
    assert os.readlink(env.outputs / MONTH) != target_before
    runs = Ledger(env.outputs / "ledger.duckdb").runs(MONTH)
    assert [r["status"] for r in runs] == ["ok", "killed", "ok"]


def test_dask_executor_runs_the_same_jobs(tmp_path):
    distributed = pytest.importorskip("distributed")
    env = Env(tmp_path, [family("ok", "ok.ipynb", applies=True), family("raises", "raises.ipynb")])
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        status = env.run("--executor", "dask", "--scheduler", cluster.scheduler_address)
    assert status == 1
    got = {k: (v["status"], v["reason"]) for k, v in env.last_run_jobs().items()}
    assert got == {
        "health/ok": ("done", None),
        "health/raises": ("failed", "cell_error"),
        "education/raises": ("failed", "cell_error"),
    }
    assert (env.outputs / MONTH / "health" / "ok.html").is_file()
    assert env.manifest()["settings"]["executor"] == "dask"


def test_plain_log_lines_when_not_a_terminal(tmp_path, capsys):
    env = Env(tmp_path, [family("ok", "ok.ipynb", applies=True)])
    assert env.run() == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "done    health/ok" in err and "[1/1]" in err


def _manifest_matches_published_files(env) -> dict[str, dict[str, str]]:
    """Every hash in the manifest is the hash of the file published under that name."""
    import hashlib

    manifest = env.manifest()
    hashes = {}
    for job in manifest["jobs"]:
        for kind, rel in job["files"].items():
            if kind in job["hashes"]:
                data = (env.outputs / MONTH / rel).read_bytes()
                assert job["hashes"][kind] == hashlib.sha256(data).hexdigest(), (job["id"], kind)
        hashes[job["id"]] = job["hashes"]
    assert hashes
    return hashes


def test_force_publishes_the_new_output_in_both_executors(tmp_path):
    """--force used to keep the old cache entry: the manifest and ledger then described files
    that were not the published ones. Now the new output replaces the entry."""
    distributed = pytest.importorskip("distributed")
    env = Env(tmp_path, [family("ok", "ok.ipynb", applies=True)], formats="[html, pdf]")
    assert env.run() == 0
    first = _manifest_matches_published_files(env)
    assert env.run("--force") == 0
    forced = _manifest_matches_published_files(env)
    assert forced != first  # a new run time in the footer: new files, new hashes
    with distributed.LocalCluster(
        processes=True, n_workers=1, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        assert (
            env.run("--force", "--executor", "dask", "--scheduler", cluster.scheduler_address) == 0
        )
    assert _manifest_matches_published_files(env) != forced
    assert env.last_run_jobs()["health/ok"]["output_hashes"] is not None
