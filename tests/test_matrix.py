"""rnn-harness matrix: spec parsing, cache keys, the merge and the upgrade diff."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessUsageError
from harness.matrix import (
    EntryResult,
    MatrixEntry,
    entry_key,
    merge_matrix,
    parse_matrix_spec,
    render_matrix_html,
    render_matrix_markdown,
)
from harness.report import merge_payloads

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
    ],
)
def test_bad_specs_are_usage_errors_naming_the_problem(text, fragment):
    if fragment is None:  # an empty package list is allowed: the environment's defaults
        parse_matrix_spec(text)
        return
    with pytest.raises(HarnessUsageError) as excinfo:
        parse_matrix_spec(text)
    assert fragment in str(excinfo.value)


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


def _report(target: str, keras: str, status: str) -> dict:
    row = {"property": "chunked_equals_whole", "layer": "LSTM", "target": target, "status": status}
    info = {"name": target, "versions": {"keras": keras}, "device": "cpu"}
    return merge_payloads([{"target": info, "results": [row]}], profile="dev", seed=0)


def test_merge_has_a_column_per_environment_and_diffs_consecutive_ones():
    spec = parse_matrix_spec(SPEC)
    results = [
        EntryResult(spec.entries[0], "ok", "k1", _report("tf-keras", "2.15.0", "passed")),
        EntryResult(
            spec.entries[1], "cached", "k2", _report("keras3-tensorflow", "3.15.1", "failed")
        ),
    ]
    matrix = merge_matrix(results, spec)
    assert [c["name"] for c in matrix["columns"]] == ["keras2", "keras3"]
    assert matrix["rows"] == [
        {
            "property": "chunked_equals_whole",
            "layer": "LSTM",
            "cells": {"keras2": "passed", "keras3": "failed"},
        }
    ]
    (diff,) = matrix["diffs"]
    assert diff["from"] == "keras2" and diff["to"] == "keras3"
    assert diff["regressed"] is True
    assert [c["property"] for c in diff["broke"]] == ["chunked_equals_whole"]
    assert any(v["old"] == "2.15.0" and v["new"] == "3.15.1" for v in diff["versions"])
    json.dumps(matrix)  # plain data


def test_a_failed_install_is_a_column_without_results_and_no_diff():
    spec = parse_matrix_spec(SPEC)
    results = [
        EntryResult(spec.entries[0], "install_failed", "k1", None, "installing x failed"),
        EntryResult(spec.entries[1], "ok", "k2", _report("keras3-tensorflow", "3.15.1", "passed")),
    ]
    matrix = merge_matrix(results, spec)
    assert matrix["columns"][0]["status"] == "install_failed"
    assert matrix["diffs"] == []
    markdown = render_matrix_markdown(matrix)
    assert "install_failed — installing x failed" in markdown
    assert "| chunked_equals_whole | LSTM | — | pass |" in markdown


def test_matrix_html_escapes_what_it_shows():
    spec = parse_matrix_spec(SPEC)
    results = [
        EntryResult(spec.entries[0], "install_failed", "k", None, "<script>alert(1)</script>")
    ]
    html = render_matrix_html(merge_matrix(results, spec))
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
