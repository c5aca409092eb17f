"""A Ctrl-C that lands inside a DuckDB statement comes out of DuckDB as an ordinary error, so
code that tolerates DuckDB errors used to lose it and carry on (a load finished, a month was
published after the user pressed Ctrl-C). helpers.interrupts records the signal; the commit
points raise it again."""

from __future__ import annotations

import os
import signal
import threading
import time

import duckdb
import pytest

from helpers import interrupts
from helpers.engine.ledger import Ledger

LONG_QUERY = "SELECT count(*) FROM range(1000000000) t(x) WHERE x % 7 = 3"  # seconds


def _ctrl_c_after(seconds: float) -> None:
    def fire():
        time.sleep(seconds)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()


def test_a_ctrl_c_duckdb_turns_into_an_error_is_still_raised_by_check():
    con = duckdb.connect()
    with interrupts.handling():
        _ctrl_c_after(1.0)  # the query takes about 7 s
        with pytest.raises(Exception) as caught:  # what the tolerant code sees and swallows
            con.execute(LONG_QUERY).fetchall()
        con.close()
        assert not isinstance(caught.value, KeyboardInterrupt)  # DuckDB's own error
        assert interrupts.pending()
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    assert not interrupts.pending()  # recorded only while handling
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_is_recorded_as_its_own_exception():
    class Stop(KeyboardInterrupt):
        pass

    with interrupts.handling(KeyboardInterrupt, Stop):
        with pytest.raises(Stop):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        with pytest.raises(Stop):
            interrupts.check()


def test_a_ledger_write_that_fails_after_a_ctrl_c_raises_instead_of_journalling(tmp_path):
    """The ledger journals a write it cannot make (a busy or broken file): an interrupted one
    is not such a write, and must stop the run."""
    led = Ledger(tmp_path / "ledger.duckdb")
    (tmp_path / "ledger.duckdb").write_bytes(b"not a duckdb file")  # every write fails
    with interrupts.handling():
        led.start_run("r1", "2025-03", ["--month", "2025-03"], {})  # journalled, no interrupt
        assert led._journal().exists()
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C (the handler, called as the signal does)
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
        with pytest.raises(KeyboardInterrupt):
            led.start_run("r2", "2025-03", ["--month", "2025-03"], {})
