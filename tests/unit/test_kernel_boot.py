"""The kernel boot module: what a report leaves behind is gone before the next report starts."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

# Runs in a fresh interpreter, as in a kernel: boot, let a "report" change the process state,
# reset, and print what the next report would see.
SCRIPT = textwrap.dedent(
    """
    import gc, json, os, random, resource, sys, warnings
    import helpers.engine.kernel_boot as kb
    kb.boot()
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    booted_filters = len(warnings.filters)
    booted_gc = gc.get_threshold()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    # a report misbehaves
    plt.figure(); plt.figure()
    plt.rcParams["lines.linewidth"] = 9.0
    pd.set_option("display.max_rows", 3)
    warnings.simplefilter("ignore")
    os.environ["LEFT_BY_REPORT"] = "1"
    os.environ["KP_MONTH"] = "stale"
    os.chdir("/")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 64), hard))
    gc.disable(); gc.set_threshold(1)

    kb.reset(sys.argv[1], {"KP_MONTH": "2025-03"}, 0)
    print(json.dumps({
        "figures": len(plt.get_fignums()),
        "linewidth_restored": plt.rcParams["lines.linewidth"] != 9.0,
        "max_rows": pd.get_option("display.max_rows"),
        "filters_restored": len(warnings.filters) == booted_filters,
        "left_by_report": os.environ.get("LEFT_BY_REPORT"),
        "month": os.environ.get("KP_MONTH"),
        "cwd": os.getcwd(),
        "nofile_restored": resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft,
        "gc_restored": gc.isenabled() and gc.get_threshold() == booted_gc,
        "gc_booted": booted_gc,
        "random": random.random(),
        "np_random": float(np.random.random()),
        "boot_errors": kb.boot_errors,
        "helpers_preloaded": "helpers.analysis.budget" in sys.modules,
        "engine_not_preloaded": "helpers.engine.run" not in sys.modules,
    }))
    """
)


@pytest.fixture(scope="module")
def after_reset(tmp_path_factory) -> tuple[dict, str]:
    tmp_path = tmp_path_factory.mktemp("kernel")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1]), str(tmp_path)


def test_reset_restores_the_booted_state(after_reset):
    import random

    import numpy as np

    state, cwd = after_reset
    assert state["figures"] == 0
    assert state["linewidth_restored"]
    assert state["max_rows"] == 60  # pandas' default
    assert state["filters_restored"]
    assert state["left_by_report"] is None
    assert state["month"] == "2025-03"
    assert state["cwd"] == cwd
    assert state["nofile_restored"]
    assert state["gc_restored"]  # one report turning the collector off does not bind the next
    random.seed(0)
    np.random.seed(0)
    assert state["random"] == random.random()
    assert state["np_random"] == float(np.random.random())


def test_boot_preloads_the_analysis_modules_not_the_engine(after_reset):
    state, _ = after_reset
    assert state["boot_errors"] == {}
    assert state["helpers_preloaded"]
    assert state["engine_not_preloaded"]
    # a batch kernel collects its young objects less often than Python's default (700)
    assert state["gc_booted"][0] > 700


def test_a_kernel_grown_past_the_memory_limit_is_replaced_before_the_next_report(monkeypatch):
    """A report that leaks memory into a module (so ``%reset`` cannot free it) must not pile up
    on one warm kernel: past ``KERNEL_MEMORY_LIMIT`` the worker starts a new kernel, even
    though ``recycle_after`` reports have not run yet."""
    from helpers.engine import execute

    worker = execute.KernelWorker(recycle_after=100)
    try:
        worker._ensure_kernel()
        booted = worker.kernel_memory()
        assert booted > 50 * 1024**2  # pandas & co are loaded: the figure is the real RSS
        worker._ensure_kernel()
        assert worker.kernels_started == 1  # under the limit: the same warm kernel
        # a batch kernel writes no input history (one SQLite file shared by every kernel)
        # ... and sends each reply without ipykernel's flush sleep (its outputs come first)
        check = (
            "assert not get_ipython().history_manager.enabled\n"
            "assert get_ipython().kernel._execute_sleep == 0"
        )
        assert (
            worker._run(worker.kc.execute_interactive, check, timeout=60)["content"]["status"]
            == "ok"
        )
        leak = "import json; json._leak = bytearray(400 * 1024**2); json._leak[::4096] = b'x' * (400 * 256)"
        reply = worker._run(worker.kc.execute_interactive, leak, timeout=60)
        assert reply["content"]["status"] == "ok"
        assert worker.kernel_memory() > booted + 300 * 1024**2
        monkeypatch.setattr(execute, "KERNEL_MEMORY_LIMIT", booted + 200 * 1024**2)
        worker._ensure_kernel()
        assert worker.kernels_started == 2
        assert worker.kernel_memory() < booted + 200 * 1024**2
    finally:
        worker.shutdown()


def test_the_pool_writes_the_bytecode_every_worker_and_kernel_would_otherwise_compile():
    """Under ``PYTHONDONTWRITEBYTECODE`` (set in containers and CI) an editable install has no
    bytecode for ``helpers``: each kernel compiled every module from source at its start. The
    pool writes it before starting workers, and rewrites a module's when its source changed."""
    import importlib.util

    import helpers.hashing
    from helpers.engine.pool import byte_compile_helpers

    source = helpers.hashing.__file__
    cached = importlib.util.cache_from_source(source)
    with contextlib.suppress(FileNotFoundError):
        os.remove(cached)
    byte_compile_helpers()
    assert os.path.isfile(cached)
    # the bytecode records the source's size and mtime: Python uses it for this source only
    with open(cached, "rb") as fh:
        header = fh.read(16)
    st = os.stat(source)
    assert int.from_bytes(header[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
    assert int.from_bytes(header[12:16], "little") == st.st_size & 0xFFFFFFFF


def _outputs(kc, code: str) -> list[tuple]:
    """The outputs one cell sends, as (type, stream name or MIME data) in arrival order."""
    got: list[tuple] = []

    def hook(msg):
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":  # a warning names the cell's file after the kernel's pid
            text = re.sub(r"ipykernel_\d+", "ipykernel_N", content["text"])
            got.append((kind, content["name"], text))
        elif kind in ("display_data", "execute_result", "error"):
            got.append((kind, json.dumps(content.get("data", content.get("ename")))))

    kc.execute_interactive(code, output_hook=hook, timeout=60)
    return got


def test_skipping_empty_flushes_keeps_every_output_and_its_order():
    # Batch kernels skip ipykernel's stream flushes when nothing was written (a flush waits for
    # the IOPub thread). A report that prints, warns and displays must show the same outputs in
    # the same order as in a stock kernel: text written just before a display comes before it.
    from jupyter_client.manager import start_new_kernel

    from helpers.engine.execute import KERNEL_ARGUMENTS, KERNEL_NAME

    cells = [
        "from IPython.display import display, HTML\nimport sys, warnings",
        "display(HTML('<b>one</b>'))\ndisplay(HTML('<b>two</b>'))",
        "print('before')\ndisplay(HTML('<i>after</i>'))\nprint('last', file=sys.stderr)",
        "warnings.warn('careful')\ndisplay(HTML('<u>x</u>'))\n41 + 1",
        "for i in range(3):\n    print(i)\n    display(HTML(f'<p>{i}</p>'))",
        "import os\nos.write(1, b'from C\\n'); print('py')",
    ]
    runs = []
    for patched in (False, True):
        km, kc = start_new_kernel(kernel_name=KERNEL_NAME, extra_arguments=list(KERNEL_ARGUMENTS))
        try:
            if patched:
                kc.execute_interactive(
                    "import helpers.engine.kernel_boot as kb; kb._skip_empty_stream_flushes()\n"
                    "from ipykernel.iostream import OutStream\n"
                    "assert OutStream.flush._kp_skips_empty",
                    timeout=60,
                )
            runs.append([_outputs(kc, c) for c in cells])
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    stock, patched_run = runs
    assert patched_run[:5] == stock[:5]
    assert ("stream", "stdout", "before\n") == patched_run[2][0]
    # output written at the file-descriptor level goes through ipykernel's pipe watcher at its
    # own pace (into the stream or the kernel's log): the cell shows the same text either way
    joined = ["".join(o[2] for o in run[5] if o[0] == "stream") for run in runs]
    assert sorted(joined[0]) == sorted(joined[1]) and "py" in joined[1]


def test_a_booted_kernel_has_no_validation_library_and_still_applies_the_target_rules():
    # pandera (0.2 s of every kernel zygote's boot) validates input files in `make data`; a
    # report kernel only reads the rules (target_rules, by stocktake.prepare_targets). Booted,
    # the kernel has not imported it, and the rules still refuse a target that contradicts
    # itself; the validation pass, run in the same process, imports it and finds the problem.
    script = textwrap.dedent(
        """
        import sys
        import helpers.engine.kernel_boot as kb
        kb.boot()
        booted = "pandera" in sys.modules
        import pandas as pd
        from helpers.data import schemas
        bad = pd.DataFrame({"target_id": ["t1"], "department": ["health"],
                            "direction": ["maintain"], "band_low": [1.0], "band_high": [2.0],
                            "target_value": [5.0], "frequency": ["monthly"],
                            "baseline_month": [pd.Timestamp("2023-06-01")],
                            "target_month": [pd.Timestamp("2026-06-01")]})
        broken = [column for column, rule, fn in schemas.target_rules()
                  if not bool(fn(bad).to_numpy(dtype=bool).all())]
        after_rules = "pandera" in sys.modules
        check = schemas.pa.Check(lambda s: s > 0, error="positive")
        schema = schemas.pa.DataFrameSchema({"x": schemas.pa.Column(None, checks=[check])})
        problems = schemas.failures(schema, pd.DataFrame({"x": [1, -1]}))
        print(booted, after_rules, "pandera" in sys.modules, len(problems), broken)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    booted, after_rules, after_validation, n_problems, broken = done.stdout.split(maxsplit=4)
    assert (booted, after_rules, after_validation) == ("False", "False", "True")
    assert n_problems == "1"
    assert "target_value" in broken
