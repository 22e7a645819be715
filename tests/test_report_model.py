"""The report model: merging per-target payloads, loading and validating report.json, exit codes.

Payloads are written out by hand in the shape the pytest plugin's
``ResultCollector`` writes, so no framework is needed. ``payload`` and ``result``
are shared with the writer and compare tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessUsageError
from harness.report.model import (
    RESULT_KEYS,
    SCHEMA,
    STATUSES,
    exit_code,
    load_report,
    merge_payloads,
    validate_report,
)

CREATED = "2026-11-26T12:00:00Z"
TF_VERSIONS = {"python": "3.11.7", "keras": "3.15.1", "tensorflow": "2.21.0"}
JAX_VERSIONS = {"python": "3.11.7", "keras": "3.15.1", "jax": "0.10.2"}


def result(prop: str, layer: str, status: str, **extra: Any) -> dict[str, Any]:
    """One row as the plugin writes it (target filled in by ``payload``)."""
    failed = status in ("failed", "error", "known_failure")
    row = {
        "property": prop,
        "layer": layer,
        "status": status,
        "examples": 10,
        "duration_s": 1.5,
        "max_abs_error": 0.25 if failed else 0.0,
        "tolerance": {"rtol": 1e-5, "atol": 1e-6},
        "message": f"{prop} on {layer} {status}" if failed or status == "skipped" else None,
        "counterexample": {"splits": [1, 2]} if failed else None,
        "reproducer": None,
        "known_failure": None,
        "nodeid": f"properties/test_{prop}.py::test_{prop}[{layer}]",
    }
    row.update(extra)
    return row


def payload(
    target: str, rows: list[dict[str, Any]], versions: dict[str, str] | None = None
) -> dict[str, Any]:
    """One ``--rnn-results`` payload for ``target``."""
    return {
        "profile": "ci",
        "seed": 0,
        "target": {"name": target, "versions": dict(versions or TF_VERSIONS), "device": "cpu"},
        "results": [{**row, "target": row.get("target", target)} for row in rows],
    }


def report_of(*payloads: dict[str, Any]) -> dict[str, Any]:
    """A merged report with a fixed timestamp."""
    return merge_payloads(list(payloads), profile="ci", seed=0, created=CREATED)


def one_of_each() -> dict[str, Any]:
    """A one-target report with one row of every status."""
    return report_of(
        payload("keras3-tensorflow", [result("chunked_equals_whole", "LSTM", s) for s in STATUSES])
    )


# --- merge -----------------------------------------------------------------------------


def test_merge_counts_every_status_and_always_has_every_status_key():
    rows = [result("chunked_equals_whole", layer, "passed") for layer in ("LSTM", "GRU")]
    rows.append(result("matches_reference", "LSTM", "failed"))
    report = report_of(payload("keras3-tensorflow", rows))

    assert report["summary"] == {
        "passed": 2,
        "failed": 1,
        "error": 0,
        "skipped": 0,
        "known_failure": 0,
        "fixed": 0,
        "flaky": 0,
        "not_run": 0,
    }


def test_merge_counts_one_of_each_status():
    assert one_of_each()["summary"] == dict.fromkeys(STATUSES, 1)


def test_merge_of_nothing_has_zero_counts_for_every_status():
    report = merge_payloads([], profile="dev", seed=None, created=CREATED)
    assert report["summary"] == dict.fromkeys(STATUSES, 0)
    assert report["results"] == [] and report["targets"] == []


def test_merge_writes_the_design_header():
    report = report_of(payload("keras3-tensorflow", [result("paths_agree", "GRU", "passed")]))
    assert list(report) == [
        "schema",
        "created",
        "profile",
        "seed",
        "targets",
        "results",
        "summary",
    ]
    assert report["schema"] == SCHEMA == "rnn-harness-report/2"
    assert (report["created"], report["profile"], report["seed"]) == (CREATED, "ci", 0)
    assert report["targets"] == [
        {"name": "keras3-tensorflow", "versions": TF_VERSIONS, "device": "cpu"}
    ]


def test_merge_sorts_rows_by_property_layer_target_and_keeps_ties_in_order():
    jax = [
        result("paths_agree", "LSTM", "passed"),
        result("chunked_equals_whole", "LSTM", "passed"),
    ]
    tf = [
        result("paths_agree", "GRU", "passed"),
        result("chunked_equals_whole", "LSTM", "failed", nodeid="first"),
        result("chunked_equals_whole", "LSTM", "passed", nodeid="second"),
    ]
    report = report_of(payload("keras3-tensorflow", tf), payload("keras3-jax", jax, JAX_VERSIONS))

    keys = [(r["property"], r["layer"], r["target"]) for r in report["results"]]
    assert keys == [
        ("chunked_equals_whole", "LSTM", "keras3-jax"),
        ("chunked_equals_whole", "LSTM", "keras3-tensorflow"),
        ("chunked_equals_whole", "LSTM", "keras3-tensorflow"),
        ("paths_agree", "GRU", "keras3-tensorflow"),
        ("paths_agree", "LSTM", "keras3-jax"),
    ]
    assert [r["nodeid"] for r in report["results"][1:3]] == ["first", "second"]


def test_merge_keeps_design_keys_first_and_plugin_extras_after():
    row = result("matches_reference", "GRU", "known_failure", known_failure="jax bug #1")
    report = report_of(payload("keras3-jax", [row], JAX_VERSIONS))

    merged = report["results"][0]
    assert tuple(merged)[: len(RESULT_KEYS)] == RESULT_KEYS
    assert merged["known_failure"] == "jax bug #1"
    assert merged["nodeid"] == "properties/test_matches_reference.py::test_matches_reference[GRU]"


def test_merge_fills_absent_row_keys_with_none_and_target_from_payload():
    sparse = {"property": "composition", "layer": "LSTM", "status": "passed"}
    report = report_of({"target": {"name": "keras3-torch"}, "results": [sparse]})

    merged = report["results"][0]
    assert merged["target"] == "keras3-torch"
    assert merged["counterexample"] is None and merged["reproducer"] is None
    assert set(RESULT_KEYS) <= set(merged)


def test_merge_lists_each_target_once_in_payload_order():
    first = payload("keras3-tensorflow", [result("paths_agree", "LSTM", "passed")])
    second = payload("keras3-jax", [result("paths_agree", "LSTM", "passed")], JAX_VERSIONS)
    again = payload("keras3-tensorflow", [result("paths_agree", "GRU", "passed")])
    report = report_of(first, second, again)

    assert [t["name"] for t in report["targets"]] == ["keras3-tensorflow", "keras3-jax"]
    assert len(report["results"]) == 3


def test_merge_rejects_two_payloads_for_one_target_with_different_versions():
    first = payload("keras3-tensorflow", [])
    other = payload("keras3-tensorflow", [], {**TF_VERSIONS, "keras": "3.16.0"})
    with pytest.raises(HarnessUsageError, match="expected one payload per target"):
        report_of(first, other)


def test_merge_rejects_an_unknown_status_and_names_it():
    bad = payload("keras3-tensorflow", [result("paths_agree", "LSTM", "bogus")])
    with pytest.raises(HarnessUsageError, match=r"Received: 'bogus'"):
        report_of(bad)


def test_merge_rejects_a_payload_without_a_target():
    with pytest.raises(HarnessUsageError, match="expected a JSON object with a 'target'"):
        report_of({"results": []})


def test_merge_stamps_the_current_utc_time_when_created_is_not_given():
    report = merge_payloads([], profile="ci", seed=0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report["created"])


# --- load_report -----------------------------------------------------------------------


def test_load_report_returns_what_was_written(tmp_path: Path):
    report = one_of_each()
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    assert load_report(path) == report


def test_load_report_of_a_missing_file_names_it_and_the_fix(tmp_path: Path):
    path = tmp_path / "reports" / "x.json"
    with pytest.raises(HarnessUsageError) as info:
        load_report(path)
    message = str(info.value)
    assert str(path) in message and "does not exist" in message
    assert "rnn-harness run" in message
    assert "\n" not in message


def test_load_report_of_a_folder_is_a_usage_error(tmp_path: Path):
    with pytest.raises(HarnessUsageError, match="cannot be read as a report"):
        load_report(tmp_path)


def test_load_report_of_invalid_json_says_where_it_broke(tmp_path: Path):
    path = tmp_path / "report.json"
    path.write_text('{"schema": "rnn-harness-report/1",\n  oops}', encoding="utf-8")
    with pytest.raises(HarnessUsageError) as info:
        load_report(path)
    message = str(info.value)
    assert "is not JSON" in message and "line 2" in message
    assert "rnn-harness run" in message


def test_load_report_of_another_schema_shows_expected_and_received(tmp_path: Path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({**one_of_each(), "schema": "foo"}), encoding="utf-8")
    with pytest.raises(HarnessUsageError) as info:
        load_report(path)
    assert str(info.value) == (
        f"{path} is not an rnn-harness report: expected schema 'rnn-harness-report/1' or "
        "'rnn-harness-report/2'. "
        "Received: 'foo'. Pass a report.json written by `rnn-harness run`"
    )


def test_load_report_of_a_report_missing_keys_names_them(tmp_path: Path):
    report = one_of_each()
    del report["summary"], report["targets"]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    with pytest.raises(HarnessUsageError) as info:
        load_report(path)
    message = str(info.value)
    assert "Received no 'targets', 'summary'" in message
    assert "rnn-harness run" in message


def _broken_row_report(change: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    report = one_of_each()
    report["results"][0].update(change)
    if drop:
        del report["results"][0][drop]
    return report


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([1, 2], "Received: a JSON list"),
        ({**one_of_each(), "results": {}}, "expected 'results' to be a JSON array"),
        ({**one_of_each(), "summary": []}, "expected 'summary' to be a JSON object"),
        (_broken_row_report({"status": "ok"}), "expected results[0].status in"),
        (_broken_row_report({}, drop="layer"), "Received no 'layer'"),
    ],
)
def test_validate_report_rejects_malformed_reports(data: Any, expected: str):
    with pytest.raises(HarnessUsageError, match=re.escape(expected)):
        validate_report(data, source="r.json")


def _hand_merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two runs of one target pasted into one report by hand: one name, two entries."""
    return {
        **new,
        "targets": old["targets"] + new["targets"],
        "results": old["results"] + new["results"],
    }


def test_a_report_naming_one_target_twice_is_refused_in_one_line_naming_it(tmp_path: Path):
    rows = [result("paths_agree", "LSTM", "passed")]
    old = report_of(payload("keras3-tensorflow", rows, {**TF_VERSIONS, "keras": "3.0.5"}))
    new = report_of(payload("keras3-tensorflow", rows))
    path = tmp_path / "report.json"
    path.write_text(json.dumps(_hand_merged(old, new)), encoding="utf-8")
    with pytest.raises(HarnessUsageError) as info:
        load_report(path)
    message = str(info.value)
    assert "\n" not in message
    assert "Received 'keras3-tensorflow' twice (targets[0] and targets[1])" in message
    assert message.startswith(f"{path} is not a valid rnn-harness report")


def test_a_target_that_is_not_an_object_is_refused():
    report = {**one_of_each(), "targets": ["keras3-tensorflow"]}
    with pytest.raises(HarnessUsageError, match=re.escape("expected targets[0] to be a JSON")):
        validate_report(report, source="r.json")


def test_merged_runs_of_one_target_in_other_environments_load_and_merge_again(tmp_path):
    # rnn-harness merge names each environment apart, so its report passes the check.
    from harness.report.merge import merge_reports

    rows = [result("paths_agree", "LSTM", "passed")]
    strict = payload("keras3-jax", rows, JAX_VERSIONS)
    native = payload("keras3-jax", rows, JAX_VERSIONS)
    strict["target"]["precision"], native["target"]["precision"] = "strict", "native"
    old = payload("keras3-jax", rows, {**JAX_VERSIONS, "keras": "3.0.5"})
    reports = [(f"{i}.json", report_of(p)) for i, p in enumerate((strict, native, old))]
    merged = merge_reports(reports, created=CREATED)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(merged), encoding="utf-8")
    names = [t["name"] for t in load_report(path)["targets"]]
    assert len(names) == 3 and len(set(names)) == 3, names
    again = merge_reports([("merged.json", load_report(path))], created=CREATED)
    assert [t["name"] for t in validate_report(again)["targets"]] == names


# --- exit_code -------------------------------------------------------------------------


def test_exit_code_is_zero_when_nothing_failed_or_errored():
    rows = [result("paths_agree", "LSTM", s) for s in ("passed", "skipped", "known_failure")]
    rows.append(result("paths_agree", "GRU", "fixed", details={"recorded_versions": False}))
    assert exit_code(report_of(payload("keras3-tensorflow", rows))) == 0


def test_a_fix_on_the_versions_a_known_failure_was_recorded_for_fails_the_gate():
    rows = [result("paths_agree", "LSTM", "passed"), result("paths_agree", "GRU", "fixed")]
    assert exit_code(report_of(payload("keras3-tensorflow", rows))) == 1


@pytest.mark.parametrize("status", ["failed", "error"])
def test_exit_code_is_one_when_any_result_failed_or_errored(status: str):
    rows = [result("paths_agree", "LSTM", "passed"), result("paths_agree", "GRU", status)]
    assert exit_code(report_of(payload("keras3-tensorflow", rows))) == 1


def _gpu_payload(rows: list[dict[str, Any]], *, gate: bool) -> dict[str, Any]:
    """A GPU target's payload; ``gate=False`` is what a ``native`` run's target info says."""
    data = payload("keras3-jax", rows, JAX_VERSIONS)
    data["target"].update(device="gpu", precision="native" if not gate else "strict")
    if not gate:
        data["target"].update(gate=False, detection_floor="x1.01 caught, x1.003 not")
    return data


@pytest.mark.parametrize("status", ["failed"])
def test_an_informational_target_reports_its_failures_but_does_not_gate(status: str):
    from harness.report.writers import render_junit, replay_lines, summary_line

    rows = [result("paths_agree", "LSTM", "passed"), result("paths_agree", "GRU", status)]
    informational = report_of(_gpu_payload(rows, gate=False))
    assert exit_code(informational) == 0
    line = summary_line(informational)
    assert line.startswith("PASSED") and f"1 {status}" in line and "not gated" in line
    assert any("detection floor is x1.01 caught" in x for x in replay_lines(informational))
    junit = render_junit(informational)
    assert 'failures="0"' in junit and 'errors="0"' in junit
    assert f"not gated (x1.01 caught, x1.003 not): {status}" in junit
    # The same rows on a gating target (a GPU's strict run) fail the gate.
    gating = report_of(_gpu_payload(rows, gate=True))
    assert exit_code(gating) == 1 and summary_line(gating).startswith("FAILED")
    assert 'failures="0" errors="0"' not in render_junit(gating)


@pytest.mark.parametrize(
    "status, tolerance",
    [
        ("error", {"rtol": 1e-3, "atol": 8e-3}),  # a crash: no tolerance excuses it
        ("flaky", {"rtol": 1e-3, "atol": 8e-3}),
        ("failed", {"rtol": 0.0, "atol": 0.0}),  # an exact check: TF32 cannot move it
        ("failed", None),  # a check with no tolerance (e.g. a wrong batch accepted)
    ],
)
def test_an_informational_target_still_gates_what_no_tolerance_excuses(status, tolerance):
    rows = [result("reset_restores_zero_state", "GRU", status, tolerance=tolerance)]
    assert exit_code(report_of(_gpu_payload(rows, gate=False))) == 1


@pytest.mark.parametrize("device, precision", [("cpu", "native"), ("gpu", "strict")])
def test_gate_false_is_believed_only_of_a_gpu_native_run(device, precision):
    data = _gpu_payload([result("paths_agree", "GRU", "failed")], gate=False)
    data["target"].update(device=device, precision=precision)  # an edited or foreign report
    assert exit_code(report_of(data)) == 1


def test_an_informational_target_does_not_hide_a_gating_targets_failure():
    bad = [result("paths_agree", "GRU", "failed")]
    report = report_of(_gpu_payload(bad, gate=False), payload("keras3-tensorflow", bad))
    assert exit_code(report) == 1
