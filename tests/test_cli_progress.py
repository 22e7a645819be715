"""harness/cli/progress.py: the progress line counts tests, estimates the time left, and the
summary table shows each cell's worst status with its counts."""

from __future__ import annotations

import json

from rich.console import Console

from harness.cli.progress import TargetProgress, duration_text, summary_table
from tests.fake_property import REPO, run_fake
from tests.test_report_model import payload, report_of, result


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def write(path, *events) -> None:
    with path.open("a", encoding="utf-8") as stream:
        for event in events:
            stream.write(json.dumps(event) + "\n")


def collected(n: int) -> dict:
    tests = [
        {"nodeid": f"t.py::test_{i}[LSTM]", "property": "p", "test": f"test_{i}", "layer": "LSTM"}
        for i in range(n)
    ]
    return {"event": "collected", "tests": tests}


def finish(i: int, status: str = "passed") -> dict:
    return {
        "event": "finish",
        "nodeid": f"t.py::test_{i}[LSTM]",
        "property": "p",
        "test": f"test_{i}",
        "layer": "LSTM",
        "status": status,
        "examples": 10,
        "duration_s": 1.0,
    }


def start(i: int) -> dict:
    return {"event": "start", "nodeid": f"t.py::test_{i}[LSTM]"}


def test_progress_counts_tests_of_the_collected_total_and_estimates_the_time_left(tmp_path):
    path, clock = tmp_path / "p.jsonl", Clock()
    progress = TargetProgress("keras3-jax", 3, path, clock=clock)
    progress.poll()
    assert progress.line() == (
        "keras3-jax: collecting the tests of 3 property x layer cells, 0s elapsed"
    )
    clock.now += 20  # imports and collection
    # with -n 2 both workers list the same tests: counted once
    write(path, collected(8), collected(8), start(0))
    progress.poll()
    clock.now += 30
    write(path, finish(0), start(1))
    progress.poll()
    clock.now += 30
    write(path, finish(1, "failed"), start(2))
    progress.poll()
    # 2 of 8 tests in the 60 s since the first started: 30 s a test, 6 tests left
    assert progress.line() == (
        "keras3-jax: 2/8 tests done, 20 examples, 1 failing, 1m20s elapsed, about 3m00s left; "
        "running test_2[LSTM]"
    )


def test_progress_reads_a_line_only_once_it_is_complete(tmp_path):
    path = tmp_path / "p.jsonl"
    progress = TargetProgress("keras3-jax", 1, path, clock=Clock())
    text = json.dumps(collected(1)) + "\n" + json.dumps(finish(0))
    path.write_text(text[:-5], encoding="utf-8")
    progress.poll()
    assert progress.total == 1 and progress.done == 0
    path.write_text(text + "\n", encoding="utf-8")
    progress.poll()
    assert progress.done == 1
    assert "1/1 tests done" in progress.line() and "left" not in progress.line()


def test_durations_read_at_a_glance():
    assert [duration_text(s) for s in (0, 59.4, 61, 3599, 3725)] == [
        "0s",
        "59s",
        "1m01s",
        "59m59s",
        "1h02m",
    ]


def table_text(report: dict) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(summary_table(report))
    return console.export_text()


def test_summary_table_shows_a_cells_worst_status_with_counts_not_its_last_row():
    rows = [result("composition", "LSTM", "known_failure", test=f"test_{i}") for i in range(2)] + [
        result("composition", "LSTM", "passed", test=f"test_{i}") for i in range(2, 7)
    ]
    rows.append(result("chunked_equals_whole", "LSTM", "passed"))
    text = table_text(report_of(payload("keras3-tensorflow", rows)))
    lines = {line.split("│")[1].strip(): line for line in text.splitlines() if "│" in line}
    assert "known 2 · passed 5" in lines["composition"]
    assert lines["chunked_equals_whole"].split("│")[3].strip() == "passed"
    assert "worst first" in text  # the caption says what the counts are


PASSING_PROPERTY = """
import pytest
from hypothesis import given, strategies as st

pytestmark = pytest.mark.rnn_property("chunked_equals_whole")


@given(x=st.integers(0, 10))
def test_one(target, layer_kind, check, x):
    check.example(x=x)


@pytest.mark.parametrize("path", ["call", "fit"])
@given(x=st.integers(0, 10))
def test_two(target, layer_kind, check, x, path):
    check.example(x=x)
"""


def test_the_plugin_lists_the_collected_tests_once_per_worker_and_names_finished_ones(tmp_path):
    """With -n 2 the controller collects nothing: each worker lists the same tests, and the
    progress line counts them once."""
    progress_file = tmp_path / "progress.jsonl"
    result = run_fake(
        tmp_path,
        {"test_fake_property.py": PASSING_PROPERTY},
        "-n",
        "2",
        "--rnn-layers=LSTM,GRU",
        f"--rnn-progress={progress_file}",
        "--hypothesis-profile=dev",
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    events = [json.loads(line) for line in progress_file.read_text().splitlines()]
    lists = [e["tests"] for e in events if e["event"] == "collected"]
    assert len(lists) == 2 and lists[0] == lists[1]
    assert sorted((t["test"], t["layer"]) for t in lists[0]) == [
        ("test_one", "GRU"),
        ("test_one", "LSTM"),
        ("test_two[call]", "GRU"),
        ("test_two[call]", "LSTM"),
        ("test_two[fit]", "GRU"),
        ("test_two[fit]", "LSTM"),
    ]
    finished = sorted(e["test"] for e in events if e["event"] == "finish")
    assert finished == sorted(t["test"] for t in lists[0])
    progress = TargetProgress("keras3-tensorflow", 2, progress_file)
    progress.poll()
    assert "6/6 tests done" in progress.line()
