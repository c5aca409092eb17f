"""JupyterLab in a real browser: a table run in a notebook carries the report's table style, and a
bad department shows as one line.

Starts `jupyter lab` on a free loopback port over a temporary folder, drives it with Playwright
on /usr/bin/chromium, then stops the server. About 30-60 s on 2 cores.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from browser import ARGS, CHROMIUM, MARKS

TOKEN = "kp-test-token"

pytestmark = [*MARKS, pytest.mark.e2e]

CELL_TABLE = (
    "import pandas as pd\n"
    "from helpers.present import apply_theme, table\n"
    "apply_theme()\n"
    "table(pd.DataFrame({'Service': ['Schools', 'Clinics'], 'Share': [0.81, 0.64]}),\n"
    "      caption='Satisfaction by service', formats={'Share': 'pct'})"
)
CELL_BAD = "from helpers.data import warehouse as wh\nwh.department('Finance')"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, kp_small_warehouse):
    folder = tmp_path_factory.mktemp("lab")
    config = tmp_path_factory.mktemp("lab-config")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "kp-reports",
        "display_name": "KP reports (Python 3.11)",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(CELL_TABLE), nbformat.v4.new_code_cell(CELL_BAD)]
    nbformat.write(nb, folder / "t.ipynb")
    port = _free_port()
    env = dict(os.environ, KP_WAREHOUSE=str(kp_small_warehouse), JUPYTER_CONFIG_DIR=str(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1", f"--ServerApp.token={TOKEN}", f"--notebook-dir={folder}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("jupyter lab did not start")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_tables_look_like_the_report_and_errors_are_one_line(lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{lab}/lab/tree/t.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            try:  # a fresh server may ask which kernel: the notebook's own is preselected
                page.wait_for_selector(".jp-Dialog .jp-mod-accept", timeout=20_000)
                page.click(".jp-Dialog .jp-mod-accept")
            except PlaywrightTimeout:
                pass
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000
            )
            page.click(".jp-Cell .jp-InputArea-editor")
            page.keyboard.press("Shift+Enter")  # the table cell
            try:
                page.wait_for_selector("table.kp-table", timeout=90_000)
            except Exception:
                page.screenshot(path=str(Path(os.environ.get("KP_LAB_SHOT", "/tmp")) / "lab.png"))
                raise
            page.keyboard.press("Shift+Enter")  # the bad department
            error = page.wait_for_selector(".jp-OutputArea-output[data-mime-type*='stderr']",
                                           timeout=120_000)  # fmt: skip
            header = page.eval_on_selector(
                "table.kp-table th", "e => getComputedStyle(e).backgroundColor"
            )
            first = page.eval_on_selector("table.kp-table td", "e => getComputedStyle(e).textAlign")
            num = page.eval_on_selector(
                "table.kp-table td.num", "e => getComputedStyle(e).textAlign"
            )
            text = error.inner_text().strip()
        finally:
            browser.close()
    assert header == "rgb(232, 242, 236)"  # --kp-green-light, as in the published report
    assert (first, num) == ("left", "right")
    assert text.splitlines() == [
        "UnknownDepartment: unknown department 'Finance' (not in the registry); "
        "did you mean 'finance'?"
    ]
