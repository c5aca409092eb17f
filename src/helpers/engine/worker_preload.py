"""Imported once by the local pool's fork server (``multiprocessing``'s ``forkserver`` start
method, :class:`helpers.engine.pool.LocalPool`) before it forks the workers: what every worker
would otherwise import and warm up again on its own, paid once per run.

Importing this module imports the worker's libraries (jupyter_client, nbclient, papermill,
nbformat, nbconvert, the publishers) and builds the HTML exporter with its compiled templates
(:func:`helpers.engine.execute.preload_worker`). Only work that is safe to fork is done here:
no threads are started and no kernel, socket or Typst compilation is made (each worker warms up
Typst and the disclosure scanner itself, :func:`helpers.engine.execute.warm_up_publishers`).
It never raises: the fork server would stop, and the pool with it; a real problem shows when
the first report is published.
"""

from __future__ import annotations

try:
    from helpers.engine.execute import preload_worker

    preload_worker()
except Exception:  # see the module docstring
    pass
