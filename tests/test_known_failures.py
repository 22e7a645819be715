"""The known-failures file: parsing, validation, matching, and signatures that name one bug."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.catalogue import PROPERTY_IDS
from harness.errors import HarnessUsageError, PropertyFailure
from harness.known_failures import (
    SHIPPED_KNOWN_FAILURES,
    find_known_failure,
    known_failure_files,
    load_known_failure_files,
    load_known_failures,
    recognise,
)

SHIPPED = SHIPPED_KNOWN_FAILURES
ENTRY = """
[[known_failure]]
property = "paths_agree"
test = "test_one_predict_carries_state_from_batch_to_batch"
layer = "*"
layer_reason = "the trainer, not the layer"
target = "keras3-jax"
versions = { keras = "==3.15.1", jax = ["==0.10.2", "==0.11.2"] }
reason = "predict does not carry state"
signature = { check = 'one predict over \\d+ batches' }
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


def test_entry_matches_its_property_test_target_and_each_pinned_version(tmp_path):
    entries = load(tmp_path, ENTRY)
    assert match(entries).reason == "predict does not carry state"
    assert match(entries, versions={"keras": "3.15.1", "jax": "0.11.2"}) is not None


@pytest.mark.parametrize(
    "override",
    [
        {"property_id": "chunked_equals_whole"},
        {"target": "keras3-torch"},
        {"versions": {"keras": "3.16.0", "jax": "0.10.2"}},
        {"versions": {"keras": "3.15.1", "jax": "0.10.3"}},
        {"versions": {"keras": "3.15.1", "jax": "0.11.0"}},
        {"versions": {"keras": "3.15.1"}},
        {"test": "test_state_evolves_the_same_through_every_path"},
    ],
)
def test_entry_does_not_match_outside_its_scope(tmp_path, override):
    assert match(load(tmp_path, ENTRY), **override) is None


def test_a_device_entry_matches_only_that_device(tmp_path):
    entries = load(tmp_path, ENTRY.replace("versions = ", 'device = "gpu"\nversions = '))
    assert match(entries, device="gpu") is not None
    assert match(entries, device="cpu") is None


def test_a_local_version_label_matches_a_plain_pin(tmp_path):
    text = ENTRY.replace('jax = ["==0.10.2", "==0.11.2"]', 'torch = "==2.13.0"').replace(
        "keras3-jax", "keras3-torch"
    )
    entries = load(tmp_path, text)
    assert match(
        entries, target="keras3-torch", versions={"keras": "3.15.1", "torch": "2.13.0+cpu"}
    )


def test_a_signature_recognises_its_failure_and_nothing_else(tmp_path):
    (entry,) = load(tmp_path, ENTRY)
    label = "one predict over 3 batches of 2 vs row i of each batch continuing row i"
    assert recognise([entry], PropertyFailure("[...] " + label, check=label)) is entry
    assert recognise([entry], PropertyFailure("x", check="stored state 0 after chunk 1")) is None
    assert recognise([entry], RuntimeError(label)) is None  # a crash is not a failed check


def test_an_exception_signature_needs_the_type_and_the_message(tmp_path):
    text = ENTRY.replace(
        "signature = { check = 'one predict over \\d+ batches' }",
        'signature = { exception = "TypeError", message = "NoneType" }',
    )
    (entry,) = load(tmp_path, text)
    assert recognise([entry], TypeError("'NoneType' object is not callable")) is entry
    assert recognise([entry], ValueError("'NoneType' object is not callable")) is None
    assert recognise([entry], TypeError("unsupported operand")) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (ENTRY.replace('reason = "predict does not carry state"', ""), "missing reason"),
        (
            ENTRY.replace("signature = { check = 'one predict over \\d+ batches' }", ""),
            "missing signature",
        ),
        (ENTRY.replace("{ check = 'one", "{ chek = 'one"), "signature has unknown keys chek"),
        (
            ENTRY.replace("{ check = 'one predict over \\d+ batches' }", "{ check = '(' }"),
            "is not a regex",
        ),
        (
            ENTRY.replace("{ check = 'one predict over \\d+ batches' }", '{ message = "x" }'),
            "needs a check, or an exception",
        ),
        (ENTRY.replace('layer = "*"', 'layer = "Dense"'), "layer='Dense'"),
        (
            ENTRY.replace('layer_reason = "the trainer, not the layer"\n', ""),
            'layer = "*" needs layer_reason',
        ),
        (ENTRY.replace('"paths_agree"', '"paths"'), "unknown property 'paths'"),
        (ENTRY.replace('keras = "==3.15.1"', 'keras = ">=3.0,<3.16"'), "is not an exact pin"),
        (ENTRY.replace('keras = "==3.15.1"', 'keras = "==3.*"'), "is not an exact pin"),
        (ENTRY.replace('keras = "==3.15.1"', 'keras = "three"'), "is not an exact pin"),
        (ENTRY.replace("test = ", "tset = "), "unknown keys tset"),
        (ENTRY.replace('test = "test_one', 'test = "one'), "must name a property test function"),
        (ENTRY.replace("versions = ", 'device = "tpu"\nversions = '), "device='tpu'"),
        (
            ENTRY.replace("versions = ", 'counterexample = { GRU = "nope.json" }\nversions = '),
            "does not exist",
        ),
        ("[known_failure]\nproperty = 1\n", "expected a table"),
        ("[[known_failure]\n", "is not valid TOML"),
        ("[other]\n", "expected only [[known_failure]] tables"),
    ],
)
def test_malformed_entries_are_usage_errors_naming_the_entry_and_the_problem(
    tmp_path, text, fragment
):
    with pytest.raises(HarnessUsageError) as excinfo:
        load(tmp_path, text)
    message = str(excinfo.value)
    assert fragment in message
    assert "\n" not in message
    if "[[known_failure]]" in text:
        assert "kf.toml#1" in message


# --- the shipped file ------------------------------------------------------------------


SHIPPED_ENTRIES = load_known_failures(SHIPPED, property_ids=PROPERTY_IDS)


def test_the_projects_own_file_is_valid_and_every_entry_pins_its_versions():
    assert SHIPPED_ENTRIES
    assert all(e.reason and e.versions and e.signature for e in SHIPPED_ENTRIES)


@pytest.mark.parametrize("entry", SHIPPED_ENTRIES, ids=lambda e: e.source.rsplit("/", 1)[-1])
def test_each_shipped_signature_is_its_recorded_failure_and_no_other(entry):
    """The recorded failure is recognised; another exception type or another check is not."""
    others = [
        RuntimeError("an unrelated crash in the same cell"),
        TypeError("another TypeError: 'int' object is not iterable"),
        PropertyFailure(
            "[...] outputs after chunk 0 via call", check="outputs after chunk 0 via call"
        ),
        PropertyFailure(
            "[...] chunked vs whole outputs", check="chunked vs whole outputs (chunks [1])"
        ),
    ]
    for other in others:
        assert recognise([entry], other) is None, (entry.source, other)
    for layer, path in entry.counterexamples.items():
        failure = json.loads(path.read_text())["failure"]
        recorded = _rebuild(failure)
        assert recognise([entry], recorded) is entry, (entry.source, layer, failure)
        if failure["exception"] == "PropertyFailure":
            other_check = PropertyFailure(failure["message"], check="another check")
            assert recognise([entry], other_check) is None
        else:
            other_type = RuntimeError(failure["message"])
            if failure["exception"] != "RuntimeError":
                assert recognise([entry], other_type) is None


def _rebuild(failure: dict) -> BaseException:
    """An exception like the recorded one: same type name, check label and message."""
    if failure["exception"] == "PropertyFailure":
        return PropertyFailure(failure["message"], check=failure["check"])
    cls = type(failure["exception"], (Exception,), {})
    return cls(failure["message"])


def test_every_shipped_cpu_entry_of_an_installed_target_has_a_counterexample_to_replay():
    """So that `fixed` means fixed: the recorded example runs in every run, whatever the seed."""
    from harness.env import installed_versions

    for entry in SHIPPED_ENTRIES:
        if entry.device == "gpu" or entry.target == "tf-keras":
            continue  # recorded on machines this project's CI does not have
        if not entry.covers_versions(installed_versions(entry.target)):
            continue
        assert entry.counterexamples, f"{entry.source} has no counterexample to replay"


# --- which files a run applies ---------------------------------------------------------------


def test_the_reviewed_file_ships_inside_the_package_with_its_counterexamples(tmp_path, monkeypatch):
    import harness

    assert SHIPPED.is_relative_to(Path(harness.__file__).resolve().parent)
    monkeypatch.chdir(tmp_path)  # read from elsewhere: counterexamples are relative to the file
    entries = load_known_failures(SHIPPED, property_ids=PROPERTY_IDS)
    files = [p for e in entries for p in e.counterexamples.values()]
    assert files and all(p.is_file() and p.is_relative_to(SHIPPED.parent) for p in files)


def test_a_projects_own_files_add_to_the_shipped_one_each_once(tmp_path):
    own = tmp_path / "kf.toml"
    own.write_text(ENTRY, encoding="utf-8")
    files = known_failure_files([own, str(own), SHIPPED])
    assert files == [SHIPPED, own.resolve()]
    entries = load_known_failure_files(files, property_ids=PROPERTY_IDS)
    assert len(entries) == len(SHIPPED_ENTRIES) + 1
    assert entries[-1].source == f"{own.resolve()}#1"
    assert known_failure_files([own], shipped=False) == [own.resolve()]
    assert known_failure_files(shipped=False) == []


def test_a_report_names_the_known_failures_files_its_run_applied():
    from harness.report import merge_payloads
    from harness.report.writers import render_markdown

    tf = {"name": "keras3-tensorflow", "versions": {}, "device": "cpu"}
    jax = {**tf, "name": "keras3-jax"}
    own = "/project/known_failures.toml"
    report = merge_payloads(
        [
            {"target": tf, "known_failures": [str(SHIPPED), own], "results": []},
            {"target": jax, "known_failures": [str(SHIPPED)], "results": []},
        ],
        profile="ci",
        seed=0,
    )
    assert report["known_failures"] == [str(SHIPPED), own]
    assert f"- known failures: {SHIPPED}, {own}" in render_markdown(report).splitlines()
    none = merge_payloads(
        [{"target": tf, "known_failures": [], "results": []}], profile="ci", seed=0
    )
    assert "- known failures: none" in render_markdown(none).splitlines()
    # Payloads that do not say (check-model's, older runs'): the report does not either.
    assert "known_failures" not in merge_payloads(
        [{"target": tf, "results": []}], profile="ci", seed=0
    )
