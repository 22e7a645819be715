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
from pathlib import Path

import pytest

from harness.known_failures import SHIPPED_KNOWN_FAILURES
from tests.fake_property import fake_results, gate, known_failure_toml

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


def run_cell(
    tmp_path: Path, mode: str, *, keras: str | None = None, separate: bool = False
) -> dict:
    """Run the fake property in ``mode``; return its one result row, the gate's exit code
    and the known-failures files the run names. ``separate``: the known-failures path as
    a token of its own after the option, not ``--rnn-known-failures=PATH``."""
    known = tmp_path / "kf.toml"
    entry = known_failure_toml(
        "chunked_equals_whole",
        "LSTM",
        check=r"the known bug at \d+",
        reason="the known bug",
        test="test_fake",
        keras=keras or "",
        counterexample="cx.json",
    )
    known.write_text(entry, encoding="utf-8")
    failure = {"exception": "PropertyFailure", "check": "the known bug at 4", "message": "..."}
    recorded = {"failure": failure, "example": {"x": 4, "_names": ["x"], "_types": {}}}
    (tmp_path / "cx.json").write_text(json.dumps(recorded), encoding="utf-8")
    known_option = (
        ["--rnn-known-failures", str(known)] if separate else [f"--rnn-known-failures={known}"]
    )
    payload, _ = fake_results(
        tmp_path,
        {"test_fake_property.py": PROPERTY},
        "--rnn-layers=LSTM",
        *known_option,
        "--hypothesis-profile=ci",
        env={"FAKE_MODE": mode},
    )
    (row,) = payload["results"]
    row["gate"] = gate(payload)
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


def test_a_known_failure_of_a_test_that_is_not_given_runs_it_unshrunk_then_restores_the_profile(
    tmp_path,
):
    """Like the state machine: Hypothesis runs inside the test, under the loaded profile."""
    known, seen = tmp_path / "kf.toml", tmp_path / "seen.json"
    entry = known_failure_toml(
        "state_machine", "LSTM", check=r"the known bug at \d+", reason="the known bug"
    )
    known.write_text(entry, encoding="utf-8")
    payload, _ = fake_results(
        tmp_path,
        {"test_not_given.py": NOT_GIVEN},
        "--rnn-layers=LSTM",
        "--rnn-no-shipped-known-failures",
        f"--rnn-known-failures={known}",
        "--hypothesis-profile=ci",
        env={"SEEN": str(seen)},
    )
    (row,) = payload["results"]
    assert row["status"] == "known_failure", row["message"]
    assert gate(payload) == 0
    observed = json.loads(seen.read_text())
    assert observed == {"known": ["rnn-harness-known-failure", False], "after": ["ci", True]}
