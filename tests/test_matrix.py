"""rnn-harness matrix: spec parsing, cache keys, the merge, the regression timeline and the
diffs between two columns (harness/matrix.py, harness/report/timeline.py)."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessUsageError
from harness.matrix import (
    EntryResult,
    MatrixEntry,
    entry_key,
    harness_fingerprint,
    merge_matrix,
    parse_matrix_spec,
    render_matrix_html,
    render_matrix_markdown,
    select_entries,
)
from harness.report import merge_payloads
from harness.report.timeline import MATRIX_SCHEMA, load_matrix, timeline, timeline_text

SPEC = """
profile = "dev"
properties = ["chunked_equals_whole"]
[[entry]]
name = "keras2"
packages = ["tensorflow-cpu==2.15.1"]
targets = ["tf-keras"]
[[entry]]
name = "keras3"
packages = ["tensorflow-cpu==2.21.0", "keras==3.15.1"]
targets = ["keras3-tensorflow"]
"""


def test_spec_parses_entries_in_order_with_their_filters():
    spec = parse_matrix_spec(SPEC)
    assert [e.name for e in spec.entries] == ["keras2", "keras3"]
    assert spec.entries[1].packages == ("tensorflow-cpu==2.21.0", "keras==3.15.1")
    assert spec.entries[0].targets == ("tf-keras",)
    assert spec.profile == "dev"
    assert spec.properties == ("chunked_equals_whole",)
    assert spec.diffs == "spec"


def test_an_entry_may_replace_a_distribution_after_its_packages():
    spec = parse_matrix_spec(
        "diffs = 'release'\n[[entry]]\nname='nightly'\npackages=['tensorflow-cpu==2.21.0']\n"
        "targets=['keras3-tensorflow']\nreplace={keras='keras-nightly==3.16.0.dev1'}\n"
    )
    assert spec.entries[0].replace == (("keras", "keras-nightly==3.16.0.dev1"),)
    assert spec.diffs == "release"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "profile = 'fast'\n[[entry]]\nname='a'\npackages=['x']\ntargets=['tf-keras']",
            "profile='fast'",
        ),
        ("[[entry]]\nname='a b'\npackages=['x']\ntargets=['tf-keras']", "name='a b'"),
        ("[[entry]]\nname='a'\npackages=[]\ntargets=['tf-keras']", None),
        ("[[entry]]\nname='a'\npackages=['x']\ntargets=['keras4']", "unknown 'keras4'"),
        (
            "[[entry]]\nname='a'\npackages=['x']\ntargets=['tf-keras']\n[[entry]]\nname='a'\npackages=['y']\ntargets=['tf-keras']",
            "used twice",
        ),
        (
            "properties=['nope']\n[[entry]]\nname='a'\npackages=['x']\ntargets=['tf-keras']",
            "unknown 'nope'",
        ),
        ("", "at least one [[entry]]"),
        ("[[entry]\n", "not valid TOML"),
        (
            "colour = 1\n[[entry]]\nname='a'\npackages=['x']\ntargets=['tf-keras']",
            "unknown keys colour",
        ),
        (
            "diffs = 'all'\n[[entry]]\nname='a'\npackages=['x']\ntargets=['tf-keras']",
            "diffs='all'; expected one of spec, release",
        ),
        (
            "[[entry]]\nname='a'\npackages=['x']\ntargets=['tf-keras']\nreplace=['keras']",
            "replace must be a table",
        ),
    ],
)
def test_bad_specs_are_usage_errors_naming_the_problem(text, fragment):
    if fragment is None:  # an empty package list is allowed: the environment's defaults
        parse_matrix_spec(text)
        return
    with pytest.raises(HarnessUsageError) as excinfo:
        parse_matrix_spec(text)
    assert fragment in str(excinfo.value)


def test_select_entries_keeps_the_named_ones_and_refuses_an_unknown_name():
    spec = parse_matrix_spec(SPEC)
    assert [e.name for e in select_entries(spec, ["keras3"]).entries] == ["keras3"]
    with pytest.raises(HarnessUsageError, match=r"'keras4': no such entry in spec\. Expected one"):
        select_entries(spec, ["keras3", "keras4"])


def test_cache_key_changes_with_packages_profile_and_harness_source():
    spec = parse_matrix_spec(SPEC)
    entry = spec.entries[1]
    base = entry_key(entry, spec, "abc")
    assert entry_key(entry, spec, "abc") == base
    assert entry_key(entry, spec, "abd") != base
    other = MatrixEntry(entry.name, ("keras==3.15.0",), entry.targets)
    assert entry_key(other, spec, "abc") != base
    dev = parse_matrix_spec(SPEC.replace('profile = "dev"', 'profile = "ci"'))
    assert entry_key(entry, dev, "abc") != base


def test_the_fingerprint_covers_what_decides_results_not_the_matrix_s_own_modules(
    tmp_path, monkeypatch
):
    from harness import matrix

    for relative in ("harness/matrix.py", "harness/targets/keras3.py", "properties/test_a.py"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x = 1\n", encoding="utf-8")
    monkeypatch.setattr(matrix, "ROOT", tmp_path)
    base = harness_fingerprint()
    (tmp_path / "harness/matrix.py").write_text("x = 2\n", encoding="utf-8")
    assert harness_fingerprint() == base
    (tmp_path / "harness/targets/keras3.py").write_text("x = 2\n", encoding="utf-8")
    assert harness_fingerprint() != base


def _report(target: str, keras: str, statuses: dict[str, str]) -> dict:
    """A report of one target: test -> status, all chunked_equals_whole on LSTM."""
    rows = [
        {"property": "chunked_equals_whole", "test": test, "layer": "LSTM", "status": status}
        for test, status in statuses.items()
    ]
    info = {"name": target, "versions": {"keras": keras}, "device": "cpu"}
    return merge_payloads([{"target": info, "results": rows}], profile="dev", seed=0)


def _entry(name: str, target: str, *packages: str) -> MatrixEntry:
    return MatrixEntry(name, packages, (target,))


def test_merge_has_a_column_per_environment_a_row_per_test_and_diffs_consecutive_ones():
    spec = parse_matrix_spec(SPEC)
    results = [
        EntryResult(spec.entries[0], "ok", "k1", _report("tf-keras", "2.15.0", {"t": "passed"})),
        EntryResult(
            spec.entries[1],
            "cached",
            "k2",
            _report("keras3-tensorflow", "3.15.1", {"t": "failed"}),
        ),
    ]
    matrix = merge_matrix(results, spec)
    assert matrix["schema"] == MATRIX_SCHEMA == "rnn-harness-matrix/2"
    assert [c["name"] for c in matrix["columns"]] == ["keras2", "keras3"]
    assert matrix["rows"] == [
        {
            "property": "chunked_equals_whole",
            "test": "t",
            "layer": "LSTM",
            "cells": {"keras2": "passed", "keras3": "failed"},
        }
    ]
    (diff,) = matrix["diffs"]
    assert diff["from"] == "keras2" and diff["to"] == "keras3"
    assert diff["regressed"] is True
    assert [c["test"] for c in diff["broke"]] == ["t"]
    assert any(v["old"] == "2.15.0" and v["new"] == "3.15.1" for v in diff["versions"])
    json.dumps(matrix)  # plain data


def test_a_failed_install_is_a_column_whose_tests_did_not_run_and_no_diff():
    spec = parse_matrix_spec(SPEC)
    results = [
        EntryResult(spec.entries[0], "install_failed", "k1", None, "installing x failed"),
        EntryResult(
            spec.entries[1], "ok", "k2", _report("keras3-tensorflow", "3.15.1", {"t": "passed"})
        ),
    ]
    matrix = merge_matrix(results, spec)
    assert matrix["columns"][0]["status"] == "install_failed"
    assert matrix["rows"][0]["cells"] == {"keras2": "not_run", "keras3": "passed"}
    assert matrix["diffs"] == []
    markdown = render_matrix_markdown(matrix)
    assert "install_failed — installing x failed" in markdown
    assert "| chunked_equals_whole | t | LSTM | not run | pass |" in markdown


def test_timeline_pass_fail_pass_says_where_it_broke_and_where_it_was_fixed():
    cells = [("a", "passed"), ("b", "not_run"), ("c", "known_failure"), ("d", "failed")]
    cells += [("e", "skipped"), ("f", "passed"), ("g", "failed")]
    line = timeline(cells)
    assert (line["last_passed"], line["first_failed"], line["fixed_in"]) == ("a", "c", "f")
    assert [(c["from"], c["to"], c["kind"]) for c in line["changes"]] == [
        ("a", "c", "broke"),
        ("c", "d", "changed"),
        ("d", "f", "fixed"),
        ("f", "g", "broke"),
    ]
    releases = dict(zip("abcdefg", ["3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6"], strict=True))
    assert timeline_text(line, releases) == (
        "last passed in 3.0, failed from 3.2, fixed in 3.5; failed again from 3.6"
    )


@pytest.mark.parametrize(
    ("statuses", "expected", "text"),
    [
        (["passed", "passed"], (None, None, None), "passed in every release that ran it"),
        (["failed", "known_failure"], (None, "a", None), "failed in every release that ran it"),
        (
            ["error", "passed"],
            (None, "a", "b"),
            "failed from 3.0 (the first release that ran it), fixed in 3.1",
        ),
        (["passed", "flaky"], ("a", "b", None), "last passed in 3.0, failed from 3.1, not fixed"),
        (["skipped", None], (None, None, None), "no verdict (never ran, or skipped)"),
    ],
)
def test_timeline_edge_cases(statuses, expected, text):
    line = timeline(list(zip("ab", statuses, strict=True)))
    assert (line["last_passed"], line["first_failed"], line["fixed_in"]) == expected
    assert timeline_text(line, {"a": "3.0", "b": "3.1"}).startswith(text)


def test_each_target_s_line_is_ordered_by_release_and_gets_a_timeline_per_test():
    """Columns given out of release order (and a nightly, and an entry that did not install)
    line up by the Keras version each ran, per target; crafted pass -> fail -> pass."""
    spec = parse_matrix_spec(SPEC.replace('profile = "dev"', 'profile = "dev"\ndiffs = "release"'))
    jax = "keras3-jax"
    results = [
        EntryResult(_entry("j-3.2", jax), "ok", "1", _report(jax, "3.2.1", {"t": "failed"})),
        EntryResult(
            _entry("j-nightly", jax), "ok", "2", _report(jax, "3.16.0.dev20261027", {"t": "passed"})
        ),
        EntryResult(_entry("j-3.0", jax), "ok", "3", _report(jax, "3.0.5", {"t": "passed"})),
        EntryResult(_entry("j-3.1", jax, "keras==3.1.1"), "install_failed", "4", None, "no"),
        EntryResult(
            _entry("t-3.0", "keras3-torch"),
            "ok",
            "5",
            _report("keras3-torch", "3.0.5", {"t": "passed"}),
        ),
    ]
    matrix = merge_matrix(results, spec)
    (jax_line, torch_line) = matrix["lines"]
    assert jax_line["target"] == jax
    assert [(c["name"], c["release"]) for c in jax_line["columns"]] == [
        ("j-3.0", "3.0.5"),
        ("j-3.1", "3.1.1"),  # from the entry's pin: it has no report
        ("j-3.2", "3.2.1"),
        ("j-nightly", "3.16.0.dev20261027"),
    ]
    assert [c["name"] for c in torch_line["columns"]] == ["t-3.0"]
    (line,) = [t for t in matrix["timelines"] if t["target"] == jax]
    assert line["cells"] == {
        "j-3.0": "passed",
        "j-3.1": "not_run",
        "j-3.2": "failed",
        "j-nightly": "passed",
    }
    assert (line["last_passed"], line["first_failed"], line["fixed_in"]) == (
        "j-3.0",
        "j-3.2",
        "j-nightly",
    )
    # diffs = "release": along each line, skipping the column without a report
    assert [(d["from"], d["to"]) for d in matrix["diffs"]] == [("j-3.2", "j-nightly")]
    markdown = render_matrix_markdown(matrix)
    assert "### keras3-jax: 3.0.5 → 3.1.1 → 3.2.1 → 3.16.0.dev20261027" in markdown
    assert "last passed in 3.0.5, failed from 3.2.1, fixed in 3.16.0.dev20261027" in markdown
    assert "| t (chunked_equals_whole) | LSTM | pass | not run | FAIL | pass |" in markdown
    html = render_matrix_html(matrix)
    assert "last passed in 3.0.5, failed from 3.2.1, fixed in 3.16.0.dev20261027" in html


def test_a_column_where_every_test_errored_gives_no_verdict():
    spec = parse_matrix_spec(SPEC)
    torch = "keras3-torch"
    results = [
        EntryResult(_entry("a", torch), "ok", "1", _report(torch, "3.0.5", {"t": "passed"})),
        EntryResult(
            _entry("b", torch),
            "run_failed",
            "2",
            _report(torch, "3.1.1", {"t": "error"}),
            "every test errored: ImportError: x",
        ),
    ]
    matrix = merge_matrix(results, spec)
    assert matrix["rows"][0]["cells"] == {"a": "passed", "b": "not_run"}
    assert matrix["timelines"][0]["first_failed"] is None


def test_a_schema_1_matrix_is_read_as_schema_2(tmp_path):
    old = {
        "schema": "rnn-harness-matrix/1",
        "created": "2026-11-26T12:00:00Z",
        "profile": "survey",
        "columns": [
            {
                "name": "old",
                "packages": ["keras==3.0.5"],
                "status": "ok",
                "message": None,
                "targets": [{"name": "keras3-jax", "versions": {"keras": "3.0.5"}}],
            },
            {
                "name": "new",
                "packages": ["keras==3.15.1"],
                "status": "ok",
                "message": None,
                "targets": [{"name": "keras3-jax", "versions": {"keras": "3.15.1"}}],
            },
        ],
        "rows": [
            {"property": "paths_agree", "layer": "GRU", "cells": {"old": "failed", "new": "passed"}}
        ],
        "diffs": [],
    }
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    matrix = load_matrix(path)
    assert matrix["schema"] == MATRIX_SCHEMA
    assert matrix["rows"][0]["test"] == "paths_agree"
    (line,) = matrix["timelines"]
    assert (line["first_failed"], line["fixed_in"]) == ("old", "new")
    assert "failed from 3.0.5 (the first release that ran it), fixed in 3.15.1" in (
        render_matrix_markdown(matrix)
    )
    path.write_text('{"schema": "something/else"}', encoding="utf-8")
    with pytest.raises(HarnessUsageError, match="expected schema rnn-harness-matrix/1 or"):
        load_matrix(path)


def test_matrix_html_escapes_what_it_shows():
    spec = parse_matrix_spec(SPEC)
    results = [
        EntryResult(spec.entries[0], "install_failed", "k", None, "<script>alert(1)</script>")
    ]
    html = render_matrix_html(merge_matrix(results, spec))
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
