"""harness/cli/matrix.py: ``rnn-harness matrix SPEC``: known failures, --entry, resuming,
--from-cache, --list, install failures with pip's reason.

Installing environments and running inside them is replaced by fakes: what is checked
is the command each entry runs, what is cached, and what the matrix command writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import matrix
from harness.cli import main
from harness.errors import EXIT_INTERRUPTED
from tests.cli_helpers import one_row_report, usage_error

SPEC = """
profile = "dev"
properties = ["chunked_equals_whole"]
[[entry]]
name = "keras3"
packages = ["keras==3.15.1"]
targets = ["keras3-tensorflow"]
"""
TWO = (
    SPEC
    + """
[[entry]]
name = "keras3.0"
packages = ["keras==3.0.5"]
targets = ["keras3-tensorflow"]
"""
)


class Fakes:
    """What the fakes saw, and how they behave: ``exit_code`` for the runs, ``install``
    for an entry's install failure (name -> message)."""

    def __init__(self):
        self.commands: list[list[str]] = []
        self.cwds: list[str | None] = []
        self.installs: list[str] = []
        self.exit_code = 0
        self.install: dict[str, str] = {}
        self.status = "passed"

    def run(self, command: list[str], log: Path, **kwargs) -> int:
        self.commands.append(command)
        self.cwds.append(kwargs.get("cwd"))
        if self.exit_code == EXIT_INTERRUPTED:
            return self.exit_code
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        report = json.dumps(one_row_report(self.status, "3.15.1"))
        (out / "report.json").write_text(report, encoding="utf-8")
        return self.exit_code

    def install_entry(self, entry, env_dir, log, wheel) -> str | None:
        self.installs.append(entry.name)
        return self.install.get(entry.name)


@pytest.fixture
def fakes(tmp_path, monkeypatch) -> Fakes:
    """No installs, no wheel; each entry's `rnn-harness run` writes a one-row report. The
    working directory is empty: only the shipped known failures apply."""
    fake = Fakes()
    monkeypatch.setattr(matrix, "install_entry", fake.install_entry)
    monkeypatch.setattr(matrix, "_run", fake.run)
    monkeypatch.setattr(matrix, "harness_fingerprint", lambda *_: "fingerprint")
    monkeypatch.setattr(matrix, "HarnessWheel", lambda *_: lambda: Path("rnn_harness.whl"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "two.toml").write_text(TWO, encoding="utf-8")
    return fake


ARGS = ["--out", "out", "--cache", "cache"]


def _matrix(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "matrix.json").read_text(encoding="utf-8"))


def test_matrix_runs_without_a_known_failures_file(fakes, tmp_path):
    assert main(["matrix", "spec.toml", *ARGS]) == 0
    (command,) = fakes.commands
    assert "--known-failures" not in command
    assert command[command.index("--properties") + 1] == "chunked_equals_whole"
    merged = _matrix(tmp_path)
    assert [c["status"] for c in merged["columns"]] == ["ok"]
    assert merged["rows"][0]["cells"] == {"keras3": "passed"}
    assert (tmp_path / "out" / "keras3" / "report.json").is_file()


def test_the_run_in_an_entry_s_folder_names_its_environment_and_report_absolutely(fakes, tmp_path):
    # The default --cache is relative; the run starts in the entry's folder, so a relative
    # interpreter or --out would name nothing there (the run never started).
    assert main(["matrix", "spec.toml", *ARGS]) == 0
    (command,), (cwd,) = fakes.commands, fakes.cwds
    python, out = Path(command[0]), Path(command[command.index("--out") + 1])
    assert python.is_absolute() and out.is_absolute()
    assert python.parent.parent.parent == Path(cwd) == tmp_path / "cache" / "keras3"


def test_an_entry_the_matrix_cannot_run_is_a_failed_column_and_the_rest_still_run(
    fakes, tmp_path, monkeypatch
):
    def run(command, log, **kwargs):
        if "keras3.0" in str(kwargs.get("cwd")):
            raise FileNotFoundError(2, "No such file or directory", command[0])
        return Fakes.run(fakes, command, log, **kwargs)

    monkeypatch.setattr(matrix, "_run", run)
    main(["matrix", "two.toml", *ARGS])
    columns = {c["name"]: c for c in _matrix(tmp_path)["columns"]}
    assert columns["keras3"]["status"] == "ok"
    assert columns["keras3.0"]["status"] == "run_failed"
    assert "FileNotFoundError" in columns["keras3.0"]["message"]


def test_matrix_passes_the_known_failures_file_on_as_an_absolute_path(fakes, tmp_path):
    known = tmp_path / "kf.toml"
    known.write_text(
        '[[known_failure]]\nproperty = "chunked_equals_whole"\ntest = "test_chunked_equals_whole"\n'
        'layer = "LSTM"\ntarget = "keras3-jax"\nversions = { keras = "==3.15.1" }\n'
        "reason = \"x\"\nsignature = { check = 'x' }\n",
        encoding="utf-8",
    )
    assert main(["matrix", "spec.toml", *ARGS, "--known-failures", "kf.toml"]) == 0
    (command,) = fakes.commands
    assert command[command.index("--known-failures") + 1] == str(known.resolve())


def test_entry_runs_that_entry_alone(fakes, tmp_path):
    assert main(["matrix", "two.toml", *ARGS, "--entry", "keras3.0"]) == 0
    assert fakes.installs == ["keras3.0"]
    assert [c["name"] for c in _matrix(tmp_path)["columns"]] == ["keras3.0"]


def test_an_unknown_entry_is_a_usage_error_naming_the_entries(fakes, tmp_path, capsys):
    line = usage_error(capsys, ["matrix", "two.toml", *ARGS, "--entry", "keras9"])
    assert "--entry 'keras9': no such entry in two.toml. Expected one of: keras3, keras3.0" in line
    assert fakes.installs == []


def test_list_prints_the_entry_names_as_json(fakes, capsys):
    assert main(["matrix", "two.toml", "--list"]) == 0
    assert json.loads(capsys.readouterr().out) == ["keras3", "keras3.0"]


def test_a_second_run_reuses_every_finished_entry(fakes, tmp_path):
    assert main(["matrix", "two.toml", *ARGS, "--jobs", "2"]) == 0
    assert sorted(fakes.installs) == ["keras3", "keras3.0"]
    fakes.installs.clear()
    assert main(["matrix", "two.toml", *ARGS, "--jobs", "2"]) == 0
    assert fakes.installs == []
    columns = _matrix(tmp_path)["columns"]
    assert [(c["status"], c["cached"]) for c in columns] == [("cached", True)] * 2
    assert "run_s" in columns[0]["timings"]  # the first run's, kept with the result


def test_an_interrupted_entry_is_not_reused_and_runs_again(fakes, tmp_path):
    fakes.exit_code = EXIT_INTERRUPTED
    assert main(["matrix", "spec.toml", *ARGS]) == 1
    assert "was interrupted" in _matrix(tmp_path)["columns"][0]["message"]
    fakes.exit_code = 0
    assert main(["matrix", "spec.toml", *ARGS]) == 0
    assert fakes.installs == ["keras3", "keras3"]
    assert _matrix(tmp_path)["columns"][0]["status"] == "ok"


def test_from_cache_runs_nothing_and_marks_entries_without_a_result_not_run(fakes, tmp_path):
    assert main(["matrix", "two.toml", *ARGS, "--entry", "keras3"]) == 0
    fakes.installs.clear()
    assert main(["matrix", "two.toml", *ARGS, "--from-cache"]) == 1
    assert fakes.installs == []
    merged = _matrix(tmp_path)
    assert [c["status"] for c in merged["columns"]] == ["cached", "not_run"]
    assert "no result in cache" in merged["columns"][1]["message"]
    assert merged["rows"][0]["cells"] == {"keras3": "passed", "keras3.0": "not_run"}


def test_an_unresolvable_install_is_recorded_with_its_reason_cached_and_the_rest_still_runs(
    fakes, tmp_path
):
    fakes.install["keras3.0"] = (
        "installing keras==3.0.5 failed: ResolutionImpossible: torch==2.13.0 needs numpy>=2"
    )
    assert main(["matrix", "two.toml", *ARGS]) == 1
    columns = _matrix(tmp_path)["columns"]
    assert [c["status"] for c in columns] == ["ok", "install_failed"]
    assert "torch==2.13.0 needs numpy>=2" in columns[1]["message"]
    fakes.installs.clear()
    assert main(["matrix", "two.toml", *ARGS]) == 1  # the result is kept: no second try
    assert fakes.installs == []
    assert "torch==2.13.0 needs numpy>=2" in _matrix(tmp_path)["columns"][1]["message"]


def test_an_install_failure_pip_did_not_call_unresolvable_is_tried_again(fakes, tmp_path):
    fakes.install["keras3"] = "installing keras==3.15.1 failed: connection reset"
    assert main(["matrix", "spec.toml", *ARGS]) == 1
    del fakes.install["keras3"]
    assert main(["matrix", "spec.toml", *ARGS]) == 0
    assert fakes.installs == ["keras3", "keras3"]


def test_an_environment_where_every_test_errored_is_a_run_failure_with_the_error(fakes, tmp_path):
    fakes.status = "error"
    assert main(["matrix", "spec.toml", *ARGS]) == 1
    (col,) = _matrix(tmp_path)["columns"]
    assert col["status"] == "run_failed"
    assert col["message"].startswith("every test errored:")


def test_pip_s_reason_is_its_error_lines_and_the_conflict(tmp_path):
    log = tmp_path / "matrix.log"
    log.write_text(
        "earlier noise\nERROR: Cannot install keras==3.0.5 and torch==2.13.0 because these "
        "package versions have conflicting dependencies.\n\nThe conflict is caused by:\n"
        "    The user requested numpy==1.26.4\n    torch 2.13.0 depends on numpy>=2\n\n"
        "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io\n",
        encoding="utf-8",
    )
    reason = matrix._pip_reason(log, len("earlier noise\n"))
    assert reason.startswith("Cannot install keras==3.0.5 and torch==2.13.0")
    assert "torch 2.13.0 depends on numpy>=2" in reason
    assert "ResolutionImpossible" in reason
    assert "earlier noise" not in reason


def test_remove_environments_deletes_each_environment_once_its_entry_is_done(
    fakes, tmp_path, monkeypatch
):
    def install(entry, env_dir, log, wheel):
        env_dir.mkdir(parents=True)
        (env_dir / ".installed").write_text("ok", encoding="utf-8")

    monkeypatch.setattr(matrix, "install_entry", install)
    assert main(["matrix", "two.toml", *ARGS]) == 0
    assert len(list((tmp_path / "cache").glob("*/env-*"))) == 2  # kept by default
    argv = ["matrix", "two.toml", "--out", "out", "--cache", "cache2", "--remove-environments"]
    assert main(argv) == 0
    assert list((tmp_path / "cache2").glob("*/env-*")) == []
    assert len(list((tmp_path / "cache2").glob("*/result-*.json"))) == 2  # the results stay
