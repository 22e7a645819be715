"""The matrix report (schema ``rnn-harness-matrix/2``): columns, per-test rows, the regression
timeline of each backend's release line, and the diffs between two columns.

A *column* is one environment of a matrix spec (``harness.matrix``), with the report its
run wrote, or none where its install or run failed. A *row* is one test on one layer
(``(property, test, layer)``), with a status per column. A *line* is one target
(``keras3-jax``, ``tf-keras``, ...) across the columns that ran it, ordered by the release
of Keras it ran (``keras`` in the report's versions, else the entry's pin); on it each
test and layer gets a *timeline*: the last release where it passed, the first where it
failed, and where it was fixed (and every change after). ``skipped``, ``not_run`` and a
column without the test give no verdict: the line steps over them. Matrix reports of
schema /1 (rows per property and layer) are still read (``load_matrix``).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from harness.errors import HarnessUsageError
from harness.report.model import row_identity, utc_now, worst_status

MATRIX_SCHEMA = "rnn-harness-matrix/2"
READABLE_MATRIX_SCHEMAS = ("rnn-harness-matrix/1", MATRIX_SCHEMA)
# On a release line a test passes or fails; the other statuses say nothing either way.
PASSING = ("passed", "fixed")
FAILING = ("failed", "error", "flaky", "known_failure")
# The distributions whose version places a column on a target's release line.
RELEASE_PACKAGES = ("keras", "keras-nightly", "tf-keras")
STATUS_WORD = {
    "passed": "pass",
    "failed": "FAIL",
    "error": "ERROR",
    "flaky": "FLAKY",
    "skipped": "skip",
    "known_failure": "known",
    "fixed": "fixed",
    "not_run": "not run",
}


def _pinned_release(packages: list[str], target: str) -> str | None:
    """The Keras version an entry pins (``keras==3.0.5``, ``tf-keras==2.17.0`` for tf-keras)."""
    wanted = ("tf-keras",) if target == "tf-keras" else ("keras", "keras-nightly")
    for text in packages:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        pins = [s.version for s in requirement.specifier if s.operator in ("==", "===")]
        if requirement.name.lower() in wanted and pins:
            return pins[0]
    return None


def _release_key(release: str | None) -> tuple[int, Version | str]:
    """Order releases by version; what is not a version goes last, in spec order."""
    try:
        return (0, Version(str(release)))
    except InvalidVersion:
        return (1, "")


def column_release(column: dict[str, Any], target: str) -> str | None:
    """The Keras release a column ran ``target`` on: the report's, else the entry's pin."""
    for info in column.get("targets") or []:
        if info.get("name") == target and (info.get("versions") or {}).get("keras"):
            return str(info["versions"]["keras"])
    return _pinned_release(column.get("packages") or [], target)


def _column_targets(column: dict[str, Any]) -> list[str]:
    return [str(t.get("name")) for t in column.get("targets") or []]


def lines_of(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target's release line: its columns in release order (spec order where equal).

    >>> cols = [{"name": "new", "targets": [{"name": "keras3-jax", "versions": {"keras": "3.15.1"}}]},
    ...         {"name": "old", "packages": ["keras==3.0.5"], "targets": [{"name": "keras3-jax"}]}]
    >>> [c["name"] for c in lines_of(cols)[0]["columns"]]
    ['old', 'new']
    """
    targets = list(dict.fromkeys(t for c in columns for t in _column_targets(c)))
    lines = []
    for target in targets:
        ran = [c for c in columns if target in _column_targets(c)]
        ordered = sorted(ran, key=lambda c: _release_key(column_release(c, target)))
        lines.append(
            {
                "target": target,
                "columns": [
                    {"name": c["name"], "release": column_release(c, target)} for c in ordered
                ],
            }
        )
    return lines


def timeline(cells: list[tuple[str, str | None]]) -> dict[str, Any]:
    """The verdict of one test on one release line: ``cells`` is ``(column, status)`` in
    release order (``None`` where the column has no such row).

    Returns ``last_passed``, ``first_failed`` and ``fixed_in`` (column names or ``None``)
    for the first time it broke, and ``changes``: every status change between consecutive
    columns that gave a verdict, each ``{"from", "to", "old", "new", "kind"}`` with kind
    ``broke``, ``fixed`` or ``changed`` (e.g. ``known_failure`` to ``failed``).

    >>> t = timeline([("3.0", "passed"), ("3.1", "skipped"), ("3.2", "failed"), ("3.3", "passed")])
    >>> t["last_passed"], t["first_failed"], t["fixed_in"]
    ('3.0', '3.2', '3.3')
    """
    judged = [(c, s) for c, s in cells if s in PASSING or s in FAILING]
    changes = []
    for (before, old), (after, new) in itertools.pairwise(judged):
        if old == new:
            continue
        kind = (
            "broke"
            if old in PASSING and new in FAILING
            else "fixed"
            if old in FAILING and new in PASSING
            else "changed"
        )
        changes.append({"from": before, "to": after, "old": old, "new": new, "kind": kind})
    last_passed = first_failed = fixed_in = None
    if judged and judged[0][1] in FAILING:
        first_failed = judged[0][0]
    else:
        broke = next((c for c in changes if c["kind"] == "broke"), None)
        if broke is not None:
            last_passed, first_failed = broke["from"], broke["to"]
    if first_failed is not None:
        after = [c for c, _ in judged]
        later = judged[after.index(first_failed) :]
        fixed_in = next((c for c, s in later if s in PASSING), None)
    return {
        "last_passed": last_passed,
        "first_failed": first_failed,
        "fixed_in": fixed_in,
        "changes": changes,
        "ran": len(judged),
        "failing": sum(s in FAILING for _, s in judged),
    }


def timeline_text(entry: dict[str, Any], releases: dict[str, str]) -> str:
    """A timeline in words, columns named by their release.

    >>> timeline_text({"last_passed": "a", "first_failed": "b", "fixed_in": None,
    ...                "changes": [{"kind": "broke", "to": "b"}], "ran": 3, "failing": 2},
    ...               {"a": "3.3.3", "b": "3.4.1"})
    'last passed in 3.3.3, failed from 3.4.1, not fixed since'
    """

    def name(column: str | None) -> str:
        return releases.get(column or "", column or "?") or str(column)

    if not entry["ran"]:
        return "no verdict (never ran, or skipped)"
    if entry["first_failed"] is None:
        return "passed in every release that ran it"
    if entry["failing"] == entry["ran"]:
        return "failed in every release that ran it"
    if entry["last_passed"] is None:
        text = f"failed from {name(entry['first_failed'])} (the first release that ran it)"
        text += f", fixed in {name(entry['fixed_in'])}"
    else:
        text = f"last passed in {name(entry['last_passed'])}, failed from "
        text += name(entry["first_failed"])
        text += (
            f", fixed in {name(entry['fixed_in'])}" if entry["fixed_in"] else ", not fixed since"
        )
    fixes = [i for i, c in enumerate(entry["changes"]) if c["to"] == entry["fixed_in"]]
    for change in entry["changes"][fixes[0] + 1 :] if fixes else []:
        if change["kind"] == "broke":
            text += f"; failed again from {name(change['to'])}"
        elif change["kind"] == "fixed":
            text += f"; fixed again in {name(change['to'])}"
    return text


def merge_matrix(
    columns: list[dict[str, Any]],
    reports: dict[str, dict[str, Any] | None],
    *,
    profile: str,
    diffs: str = "spec",
) -> dict[str, Any]:
    """One matrix report from the columns (spec order) and each column's report.

    Args:
        columns: ``{"name", "packages", "targets", "status", "message", ...}`` per column;
            ``targets`` as in the report, or ``[{"name": target}]`` without one.
        reports: column name -> its report, ``None`` where it has none.
        profile: the Hypothesis profile every column ran.
        diffs: ``"spec"`` compares each column with the one before it in the spec,
            ``"release"`` each column with the one before it on its release line.
    """
    from harness.report.compare import compare_reports

    statuses: dict[tuple[str, str, str], dict[str, dict[str, list[str]]]] = {}
    for column in columns:
        report = reports.get(column["name"])
        for row in (report or {}).get("results", []):
            prop, test, layer, target = row_identity(row)
            by_column = statuses.setdefault((prop, test, layer), {})
            by_column.setdefault(column["name"], {}).setdefault(target, []).append(row["status"])
    for column in columns:  # a column without a report ran nothing: each test is not_run there
        if reports.get(column["name"]) is None:
            for by_column in statuses.values():
                by_column.setdefault(column["name"], {})
                for target in _column_targets(column):
                    by_column[column["name"]].setdefault(target, ["not_run"])
    rows = [
        {
            "property": prop,
            "test": test,
            "layer": layer,
            "cells": {
                name: worst_status(s for group in by_target.values() for s in group)
                for name, by_target in by_column.items()
            },
        }
        for (prop, test, layer), by_column in sorted(statuses.items())
    ]
    lines = lines_of(columns)
    timelines = []
    for line in lines:
        names = [c["name"] for c in line["columns"]]
        for (prop, test, layer), by_column in sorted(statuses.items()):
            cells = [
                (n, worst_status(by_column[n][line["target"]]))
                if line["target"] in by_column.get(n, {})
                else (n, None)
                for n in names
            ]
            if all(s is None for _, s in cells):
                continue
            timelines.append(
                {
                    "target": line["target"],
                    "property": prop,
                    "test": test,
                    "layer": layer,
                    "cells": {n: s for n, s in cells if s is not None},
                    **timeline(cells),
                }
            )
    if diffs == "release":
        pairs = [
            (a["name"], b["name"]) for line in lines for a, b in itertools.pairwise(line["columns"])
        ]
    else:
        pairs = [(a["name"], b["name"]) for a, b in itertools.pairwise(columns)]
    diff_list = []
    for old, new in pairs:
        if reports.get(old) is None or reports.get(new) is None:
            continue
        cmp = compare_reports(reports[old], reports[new])
        diff_list.append(
            {
                "from": old,
                "to": new,
                "regressed": cmp.regressed,
                "broke": [asdict(c) for c in cmp.broke],
                "fixed": [asdict(c) for c in cmp.fixed],
                "changed": [asdict(c) for c in cmp.error_changes + cmp.other_changes],
                "versions": [asdict(v) for v in cmp.version_changes],
            }
        )
    return {
        "schema": MATRIX_SCHEMA,
        "created": utc_now(),
        "profile": profile,
        "columns": columns,
        "lines": lines,
        "rows": rows,
        "timelines": timelines,
        "diffs": diff_list,
    }


def upgrade_matrix(matrix: dict[str, Any]) -> dict[str, Any]:
    """A matrix report of schema /1 as /2: its rows get the property id as their test, and
    the lines and timelines are computed from its columns and cells."""
    if matrix.get("schema") == MATRIX_SCHEMA:
        return matrix
    rows = [{**r, "test": r.get("test") or r["property"]} for r in matrix.get("rows", [])]
    lines = lines_of(matrix.get("columns", []))
    timelines = []
    for line in lines:
        names = [c["name"] for c in line["columns"]]
        for row in rows:
            cells = [(n, row["cells"].get(n)) for n in names]
            if all(s is None for _, s in cells):
                continue
            timelines.append(
                {
                    "target": line["target"],
                    **{k: row[k] for k in ("property", "test", "layer")},
                    "cells": {n: s for n, s in cells if s is not None},
                    **timeline(cells),
                }
            )
    diffs = [{**d, "changed": d.get("changed", [])} for d in matrix.get("diffs", [])]
    return {
        **matrix,
        "schema": MATRIX_SCHEMA,
        "lines": lines,
        "rows": rows,
        "timelines": timelines,
        "diffs": diffs,
    }


def load_matrix(path: str | Path) -> dict[str, Any]:
    """Read a ``matrix.json`` of schema /1 or /2, as /2; a usage error for anything else."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessUsageError(
            f"{path}: expected a matrix.json written by rnn-harness matrix. Received: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(data, dict) or data.get("schema") not in READABLE_MATRIX_SCHEMAS:
        schema = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise HarnessUsageError(
            f"{path}: expected schema {' or '.join(READABLE_MATRIX_SCHEMAS)}. Received: "
            f"{schema!r}. Pass a matrix.json written by rnn-harness matrix"
        )
    return upgrade_matrix(data)


# --- views ---------------------------------------------------------------------------------


def releases_of(matrix: dict[str, Any], target: str) -> dict[str, str]:
    """Column name -> the release it shows on ``target``'s line (the name where unknown)."""
    line = next((ln for ln in matrix["lines"] if ln["target"] == target), {"columns": []})
    return {c["name"]: c["release"] or c["name"] for c in line["columns"]}


def line_views(matrix: dict[str, Any]) -> list[dict[str, Any]]:
    """Per release line: its columns and the timelines worth reading (some release failed or
    the status changed), plus how many passed in every release and how many never ran."""
    views = []
    for line in matrix["lines"]:
        entries = [t for t in matrix["timelines"] if t["target"] == line["target"]]
        releases = releases_of(matrix, line["target"])
        shown = [
            {**t, "text": timeline_text(t, releases)}
            for t in entries
            if t["failing"] or t["changes"]
        ]
        views.append(
            {
                "target": line["target"],
                "columns": line["columns"],
                "timelines": shown,
                "always_passed": sum(1 for t in entries if t["ran"] and not t["failing"]),
                "no_verdict": sum(1 for t in entries if not t["ran"]),
                "releases": releases,
            }
        )
    return views


def _column_line(col: dict[str, Any]) -> tuple[str, str]:
    targets = "; ".join(
        f"{t['name']}: " + ", ".join(f"{k} {v}" for k, v in (t.get("versions") or {}).items())
        for t in col["targets"]
    )
    status = col["status"] + (f" — {col['message']}" if col.get("message") else "")
    timings = col.get("timings") or {}
    if timings:
        status += " (" + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + ")"
    return targets, status


def render_matrix_markdown(matrix: dict[str, Any]) -> str:
    """The matrix as Markdown: environments, the regression timeline of each release line,
    the test x environment table, the diffs between two columns."""
    from harness.report.writers import markdown_text as md

    lines = [f"# rnn-harness matrix ({matrix['created']}, profile {matrix['profile']})", ""]
    lines += ["| environment | packages | targets and versions | status |", "|---|---|---|---|"]
    for col in matrix["columns"]:
        targets, status = _column_line(col)
        lines.append(
            f"| {md(col['name'])} | {md(' '.join(col['packages']))} | {md(targets)} "
            f"| {md(status)} |"
        )
    lines += ["", "## Regression timeline (each target's release line)", ""]
    lines += [
        "Per test and layer: the last release where it passed, the first where it failed, "
        "and where it was fixed. *skip*, *not run* and — give no verdict and are stepped over.",
        "",
    ]
    for view in line_views(matrix):
        names = [c["name"] for c in view["columns"]]
        releases = " → ".join(md(view["releases"][n]) for n in names)
        lines += [f"### {md(view['target'])}: {releases}", ""]
        lines.append(
            f"{view['always_passed']} test x layer rows passed in every release that ran them; "
            f"{view['no_verdict']} gave no verdict (skipped or not run everywhere)."
        )
        if view["timelines"]:
            head = [md(view["releases"][n]) for n in names]
            lines += ["", "| test | layer | " + " | ".join(head) + " | timeline |"]
            lines.append("|---|---|" + "---|" * len(names) + "---|")
            for t in view["timelines"]:
                cells = [STATUS_WORD.get(t["cells"].get(n, ""), "—") for n in names]
                lines.append(
                    f"| {md(t['test'])} ({md(t['property'])}) | {md(t['layer'])} | "
                    + " | ".join(cells)
                    + f" | {md(t['text'])} |"
                )
        lines.append("")
    names = [c["name"] for c in matrix["columns"]]
    lines += ["## Every test in every environment", ""]
    lines += ["| property | test | layer | " + " | ".join(map(md, names)) + " |"]
    lines.append("|---|---|---|" + "---|" * len(names))
    for row in matrix["rows"]:
        cells = [STATUS_WORD.get(row["cells"].get(n, ""), "—") for n in names]
        lines.append(
            f"| {md(row['property'])} | {md(row['test'])} | {md(row['layer'])} | "
            + " | ".join(cells)
            + " |"
        )
    lines += ["", "## Diffs between two columns", ""]
    for diff in matrix["diffs"]:
        lines.append(
            f"### {md(diff['from'])} → {md(diff['to'])}"
            + (" — REGRESSED" if diff["regressed"] else "")
        )
        for v in diff["versions"]:
            lines.append(f"- {md(v['target'])}: {md(v['package'])} {md(v['old'])} → {md(v['new'])}")
        for label in ("broke", "fixed", "changed"):
            for c in diff.get(label, []):
                lines.append(
                    f"- {label}: {md(c['test'])} ({md(c['property'])}) [{md(c['layer'])}] "
                    f"{c['old']} → {c['new']}"
                )
        if not any(diff.get(label) for label in ("broke", "fixed", "changed")):
            lines.append("- no status changed")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_matrix_html(matrix: dict[str, Any]) -> str:
    """The matrix as one self-contained, escaped HTML page (``templates/matrix.html.j2``)."""
    from harness.report.writers import render_template

    columns = [
        {**c, "targets_text": _column_line(c)[0], "status_text": _column_line(c)[1]}
        for c in matrix["columns"]
    ]
    return render_template(
        "matrix.html.j2", m=matrix, columns=columns, views=line_views(matrix), words=STATUS_WORD
    )
