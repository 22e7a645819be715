"""Writers: one report dict rendered as JSON, Markdown, HTML and JUnit XML.

``report.json`` is the source of truth; the other three are views of it:
Markdown for a CI step summary, one self-contained HTML file for people, and
JUnit XML for CI test tabs. Every writer is a pure function of the report, so
``rnn-harness`` can re-render old reports. Each header says how to replay the
run: targets with their versions, the profile and the seed.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from harness.report.model import (
    FAILING_STATUSES,
    RESULT_KEYS,
    SEVERITY,
    STATUSES,
    Report,
    excused,
    gate_failures,
    informational_targets,
    row_key,
    worst_status,
)
from harness.report.row import DETAIL_STATUSES

TEMPLATES_DIR = Path(__file__).parent / "templates"
# Short cell text per status; the word keeps the matrix readable without colour.
STATUS_LABELS = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "error": "💥 error",
    "skipped": "⏭️ skipped",
    "known_failure": "⚠️ known",
    "fixed": "🎉 fixed",
    "flaky": "🎲 flaky",
    "not_run": "⏸️ not run",
}
# The same without the emoji: a count beside each status in a matrix cell.
STATUS_WORDS = {s: label.split(" ", 1)[1] for s, label in STATUS_LABELS.items()}
# What each status means, for the legend under a report's matrix.
STATUS_MEANINGS = {
    "passed": "every example held",
    "failed": "a new failure (fails the gate)",
    "error": "the harness or the framework crashed (fails the gate)",
    "skipped": "does not apply here (the reasons are listed below)",
    "known_failure": "failed exactly as a reviewed known-failures entry describes",
    "fixed": "a known failure that did not reproduce",
    "flaky": "failed, but not again when replayed (fails the gate)",
    "not_run": "the run was interrupted before the test finished",
}
MATRIX_LEGEND = (
    "Each cell holds every test of the property on that layer (one or several: "
    "`composition` has about twenty): its statuses, the most serious first, each with how many "
    "tests ended in it. A status without a number is a cell of one test."
)
# GitHub caps a step summary at 1 MiB: a long traceback must not push the rest out.
MAX_MESSAGE_CHARS = 4000
MAX_MARKDOWN_FAILURES = 50  # beyond this a list stops helping; report.html has all of them
# The whole counterexample stays in report.json; a page of numbers beyond this helps no one.
MAX_COUNTEREXAMPLE_CHARS = 100_000
# XML 1.0 forbids these characters (ANSI colour escapes in messages are the usual source).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
FILE_NAMES = {
    "json": "report.json",
    "markdown": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
}


# --- shared views ------------------------------------------------------------------


def target_names(report: Report) -> list[str]:
    """Target names in report order, then any that only appear in results.

    Args:
        report: a report dict.
    """
    names = [t.get("name", "?") for t in report["targets"]]
    for row in report["results"]:
        if row["target"] not in names:
            names.append(row["target"])
    return names


def matrix(report: Report) -> list[dict[str, Any]]:
    """The property x layer matrix: one dict per (property, layer) with a cell per target.

    Args:
        report: a report dict.

    Each row is ``{"property", "layer", "cells": {target: {"status", "count", "counts",
    "anchor"}}}``: ``status`` is the most serious of the cell's rows, ``count`` how many rows
    it holds, ``counts`` how many ended in each status (most serious first).
    """
    cells: dict[tuple[str, str], dict[str, list[int]]] = {}
    for index, row in enumerate(report["results"]):
        prop, layer, target = row_key(row)
        cells.setdefault((prop, layer), {}).setdefault(target, []).append(index)
    rows = []
    for (prop, layer), by_target in sorted(cells.items()):
        shown = {}
        for target, indices in by_target.items():
            statuses = [report["results"][i]["status"] for i in indices]
            status = worst_status(statuses)
            anchor = next(
                (f"r{i}" for i in indices if report["results"][i]["status"] == status), None
            )
            counts = {s: statuses.count(s) for s in SEVERITY if s in statuses}
            shown[target] = {
                "status": status,
                "count": len(indices),
                "counts": counts,
                "anchor": anchor,
                "text": cell_text(counts),
            }
        rows.append({"property": prop, "layer": layer, "cells": shown})
    return rows


def cell_text(counts: dict[str, int], *, emoji: bool = True) -> str:
    """A matrix cell: each status with its count, the most serious first.

    Args:
        counts: rows per status, most serious first (``matrix``'s ``counts``).
        emoji: lead with the worst status's emoji label (reports) or words only (console).

    >>> cell_text({"known_failure": 2, "passed": 15})
    '⚠️ known 2 · passed 15'
    >>> cell_text({"passed": 1}, emoji=False)
    'passed'
    """
    parts = [f"{STATUS_WORDS[s]} {n}" for s, n in counts.items()]
    if sum(counts.values()) == 1:
        parts = [STATUS_WORDS[next(iter(counts))]]
    if emoji:
        parts[0] = STATUS_LABELS[next(iter(counts))].split(" ", 1)[0] + " " + parts[0]
    return " · ".join(parts)


def replay_lines(report: Report) -> list[str]:
    """Plain-text lines saying how to replay the run: profile, seed, targets with versions.

    Args:
        report: a report dict.
    """
    seed = report.get("seed")
    lines = [
        f"profile {report.get('profile')}, seed "
        f"{seed if seed is not None else 'random (see each failure for its blob)'}"
    ]
    if "known_failures" in report:
        lines.append(f"known failures: {', '.join(report['known_failures']) or 'none'}")
    for info in report["targets"]:
        versions = ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items())
        line = f"{info.get('name')} on {device_text(info)}: {versions or 'versions unknown'}"
        if info.get("gate") is False:
            line += (
                " (informational, not gated: its tolerance's detection floor is "
                f"{info.get('detection_floor', 'unknown')}; the strict run is the gate)"
            )
        if info.get("shrink") is False:
            line += " (failures not shrunk: first counterexample found)"
        cache = (info.get("compilation_cache") or {}).get("dir")
        if cache:
            line += f" (JAX compilation cache: {cache})"
        if info.get("error"):
            line += f" (target unavailable: {info['error']})"
        lines.append(line)
    return lines


def device_text(info: dict) -> str:
    """``gpu (NVIDIA H100 80GB HBM3, driver 580.1, CUDA 13.0, cuDNN 9.10.2), precision native``."""
    details = info.get("device_details") or {}
    parts = [details.get("name")]
    for key, label in (("driver", "driver"), ("cuda", "CUDA"), ("cudnn", "cuDNN")):
        if details.get(key):
            parts.append(f"{label} {details[key]}")
    named = ", ".join(p for p in parts if p)
    text = str(info.get("device", "?")) + (f" ({named})" if named else "")
    if info.get("precision"):
        text += f", precision {info['precision']}"
    return text


def replay_run_command(report: Report) -> str:
    """The ``rnn-harness run`` command that replays the whole run.

    Args:
        report: a report dict.
    """
    command = f"rnn-harness run --targets {','.join(target_names(report))}"
    command += f" --profile {report.get('profile')}"
    if report.get("seed") is not None:
        command += f" --seed {report['seed']}"
    precisions = {t.get("precision") for t in report["targets"]} - {None, "strict"}
    if precisions:
        command += f" --precision {precisions.pop()}"
    if any(t.get("shrink") is False for t in report["targets"]):
        command += " --no-shrink"
    return command


def replay_command(report: Report, target: str) -> str:
    """The pytest command that replays one target of the run.

    Args:
        report: a report dict.
        target: a target name from the report.
    """
    command = f"pytest properties --target {target} --hypothesis-profile {report.get('profile')}"
    precision = next(
        (t.get("precision") for t in report["targets"] if t.get("name") == target), None
    )
    if precision not in (None, "strict"):
        command += f" --rnn-precision {precision}"
    if report.get("seed") is not None:
        command += f" --rnn-seed {report['seed']}"
    return command


def replay_commands(report: Report) -> list[str]:
    """The commands that replay the report: its own (``replay_commands``, e.g. check-model's),
    else the ``rnn-harness run`` command and a pytest command per target.

    Args:
        report: a report dict.
    """
    if report.get("replay_commands"):
        return list(report["replay_commands"])
    return [replay_run_command(report)] + [replay_command(report, t) for t in target_names(report)]


def summary_line(report: Report) -> str:
    """One line: the verdict and the count of every status.

    Args:
        report: a report dict.

    The verdict is FAILED when anything fails the gate, else INCOMPLETE when some tests
    did not run (an interrupted run), else PASSED. Failures on informational targets
    (a GPU's ``native`` precision) are counted but do not make it FAILED; the line says so.
    """
    summary = report["summary"]
    failing = gate_failures(report)
    verdict = "FAILED" if failing else "INCOMPLETE" if summary.get("not_run") else "PASSED"
    counts = ", ".join(f"{summary.get(s, 0)} {s.replace('_', ' ')}" for s in STATUSES)
    line = f"{verdict}: {counts} ({len(report['results'])} results)"
    informational = informational_targets(report)
    if informational:
        line += f"; {', '.join(sorted(informational))}: informational, not gated"
    return line


def _truncate(text: str, limit: int, *, where: str) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... ({len(text) - limit} more characters in {where})"


def _is_scalar_list(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_scalar_list(v) for v in value)
    return not isinstance(value, dict)


def pretty_json(value: Any, indent: int = 0) -> str:
    """JSON with objects indented and arrays of numbers kept on one line.

    Args:
        value: plain JSON data.
        indent: the current indentation level (for recursion).

    >>> print(pretty_json({"splits": [2, 3]}))
    {
      "splits": [2, 3]
    }
    """
    pad = "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [
            f"{pad}{json.dumps(str(k))}: {pretty_json(v, indent + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list) and value and not _is_scalar_list(value):
        items = [f"{pad}{pretty_json(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(value, separators=(", ", ": "), default=str)


# --- JSON ------------------------------------------------------------------------------


def write_json(report: Report, path: str | Path) -> Path:
    """Write ``report`` as indented JSON and return the path.

    Args:
        report: a report dict.
        path: the file to write; parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return path


# --- Markdown --------------------------------------------------------------------------


def markdown_text(value: Any) -> str:
    """Text safe in a Markdown table cell: no HTML, no pipes, one line.

    Args:
        value: anything; shown through ``str``.
    """
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def fenced_block(text: str) -> str:
    """``text`` in a fenced code block whose fence is longer than any backtick run inside it.

    Args:
        text: shown verbatim.
    """
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _first_line_of(value: Any) -> str:
    text = str(value or "").strip()
    return text.splitlines()[0] if text else ""


def grouped_rows(rows: list[dict[str, Any]], reason_of) -> list[dict[str, Any]]:
    """Rows grouped by target and reason, each group's tests with their layers.

    Args:
        rows: result rows.
        reason_of: the one-line reason of a row (e.g. its skip message).

    Returns ``[{"target", "reason", "tests": [(property, test, [layers])]}]`` in report
    order: a list a reader can scan, where one line per row would repeat itself.
    """
    groups: dict[tuple[str, str], dict[tuple[str, str], list[str]]] = {}
    for row in rows:
        tests = groups.setdefault((row["target"], reason_of(row)), {})
        prop = str(row["property"])
        tests.setdefault((prop, str(row.get("test") or prop)), []).append(str(row["layer"]))
    return [
        {
            "target": target,
            "reason": reason,
            "tests": [(prop, test, layers) for (prop, test), layers in tests.items()],
        }
        for (target, reason), tests in groups.items()
    ]


def listed_tests(tests: list[tuple[str, str, list[str]]]) -> str:
    """``composition · test_x [GRU, LSTM]; paths_agree [LSTM]`` (a test named by its
    property id alone is a test the run never named)."""
    return "; ".join(
        (prop if test == prop else f"{prop} · {test}") + f" [{', '.join(layers)}]"
        for prop, test, layers in tests
    )


def _labelled_reason(row: dict[str, Any]) -> str:
    """``skipped: needs a GPU``; a reason that already starts with the status stays as it is."""
    word, reason = STATUS_WORDS[row["status"]], _first_line_of(row.get("message"))
    return reason if reason.startswith(word) else f"{word}: {reason}" if reason else word


def _known_reason(row: dict[str, Any]) -> str:
    return _first_line_of(row.get("known_failure") or row.get("message"))


def render_markdown(report: Report) -> str:
    """Render ``report`` as Markdown sized for a GitHub CI step summary.

    Args:
        report: a report dict.

    A summary line, how to replay, the property x layer matrix with one column per
    target and what its cells mean, then each failure and error with its message and
    reproducer, the known failures, the skipped tests and what did not run, with reasons.
    """
    targets = target_names(report)
    out = [
        "# rnn-harness report",
        "",
        f"**{summary_line(report)}**",
        "",
        f"Created {markdown_text(report.get('created'))}. Replay:",
        "",
    ]
    out += [f"- {markdown_text(line)}" for line in replay_lines(report)]
    out += ["", "```sh", *replay_commands(report), "```", ""]
    out += ["## Matrix", ""]
    if targets:
        out.append("| property | layer | " + " | ".join(markdown_text(t) for t in targets) + " |")
        out.append("|---|---|" + "---|" * len(targets))
        for row in matrix(report):
            cells = [row["cells"][t]["text"] if t in row["cells"] else "-" for t in targets]
            out.append(
                f"| {markdown_text(row['property'])} | {markdown_text(row['layer'])} | "
                + " | ".join(cells)
                + " |"
            )
        present = [s for s in SEVERITY if report["summary"].get(s)]
        out += ["", MATRIX_LEGEND + " A dash: the target has no row for the cell.", ""]
        out += [f"- {STATUS_LABELS[s]}: {STATUS_MEANINGS[s]}" for s in present]
    else:
        out.append("No results.")
    failures = [r for r in report["results"] if r["status"] in FAILING_STATUSES]
    if failures:
        out += ["", "## Failures", ""]
        for row in failures[:MAX_MARKDOWN_FAILURES]:
            prop, layer, target = row_key(row)
            test = f" · {markdown_text(row['test'])}" if row.get("test") not in (None, prop) else ""
            out.append(
                f"### {markdown_text(prop)}{test} · {markdown_text(layer)} · "
                f"{markdown_text(target)} — {row['status']}"
            )
            out.append("")
            message = _truncate(
                str(row.get("message") or "(no message)"), MAX_MESSAGE_CHARS, where="report.json"
            )
            out += [fenced_block(message), ""]
            if row.get("reproducer"):
                out += [f"Reproducer: `{markdown_text(row['reproducer'])}`", ""]
        if len(failures) > MAX_MARKDOWN_FAILURES:
            out.append(
                f"... and {len(failures) - MAX_MARKDOWN_FAILURES} more failures: see report.html"
            )
    sections = (
        ("Known failures", "known_failure", _known_reason),
        ("Skipped", "skipped", lambda r: _first_line_of(r.get("message")) or "no reason given"),
        ("Not run", "not_run", lambda r: _first_line_of(r.get("message")) or "not run"),
    )
    for title, status, reason_of in sections:
        rows = [r for r in report["results"] if r["status"] == status]
        if not rows:
            continue
        while out and not out[-1]:
            out.pop()  # one blank line between sections, whatever came before
        out += ["", f"## {title} ({len(rows)})", ""]
        for group in grouped_rows(rows, reason_of):
            out.append(
                f"- {markdown_text(group['target'])}: {markdown_text(group['reason'])} — "
                f"{markdown_text(listed_tests(group['tests']))}"
            )
    return "\n".join(out).rstrip() + "\n"


# --- the per-timestep plot -------------------------------------------------------------


def _candidates(counterexample: dict[str, Any]) -> list[dict[str, Any]]:
    # Properties record the drawn case under a name (``case``): look one level down too.
    return [counterexample] + [v for v in counterexample.values() if isinstance(v, dict)]


def plot_data(counterexample: Any) -> tuple[list[float], list[int]] | None:
    """The absolute difference per timestep and the chunk lengths, if the counterexample has them.

    Args:
        counterexample: a result's ``counterexample`` (plain JSON data or ``None``).

    Found at the top level or one object down: ``splits`` (chunk lengths) with
    either ``abs_diff_per_timestep`` (floats) or ``actual`` and ``expected`` arrays
    of shape ``(batch, timesteps, units)``, reduced to the largest difference per
    timestep. ``None`` unless the timesteps add up to ``sum(splits)``.
    """
    if not isinstance(counterexample, dict):
        return None
    found = _candidates(counterexample)
    splits = next((d["splits"] for d in found if "splits" in d), None)
    diff = next((d["abs_diff_per_timestep"] for d in found if "abs_diff_per_timestep" in d), None)
    try:
        if diff is None:
            pair = next((d for d in found if "actual" in d and "expected" in d), None)
            if pair is None:
                return None
            actual = np.asarray(pair["actual"], dtype=np.float64)
            expected = np.asarray(pair["expected"], dtype=np.float64)
            if actual.ndim != 3 or actual.shape != expected.shape:
                return None
            diff = np.abs(actual - expected).max(axis=(0, 2)).tolist()
        values = [float(v) for v in diff]
        lengths = [int(s) for s in splits] if isinstance(splits, list) else None
    except (TypeError, ValueError):
        return None
    if not lengths or any(s < 1 for s in lengths) or sum(lengths) != len(values):
        return None
    return values, lengths


def render_plot(diff: list[float], splits: list[int], *, title: str = "") -> str:
    """A PNG of the absolute difference per timestep, chunk boundaries as vertical lines.

    Args:
        diff: the largest absolute difference at each timestep.
        splits: the chunk lengths; a line is drawn where each chunk after the first starts.
        title: the plot's title.

    Returns a ``data:image/png;base64,...`` URI to embed in HTML.
    """
    # Figure without pyplot: no global backend switch, no figure registry to leak.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2.6), dpi=100)
    axes = figure.add_subplot()
    steps = np.arange(len(diff))
    shown = [v if math.isfinite(v) else np.nan for v in diff]
    axes.plot(steps, shown, marker="o", markersize=3, linewidth=1, color="#b3261e")
    for boundary in np.cumsum(splits)[:-1]:
        axes.axvline(boundary - 0.5, color="#555", linestyle="--", linewidth=0.8)
    axes.set_xlabel("timestep (dashed: a new chunk starts)")
    axes.set_ylabel("max |actual - expected|")
    axes.set_xlim(-0.5, max(len(diff) - 0.5, 0.5))
    if title:
        axes.set_title(title, fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --- HTML ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Autoescape for every template regardless of its file name: nothing from a
    # report (layer names, messages, counterexamples) may become markup.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_template(name: str, **context: Any) -> str:
    """Render one template from ``harness/report/templates`` with autoescaping on.

    Args:
        name: the template's file name, e.g. ``"report.html.j2"``.
        context: the template's variables.
    """
    return _environment().get_template(name).render(**context)


def _tolerance_text(tolerance: Any) -> str:
    if isinstance(tolerance, dict) and tolerance:
        return ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in tolerance.items()
        )
    return str(tolerance) if tolerance else "-"


def _details(report: Report) -> list[dict[str, Any]]:
    details = []
    for index, row in enumerate(report["results"]):
        if row["status"] not in DETAIL_STATUSES:
            continue
        counterexample = row.get("counterexample")
        plot = None
        data = plot_data(counterexample)
        if data is not None:
            prop, layer, target = row_key(row)
            plot = render_plot(*data, title=f"{prop} · {layer} · {target}")
        details.append(
            {
                "anchor": f"r{index}",
                # Rows read from older files may lack optional keys: the template sees them all.
                "row": {**dict.fromkeys(RESULT_KEYS), "known_failure": None, **row},
                "tolerance": _tolerance_text(row.get("tolerance")),
                "message": _truncate(
                    str(row.get("message") or ""), MAX_COUNTEREXAMPLE_CHARS, where="report.json"
                ),
                "counterexample": None
                if counterexample is None
                else _truncate(
                    pretty_json(counterexample), MAX_COUNTEREXAMPLE_CHARS, where="report.json"
                ),
                "plot": plot,
            }
        )
    return details


def render_html(report: Report) -> str:
    """Render ``report`` as one self-contained HTML page (no external files or links).

    Args:
        report: a report dict.

    The matrix is colour-coded by status; each failure, error and known failure
    shows its message, its counterexample (collapsible) and its reproducer, and a
    plot of the difference per timestep when the counterexample has the data.
    """
    targets = target_names(report)
    return render_template(
        "report.html.j2",
        report=report,
        summary_line=summary_line(report),
        statuses=STATUSES,
        labels=STATUS_LABELS,
        targets=targets,
        replay=replay_lines(report),
        commands=replay_commands(report),
        matrix=matrix(report),
        legend=MATRIX_LEGEND,
        meanings=STATUS_MEANINGS,
        failing=bool(gate_failures(report)),
        skipped=grouped_rows(
            [r for r in report["results"] if r["status"] in ("skipped", "not_run")],
            _labelled_reason,
        ),
        listed_tests=listed_tests,
        details=_details(report),
    )


# --- JUnit XML -------------------------------------------------------------------------


def _xml_text(value: Any) -> str:
    return _XML_INVALID.sub("", str(value))


def _seconds(rows: Iterable[dict[str, Any]]) -> float:
    return sum(float(r.get("duration_s") or 0.0) for r in rows)


def render_junit(report: Report) -> str:
    """Render ``report`` as JUnit XML: one testsuite per target, one testcase per result.

    Args:
        report: a report dict.

    Testcases are named ``{test}[{layer}]`` (the test function with its parameters, e.g.
    ``test_state_evolves_through_one_path[fit][LSTM]``) with classname
    ``rnn_harness.{target}.{property}``; failed and flaky results carry a ``failure``,
    errors an ``error``, skipped, not-run and known failures a ``skipped`` element, and
    so do the failures of an informational target (a GPU's ``native`` precision).
    """
    root = ET.Element("testsuites", name="rnn-harness")
    infos = {t.get("name"): t for t in report["targets"]}
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    informational = informational_targets(report)
    for target in target_names(report):
        rows = [r for r in report["results"] if r["target"] == target]
        # An informational target's tolerance failures are reported as skipped: they do
        # not gate.
        free = [excused(r, informational) for r in rows]
        counts = {
            "tests": len(rows),
            "failures": sum(
                r["status"] in ("failed", "flaky") and not f
                for r, f in zip(rows, free, strict=True)
            ),
            "errors": sum(r["status"] == "error" for r in rows),
            "skipped": sum(
                r["status"] in ("skipped", "known_failure", "not_run") or f
                for r, f in zip(rows, free, strict=True)
            ),
        }
        for key, value in counts.items():
            totals[key] += value
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_xml_text(target),
            time=f"{_seconds(rows):.3f}",
            timestamp=_xml_text(report.get("created")),
            **{k: str(v) for k, v in counts.items()},
        )
        properties = ET.SubElement(suite, "properties")
        info = infos.get(target, {})
        header = {"profile": report.get("profile"), "seed": report.get("seed")}
        header["device"] = info.get("device")
        header["precision"] = info.get("precision")
        for key in ("name", "driver", "cuda", "cudnn"):
            header[f"device_{key}"] = (info.get("device_details") or {}).get(key)
        header.update(info.get("versions") or {})
        for name, value in header.items():
            ET.SubElement(properties, "property", name=_xml_text(name), value=_xml_text(value))
        for row, is_free in zip(rows, free, strict=True):
            case = ET.SubElement(
                suite,
                "testcase",
                name=_xml_text(f"{row.get('test') or row['property']}[{row['layer']}]"),
                classname=_xml_text(f"rnn_harness.{target}.{row['property']}"),
                time=f"{float(row.get('duration_s') or 0.0):.3f}",
            )
            message = str(row.get("message") or "")
            body = message
            if row.get("reproducer"):
                body += f"\n\nreproducer: {row['reproducer']}"
            status = row["status"]
            if is_free:
                element = ET.SubElement(
                    case,
                    "skipped",
                    message=_xml_text(
                        f"informational target, not gated ({info.get('detection_floor')}): "
                        f"{status}: {_first_line_of(message)}"
                    ),
                )
                element.text = _xml_text(body)
            elif status in ("failed", "error", "flaky"):
                element = ET.SubElement(
                    case,
                    "error" if status == "error" else "failure",
                    message=_xml_text(_first_line_of(message)),
                    type=status,
                )
                element.text = _xml_text(body)
            elif status in ("skipped", "not_run"):
                ET.SubElement(case, "skipped", message=_xml_text(_first_line_of(message)))
            elif status == "known_failure":
                reason = row.get("known_failure") or _first_line_of(message)
                element = ET.SubElement(
                    case, "skipped", message=_xml_text(f"known failure: {reason}")
                )
                element.text = _xml_text(body)
            elif status == "fixed":
                out = ET.SubElement(case, "system-out")
                out.text = "fixed: listed as a known failure, but passed; remove the entry"
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{_seconds(report['results']):.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# --- all at once -----------------------------------------------------------------------


def write_all(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write report.json, report.md, report.html and junit.xml into ``out_dir``.

    Args:
        report: a report dict.
        out_dir: the folder to write into; created if missing.

    Returns the written paths keyed ``"json"``, ``"markdown"``, ``"html"``, ``"junit"``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in FILE_NAMES.items()}
    write_json(report, paths["json"])
    rendered = {
        "markdown": render_markdown(report),
        "html": render_html(report),
        "junit": render_junit(report),
    }
    for kind, text in rendered.items():
        paths[kind].write_text(text, encoding="utf-8")
    return paths
