"""Operations around a run: the outputs folder unwritable or its disk full (a real small
tmpfs, not a mock), Ctrl-C during ``make data``, a month link whose build was removed, a
legacy month folder, leftovers of killed runs, a missing notebook in a narrowed run, and
``make data`` while a run reads the warehouse. See docs/reliability.md.

The file-system cases mount a tmpfs (root only; skipped otherwise) and always unmount it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from adv_support import LAUNCHER, MONTH, AdvEnv, family

from helpers.data import warehouse_lock
from helpers.engine import assemble

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("adversarial-engine")]
E2E_DIR = Path(__file__).resolve().parents[1] / "e2e"
SRC = Path(__file__).resolve().parents[2] / "src"


@contextlib.contextmanager
def tmpfs(where: Path, size: str):
    """A real file system of ``size`` mounted at ``where`` (skip when mounting is not
    allowed here)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)


def _published(env: AdvEnv) -> tuple[str, dict]:
    return os.readlink(env.outputs / MONTH), env.manifest()


def _builds(env: AdvEnv) -> set[str]:
    return {p.name for p in (env.outputs / assemble.BUILDS).iterdir()}


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def test_unwritable_outputs_is_one_line_and_exit_2_even_when_up_to_date(tmp_path, capsys):
    env = AdvEnv(tmp_path, [family("ok", "ok.ipynb", applies=True)])
    with tmpfs(env.outputs, "32m"):
        assert env.run() == 0
        before = _published(env)
        _remount(env.outputs, "ro")
        try:
            for change in (False, True):  # up to date, then with a report to re-run
                if change:
                    env.sums.write_text(json.dumps({"health": "v2-health"}))
                capsys.readouterr()
                assert env.run() == 2
                err = capsys.readouterr().err
                assert "Traceback" not in err
                assert _error_lines(err) == [
                    f"error: the outputs folder {env.outputs} cannot be written (Read-only file "
                    "system); nothing was run and the published months are unchanged"
                ]
        finally:
            _remount(env.outputs, "rw")
        assert _published(env) == before
        assert env.run() == 0  # writable again: the changed report runs and publishes
        assert env.last_run_jobs()["health/ok"]["status"] == "done"


def test_a_disk_that_fills_during_a_run_keeps_the_month_and_the_ledger(
    tmp_path, capsys, monkeypatch
):
    """A report fills the disk while it runs: the worker cannot store its output, the
    ledger's DuckDB cannot append to its WAL, the month cannot be assembled. One error
    line, exit 1; the published month, the ledger and the next run are fine."""
    env = AdvEnv(
        tmp_path,
        [family("ok", "ok.ipynb", applies=True), family("fills", "fills.ipynb", applies=True)],
    )
    with tmpfs(env.outputs, "48m"):
        assert env.run() == 0
        before = _published(env)
        filler = env.outputs / "filler"
        env.sums.write_text(json.dumps({"health": "v2-health"}))  # both reports run again
        monkeypatch.setenv("KP_TEST_FILL", str(filler))
        capsys.readouterr()
        code = env.run("--jobs", "1")
        err = capsys.readouterr().err
        assert filler.stat().st_size > 0 and os.statvfs(env.outputs).f_bavail < 64
        assert code == 1, err
        assert "Traceback" not in err
        [line] = _error_lines(err)
        assert "No space left on device" in line and "the published month is unchanged" in line
        assert _published(env) == before
        assert not list((env.outputs / assemble.STAGING).glob(f"{MONTH}-*"))
        assert _builds(env) == {Path(before[0]).name}

        filler.unlink()  # space again
        monkeypatch.delenv("KP_TEST_FILL")
        assert env.run() == 0
        assert os.readlink(env.outputs / MONTH) != before[0]
        assert {j["status"] for j in env.last_run_jobs().values()} <= {"done", "cached"}
        # The ledger opens and holds every run: the first, the one on the full disk (marked
        # failed, or killed by the next run when even its last record found no room), the last.
        runs = env.ledger_runs()
        assert len(runs) == 3, runs
        assert runs[0]["status"] == "ok" and runs[2]["status"] == "ok"
        assert runs[1]["status"] in {"failed", "killed"}
        assert not (env.outputs / "ledger.duckdb.pending.jsonl").exists()


def test_a_dangling_month_link_is_repaired_and_the_kept_build_survives(tmp_path, capsys):
    env = AdvEnv(tmp_path, [family("ok", "ok.ipynb", applies=True)])
    assert env.run() == 0
    first = env.outputs / os.readlink(env.outputs / MONTH)
    env.sums.write_text(json.dumps({"health": "v2-health"}))
    assert env.run() == 0
    second = env.outputs / os.readlink(env.outputs / MONTH)
    shutil.rmtree(second)  # someone removes the published build by hand
    assert not (env.outputs / MONTH).exists()
    capsys.readouterr()

    assert env.run() == 0
    err = capsys.readouterr().err
    third = env.outputs / os.readlink(env.outputs / MONTH)
    assert (
        f"warning: {MONTH} pointed at a removed build (.builds/{second.name}); repaired: it "
        f"now shows .builds/{third.name}, and .builds/{first.name} is kept as the previous build"
    ) in err
    assert (third / "health" / "ok.html").is_file()
    assert env.last_run_jobs()["health/ok"]["status"] == "cached"
    assert (first / "manifest.json").is_file()  # the kept previous build was not deleted
    assert _builds(env) == {first.name, third.name}


def test_a_legacy_month_folder_is_cleaned_like_any_other_build(tmp_path):
    env = AdvEnv(tmp_path, [family("ok", "ok.ipynb", applies=True)])
    legacy = env.outputs / MONTH
    (legacy / "health").mkdir(parents=True)
    (legacy / "health" / "ok.html").write_text("<p>old layout</p>")
    assert env.run() == 0
    first = os.readlink(env.outputs / MONTH)
    [aside] = [n for n in _builds(env) if "-legacy-" in n]
    # Kept as the previous build at first (a reader may be in it)...
    assert _builds(env) == {Path(first).name, aside}
    env.sums.write_text(json.dumps({"health": "v2-health"}))
    assert env.run() == 0
    second = os.readlink(env.outputs / MONTH)
    # ... then dropped by the same rule as any build: the current and the previous one stay.
    assert _builds(env) == {Path(first).name, Path(second).name}


def test_an_up_to_date_run_removes_what_a_killed_run_left(tmp_path, capsys):
    env = AdvEnv(tmp_path, [family("slow", "slow.ipynb", applies=True)])
    assert env.run() == 0
    env.sums.write_text(json.dumps({"health": "v2-health"}))
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER.format(tests=str(E2E_DIR), sums=str(env.sums)))
    killed = subprocess.Popen(
        [sys.executable, str(launcher), *env.argv("--jobs", "1")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        for line in killed.stdout:
            if line.split()[1:3] == ["start", "health/slow"]:
                break
        else:
            pytest.fail("the run ended before starting its job")
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    staging = env.outputs / assemble.STAGING
    [left] = list(staging.glob(f"{MONTH}-*"))  # the killed run's half-made month
    tmp_root = env.outputs / ".cache" / ".tmp"
    host = socket.gethostname().replace("/", "_")
    dead = tmp_root / f"{'a' * 64}-{host}-{killed.pid}-1"  # a dead worker's half-made entry
    live = tmp_root / f"{'b' * 64}-{host}-{os.getpid()}-1"  # a live process's entry in progress
    other = staging / "2025-04-20250101T000000Z-abcdef"  # another month's run may be live
    for d in (dead, live, other):
        d.mkdir(parents=True)
        (d / "x.html").write_text("half")

    env.sums.write_text("{}")  # back to the published data: nothing to run
    capsys.readouterr()
    assert env.run() == 0
    assert "up to date" in capsys.readouterr().err
    assert not left.exists() and not dead.exists()
    assert live.is_dir() and other.is_dir()


def test_a_missing_notebook_fails_a_run_narrowed_to_another_family(tmp_path, capsys):
    env = AdvEnv(
        tmp_path,
        [family("ok", "ok.ipynb", applies=True), family("slow", "slow.ipynb", applies=True)],
    )
    assert env.run() == 0
    before = _published(env)
    (env.nbdir / "slow.ipynb").unlink()
    env.sums.write_text(json.dumps({"health": "v2-health"}))
    capsys.readouterr()
    assert env.run("--notebook", "ok") == 2
    err = capsys.readouterr().err
    assert _error_lines(err) == [f"error: notebook not found: {env.nbdir / 'slow.ipynb'}"], err
    assert _published(env) == before  # slow is not marked "not rebuilt", nothing replaced


def _lock_held(path: Path, pid: int) -> bool:
    """Whether ``pid`` holds an flock on ``path`` (from /proc/locks, without touching it)."""
    try:
        ino = path.stat().st_ino
    except FileNotFoundError:
        return False
    for line in Path("/proc/locks").read_text().splitlines():
        f = line.split()
        if "FLOCK" in f and str(pid) in f and any(x.endswith(f":{ino}") for x in f):
            return True
    return False


@pytest.mark.parametrize("when", ["importing", "validating", "writing"])
def test_ctrl_c_during_make_data_leaves_the_old_warehouse(when, kp_small_raw, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(kp_small_raw, raw)
    wh = tmp_path / "warehouse.duckdb"
    data = [sys.executable, "-m", "helpers.cli", "data", "--data-dir", str(raw)]
    data += ["--warehouse", str(wh), "--force"]
    env = dict(os.environ, PYTHONPATH=str(SRC))
    assert subprocess.run(data, env=env, capture_output=True).returncode == 0
    before = wh.read_bytes()
    proc = subprocess.Popen(
        data, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    tmp = wh.with_name(f".{wh.name}.{proc.pid}.tmp")
    lock = warehouse_lock.lock_path(wh)

    def reached() -> bool:
        if when == "importing":
            maps = Path(f"/proc/{proc.pid}/maps").read_text()
            return "pandas" in maps  # inside the imports, past the interpreter's start
        if when == "validating":
            return _lock_held(lock, proc.pid)
        return tmp.exists()

    try:
        while not reached():
            assert proc.poll() is None, "make data ended before the point of the test"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert out.strip().splitlines()[-1] == "interrupted: the warehouse was not changed"
    assert "Traceback" not in out
    assert wh.read_bytes() == before  # the previous warehouse, whole
    assert not list(tmp_path.glob(f".{wh.name}.*"))  # no half-written warehouse left
    with open(lock) as fh:  # the lock went with the process
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_make_data_during_a_run_is_refused_and_the_run_publishes_what_it_read(
    kp_small_raw, tmp_path
):
    """The issue's sequence with real processes: a run is executing; `make data` with
    changed inputs is refused (exit 3) and leaves the warehouse as the run read it."""
    env = AdvEnv(tmp_path, [family("slow", "slow.ipynb", applies=True)])
    raw = tmp_path / "raw"
    shutil.copytree(kp_small_raw, raw)
    wh = tmp_path / "warehouse.duckdb"
    data = [sys.executable, "-m", "helpers.cli", "data", "--data-dir", str(raw)]
    data += ["--warehouse", str(wh)]
    penv = dict(os.environ, PYTHONPATH=str(SRC))
    assert subprocess.run(data, env=penv, capture_output=True).returncode == 0
    before = wh.read_bytes()
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER.format(tests=str(E2E_DIR), sums=str(env.sums)))
    run = subprocess.Popen(
        [sys.executable, str(launcher), *env.argv("--jobs", "1", "--warehouse", str(wh))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        for line in run.stdout:
            if line.split()[1:3] == ["start", "health/slow"]:
                break
        else:
            pytest.fail("the run ended before starting its job")
        budget = raw / "budget_monthly.csv"
        budget.write_text(budget.read_text() + "\n")  # the inputs changed
        done = subprocess.run(data, env=penv, capture_output=True, text=True)
        rest = run.communicate(timeout=120)[0]
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "busy: a report run or another `make data` is using it" in done.stderr
    assert wh.read_bytes() == before
    assert run.returncode == 0, rest
    assert (env.outputs / MONTH / "health" / "slow.html").is_file()


def test_the_next_load_removes_what_a_killed_load_left(kp_small_raw, tmp_path):
    """SIGKILL cannot be handled: the half-written file of a killed `make data` (named after
    its pid) is removed by the next load, which holds the exclusive lock."""
    from helpers.data import ingest

    wh = tmp_path / "warehouse.duckdb"
    left = [tmp_path / f".{wh.name}.4194400.tmp", tmp_path / f".{wh.name}.4194400.tmp.wal"]
    for p in left:
        p.write_bytes(b"half a warehouse")
    assert ingest.run(kp_small_raw, wh, log=lambda *a, **k: None) == 0
    assert not any(p.exists() for p in left)
    assert wh.is_file()


def _processes() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _still_running(before: set[int]) -> list[list[str]]:
    """Command lines of this process's descendants that are not in ``before`` and still run
    (multiprocessing's resource tracker, which serves the test process for its lifetime, and
    zombies aside)."""
    import psutil

    out = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmd = p.cmdline()
            if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE:
                if "resource_tracker" not in " ".join(cmd):
                    out.append(cmd)
    return out


def test_a_finished_run_leaves_no_worker_or_kernel(tmp_path, capsys):
    """The workers stop (their kernels shut down) while the driver assembles the month; by
    the time the run returns, every process it started is gone."""
    env = AdvEnv(tmp_path, [family("ok", "ok.ipynb", applies=True)])
    before = _processes()
    assert env.run() == 0, capsys.readouterr().err
    assert not _still_running(before)


def test_a_run_whose_ledger_record_is_refused_leaves_no_worker_or_kernel(tmp_path, capsys):
    """The workers (and their kernel zygote) start before the run's ledger record is written,
    so their start overlaps it. When the record cannot be written at all (the ledger and its
    journal are folders here), the run stops with one error line and every process it started
    is gone: none outlives the run, none holds the outputs."""
    env = AdvEnv(tmp_path, [family("ok", "ok.ipynb", applies=True)])
    (env.outputs / "ledger.duckdb").mkdir(parents=True)
    (env.outputs / "ledger.duckdb.pending.jsonl").mkdir()
    before = _processes()
    code = env.run()
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    [line] = _error_lines(err)
    assert "ledger" in line and "the published month is unchanged" in line
    assert not _still_running(before)
    assert not (env.outputs / MONTH).exists()
