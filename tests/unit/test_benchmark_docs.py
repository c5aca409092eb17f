"""The benchmarks document only options they have (profile_jobs.py once documented --kernel-prun)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# Options of other tools that a docstring quotes: run.py's naive loops call nbconvert
# (--to, --no-input), its --dask comparison starts `dask worker --nthreads 1`, and it runs
# `make reports` with --force and --months.
QUOTED = {"run.py": {"--to", "--no-input", "--nthreads", "--force", "--months"}}


@pytest.mark.parametrize("script", ["profile_jobs.py", "run.py", "warm_floor.py"])
def test_documented_options_exist(script):
    path = ROOT / "benchmarks" / script
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", doc)) - QUOTED.get(script, set())
    out = subprocess.run(
        [sys.executable, str(path), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    real = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", out.stdout))
    assert documented <= real, f"{script} documents options it does not have: {documented - real}"
