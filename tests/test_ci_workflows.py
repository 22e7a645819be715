"""docs/ci/*.yml: valid GitHub Actions workflows that call rnn-harness as it parses.

actionlint cannot be installed from the package index alone (its build downloads the
binary), so this is a schema check with PyYAML: the keys GitHub requires and allows, jobs
that need jobs that exist, steps with one of `uses` (pinned) and `run`, every
`${{ matrix.* }}`, `needs.*.outputs.*` and `steps.*.outputs.*` pointing at something
defined, and every `rnn-harness` command accepted by rnn-harness's own parser. The
sharded gate's shard values, its `--shard K/N` and its expected report count agree.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / "docs" / "ci").glob("*.yml"))
WORKFLOW_KEYS = {"name", "on", "env", "jobs", "permissions", "concurrency", "defaults"}
JOB_KEYS = {
    *("name", "needs", "if", "runs-on", "strategy", "steps", "env", "outputs"),
    *("timeout-minutes", "continue-on-error", "permissions", "services", "container"),
    *("defaults", "concurrency", "environment"),
}
STEP_KEYS = {
    *("name", "id", "if", "uses", "run", "with", "env", "shell"),
    *("continue-on-error", "timeout-minutes", "working-directory"),
}
EVENTS = {"push", "pull_request", "schedule", "workflow_dispatch", "workflow_call"}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
USES = re.compile(r"^[\w.-]+/[\w./-]+@v\d+$")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def _expressions(value: Any) -> list[str]:
    return [m.strip() for m in EXPRESSION.findall(yaml.safe_dump(value))]


def test_the_workflows_are_the_three_documented_ones():
    assert [p.name for p in WORKFLOWS] == [
        "explore.yml",
        "github-actions.yml",
        "keras3-releases.yml",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_has_the_structure_github_requires(path):
    data = _load(path)
    assert set(data) <= WORKFLOW_KEYS, set(data) - WORKFLOW_KEYS
    assert {"name", "on", "jobs"} <= set(data)
    on = data["on"]
    events = set(on) if isinstance(on, (list, dict)) else {on}
    assert events and events <= EVENTS, events
    jobs = data["jobs"]
    assert jobs and all(re.fullmatch(r"[A-Za-z_][\w-]*", name) for name in jobs)
    for name, job in jobs.items():
        where = f"{path.name}: job {name}"
        assert set(job) <= JOB_KEYS, (where, set(job) - JOB_KEYS)
        assert job.get("runs-on") == "ubuntu-latest", where
        needs = job.get("needs", [])
        for needed in [needs] if isinstance(needs, str) else needs:
            assert needed in jobs and needed != name, (where, needed)
        steps = job["steps"]
        assert isinstance(steps, list) and steps, where
        for i, step in enumerate(steps):
            assert set(step) <= STEP_KEYS, (where, i, set(step) - STEP_KEYS)
            assert ("uses" in step) != ("run" in step), (where, i, "one of uses and run")
            if "uses" in step:
                assert USES.match(step["uses"]), (where, i, step["uses"])
            else:
                assert isinstance(step["run"], str) and step["run"].strip(), (where, i)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_expression_points_at_something_defined(path):
    data = _load(path)
    for name, job in data["jobs"].items():
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        matrix_keys = {k for k in matrix if k not in ("include", "exclude")}
        matrix_keys |= {k for extra in matrix.get("include", []) for k in extra}
        step_ids = {s["id"] for s in job["steps"] if "id" in s}
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        for expression in _expressions(job):
            for key in re.findall(r"\bmatrix\.([\w-]+)", expression):
                assert key in matrix_keys, (path.name, name, expression)
            for step in re.findall(r"\bsteps\.([\w-]+)\.outputs", expression):
                assert step in step_ids, (path.name, name, expression)
            for needed, output in re.findall(r"\bneeds\.([\w-]+)\.outputs\.([\w-]+)", expression):
                assert needed in needs, (path.name, name, expression)
                assert output in (data["jobs"][needed].get("outputs") or {}), (name, expression)


def _rnn_harness_commands(run: str) -> list[list[str]]:
    """The argument lists of each `rnn-harness` call in a step's script, with `${{ }}`
    expressions replaced by a sample value and shell substitutions dropped."""
    script = EXPRESSION.sub("1", run).replace("$SPEC", "matrix/keras3-releases.toml")
    commands = [shlex.split(c)[1:] for c in re.findall(r"\$\((rnn-harness [^()]*)\)", script)]
    script = re.sub(r"\$\((?:[^()]|\([^()]*\))*\)", "", script)  # other $( ... )
    for line in script.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            words = shlex.split(part.split(">>")[0].split(" > ")[0])
            if words and words[0] == "rnn-harness":
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_rnn_harness_command_parses(path):
    parser = build_parser()
    seen = 0
    for job in _load(path)["jobs"].values():
        for step in job["steps"]:
            for argv in _rnn_harness_commands(step.get("run", "")):
                try:
                    args = parser.parse_args(argv)
                except SystemExit as exc:  # argparse's own error, printed on stderr
                    pytest.fail(f"{path.name}: rnn-harness {' '.join(argv)} exited {exc.code}")
                assert callable(args.func)
                if getattr(args, "spec", None):
                    assert (REPO / args.spec).is_file(), args.spec
                seen += 1
    assert seen, f"{path.name} calls no rnn-harness command"


def test_the_sharded_gate_s_shards_option_and_expected_count_agree():
    data = _load(REPO / "docs" / "ci" / "github-actions.yml")
    matrix = data["jobs"]["gate"]["strategy"]["matrix"]
    shards, targets = matrix["shard"], matrix["target"]
    assert shards == list(range(1, len(shards) + 1))
    (command,) = [
        argv
        for step in data["jobs"]["gate"]["steps"]
        for argv in _rnn_harness_commands(step.get("run", ""))
    ]
    assert command[command.index("--shard") + 1] == f"1/{len(shards)}"  # ${{ matrix.shard }}/N
    merge = data["jobs"]["merge"]
    assert merge["needs"] == "gate" and "cancelled()" in merge["if"]
    assert merge["env"]["EXPECTED_REPORTS"] == len(shards) * len(targets)
    merged = [a for s in merge["steps"] for a in _rnn_harness_commands(s.get("run", ""))]
    assert merged == [["merge", "shards/*/report.json", "--out", "reports/merged"]]


def test_the_release_workflow_runs_one_job_per_entry_then_builds_the_matrix_from_them():
    data = _load(REPO / "docs" / "ci" / "keras3-releases.yml")
    jobs = data["jobs"]
    assert "fromJSON(needs.entries.outputs.names)" in jobs["entry"]["strategy"]["matrix"]["entry"]
    commands = {
        name: [a for s in job["steps"] for a in _rnn_harness_commands(s.get("run", ""))]
        for name, job in jobs.items()
    }
    assert commands["entries"] == [["matrix", "matrix/keras3-releases.toml", "--list"]]
    (entry,) = commands["entry"]
    assert "--entry" in entry and entry[entry.index("--cache") + 1] == "matrix-cache"
    (build,) = commands["matrix"]
    assert "--from-cache" in build and build[build.index("--cache") + 1] == "matrix-cache"
    upload = next(s for s in jobs["entry"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == "${{ matrix.entry }}"  # lands in matrix-cache/<entry>/
    assert all(
        line.startswith("matrix-cache/${{ matrix.entry }}/")
        for line in upload["with"]["path"].splitlines()
    )
