"""Parameters and paths: MONTH, DEPT, NOTEBOOK, --param values and every parameter file value
are validated before any kernel starts. Whatever the value, a rejected run exits 2 with one
error line, starts no kernel and writes nothing at all (not even inside outputs/)."""

from __future__ import annotations

import ast
import datetime as dt
import os
from pathlib import Path

import nbformat
import pytest
import yaml
from adv_support import MONTH, AdvEnv, family
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.engine import run as engine_run
from helpers.engine.params import (
    ParamError,
    check_parameter_files,
    check_safe_string,
    load_suite,
    resolve_parameters,
)

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PARAMS = (
    "      scale: {type: float, default: 1.0, min: 0.0, max: 10.0}\n"
    "      rows: {type: int, default: 5, min: 1, max: 50}\n"
    "      label: {type: str, default: plain}\n"
    "      draft: {type: bool, default: false}\n"
    "      style: {type: str, default: a, choices: [a, b]}\n"
)
ATTACKS = [
    "../../etc/passwd",
    "..",
    "/etc/passwd",
    "~root",
    "C:\\Windows",
    "a/../../b",
    "health\x00",
    "health\n--force",
    "$(rm -rf /)",
    "`id`",
    "health; rm -rf /",
    "__import__('os').system('id')",
    "'; import os; os._exit(1); '",
    "{{7*7}}",
    "%00",
    "health/../../x",
    "\u202ehtlaeh",
    "HEALTH",
    " health",
    "2025-03/../..",
    "2025-3",
    "2025-13",
    "9999-01",
    "-1",
    "1e309",
    "nan",
    "inf",
    "true; false",
]
attack = st.one_of(st.sampled_from(ATTACKS), st.text(min_size=1, max_size=30))


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def env(tmp_path) -> AdvEnv:
    return AdvEnv(tmp_path, [family("ok", "ok.ipynb", extra=PARAMS)])


def _refused(env: AdvEnv, argv: list[str], capsys) -> str:
    before = _tree(env.tmp)
    status = engine_run.cli(argv, facts=env.facts)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2, (argv, err)
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    assert _tree(env.tmp) == before  # nothing written anywhere, no kernel log
    return err[0]


@FUZZ
@given(where=st.sampled_from(["month", "dept", "notebook"]), value=attack)
def test_hostile_month_dept_notebook_are_refused(env, capsys, where, value):
    if value.strip() in {"health", "education", "province", "ok", "ok.ipynb", MONTH}:
        return  # a legitimate value
    argv = env.argv()
    if where == "month":
        argv[0:2] = [f"--month={value}"]
    else:
        argv.append(f"--{where}={value}")  # the = form: a value may start with '-'
    _refused(env, argv, capsys)


@FUZZ
@given(
    name=st.sampled_from(["scale", "rows", "draft", "style", "ok.scale", "nope", "ok.x"]),
    value=attack,
)
def test_hostile_param_values_are_refused(env, capsys, name, value):
    legit = {
        "scale": lambda v: _float_ok(v, 0, 10),
        "ok.scale": lambda v: _float_ok(v, 0, 10),
        "rows": lambda v: v.strip().lstrip("+-").isdigit() and 1 <= int(v) <= 50 and v.isascii(),
        "draft": lambda v: v.lower() in {"true", "false", "yes", "no", "1", "0"},
        "style": lambda v: v in {"a", "b"},
    }
    if name in legit and legit[name](value) and "\x00" not in value and value.isprintable():
        return
    _refused(env, [*env.argv(), "--param", f"{name}={value}"], capsys)


def _float_ok(v: str, lo: float, hi: float) -> bool:
    try:
        x = float(v)
    except ValueError:
        return False
    return lo <= x <= hi


def test_code_like_strings_reach_the_notebook_as_inert_literals(tmp_path):
    """A free-text parameter passes validation but papermill injects it as a literal: the
    injected cell is one assignment of a constant, whatever the text."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    payloads = [
        "__import__('os').system('id')",
        "'''; import os; os._exit(1); '''",
        '""" + __import__("os").getcwd() + """',
        "it\\'s; raise SystemExit #",
        "{{ 7*7 }} ${x} $(id) `id`",
    ]
    with pytest.raises(ParamError, match="control characters"):
        check_safe_string("label", '"""\nimport os\n"""')  # newlines never get through
    for text in payloads:
        check_safe_string("label", text)  # not a path trick: accepted as text
        nb = nbformat.v4.new_notebook(
            metadata={
                "kernelspec": {
                    "name": "kp-reports",
                    "display_name": "KP reports (Python 3.11)",
                    "language": "python",
                }
            }
        )
        cell = nbformat.v4.new_code_cell('label = "plain"')
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
        nbformat.write(nb, tmp_path / "p.ipynb")  # loaded as the engine loads notebooks
        nb = load_notebook_node(str(tmp_path / "p.ipynb"))
        out = parameterize_notebook(
            nb, {"label": text}, kernel_name="kp-reports", language="python"
        )
        injected = next(c for c in out.cells if "injected-parameters" in c.metadata.get("tags", []))
        tree = ast.parse(injected.source)
        assigns = [n for n in tree.body if isinstance(n, ast.Assign)]
        assert len(tree.body) == len(assigns) == 1
        assert ast.literal_eval(assigns[0].value) == text


BASE_SUITE = {
    "families": {
        "ok": {
            "title": "Ok",
            "notebook": "ok.ipynb",
            "scope": "department",
            "parameters": {
                "department": {"type": "department", "default": "health"},
                "month": {"type": "month", "default": "2025-03"},
                "rows": {"type": "int", "default": 5, "min": 1, "max": 50},
            },
        }
    },
    "formats": ["html"],
    "settings": {"timeout_seconds": 60, "jobs": 2},
}
SUITE_PATHS = [
    (),
    ("families",),
    ("families", "ok"),
    ("families", "ok", "typo_key"),
    ("families", "ok", "scope"),
    ("families", "ok", "notebook"),
    ("families", "ok", "title"),
    ("families", "ok", "applies_to"),
    ("families", "ok", "parameters"),
    ("families", "ok", "parameters", "rows"),
    ("families", "ok", "parameters", "rows", "type"),
    ("families", "ok", "parameters", "rows", "default"),
    ("families", "ok", "parameters", "rows", "min"),
    ("families", "ok", "parameters", "rows", "choices"),
    ("families", "ok", "parameters", "rows", "typo"),
    ("formats",),
    ("settings",),
    ("settings", "timeout_seconds"),
    ("settings", "recycle_after"),
    ("settings", "jobs"),
    ("settings", "isolation"),
    ("settings", "publisher"),
    ("unknown_top",),
]
yaml_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-10, 10**6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=10),
        st.sampled_from(ATTACKS + ["department", "month", "int", "auto", "warm", "ok.ipynb"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(path=st.sampled_from(SUITE_PATHS), value=yaml_values)
def test_any_suite_yaml_value_is_accepted_or_refused_cleanly(tmp_path_factory, path, value):
    import copy

    doc = copy.deepcopy(BASE_SUITE) if path else value
    if path:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    suite = tmp_path_factory.mktemp("suite") / "suite.yaml"
    suite.write_text(yaml.safe_dump(doc), encoding="utf-8")
    try:
        loaded = load_suite(suite)
        for fam in loaded.families.values():
            resolve_parameters(
                fam,
                month=MONTH,
                department="health" if fam.scope == "department" else None,
                overrides={},
                departments={"health"},
                month_range=(dt.date(2022, 7, 1), dt.date(2026, 6, 1)),
            )
    except ParamError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    # Accepted: then it is a suite the engine can use as declared.
    assert set(loaded.families) and set(loaded.formats) <= {"html", "pdf"}
    for fam in loaded.families.values():
        assert fam.notebook.endswith(".ipynb") and "/" not in fam.notebook
        assert {"month"} <= set(fam.parameters)


BAD_PARAMETER_FILES = [
    ("scorecard.yaml", "status:\n  tolerance: 2\n", "tolerance"),
    ("scorecard.yaml", "status:\n  tolerence: 0.1\n", "unknown status settings"),
    ("scorecard.yaml", "weigths: {}\n", "unknown keys"),
    ("scorecard.yaml", "default_weight: heavy\n", "default_weight"),
    ("scorecard.yaml", "scoring:\n  grades: [5]\n", "scorecard.yaml"),
    ("scorecard.yaml", "- just\n- a list\n", "mapping"),
    ("scorecard.yaml", "status: {tolerance: [\n", "not valid YAML"),
    ("pse.yaml", "deadline_days: -1\n", "deadline_days"),
    ("pse.yaml", "risk_rules:\n  high:\n    - {metric: x}\n", "risk rule"),
    ("pse.yaml", "reporting_quarter: '../../etc'\n", "reporting_quarter"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_PARAMETER_FILES)
def test_bad_parameter_files_stop_the_run_before_any_kernel(env, capsys, name, text, message):
    (env.suite.parent / name).write_text(text, encoding="utf-8")
    err = _refused(env, env.argv(), capsys)
    assert name in err and message in err, err


def test_the_real_parameter_files_pass(tmp_path):
    from helpers import paths

    check_parameter_files(paths.PARAMS_DIR)
    assert os.path.isfile(paths.PARAMS_DIR / "suite.yaml")
    load_suite(paths.PARAMS_DIR / "suite.yaml")
