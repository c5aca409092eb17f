"""Cache keys and the content-addressed store (helpers.engine.cache)."""

from __future__ import annotations

import hashlib
import json

import nbformat
import pytest

from helpers.engine.cache import Cache, Environment, job_key, notebook_code_hash, tree_hash


def make_nb(path, sources, outputs=None):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "kp-reports", "language": "python"}
    if outputs:
        nb.cells[0].outputs = [nbformat.v4.new_output("stream", text=outputs)]
        nb.cells[0].execution_count = 7
    nbformat.write(nb, str(path))
    return path


def test_notebook_hash_ignores_outputs_but_not_code(tmp_path):
    a = notebook_code_hash(make_nb(tmp_path / "a.ipynb", ["x = 1", "print(x)"]))
    b = notebook_code_hash(make_nb(tmp_path / "b.ipynb", ["x = 1", "print(x)"], outputs="1\n"))
    c = notebook_code_hash(make_nb(tmp_path / "c.ipynb", ["x = 2", "print(x)"]))
    assert a == b
    assert a != c


def test_tree_hash_sees_content_and_names(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("A = 1\n")
    h1 = tree_hash(tmp_path, ["**/*.py"])
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "m.py").write_text("ignored")
    assert tree_hash(tmp_path, ["**/*.py"]) == h1
    (tmp_path / "pkg" / "m.py").write_text("A = 2\n")
    h2 = tree_hash(tmp_path, ["**/*.py"])
    assert h2 != h1
    (tmp_path / "pkg" / "m.py").rename(tmp_path / "pkg" / "n.py")
    assert tree_hash(tmp_path, ["**/*.py"]) not in {h1, h2}


def test_tree_hash_hand_computed(tmp_path):
    (tmp_path / "a.py").write_bytes(b"x")
    inner = hashlib.sha256(b"x").hexdigest()
    expected = hashlib.sha256(b"a.py\0" + inner.encode() + b"\n").hexdigest()
    assert tree_hash(tmp_path, ["*.py"]) == expected


ENV = Environment(helpers="h", lock="l", templates="t", formats=("html",), publisher="nbconvert")
BASE = {"notebook_hash": "n", "params": {"month": "2025-03"}, "data_checksum": "d", "env": ENV}


@pytest.mark.parametrize(
    "change",
    [
        {"notebook_hash": "n2"},
        {"params": {"month": "2025-04"}},
        {"data_checksum": "d2"},
        {"env": Environment("h2", "l", "t", ("html",), "nbconvert")},
        {"env": Environment("h", "l2", "t", ("html",), "nbconvert")},
        {"env": Environment("h", "l", "t2", ("html",), "nbconvert")},
        {"env": Environment("h", "l", "t", ("html", "pdf"), "nbconvert")},
        {"env": Environment("h", "l", "t", ("html",), "quarto")},
        {"env": Environment("h", "l", "t", ("html",), "nbconvert", params="p2")},
    ],
)
def test_every_input_changes_the_key(change):
    assert job_key(**BASE) != job_key(**{**BASE, **change})


def test_key_is_stable_and_order_independent():
    k1 = job_key(**{**BASE, "params": {"a": 1, "b": 2}})
    k2 = job_key(**{**BASE, "params": {"b": 2, "a": 1}})
    assert k1 == k2 and len(k1) == 64


def test_environment_compute(tmp_path):
    helpers = tmp_path / "helpers"
    (helpers / "publish" / "templates").mkdir(parents=True)
    (helpers / "x.py").write_text("1")
    (helpers / "publish" / "templates" / "t.css").write_text("a{}")
    lock = tmp_path / "requirements.lock"
    lock.write_text("pandas==3.1.1\n")
    params = tmp_path / "params"
    params.mkdir()
    (params / "suite.yaml").write_text("ignored")
    (params / "pse.yaml").write_text("threshold: 1")
    e1 = Environment.compute(helpers, lock, ["pdf", "html"], "nbconvert", params_dir=params)
    assert e1.formats == ("html", "pdf")
    assert e1.lock == hashlib.sha256(b"pandas==3.1.1\n").hexdigest()
    (params / "suite.yaml").write_text("changed")  # covered by resolved params instead
    assert Environment.compute(helpers, lock, ["html", "pdf"], "nbconvert", params) == e1
    (params / "pse.yaml").write_text("threshold: 2")
    assert Environment.compute(helpers, lock, ["html", "pdf"], "nbconvert", params) != e1
    (helpers / "publish" / "templates" / "t.css").write_text("b{}")
    e3 = Environment.compute(helpers, lock, ["html", "pdf"], "nbconvert", params)
    assert e3.templates != e1.templates


def test_cache_entry_is_complete_or_absent(tmp_path):
    cache = Cache(tmp_path / ".cache")
    assert not cache.has("k1")
    tmp = cache.staging_dir("k1")
    (tmp / "r.html").write_text("<p>hi</p>")
    assert not cache.has("k1")  # nothing visible while building
    cache.commit(tmp, "k1", {"status": "done", "files": {"html": "r.html"}})
    assert cache.has("k1")
    rec = cache.result("k1")
    assert rec["key"] == "k1" and rec["files"] == {"html": "r.html"}
    # a missing file makes the entry unusable (never serve a partial entry)
    (cache.entry("k1") / "r.html").unlink()
    assert not cache.has("k1")


def test_cache_ignores_failed_or_mismatched_records(tmp_path):
    cache = Cache(tmp_path / ".cache")
    d = cache.entry("k2")
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps({"status": "failed", "key": "k2", "files": {}}))
    assert not cache.has("k2")
    (d / "result.json").write_text(json.dumps({"status": "done", "key": "other", "files": {}}))
    assert not cache.has("k2")


def test_clean_stale_tmp_keeps_live_processes(tmp_path):
    import os

    cache = Cache(tmp_path / ".cache")
    live = cache.staging_dir("k")
    dead = cache.root / ".tmp" / "k-999999999-1"
    dead.mkdir()
    cache.clean_stale_tmp()
    assert live.exists() and not dead.exists()
    assert str(os.getpid()) in live.name


def test_an_entry_edited_in_place_is_evicted_and_not_reused(tmp_path):
    """The recorded SHA-256 of every file is checked before reuse: an HTML file edited in the
    cache (a figure changed by hand) makes the entry unusable, so the report is run again."""
    import hashlib
    import json

    from helpers.engine.cache import Cache

    cache = Cache(tmp_path / ".cache")
    key = "k" * 64
    tmp = cache.staging_dir(key)
    (tmp / "r.html").write_text("<p>Finance has spent 51%</p>")
    (tmp / "r.pdf").write_bytes(b"%PDF-1.7 ...")
    hashes = {k: hashlib.sha256((tmp / n).read_bytes()).hexdigest()
              for k, n in (("html", "r.html"), ("pdf", "r.pdf"))}  # fmt: skip
    cache.commit(tmp, key, {"status": "done", "files": {"html": "r.html", "pdf": "r.pdf"},
                            "hashes": hashes})  # fmt: skip
    assert cache.has(key) and cache.has(key)  # checked, then trusted by its stat stamp
    assert json.loads((cache.entry(key) / ".verified").read_text()).keys() == {"r.html", "r.pdf"}
    html = cache.entry(key) / "r.html"
    html.write_text("<p>Finance has spent 26%</p>")  # same length, new content
    assert not cache.has(key)
    assert not cache.entry(key).exists()  # evicted: the next run builds it again


def test_commit_replaces_an_existing_entry_with_the_new_files(tmp_path):
    """--force re-executes a cached job: the new files must become the entry (the manifest and
    the ledger carry their hashes), not be thrown away in favour of the old ones."""
    cache = Cache(tmp_path / ".cache")
    for text in ("old", "new"):
        tmp = cache.staging_dir("k3")
        (tmp / "r.html").write_text(text)
        cache.commit(tmp, "k3", {"status": "done", "files": {"html": "r.html"}, "run": text})
    assert (cache.entry("k3") / "r.html").read_text() == "new"
    assert cache.result("k3")["run"] == "new"
    assert list((cache.root / ".tmp").iterdir()) == []  # the old entry is gone


def test_clean_stale_tmp_leaves_other_hosts_alone(tmp_path):
    import socket

    cache = Cache(tmp_path / ".cache")
    live = cache.staging_dir("k")
    assert f"-{socket.gethostname()}-" in live.name
    mine_dead = cache.root / ".tmp" / f"k-{socket.gethostname()}-999999999-1"
    other_host = cache.root / ".tmp" / "k-other-host.example-999999999-1"
    for d in (mine_dead, other_host):
        d.mkdir()
    cache.clean_stale_tmp()
    assert live.exists() and other_host.exists() and not mine_dead.exists()
