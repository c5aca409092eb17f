"""Engine faults that must end in one line and a set exit code, or not at all: an operator
holding the ledger, an unreadable warehouse."""

import pytest


def test_an_operator_reading_the_ledger_never_breaks_a_run(tmp_path, monkeypatch):
    """A read-only connection held by another process locks a DuckDB file for everyone else:
    the run's writes are kept in the journal and applied once the reader lets go."""
    import subprocess
    import sys

    from helpers.engine import ledger as ledger_mod
    from helpers.engine.jobs import JobResult, Status

    monkeypatch.setattr(ledger_mod, "BUSY_SECONDS", 0.5)
    led = ledger_mod.Ledger(tmp_path / "ledger.duckdb")
    led.start_run("r0", "2025-03", [], {})
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
         "print('open', flush=True); time.sleep(30)", str(led.path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert reader.stdout.readline().strip() == "open"
        led.start_run("r1", "2025-03", ["--month", "2025-03"], {"n_jobs": 2})  # no exception
        done = JobResult(id="health/stocktake", key="k1", status=Status.DONE)
        led.record_jobs("r1", "2025-03", [done])
        led.finish_run("r1", "ok", {"done": 1}, 1.5)
        assert led._journal().exists()
        assert [r["run_id"] for r in led.runs("2025-03")] == ["r0"]  # read from a copy
    finally:
        reader.kill()
        reader.wait()
    led.record_jobs("r2", "2025-03", [])  # nothing to write: the journal waits
    assert led.last_failed("2025-03") == set()  # the next connection replays the journal
    runs = {r["run_id"]: r for r in led.runs("2025-03")}
    assert runs["r1"]["status"] == "ok" and runs["r0"]["status"] == "killed"
    assert [j["job_id"] for j in led.jobs("r1")] == ["health/stocktake"]
    assert not led._journal().exists()


@pytest.mark.parametrize("kind", ["corrupt", "folder"])
def test_an_unreadable_warehouse_is_one_line_and_exit_2(tmp_path, capsys, kind):
    from helpers.engine import run as engine_run

    wh = tmp_path / "warehouse.duckdb"
    if kind == "corrupt":
        wh.write_bytes(b"not a database" * 100)
    else:
        wh.mkdir()
    code = engine_run.cli(
        ["--month", "2025-03", "--warehouse", str(wh), "--outputs", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert ("cannot be read" if kind == "corrupt" else "is a folder") in err
    assert "make data" in err


def test_automatic_worker_count_follows_cores_and_memory(monkeypatch, tmp_path):
    import builtins

    from helpers.engine import run as engine_run

    real_open = builtins.open

    def meminfo(gb: float):
        def fake(path, *a, **k):
            if str(path) == "/proc/meminfo":
                f = tmp_path / "meminfo"
                f.write_text(f"MemTotal: 99 kB\nMemAvailable: {int(gb * 1024 * 1024)} kB\n")
                return real_open(f, *a, **k)
            return real_open(path, *a, **k)

        return fake

    monkeypatch.setattr(engine_run.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(builtins, "open", meminfo(24))
    assert engine_run.default_workers() == 8  # 24 GB hold 16 workers: the cores decide
    monkeypatch.setattr(builtins, "open", meminfo(4))
    assert engine_run.default_workers() == 2  # 4 GB / 1.5 GB a worker
    monkeypatch.setattr(builtins, "open", meminfo(0.5))
    assert engine_run.default_workers() == 1  # never zero


def test_a_department_gone_from_the_registry_is_named_before_its_reports_stop(caplog):
    from types import SimpleNamespace

    from helpers.engine import run as engine_run

    plan = SimpleNamespace(month="2025-03", jobs=[SimpleNamespace(id="health/stocktake")])
    published = {"jobs": [{"id": "health/stocktake"}, {"id": "zakat-ushr/stocktake"}]}
    with caplog.at_level("WARNING", logger="helpers.engine"):
        engine_run._warn_dropped(published, plan)
    assert "1 report(s) published for 2025-03 are no longer planned" in caplog.text
    assert "zakat-ushr/stocktake" in caplog.text and "health/stocktake;" not in caplog.text
    caplog.clear()
    engine_run._warn_dropped({"jobs": [{"id": "health/stocktake"}]}, plan)
    assert caplog.text == ""


def test_job_records_between_ledger_writes_wait_in_the_journal_and_are_never_lost(tmp_path):
    """Finished jobs are appended to the journal while the ledger was written recently (one
    DuckDB open per job cost 60 ms of the driver's time); the run's end writes them, and a run
    killed before its end leaves them for the next reader."""
    from helpers.engine.jobs import JobResult, Status
    from helpers.engine.ledger import Ledger

    led = Ledger(tmp_path / "ledger.duckdb")
    opened = []
    real_connect = led._connect

    def counting_connect(*a, **kw):
        opened.append(1)
        return real_connect(*a, **kw)

    led._connect = counting_connect  # type: ignore[method-assign]
    led.start_run("r1", "2025-03", [], {})
    for i in range(20):
        led.record_jobs(
            "r1", "2025-03", [JobResult(id=f"d{i}/budget", key=f"k{i}", status=Status.DONE)]
        )
    assert len(opened) == 1 and led._journal().exists()
    # killed here: a new process reading the ledger sees every job
    assert len(Ledger(led.path).jobs("r1")) == 20 and not led._journal().exists()
    led.record_jobs("r1", "2025-03", [JobResult(id="last/budget", key="k", status=Status.DONE)])
    led.finish_run("r1", "ok", {"done": 21}, 1.0)
    assert not led._journal().exists()
    assert len(led.jobs("r1")) == 21
    assert [r["status"] for r in led.runs("2025-03")] == ["ok"]
