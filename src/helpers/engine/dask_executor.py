"""Run jobs on an existing Dask distributed cluster (``EXECUTOR=dask SCHEDULER=tcp://...``).

The same job function as the local pool (:func:`helpers.engine.execute.run_job`) runs on the
Dask workers; each worker process keeps one warm kernel between tasks. The driver still keeps
the ledger and assembles the month. Workers write cache entries and failed notebooks to the
paths in the job spec, so every worker must see the driver's ``outputs/`` (and the warehouse) at
the same path: a shared file system (NFS, a mounted object store). See docs/engine.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helpers.engine.execute import run_job, shutdown_process_worker


def _plugin_class():
    from distributed.diagnostics.plugin import WorkerPlugin

    class KernelCleanup(WorkerPlugin):
        """Stops the worker's warm kernel when the Dask worker shuts down."""

        name = "kp-kernel-cleanup"

        def teardown(self, worker):  # noqa: D401 - Dask hook
            shutdown_process_worker()

    return KernelCleanup


def run_on_dask(
    specs: list[dict[str, Any]],
    scheduler: str,
    on_start: Callable[..., None],
    on_result: Callable[[dict[str, Any]], None],
    on_tick: Callable[[], None] | None = None,
) -> None:
    """Submit every spec to the cluster at ``scheduler`` and report results as they finish."""
    if not specs:
        return
    from distributed import Client, as_completed

    with Client(scheduler, timeout="30s") as client:
        try:
            client.register_plugin(_plugin_class()(), name="kp-kernel-cleanup")
        except Exception:  # older/newer API differences must not stop the run
            pass
        futures = {}
        for spec in specs:
            fut = client.submit(
                run_job, spec, key=f"kp-{spec['key'][:16]}-{spec['id']}", pure=False
            )
            futures[fut] = spec
            on_start(spec["id"], "dask")
        for fut in as_completed(list(futures)):
            spec = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # the worker died or the task could not run
                res = {
                    "id": spec["id"],
                    "key": spec["key"],
                    "status": "failed",
                    "reason": "worker_died",
                    "error": f"{type(exc).__name__}: {exc}"[:1500],
                    "duration": None,
                }
            on_result(res)
            if on_tick:
                on_tick()
