"""``rnn-harness merge`` (harness/cli/merge.py, harness/report/merge.py): the shards of a
run merge into the run, other environments stay apart, and a row given twice, a missing
shard or another profile or seed is a usage error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.merge import merge_reports
from harness.report.model import merge_payloads
from tests.cli_helpers import run_cli, usage_error

TESTS = ("test_one", "test_two", "test_three")


def _report(
    statuses: dict[str, str],
    *,
    keras: str = "3.15.1",
    target: str = "keras3-jax",
    shard: str | None = None,
    seed: int = 0,
) -> dict:
    """A report of ``statuses`` (test -> status) on LSTM, as ``rnn-harness run`` writes it."""
    rows = [
        {"property": "paths_agree", "test": test, "layer": "LSTM", "status": status, "examples": 7}
        for test, status in statuses.items()
    ]
    info = {"name": target, "versions": {"keras": keras, "python": "3.11.7"}, "device": "cpu"}
    report = merge_payloads([{"target": info, "results": rows}], profile="ci", seed=seed)
    if shard is not None:
        report["shard"] = shard
    return report


def _write(tmp_path: Path, name: str, report: dict) -> str:
    path = tmp_path / name / "report.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(report), encoding="utf-8")
    return str(path)


def test_shards_merge_into_one_report_in_every_format_and_the_gate_passes(tmp_path, capsys):
    one = _write(tmp_path, "s1", _report({"test_one": "passed", "test_two": "passed"}, shard="1/2"))
    two = _write(tmp_path, "s2", _report({"test_three": "known_failure"}, shard="2/2"))
    out = tmp_path / "merged"
    assert main(["merge", one, str(Path(two).parent), "--out", str(out)]) == 0
    for name in ("report.json", "report.md", "report.html", "junit.xml"):
        assert (out / name).is_file()
    merged = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [t["name"] for t in merged["targets"]] == ["keras3-jax"]
    assert sorted(r["test"] for r in merged["results"]) == sorted(TESTS)
    assert merged["summary"]["passed"] == 2 and merged["summary"]["known_failure"] == 1
    assert [s["shard"] for s in merged["merged_from"]] == ["1/2", "2/2"]
    assert "shard" not in merged  # the whole run
    assert "gate: pass" in capsys.readouterr().out


def test_a_failure_in_any_shard_fails_the_merged_gate(tmp_path):
    one = _write(tmp_path, "s1", _report({"test_one": "passed"}, shard="1/2"))
    two = _write(tmp_path, "s2", _report({"test_two": "failed"}, shard="2/2"))
    assert main(["merge", one, two, "--out", str(tmp_path / "merged")]) == 1


def test_runs_of_one_target_on_other_versions_stay_apart_named_by_their_versions(tmp_path):
    old = _report({"test_one": "passed"}, keras="3.0.5")
    new = _report({"test_one": "failed"}, keras="3.15.1")
    merged = merge_reports([("old.json", old), ("new.json", new)])
    names = [t["name"] for t in merged["targets"]]
    assert names == ["keras3-jax (keras 3.0.5)", "keras3-jax (keras 3.15.1)"]
    assert {(r["target"], r["status"]) for r in merged["results"]} == {
        ("keras3-jax (keras 3.0.5)", "passed"),
        ("keras3-jax (keras 3.15.1)", "failed"),
    }


def test_runs_of_other_targets_merge_under_their_own_names():
    jax = _report({"test_one": "passed"})
    torch = _report({"test_one": "passed"}, target="keras3-torch")
    merged = merge_reports([("jax.json", jax), ("torch.json", torch)])
    assert [t["name"] for t in merged["targets"]] == ["keras3-jax", "keras3-torch"]
    assert merged["summary"]["passed"] == 2


@pytest.mark.parametrize(
    ("second", "fragment"),
    [
        ({"test_two": "failed"}, "('passed', then 'failed')"),  # a conflict
        ({"test_two": "passed"}, "(both 'passed')"),  # a duplicate
    ],
)
def test_a_row_given_twice_for_one_environment_is_a_usage_error(tmp_path, capsys, second, fragment):
    one = _write(tmp_path, "a", _report({"test_one": "passed", "test_two": "passed"}))
    two = _write(tmp_path, "b", _report(second))
    line = usage_error(capsys, ["merge", one, two, "--out", str(tmp_path / "merged")])
    assert f"{two} repeats a result of {one} for one environment: test_two" in line
    assert fragment in line
    assert not (tmp_path / "merged" / "report.json").exists()


def test_a_missing_shard_is_a_usage_error(tmp_path, capsys):
    one = _write(tmp_path, "s1", _report({"test_one": "passed"}, shard="1/3"))
    three = _write(tmp_path, "s3", _report({"test_three": "passed"}, shard="3/3"))
    line = usage_error(capsys, ["merge", one, three])
    assert "expected shards 1 to 3 of keras3-jax. Received no 2/3" in line


def test_a_shard_beside_the_whole_run_is_a_usage_error():
    whole = _report({"test_one": "passed"})
    shard = _report({"test_two": "passed"}, shard="1/1")
    with pytest.raises(Exception, match="expected the whole run or its shards, not both"):
        merge_reports([("whole.json", whole), ("shard.json", shard)])


def test_reports_of_other_seeds_are_a_usage_error(tmp_path, capsys):
    one = _write(tmp_path, "a", _report({"test_one": "passed"}, seed=0))
    two = _write(tmp_path, "b", _report({"test_two": "passed"}, seed=7))
    line = usage_error(capsys, ["merge", one, two])
    assert f"expected reports of one seed. Received seed 0 in {one} and 7 in {two}" in line


def test_a_missing_report_is_a_usage_error(tmp_path, capsys):
    line = usage_error(capsys, ["merge", str(tmp_path / "nope.json")])
    assert "does not exist" in line


# The end-to-end case: real runs, two tests on one layer, the survey profile (derandomized).
SMALL_RUN = [
    "run",
    "--targets",
    "keras3-tensorflow",
    "--properties",
    "reset_restores_zero_state,chunked_equals_whole",
    "--layers",
    "SimpleRNN",
    "--profile",
    "survey",
]
SAME = ("property", "test", "layer", "target", "status", "examples", "examples_that_could_fail")


def test_merged_shards_of_a_run_equal_the_unsharded_run(tmp_path):
    reports = {}
    for name, extra in (("whole", []), ("s1", ["--shard", "1/2"]), ("s2", ["--shard", "2/2"])):
        result = run_cli([*SMALL_RUN, *extra, "--out", str(tmp_path / name)], sabotage=False)
        assert result.returncode == 0, result.stdout + result.stderr
        reports[name] = json.loads((tmp_path / name / "report.json").read_text(encoding="utf-8"))
    assert [len(reports[s]["results"]) for s in ("s1", "s2")] == [1, 1]  # one test each
    assert reports["s1"]["shard"] == "1/2"
    assert "--shard 1/2" in reports["s1"]["replay_commands"][0]
    merged = merge_reports([(s, reports[s]) for s in ("s1", "s2")])

    def rows(report: dict) -> list[tuple]:
        return sorted(tuple(row[k] for k in SAME) for row in report["results"])

    assert rows(merged) == rows(reports["whole"])
    assert all(row[5] == 10 for row in rows(merged))  # survey's examples, each test
    assert merged["summary"] == reports["whole"]["summary"]
    assert merged["replay_commands"][0] == reports["whole"]["replay_commands"][0]
