"""Write requirements.lock and environment.yml from a virtual environment's exact versions.

Usage: python scripts/write_lock.py VENV_DIR
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = (
    "pip==",
    "setuptools==",
    "wheel==",
    "-e ",
    "kp-reports",
    *(
        # jsonschema's optional iri format checks (pulled in by JupyterLab's jupyter-events): its
        # import builds ~30 Lark grammars, 2.7 s in every process that imports nbformat. No schema
        # the suite validates uses the iri formats; jsonschema skips them when it is absent.
        "lark==",
        "rfc3987-syntax==",
    ),
)


def main(venv: str) -> None:
    out = subprocess.run(
        [f"{venv}/bin/pip", "freeze", "--all"], check=True, capture_output=True, text=True
    ).stdout
    pins = sorted(
        (line for line in out.splitlines() if line and not line.startswith(SKIP)),
        key=str.lower,
    )
    (ROOT / "requirements.lock").write_text(
        "# Exact versions of everything installed into .venv (pip freeze of a clean install of "
        "pyproject.toml[dev]).\n# Regenerate with: make lock\n" + "\n".join(pins) + "\n"
    )
    env = [
        "# Conda environment with the same pins as requirements.lock "
        "(tests/unit/test_foundation.py checks they agree).",
        "name: kp-reports",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - pip:",
        *[f"      - {p}" for p in pins],
        "      - -e .",
    ]
    (ROOT / "environment.yml").write_text("\n".join(env) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
