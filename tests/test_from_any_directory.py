"""Installed, rnn-harness gives the same answers from any directory.

The reviewed known failures ship in the package and apply wherever it runs:
``rnn-harness run`` from a directory of a user's own, and plain pytest on the
installed property modules (``pytest --pyargs harness.properties``), report the
documented removal of ``Model.reset_states()`` as the known failure it is, not
as a new one. One real property (``model_reset_states``, LSTM, profile ci) runs
in each test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.known_failures import SHIPPED_KNOWN_FAILURES

REPO = Path(__file__).resolve().parent.parent
PROPERTY = "harness.properties.test_model_reset_states"
ONE_CELL = ["--rnn-layers=LSTM", "--hypothesis-profile=ci", "-p", "no:cacheprovider"]


def environment(**extra: str) -> dict[str, str]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "RNN_HARNESS_", "CI"))
    }
    return {**environ, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def test_rnn_harness_run_applies_the_shipped_known_failures_from_another_directory(tmp_path):
    command = [sys.executable, "-m", "harness", "run", "--properties", "model_reset_states"]
    command += ["--layers", "LSTM", "--targets", "keras3-tensorflow", "--profile", "ci"]
    result = subprocess.run(
        command,
        cwd=tmp_path,  # no known_failures.toml here, and no checkout
        env=environment(PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert [(r["test"], r["status"]) for r in report["results"]] == [
        ("test_model_reset_states", "known_failure")
    ]
    assert report["known_failures"] == [str(SHIPPED_KNOWN_FAILURES)]
    report_md = (tmp_path / "reports" / "latest" / "report.md").read_text()
    assert f"- known failures: {SHIPPED_KNOWN_FAILURES}" in report_md.splitlines()
    assert f"known-failures={SHIPPED_KNOWN_FAILURES}" in result.stdout


def test_plain_pytest_runs_the_installed_properties_with_known_failures_from_anywhere(tmp_path):
    """The wheel's layout (pyproject.toml: the property modules force-included as
    harness/properties), on the path ahead of this checkout, run from an empty directory."""
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "harness", site / "harness", ignore=ignore)
    shutil.copytree(REPO / "properties", site / "harness" / "properties", ignore=ignore)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    results = tmp_path / "results.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            PROPERTY,
            *ONE_CELL,
            f"--rnn-results={results}",
        ],
        cwd=elsewhere,
        env=environment(PYTHONPATH=str(site)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shipped = site / "harness" / "data" / "known_failures.toml"
    assert f"rnn-harness: known failures: {shipped}" in result.stdout
    payload = json.loads(results.read_text())
    assert payload["known_failures"] == [str(shipped)]
    assert [(r["layer"], r["status"]) for r in payload["results"]] == [("LSTM", "known_failure")]
