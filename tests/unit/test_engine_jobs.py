"""The engine's job records: they cross process boundaries (pickled to local workers, as plain
dicts to Dask workers) and end up in the ledger, the cache's result.json and the manifest, whose
formats must not change because of them."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import pytest

from helpers.engine.jobs import (
    ERROR_EXCERPT_CHARS,
    JobResult,
    JobSpec,
    Reason,
    RunStatus,
    Status,
    describe,
)


def _spec(tmp_path: Path) -> JobSpec:
    return JobSpec(
        id="health/stocktake",
        family="stocktake",
        key="a" * 64,
        notebook=str(tmp_path / "stocktake.ipynb"),
        params={"department": "health", "month": "2025-03", "min_n": 30},
        cache_root=str(tmp_path / ".cache"),
        failed_path=str(tmp_path / "staging" / "health" / "stocktake.failed.ipynb"),
        timeout=600.0,
        title="Delivery stocktake",
        department="health",
        month="2025-03",
        formats=["html", "pdf"],
        env={"KP_WAREHOUSE": "/w.duckdb", "KP_PARAMS": "/params", "KP_PROFILE": "kp"},
        provenance={"commit": "c0ffee", "dirty": False, "data_checksum": "d", "cache_key": "a"},
    )


def _failed_result() -> JobResult:
    return JobResult(
        id="health/stocktake",
        key="a" * 64,
        status=Status.FAILED,
        reason=Reason.CELL_ERROR,
        error="ZeroDivisionError: division by zero",
        failing_cell={"index": 3, "source": "x = 1 / 0"},
        worker="host:123",
        run_at="2025-04-02T10:00:00+00:00",
        duration=1.25,
        execute_s=1.0,
        family="stocktake",
        department="health",
    )


def test_the_vocabulary_is_the_strings_the_files_hold():
    assert [s.value for s in Status] == ["done", "cached", "failed", "not_rebuilt", "blocked"]
    assert [r.value for r in RunStatus] == [
        "running",
        "ok",
        "failed",
        "blocked",
        "interrupted",
        "killed",
    ]
    # a status read back from JSON compares equal to its member, and is written as the string
    assert json.loads('"cached"') == Status.CACHED
    assert json.dumps({"status": Status.NOT_REBUILT}) == '{"status": "not_rebuilt"}'
    assert f"{Status.DONE:<7}|" == "done   |"  # the run summary's column


def test_a_spec_survives_pickling_and_the_plain_dict_boundary(tmp_path):
    spec = _spec(tmp_path)
    assert pickle.loads(pickle.dumps(spec)) == spec
    plain = json.loads(json.dumps(spec.to_dict()))
    assert JobSpec.from_dict(plain) == spec
    # a Dask job's other entries (blob names, code fingerprint) are not part of the spec
    assert JobSpec.from_dict(dict(plain, params_tree="b" * 64, code={"helpers": "h"})) == spec


def test_a_spec_missing_a_required_field_is_refused(tmp_path):
    plain = _spec(tmp_path).to_dict()
    del plain["timeout"]
    with pytest.raises(TypeError, match="timeout"):
        JobSpec.from_dict(plain)


def test_a_result_survives_pickling_and_the_plain_dict_boundary():
    res = _failed_result()
    back = pickle.loads(pickle.dumps(res))
    assert back == res and back.status is Status.FAILED
    plain = json.loads(json.dumps(res.to_dict()))
    assert plain["status"] == "failed" and type(plain["status"]) is str
    again = JobResult.from_dict(plain)
    assert again == res and again.status is Status.FAILED


def test_the_failed_constructor_cuts_the_error_to_the_excerpt_length():
    res = JobResult.failed("x/y", "k", Reason.WORKER_DIED, "E" * 2000, worker="h:1")
    assert res.status == "failed" and res.reason == "worker_died" and res.worker == "h:1"
    assert res.error == "E" * 1500 and ERROR_EXCERPT_CHARS == 1500
    assert res.duration is None and res.files == {} and not res.published
    assert describe(ValueError("bad")) == "ValueError: bad"


def test_the_cache_record_has_the_keys_result_json_always_had(tmp_path):
    spec = _spec(tmp_path)
    res = JobResult(
        id=spec.id,
        key=spec.key,
        status=Status.DONE,
        files={"ipynb": "stocktake.ipynb", "html": "stocktake.html"},
        hashes={"ipynb": "1" * 64, "html": "2" * 64},
        headline={"on_track": 3, "targets": 5},
        worker="host:1",
        run_at="2025-04-02T10:00:00+00:00",
        duration=3.5,
        execute_s=2.0,
        publish_s=1.5,
    )
    provenance = dict(spec.provenance, run_at=res.run_at)
    rec = res.cache_record(spec, provenance)
    assert set(rec) == {
        "key", "status", "reason", "failing_cell", "error", "files", "hashes", "headline",
        "report_meta", "worker", "run_at", "execute_s", "publish_s", "duration",
        "provenance", "family", "params",
    }  # fmt: skip
    assert rec["status"] == "done" and rec["family"] == "stocktake"
    assert rec["params"] == {"department": "health", "month": "2025-03", "min_n": 30}
    # read back from the cache for a later run: provenance and params are not result fields
    cached = JobResult.from_dict(dict(json.loads(json.dumps(rec)), id=spec.id, status="cached"))
    assert cached.status is Status.CACHED and cached.published
    assert cached.hashes == res.hashes and cached.duration == 3.5


def test_ledger_rows_hold_the_plain_values(tmp_path):
    from helpers.engine.ledger import Ledger

    led = Ledger(tmp_path / "ledger.duckdb")
    led.start_run("r1", "2025-03", ["--month", "2025-03"], {"n_jobs": 1})
    done = JobResult(
        id="finance/budget_execution",
        key="b" * 64,
        status=Status.DONE,
        hashes={"pdf": "p", "html": "h"},
        duration=2.0,
        family="budget_execution",
        department="finance",
    )
    blocked = JobResult(
        id="health/citizen_survey",
        key="c" * 64,
        status=Status.BLOCKED,
        reason=Reason.DISCLOSURE,
        error="health/citizen_survey.html: small_cell",
        family="citizen_survey",
        department="health",
    )
    led.record_jobs("r1", "2025-03", [done, _failed_result(), blocked])
    led.finish_run("r1", RunStatus.FAILED, {Status.DONE: 1, Status.FAILED: 1}, 4.0)
    rows = {r["job_id"]: r for r in led.jobs("r1")}
    failed = rows["health/stocktake"]
    assert (failed["status"], failed["reason"]) == ("failed", "cell_error")
    assert (failed["failing_cell"], failed["failing_source"]) == (3, "x = 1 / 0")
    assert failed["error_excerpt"] == "ZeroDivisionError: division by zero"
    assert failed["output_hashes"] == "{}" and failed["worker"] == "host:123"
    ok = rows["finance/budget_execution"]
    assert ok["output_hashes"] == '{"html": "h", "pdf": "p"}'  # sorted keys, as before
    assert ok["failing_cell"] is None and ok["department"] == "finance"
    assert rows["health/citizen_survey"]["reason"] == "disclosure"
    assert led.last_failed("2025-03") == {"health/stocktake", "health/citizen_survey"}
    (run,) = led.runs("2025-03")
    assert (run["status"], run["n_done"], run["n_cached"], run["n_failed"]) == ("failed", 1, 0, 1)


def test_a_new_run_marks_the_unfinished_one_killed(tmp_path):
    from helpers.engine.ledger import Ledger

    led = Ledger(tmp_path / "ledger.duckdb")
    led.start_run("r1", "2025-03", [], {})
    led.start_run("r2", "2025-03", [], {})
    assert {r["run_id"]: r["status"] for r in led.runs("2025-03")} == {
        "r1": "killed",
        "r2": "running",
    }


def test_manifest_entries_and_portal_items_hold_plain_strings(tmp_path):
    from helpers.engine import run
    from helpers.engine.plan import Job, MonthPlan
    from helpers.publish import portal

    job = Job(
        family="stocktake",
        title="Delivery stocktake",
        scope="department",
        department="health",
        month="2025-03",
        notebook=tmp_path / "stocktake.ipynb",
        params={"department": "health", "month": "2025-03"},
        key="a" * 64,
        data_checksum="d" * 64,
    )
    files = {"failed_ipynb": "health/stocktake.failed.ipynb"}
    entry = run._manifest_job(job, _failed_result(), files)
    assert list(entry) == [
        "id", "family", "department", "status", "reason", "key", "params", "data_checksum",
        "files", "hashes", "run_at", "duration_s", "failing_cell", "error",
    ]  # fmt: skip
    text = json.dumps(entry, sort_keys=True)
    assert '"status": "failed"' in text and '"reason": "cell_error"' in text
    assert entry["duration_s"] == 1.25 and entry["failing_cell"] == {
        "index": 3,
        "source": "x = 1 / 0",
    }
    item = run._portal_item(job, _failed_result(), files, MonthPlan("2025-03", [job]))
    assert item["status"] == "failed" and type(item["status"]) is str
    assert item["error"] == "ZeroDivisionError: division by zero" and item["note"] is None
    portal._validate([item])  # the portal accepts it


def test_progress_counts_by_status():
    from helpers.engine.progress import Progress

    p = Progress(total=3, stream=io.StringIO(), live=False)
    p.finish("a", Status.DONE)
    p.finish("b", Status.CACHED)
    p.finish("c", Status.FAILED, "cell_error: boom")
    assert p.counts == {"done": 1, "cached": 1, "failed": 1} and p.finished == 3
    assert "failed  c" in p.stream.getvalue() and "[3/3] cell_error: boom" in p.stream.getvalue()


def test_compiled_output_validation_accepts_and_refuses_as_nbformat_does():
    """The worker's compiled output check (fastjsonschema, the same schema) lets every valid
    output through and still refuses a malformed one with nbformat's own error."""
    import nbformat
    from nbformat.v4 import new_output, output_from_msg

    from helpers.engine.execute import compile_output_validation

    compile_output_validation()
    compile_output_validation()  # once per process: a second call changes nothing
    html = {"text/html": "<table><tr><td>1</td></tr></table>", "text/plain": "1"}
    out = output_from_msg(
        {"header": {"msg_type": "display_data"}, "content": {"data": html, "metadata": {}}}
    )
    assert out.data["text/html"].startswith("<table>")
    assert new_output("stream", name="stderr", text="x").name == "stderr"
    assert new_output("error", ename="E", evalue="v", traceback=["t"]).ename == "E"
    for bad in (
        lambda: new_output("display_data", data={"text/plain": 5}),  # not a string
        lambda: new_output("stream", name="stdout", text=3),  # not text
        lambda: new_output("execute_result", data={}, execution_count="one"),
    ):
        with pytest.raises(nbformat.ValidationError):
            bad()


def test_a_fresh_result_carries_the_bundles_a_cached_one_would():
    """The headline and report metadata a worker sends are plain JSON values, equal to what
    the cache entry's result.json gives back: a run and a later run from the cache show the
    same portal badges, and the driver needs no notebook library to read them."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from helpers.bundles import HEADLINE_MIME, META_MIME
    from helpers.engine.execute import read_report_bundles

    headline = {"utilisation": 0.625, "detail": {"lines": [{"id": "A", "gap": -0.1}]}}
    meta = {"title": "Budget execution", "department": "Health", "month": "March 2025"}
    outs = [
        new_output("display_data", data={META_MIME: meta, "text/plain": "meta"}),
        new_output("display_data", data={HEADLINE_MIME: headline, "text/plain": "h"}),
    ]
    nb = nbformat.from_dict(new_notebook(cells=[new_code_cell("", outputs=outs)]))
    assert isinstance(nb.cells[0].outputs[1].data[HEADLINE_MIME], nbformat.NotebookNode)
    got_headline, got_meta = read_report_bundles(nb)

    def kinds(value):
        if isinstance(value, dict):
            return {type(value)} | {t for v in value.values() for t in kinds(v)}
        if isinstance(value, list):
            return {list} | {t for v in value for t in kinds(v)}
        return {type(value)}

    assert kinds(got_headline) <= {dict, list, str, float} and kinds(got_meta) <= {dict, str}
    assert got_headline == headline and got_meta["title"] == "Budget execution"
    assert json.loads(json.dumps(got_headline)) == got_headline
