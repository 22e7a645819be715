"""A known failure cannot hide a new bug: what the gate says for a cell with a known failure.

A small property module, run by the real plugin in a fresh pytest process, fails
in chosen ways; a known-failures file records one of them, with a signature and a
counterexample. Only that failure is known: another exception type, or another
failing check, in the same cell fails the gate; a recorded example that no
longer fails on the versions it was recorded for reads ``fixed`` and fails the
gate too. Examples go on past a known failure: the row says how many hit it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from harness.known_failures import SHIPPED_KNOWN_FAILURES
from harness.report.model import exit_code, merge_payloads

REPO = Path(__file__).resolve().parent.parent
# A directory of property tests gives them their short fixture names in its conftest.
CONFTEST = "from harness.property_fixtures import check, layer_kind, target  # noqa: F401\n"
PROPERTY = """
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.rnn_property("chunked_equals_whole")
MODE = os.environ["FAKE_MODE"]


@given(data=st.data())
def test_fake(target, layer_kind, check, data):
    x = data.draw(st.integers(0, 9), label="x")
    check.example(x=x)
    if MODE in ("known", "known+crash", "known+check") and x % 2 == 0:
        check.fail(f"the known bug at {x}")
    if MODE == "known+crash" and x == 7:
        raise RuntimeError("a new crash in the same cell")
    if MODE == "known+check" and x == 7:
        check.fail(f"another check fails at {x}")
"""
ENTRY = """
[[known_failure]]
property = "chunked_equals_whole"
test = "test_fake"
layer = "LSTM"
target = "keras3-tensorflow"
versions = {{ keras = "=={keras}" }}
reason = "the known bug"
signature = {{ check = 'the known bug at \\d+' }}
counterexample = {{ LSTM = "cx.json" }}
"""


def run_cell(
    tmp_path: Path, mode: str, *, keras: str | None = None, separate: bool = False
) -> dict:
    """Run the fake property in ``mode``; return its one result row, the gate's exit code
    and the known-failures files the run names. ``separate``: the known-failures path as
    a token of its own after the option, not ``--rnn-known-failures=PATH``."""
    (tmp_path / "test_fake_property.py").write_text(PROPERTY, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "kf.toml").write_text(
        ENTRY.format(keras=keras or metadata.version("keras")), encoding="utf-8"
    )
    failure = {"exception": "PropertyFailure", "check": "the known bug at 4", "message": "..."}
    recorded = {"failure": failure, "example": {"x": 4, "_names": ["x"], "_types": {}}}
    (tmp_path / "cx.json").write_text(json.dumps(recorded), encoding="utf-8")
    results = tmp_path / f"{mode}.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), FAKE_MODE=mode, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("CI", None)
    known = tmp_path / "kf.toml"
    known_option = (
        ["--rnn-known-failures", str(known)] if separate else [f"--rnn-known-failures={known}"]
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tmp_path / "test_fake_property.py"),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--rnn-layers=LSTM",
            *known_option,
            f"--rnn-results={results}",
            "--hypothesis-profile=ci",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert results.is_file(), run.stdout + run.stderr
    payload = json.loads(results.read_text())
    (row,) = payload["results"]
    row["gate"] = exit_code(merge_payloads([payload], profile="ci", seed=0))
    row["files"] = payload["known_failures"]
    return row


def test_the_recorded_failure_alone_is_known_and_every_example_still_runs(tmp_path):
    row = run_cell(tmp_path, "known")
    # The project's file adds to the reviewed file shipped with rnn-harness.
    assert row["files"] == [str(SHIPPED_KNOWN_FAILURES), str(tmp_path / "kf.toml")]
    assert row["status"] == "known_failure", row["message"]
    assert row["gate"] == 0
    hits = row["details"]["known_hits"]
    (hit,) = hits.values()
    assert hit["examples"] >= 2  # the replayed example and at least one drawn one
    assert row["details"]["replays"] == {next(iter(hits)): "reproduced"}
    assert row["examples"] >= 10  # the search went on past the known failures
    assert row["details"]["examples_passed"] == row["examples"] - hit["examples"]


@pytest.mark.parametrize("mode", ["known+crash", "known+check"])
def test_another_failure_in_the_same_cell_is_new_and_fails_the_gate(tmp_path, mode):
    row = run_cell(tmp_path, mode)
    assert row["status"] in ("failed", "error")
    assert row["gate"] == 1
    assert "crash" in row["message"] or "another check" in row["message"]
    assert row["counterexample"]["x"] == 7


def test_a_recorded_failure_that_no_longer_fails_is_fixed_and_fails_the_gate(tmp_path):
    row = run_cell(tmp_path, "healthy")
    assert row["status"] == "fixed"
    assert "did not reproduce on the versions it was recorded for" in row["message"]
    assert row["gate"] == 1


def test_the_path_may_follow_the_option_as_a_token_of_its_own(tmp_path):
    row = run_cell(tmp_path, "known", separate=True)
    assert row["status"] == "known_failure", row["message"]
    assert row["files"][-1] == str(tmp_path / "kf.toml")


def test_on_other_versions_the_entry_does_not_apply(tmp_path):
    row = run_cell(tmp_path, "known", keras="0.0.1")
    assert row["status"] == "failed"
    assert row["gate"] == 1


NOT_GIVEN = """
import json
import os

import pytest
from hypothesis import Phase, settings

SEEN = {}


def observe(name):
    SEEN[name] = [settings.get_current_profile_name(), Phase.shrink in settings().phases]
    with open(os.environ["SEEN"], "w") as stream:
        json.dump(SEEN, stream)


@pytest.mark.rnn_property("state_machine")
def test_state_machine(target, layer_kind, check):
    observe("known")
    check.example(x=1)
    check.fail("the known bug at 1")


def test_after():
    observe("after")
"""
NOT_GIVEN_ENTRY = """
[[known_failure]]
property = "state_machine"
test = "test_state_machine"
layer = "LSTM"
target = "keras3-tensorflow"
versions = {{ keras = "=={keras}" }}
reason = "the known bug"
signature = {{ check = 'the known bug at \\d+' }}
"""


def test_a_known_failure_of_a_test_that_is_not_given_runs_it_unshrunk_then_restores_the_profile(
    tmp_path,
):
    """Like the state machine: Hypothesis runs inside the test, under the loaded profile."""
    (tmp_path / "test_not_given.py").write_text(NOT_GIVEN, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    known = tmp_path / "kf.toml"
    known.write_text(NOT_GIVEN_ENTRY.format(keras=metadata.version("keras")), encoding="utf-8")
    results, seen = tmp_path / "results.json", tmp_path / "seen.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), SEEN=str(seen), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("CI", None)
    options = ["-p", "no:cacheprovider", "-p", "no:randomly", "--rnn-layers=LSTM"]
    options += ["--rnn-no-shipped-known-failures", f"--rnn-known-failures={known}"]
    options += [f"--rnn-results={results}"]
    options += ["--hypothesis-profile=ci"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path / "test_not_given.py"), *options],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert results.is_file(), run.stdout + run.stderr
    payload = json.loads(results.read_text())
    (row,) = payload["results"]
    assert row["status"] == "known_failure", row["message"]
    assert exit_code(merge_payloads([payload], profile="ci", seed=0)) == 0
    observed = json.loads(seen.read_text())
    assert observed == {"known": ["rnn-harness-known-failure", False], "after": ["ci", True]}
