"""``rnn-harness``: run the properties per target, write reports, gate CI, compare runs.

Every user mistake (unknown target or property, missing file, malformed report)
ends in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.catalogue import PROPERTY_IDS
from harness.errors import HarnessUsageError
from harness.known_failures import KnownFailure, load_known_failures
from harness.precision import DEFAULT_PRECISION, PRECISIONS
from harness.pytest_plugin import PROFILES
from harness.specs import LAYER_KINDS
from harness.streaming import add_check_model_parser
from harness.targets import KERAS3_TARGETS, TARGET_NAMES
from harness.targets.keras3 import BACKEND_DISTRIBUTIONS, distribution_version

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C
INTERRUPT_GRACE_S = 60  # how long pytest may take to write what it has after Ctrl-C
DEFAULT_OUT = "reports/latest"
KNOWN_FAILURES_FILE = "known_failures.toml"
STATUS_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "error": "bold magenta",
    "skipped": "dim",
    "known_failure": "yellow",
    "fixed": "cyan",
}

# Wide enough off a terminal (CI logs) that the summary table never truncates ids.
_WIDTH = None if sys.stdout.isatty() else 140
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, width=_WIDTH)


def properties_dir() -> Path:
    """Where the property modules are: inside the wheel, or beside the package in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_properties", here.parent / "properties"):
        if candidate.is_dir():
            return candidate
    raise HarnessUsageError(
        "The property modules are missing from this installation; reinstall rnn-harness "
        "(`pip install --force-reinstall rnn-harness`)"
    )


def implemented_properties() -> list[str]:
    """Catalogue ids that have a property module, in catalogue order."""
    found = {p.stem.removeprefix("test_") for p in properties_dir().glob("test_*.py")}
    return [pid for pid in PROPERTY_IDS if pid in found]


def installed_targets(*, keras2: bool = False) -> list[str]:
    """Keras 3 targets whose backend framework is installed here (and tf-keras if asked)."""
    found = [
        name
        for name in KERAS3_TARGETS
        if distribution_version(*BACKEND_DISTRIBUTIONS[name.removeprefix("keras3-")])
    ]
    if keras2:
        from harness.targets.tf_keras import keras2_distribution

        if keras2_distribution() is not None:
            found.append("tf-keras")
    return found


def _comma_list(raw: str | None, *, option: str, allowed: Sequence[str]) -> list[str] | None:
    if raw is None:
        return None
    items = [s.strip() for s in raw.split(",") if s.strip()]
    if "all" in items:
        return list(allowed)
    unknown = [s for s in items if s not in allowed]
    if unknown or not items:
        raise HarnessUsageError(
            f"{option}={raw!r}: unknown {', '.join(repr(u) for u in unknown) or 'empty list'}. "
            f"Expected a comma list of: {', '.join(allowed)} (or 'all')"
        )
    return items


def resolve_targets(raw: str | None) -> list[str]:
    targets = _comma_list(raw, option="--targets", allowed=TARGET_NAMES)
    installed = installed_targets(keras2=True)
    if raw is not None and "all" in [s.strip() for s in raw.split(",")]:
        return installed  # every target whose framework is installed here
    if not installed:
        raise HarnessUsageError(
            "No Keras 3 backend is installed. Install one, e.g. `pip install rnn-harness` "
            "(TensorFlow) or `pip install 'rnn-harness[jax]'`"
        )
    if targets is None:
        targets = [t for t in installed if t in KERAS3_TARGETS]
    for name in targets:
        if name == "tf-keras" and name not in installed:
            raise HarnessUsageError(
                "Target tf-keras needs the 'tf-keras' package (the Keras 2 API). Install the "
                "release matching TensorFlow, e.g. `pip install 'tf-keras==2.21.*'`"
            )
        if name not in installed:
            backend = name.removeprefix("keras3-")
            extra = "" if backend == "tensorflow" else f"[{backend}]"
            raise HarnessUsageError(
                f"Target {name} needs {backend!r}, which is not installed. Install it with "
                f"`pip install 'rnn-harness{extra}'`, or drop it from --targets"
            )
    return targets


def resolve_properties(raw: str | None) -> list[str]:
    available = implemented_properties()
    chosen = _comma_list(raw, option="--properties", allowed=PROPERTY_IDS)
    if chosen is None:
        return available
    missing = [p for p in chosen if p not in available]
    if missing:
        raise HarnessUsageError(
            f"--properties: {', '.join(missing)} not implemented in this version. "
            f"Available: {', '.join(available)}"
        )
    return chosen


def resolve_known_failures(raw: str | None) -> tuple[str, list[KnownFailure]]:
    """The known-failures path to pass on ("" for none) and its parsed entries."""
    if raw is None:
        default = Path(KNOWN_FAILURES_FILE)
        if not default.is_file():
            return "", []
        raw = str(default)
    return str(Path(raw).resolve()), load_known_failures(raw, property_ids=PROPERTY_IDS)


class TargetProgress:
    """Follows one target's progress file and prints or displays what happened."""

    def __init__(self, target: str, total: int, path: Path):
        self.target, self.total, self.path = target, total, path
        self.offset = 0
        self.done = self.examples = self.failures = 0
        self.current: str | None = None
        self.started = time.monotonic()
        self.finished: list[dict] = []  # finish events, in case pytest dies before its results

    def poll(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as stream:
            stream.seek(self.offset)
            data = stream.read()
        complete = data[: data.rfind("\n") + 1]
        self.offset += len(complete.encode("utf-8"))
        events = [json.loads(line) for line in complete.splitlines() if line.strip()]
        for event in events:
            if event["event"] == "start":
                self.current = event["nodeid"].split("::")[-1]
            else:
                self.finished.append(event)
                self.done += 1
                self.examples += event["examples"]
                self.failures += event["status"] in ("failed", "error")
                self.current = None
        return events

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        now = f" running {self.current}" if self.current else ""
        return (
            f"{self.target}: {self.done} tests done ({self.total} property x layer cells), "
            f"{self.examples} examples, "
            f"{self.failures} failing, {elapsed:.0f}s{now}"
        )


def run_target(
    target: str,
    *,
    properties: list[str],
    layers: list[str],
    profile: str,
    seed: int,
    known_failures: str,
    workers: str,
    work: Path,
    precision: str = "strict",
    shrink: bool = True,
) -> dict:
    """Run the properties for one target in its own process; return its results payload.

    pytest runs in ``work`` with its own empty config file and rootdir there (absolute
    paths everywhere), not with whatever the caller's directory holds: there pytest
    would find a checkout's pyproject.toml, whose ``pythonpath`` puts the checkout's
    ``harness/`` first on ``sys.path``, shadowing the installed package that holds
    the properties (a regular install run from a clone).
    """
    work = work.resolve()
    results = work / f"{target}.results.json"
    progress_file = work / f"{target}.progress.jsonl"
    log = work / f"{target}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    for stale in (results, progress_file):
        stale.unlink(missing_ok=True)
    props = properties_dir()
    ini = work / "pytest.ini"
    ini.write_text("[pytest]\n# written by rnn-harness run: no settings from elsewhere\n")
    command = [
        sys.executable,
        "-m",
        "pytest",
        *[str(props / f"test_{p}.py") for p in properties],
        f"--config-file={ini}",
        f"--rootdir={work}",
        "-p",
        "no:cacheprovider",
        "-q",
        # One token per option: pytest takes a separate token that names an existing
        # path for a test path, and an ini file near it would then pick the rootdir.
        f"--target={target}",
        f"--rnn-layers={','.join(layers)}",
        f"--rnn-known-failures={known_failures}",
        f"--rnn-results={results}",
        f"--rnn-progress={progress_file}",
        f"--hypothesis-profile={profile}",
        f"--hypothesis-seed={seed}",
        f"--rnn-precision={precision}",
    ]
    if not shrink:
        command.append("--rnn-no-shrink")
    if workers not in ("", "0", "1"):
        command += ["-n", workers]
    env = dict(os.environ)
    if target.startswith("keras3-"):
        env["KERAS_BACKEND"] = target.removeprefix("keras3-")
    else:
        env["TF_USE_LEGACY_KERAS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    total = len(properties) * len(layers)
    progress = TargetProgress(target, total, progress_file)
    live = out.is_terminal
    with log.open("w", encoding="utf-8") as log_stream:
        process = subprocess.Popen(
            command, stdout=log_stream, stderr=subprocess.STDOUT, env=env, cwd=work
        )
        status = out.status(progress.line()) if live else None
        if status is not None:
            status.start()
        interrupted = False
        try:
            while process.poll() is None:
                time.sleep(0.5)
                _report_events(progress, status)
        except KeyboardInterrupt:
            # pytest got the same signal: it finishes the test in hand and writes what
            # it has, which goes into the report instead of being lost. Further Ctrl-Cs
            # (`timeout` signals the process and then its group) must not cut that short:
            # the wait is bounded by INTERRUPT_GRACE_S instead.
            interrupted = True
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            err.print(f"rnn-harness: interrupted; collecting what {target} finished")
            try:
                process.wait(timeout=INTERRUPT_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        finally:
            _report_events(progress, status)
            if status is not None:
                status.stop()
    out.print(progress.line().replace(" running None", ""))
    if results.exists():
        payload = json.loads(results.read_text(encoding="utf-8"))
    elif interrupted and progress.finished:
        # pytest was killed before writing its results: keep the verdicts it had printed.
        lost = "pytest was stopped before writing its results: only this status survived"
        payload = {
            "target": _unknown_target(target, precision),
            "results": [
                {
                    **_error_row(e["property"], e["layer"], target, lost),
                    "status": e["status"],
                    "examples": e["examples"],
                    "duration_s": e["duration_s"],
                }
                for e in progress.finished
            ],
        }
    else:
        payload = {
            "target": _unknown_target(target, precision),
            "results": [],
        }
    payload["interrupted"] = interrupted
    message = None
    if interrupted:
        message = "not run: the run was interrupted before this test finished"
    elif process.returncode not in (0, 1) or not payload["results"]:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        message = (
            f"pytest exited with status {process.returncode} for {target}; "
            f"see {log}:\n" + "\n".join(tail)
        )
    if message is not None:
        ran = {(r["property"], r["layer"]) for r in payload["results"]}
        payload["results"] += [
            _error_row(p, layer, target, message)
            for p in properties
            for layer in layers
            if (p, layer) not in ran
        ]
    return payload


def _unknown_target(target: str, precision: str) -> dict:
    """A report's entry for a target whose process never said what it ran on."""
    return {"name": target, "versions": {}, "device": "unknown", "precision": precision}


def _not_run_payload(target: str, properties: list[str], layers: list[str], precision: str) -> dict:
    """The payload of a target the run never reached, because it was interrupted."""
    message = "not run: the run was interrupted before this target started"
    return {
        "target": _unknown_target(target, precision),
        "results": [_error_row(p, layer, target, message) for p in properties for layer in layers],
        "interrupted": True,
    }


def _error_row(prop: str, layer: str, target: str, message: str) -> dict:
    return {
        "property": prop,
        "layer": layer,
        "target": target,
        "status": "error",
        "examples": 0,
        "duration_s": 0.0,
        "max_abs_error": None,
        "tolerance": None,
        "message": message,
        "counterexample": None,
        "reproducer": None,
    }


def _report_events(progress: TargetProgress, status) -> None:
    for event in progress.poll():
        if event["event"] != "finish":
            continue
        style = STATUS_STYLE.get(event["status"], "")
        if status is None or event["status"] != "passed":
            out.print(
                f"  [{style}]{event['status']:>13}[/] {event['property']}[{event['layer']}] "
                f"{event['examples']} examples, {event['duration_s']:.1f}s"
            )
    if status is not None:
        status.update(progress.line())


def summary_table(report: dict) -> Table:
    targets = [t["name"] for t in report["targets"]]
    table = Table(title="rnn-harness results", show_lines=False)
    table.add_column("property")
    table.add_column("layer")
    for name in targets:
        table.add_column(name)
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for row in report["results"]:
        cells.setdefault((row["property"], row["layer"]), {})[row["target"]] = row["status"]
    for (prop, layer), by_target in cells.items():
        table.add_row(
            prop,
            layer,
            *[
                f"[{STATUS_STYLE.get(by_target.get(t, ''), '')}]{by_target.get(t, '-')}[/]"
                for t in targets
            ],
        )
    return table


def unmatched_known_failures(entries: list[KnownFailure], report: dict) -> list[KnownFailure]:
    """Entries for the installed versions that matched no result of a target this run included.

    An entry for other versions than those installed belongs to another environment:
    matching nothing here says nothing about it.
    """
    versions = {t["name"]: t.get("versions") or {} for t in report["targets"]}
    unmatched = []
    for entry in entries:
        if not any(
            entry.target in ("*", name) and entry.covers_versions(installed)
            for name, installed in versions.items()
        ):
            continue
        hit = any(
            entry.matches(
                property_id=row["property"],
                layer=row["layer"],
                target=row["target"],
                versions=versions.get(row["target"], {}),
                test=row.get("test"),
            )
            for row in report["results"]
        )
        if not hit:
            unmatched.append(entry)
    return unmatched


def cmd_run(args: argparse.Namespace) -> int:
    from harness.report import merge_payloads, write_all
    from harness.report.model import exit_code
    from harness.reproducers import write_reproducers

    targets = resolve_targets(args.targets)
    properties = resolve_properties(args.properties)
    layers = _comma_list(args.layers, option="--layers", allowed=LAYER_KINDS) or list(LAYER_KINDS)
    known_path, known = resolve_known_failures(args.known_failures)
    out_dir = Path(args.out)
    work = out_dir / "logs"
    work.mkdir(parents=True, exist_ok=True)
    out.print(
        f"rnn-harness run: targets={','.join(targets)} profile={args.profile} seed={args.seed} "
        f"precision={args.precision} properties={len(properties)} layers={','.join(layers)}"
        + (f" known-failures={known_path}" if known_path else "")
    )
    payloads = []
    for target in targets:
        if payloads and payloads[-1].get("interrupted"):
            payloads.append(_not_run_payload(target, properties, layers, args.precision))
            continue
        payloads.append(
            run_target(
                target,
                properties=properties,
                layers=layers,
                profile=args.profile,
                seed=args.seed,
                known_failures=known_path,
                workers=str(args.workers),
                work=work,
                precision=args.precision,
                shrink=not args.no_shrink,
            )
        )
    report = merge_payloads(payloads, profile=args.profile, seed=args.seed)
    write_reproducers(report, out_dir)
    paths = write_all(report, out_dir)
    out.print(summary_table(report))
    interrupted = any(p.get("interrupted") for p in payloads)
    for entry in [] if interrupted else unmatched_known_failures(known, report):
        # Entries for targets or properties this run left out are not stale, just not run.
        if entry.target not in (*targets, "*") or entry.property not in properties:
            continue
        err.print(
            f"[yellow]warning:[/] known failure {entry.source} ({entry.property}, {entry.layer}, "
            f"{entry.target}) matched no result: fixed, or the entry is stale"
        )
    summary = ", ".join(f"{v} {k}" for k, v in report["summary"].items() if v)
    out.print(f"summary: {summary}")
    out.print("reports: " + ", ".join(str(p) for p in paths.values()))
    code = exit_code(report)
    if interrupted:
        err.print("rnn-harness: interrupted: the report holds what finished; the rest is 'error'")
        return EXIT_INTERRUPTED
    out.print(
        "gate: [green]pass[/]" if code == EXIT_OK else "gate: [bold red]FAIL[/] (new failures)"
    )
    return code


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.report.compare import compare_reports, render_compare_html, render_compare_markdown
    from harness.report.model import load_report

    old, new = load_report(args.old), load_report(args.new)
    comparison = compare_reports(old, new)
    sys.stdout.write(render_compare_markdown(comparison))
    if args.html:
        Path(args.html).write_text(render_compare_html(comparison), encoding="utf-8")
    return EXIT_FAILED if comparison.regressed else EXIT_OK


def cmd_matrix(args: argparse.Namespace) -> int:
    from harness import matrix

    spec = matrix.load_matrix_spec(args.spec)
    _, _ = resolve_known_failures(args.known_failures)  # validate before any install
    known = args.known_failures or (
        KNOWN_FAILURES_FILE if Path(KNOWN_FAILURES_FILE).is_file() else None
    )
    out_dir = Path(args.out)
    out.print(
        f"rnn-harness matrix: {len(spec.entries)} environments, profile {spec.profile}, "
        f"jobs {args.jobs}, cache {args.cache}"
    )

    def done(result) -> None:
        summary = result.report["summary"] if result.report else {}
        counts = ", ".join(f"{v} {k}" for k, v in summary.items() if v)
        out.print(
            f"  {result.entry.name}: {result.status}"
            + (f" ({counts})" if counts else "")
            + (f" — {result.message}" if result.message else "")
        )

    results = matrix.run_matrix(
        spec,
        work=Path(args.cache),
        known_failures=str(Path(known).resolve()) if known else None,
        jobs=args.jobs,
        on_done=done,
    )
    merged = matrix.merge_matrix(results, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "matrix.json").write_text(json.dumps(merged, indent=2), encoding="utf-8")
    (out_dir / "matrix.md").write_text(matrix.render_matrix_markdown(merged), encoding="utf-8")
    (out_dir / "matrix.html").write_text(matrix.render_matrix_html(merged), encoding="utf-8")
    for result in results:
        if result.report is not None:
            entry_out = out_dir / result.entry.name
            entry_out.mkdir(exist_ok=True)
            (entry_out / "report.json").write_text(
                json.dumps(result.report, indent=2), encoding="utf-8"
            )
    out.print(
        f"matrix: {out_dir / 'matrix.md'}, {out_dir / 'matrix.html'}, {out_dir / 'matrix.json'}"
    )
    failed = any(r.status in ("install_failed", "run_failed") for r in results)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from harness.explain import explain
    from harness.report.model import load_report

    path = Path(args.report)
    if not path.exists():
        raise HarnessUsageError(
            f"No report at {str(path)!r}: explain answers from a run's evidence. "
            "Run `rnn-harness run` first, or pass --report PATH"
        )
    sys.stdout.write(explain(load_report(path)) + "\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-harness",
        description="Property-based verification of Keras recurrent-layer state semantics.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the properties on targets, write reports, gate")
    run.add_argument(
        "--targets",
        help=f"comma list of {', '.join(TARGET_NAMES)} or 'all' (default: every installed one)",
    )
    run.add_argument(
        "--profile", default="ci", choices=PROFILES, help="Hypothesis profile (default: ci)"
    )
    run.add_argument("--properties", help="comma list of property ids (default: all implemented)")
    run.add_argument("--layers", help=f"comma list of {', '.join(LAYER_KINDS)} (default: all)")
    run.add_argument(
        "--out", default=DEFAULT_OUT, help=f"report directory (default: {DEFAULT_OUT})"
    )
    run.add_argument(
        "--known-failures",
        help=f"reviewed known-failures TOML (default: ./{KNOWN_FAILURES_FILE} if present)",
    )
    run.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default: 0)")
    run.add_argument(
        "--no-shrink",
        action="store_true",
        help="report failures with the first counterexample found, not a minimal one: "
        "for machines whose time is scarce (default: shrink)",
    )
    run.add_argument(
        "--precision",
        default=DEFAULT_PRECISION,
        choices=PRECISIONS,
        help="float32 precision on GPUs: strict turns TF32 off and keeps tolerances close to "
        "the CPU's; native keeps the framework's defaults, with measured tolerances "
        "(default: strict; the same on a CPU)",
    )
    run.add_argument(
        "-n",
        "--workers",
        default="1",
        help="pytest-xdist workers per target, or 'auto' (default: 1)",
    )
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser("compare", help="what changed between two report.json files")
    compare.add_argument("old", help="the earlier report.json")
    compare.add_argument("new", help="the later report.json")
    compare.add_argument("--html", help="also write the comparison as HTML to this file")
    compare.set_defaults(func=cmd_compare)

    matrix = sub.add_parser(
        "matrix", help="run the harness in one cached environment per framework version"
    )
    matrix.add_argument("spec", help="matrix spec TOML (see matrix/upgrade.toml)")
    matrix.add_argument(
        "--out", default="reports/matrix", help="output directory (default: reports/matrix)"
    )
    matrix.add_argument(
        "--cache",
        default=".rnn-harness/matrix",
        help="environments and cached reports (default: .rnn-harness/matrix)",
    )
    matrix.add_argument("--jobs", type=int, default=1, help="environments at once (default: 1)")
    matrix.add_argument(
        "--known-failures",
        help=f"known-failures TOML (default: ./{KNOWN_FAILURES_FILE} if present)",
    )
    matrix.set_defaults(func=cmd_matrix)

    explain = sub.add_parser(
        "explain", help="answer the usual state questions from a run's report, in plain English"
    )
    explain.add_argument(
        "--report",
        default=f"{DEFAULT_OUT}/report.json",
        help=f"report.json to answer from (default: {DEFAULT_OUT}/report.json)",
    )
    explain.set_defaults(func=cmd_explain)

    add_check_model_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnn-harness`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HarnessUsageError as exc:
        err.print(f"rnn-harness: error: {exc}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("rnn-harness: interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
