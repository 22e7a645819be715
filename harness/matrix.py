"""``rnn-harness matrix SPEC.toml``: the same properties across framework versions.

Each entry of the spec is one isolated, cached virtual environment (pinned
packages, its own targets). ``rnn-harness run`` runs inside each; the reports
are merged into one matrix report (JSON, Markdown, HTML, ``harness.report.timeline``)
with a column per environment, the regression timeline of each target's release
line, and the diffs between two columns. A failing install is reported for its
entry, with pip's reason, and the others still run.

Resuming: an entry's result is cached under ``--cache`` by a key of everything that
decides it: its packages and targets, the profile and filters, the Python and
Hypothesis versions (derandomized draws depend on Hypothesis), and the harness's own
source, properties and known failures. A second run reuses every result whose key is
unchanged, so an interrupted matrix (Ctrl-C, a lost machine) goes on where it stopped;
an entry interrupted mid-run is run again. A change to what decides results (a
property, a strategy, a target adapter, a known failure) invalidates every entry,
since columns run on different harness code would not be comparable; a change to the
modules that only run or render the matrix (``NOT_FINGERPRINTED``) does not.
Environments are kept by their packages alone and are reused across harness changes.
An install that pip cannot resolve is cached too; any other install failure is tried
again next time.

Spec format::

    profile = "ci"                      # optional, default "ci"
    properties = ["chunked_equals_whole"]   # optional filters, default all
    layers = ["LSTM"]
    diffs = "spec"                      # optional: "spec" (each entry against the one
                                        # before it) or "release" (along each release line)

    [[entry]]
    name = "keras2.15-tf2.15"           # letters, digits, '.', '-', '_'
    packages = ["tensorflow-cpu==2.15.1"]
    targets = ["tf-keras"]
    replace = { keras = "keras-nightly==3.16.0.dev2026102704" }  # optional: uninstall
                                        # keras after `packages`, then install this
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import venv
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.catalogue import PROPERTY_IDS
from harness.errors import EXIT_INTERRUPTED, HarnessUsageError
from harness.known_failures import tomllib
from harness.profiles import PROFILES
from harness.report.timeline import (
    MATRIX_SCHEMA,
    STATUS_WORD,
    render_matrix_html,
    render_matrix_markdown,
)
from harness.report.timeline import merge_matrix as merge_columns
from harness.specs import LAYER_KINDS
from harness.targets import TARGET_NAMES

__all__ = [
    "MATRIX_SCHEMA",
    "STATUS_WORD",
    "EntryResult",
    "MatrixEntry",
    "MatrixSpec",
    "load_matrix_spec",
    "merge_matrix",
    "parse_matrix_spec",
    "render_matrix_html",
    "render_matrix_markdown",
    "run_matrix",
    "select_entries",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
# What the harness needs besides the frameworks; installed in every environment,
# while the project itself goes in with --no-deps so that the entry's pins rule.
HARNESS_DEPENDENCIES = (
    "numpy",
    "pytest",
    "pytest-xdist",
    "packaging",
    "rich",
    "jinja2",
    "matplotlib",
)
# Pinned to the version running the matrix: derandomized draws depend on Hypothesis's
# version, and every column must draw the same examples for a change to mean something.
SAME_AS_HERE = ("hypothesis",)
DIFFS = ("spec", "release")
ROOT = Path(__file__).resolve().parent.parent
# Modules that only run or render the matrix and merged reports: no entry's report
# depends on them, so changing them keeps every cached result.
NOT_FINGERPRINTED = (
    "harness/matrix.py",
    "harness/cli/matrix.py",
    "harness/cli/merge.py",
    "harness/report/merge.py",
    "harness/report/timeline.py",
    "harness/report/templates/matrix.html.j2",
)
# pip's words for an install that cannot succeed against this index: cached as a result.
UNRESOLVABLE = (
    "ResolutionImpossible",
    "conflicting dependencies",
    "No matching distribution found",
    "Could not find a version that satisfies",
)


@dataclass(frozen=True)
class MatrixEntry:
    name: str
    packages: tuple[str, ...]
    targets: tuple[str, ...]
    replace: tuple[tuple[str, str], ...] = ()  # (distribution, requirement) after packages


@dataclass(frozen=True)
class MatrixSpec:
    entries: tuple[MatrixEntry, ...]
    profile: str = "ci"
    properties: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    diffs: str = "spec"


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


def _replacements(raw: Any, *, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in raw.items()
    ):
        raise HarnessUsageError(
            f'{where}: replace must be a table of distribution = "requirement", e.g. '
            f'replace = {{ keras = "keras-nightly==3.16.0.dev2026102704" }}. Received: {raw!r}'
        )
    return tuple(raw.items())


def parse_matrix_spec(text: str, *, source: str = "spec") -> MatrixSpec:
    """Parse and validate a matrix spec (TOML text)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HarnessUsageError(f"{source} is not valid TOML: {exc}") from None
    allowed_top = {"profile", "properties", "layers", "diffs", "entry"}
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
    diffs = data.get("diffs", "spec")
    if diffs not in DIFFS:
        raise HarnessUsageError(f"{source}: diffs={diffs!r}; expected one of {', '.join(DIFFS)}")
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
        unknown = set(raw) - {"name", "packages", "targets", "replace"}
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
                replace=_replacements(raw.get("replace", {}), where=where),
            )
        )
    return MatrixSpec(tuple(entries), profile, properties, layers, diffs)


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


def select_entries(spec: MatrixSpec, names: Sequence[str], *, source: str = "spec") -> MatrixSpec:
    """The spec with only the entries ``names`` (in spec order), or a usage error.

    Example:
        >>> spec = MatrixSpec((MatrixEntry("a", (), ("tf-keras",)),
        ...                    MatrixEntry("b", (), ("tf-keras",))))
        >>> [e.name for e in select_entries(spec, ["b"]).entries]
        ['b']
    """
    known = [e.name for e in spec.entries]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise HarnessUsageError(
            f"--entry {', '.join(map(repr, unknown)) or '(empty)'}: no such entry in {source}. "
            f"Expected one of: {', '.join(known)}"
        )
    return replace(spec, entries=tuple(e for e in spec.entries if e.name in names))


def harness_fingerprint(known_failures: Sequence[str] = ()) -> str:
    """A hash of the harness's own source, properties and known failures (the shipped
    file and counterexamples, and ``known_failures``): a change invalidates cached reports.
    ``NOT_FINGERPRINTED`` (the matrix's own modules) is left out."""
    digest = hashlib.sha256()
    for folder in ("harness", "properties"):
        for path in sorted((ROOT / folder).rglob("*")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in NOT_FINGERPRINTED or "__pycache__" in path.parts:
                continue
            if path.is_file() and path.suffix in (".py", ".j2", ".toml", ".json"):
                digest.update(relative.encode())
                digest.update(path.read_bytes())
    for name in known_failures:
        digest.update(Path(name).read_bytes())
    return digest.hexdigest()[:16]


def _pinned_here() -> tuple[str, ...]:
    return tuple(f"{name}=={metadata.version(name)}" for name in SAME_AS_HERE)


def environment_key(entry: MatrixEntry) -> str:
    """What decides an entry's environment: its packages, the pins and Python."""
    payload = json.dumps([entry.packages, entry.replace, _pinned_here(), platform.python_version()])
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def entry_key(entry: MatrixEntry, spec: MatrixSpec, fingerprint: str) -> str:
    """Everything that decides an entry's report, hashed: same key, same report."""
    payload = json.dumps(
        [
            asdict(entry),
            spec.profile,
            spec.properties,
            spec.layers,
            fingerprint,
            platform.python_version(),
            _pinned_here(),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class EntryResult:
    entry: MatrixEntry
    status: str  # "ok", "cached", "install_failed", "run_failed", "not_run"
    key: str
    report: dict | None = None
    message: str | None = None
    log: str | None = None
    extra: dict = field(default_factory=dict)  # timings, "cached" for a cached failure


def _run(command: list[str], log: Path, **kwargs) -> int:
    with log.open("a", encoding="utf-8") as stream:
        stream.write("$ " + " ".join(command) + "\n")
        stream.flush()
        return subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, **kwargs).returncode


def _pip_reason(log: Path, start: int) -> str:
    """What pip said went wrong, from ``log`` past byte ``start``: its ERROR lines and the
    conflict it names, on one line."""
    text = log.read_bytes()[start:].decode("utf-8", errors="replace")
    lines, conflict = [], False
    for line in text.splitlines():
        if line.startswith("ERROR:"):
            lines.append(line.removeprefix("ERROR:").strip())
        elif "The conflict is caused by" in line:
            conflict = True
        elif conflict and line.startswith("    "):
            lines.append(line.strip())
        elif conflict and line.strip():
            conflict = False
    reason = "; ".join(dict.fromkeys(line for line in lines if line))
    return reason[:600] or "pip gave no reason"


def install_entry(entry: MatrixEntry, env_dir: Path, log: Path, wheel: Path | None) -> str | None:
    """Create the entry's environment and install the harness ``wheel`` into it;
    ``None`` on success, else what failed and pip's reason."""
    python = env_dir / "bin" / "python"
    marker = env_dir / ".installed"  # the pinned packages; the harness is reinstalled each run
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    log.parent.mkdir(parents=True, exist_ok=True)
    start = log.stat().st_size if log.exists() else 0
    if not marker.is_file():
        if not python.exists():
            venv.create(env_dir, with_pip=True)
        steps = [[*pip, *entry.packages, *HARNESS_DEPENDENCIES, *_pinned_here()]]
        for distribution, requirement in entry.replace:
            uninstall = [str(python), "-m", "pip", "uninstall", "-y", "-q", distribution]
            steps += [uninstall, [*pip, requirement]]
        for step in steps:
            if _run(step, log) != 0:
                wanted = " ".join([*entry.packages, *(r for _, r in entry.replace)])
                return f"installing {wanted} failed: {_pip_reason(log, start)} (see {log})"
        marker.write_text("ok", encoding="utf-8")
    if wheel is not None and _run([*pip, "--no-deps", "--force-reinstall", str(wheel)], log):
        return f"installing rnn-harness into the environment failed: {_pip_reason(log, start)}"
    return None


class HarnessWheel:
    """The harness built once per matrix run, as a wheel, the first time an entry needs it:
    every environment installs the same build, and no two builds race in the checkout."""

    def __init__(self, cache: Path, fingerprint: str):
        self.folder = cache / ".wheels" / fingerprint
        self._lock = threading.Lock()

    def __call__(self) -> Path:
        with self._lock:
            built = sorted(self.folder.glob("rnn_harness-*.whl"))
            if built:
                return built[-1]
            self.folder.mkdir(parents=True, exist_ok=True)
            log = self.folder / "build.log"
            command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q"]
            if _run([*command, "-w", str(self.folder), str(ROOT)], log) != 0:
                raise HarnessUsageError(
                    f"building the rnn-harness wheel from {ROOT} failed (see {log}). Run "
                    "rnn-harness matrix from a checkout of rnn-harness"
                )
            return sorted(self.folder.glob("rnn_harness-*.whl"))[-1]


def _every_row_errored(report: dict) -> str | None:
    """The first error, where every row of a report errored: the environment cannot run
    the harness at all (e.g. the framework fails to import), which is no verdict on a test."""
    rows = report.get("results") or []
    if rows and all(r["status"] == "error" for r in rows):
        return (rows[0].get("message") or "no message").strip().splitlines()[-1][:300]
    return None


def _cached(entry: MatrixEntry, key: str, entry_dir: Path, log: Path) -> EntryResult | None:
    path = entry_dir / f"result-{key}.json"
    if not path.is_file():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    report = None
    if stored.get("report"):
        report = json.loads((entry_dir / stored["report"]).read_text(encoding="utf-8"))
    status = "cached" if stored["status"] == "ok" else stored["status"]
    extra = {"timings": stored.get("timings", {}), "cached": True}
    return EntryResult(entry, status, key, report, stored.get("message"), str(log), extra)


def _store(result: EntryResult, entry_dir: Path, report_dir: str | None) -> EntryResult:
    stored = {
        "status": result.status,
        "message": result.message,
        "report": f"{report_dir}/report.json" if report_dir else None,
        "timings": result.extra.get("timings", {}),
    }
    path = entry_dir / f"result-{result.key}.json"
    path.write_text(json.dumps(stored, indent=2), encoding="utf-8")
    return result


def run_entry(
    entry: MatrixEntry,
    spec: MatrixSpec,
    *,
    work: Path,
    fingerprint: str,
    known_failures: Sequence[str] = (),
    wheel: Callable[[], Path] | None = None,
    from_cache: bool = False,
    keep_environment: bool = True,
) -> EntryResult:
    """Install (or reuse) the entry's environment and run the harness inside it; a result
    cached under ``work`` for the same key is returned as it is (``from_cache``: only that).
    ``keep_environment=False`` deletes the environment once the entry is done."""
    key = entry_key(entry, spec, fingerprint)
    # Absolute: the run inside the environment starts in the entry's folder.
    entry_dir = Path(work).resolve() / entry.name
    log = entry_dir / "matrix.log"
    entry_dir.mkdir(parents=True, exist_ok=True)
    cached = _cached(entry, key, entry_dir, log)
    if cached is not None:
        return cached
    if from_cache:
        return EntryResult(
            entry,
            "not_run",
            key,
            None,
            f"no result in {work} for this spec and harness version (key {key}): its run "
            "did not finish, or ran another harness",
        )
    env_dir = entry_dir / ("env-" + environment_key(entry))
    try:
        return _install_and_run(entry, spec, key, entry_dir, env_dir, log, known_failures, wheel)
    finally:
        if not keep_environment:
            shutil.rmtree(env_dir, ignore_errors=True)


def _install_and_run(
    entry: MatrixEntry,
    spec: MatrixSpec,
    key: str,
    entry_dir: Path,
    env_dir: Path,
    log: Path,
    known_failures: Sequence[str],
    wheel: Callable[[], Path] | None,
) -> EntryResult:
    started = time.monotonic()
    try:
        built = wheel() if wheel is not None else None
    except HarnessUsageError as exc:
        return EntryResult(entry, "run_failed", key, None, str(exc), str(log))
    failure = install_entry(entry, env_dir, log, built)
    timings = {"install_s": round(time.monotonic() - started, 1)}
    if failure is not None:
        result = EntryResult(entry, "install_failed", key, None, failure, str(log))
        result.extra["timings"] = timings
        if any(word in failure for word in UNRESOLVABLE):
            _store(result, entry_dir, None)  # the index cannot satisfy it: a result
        return result
    # Reused only once its result file says it finished: an interrupted run starts afresh.
    report_dir = entry_dir / f"report-{key}"
    shutil.rmtree(report_dir, ignore_errors=True)
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
        str(report_dir),
    ]
    for name in known_failures:  # a project's own files; the shipped one applies anyway
        command += ["--known-failures", name]
    if spec.properties:
        command += ["--properties", ",".join(spec.properties)]
    if spec.layers:
        command += ["--layers", ",".join(spec.layers)]
    started = time.monotonic()
    code = _run(command, log, cwd=str(entry_dir))
    timings["run_s"] = round(time.monotonic() - started, 1)
    report_path = report_dir / "report.json"
    if code == EXIT_INTERRUPTED or not report_path.is_file():
        why = "was interrupted" if code == EXIT_INTERRUPTED else f"exited {code} without a report"
        result = EntryResult(
            entry, "run_failed", key, None, f"rnn-harness run {why} (see {log})", str(log)
        )
        result.extra["timings"] = timings
        return result  # not cached: the next run tries again
    report = json.loads(report_path.read_text(encoding="utf-8"))
    errored = _every_row_errored(report)
    if errored is not None:
        result = EntryResult(
            entry, "run_failed", key, report, f"every test errored: {errored}", str(log)
        )
    else:
        result = EntryResult(entry, "ok", key, report, log=str(log))
    result.extra["timings"] = timings
    return _store(result, entry_dir, report_dir.name)


def run_matrix(
    spec: MatrixSpec,
    *,
    work: Path,
    known_failures: Sequence[str] = (),
    jobs: int = 1,
    on_done=None,
    from_cache: bool = False,
    keep_environments: bool = True,
) -> list[EntryResult]:
    """Run every entry (``jobs`` at a time), or only read the cached results
    (``from_cache``); results in spec order. ``keep_environments=False`` deletes each
    environment once its entry is done (a later run that needs one installs it again)."""
    fingerprint = harness_fingerprint(known_failures)
    wheel = HarnessWheel(work, fingerprint)

    def one(entry: MatrixEntry) -> EntryResult:
        try:
            result = run_entry(
                entry,
                spec,
                work=work,
                fingerprint=fingerprint,
                known_failures=known_failures,
                wheel=wheel,
                from_cache=from_cache,
                keep_environment=keep_environments,
            )
        except OSError as exc:  # one entry's trouble (a full disk, a missing file) is its own
            why = f"the matrix could not run this entry: {type(exc).__name__}: {exc}"
            result = EntryResult(
                entry, "run_failed", entry_key(entry, spec, fingerprint), None, why
            )
        if on_done is not None:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, spec.entries))


def column(result: EntryResult) -> dict[str, Any]:
    """A matrix column: the entry, what it ran on, its status and timings."""
    report = result.report or {}
    return {
        "name": result.entry.name,
        "packages": [*result.entry.packages, *(r for _, r in result.entry.replace)],
        "targets": report.get("targets", [{"name": t} for t in result.entry.targets]),
        "status": result.status,
        "message": result.message,
        "summary": report.get("summary"),
        "timings": result.extra.get("timings", {}),
        "cached": bool(result.extra.get("cached")),
    }


def merge_matrix(results: list[EntryResult], spec: MatrixSpec) -> dict[str, Any]:
    """One matrix report (``harness.report.timeline``): a column per environment, a row
    per (property, test, layer), each target's release line with its timelines, the diffs.

    A column where every test errored (``run_failed``) keeps its report for reading but
    gives no verdict: its cells read ``not_run``.
    """
    reports = {r.entry.name: r.report if r.status in ("ok", "cached") else None for r in results}
    return merge_columns(
        [column(r) for r in results], reports, profile=spec.profile, diffs=spec.diffs
    )
