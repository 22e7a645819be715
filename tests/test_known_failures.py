"""The known-failures file: parsing, validation and matching."""

from __future__ import annotations

import pytest

from harness.catalogue import PROPERTY_IDS
from harness.errors import HarnessUsageError
from harness.known_failures import find_known_failure, load_known_failures

ENTRY = """
[[known_failure]]
property = "paths_agree"
test = "test_one_predict_carries_state_from_batch_to_batch"
layer = "*"
target = "keras3-jax"
versions = { keras = ">=3.0,<3.16", jax = "==0.10.2" }
reason = "predict does not carry state"
"""


def load(tmp_path, text: str):
    path = tmp_path / "kf.toml"
    path.write_text(text, encoding="utf-8")
    return load_known_failures(path, property_ids=PROPERTY_IDS)


def match(entries, **overrides):
    args = dict(
        property_id="paths_agree",
        layer="GRU",
        target="keras3-jax",
        versions={"keras": "3.15.1", "jax": "0.10.2"},
        test="test_one_predict_carries_state_from_batch_to_batch",
    )
    args.update(overrides)
    return find_known_failure(entries, **args)


def test_entry_matches_its_property_target_versions_and_test(tmp_path):
    entries = load(tmp_path, ENTRY)
    assert match(entries).reason == "predict does not carry state"


@pytest.mark.parametrize(
    "override",
    [
        {"property_id": "chunked_equals_whole"},
        {"target": "keras3-torch"},
        {"versions": {"keras": "3.16.0", "jax": "0.10.2"}},
        {"versions": {"keras": "3.15.1", "jax": "0.10.3"}},
        {"versions": {"keras": "3.15.1"}},
        {"test": "test_state_evolves_the_same_through_every_path"},
    ],
)
def test_entry_does_not_match_outside_its_scope(tmp_path, override):
    assert match(load(tmp_path, ENTRY), **override) is None


def test_report_rows_without_a_test_name_match_a_test_scoped_entry(tmp_path):
    assert match(load(tmp_path, ENTRY), test=None) is not None


def test_a_local_version_label_matches_a_plain_pin(tmp_path):
    text = ENTRY.replace('jax = "==0.10.2"', 'torch = "==2.13.0"').replace(
        "keras3-jax", "keras3-torch"
    )
    entries = load(tmp_path, text)
    assert match(
        entries, target="keras3-torch", versions={"keras": "3.15.1", "torch": "2.13.0+cpu"}
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (ENTRY.replace('reason = "predict does not carry state"', ""), "Missing or empty: reason"),
        (ENTRY.replace('layer = "*"', 'layer = "Dense"'), "layer='Dense'"),
        (ENTRY.replace('"paths_agree"', '"paths"'), "unknown property 'paths'"),
        (ENTRY.replace('">=3.0,<3.16"', '"three"'), "is not a version specifier"),
        (ENTRY.replace("test = ", "tset = "), "unknown keys tset"),
        (ENTRY.replace('test = "test_one', 'test = "one'), "must name a property test function"),
        ("[known_failure]\nproperty = 1\n", "expected a table"),
        ("[[known_failure]\n", "is not valid TOML"),
        ("[other]\n", "expected only [[known_failure]] tables"),
    ],
)
def test_malformed_entries_are_usage_errors_naming_the_problem(tmp_path, text, fragment):
    with pytest.raises(HarnessUsageError, match=None) as excinfo:
        load(tmp_path, text)
    assert fragment in str(excinfo.value)


def test_the_projects_own_file_is_valid():
    from pathlib import Path

    entries = load_known_failures(
        Path(__file__).resolve().parent.parent / "known_failures.toml", property_ids=PROPERTY_IDS
    )
    assert all(e.reason and e.versions for e in entries)
