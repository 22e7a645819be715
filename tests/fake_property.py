"""Fake property modules, run by the real plugin in a fresh pytest process.

What the gate, known-failure and progress tests share: ``run_fake`` writes the
modules and a conftest into a temporary directory and runs pytest on them with
the plugin (no framework needed: a fake property only records examples and
fails as told); ``fake_results`` reads back the results file that run writes,
and ``gate`` is the exit code the gate gives it. ``known_failure_toml`` writes
one reviewed entry in the known-failures file format.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from harness.report.model import exit_code, merge_payloads

REPO = Path(__file__).resolve().parent.parent
# A directory of property tests gives them their short fixture names in its conftest.
SHORT_NAMES = "from harness.property_fixtures import check, layer_kind, target  # noqa: F401\n"


def run_fake(
    tmp_path: Path,
    modules: dict[str, str],
    *options: str,
    conftest: str = SHORT_NAMES,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    """Write ``modules`` (file name: source) and ``conftest`` into ``tmp_path``; run pytest
    on those modules with ``options``, from ``cwd`` (default ``tmp_path``), in a fresh
    process that imports the harness from this repository.

    ``env`` adds to this process's environment, less ``CI`` (Hypothesis would swap in its
    own profile) and ``PYTEST_ADDOPTS`` (the options are the ones given here).
    """
    for name, source in modules.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(conftest, encoding="utf-8")
    environment = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    environment.pop("CI", None)
    environment.pop("PYTEST_ADDOPTS", None)
    paths = [str(tmp_path / name) for name in sorted(modules)]
    plugins = ["-p", "no:cacheprovider", "-p", "no:randomly"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *paths, *plugins, *options],
        cwd=cwd or tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def fake_results(tmp_path: Path, modules: dict[str, str], *options: str, **kwargs) -> tuple:
    """``run_fake`` with ``--rnn-results``: the results payload it wrote, and the run's output
    (stdout, then stderr; their last 3000 characters each). Fails, with that output, where the
    run wrote no results."""
    results = tmp_path / "results.json"
    run = run_fake(tmp_path, modules, *options, f"--rnn-results={results}", **kwargs)
    output = run.stdout[-3000:] + run.stderr[-3000:]
    assert results.is_file(), output
    return json.loads(results.read_text()), output


def gate(payload: dict) -> int:
    """The gate's exit code for one target's results payload, merged as ``rnn-harness run`` does."""
    return exit_code(merge_payloads([payload], profile="ci", seed=0))


def known_failure_toml(
    property_id: str, layer: str, check: str, reason: str, *, test="", keras="", counterexample=""
) -> str:
    """One known-failures entry on keras3-tensorflow whose signature is a ``check`` regex:
    for ``test`` (default ``test_<property_id>``), pinned to ``keras`` (default: the installed
    one), with ``counterexample`` as the recorded example's file for ``layer`` where given."""
    keras = keras or metadata.version("keras")
    lines = [
        "[[known_failure]]",
        f'property = "{property_id}"',
        f'test = "{test or f"test_{property_id}"}"',
        f'layer = "{layer}"',
        'target = "keras3-tensorflow"',
        f'versions = {{ keras = "=={keras}" }}',
        f'reason = "{reason}"',
        f"signature = {{ check = '{check}' }}",
    ]
    if counterexample:
        lines.append(f'counterexample = {{ {layer} = "{counterexample}" }}')
    return "\n" + "\n".join(lines) + "\n"
