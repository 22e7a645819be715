"""scripts/record_known_counterexamples.py: a user's mistake ends in one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "record_known_counterexamples.py"


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True
    )


def test_a_missing_report_is_one_line_and_exit_2(tmp_path):
    proc = run_script("REPORT.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("record_known_counterexamples.py: error: REPORT.json does not exist")
    assert "Pass a report.json" in line


def test_a_known_failures_file_with_a_missing_counterexample_is_one_line(tmp_path):
    toml = tmp_path / "known_failures.toml"
    toml.write_text(
        "[[known_failure]]\n"
        'property = "chunked_equals_whole"\n'
        'test = "test_chunked_equals_whole"\n'
        'layer = "LSTM"\n'
        'target = "keras3-jax"\n'
        'versions = { keras = "==3.15.1" }\n'
        'reason = "an entry whose counterexample file is gone"\n'
        "signature = { check = 'final state' }\n"
        'counterexample = { LSTM = "counterexamples/gone.json" }\n',
        encoding="utf-8",
    )
    proc = run_script("REPORT.json", "--known-failures", str(toml), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert "counterexample" in line and "does not exist" in line


def test_failed_and_error_rows_of_a_release_line_report_give_their_entries_counterexamples(
    tmp_path,
):
    """A ``check.fail`` row (its message is the label) and an error row are recorded too."""
    import json

    report = SCRIPT.parents[1] / "reports/samples/keras3-releases/keras3.5-tf/report.json"
    entry = (
        "[[known_failure]]\n"
        'property = "{prop}"\n'
        'test = "{test}"\n'
        'layer = "*"\n'
        'layer_reason = "a test of the script"\n'
        'target = "keras3-tensorflow"\n'
        'versions = {{ keras = "==3.5.0" }}\n'
        'reason = "a test of the script"\n'
        "signature = {signature}\n"
    )
    toml = tmp_path / "known_failures.toml"
    toml.write_text(
        entry.format(
            prop="batch_size_mismatch_is_an_error",
            test="test_another_batch_size_is_refused",
            signature="{ check = 'direct call: .* accepted 1 samples silently' }",
        )
        + entry.format(
            prop="paths_agree",
            test="test_state_evolves_through_one_path[test_on_batch]",
            signature="{ exception = \"StopIteration\", message = '^$' }",
        )
        + entry.format(
            prop="paths_agree",
            test="test_state_evolves_through_one_path[test_on_batch]",
            signature="{ exception = \"StopIteration\", message = 'another message' }",
        ),
        encoding="utf-8",
    )
    proc = run_script(str(report), "--known-failures", str(toml), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = toml.read_text(encoding="utf-8")
    assert text.count("counterexample = ") == 2  # not the entry whose message does not match
    recorded = {
        json.loads(p.read_text())["failure"]["exception"]: json.loads(p.read_text())
        for p in (tmp_path / "counterexamples").glob("*.json")
    }
    assert recorded["StopIteration"]["failure"] == {
        "exception": "StopIteration",
        "check": None,
        "message": "",
    }
    assert recorded["StopIteration"]["example"]["paths"] == ["test_on_batch"]
    check = recorded["PropertyFailure"]["failure"]["check"]
    assert check.startswith("direct call: a stateful layer built for batch size ")
