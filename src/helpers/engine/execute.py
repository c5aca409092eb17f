"""Execute one job on a (warm) kernel and publish it: the worker side of the engine.

A :class:`KernelWorker` owns one Jupyter kernel. For each job it

1. loads the notebook with papermill (``load_notebook_node``) and injects the parameters
   (``parameterize_notebook``), without starting papermill's CLI;
2. prepends a hidden *reset cell* that restores the kernel to the state of a freshly started
   one (namespace ``%reset -f``, matplotlib closed and reset to defaults plus the house theme,
   pandas options, random seeds, warnings filters, working directory, environment, execution
   counter); the same cell runs in ``fresh`` mode, so warm and fresh runs are identical;
3. executes it with nbclient against the kernel, with a per-notebook deadline;
4. classifies a failure as ``cell_error`` (a cell raised), ``timeout`` (deadline passed;
   the kernel is restarted) or ``kernel_died`` (crash, ``os._exit``, out of memory; a new
   kernel is started);
5. publishes HTML/PDF through :mod:`helpers.publish` into a cache entry (atomic rename), or
   writes ``<family>.failed.ipynb`` with the failing cell marked.

Workers never open the ledger; they return a :class:`~helpers.engine.jobs.JobResult` that the
driver records.
Heavy imports happen here, in the worker, never in the driver's planning path.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from helpers.engine import background
from helpers.engine.cache import Cache, sha256_file
from helpers.engine.jobs import ERROR_EXCERPT_CHARS, JobResult, JobSpec, Reason, Status, describe

if TYPE_CHECKING:
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

KERNEL_NAME = "kp-reports"
#: Batch kernels keep no input history (see ``start_kernel``) and send each cell's reply without
#: ipykernel's 0.5 ms "flush mitigation" sleep: the client reads a cell's outputs until the
#: kernel reports idle, which comes after them on the same socket (about 2 ms a cell measured).
KERNEL_ARGUMENTS = ("--HistoryManager.enabled=False", "--IPythonKernel._execute_sleep=0")
#: A warm kernel whose resident memory has grown past this is replaced before the next report,
#: whatever ``recycle_after`` says (a report that leaks memory cannot pile up on one kernel).
KERNEL_MEMORY_LIMIT = 2 * 1024**3
RESET_TAG = "kp-engine-reset"
FAILED_TAG = "kp-failed"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Hidden cells the worker runs in its kernel (see helpers.engine.kernel_boot): once per kernel,
# then before each report.
BOOT_CELL = "import helpers.engine.kernel_boot as _kb\n_kb.boot()\ndel _kb\n"
RESET_CELL = """get_ipython().run_line_magic("reset", "-f")
__import__("helpers.engine.kernel_boot", fromlist=["reset"]).reset({cwd!r}, {env!r}, {seed!r})"""


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def error_excerpt(nb, index: int | None) -> str | None:
    """ename: evalue plus the end of the traceback of the cell at ``index`` (ANSI removed)."""
    if index is None or index >= len(nb.cells):
        return None
    for out in nb.cells[index].get("outputs", []):
        if out.get("output_type") == "error":
            tb = _strip_ansi("\n".join(out.get("traceback", [])))
            head = f"{out.get('ename')}: {_strip_ansi(str(out.get('evalue')))}"
            tail = tb[-(ERROR_EXCERPT_CHARS - len(head) - 5) :] if tb else ""
            return (head + "\n...\n" + tail) if tail else head
    return None


def renumber_execution_counts(nb) -> None:
    """Number executed code cells 1, 2, ... in order, as a fresh kernel would. A warm kernel's
    counter keeps growing across reports (IPython's history forbids resetting it)."""
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.get("execution_count") is None:
            continue
        n += 1
        cell.execution_count = n
        for out in cell.get("outputs", []):
            if "execution_count" in out:
                out["execution_count"] = n


def mark_failed_cell(nb, index: int | None, reason: str, message: str) -> None:
    """Tag the failing cell and insert a visible markdown banner before it."""
    import nbformat

    text = {
        "cell_error": "Execution failed in the next cell (it raised an error).",
        "timeout": "Execution stopped in the next cell: the notebook ran out of time.",
        "kernel_died": "The kernel died while running the next cell (crash or out of memory).",
    }.get(reason, f"Execution failed in the next cell ({reason}).")
    banner = nbformat.v4.new_markdown_cell(
        f'<div style="border:2px solid #D55E00;padding:6px"><b>{text}</b><br>'
        f"<code>{_html_escape(message)}</code></div>"
    )
    banner.metadata["tags"] = [FAILED_TAG]
    if index is None or index >= len(nb.cells):
        nb.cells.append(banner)
        return
    tags = list(nb.cells[index].metadata.get("tags", []))
    if FAILED_TAG not in tags:
        nb.cells[index].metadata["tags"] = [*tags, FAILED_TAG]
    nb.cells.insert(index, banner)


def _html_escape(text: str) -> str:
    import html

    return html.escape(text[:300])


def read_report_bundles(nb) -> tuple[dict, dict]:
    """(headline, report_meta) from an executed notebook, via helpers.publish.notebook, as
    plain JSON values: what a cached result holds (so the driver gets the same from a run
    and from the cache), and nothing of nbformat's (its nodes made the driver import
    nbformat and jsonschema, 0.3 s of CPU, to read the first result)."""
    from helpers.publish import notebook as pubnb

    def plain(bundle) -> dict:
        return json.loads(json.dumps(dict(bundle or {}), default=str))

    return plain(pubnb.headline(nb)), plain(pubnb.report_meta(nb))


def compile_output_validation() -> None:
    """Validate each output nbclient records with a compiled schema (once per process).

    nbclient builds every output with ``nbformat.v4.output_from_msg``, which validates it
    against the notebook schema with ``jsonschema``: about 2.5 ms an output, 0.1 s for a
    budget report's 43 outputs. The same definitions of the same schema (nbformat's own v4.5
    file), compiled once with ``fastjsonschema``, check it in microseconds. An output they
    reject goes to nbformat's own validation, which raises its usual error.
    """
    import json

    import fastjsonschema
    import nbformat
    import nbformat.v4.nbbase as nbbase

    if getattr(nbbase.validate, "_kp_compiled", False):
        return
    schema_file = Path(nbformat.__file__).parent / "v4" / nbbase.nbformat_schema[(4, 5)]
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    compiled = {
        ref: fastjsonschema.compile({**schema, "$ref": f"#/definitions/{ref}"})
        for ref in ("display_data", "execute_result", "stream", "error")
    }
    slow = nbbase.validate

    def validate(node, ref=None):
        check = compiled.get(ref)
        if check is None:
            return slow(node, ref)
        try:
            check(node)
        except fastjsonschema.JsonSchemaException:
            return slow(node, ref)
        return None

    validate._kp_compiled = True  # type: ignore[attr-defined]
    nbbase.validate = validate


def kernel_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a worker starts its kernel with (the kernel zygote's too)."""
    return dict(os.environ, MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1", **(extra or {}))


class KernelWorker:
    """One warm kernel plus the publishing step. Not thread-safe: one job at a time."""

    def __init__(
        self,
        isolation: str = "warm",
        recycle_after: int = 100,
        kernel_name: str = KERNEL_NAME,
        log_dir: Path | None = None,
        zygote: str | None = None,
    ):
        self.isolation = isolation
        #: the socket of the pool's kernel zygote (helpers.engine.zygote), if it has one
        self.zygote = zygote
        self.recycle_after = max(1, int(recycle_after))
        self.kernel_name = kernel_name
        self.log_dir = Path(log_dir) if log_dir else None
        self.km: AsyncKernelManager | None = None
        self.kc: AsyncKernelClient | None = None  # one client per kernel, reused for every report
        self.jobs_on_kernel = 0
        self.kernels_started = 0
        self._log_fh: IO[bytes] | None = None
        # Extra environment the running kernel was started with (Dask workers: where the
        # job's parameter files live, and the code fingerprint). A job asking for another one
        # gets a new kernel: modules imported at boot read these once.
        self.kernel_env: dict[str, str] = {}
        compile_output_validation()

    # -- kernel lifecycle -------------------------------------------------------------
    def _run(self, coro_fn, *args, **kw):
        from jupyter_core.utils import run_sync

        return run_sync(coro_fn)(*args, **kw)

    def start_kernel(self, kernel_env: dict[str, str] | None = None) -> None:
        """Start a new kernel, connect one client to it and pre-import the heavy modules in it.

        The client is kept for every report run on this kernel: a new client per report
        costs 0.2-0.3 s (``wait_for_ready`` waits for the IOPub subscription) and would leave
        its sockets open. While the kernel starts (a zygote's: while the zygote finishes its
        imports) and runs the boot cell, this process imports and warms up the publishers in
        a thread; the workers of one zygote take turns (:mod:`helpers.engine.background`)."""
        import nbformat
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient

        self.shutdown()
        km = AsyncKernelManager(kernel_name=self.kernel_name)
        extra = {k: str(v) for k, v in (kernel_env or {}).items()}
        if self.zygote and not extra:
            from helpers.engine.zygote import provisioner_class

            km.kernel_id = str(uuid.uuid4())
            prov = provisioner_class()(
                kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km
            )
            prov.zygote = self.zygote
            km.provisioner = prov
        kw: dict[str, Any] = {}
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._log_fh = open(self.log_dir / f"kernel-{os.getpid()}.log", "ab")  # noqa: SIM115
            kw = {"stdout": self._log_fh, "stderr": self._log_fh}
        env = kernel_environment(extra)
        warm = None
        if not _PUBLISHERS_WARM.is_set():  # while the kernel (or the zygote) boots
            lock = (
                os.path.join(os.path.dirname(self.zygote), "warm-up.lock") if self.zygote else None
            )
            warm = background.start(warm_up_publishers, "kp-warm-up", lock)
        # No input history: a batch kernel's cells are in the executed notebook already, and
        # IPython's history thread wrote every cell of every report to one SQLite file shared
        # by all kernels (a sixth of a cell's overhead in the kernel).
        self._run(km.start_kernel, env=env, extra_arguments=list(KERNEL_ARGUMENTS), **kw)
        self.km = km
        self.kernel_env = extra
        self.kernels_started += 1
        self.jobs_on_kernel = 0
        kc = km.client()
        kc.start_channels()
        try:
            self._run(kc.wait_for_ready, timeout=60)
        except Exception:
            kc.stop_channels()
            raise
        kc.allow_stdin = False
        self.kc = kc
        boot = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(BOOT_CELL)])
        boot.metadata["kernelspec"] = {"name": self.kernel_name, "language": "python"}
        client = NotebookClient(boot, km=km, kernel_name=self.kernel_name, timeout=600)
        client.kc = kc
        client.execute()
        if warm is not None:
            warm.join()

    def kernel_alive(self) -> bool:
        if self.km is None:
            return False
        try:
            return bool(self._run(self.km.is_alive))
        except Exception:
            return False

    def kernel_memory(self) -> int:
        """Resident memory of the kernel process in bytes (0 when unknown)."""
        import psutil

        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        try:
            return int(psutil.Process(proc.pid).memory_info().rss) if proc is not None else 0
        except (psutil.Error, OSError):
            return 0

    def shutdown(self) -> None:
        """Stop the kernel (if any) and its client."""
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:
                pass
            self.kc = None
        if self.km is not None:
            try:
                self._run(self.km.shutdown_kernel, now=True)
            except Exception:
                # (AsyncKernelManager has no public kill_kernel: kill the process itself)
                self.kill_kernel_now()
            self.km = None
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def kill_kernel_now(self) -> None:
        """Kill the kernel process immediately (used when the worker's parent died)."""
        km = self.km
        if km is not None and getattr(km, "provisioner", None) is not None:
            proc = getattr(km.provisioner, "process", None)
            if proc is not None:
                try:
                    proc.kill()
                except Exception:
                    pass

    def _ensure_kernel(self, kernel_env: dict[str, str] | None = None) -> None:
        wanted = {k: str(v) for k, v in (kernel_env or {}).items()}
        need_new = (
            self.km is None
            or self.isolation == "fresh"
            or self.jobs_on_kernel >= self.recycle_after
            or wanted != self.kernel_env
            or not self.kernel_alive()
            or self.kernel_memory() > KERNEL_MEMORY_LIMIT
        )
        if need_new:
            self.start_kernel(wanted)

    # -- one job --------------------------------------------------------------------------
    def run_job(self, spec: JobSpec) -> JobResult:
        """Execute and publish one job (see ``run.job_spec``)."""
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        t0 = time.monotonic()
        result = JobResult(
            id=spec.id,
            key=spec.key,
            worker=f"{socket.gethostname()}:{os.getpid()}",
            run_at=_now_iso(),
        )
        nb_path = Path(spec.notebook)
        try:
            nb = load_notebook_node(str(nb_path))
            nb = parameterize_notebook(
                nb, spec.params, kernel_name=self.kernel_name, language="python"
            )
            self._ensure_kernel(spec.kernel_env)
        except Exception as exc:  # a broken notebook file or a kernel that cannot start
            result.reason, result.error = Reason.ENGINE_ERROR, describe(exc)
            result.duration = time.monotonic() - t0
            return result

        reset = nbformat.v4.new_code_cell(
            RESET_CELL.format(cwd=str(nb_path.parent), env=dict(spec.env), seed=0)
        )
        reset.metadata["tags"] = [RESET_TAG]
        nb.cells.insert(0, reset)
        current: dict[str, int | None] = {"index": None}

        def on_cell_execute(cell, cell_index, **_):
            current["index"] = cell_index

        deadline = time.monotonic() + float(spec.timeout)

        def timeout_func(cell):
            return max(1, math.ceil(deadline - time.monotonic()))

        client = NotebookClient(
            nb,
            km=self.km,
            kernel_name=self.kernel_name,
            timeout_func=timeout_func,
            allow_errors=False,
            record_timing=False,
            on_cell_execute=on_cell_execute,
            resources={"metadata": {"path": str(nb_path.parent)}},
        )
        client.kc = self.kc  # replies are matched by message id: stale messages are ignored
        self.jobs_on_kernel += 1
        reason: Reason | None = None
        t_exec = time.monotonic()
        try:
            client.execute()
        except CellTimeoutError:
            reason = Reason.TIMEOUT
        except DeadKernelError:
            reason = Reason.KERNEL_DIED
        except CellExecutionError:
            reason = Reason.CELL_ERROR
        except Exception as exc:  # nbclient raises various errors when a kernel vanishes
            reason = Reason.KERNEL_DIED if not self.kernel_alive() else Reason.ENGINE_ERROR
            result.error = describe(exc)
        if reason is None and time.monotonic() > deadline:
            reason = Reason.TIMEOUT
        result.execute_s = round(time.monotonic() - t_exec, 3)
        if reason in {Reason.TIMEOUT, Reason.KERNEL_DIED, Reason.ENGINE_ERROR}:
            self.shutdown()  # a fresh kernel for the next job
        elif self.isolation == "fresh":
            self.shutdown()

        idx = current["index"]
        reset_nb = nbformat.v4.new_notebook(cells=[nb.cells[0]])
        if nb.cells and RESET_TAG in nb.cells[0].metadata.get("tags", []):
            nb.cells.pop(0)
            idx = None if idx is None else idx - 1
        renumber_execution_counts(nb)
        if reason is not None:
            self._failed(nb, spec, result, reset_nb=reset_nb, idx=idx, reason=reason)
            result.duration = round(time.monotonic() - t0, 3)
            return result

        t_pub = time.monotonic()
        try:
            self._publish(nb, spec, result, started=(t0, t_pub))
        except Exception as exc:
            result.status, result.reason = Status.FAILED, Reason.PUBLISH_ERROR
            result.error = describe(exc)
            out = Path(spec.failed_path)
            out.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(out))
        result.publish_s = round(time.monotonic() - t_pub, 3)
        result.duration = round(time.monotonic() - t0, 3)
        return result

    @staticmethod
    def _failed(
        nb, spec: JobSpec, result: JobResult, *, reset_nb, idx: int | None, reason: Reason
    ) -> None:
        """Record why the notebook failed and keep it as ``<family>.failed.ipynb`` with the
        failing cell marked (``idx``: the report cell running when it failed, -1 the reset
        cell)."""
        import nbformat

        if idx is not None and idx < 0:  # the reset cell itself failed
            result.error = result.error or error_excerpt(reset_nb, 0)
            reason, idx = Reason.ENGINE_ERROR, None
        if reason == Reason.CELL_ERROR:
            result.error = error_excerpt(nb, idx)
        elif reason == Reason.TIMEOUT:
            result.error = f"notebook exceeded its {spec.timeout:g} s timeout"
        elif reason == Reason.KERNEL_DIED:
            result.error = result.error or "the kernel died (crash, os._exit or OOM)"
        result.reason = reason
        if idx is not None:
            src = nb.cells[idx].source
            result.failing_cell = {"index": idx, "source": src[:500]}
        mark_failed_cell(nb, idx, reason, result.error or reason)
        out = Path(spec.failed_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(out))

    def _publish(
        self,
        nb,
        spec: JobSpec,
        result: JobResult,
        started: tuple[float, float] | None = None,
    ) -> None:
        """Write the executed notebook, HTML and PDF into a new cache entry.

        ``started``: (job start, publish start) monotonic times, so the cache record carries
        the job's duration and publishing time (``make bench`` reports them per family).
        """
        import nbformat

        cache = Cache(Path(spec.cache_root))
        tmp = cache.staging_dir(spec.key)
        family = spec.family
        provenance = dict(spec.provenance, run_at=result.run_at)
        files = {"ipynb": f"{family}.ipynb"}
        nbformat.write(nb, str(tmp / files["ipynb"]))
        formats = list(spec.formats)
        if spec.publisher == "quarto":  # checked installed before the run started
            from helpers.publish import quarto

            produced = quarto.render(tmp / files["ipynb"], tmp, formats)
            for fmt, path in produced.items():
                kind = "pdf" if fmt in {"pdf", "typst"} else fmt
                path = Path(path)
                if tmp not in path.parents:
                    shutil.copy2(path, tmp / path.name)
                files[kind] = path.name
        else:
            html = None
            if "html" in formats or "pdf" in formats:
                from helpers.publish.html import render_html

                html = render_html(nb, provenance)
            if html is not None and "html" in formats:
                files["html"] = f"{family}.html"
                (tmp / files["html"]).write_text(html, encoding="utf-8")
            if "pdf" in formats:
                from helpers.publish.pdf import render_pdf

                files["pdf"] = f"{family}.pdf"
                render_pdf(nb, provenance, tmp / files["pdf"], html=html)
        headline, meta = read_report_bundles(nb)
        result.status = Status.DONE
        result.files = files
        result.hashes = {k: sha256_file(tmp / v) for k, v in files.items()}
        result.headline, result.report_meta = headline, meta
        if started is not None:
            now = time.monotonic()
            result.publish_s = round(now - started[1], 3)
            result.duration = round(now - started[0], 3)
        record = result.cache_record(spec, provenance)
        cache.commit(tmp, spec.key, record)  # written as JSON there (default=str)
        if spec.prescan:
            _prescan(cache, spec, files, result.hashes)


def _prescan(cache: Cache, spec: JobSpec, files: dict[str, str], hashes) -> None:
    """Run the disclosure scan on this report's files now, in the worker (memoised by content,
    so the month's gate before publishing only reads the results)."""
    from helpers.publish import disclosure

    min_n = disclosure.min_n_of(spec.params) or disclosure.DEFAULT_MIN_N
    for kind, name in files.items():
        disclosure.prescan(
            cache.entry(spec.key) / name,
            min_n,
            cache.root / disclosure.MEMO_DIR,
            digest=hashes.get(kind),
        )


#: What a worker imports to run and publish reports (before its first report).
WORKER_MODULES = (
    "jupyter_client.manager",
    "jupyter_client.asynchronous",
    "nbclient",
    "nbformat",
    "papermill.iorw",
    "papermill.parameterize",
    "helpers.publish.html",
    "helpers.publish.pdf",
    "helpers.publish.disclosure",
    "helpers.engine.pool",
)


def preimport_publishers() -> None:
    """Import what running and publishing reports needs (:data:`WORKER_MODULES`: nbclient,
    nbconvert, the publishers ...): seconds, paid once per process."""
    import importlib

    for name in WORKER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def preload_worker() -> None:
    """Import the worker's libraries and compile the HTML exporter's templates: the part of a
    worker's start that can be done once, in the pool's fork server, before it forks the
    workers (:mod:`helpers.engine.worker_preload`; nothing here starts a thread)."""
    preimport_publishers()
    compile_output_validation()
    from helpers.publish import html as html_pub

    html_pub.warm_up()


_PUBLISHERS_WARM = threading.Event()


def warm_up_publishers() -> None:
    """Import the publishers and pay their one-off costs (Jinja template compilation, the
    Typst font scan, the disclosure scanner's imports) before the first report, while the
    kernel boots. Never raises: a real problem shows up, with its message, when the first
    report is published."""
    try:
        preimport_publishers()
        from helpers.publish import disclosure
        from helpers.publish import html as html_pub
        from helpers.publish import pdf as pdf_pub

        html_pub.warm_up()
        pdf_pub.warm_up()
        disclosure.warm_up()
    except Exception:
        pass
    finally:
        _PUBLISHERS_WARM.set()


# One worker per process (local pool processes and Dask workers both use this).
_WORKER: KernelWorker | None = None


def process_worker(
    isolation: str, recycle_after: int, log_dir: str | None, zygote: str | None = None
) -> KernelWorker:
    """The process-wide worker, created on first use (settings fixed for its lifetime)."""
    global _WORKER
    if _WORKER is None or (_WORKER.isolation, _WORKER.recycle_after) != (isolation, recycle_after):
        if _WORKER is not None:
            _WORKER.shutdown()
        _WORKER = KernelWorker(
            isolation, recycle_after, log_dir=Path(log_dir) if log_dir else None, zygote=zygote
        )
    return _WORKER


def run_job(spec: JobSpec) -> JobResult:
    """Execute and publish one job in this process."""
    worker = process_worker(spec.isolation, spec.recycle_after, spec.log_dir)
    return worker.run_job(spec)


def shutdown_process_worker() -> None:
    """Stop this process's kernel (called on worker exit)."""
    global _WORKER
    if _WORKER is not None:
        _WORKER.shutdown()
        _WORKER = None


if __name__ == "__main__":  # pragma: no cover - debugging aid: run one spec from a JSON file
    spec = JobSpec.from_dict(json.loads(Path(sys.argv[1]).read_text()))
    print(json.dumps(run_job(spec).to_dict(), indent=1, default=str))
