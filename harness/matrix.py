"""``rnn-harness matrix SPEC.toml``: the same properties across framework versions.

Each entry of the spec is one isolated, cached virtual environment (pinned
packages, its own targets). ``rnn-harness run`` runs inside each; the reports
are merged into one matrix report (JSON, Markdown, HTML) with a column per
environment, plus the upgrade diff between consecutive entries. An entry whose
inputs (packages, targets, profile, filters, and the harness's own source) did
not change reuses its report; a failing install is reported for that entry and
the others still run.

Spec format::

    profile = "ci"                      # optional, default "ci"
    properties = ["chunked_equals_whole"]   # optional filters, default all
    layers = ["LSTM"]

    [[entry]]
    name = "keras2.15-tf2.15"           # letters, digits, '.', '-', '_'
    packages = ["tensorflow-cpu==2.15.1"]
    targets = ["tf-keras"]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import subprocess
import sys
import venv
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.catalogue import PROPERTY_IDS
from harness.errors import HarnessUsageError
from harness.known_failures import tomllib
from harness.profiles import PROFILES
from harness.specs import LAYER_KINDS
from harness.targets import TARGET_NAMES

MATRIX_SCHEMA = "rnn-harness-matrix/1"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
# What the harness needs besides the frameworks; installed in every environment,
# while the project itself goes in with --no-deps so that the entry's pins rule.
HARNESS_DEPENDENCIES = (
    "numpy",
    "hypothesis",
    "pytest",
    "pytest-xdist",
    "packaging",
    "rich",
    "jinja2",
    "matplotlib",
)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class MatrixEntry:
    name: str
    packages: tuple[str, ...]
    targets: tuple[str, ...]


@dataclass(frozen=True)
class MatrixSpec:
    entries: tuple[MatrixEntry, ...]
    profile: str = "ci"
    properties: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()


def _string_list(
    raw: Any, *, where: str, key: str, allowed: tuple[str, ...] = ()
) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        raise HarnessUsageError(
            f"{where}: {key} must be a list of non-empty strings. Received: {raw!r}"
        )
    unknown = [v for v in raw if allowed and v not in allowed]
    if unknown:
        raise HarnessUsageError(
            f"{where}: {key} has unknown {', '.join(map(repr, unknown))}; expected some of "
            f"{', '.join(allowed)}"
        )
    return tuple(raw)


def parse_matrix_spec(text: str, *, source: str = "spec") -> MatrixSpec:
    """Parse and validate a matrix spec (TOML text)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HarnessUsageError(f"{source} is not valid TOML: {exc}") from None
    allowed_top = {"profile", "properties", "layers", "entry"}
    extra = set(data) - allowed_top
    if extra:
        raise HarnessUsageError(
            f"{source}: unknown keys {', '.join(sorted(extra))}; allowed: {', '.join(sorted(allowed_top))}"
        )
    profile = data.get("profile", "ci")
    if profile not in PROFILES:
        raise HarnessUsageError(
            f"{source}: profile={profile!r}; expected one of {', '.join(PROFILES)}"
        )
    properties = _string_list(
        data.get("properties", []), where=source, key="properties", allowed=PROPERTY_IDS
    )
    layers = _string_list(data.get("layers", []), where=source, key="layers", allowed=LAYER_KINDS)
    raw_entries = data.get("entry", [])
    if not isinstance(raw_entries, list) or not raw_entries:
        raise HarnessUsageError(f"{source}: expected at least one [[entry]] table")
    entries, names = [], set()
    for i, raw in enumerate(raw_entries, start=1):
        where = f"{source}: entry {i}"
        if not isinstance(raw, dict):
            raise HarnessUsageError(f"{where}: expected a table. Received: {raw!r}")
        unknown = set(raw) - {"name", "packages", "targets"}
        if unknown:
            raise HarnessUsageError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        name = raw.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise HarnessUsageError(
                f"{where}: name={name!r} must use letters, digits, '.', '-' and '_' only"
            )
        if name in names:
            raise HarnessUsageError(f"{where}: name {name!r} is used twice; names must be unique")
        names.add(name)
        entries.append(
            MatrixEntry(
                name=name,
                packages=_string_list(raw.get("packages"), where=where, key="packages"),
                targets=_string_list(
                    raw.get("targets"), where=where, key="targets", allowed=TARGET_NAMES
                ),
            )
        )
    return MatrixSpec(tuple(entries), profile, properties, layers)


def load_matrix_spec(path: str | Path) -> MatrixSpec:
    path = Path(path)
    if not path.is_file():
        raise HarnessUsageError(
            f"Matrix spec {str(path)!r} does not exist. Pass a TOML file; see matrix/upgrade.toml"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessUsageError(
            f"Matrix spec {str(path)!r} cannot be read as UTF-8 TOML ({exc}). "
            "Pass a TOML file; see matrix/upgrade.toml"
        ) from None
    return parse_matrix_spec(text, source=str(path))


def harness_fingerprint(known_failures: Sequence[str] = ()) -> str:
    """A hash of the harness's own source, properties and known failures (the shipped
    file and counterexamples, and ``known_failures``): a change invalidates cached reports."""
    digest = hashlib.sha256()
    for folder in ("harness", "properties"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".j2", ".toml", ".json"):
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    for name in known_failures:
        digest.update(Path(name).read_bytes())
    return digest.hexdigest()[:16]


def entry_key(entry: MatrixEntry, spec: MatrixSpec, fingerprint: str) -> str:
    """Everything that decides an entry's report, hashed: same key, same report."""
    payload = json.dumps(
        [asdict(entry), spec.profile, spec.properties, spec.layers, fingerprint, sys.version],
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class EntryResult:
    entry: MatrixEntry
    status: str  # "ok", "cached", "install_failed", "run_failed"
    key: str
    report: dict | None = None
    message: str | None = None
    log: str | None = None
    extra: dict = field(default_factory=dict)


def _run(command: list[str], log: Path, **kwargs) -> int:
    with log.open("a", encoding="utf-8") as stream:
        stream.write("$ " + " ".join(command) + "\n")
        stream.flush()
        return subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, **kwargs).returncode


def install_entry(entry: MatrixEntry, env_dir: Path, log: Path) -> str | None:
    """Create the entry's environment; ``None`` on success, else what failed."""
    python = env_dir / "bin" / "python"
    marker = env_dir / ".installed"  # the pinned packages; the harness is reinstalled each run
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if not marker.is_file():
        if not python.exists():
            venv.create(env_dir, with_pip=True)
        if _run([*pip, *entry.packages, *HARNESS_DEPENDENCIES], log) != 0:
            return f"installing {' '.join(entry.packages)} failed (see {log})"
        marker.write_text("ok", encoding="utf-8")
    if _run([*pip, "--no-deps", "--force-reinstall", str(ROOT)], log) != 0:
        return f"installing rnn-harness into the environment failed (see {log})"
    return None


def run_entry(
    entry: MatrixEntry,
    spec: MatrixSpec,
    *,
    work: Path,
    fingerprint: str,
    known_failures: Sequence[str] = (),
) -> EntryResult:
    """Install (or reuse) the entry's environment and run the harness inside it."""
    key = entry_key(entry, spec, fingerprint)
    entry_dir = work / entry.name
    report_path = entry_dir / f"report-{key}" / "report.json"
    log = entry_dir / "matrix.log"
    entry_dir.mkdir(parents=True, exist_ok=True)
    if report_path.is_file():
        report = json.loads(report_path.read_text(encoding="utf-8"))
        return EntryResult(entry, "cached", key, report, log=str(log))
    env_dir = entry_dir / ("env-" + hashlib.sha256(repr(entry.packages).encode()).hexdigest()[:12])
    failure = install_entry(entry, env_dir, log)
    if failure is not None:
        return EntryResult(entry, "install_failed", key, None, failure, str(log))
    command = [
        str(env_dir / "bin" / "python"),
        "-m",
        "harness",
        "run",
        "--targets",
        ",".join(entry.targets),
        "--profile",
        spec.profile,
        "--out",
        str(report_path.parent),
    ]
    for name in known_failures:  # a project's own files; the shipped one applies anyway
        command += ["--known-failures", name]
    if spec.properties:
        command += ["--properties", ",".join(spec.properties)]
    if spec.layers:
        command += ["--layers", ",".join(spec.layers)]
    code = _run(command, log, cwd=str(entry_dir))
    if not report_path.is_file():
        return EntryResult(
            entry,
            "run_failed",
            key,
            None,
            f"rnn-harness run exited {code} without a report (see {log})",
            str(log),
        )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return EntryResult(entry, "ok", key, report, log=str(log))


def run_matrix(
    spec: MatrixSpec,
    *,
    work: Path,
    known_failures: Sequence[str] = (),
    jobs: int = 1,
    on_done=None,
) -> list[EntryResult]:
    """Run every entry (``jobs`` at a time); results in spec order."""
    fingerprint = harness_fingerprint(known_failures)

    def one(entry: MatrixEntry) -> EntryResult:
        result = run_entry(
            entry, spec, work=work, fingerprint=fingerprint, known_failures=known_failures
        )
        if on_done is not None:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, spec.entries))


def merge_matrix(results: list[EntryResult], spec: MatrixSpec) -> dict[str, Any]:
    """One matrix report: a column per environment, a row per (property, layer)."""
    from harness.report.compare import compare_reports
    from harness.report.model import utc_now, worst_status

    columns, cells = [], {}
    for result in results:
        report = result.report or {}
        columns.append(
            {
                "name": result.entry.name,
                "packages": list(result.entry.packages),
                "targets": report.get("targets", [{"name": t} for t in result.entry.targets]),
                "status": result.status,
                "message": result.message,
                "summary": report.get("summary"),
            }
        )
        for row in report.get("results", []):
            cell = cells.setdefault(f"{row['property']}|{row['layer']}", {})
            cell.setdefault(result.entry.name, []).append(row["status"])
    rows = [
        {
            "property": key.split("|")[0],
            "layer": key.split("|")[1],
            "cells": {name: worst_status(statuses) for name, statuses in by_env.items()},
        }
        for key, by_env in sorted(cells.items())
    ]
    diffs = []
    for old, new in itertools.pairwise(results):
        if old.report is None or new.report is None:
            continue
        cmp = compare_reports(old.report, new.report)
        diffs.append(
            {
                "from": old.entry.name,
                "to": new.entry.name,
                "regressed": cmp.regressed,
                "broke": [asdict(c) for c in cmp.broke],
                "fixed": [asdict(c) for c in cmp.fixed],
                "versions": [asdict(v) for v in cmp.version_changes],
            }
        )
    return {
        "schema": MATRIX_SCHEMA,
        "created": utc_now(),
        "profile": spec.profile,
        "columns": columns,
        "rows": rows,
        "diffs": diffs,
    }


STATUS_WORD = {
    "passed": "pass",
    "failed": "FAIL",
    "error": "ERROR",
    "skipped": "skip",
    "known_failure": "known",
    "fixed": "fixed",
}


def render_matrix_markdown(matrix: dict[str, Any]) -> str:
    """The matrix as Markdown: environments, the property x environment table, the diffs."""
    from harness.report.writers import markdown_text

    lines = [f"# rnn-harness matrix ({matrix['created']}, profile {matrix['profile']})", ""]
    lines += ["| environment | packages | targets and versions | status |", "|---|---|---|---|"]
    for col in matrix["columns"]:
        targets = "; ".join(
            f"{t['name']}: " + ", ".join(f"{k} {v}" for k, v in t.get("versions", {}).items())
            for t in col["targets"]
        )
        status = col["status"] + (f" — {col['message']}" if col.get("message") else "")
        lines.append(
            f"| {markdown_text(col['name'])} | {markdown_text(' '.join(col['packages']))} "
            f"| {markdown_text(targets)} | {markdown_text(status)} |"
        )
    names = [c["name"] for c in matrix["columns"]]
    lines += ["", "| property | layer | " + " | ".join(names) + " |"]
    lines.append("|---|---|" + "---|" * len(names))
    for row in matrix["rows"]:
        cells = [STATUS_WORD.get(row["cells"].get(n, ""), "—") for n in names]
        lines.append(f"| {row['property']} | {row['layer']} | " + " | ".join(cells) + " |")
    lines += ["", "## Upgrade diffs (consecutive environments)", ""]
    for diff in matrix["diffs"]:
        lines.append(
            f"### {diff['from']} → {diff['to']}" + (" — REGRESSED" if diff["regressed"] else "")
        )
        for v in diff["versions"]:
            lines.append(f"- {v['target']}: {v['package']} {v['old']} → {v['new']}")
        for label in ("broke", "fixed"):
            for change in diff[label]:
                lines.append(
                    f"- {label}: {change['property']} [{change['layer']}] "
                    f"{change['old']} → {change['new']}"
                )
        if not diff["broke"] and not diff["fixed"]:
            lines.append("- no status changed")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_matrix_html(matrix: dict[str, Any]) -> str:
    """The matrix as one self-contained, escaped HTML page."""
    import jinja2

    template = jinja2.Environment(autoescape=True).from_string(MATRIX_HTML)
    return template.render(m=matrix, words=STATUS_WORD)


MATRIX_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rnn-harness matrix</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px}
.passed{background:#d8f5d8}.failed{background:#f8c8c8}.error{background:#f0c0f0}
.known_failure{background:#fbeec0}.fixed{background:#c8ecf8}.skipped{color:#888}
</style></head><body>
<h1>rnn-harness matrix</h1><p>{{ m.created }} — profile {{ m.profile }}</p>
<table><tr><th>environment</th><th>packages</th><th>targets</th><th>status</th></tr>
{% for c in m.columns %}<tr><td>{{ c.name }}</td><td>{{ c.packages|join(' ') }}</td>
<td>{% for t in c.targets %}{{ t.name }} ({% for k, v in (t.versions or {}).items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %})<br>{% endfor %}</td>
<td>{{ c.status }}{% if c.message %}: {{ c.message }}{% endif %}</td></tr>{% endfor %}</table>
<table><tr><th>property</th><th>layer</th>{% for c in m.columns %}<th>{{ c.name }}</th>{% endfor %}</tr>
{% for r in m.rows %}<tr><td>{{ r.property }}</td><td>{{ r.layer }}</td>
{% for c in m.columns %}{% set s = r.cells.get(c.name, '') %}<td class="{{ s }}">{{ words.get(s, '—') }}</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>Upgrade diffs</h2>
{% for d in m.diffs %}<h3>{{ d.from }} → {{ d.to }}{% if d.regressed %} — REGRESSED{% endif %}</h3><ul>
{% for v in d.versions %}<li>{{ v.target }}: {{ v.package }} {{ v.old }} → {{ v.new }}</li>{% endfor %}
{% for c in d.broke %}<li>broke: {{ c.property }} [{{ c.layer }}] {{ c.old }} → {{ c.new }}</li>{% endfor %}
{% for c in d.fixed %}<li>fixed: {{ c.property }} [{{ c.layer }}] {{ c.old }} → {{ c.new }}</li>{% endfor %}
</ul>{% endfor %}
</body></html>
"""
