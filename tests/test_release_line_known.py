"""The release-line sample and the known-failures file say the same thing.

``reports/samples/keras3-releases/`` holds one report per environment of the Keras 3
release line (matrix/keras3-releases.toml); ``rerun/`` five environments run again at a newer
harness, with the draws added since, and ``rerun-known/`` the same five once their failures
were recorded. Every failure they recorded is a reviewed
entry of the shipped known-failures file pinned to that environment's versions, so that
a rerun of the line reads ``known`` where it failed and a status change between two
columns is a real change. And no entry pins an older release without a failure of the
sample behind it: the pins are evidence, not a range.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from packaging.version import Version

from harness.errors import PropertyFailure
from harness.known_failures import SHIPPED_KNOWN_FAILURES, load_known_failures

SAMPLE = Path(__file__).resolve().parent.parent / "reports" / "samples" / "keras3-releases"
ENTRIES = load_known_failures(SHIPPED_KNOWN_FAILURES)
FAILING = ("failed", "error", "flaky")
# Entries pinning only Keras releases before this one record the release line's findings.
RELEASE_LINE_BEFORE = Version("3.15.1")


def _reports() -> list[tuple[str, dict]]:
    """The line's reports, and those of the reruns of five environments at a newer harness."""
    paths = sorted(SAMPLE.glob("*/report.json")) + sorted(SAMPLE.glob("rerun*/*/report.json"))
    return [(str(p.parent.relative_to(SAMPLE)), json.loads(p.read_text())) for p in paths]


REPORTS = _reports()


def recorded_failure(row: dict) -> BaseException:
    """The failure a report row records, as the recognition sees it.

    A failed comparison names its check; a ``check.fail(message)`` has its message as the
    label (the row's message after the "[property | layer | target] " prefix); an error
    row records "ExceptionType: message".
    """
    message = row["message"] or ""
    if row["status"] == "error":
        name, _, rest = message.partition(":")
        return type(name.strip(), (Exception,), {})(rest.strip())
    check = (row.get("counterexample") or {}).get("failed_comparison")
    if check and check.startswith("stateless fit loss") and "unweighted" not in check:
        check = _unweighted_fit_label(row) or check
    return PropertyFailure(message, check=check or re.sub(r"^\[[^\]]*\] ", "", message))


def _unweighted_fit_label(row: dict) -> str | None:
    """The label today's property gives a stateless-fit row recorded before it had one.

    The sample ran before ``test_stateless_fit_starts_every_sample_from_zero`` told Keras
    3.0-3.1's unweighted mean of the batches' losses apart from other wrong losses: the row
    is judged again from its own example, with the property's own reference.
    """
    from harness.check import example_from_plain
    from properties.test_paths_agree import unweighted_batch_loss

    example = example_from_plain(row["counterexample"])
    case, b = example["case"], example["fit_batch_size"]
    actual = float(re.search(r"actual=([-0-9.e+]+)", row["message"]).group(1))
    batches = -(-case.x.shape[0] // b)
    if abs(actual - unweighted_batch_loss(case, b)) > 1e-5 * max(1.0, abs(actual)):
        return None
    return (
        f"stateless fit loss with batch_size={b} is the unweighted mean of its "
        f"{batches} batches' losses"
    )


def entries_for(row: dict, versions: dict) -> list:
    exc = recorded_failure(row)
    return [
        e
        for e in ENTRIES
        if e.matches(
            property_id=row["property"],
            test=row["test"],
            layer=row["layer"],
            target=row["target"],
            versions=versions,
        )
        and e.signature.matches(exc)
    ]


def test_the_sample_holds_the_whole_release_line():
    assert len([env for env, _ in REPORTS if not env.startswith("rerun")]) >= 30
    assert any(row["status"] in FAILING for _, r in REPORTS for row in r["results"])


@pytest.mark.parametrize("env, report", REPORTS, ids=[env for env, _ in REPORTS])
def test_every_failure_of_the_release_line_is_a_pinned_known_failure(env, report):
    versions = report["targets"][0]["versions"]
    unknown = [
        f"{row['test']} [{row['layer']}] {row['status']}: {row['message'][:160]}"
        for row in report["results"]
        if row["status"] in FAILING and not entries_for(row, versions)
    ]
    assert not unknown, f"{env} ({versions}): not in the known-failures file:\n" + "\n".join(
        unknown
    )


def test_every_older_release_an_entry_pins_has_its_failure_in_the_sample():
    """A pin of an older Keras 3 release (before the one CI installs) is backed by a failure."""
    seen: dict[str, set[str]] = {}  # entry source -> keras versions where the sample hit it
    for _, report in REPORTS:
        versions = report["targets"][0]["versions"]
        for row in report["results"]:
            if row["status"] in FAILING or row["status"] == "known_failure":
                for entry in entries_for(row, versions):
                    seen.setdefault(entry.source, set()).add(versions["keras"])
    for entry in ENTRIES:
        pinned = {p.removeprefix("==") for p in entry.versions.get("keras", ())}
        older = {v for v in pinned if Version("3") <= Version(v) < RELEASE_LINE_BEFORE}
        missing = older - seen.get(entry.source, set())
        assert not missing, f"{entry.source} pins {sorted(missing)} with no failure in the sample"


def test_a_failure_the_file_does_not_pin_is_not_recognised():
    """The check above can fail: the same failure on a release no entry pins is unknown."""
    report = next(r for e, r in REPORTS if e == "keras3.5-tf")
    row = next(r for r in report["results"] if (r["message"] or "").startswith("StopIteration"))
    assert entries_for(row, report["targets"][0]["versions"])
    assert not entries_for(row, {**report["targets"][0]["versions"], "keras": "3.7.0"})
    changed = {**row, "message": "StopIteration: something else"}
    assert not entries_for(changed, report["targets"][0]["versions"])
