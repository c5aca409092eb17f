"""The Dask executor on a real cluster whose workers share nothing with the driver.

A real ``dask scheduler`` and ``dask worker`` processes; each worker runs as root in its own
mount and UTS namespace (``unshare --mount --uts``): the driver's checkout, the installed
package's source folder and the driver's outputs and warehouse are hidden under empty folders,
the worker has its own host name and imports the helpers from its own copy of the package. The
real notebooks run on the small sample warehouse for two departments.

One test walks a cluster through its life (it is the expensive part: kernels start once):
publish a month while a worker is killed, compare with the local executor, ``--force`` (the
manifest describes the published files), warm kernels kept across runs, a worker
with other code refused, no workers left. The cheap refusals (bad or unreachable scheduler) need
no cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from helpers.engine.ledger import Ledger

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("dask-cluster")]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DASK = BIN / "dask"
MONTH = "2025-03"
DEPTS = "health,zakat-ushr"
NOTEBOOKS = "budget_execution,stocktake"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hidden_dirs(driver: Path) -> list[Path]:
    """What a worker on another machine would not have: the driver's checkout and its outputs,
    and the source folder the editable install points at."""
    dirs = [ROOT, driver]
    import helpers

    installed = Path(helpers.__file__).resolve().parents[1]
    dirs.append(installed)
    main = Path("/work/main")
    dirs += [main / d for d in ("src", "notebooks", "params", "data", "outputs")]
    dirs = sorted({d.resolve() for d in dirs if d.is_dir()})
    dirs = [d for d in dirs if not any(o != d and o in d.parents for o in dirs)]
    # Every machine has the installed environment (the lock's packages, `dask`): when the
    # venv lives inside the checkout (a fresh clone's .venv), hide the checkout's other
    # folders and keep the venv itself.
    venv = Path(sys.prefix).resolve()
    out: list[Path] = []
    todo = list(dirs)
    while todo:
        d = todo.pop()
        if d == venv:
            continue
        if d in venv.parents:
            todo += [c.resolve() for c in d.iterdir() if c.is_dir() and not c.is_symlink()]
        else:
            out.append(d)
    return sorted(set(out))


def _clean_env(**extra) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KP_", "PYTHONPATH", "EXECUTOR", "SCHEDULER", "DASK_", "PYTEST"))
    }
    env.update(extra)
    return env


class Cluster:
    def __init__(self, tmp: Path, driver: Path):
        self.tmp = tmp
        self.hide = _hidden_dirs(driver)
        self.empty = tmp / "empty"
        self.empty.mkdir()
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        # The scheduler unpickles task graphs, so it too needs the package (its own copy).
        self._start(
            "kp-scheduler",
            [
                str(DASK),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-dashboard",
            ],
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the dask scheduler did not start")

    def _start(self, name: str, cmd: list[str], change_code: bool = False) -> None:
        """Run ``cmd`` 'on another machine': its own host name and copy of the package, the
        driver's files hidden under empty folders."""
        home = self.tmp / name
        code = home / "code"
        shutil.copytree(
            ROOT / "src" / "helpers",
            code / "helpers",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        if change_code:
            theme = code / "helpers" / "present" / "theme.py"
            theme.write_text(theme.read_text() + "\n# a different build of the code\n")
        mounts = "".join(f"mount --bind {self.empty} {d}\n" for d in self.hide)
        script = (
            "set -e\n" + mounts + f"hostname {name}\ncd {home}\n"
            f"exec env PYTHONPATH={code} " + " ".join(cmd) + "\n"
        )
        log = open(home / "log.txt", "wb")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            ["unshare", "--mount", "--uts", "sh", "-c", script],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.tmp,
            env=_clean_env(),
        )

    def add_worker(self, name: str, change_code: bool = False) -> None:
        home = self.tmp / name
        self._start(
            name,
            [
                str(DASK),
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--name",
                name,
                "--local-directory",
                str(home / "local"),
                "--death-timeout",
                "120",
            ],
            change_code=change_code,
        )

    def client(self):
        from distributed import Client

        return Client(self.address, timeout="20s", set_as_default=False)

    def wait_workers(self, n: int, timeout: float = 90) -> None:
        with self.client() as c:
            c.wait_for_workers(n, timeout=timeout)

    def kill(self, name: str) -> None:
        p = self.procs.pop(name)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(10)

    def close(self) -> None:
        for name in list(self.procs):
            self.kill(name)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _driver(
    driver: Path, outputs: Path, *extra: str, dept: str = DEPTS, notebook: str = NOTEBOOKS
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "helpers.cli",
        "reports",
        "--month",
        MONTH,
        "--dept",
        dept,
        "--notebook",
        notebook,
        "--outputs",
        str(outputs),
        "--warehouse",
        str(driver / "warehouse.duckdb"),
        "--jobs",
        "2",
        *extra,
    ]


def _run(argv: list[str], on_line=None, timeout: float = 600) -> tuple[int, str, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_clean_env(PYTHONPATH=str(ROOT / "src")),
    )
    lines: list[str] = []

    def read_err():
        for line in proc.stderr:
            lines.append(line)
            if on_line:
                on_line(line)

    t = threading.Thread(target=read_err, daemon=True)
    t.start()
    out = proc.stdout.read()
    proc.wait(timeout)
    t.join(10)
    return proc.returncode, "".join(lines) + out, time.monotonic() - t0


def _assert_manifest_describes_published_files(outputs: Path) -> dict:
    manifest = json.loads((outputs / MONTH / "manifest.json").read_text())
    checked = 0
    for job in manifest["jobs"]:
        for kind, rel in job["files"].items():
            if kind in job["hashes"]:
                assert job["hashes"][kind] == _sha(outputs / MONTH / rel), (job["id"], kind)
                checked += 1
    assert checked >= 3 * 3
    return manifest


def _content(path: Path) -> str:
    """An executed notebook's sources and outputs (no timing metadata; object addresses and
    the provenance run time masked)."""
    nb = nbformat.read(str(path), as_version=4)
    text = json.dumps(
        [
            (
                c.cell_type,
                c.source,
                [{k: v for k, v in o.items() if k != "metadata"} for o in c.get("outputs", [])],
            )
            for c in nb.cells
        ],
        sort_keys=True,
    )
    return re.sub(r" at 0x[0-9a-f]+>", " at 0x…>", text)


def _ledger_last(outputs: Path):
    led = Ledger(outputs / "ledger.duckdb")
    run = led.runs(MONTH)[-1]
    return run, {j["job_id"]: j for j in led.jobs(run["run_id"])}


needs_namespaces = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or not DASK.exists(),
    reason="needs root, unshare and the dask command line",
)


@needs_namespaces
def test_cluster_without_shared_files(tmp_path, kp_small_warehouse):
    driver = tmp_path / "driver"
    driver.mkdir()
    shutil.copy2(kp_small_warehouse, driver / "warehouse.duckdb")
    dask_out, local_out = driver / "outputs-dask", driver / "outputs-local"
    cluster = Cluster(tmp_path, driver)
    try:
        cluster.add_worker("kp-w1")
        cluster.add_worker("kp-w2")
        cluster.wait_workers(2)
        paths_of_driver = [str(ROOT / "src" / "helpers"), str(driver / "warehouse.duckdb")]

        def visible():
            import os

            return [os.path.exists(p) for p in paths_of_driver]

        with cluster.client() as c:  # the workers really cannot see the driver's files
            seen = c.run(visible)
            assert all(v == [False, False] for v in seen.values()), seen
            hosts = c.run(socket.gethostname)
            assert sorted(hosts.values()) == ["kp-w1", "kp-w2"]

        # 1. Publish the month; kill a worker as soon as the first report is back.
        killed = threading.Event()

        def kill_w1(line):
            if not killed.is_set() and re.search(r"\bdone\s+\S+/", line):
                killed.set()
                cluster.kill("kp-w1")

        argv = _driver(driver, dask_out, "--executor", "dask", "--scheduler", cluster.address)
        code, out, took = _run(argv, on_line=kill_w1)
        assert code == 0, out
        assert killed.is_set()
        run, jobs = _ledger_last(dask_out)
        assert run["status"] == "ok" and run["executor"] == "dask"
        assert len(jobs) == 3 and all(j["status"] == "done" for j in jobs.values()), jobs
        assert {j["worker"].split(":")[0] for j in jobs.values()} <= {"kp-w1", "kp-w2"}
        assert any(j["worker"].startswith("kp-w2") for j in jobs.values())
        dask_manifest = _assert_manifest_describes_published_files(dask_out)

        # 2. The same month with the local executor: same keys, same content.
        code, out, _ = _run(_driver(driver, local_out))
        assert code == 0, out
        local_manifest = _assert_manifest_describes_published_files(local_out)
        keys = lambda m: {j["id"]: j["key"] for j in m["jobs"]}  # noqa: E731
        assert keys(dask_manifest) == keys(local_manifest)
        for job in local_manifest["jobs"]:
            rel = job["files"]["ipynb"]
            assert _content(dask_out / MONTH / rel) == _content(local_out / MONTH / rel), rel

        # 3. --force replaces the cache entries: the manifest describes the files now published
        #    (new run times), run on the warm kernel the worker kept. (The local executor's
        #    --force: test_engine.py::test_force_publishes_the_new_output_in_both_executors.)
        def kernels_started():
            from helpers.engine import execute

            return execute._WORKER.kernels_started if execute._WORKER else 0

        with cluster.client() as c:
            booted = c.run(kernels_started)
        before = {j["id"]: j["hashes"] for j in dask_manifest["jobs"]}
        code, out, took_forced = _run(argv + ["--force"])
        assert code == 0, out
        forced = _assert_manifest_describes_published_files(dask_out)
        assert {j["id"]: j["hashes"] for j in forced["jobs"]} != before
        assert all(j["status"] == "done" for j in forced["jobs"])
        with cluster.client() as c:
            after = c.run(kernels_started)
        assert after == booted, "the warm kernel was restarted between runs"

        # 4. A worker with other code refuses the job; nothing of it is cached or published.
        cluster.add_worker("kp-w3", change_code=True)
        cluster.wait_workers(2)
        cluster.kill("kp-w2")
        entry = (
            dask_out
            / ".cache"
            / next(j["key"] for j in forced["jobs"] if j["id"] == "health/budget_execution")
        )
        record_before = (entry / "result.json").read_text()
        code, out, _ = _run(
            _driver(
                driver,
                dask_out,
                "--executor",
                "dask",
                "--scheduler",
                cluster.address,
                "--force",
                "--no-workers-timeout",
                "20",
                dept="health",
                notebook="budget_execution",
            )
        )
        assert code == 1, out
        run, jobs = _ledger_last(dask_out)
        job = jobs["health/budget_execution"]
        assert job["status"] == "failed" and job["reason"] == "code_mismatch", job
        assert (
            "kp-w3" in job["error_excerpt"]
            and "install the driver's commit" in job["error_excerpt"]
        )
        assert (entry / "result.json").read_text() == record_before
        published = (dask_out / MONTH / "manifest.json").read_text()

        # 5. No worker left: the run stops by itself, one line, exit 1, ledger failed + note.
        cluster.kill("kp-w3")
        t0 = time.monotonic()
        code, out, _ = _run(argv + ["--force", "--no-workers-timeout", "3"], timeout=120)
        assert code == 1, out
        assert time.monotonic() - t0 < 60
        errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "no Dask worker connected" in errors[0], out
        run, _ = _ledger_last(dask_out)
        assert run["status"] == "failed" and "no Dask worker" in (run["note"] or "")
        assert (dask_out / MONTH / "manifest.json").read_text() == published  # unchanged
        print(f"dask run with a worker killed: {took:.1f} s; forced re-run: {took_forced:.1f} s")
    finally:
        cluster.close()


def test_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, kp_small_warehouse):
    port = _free_port()  # nothing listens there
    outputs = tmp_path / "outputs"
    argv = _driver(
        tmp_path, outputs, "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"
    )
    argv[argv.index("--warehouse") + 1] = str(kp_small_warehouse)
    code, out, took = _run(argv)
    assert code == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Dask scheduler"), out
    assert took < 15
    assert not (outputs / "ledger.duckdb").exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["--scheduler", "not a scheduler"],
        ["--scheduler", "tcp://127.0.0.1:8786", "--no-workers-timeout", "-1"],
        ["--scheduler", "tcp://127.0.0.1:8786", "--no-workers-timeout", "soon"],
    ],
)
def test_bad_cluster_parameters_are_refused_first(tmp_path, kp_small_warehouse, extra):
    outputs = tmp_path / "outputs"
    argv = _driver(tmp_path, outputs, "--executor", "dask", *extra)
    argv[argv.index("--warehouse") + 1] = str(kp_small_warehouse)
    code, out, took = _run(argv)
    assert code == 2, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out
    assert not outputs.exists()
