"""Runs inside each report kernel: boot once, then reset to the booted state before every report.

:func:`boot` imports the heavy modules once per kernel and records the state a freshly started
kernel has after those imports (warnings filters, environment, resource limits). :func:`reset`
brings the kernel back to that state before each report, after the engine's ``%reset -f`` has
cleared the user namespace; this module lives in ``sys.modules`` and so survives the reset.
The engine's worker (:mod:`helpers.engine.execute`) sends the two calls as hidden cells; a
fresh kernel runs the same cells, so warm and fresh runs are identical.

Only the standard library is imported at module level: the kernel must be able to import this
module before anything else.
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import random
import sys
import warnings
from types import ModuleType
from typing import Any, cast

PRELOAD = (
    "numpy",
    "pandas",
    "matplotlib",
    # the statsmodels modules the analyses use (statsmodels.api would add formulas, time
    # series and graphics: about a second of every kernel's start)
    "statsmodels.regression.linear_model",
    "statsmodels.genmod.generalized_linear_model",
    "scipy.stats",
    "duckdb",
    "helpers",
    "helpers.present",
)
# Driver-side packages: never needed by a notebook, so not preloaded in its kernel.
_NOT_PRELOADED = ("helpers.engine", "helpers.publish", "helpers.cli")

#: The cyclic garbage collector's thresholds in a batch kernel (Python's default is (700, 10,
#: 10)). The analyses allocate millions of short-lived pandas objects, nearly all freed by
#: reference counting; at the default a young-generation collection ran every 700 of them. At
#: 50,000 the reports of a month took about 7% less kernel CPU (measured in one kernel,
#: alternating, docs/engine.md "Performance"); what is collected, and so every result, is the
#: same, only later.
GC_THRESHOLD = (50_000, 20, 100)

resource: ModuleType | None
try:
    import resource
except ImportError:  # not on POSIX: no limits to restore
    resource = None

_warning_filters: list = []
_environ: dict[str, str] = {}
_rlimits: dict[int, tuple[int, int]] = {}
# Modules that failed to import at boot, with the error. A failure is not fatal here: the
# notebook that imports the module gets the real traceback in its own cell.
boot_errors: dict[str, str] = {}


def _preload(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception as exc:  # any import error: the notebook that imports it reports it
        boot_errors[name] = f"{type(exc).__name__}: {exc}"


def preload() -> None:
    """Import the heavy modules and every ``helpers`` module a notebook may use (in a kernel
    forked from the kernel zygote, :mod:`helpers.engine.zygote`, the zygote did this)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Imports make no garbage worth collecting, only objects that live as long as the kernel
    # (which boot then freezes): without the collector they take about an eighth less time.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for name in PRELOAD:
            _preload(name)
        import helpers

        for mod in pkgutil.walk_packages(helpers.__path__, "helpers."):
            if not mod.name.startswith(_NOT_PRELOADED):
                _preload(mod.name)
    finally:
        if was_enabled:
            gc.enable()


def _skip_empty_stream_flushes() -> None:
    """An ipykernel output stream's ``flush`` that returns at once when nothing was written.

    The kernel flushes stdout and stderr before and after every cell and before every
    ``display`` (a report: about 200 flushes), and each flush hands two tasks to the IOPub
    thread and waits for it, even with nothing to send: about a tenth of a budget report's
    kernel time. With text buffered (a ``print``, a warning) the flush is ipykernel's own, so
    text still comes before the display that follows it; messages keep their order without
    the wait, since the IOPub thread sends them in the order they were scheduled.
    """
    try:
        from ipykernel.iostream import OutStream
    except ImportError:  # not in a kernel (tests, the profiler)
        return
    flush = OutStream.flush
    if getattr(flush, "_kp_skips_empty", False) or not hasattr(OutStream, "_rotate_buffers"):
        return  # patched already, or an ipykernel whose buffers this does not know

    def flush_written(self) -> None:
        if self._buffers or self._flush_pending:
            flush(self)

    flush_written._kp_skips_empty = True  # type: ignore[attr-defined]
    OutStream.flush = flush_written  # type: ignore[method-assign]


def boot() -> None:
    """:func:`preload`, then record the state to restore before each report."""
    preload()
    _skip_empty_stream_flushes()
    _warning_filters[:] = list(warnings.filters)
    _environ.clear()
    _environ.update(os.environ)
    if resource is not None:
        limits = (
            resource.RLIMIT_AS,
            resource.RLIMIT_DATA,
            resource.RLIMIT_CPU,
            resource.RLIMIT_NOFILE,
        )
        _rlimits.update({r: resource.getrlimit(r) for r in limits})
    # Everything imported so far lives as long as the kernel: move it out of the cyclic garbage
    # collector's reach. `%reset -f` runs two full collections per report; over the ~200,000
    # objects of pandas, matplotlib, statsmodels and scipy they cost 0.2-0.3 s, frozen ~1 ms.
    # (Collection timing never changes what a notebook computes; fresh kernels do the same.)
    _settle_collector()


def _settle_collector() -> None:
    """The batch kernel's collector: on, at :data:`GC_THRESHOLD`, with every object alive now
    frozen (a report that turned the collector off or retuned it does not bind the next)."""
    gc.enable()
    gc.set_threshold(*GC_THRESHOLD)
    gc.freeze()


def reset(cwd: str, env: dict[str, str], seed: int) -> None:
    """Bring the kernel back to the state of a freshly booted one (the user namespace is
    cleared by the engine's ``%reset -f`` before this call)."""
    import matplotlib
    import numpy as np
    import pandas as pd

    import helpers.present
    import helpers.present.theme

    plt = sys.modules.get("matplotlib.pyplot")  # imported by a report that drew with it
    if plt is not None:
        plt.close("all")
    matplotlib.rcdefaults()
    helpers.present.theme.set_notebook_css(False)  # published pages carry the stylesheet
    helpers.present.apply_theme()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pd.reset_option("all")
    cast(list[Any], warnings.filters)[:] = _warning_filters
    mutated = getattr(warnings, "_filters_mutated", None)
    if mutated is not None:
        mutated()
    for key in set(os.environ) - set(_environ):
        del os.environ[key]
    os.environ.update(_environ)
    os.environ.update(env)
    os.chdir(cwd)
    if resource is not None:  # a report that lowered its own limits must not bind the next
        for r, limits in _rlimits.items():
            if resource.getrlimit(r) != limits:
                try:
                    resource.setrlimit(r, limits)
                except (ValueError, OSError):  # a hard limit lowered cannot be raised again
                    pass
    random.seed(seed)
    np.random.seed(seed)
    _settle_collector()  # what survived `%reset -f` (module caches) is not scanned again
