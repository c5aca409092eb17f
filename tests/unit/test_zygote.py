"""The kernel zygote: a kernel forked from it is the kernel the kernel spec would start (same
outputs, environment, folder and log), a kernel it must not fork is started the usual way, and
a forked kernel does not outlive its worker."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers.engine import zygote
from helpers.engine.execute import KERNEL_NAME, KernelWorker, kernel_environment

pytestmark = pytest.mark.skipif(not zygote.available, reason="needs fork and pidfd_open (Linux)")

# What a report could notice of how its kernel was started.
PROBE = textwrap.dedent(
    """
    import json, os, sys, warnings
    import pandas as pd
    print(json.dumps({
        "answer": float(pd.Series([1.5, 2.5]).sum()),
        "cwd": os.getcwd(),
        "marker": os.environ.get("ZYGOTE_TEST_MARKER"),
        "mpl": os.environ.get("MPLBACKEND"),
        "argv_flags": sys.flags.dont_write_bytecode,
        "xoptions": sorted(sys._xoptions),
        "helpers_loaded": "helpers.analysis.budget" in sys.modules,
    }))
    print("to the log", file=sys.__stderr__, flush=True)
    """
)


@pytest.fixture
def zygote_sock(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zyg")
    sock = str(folder / "z.sock")
    proc = zygote.start(sock, KERNEL_NAME, kernel_environment(), subprocess.DEVNULL)
    yield sock
    proc.kill()
    proc.wait(5)


def _probe(worker: KernelWorker) -> dict:
    import json

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    client = NotebookClient(nb, km=worker.km, kernel_name=KERNEL_NAME, timeout=60)
    client.kc = worker.kc
    client.execute()
    out = [o for o in nb.cells[0].outputs if o.get("name") == "stdout"]
    return json.loads(out[0]["text"])


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_forked_kernel_is_the_kernel_the_spec_starts(zygote_sock, tmp_path, monkeypatch):
    monkeypatch.setenv("ZYGOTE_TEST_MARKER", "from the worker")
    monkeypatch.chdir(tmp_path)
    plain = KernelWorker(log_dir=tmp_path / "plain")
    forked = KernelWorker(log_dir=tmp_path / "forked", zygote=zygote_sock)
    try:
        plain.start_kernel()
        forked.start_kernel()
        assert forked.km.provisioner.forked
        pid = forked.km.provisioner.pid
        zyg = _parent_of(pid)
        assert zyg != os.getpid() and "helpers.engine.zygote" in Path(
            f"/proc/{zyg}/cmdline"
        ).read_text().replace("\0", " ")
        a, b = _probe(plain), _probe(forked)
        assert a == b
        assert b["answer"] == 4.0 and b["marker"] == "from the worker" and b["mpl"] == "Agg"
        assert b["cwd"] == str(tmp_path) and b["helpers_loaded"]
        assert "frozen_modules" in b["xoptions"]  # the kernel spec's interpreter flags
        log = next((tmp_path / "forked").glob("kernel-*.log")).read_text()
        assert "to the log" in log
    finally:
        plain.shutdown()
        forked.shutdown()


def test_a_kernel_needing_another_environment_is_started_as_usual(zygote_sock, monkeypatch):
    # modules read KP_* when imported (in the zygote): a kernel with other values of them
    # cannot be forked from it, and must still run
    monkeypatch.setenv("KP_PROFILE", "not-the-zygotes")
    worker = KernelWorker(zygote=zygote_sock)
    try:
        worker.start_kernel()
        assert not worker.km.provisioner.forked
        assert _parent_of(worker.km.provisioner.pid) == os.getpid()
        assert _probe(worker)["answer"] == 4.0
    finally:
        worker.shutdown()


def test_a_forked_kernel_dies_with_its_worker(zygote_sock, tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, time
        from helpers.engine.execute import KernelWorker
        w = KernelWorker(zygote={zygote_sock!r})
        w.start_kernel()
        print("KERNEL", w.km.provisioner.pid, w.km.provisioner.forked, flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        line = next(x for x in proc.stdout if x.startswith("KERNEL "))
        pid_s, forked = line.split()[1:]
        assert forked == "True"
        kernel = int(pid_s)
        assert Path(f"/proc/{kernel}").exists()
        proc.kill()  # the worker dies without stopping its kernel
        proc.wait(10)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{kernel}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{kernel}").exists(), "the kernel outlived its worker"
    finally:
        proc.kill()


def test_the_zygote_finds_the_interpreter_jupyter_client_would_start(tmp_path, monkeypatch):
    """The driver reads the kernel spec itself (without importing jupyter_client) to start the
    zygote with the kernel's interpreter and flags: it must find what a worker's
    ``jupyter_client`` starts, or every kernel would be refused and started the slow way."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=KERNEL_NAME)
    cmd = km.format_kernel_cmd()
    assert zygote.kernel_interpreter(KERNEL_NAME) == zygote._interpreter(cmd)
    assert zygote.kernel_interpreter(KERNEL_NAME.upper()) == zygote._interpreter(cmd)
    assert zygote.kernel_interpreter("no-such-kernel") is None
    # a spec whose command is a bare "python" runs this interpreter (jupyter_client's rule)
    spec = tmp_path / "kernels" / "bare"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        '{"argv": ["python", "-X", "dev", "-m", "ipykernel_launcher", "-f", "{connection_file}"],'
        ' "display_name": "bare", "language": "python"}'
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    assert KernelSpecManager().get_kernel_spec("bare").argv[0] == "python"
    assert zygote.kernel_interpreter("bare") == [sys.executable, "-X", "dev"]
    # a kernel spec that starts something else than ipykernel gets no zygote
    (spec / "kernel.json").write_text('{"argv": ["R", "--slave"], "display_name": "r"}')
    assert zygote.kernel_interpreter("bare") is None
