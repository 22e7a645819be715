"""compare: what a framework upgrade broke, fixed, added, removed and which versions moved."""

from __future__ import annotations

import re
from typing import Any

from harness.report.compare import (
    StatusChange,
    VersionChange,
    compare_reports,
    render_compare_html,
    render_compare_markdown,
)
from tests.test_report_model import JAX_VERSIONS, TF_VERSIONS, payload, report_of, result

TF = "keras3-tensorflow"
TF_NEW = {**TF_VERSIONS, "keras": "3.16.0", "tensorflow": "2.22.0"}


def tf_report(statuses: dict[tuple[str, str], str], versions=None, **extra) -> dict[str, Any]:
    """One keras3-tensorflow report with a row per ``(property, layer): status``."""
    rows = [result(p, layer, s, **extra) for (p, layer), s in statuses.items()]
    return report_of(payload(TF, rows, versions or TF_VERSIONS))


def test_compare_finds_what_broke():
    old = tf_report({("paths_agree", "LSTM"): "passed", ("paths_agree", "GRU"): "fixed"})
    new = tf_report({("paths_agree", "LSTM"): "failed", ("paths_agree", "GRU"): "error"}, TF_NEW)
    cmp = compare_reports(old, new)

    assert cmp.broke == [
        StatusChange(
            "paths_agree",
            "paths_agree",
            "GRU",
            TF,
            "fixed",
            "error",
            message="paths_agree on GRU error",
        ),
        StatusChange(
            "paths_agree",
            "paths_agree",
            "LSTM",
            TF,
            "passed",
            "failed",
            message="paths_agree on LSTM failed",
        ),
    ]
    assert cmp.fixed == [] and cmp.other_changes == [] and cmp.error_changes == []
    assert cmp.regressed is True


def test_compare_finds_what_was_fixed_and_keeps_the_old_message():
    old = tf_report(
        {
            ("composition", "LSTM"): "failed",
            ("composition", "GRU"): "error",
            ("composition", "SimpleRNN"): "known_failure",
        }
    )
    new = tf_report(
        {
            ("composition", "LSTM"): "passed",
            ("composition", "GRU"): "passed",
            ("composition", "SimpleRNN"): "fixed",
        },
        TF_NEW,
    )
    cmp = compare_reports(old, new)

    assert [(c.layer, c.old, c.new) for c in cmp.fixed] == [
        ("GRU", "error", "passed"),
        ("LSTM", "failed", "passed"),
        ("SimpleRNN", "known_failure", "fixed"),
    ]
    assert cmp.fixed[1].message == "composition on LSTM failed"
    assert cmp.broke == [] and cmp.error_changes == []
    assert cmp.regressed is False


def test_compare_lists_new_and_gone_rows():
    old = tf_report({("paths_agree", "LSTM"): "passed", ("state_machine", "GRU"): "passed"})
    new = tf_report({("paths_agree", "LSTM"): "passed", ("composition", "GRU"): "failed"})
    cmp = compare_reports(old, new)

    assert [(r["property"], r["layer"], r["status"]) for r in cmp.new_rows] == [
        ("composition", "GRU", "failed")
    ]
    assert [(r["property"], r["layer"]) for r in cmp.gone_rows] == [("state_machine", "GRU")]
    assert cmp.unchanged == 1
    # A new failing row is new, not broken: nothing it did before can have regressed.
    assert cmp.regressed is False


def test_compare_reports_version_deltas_per_target():
    old = tf_report({("paths_agree", "LSTM"): "passed"})
    new = tf_report({("paths_agree", "LSTM"): "passed"}, {**TF_NEW, "numpy": "2.3.0"})
    new["targets"][0]["device"] = "gpu"
    cmp = compare_reports(old, new)

    assert cmp.version_changes == [
        VersionChange(TF, "keras", "3.15.1", "3.16.0"),
        VersionChange(TF, "tensorflow", "2.21.0", "2.22.0"),
        VersionChange(TF, "device", "cpu", "gpu"),
        VersionChange(TF, "numpy", None, "2.3.0"),
    ]
    assert cmp.added_targets == [] and cmp.removed_targets == []


def test_compare_lists_added_and_removed_targets_and_their_rows():
    rows = [result("paths_agree", "LSTM", "passed")]
    old = report_of(payload(TF, rows), payload("keras3-torch", rows))
    new = report_of(payload(TF, rows), payload("keras3-jax", rows, JAX_VERSIONS))
    cmp = compare_reports(old, new)

    assert cmp.added_targets == ["keras3-jax"]
    assert cmp.removed_targets == ["keras3-torch"]
    assert [r["target"] for r in cmp.new_rows] == ["keras3-jax"]
    assert [r["target"] for r in cmp.gone_rows] == ["keras3-torch"]
    assert cmp.unchanged == 1
    assert cmp.version_changes == []


def test_compare_pairs_one_target_against_one_of_another_name():
    old = report_of(payload(TF, [result("paths_agree", "LSTM", "passed")]))
    new = report_of(payload("keras3-jax", [result("paths_agree", "LSTM", "failed")], JAX_VERSIONS))
    cmp = compare_reports(old, new)

    assert cmp.target_pairs == {TF: "keras3-jax"}
    assert [(c.target, c.old, c.new) for c in cmp.broke] == [("keras3-jax", "passed", "failed")]
    assert cmp.added_targets == [] and cmp.removed_targets == []
    assert VersionChange("keras3-jax", "tensorflow", "2.21.0", None) in cmp.version_changes
    assert VersionChange("keras3-jax", "jax", None, "0.10.2") in cmp.version_changes


def test_compare_separates_error_changes_and_regresses_on_a_new_error():
    old = tf_report({("paths_agree", "LSTM"): "failed", ("paths_agree", "GRU"): "error"})
    new = tf_report({("paths_agree", "LSTM"): "error", ("paths_agree", "GRU"): "failed"})
    cmp = compare_reports(old, new)

    assert [(c.layer, c.old, c.new) for c in cmp.error_changes] == [
        ("GRU", "error", "failed"),
        ("LSTM", "failed", "error"),
    ]
    assert [c.layer for c in cmp.newly_erroring] == ["LSTM"]
    assert cmp.broke == [] and cmp.regressed is True


def test_compare_error_that_stops_erroring_without_passing_does_not_regress():
    old = tf_report({("paths_agree", "LSTM"): "error"})
    new = tf_report({("paths_agree", "LSTM"): "skipped"})
    cmp = compare_reports(old, new)
    assert [(c.old, c.new) for c in cmp.error_changes] == [("error", "skipped")]
    assert cmp.regressed is False


def test_compare_puts_other_status_changes_aside():
    old = tf_report({("paths_agree", "LSTM"): "passed", ("paths_agree", "GRU"): "failed"})
    new = tf_report({("paths_agree", "LSTM"): "skipped", ("paths_agree", "GRU"): "known_failure"})
    cmp = compare_reports(old, new)
    assert [(c.layer, c.old, c.new) for c in cmp.other_changes] == [
        ("GRU", "failed", "known_failure"),
        ("LSTM", "passed", "skipped"),
    ]
    assert cmp.regressed is False


def test_compare_of_a_report_with_itself_changes_nothing():
    report = tf_report({("paths_agree", "LSTM"): "failed", ("paths_agree", "GRU"): "passed"})
    cmp = compare_reports(report, report)
    assert cmp.unchanged == 2
    assert not (cmp.broke or cmp.fixed or cmp.error_changes or cmp.other_changes)
    assert not (cmp.new_rows or cmp.gone_rows or cmp.version_changes)
    assert cmp.regressed is False


def test_compare_counts_a_cell_of_several_rows_by_its_worst_status():
    old = report_of(payload(TF, [result("composition", "LSTM", "passed")] * 2))
    new = report_of(
        payload(
            TF, [result("composition", "LSTM", "passed"), result("composition", "LSTM", "failed")]
        )
    )
    cmp = compare_reports(old, new)
    assert [(c.old, c.new) for c in cmp.broke] == [("passed", "failed")]


# --- rendering -------------------------------------------------------------------------


def _regressed_comparison(**extra):
    old = tf_report({("paths_agree", "LSTM"): "passed", ("paths_agree", "GRU"): "failed"})
    new = tf_report(
        {("paths_agree", "LSTM"): "failed", ("paths_agree", "GRU"): "passed"}, TF_NEW, **extra
    )
    return compare_reports(old, new)


def test_compare_markdown_states_the_verdict_versions_and_what_broke():
    text = render_compare_markdown(_regressed_comparison())
    assert text.startswith("# rnn-harness compare\n")
    assert "**REGRESSED: 1 broke, 1 fixed," in text
    assert "| keras3-tensorflow | keras | 3.15.1 | 3.16.0 |" in text
    broke = text.split("## Broke (1)", 1)[1].split("## Fixed", 1)[0]
    assert "| paths_agree | LSTM | keras3-tensorflow | passed | failed |" in broke
    assert "```text\npaths_agree on LSTM failed\n```" in broke
    assert (
        "| paths_agree | GRU | keras3-tensorflow | failed | passed |" in text.split("## Fixed")[1]
    )


def test_compare_markdown_says_no_regressions_when_clean():
    report = tf_report({("paths_agree", "LSTM"): "passed"})
    text = render_compare_markdown(compare_reports(report, report))
    assert "**No regressions: 0 broke" in text
    assert "No version changes." in text
    assert "## Broke" not in text


def test_compare_html_is_self_contained_and_escapes_messages():
    cmp = _regressed_comparison(message="<script>alert(1)</script>")
    html = render_compare_html(cmp)
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html) is None
    assert '<h2 class="broke">Broke (1)</h2>' in html
    assert "<td>3.15.1</td><td>3.16.0</td>" in html
    assert 'class="verdict regressed"' in html
