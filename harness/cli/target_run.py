"""One target's properties in a pytest process of its own, and the payload it leaves.

A target needs its own process: Keras reads its backend once, at import. The
process's results file becomes the payload; what it never reported becomes rows of
their own: ``not_run`` where the run was interrupted (Ctrl-C), ``error`` where pytest
crashed. A report always holds a row for every test pytest collected, and for every
property x layer cell it was asked for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.cli.console import err, out
from harness.cli.known import known_failure_options
from harness.cli.progress import TargetProgress, report_events
from harness.cli.selection import properties_dir
from harness.env import apply_target_environment
from harness.report.row import ResultRow

INTERRUPT_GRACE_S = 60  # how long pytest may take to write what it has after Ctrl-C


def run_target(
    target: str,
    *,
    properties: list[str],
    layers: list[str],
    profile: str,
    seed: int,
    known_failures: list[Path],
    database: Path | None = None,
    workers: str,
    work: Path,
    precision: str = "strict",
    shrink: bool = True,
    shard: tuple[int, int] | None = None,
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
        # A property's tests: test_<id>.py and any test_<id>_<topic>.py beside it.
        *[
            str(m)
            for p in properties
            for m in [props / f"test_{p}.py", *sorted(props.glob(f"test_{p}_*.py"))]
        ],
        f"--config-file={ini}",
        f"--rootdir={work}",
        "-p",
        "no:cacheprovider",
        "-q",
        # One token per option: pytest takes a separate token that names an existing
        # path for a test path, and an ini file near it would then pick the rootdir.
        f"--target={target}",
        f"--rnn-layers={','.join(layers)}",
        *known_failure_options(known_failures),
        f"--rnn-results={results}",
        f"--rnn-progress={progress_file}",
        f"--hypothesis-profile={profile}",
        f"--rnn-seed={seed}",
        f"--rnn-precision={precision}",
    ]
    if database is not None:
        command.append(f"--rnn-database={database}")
    if not shrink:
        command.append("--rnn-no-shrink")
    if shard is not None:
        command.append(f"--rnn-shard={shard[0]}/{shard[1]}")
    if workers not in ("", "0", "1"):
        command += ["-n", workers]
    environ = dict(os.environ)
    apply_target_environment(target, environ)
    progress = TargetProgress(target, len(properties) * len(layers), progress_file)
    live = out.is_terminal
    with log.open("w", encoding="utf-8") as log_stream:
        process = subprocess.Popen(
            command, stdout=log_stream, stderr=subprocess.STDOUT, env=environ, cwd=work
        )
        status = out.status(progress.line()) if live else None
        if status is not None:
            status.start()
        interrupted = False
        try:
            while process.poll() is None:
                time.sleep(0.5)
                report_events(progress, status)
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
            report_events(progress, status)
            if status is not None:
                status.stop()
    out.print(progress.line())
    if results.exists():
        payload = json.loads(results.read_text(encoding="utf-8"))
    elif interrupted and progress.finished:
        # pytest was killed before writing its results: keep the verdicts it had printed.
        lost = "pytest was stopped before writing its results: only this status survived"
        payload = {
            "target": unknown_target(target, precision),
            "results": [
                ResultRow(
                    property=e["property"],
                    test=e.get("test") or e["property"],
                    layer=e["layer"],
                    target=target,
                    status=e["status"],
                    examples=e["examples"],
                    duration_s=e["duration_s"],
                    message=lost,
                    nodeid=e.get("nodeid"),
                ).to_dict()
                for e in progress.finished
            ],
        }
    else:
        payload = {"target": unknown_target(target, precision), "results": []}
    payload["interrupted"] = interrupted
    if shard is not None and progress.collected is not None:
        # The cells this shard collected no test of belong to other shards: no rows here.
        properties = []
    if interrupted:
        payload["results"] += missing_rows(
            payload["results"],
            progress.collected,
            properties,
            layers,
            target,
            status="not_run",
            message="not run: the run was interrupted before this test finished",
        )
    elif process.returncode not in (0, 1) or not payload["results"]:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        message = (
            f"pytest exited with status {process.returncode} for {target}; "
            f"see {log}:\n" + "\n".join(tail)
        )
        payload["results"] += missing_rows(
            payload["results"],
            progress.collected,
            properties,
            layers,
            target,
            status="error",
            message=message,
        )
    return payload


def missing_rows(
    results: list[dict],
    collected: list[dict] | None,
    properties: list[str],
    layers: list[str],
    target: str,
    *,
    status: str,
    message: str,
) -> list[dict]:
    """Rows for what never reported a result: each collected test without a row, then
    each property x layer cell without any row (its tests are unknown: the property id
    stands for them)."""
    have = {(r["property"], r["test"], r["layer"]) for r in results}
    rows = []
    for test in collected or []:
        key = (test["property"], test["test"], test["layer"])
        if key not in have:
            have.add(key)
            rows.append(never_ran_row(*key, target, status=status, message=message))
    cells = {(prop, layer) for prop, _, layer in have}
    rows += [
        never_ran_row(p, p, layer, target, status=status, message=message)
        for p in properties
        for layer in layers
        if (p, layer) not in cells
    ]
    return rows


def unknown_target(target: str, precision: str) -> dict:
    """A report's entry for a target whose process never said what it ran on."""
    return {"name": target, "versions": {}, "device": "unknown", "precision": precision}


def not_run_payload(target: str, properties: list[str], layers: list[str], precision: str) -> dict:
    """The payload of a target the run never reached, because it was interrupted: a
    ``not_run`` row per cell, named by the property (its tests were never collected)."""
    message = "not run: the run was interrupted before this target started"
    return {
        "target": unknown_target(target, precision),
        "results": missing_rows(
            [], None, properties, layers, target, status="not_run", message=message
        ),
        "interrupted": True,
    }


def never_ran_row(
    prop: str, test: str, layer: str, target: str, *, status: str, message: str
) -> dict:
    """The row of a test that never reported: ``not_run`` (interrupted) or ``error``."""
    return ResultRow(
        property=prop, test=test, layer=layer, target=target, status=status, message=message
    ).to_dict()
