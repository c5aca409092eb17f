"""Faults during a run: each leaves the other reports complete, the published month intact (or
replaced by a complete one), a ledger entry that says what happened, and a next run that recovers.

Cases already proven in tests/e2e/test_engine.py (a cell that raises, ``os._exit``, a cell past
the timeout, SIGKILL of the driver, a second run refused by the month lock) are not repeated;
see docs/reliability.md.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from adv_support import LAUNCHER, MONTH, AdvEnv, family

from helpers.engine import assemble
from helpers.engine.cache import Cache

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("adversarial-engine")]
E2E_DIR = Path(__file__).resolve().parents[1] / "e2e"


def _published(env: AdvEnv) -> tuple[str, dict]:
    return os.readlink(env.outputs / MONTH), env.manifest()


def _staging_left(env: AdvEnv) -> list[Path]:
    root = env.outputs / assemble.STAGING
    return list(root.iterdir()) if root.is_dir() else []


def _fix(env: AdvEnv, name: str) -> None:
    """'Fix' a fixture notebook: replace it with the ok report's code."""
    shutil.copy(env.nbdir / "ok.ipynb", env.nbdir / f"{name}.ipynb")


def test_memory_blowup_and_oom_kill_fail_alone_and_the_next_run_recovers(tmp_path, capsys):
    env = AdvEnv(
        tmp_path,
        [
            family("ok", "ok.ipynb", applies=True),
            family("memory", "memory.ipynb", applies=True),
            family("oomkill", "oomkill.ipynb", applies=True),
        ],
    )
    assert env.run("--notebook", "ok") == 0
    link_before, manifest_before = _published(env)
    env.sums.write_text(json.dumps({"health": "v2-health"}))  # ok must run again

    assert env.run() == 1
    jobs = env.last_run_jobs()
    got = {k: (v["status"], v["reason"]) for k, v in jobs.items()}
    assert got == {
        "health/ok": ("done", None),
        "health/memory": ("failed", "cell_error"),
        "health/oomkill": ("failed", "kernel_died"),
    }
    assert "MemoryError" in jobs["health/memory"]["error_excerpt"]
    assert "bytearray" in jobs["health/memory"]["failing_source"]
    month = env.outputs / MONTH
    assert (month / "health" / "ok.html").is_file()
    for name in ("memory", "oomkill"):
        assert (month / "health" / f"{name}.failed.ipynb").is_file()
    assert env.manifest()["counts"] == {"done": 1, "cached": 0, "failed": 2}
    # The previous build is kept beside the new one, untouched (a reader may still be in it).
    previous = env.outputs / link_before
    assert json.loads((previous / "manifest.json").read_text()) == manifest_before
    assert (previous / "health" / "ok.html").is_file()
    assert env.ledger_runs()[-1]["status"] == "failed"

    _fix(env, "memory")
    _fix(env, "oomkill")
    capsys.readouterr()
    assert env.run() == 0
    got = {k: v["status"] for k, v in env.last_run_jobs().items()}
    assert got == {"health/ok": "cached", "health/memory": "done", "health/oomkill": "done"}
    assert env.manifest()["counts"] == {"done": 2, "cached": 1, "failed": 0}
    assert [r["status"] for r in env.ledger_runs()] == ["ok", "failed", "ok"]


@pytest.mark.parametrize("where", ["manifest", "swap"])
def test_full_disk_on_publish_keeps_the_published_month(where, tmp_path, monkeypatch, capsys):
    env = AdvEnv(tmp_path, [family("ok", "ok.ipynb", applies=True)])
    assert env.run() == 0
    link_before, manifest_before = _published(env)
    env.sums.write_text(json.dumps({"health": "v2-health"}))

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "manifest":
        monkeypatch.setattr(assemble, "write_json_atomic", disk_full)
    else:
        monkeypatch.setattr(assemble, "swap_in", disk_full)
    capsys.readouterr()
    assert env.run() == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "published month is unchanged" in err
    assert "Traceback" not in err
    assert _published(env) == (link_before, manifest_before)
    assert _staging_left(env) == []
    builds = sorted(p.name for p in (env.outputs / assemble.BUILDS).iterdir())
    assert builds == [Path(link_before).name]  # no half-made build left behind
    last = env.ledger_runs()[-1]
    assert last["status"] == "failed" and "No space left on device" in last["note"]

    monkeypatch.undo()
    assert env.run() == 0  # the report itself was cached by the worker before the fault
    assert env.last_run_jobs()["health/ok"]["status"] == "cached"
    assert os.readlink(env.outputs / MONTH) != link_before
    assert env.ledger_runs()[-1]["status"] == "ok"


def test_two_concurrent_runs_of_one_month(tmp_path, capsys):
    env = AdvEnv(tmp_path, [family("slow", "slow.ipynb", applies=True)])
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER.format(tests=str(E2E_DIR), sums=str(env.sums)))
    first = subprocess.Popen(
        [sys.executable, str(launcher), *env.argv("--jobs", "1")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        for line in first.stdout:
            lines.append(line)
            if line.split()[1:3] == ["start", "health/slow"]:
                break
            assert time.monotonic() < deadline, "the first run never started its job"
        # A second run of the month is refused at once (exit 3) and writes nothing.
        assert env.run() == 3
        assert "another run of 2025-03 is in progress" in capsys.readouterr().err
        # A third one that waits gets the month after the first finished: already up to date.
        assert env.run("--wait") == 0
        assert "up to date" in capsys.readouterr().err
        rest = first.communicate(timeout=120)[0]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, 9)
    assert first.returncode == 0, "".join(lines) + rest
    assert (env.outputs / MONTH / "health" / "slow.html").is_file()
    assert [r["status"] for r in env.ledger_runs()] == ["ok"]


def test_disclosure_gate_blocks_the_month_and_the_fixed_report_publishes(tmp_path, capsys):
    env = AdvEnv(
        tmp_path,
        [family("ok", "ok.ipynb", applies=True), family("leaky", "leaky.ipynb", applies=True)],
    )
    assert env.run("--notebook", "ok") == 0
    link_before, manifest_before = _published(env)
    capsys.readouterr()

    assert env.run() == 1
    err = capsys.readouterr().err
    assert "not published: the disclosure scan found" in err
    assert "health/leaky.html" in err and "respondent_id" in err
    assert "Traceback" not in err
    assert _published(env) == (link_before, manifest_before)
    assert _staging_left(env) == []
    last = env.ledger_runs()[-1]
    assert last["status"] == "blocked"
    assert "respondent_rows" in last["note"] and "health/leaky" in last["note"]
    jobs = env.last_run_jobs()
    assert (jobs["health/leaky"]["status"], jobs["health/leaky"]["reason"]) == (
        "blocked",
        "disclosure",
    )
    # The blocked report is not kept for reuse; the findings are kept beside the run's logs.
    assert not Cache(env.outputs / ".cache").has(jobs["health/leaky"]["cache_key"])
    report = env.outputs / ".runs" / last["run_id"] / "disclosure.json"
    findings = json.loads(report.read_text())
    assert {f["file"] for f in findings} == {"health/leaky.html", "health/leaky.ipynb"}

    # The author replaces the extract by an aggregate: the month publishes.
    nb = nbformat.read(env.nbdir / "leaky.ipynb", as_version=4)
    nb.cells[-1].source = (
        "import pandas as pd\n\nfrom helpers.present import table\n\n"
        'table(pd.DataFrame({"District": ["Peshawar"], "Ratings (n)": [120]}), caption="n")'
    )
    nbformat.write(nb, env.nbdir / "leaky.ipynb")
    assert env.run() == 0
    assert (env.outputs / MONTH / "health" / "leaky.html").is_file()
    assert env.ledger_runs()[-1]["status"] == "ok"


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (workers, and the kernels they started)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        c, parent = map(int, line.split())
        children.setdefault(parent, []).append(c)
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.add(c)
            todo.append(c)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for p in pids:
        try:
            os.kill(p, 0)
        except ProcessLookupError:
            continue
        alive.add(p)
    return alive


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(2, 130, "interrupted"), (15, 143, "terminated")]
)
def test_ctrl_c_and_sigterm_stop_a_run_within_seconds(tmp_path, sig, code, word):
    """Ctrl-C (twice, as impatient users do) or SIGTERM in the middle of a run: the driver
    stops its workers and their kernels and exits within seconds with one line, the ledger
    says interrupted, nothing is published."""
    env = AdvEnv(tmp_path, [family("slow", "slow.ipynb", applies=True)])
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER.format(tests=str(E2E_DIR), sums=str(env.sums)))
    run = subprocess.Popen(
        [sys.executable, str(launcher), *env.argv("--jobs", "2")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        for line in run.stdout:
            if line.split()[1:2] == ["start"]:
                break
            assert time.monotonic() < deadline, "the run never started a job"
        else:
            pytest.fail("the run ended before starting a job")
        time.sleep(1.0)  # the kernels are up
        below = _descendants(run.pid)
        t0 = time.monotonic()
        os.kill(run.pid, sig)
        if sig == 2:
            time.sleep(0.3)
            os.kill(run.pid, sig)  # the second Ctrl-C waits for the first
        err, _ = run.communicate(timeout=30)  # stderr is merged into stdout
        took = time.monotonic() - t0
    finally:
        if run.poll() is None:
            os.killpg(run.pid, 9)
    assert run.returncode == code, err
    assert took < 15, took
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == f"{word}: the published month is unchanged" and "Traceback" not in err
    time.sleep(2.0)  # a kernel notices its worker is gone within a second
    assert below and _alive(below) == set()  # no worker or kernel left behind
    assert [r["status"] for r in env.ledger_runs()] == ["interrupted"]
    assert not (env.outputs / MONTH).exists()
