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
