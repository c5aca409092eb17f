"""Foundation contracts: pinned environment, clean notebooks, self-documenting Makefile."""

import json
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        assert version, f"requirements.lock line is not an exact pin: {line!r}"
        pins[name.lower().replace("_", "-")] = version
    return pins


def test_lock_pins_every_installed_package_exactly():
    pins = _lock_pins()
    for needed in [
        "jupyterlab",
        "papermill",
        "nbconvert",
        "ipykernel",
        "pandas",
        "seaborn",
        "statsmodels",
        "duckdb",
        "pytest",
        "pandera",
        "typst",
        "pypandoc-binary",
    ]:
        assert needed in pins, f"{needed} is not pinned in requirements.lock"


def test_environment_yml_carries_the_same_pins_as_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = {}
    for item in pip_section:
        if item.startswith("-e"):
            continue
        name, _, version = item.partition("==")
        conda_pins[name.lower().replace("_", "-")] = version
    assert conda_pins == _lock_pins()
    assert "python=3.11" in env["dependencies"]


def test_installed_versions_match_the_lock():
    from importlib.metadata import distributions

    installed = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in distributions()}
    wrong = {n: (v, installed.get(n)) for n, v in _lock_pins().items() if installed.get(n) != v}
    assert not wrong, f"installed versions differ from requirements.lock: {wrong}"


def test_committed_notebooks_carry_no_outputs_or_execution_counts():
    files = subprocess.run(
        ["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    notebooks = [ROOT / f for f in files] or list((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    dirty = []
    for path in notebooks:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell.get("outputs") or cell.get("execution_count") is not None:
                dirty.append(path.name)
                break
    assert not dirty, f"notebooks committed with outputs: {dirty} (run: make format)"


def test_report_notebooks_are_thin_and_parameterised():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "kp-reports", path.name
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0].get("metadata", {}).get("tags", []), path.name
        for cell in code:
            src = "".join(cell["source"])
            assert not re.search(r"^\s*(def|class)\s", src, re.M), f"{path.name}: def/class"


def test_every_suite_family_has_its_notebook():
    suite = yaml.safe_load((ROOT / "params" / "suite.yaml").read_text())
    for name, family in suite["families"].items():
        assert (ROOT / "notebooks" / family["notebook"]).exists(), name


def test_make_help_lists_every_target_with_a_description():
    out = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    for target in [
        "help",
        "setup",
        "data",
        "reports",
        "lab",
        "test",
        "lint",
        "format",
        "bench",
        "clean",
    ]:
        line = next((ln for ln in out.splitlines() if ln.split()[:1] == [target]), None)
        assert line and len(line.split()) > 2, f"make help does not describe {target!r}"


def test_project_kernel_is_registered_inside_the_venv():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("kp-reports")
    assert (
        Path(spec.argv[0]).resolve().parent.parent == (ROOT / ".venv").resolve()
        or ".venv" in spec.argv[0]
    )
