"""The benchmarks document only options they have (profile_jobs.py once documented --kernel-prun)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# run.py's docstring also quotes the naive loop's nbconvert options (--to, --no-input).
@pytest.mark.parametrize("script", ["profile_jobs.py"])
def test_documented_options_exist(script):
    path = ROOT / "benchmarks" / script
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", doc))
    out = subprocess.run(
        [sys.executable, str(path), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    real = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", out.stdout))
    assert documented <= real, f"{script} documents options it does not have: {documented - real}"
