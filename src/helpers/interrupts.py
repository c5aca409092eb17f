"""Ctrl-C and SIGTERM that no library can lose.

DuckDB turns a KeyboardInterrupt raised while it runs a statement into an ordinary exception
(``duckdb.InterruptException``, or ``RuntimeError('Query interrupted')``). Code that tolerates a
DuckDB error (an unreadable old warehouse is read as "no warehouse", a ledger that cannot be
written is journalled) then handles it as that error: the Ctrl-C is lost and the command goes on
to the end, publishing or loading what the user asked it to stop. The handlers installed by
:func:`handling` record the signal before raising it, and :func:`check` raises it again at the
points where a command commits (before a warehouse or a month is swapped in, in the driver's
job loop, when a ledger write fails).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_pending: list[type[BaseException]] = []


def check() -> None:
    """Raise the first interrupt recorded since :func:`handling` started, if any."""
    if _pending:
        raise _pending[0]()


def pending() -> bool:
    return bool(_pending)


@contextlib.contextmanager
def handling(
    on_sigint: type[BaseException] = KeyboardInterrupt,
    on_sigterm: type[BaseException] | None = None,
) -> Iterator[None]:
    """Within the block, SIGINT (and SIGTERM when ``on_sigterm`` is given) raise their
    exception *and* record it for :func:`check`; outside the main thread (which alone receives
    signals) nothing is installed. The previous handlers come back on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending.clear()

    def handler_for(exc: type[BaseException]):
        def handler(signum, frame):
            _pending.append(exc)
            raise exc()

        return handler

    previous = {signal.SIGINT: signal.signal(signal.SIGINT, handler_for(on_sigint))}
    if on_sigterm is not None:
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, handler_for(on_sigterm))
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _pending.clear()
