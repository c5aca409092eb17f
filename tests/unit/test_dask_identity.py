"""The Dask executor's worker-side checks and what it ships (no cluster needed)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from helpers.engine import dask_executor as dx
from helpers.engine.jobs import JobSpec


def _lock_of_this_environment() -> str:
    """The repository's lock (the environment running the tests is installed from it)."""
    return (Path(__file__).resolve().parents[2] / "requirements.lock").read_text()


def _code(lock_text):
    return dict(dx.installed_code(), lock=hashlib.sha256(lock_text.encode()).hexdigest())


def test_a_worker_with_the_jobs_code_and_packages_accepts_it(monkeypatch):
    monkeypatch.delenv("KP_LOCK_FILE", raising=False)
    text = _lock_of_this_environment()
    assert dx.check_code(_code(text), text) is None


def test_other_code_or_packages_are_refused_with_one_clear_line(monkeypatch):
    monkeypatch.delenv("KP_LOCK_FILE", raising=False)
    text = _lock_of_this_environment()
    other = dict(_code(text), helpers="0" * 64)
    msg = dx.check_code(other, text)
    assert "different helpers code" in msg and "install the driver's commit" in msg
    assert "\n" not in msg
    wrong = text + "pandas==0.0.1\n"
    msg = dx.check_code(_code(wrong), wrong)
    assert msg and "pandas" in msg and "(lock: 0.0.1)" in msg and "\n" not in msg


def test_blobs_are_content_addressed_and_specs_carry_no_driver_path(tmp_path):
    params = tmp_path / "params"
    (params / "profiles" / "kp").mkdir(parents=True)
    (params / "suite.yaml").write_text("families: {}\n")
    (params / "profiles" / "kp" / "profile.yaml").write_text("name: kp\n")
    blob = dx.tree_blob(params)
    os.utime(params / "suite.yaml", (0, 0))  # times and owners do not count
    assert dx.tree_blob(params) == blob
    nb = tmp_path / "report.ipynb"
    nb.write_text("{}")
    ship = dx.Shipment({"helpers": "h", "templates": "t", "lock": "l"}, "x==1\n")
    spec = JobSpec(
        id="health/report",
        family="report",
        key="k" * 64,
        notebook=str(nb),
        params={"department": "health"},
        env={"KP_PROFILE": "kp", "KP_WAREHOUSE": str(tmp_path / "no.db")},
        cache_root=str(tmp_path / "outputs" / ".cache"),
        failed_path=str(tmp_path / "outputs" / "x.failed.ipynb"),
        log_dir=str(tmp_path / "outputs" / ".runs"),
        timeout=60.0,
    )
    remote = ship.remote_spec(
        spec, params_dir=params, reference_dir=tmp_path / "nothing", warehouse=tmp_path / "no.db"
    )
    assert str(tmp_path) not in json.dumps(remote)
    assert remote["notebook"] == {"sha": hashlib.sha256(b"{}").hexdigest(), "name": nb.name}
    assert set(dx.blob_names(remote)) == set(ship.blobs)
    for sha, data in ship.blobs.items():
        assert hashlib.sha256(data).hexdigest() == sha
