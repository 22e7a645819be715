"""The writers: JSON, Markdown, HTML and JUnit views of one report.

Reports are merged from hand-written payloads (see ``test_report_model``), so
every expected cell, count and message is known in advance.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.report.model import load_report
from harness.report.writers import (
    plot_data,
    render_html,
    render_junit,
    render_markdown,
    write_all,
    write_json,
)
from tests.test_report_model import JAX_VERSIONS, payload, report_of, result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOT_IMG = re.compile(r'<img[^>]+src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
# Anything that makes the browser fetch from elsewhere breaks "one self-contained file".
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|<link\b|@import""", re.I)


def two_target_report(**failed_extra: Any) -> dict[str, Any]:
    """keras3-tensorflow passes everything; keras3-jax fails chunked_equals_whole on LSTM."""
    tf_rows = [
        result("chunked_equals_whole", "LSTM", "passed"),
        result("chunked_equals_whole", "GRU", "passed"),
        result("reset_restores_zero_state", "LSTM", "skipped", message="no reset_state"),
    ]
    jax_rows = [
        result("chunked_equals_whole", "LSTM", "failed", **failed_extra),
        result("chunked_equals_whole", "GRU", "known_failure", known_failure="jax bug 123"),
        result("reset_restores_zero_state", "LSTM", "error", message="RuntimeError: boom"),
    ]
    return report_of(
        payload("keras3-tensorflow", tf_rows), payload("keras3-jax", jax_rows, JAX_VERSIONS)
    )


def chunk_counterexample() -> dict[str, Any]:
    """Batch 2, 5 timesteps in chunks (2, 3), 1 unit: sample 1 drifts after the boundary."""
    expected = np.zeros((2, 5, 1))
    actual = expected.copy()
    actual[1, 2:, 0] = [0.1, 0.2, 0.4]
    actual[0, 3, 0] = -0.3  # larger than sample 1 at timestep 3: the max over samples wins
    return {"case": {"splits": [2, 3]}, "actual": actual.tolist(), "expected": expected.tolist()}


# --- JSON ------------------------------------------------------------------------------


def test_write_json_round_trips_through_load_report(tmp_path: Path):
    report = two_target_report()
    path = write_json(report, tmp_path / "nested" / "report.json")
    assert path.read_text(encoding="utf-8").endswith("}\n")
    assert load_report(path) == report


# --- Markdown --------------------------------------------------------------------------


def test_markdown_summary_line_states_the_verdict_and_every_count():
    text = render_markdown(two_target_report())
    assert (
        "**FAILED: 2 passed, 1 failed, 1 error, 1 skipped, 1 known failure, 0 fixed, "
        "0 flaky, 0 not run (6 results)**" in text
    )


def test_markdown_summary_says_passed_when_nothing_failed():
    report = report_of(payload("keras3-tensorflow", [result("paths_agree", "LSTM", "passed")]))
    assert "**PASSED: 1 passed," in render_markdown(report)


def test_markdown_matrix_marks_failed_cell():
    lines = render_markdown(two_target_report()).splitlines()
    assert "| property | layer | keras3-tensorflow | keras3-jax |" in lines
    assert "| chunked_equals_whole | LSTM | ✅ passed | ❌ failed |" in lines
    assert "| chunked_equals_whole | GRU | ✅ passed | ⚠️ known |" in lines
    assert "| reset_restores_zero_state | LSTM | ⏭️ skipped | 💥 error |" in lines


def test_markdown_matrix_counts_each_status_of_a_cell_worst_first_and_says_so():
    rows = [
        result("composition", "LSTM", "passed", test="test_a"),
        result("composition", "LSTM", "known_failure", test="test_b"),
        result("composition", "LSTM", "passed", test="test_c"),
        result("composition", "GRU", "passed", test="test_a"),
        result("composition", "GRU", "passed", test="test_b"),
    ]
    text = render_markdown(report_of(payload("keras3-tensorflow", rows)))
    assert "| composition | LSTM | ⚠️ known 1 · passed 2 |" in text.splitlines()
    assert "| composition | GRU | ✅ passed 2 |" in text.splitlines()
    assert "how many tests ended in it" in text  # the counts are explained under the table
    assert "- ⚠️ known: failed exactly as a reviewed known-failures entry describes" in text
    assert "❌ failed" not in text.split("## Matrix")[1]  # only statuses present are explained


def test_markdown_matrix_marks_a_cell_a_target_did_not_run():
    tf = [result("paths_agree", "LSTM", "passed")]
    jax = [result("paths_agree", "GRU", "passed")]
    report = report_of(payload("keras3-tensorflow", tf), payload("keras3-jax", jax, JAX_VERSIONS))
    assert "| paths_agree | GRU | - | ✅ passed |" in render_markdown(report).splitlines()


def test_markdown_lists_each_failure_with_its_message_fenced_and_its_reproducer():
    report = two_target_report(message="outputs differ\n  at timestep 3", reproducer="repro/x.py")
    text = render_markdown(report)
    failures = text.split("## Failures", 1)[1]
    assert "### chunked_equals_whole · LSTM · keras3-jax — failed" in failures
    assert "```text\noutputs differ\n  at timestep 3\n```" in failures
    assert "Reproducer: `repro/x.py`" in failures
    assert "### reset_restores_zero_state · LSTM · keras3-jax — error" in failures
    assert "```text\nRuntimeError: boom\n```" in failures
    assert "— known_failure" not in failures.split("## Known failures")[0]
    assert "- keras3-jax: jax bug 123 — chunked_equals_whole [GRU]" in text


def test_markdown_has_no_failures_section_when_nothing_failed():
    report = report_of(payload("keras3-tensorflow", [result("paths_agree", "LSTM", "passed")]))
    assert "## Failures" not in render_markdown(report)


def test_markdown_header_states_how_to_replay_the_run():
    text = render_markdown(two_target_report())
    assert "- profile ci, seed 0" in text
    assert "- keras3-tensorflow on cpu: python 3.11.7, keras 3.15.1, tensorflow 2.21.0" in text
    assert "- keras3-jax on cpu: python 3.11.7, keras 3.15.1, jax 0.10.2" in text
    assert "rnn-harness run --targets keras3-tensorflow,keras3-jax --profile ci --seed 0" in text
    assert "pytest properties --target keras3-jax --hypothesis-profile ci --rnn-seed 0" in (text)


def test_markdown_table_cells_cannot_break_the_table_or_inject_html():
    rows = [result("paths_agree", "<script>alert(1)</script>|x", "passed")]
    text = render_markdown(report_of(payload("keras3-tensorflow", rows)))
    assert "<script>" not in text
    assert "| paths_agree | &lt;script&gt;alert(1)&lt;/script&gt;\\|x | ✅ passed |" in text


def test_markdown_fence_is_longer_than_backticks_in_the_message():
    report = two_target_report(message="see ```code``` here")
    text = render_markdown(report)
    assert "````text\nsee ```code``` here\n````" in text


def test_markdown_truncates_a_huge_message():
    report = two_target_report(message="x" * 50_000)
    text = render_markdown(report)
    assert "x" * 50_000 not in text
    assert "more characters in report.json" in text


# --- HTML ------------------------------------------------------------------------------


def test_html_is_one_self_contained_file():
    html = render_html(two_target_report(counterexample=chunk_counterexample()))
    assert html.startswith("<!DOCTYPE html>")
    assert "<style>" in html
    assert EXTERNAL.search(html) is None
    assert "<script" not in html


def test_external_link_pattern_would_catch_a_remote_resource():
    # Guards the self-containment test above against a pattern that matches nothing.
    assert EXTERNAL.search('<img src="https://x.org/a.png">')
    assert EXTERNAL.search("<a href=//cdn.example/x>")
    assert EXTERNAL.search('<link rel="stylesheet" href="a.css">')
    assert EXTERNAL.search('<a href="#r1">') is None


def test_html_escapes_script_in_layer_names_and_messages():
    rows = [
        result(
            "paths_agree",
            "<script>alert('layer')</script>",
            "failed",
            message="<script>alert('message')</script>",
            counterexample={"note": "<script>alert('ce')</script>"},
            reproducer="<script>r</script>.py",
        )
    ]
    html = render_html(report_of(payload("<b>target</b>", rows)))
    assert "<script" not in html
    assert "<b>target</b>" not in html
    assert "&lt;script&gt;alert(&#39;layer&#39;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#39;message&#39;)&lt;/script&gt;" in html
    assert "&lt;script&gt;r&lt;/script&gt;.py" in html
    assert "&lt;b&gt;target&lt;/b&gt;" in html


def test_html_colour_codes_each_matrix_cell_by_status():
    html = render_html(two_target_report())
    cells = re.findall(r'<td class="cell (st-[a-z_]+)">', html)
    # Rows sorted by (property, layer), columns keras3-tensorflow then keras3-jax.
    assert cells == [
        "st-passed",
        "st-known_failure",
        "st-passed",
        "st-failed",
        "st-skipped",
        "st-error",
    ]
    assert ".st-failed {" in html


def test_html_links_a_failed_cell_to_its_details():
    html = render_html(two_target_report())
    anchor = re.search(r'<td class="cell st-failed"><a href="#(r\d+)">', html).group(1)
    section = html.split(f'id="{anchor}"', 1)[1].split("</section>", 1)[0]
    assert "chunked_equals_whole · LSTM · keras3-jax" in section


def test_html_shows_message_counterexample_and_reproducer_of_each_failure():
    report = two_target_report(
        message="outputs differ", reproducer="reports/repro_1.py", counterexample={"splits": [4]}
    )
    html = render_html(report)
    assert html.count('<section class="result') == 3  # failed, known failure, error
    assert "<pre>outputs differ</pre>" in html
    assert "<summary>counterexample</summary>" in html
    assert "&#34;splits&#34;: [4]" in html  # quotes escaped, numbers on one line
    assert "<code>reports/repro_1.py</code>" in html
    assert "Known failure: jax bug 123" in html
    assert "rtol=1e-05, atol=1e-06" in html


def test_html_header_states_how_to_replay_the_run():
    html = render_html(two_target_report())
    assert "<li>profile ci, seed 0</li>" in html
    assert "<li>keras3-jax on cpu: python 3.11.7, keras 3.15.1, jax 0.10.2</li>" in html
    assert "pytest properties --target keras3-tensorflow --hypothesis-profile ci" in html
    assert "rnn-harness run --targets keras3-tensorflow,keras3-jax --profile ci --seed 0" in html


def test_replay_commands_leave_out_a_seed_the_run_did_not_fix():
    report = {**two_target_report(), "seed": None}
    text = render_markdown(report)
    assert "rnn-harness run --targets keras3-tensorflow,keras3-jax --profile ci\n" in text
    assert "--seed" not in text and "--rnn-seed" not in text


@pytest.mark.parametrize(
    "counterexample",
    [
        chunk_counterexample(),
        {"splits": [2, 3], "abs_diff_per_timestep": [0, 0, 0.1, 0.3, 0.4]},
    ],
    ids=["arrays", "abs_diff"],
)
def test_html_embeds_a_png_plot_when_the_counterexample_has_plot_data(counterexample):
    html = render_html(two_target_report(counterexample=counterexample))
    images = PLOT_IMG.findall(html)
    assert len(images) == 1
    assert base64.b64decode(images[0]).startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    "counterexample",
    [
        None,
        {"splits": [2, 3]},
        {"abs_diff_per_timestep": [0.1, 0.2]},
        {"splits": [2, 3], "abs_diff_per_timestep": [0.1, 0.2]},  # 5 timesteps != 2 values
        {"splits": [2], "actual": [[1.0, 2.0]], "expected": [[1.0, 2.0]]},  # not 3-D
    ],
    ids=["none", "splits-only", "diff-only", "lengths-disagree", "not-3d"],
)
def test_html_has_no_plot_without_plot_data(counterexample):
    html = render_html(two_target_report(counterexample=counterexample))
    assert "data:image/png" not in html


def test_plot_data_takes_the_largest_difference_per_timestep():
    diff, splits = plot_data(chunk_counterexample())
    assert splits == [2, 3]
    np.testing.assert_allclose(diff, [0.0, 0.0, 0.1, 0.3, 0.4])


# --- JUnit -----------------------------------------------------------------------------


def _suites(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    return {suite.get("name"): suite for suite in root.iter("testsuite")}


def test_junit_has_one_testsuite_per_target_with_its_counts():
    xml = render_junit(two_target_report())
    root = ET.fromstring(xml)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "1")
    assert root.get("skipped") == "2"
    suites = _suites(xml)
    assert list(suites) == ["keras3-tensorflow", "keras3-jax"]
    jax = suites["keras3-jax"]
    assert {k: jax.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "3",
        "failures": "1",
        "errors": "1",
        "skipped": "1",
    }
    assert jax.get("time") == "4.500"
    versions = {p.get("name"): p.get("value") for p in jax.iter("property")}
    assert versions["jax"] == "0.10.2" and versions["profile"] == "ci" and versions["seed"] == "0"


def test_junit_names_testcases_by_test_and_layer_with_target_and_property_classname():
    suites = _suites(render_junit(two_target_report()))
    cases = suites["keras3-tensorflow"].findall("testcase")
    assert [c.get("name") for c in cases] == [
        "chunked_equals_whole[GRU]",
        "chunked_equals_whole[LSTM]",
        "reset_restores_zero_state[LSTM]",
    ]
    assert [c.get("classname") for c in cases] == [
        "rnn_harness.keras3-tensorflow.chunked_equals_whole",
        "rnn_harness.keras3-tensorflow.chunked_equals_whole",
        "rnn_harness.keras3-tensorflow.reset_restores_zero_state",
    ]
    assert cases[0].get("time") == "1.500"
    assert list(cases[0]) == []  # passed: no child elements


def test_junit_marks_failure_error_skipped_and_known_failure():
    report = two_target_report(message="outputs differ\nat timestep 3", reproducer="r.py")
    suites = _suites(render_junit(report))
    jax = {c.get("name"): c for c in suites["keras3-jax"].findall("testcase")}

    failure = jax["chunked_equals_whole[LSTM]"].find("failure")
    assert failure.get("message") == "outputs differ"
    assert failure.text == "outputs differ\nat timestep 3\n\nreproducer: r.py"
    error = jax["reset_restores_zero_state[LSTM]"].find("error")
    assert error.get("message") == "RuntimeError: boom"
    known = jax["chunked_equals_whole[GRU]"].find("skipped")
    assert known.get("message") == "known failure: jax bug 123"
    tf = {c.get("name"): c for c in suites["keras3-tensorflow"].findall("testcase")}
    assert tf["reset_restores_zero_state[LSTM]"].find("skipped").get("message") == "no reset_state"


def test_junit_drops_characters_xml_cannot_hold():
    report = two_target_report(message="\x1b[31mred\x1b[0m <tag> & done")
    suites = _suites(render_junit(report))
    failure = suites["keras3-jax"].find("testcase/failure")
    assert failure.get("message") == "[31mred[0m <tag> & done"


def test_junit_decides_once_per_row_whether_an_informational_target_excuses_it(monkeypatch):
    import harness.report.writers as writers
    from tests.test_report_model import _gpu_payload

    rows = [result("paths_agree", layer, "failed") for layer in ("LSTM", "GRU", "SimpleRNN")]
    report = report_of(_gpu_payload(rows, gate=False))
    calls, original = [], writers.excused

    def counted(row, informational):
        calls.append(row["layer"])
        return original(row, informational)

    monkeypatch.setattr(writers, "excused", counted)
    suite = _suites(render_junit(report))["keras3-jax"]
    assert sorted(calls) == ["GRU", "LSTM", "SimpleRNN"]  # once each, not once per use
    assert (suite.get("failures"), suite.get("skipped")) == ("0", "3")
    assert len(suite.findall("testcase/skipped")) == 3


# --- write_all -------------------------------------------------------------------------


def test_write_all_writes_the_four_formats(tmp_path: Path):
    report = two_target_report()
    paths = write_all(report, tmp_path / "out")
    assert {k: p.name for k, p in paths.items()} == {
        "json": "report.json",
        "markdown": "report.md",
        "html": "report.html",
        "junit": "junit.xml",
    }
    assert load_report(paths["json"]) == report
    assert paths["markdown"].read_text(encoding="utf-8") == render_markdown(report)
    assert paths["html"].read_text(encoding="utf-8") == render_html(report)
    assert len(ET.parse(paths["junit"]).getroot().findall("testsuite")) == 2


def test_a_gpu_target_shows_its_device_driver_cuda_cudnn_and_precision():
    gpu = payload("keras3-torch", [result("chunked_equals_whole", "LSTM", "passed")])
    gpu["target"]["device"] = "gpu"
    gpu["target"]["precision"] = "native"
    gpu["target"]["shrink"] = False
    gpu["target"]["device_details"] = {
        "kind": "gpu",
        "name": "NVIDIA H100 80GB HBM3",
        "driver": "580.159.04",
        "cuda": "13.0",
        "cudnn": "9.10.2",
    }
    report = report_of(gpu)
    expected = (
        "keras3-torch on gpu (NVIDIA H100 80GB HBM3, driver 580.159.04, CUDA 13.0, "
        "cuDNN 9.10.2), precision native"
    )
    assert expected in render_markdown(report)
    assert expected in render_html(report)
    assert "--rnn-precision native" in render_markdown(report)
    assert "--precision native --no-shrink" in render_markdown(report)
    properties = {
        p.get("name"): p.get("value") for p in ET.fromstring(render_junit(report)).iter("property")
    }
    assert properties["precision"] == "native"
    assert properties["device_name"] == "NVIDIA H100 80GB HBM3"
    assert properties["device_cudnn"] == "9.10.2"


# --- what the counts, skips and interruptions mean ---------------------------------------


def interrupted_report() -> dict[str, Any]:
    """Two tests passed, two were skipped on a CPU, three never ran (Ctrl-C)."""
    gpu_only = "cudnn_matches_generic needs a GPU; this target runs on cpu"
    rows = [
        result("chunked_equals_whole", "LSTM", "passed", test="test_chunked_equals_whole"),
        result("chunked_equals_whole", "GRU", "passed", test="test_chunked_equals_whole"),
        result("cudnn_matches_generic", "LSTM", "skipped", test="test_a", message=gpu_only),
        result("cudnn_matches_generic", "GRU", "skipped", test="test_a", message=gpu_only),
        *[
            result(
                "matches_reference",
                layer,
                "not_run",
                test="test_matches_reference",
                message="not run: the run was interrupted before this test finished",
            )
            for layer in ("LSTM", "GRU", "SimpleRNN")
        ],
    ]
    return report_of(payload("keras3-tensorflow", rows))


def test_markdown_lists_skip_reasons_grouped_by_reason_with_their_tests():
    text = render_markdown(interrupted_report())
    skipped = text.split("## Skipped (2)", 1)[1]
    assert (
        "- keras3-tensorflow: cudnn_matches_generic needs a GPU; this target runs on cpu — "
        "cudnn_matches_generic · test_a [GRU, LSTM]"
    ) in skipped


def test_an_interrupted_report_reads_incomplete_and_not_run_never_failed_or_error():
    report = interrupted_report()
    text = render_markdown(report)
    assert text.splitlines()[2] == (
        "**INCOMPLETE: 2 passed, 0 failed, 0 error, 2 skipped, 0 known failure, 0 fixed, "
        "0 flaky, 3 not run (7 results)**"
    )
    assert "| matches_reference | LSTM | ⏸️ not run |" in text.splitlines()
    assert "## Not run (3)" in text and "## Failures" not in text
    html = render_html(report)
    assert '<p class="verdict incomplete">INCOMPLETE: ' in html
    assert (
        "<li>keras3-tensorflow: not run: the run was interrupted before this test finished — "
        in html
    )
    assert "not run: not run" not in html
    assert "<li>keras3-tensorflow: skipped: cudnn_matches_generic needs a GPU" in html
    suite = _suites(render_junit(report))["keras3-tensorflow"]
    assert (suite.get("errors"), suite.get("failures"), suite.get("skipped")) == ("0", "0", "5")


def test_junit_gives_each_test_of_a_property_its_own_testcase_name():
    tests = ["test_stacked_chunked_equals_whole", "test_unrolled_equals_rolled"]
    rows = [result("composition", "GRU", "passed", test=t) for t in tests]
    rows.append(result("paths_agree", "GRU", "passed", test="test_state_evolves[fit]"))
    suite = _suites(render_junit(report_of(payload("keras3-tensorflow", rows))))
    names = [c.get("name") for c in suite["keras3-tensorflow"].findall("testcase")]
    assert names == [
        "test_stacked_chunked_equals_whole[GRU]",
        "test_unrolled_equals_rolled[GRU]",
        "test_state_evolves[fit][GRU]",
    ]


def test_a_report_that_names_its_own_replay_command_shows_only_that():
    report = {**two_target_report(), "replay_commands": ["rnn-harness check-model m.keras"]}
    for text in (render_markdown(report), render_html(report)):
        assert "rnn-harness check-model m.keras" in text
        assert "rnn-harness run" not in text and "pytest properties" not in text
