"""One version number: pyproject.toml, helpers.__version__ and the changelog's latest release."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import helpers

ROOT = Path(__file__).resolve().parents[2]


def _released(changelog: str) -> list[str]:
    """Release headings '## 0.2.0 — ...' in file order (the 'Unreleased' heading left out)."""
    return re.findall(r"^## (\d+\.\d+\.\d+)\b", changelog, flags=re.M)


def test_package_version_is_the_changelogs_latest_release():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    released = _released((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    latest = max(released, key=lambda v: tuple(int(p) for p in v.split(".")))
    assert project["version"] == helpers.__version__ == latest


def test_release_headings_are_read_from_the_changelog():
    text = "# Changelog\n\n## Unreleased — next\n- x\n\n## 0.1.0 — first\n\n## 0.10.2 — later\n"
    assert _released(text) == ["0.1.0", "0.10.2"]
