"""The report model: merge per-target results into one report, load and validate it.

``report.json`` (schema ``rnn-harness-report/2``, see DESIGN.md) is the source
of truth; every other format is rendered from the dict built here. A report is
plain JSON data (dicts, lists, strings, numbers), never a custom class, so that
what is written is exactly what is read back; every row in it went through
``harness.report.row.ResultRow``. Reports of schema /1 (rows without ``test``)
are still read: each of their rows gets its property id as its test.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import HarnessUsageError
from harness.report.row import FAILING_STATUSES, SEVERITY, STATUSES, ResultRow

SCHEMA = "rnn-harness-report/2"
READABLE_SCHEMAS = ("rnn-harness-report/1", SCHEMA)
RESULT_KEYS = tuple(ResultRow.__dataclass_fields__)
REPORT_KEYS = ("schema", "created", "profile", "seed", "targets", "results", "summary")
# The keys a row cannot do without: it is keyed and counted by them.
ROW_IDENTITY_KEYS = ("property", "layer", "target", "status")
__all__ = [
    "FAILING_STATUSES",
    "READABLE_SCHEMAS",
    "SCHEMA",
    "SEVERITY",
    "STATUSES",
    "excused",
    "exit_code",
    "gate_failures",
    "informational_targets",
    "load_report",
    "merge_payloads",
    "row_identity",
    "row_key",
    "summarize",
    "validate_report",
    "worst_status",
]
CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
HOW_TO_FIX = "Pass a report.json written by `rnn-harness run`"

Report = dict[str, Any]


def utc_now() -> str:
    """The current UTC time in the report's ``created`` format, e.g. ``2026-11-26T12:00:00Z``."""
    return datetime.now(timezone.utc).strftime(CREATED_FORMAT)


def row_key(row: dict[str, Any]) -> tuple[str, str, str]:
    """The cell a result row is shown in: ``(property, layer, target)``.

    Args:
        row: one entry of a report's ``results``.
    """
    return (str(row.get("property")), str(row.get("layer")), str(row.get("target")))


def row_identity(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """The identity of a result row: ``(property, test, layer, target)``.

    Args:
        row: one entry of a report's ``results``.
    """
    prop = str(row.get("property"))
    return (prop, str(row.get("test") or prop), str(row.get("layer")), str(row.get("target")))


def worst_status(statuses: Iterable[str]) -> str:
    """The most serious of ``statuses`` (see ``SEVERITY``); ``"skipped"`` when empty.

    Args:
        statuses: status strings from ``STATUSES``.

    >>> worst_status(["passed", "failed", "skipped"])
    'failed'
    """
    given = set(statuses)
    return next((s for s in SEVERITY if s in given), "skipped")


def summarize(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Count results per status; every status in ``STATUSES`` is present.

    Args:
        results: result rows, each with a ``status`` from ``STATUSES``.
    """
    counts = dict.fromkeys(STATUSES, 0)
    for row in results:
        counts[row["status"]] += 1
    return counts


def _normalise_row(row: Any, *, target: str, where: str) -> dict[str, Any]:
    if isinstance(row, dict) and not row.get("target"):
        row = {**row, "target": target}
    try:
        return ResultRow.from_dict(row, where=where).to_dict()
    except HarnessUsageError as exc:
        raise HarnessUsageError(f"{exc}. Pass the payload written by --rnn-results") from None


def merge_payloads(
    payloads: list[dict[str, Any]],
    *,
    profile: str,
    seed: int | None,
    created: str | None = None,
) -> Report:
    """Merge the per-target payloads of one run into one report.

    Args:
        payloads: what the pytest plugin writes with ``--rnn-results``, one per target:
            ``{"profile", "seed", "target": {"name", "versions", "device"},
            "known_failures": [files], "results": [...]}``.
        profile: the Hypothesis profile the run used, recorded for replay.
        seed: the seed the run used (``0`` for a derandomized profile, ``None`` if random).
        created: the report's UTC timestamp; the current time when ``None``.

    >>> report = merge_payloads([], profile="ci", seed=0, created="2026-11-26T12:00:00Z")
    >>> report["schema"], report["summary"]["passed"]
    ('rnn-harness-report/2', 0)
    """
    targets: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for index, payload in enumerate(payloads):
        where = f"results payload {index}"
        if not isinstance(payload, dict) or not isinstance(payload.get("target"), dict):
            raise HarnessUsageError(
                f"{where}: expected a JSON object with a 'target' object and a 'results' list. "
                f"Received: {type(payload).__name__} with keys "
                f"{sorted(payload) if isinstance(payload, dict) else '-'}. "
                "Pass the payload written by --rnn-results"
            )
        info = payload["target"]
        name = info.get("name")
        if not isinstance(name, str) or not name:
            raise HarnessUsageError(
                f"{where}: expected target.name to be a target name such as "
                f"'keras3-tensorflow'. Received: {name!r}. Pass the payload written by "
                "--rnn-results"
            )
        rows = payload.get("results")
        if not isinstance(rows, list):
            raise HarnessUsageError(
                f"{where} ({name}): expected 'results' to be a list. "
                f"Received: {type(rows).__name__}. Pass the payload written by --rnn-results"
            )
        if name in seen:
            # One process per target: two payloads for one name mean two runs were mixed.
            if seen[name] != info:
                raise HarnessUsageError(
                    f"{where}: expected one payload per target. Received two for {name!r} "
                    "with different versions or devices. Merge payloads from one run only"
                )
        else:
            seen[name] = info
            targets.append(dict(info))
        results.extend(
            _normalise_row(row, target=name, where=f"{where} ({name}) result {i}")
            for i, row in enumerate(rows)
        )
    results.sort(key=row_key)  # list.sort is stable: rows of one cell keep their order
    report: Report = {
        "schema": SCHEMA,
        "created": created if created is not None else utc_now(),
        "profile": profile,
        "seed": seed,
        "targets": targets,
    }
    if any("known_failures" in p for p in payloads):
        # The known-failures files the run applied (each target's, in order, each once).
        files = [f for p in payloads for f in p.get("known_failures") or []]
        report["known_failures"] = list(dict.fromkeys(files))
    report["results"] = results
    report["summary"] = summarize(results)
    return report


def validate_report(report: Any, *, source: str = "report") -> Report:
    """Check that ``report`` follows schema ``rnn-harness-report/2`` (or /1) and return it.

    Rows of a /1 report are brought to /2 (``test`` defaults to the property id).

    Args:
        report: the decoded JSON.
        source: what to call it in an error message, usually its path.

    Raises ``HarnessUsageError`` with one line: expected, received, how to fix it.
    """
    if not isinstance(report, dict):
        raise HarnessUsageError(
            f"{source} is not an rnn-harness report: expected a JSON object with schema "
            f"{SCHEMA!r}. Received: a JSON {type(report).__name__}. {HOW_TO_FIX}"
        )
    if report.get("schema") not in READABLE_SCHEMAS:
        raise HarnessUsageError(
            f"{source} is not an rnn-harness report: expected schema "
            f"{' or '.join(map(repr, READABLE_SCHEMAS))}. "
            f"Received: {report.get('schema')!r}. {HOW_TO_FIX}"
        )
    missing = [key for key in REPORT_KEYS if key not in report]
    if missing:
        raise HarnessUsageError(
            f"{source} is an incomplete rnn-harness report: expected keys "
            f"{', '.join(REPORT_KEYS)}. Received no {', '.join(repr(k) for k in missing)}. "
            f"{HOW_TO_FIX}"
        )
    for key, kind in (("targets", list), ("results", list), ("summary", dict)):
        if not isinstance(report[key], kind):
            raise HarnessUsageError(
                f"{source} is not a valid rnn-harness report: expected {key!r} to be a JSON "
                f"{'array' if kind is list else 'object'}. Received: "
                f"{type(report[key]).__name__}. {HOW_TO_FIX}"
            )
    _check_targets(report["targets"], source)
    for i, row in enumerate(report["results"]):
        if not isinstance(row, dict):
            raise HarnessUsageError(
                f"{source} is not a valid rnn-harness report: expected results[{i}] to be a "
                f"JSON object. Received: {type(row).__name__}. {HOW_TO_FIX}"
            )
        absent = [key for key in ROW_IDENTITY_KEYS if key not in row]
        if absent:
            raise HarnessUsageError(
                f"{source} is an incomplete rnn-harness report: expected results[{i}] to have "
                f"keys {', '.join(ROW_IDENTITY_KEYS)}. Received no "
                f"{', '.join(repr(k) for k in absent)}. {HOW_TO_FIX}"
            )
        if row["status"] not in STATUSES:
            raise HarnessUsageError(
                f"{source} is not a valid rnn-harness report: expected results[{i}].status in "
                f"{', '.join(STATUSES)}. Received: {row['status']!r}. {HOW_TO_FIX}"
            )
    report["results"] = [
        ResultRow.from_dict(row, where=f"{source}: results[{i}]").to_dict()
        for i, row in enumerate(report["results"])
    ]
    report["summary"] = {**dict.fromkeys(STATUSES, 0), **report["summary"]}
    return report


def _check_targets(targets: list[Any], source: str) -> None:
    """Each entry of ``targets`` is an object, and no two have one name.

    Rows, the gate and merging find a target's entry by its name, so a second entry of
    one name would silently lose. Nothing the harness writes has one: ``merge_payloads``
    keeps one entry per name, and ``rnn-harness merge`` names each environment of a
    target apart (``keras3-jax (keras 3.0.5)``), so a repeat is a hand-edited report.
    """
    first: dict[str, int] = {}  # repr(name) -> the index of its first entry
    for i, info in enumerate(targets):
        if not isinstance(info, dict):
            raise HarnessUsageError(
                f"{source} is not a valid rnn-harness report: expected targets[{i}] to be a "
                f"JSON object. Received: {type(info).__name__}. {HOW_TO_FIX}"
            )
        name = repr(info.get("name"))  # repr: a crafted name may be unhashable
        if name in first:
            raise HarnessUsageError(
                f"{source} is not a valid rnn-harness report: expected each target once in "
                f"'targets'. Received {name} twice (targets[{first[name]}] and "
                f"targets[{i}]). {HOW_TO_FIX}, or remove the repeated entry"
            )
        first[name] = i


def load_report(path: str | Path) -> Report:
    """Read and validate a ``report.json``.

    Args:
        path: the file written by ``rnn-harness run`` (or ``writers.write_json``).

    Raises ``HarnessUsageError`` (never a traceback) for a missing or unreadable
    file, invalid JSON, another schema, or missing keys.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HarnessUsageError(
            f"{path} does not exist: expected the path of a report.json. Received: a path "
            f"with no file. {HOW_TO_FIX}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessUsageError(
            f"{path} cannot be read as a report: expected a UTF-8 JSON file. Received: "
            f"{type(exc).__name__}: {exc}. {HOW_TO_FIX}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HarnessUsageError(
            f"{path} is not JSON: expected a report.json with schema {SCHEMA!r}. Received: "
            f"{exc.msg} at line {exc.lineno}, column {exc.colno}. {HOW_TO_FIX}"
        ) from None
    return validate_report(data, source=str(path))


def informational_targets(report: Report) -> set[str]:
    """Names of the report's targets that do not gate (``"gate": false`` in their info).

    A GPU's ``native`` precision is one: its tolerance cannot see a small state drift
    (its ``detection_floor`` says how small), so it is reported, not gated; the GPU's
    ``strict`` run is the gate.
    """
    return {
        str(t.get("name"))
        for t in report["targets"]
        # Only a GPU's native run is informational: a "gate": false anywhere else (an
        # edited or foreign report) is not believed.
        if t.get("gate") is False and t.get("device") == "gpu" and t.get("precision") == "native"
    }


def excused(row: dict[str, Any], informational: set[str]) -> bool:
    """Whether a report row (plain data) is a failure that an informational target's
    run reports without gating (see ``gate_failures``)."""
    return row.get("target") in informational and _excused(ResultRow.from_dict(row))


def _excused(row: ResultRow) -> bool:
    """Whether an informational target's failing row is excused from the gate: only a
    failed comparison under a non-zero tolerance (what TF32 may move). A crash, a flaky
    result, an exact check or a check with no tolerance gates on every target."""
    tol = row.tolerance or {}
    return row.status == "failed" and bool(tol.get("rtol") or tol.get("atol"))


def gate_failures(report: Report) -> list[ResultRow]:
    """The rows that fail the gate: failing rows (see ``ResultRow.failing``), except a
    tolerance failure of an informational target (a GPU's ``native`` run)."""
    informational = informational_targets(report)
    rows = (ResultRow.from_dict(row) for row in report["results"])
    return [
        row for row in rows if row.failing and not (row.target in informational and _excused(row))
    ]


def exit_code(report: Report) -> int:
    """The process exit status a report calls for: 1 if any result failed, errored or was flaky.

    Args:
        report: a report dict (from ``merge_payloads`` or ``load_report``).

    Passed, skipped and known failures exit 0; so does ``fixed`` on other versions than
    the entry was recorded for (see ``ResultRow.failing``), and any row of an
    informational target (see ``informational_targets``).
    """
    return int(bool(gate_failures(report)))
