"""Outputs and volatile metadata never reach a commit: the git clean filter and the hook check.

Real git in a temporary repository, configured as `make hooks` configures a checkout.
"""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STRIP = ROOT / "scripts" / "strip_notebooks.py"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def _strip_module():
    spec = importlib.util.spec_from_file_location("strip_notebooks", STRIP)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def _repo(tmp_path: Path, *, with_filter: bool) -> Path:
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "scripts").mkdir()
    shutil.copy(STRIP, repo / "scripts" / "strip_notebooks.py")
    shutil.copy(ROOT / "scripts" / "venv-run", repo / "scripts" / "venv-run")
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    shutil.copy(ROOT / "notebooks" / "stocktake.ipynb", repo / "notebooks" / "stocktake.ipynb")
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.org")
    _git(repo, "config", "user.name", "t")
    if with_filter:  # what `make hooks` writes (KP_VENV: this interpreter's venv, see _repo users)
        clean = "scripts/venv-run python scripts/strip_notebooks.py --stdin"
        _git(repo, "config", "filter.kp-notebook.clean", clean)
        _git(repo, "config", "filter.kp-notebook.smudge", "cat")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "init")
    return repo


def _save_as_jupyterlab_would(path: Path) -> None:
    """Run All + autosave: outputs, counts, full language_info, execution timings."""
    nb = json.loads(path.read_text())
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["metadata"]["execution"] = {"iopub.execute_input": "2026-12-01T10:00:00Z"}
        cell["metadata"]["scrolled"] = True
        cell["outputs"] = [
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {"text/plain": ["42"], "image/png": "iVBORw0KGgo" * 200},
            }
        ]
    nb["metadata"]["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": "3.11.9",
    }
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def test_committed_notebooks_are_byte_for_byte_what_the_filter_writes():
    mod = _strip_module()
    files = _git(ROOT, "ls-files", "*.ipynb").split()
    assert files
    changed = [f for f in files if mod.strip_text((ROOT / f).read_text()) != (ROOT / f).read_text()]
    assert not changed, f"would show as modified once the filter is installed: {changed}"


def test_a_notebook_saved_with_outputs_shows_no_diff_and_stages_clean(tmp_path, monkeypatch):
    monkeypatch.setenv("KP_VENV", sys.prefix)  # scripts/venv-run: the venv running the tests
    repo = _repo(tmp_path, with_filter=True)
    nb_path = repo / "notebooks" / "stocktake.ipynb"
    committed = nb_path.read_text()
    _save_as_jupyterlab_would(nb_path)
    assert "image/png" in nb_path.read_text()  # the analyst's copy keeps its outputs

    assert _git(repo, "diff") == ""
    # git status lists a file whose size changed until it is re-added (git's stat shortcut);
    # adding it stages nothing: the commit would be empty.
    _git(repo, "add", "notebooks/stocktake.ipynb")
    assert _git(repo, "diff", "--cached") == ""
    assert _git(repo, "status", "--porcelain") == ""
    assert _git(repo, "show", ":notebooks/stocktake.ipynb") == committed

    # A real edit still shows, and only the edit.
    nb = json.loads(nb_path.read_text())
    nb["cells"][0]["source"] = ['department = "health"\n', 'month = "2025-04"']
    nb_path.write_text(json.dumps(nb, indent=1))
    diff = _git(repo, "diff", "--", "notebooks/stocktake.ipynb")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert changed == ['-    "month = \\"2025-03\\""', '+    "month = \\"2025-04\\""'], diff
    _git(repo, "add", "-A")
    staged = json.loads(_git(repo, "show", ":notebooks/stocktake.ipynb"))
    assert all(not c.get("outputs") for c in staged["cells"])
    assert staged["metadata"]["language_info"] == {"name": "python"}
    assert "widgets" not in staged["metadata"]


def test_the_hook_check_refuses_a_dirty_staged_notebook_without_the_filter(tmp_path):
    repo = _repo(tmp_path, with_filter=False)
    check = [sys.executable, str(STRIP), "--check-staged", "notebooks/stocktake.ipynb"]
    assert subprocess.run(check, cwd=repo, capture_output=True).returncode == 0
    _save_as_jupyterlab_would(repo / "notebooks" / "stocktake.ipynb")
    _git(repo, "add", "-A")
    out = subprocess.run(check, cwd=repo, capture_output=True, text=True)
    assert out.returncode == 1
    assert "notebooks/stocktake.ipynb" in out.stdout and "make setup" in out.stdout


def test_the_filter_keeps_a_file_that_is_not_a_notebook():
    broken = '{"cells": [ truncated'
    out = subprocess.run(
        [sys.executable, str(STRIP), "--stdin"], input=broken.encode(), capture_output=True
    )
    assert out.returncode == 0 and out.stdout.decode() == broken


def test_precommit_hooks_are_local_and_run_from_the_venv():
    """`make setup` must work offline: no hook repository is fetched at install or commit time."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for r in config["repos"] for h in r["hooks"]}
    assert all(r["repo"] == "local" for r in config["repos"])
    assert {"ruff-check", "ruff-format", "notebooks-clean", "detect-secrets"} <= set(hooks)
    for hook in hooks.values():
        assert hook["language"] == "system"
        assert hook["entry"].startswith("scripts/venv-run "), hook["id"]
    assert (ROOT / ".secrets.baseline").exists()
    assert (ROOT / "scripts" / "venv-run").stat().st_mode & 0o111


def test_venv_run_finds_the_main_checkouts_venv_from_a_worktree(tmp_path):
    """Engineers' worktrees share the main checkout's .venv: the hooks must find it there."""
    main = tmp_path / "main"
    (main / ".venv" / "bin").mkdir(parents=True)
    tool = main / ".venv" / "bin" / "kp-probe"
    tool.write_text('#!/bin/sh\necho from-main-venv "$@"\n')
    tool.chmod(0o755)
    _git(tmp_path, "init", "-q", str(main))
    _git(main, "config", "user.email", "t@example.org")
    _git(main, "config", "user.name", "t")
    _git(main, "commit", "-q", "--allow-empty", "-m", "init")
    _git(main, "worktree", "add", "-q", str(tmp_path / "wt"))
    out = subprocess.run(
        [str(ROOT / "scripts" / "venv-run"), "kp-probe", "x"],
        cwd=tmp_path / "wt", capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.stdout.strip() == "from-main-venv x", out.stderr
