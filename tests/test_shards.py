"""harness/shards.py and the plugin's --rnn-shard: disjoint, complete, balanced, and the same
on every machine, whatever directory pytest starts from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessUsageError
from harness.shards import node_sort_key, parse_shard, select
from tests.cli_helpers import usage_error

REPO = Path(__file__).resolve().parent.parent
# Seven tests in two modules: 7 = 3 + 2 + 2 over three shards.
MODULES = {
    "test_alpha.py": "import pytest\n\n@pytest.mark.parametrize('n', range(4))\n"
    "def test_a(n):\n    pass\n",
    "test_beta.py": "def test_b():\n    pass\n\ndef test_c():\n    pass\n\ndef test_d():\n    pass\n",
}


@pytest.mark.parametrize("raw", ["0/3", "4/3", "1/0", "3", "a/b", "-1/2", ""])
def test_a_shard_outside_one_to_n_is_a_usage_error_naming_the_option(raw):
    with pytest.raises(HarnessUsageError) as excinfo:
        parse_shard(raw, source="--shard")
    assert f"--shard={raw!r}" in str(excinfo.value)
    assert "1 <= K <= N" in str(excinfo.value)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13])
def test_shards_are_disjoint_cover_everything_and_differ_by_one_at_most(count):
    names = [f"test_{i:02d}" for i in reversed(range(11))]
    keys = [node_sort_key(n, "test_m.py") for n in names]
    parts = [select(names, keys, (k, count)) for k in range(1, count + 1)]
    flat = [n for part in parts for n in part]
    assert sorted(flat) == sorted(names) and len(flat) == len(names)
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= 1
    for part in parts:  # each part keeps the collection order
        assert part == [n for n in names if n in part]


def _collect(where: Path, *args: str) -> list[str]:
    """The node ids pytest collects in ``where``, with the plugin on."""
    environ = dict(os.environ, PYTHONPATH=str(REPO))
    for key in ("PYTEST_ADDOPTS", "RNN_HARNESS_PROFILE", "CI"):
        environ.pop(key, None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *args],
        cwd=where,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_rnn_shard_deselects_the_same_balanced_parts_from_any_directory(tmp_path):
    tests = tmp_path / "project" / "tests"
    tests.mkdir(parents=True)
    for name, text in MODULES.items():
        (tests / name).write_text(text, encoding="utf-8")
    project = ["tests", f"--rootdir={tests.parent}"]
    everything = _collect(tests.parent, *project, "--rnn-layers=LSTM")
    assert len(everything) == 7
    parts = [_collect(tests.parent, *project, f"--rnn-shard={k}/3") for k in (1, 2, 3)]
    assert sorted(i for part in parts for i in part) == sorted(everything)
    assert [len(p) for p in parts] == [3, 2, 2]
    # Rooted in the tests' own directory the node ids lose their "tests/"; the parts do not.
    elsewhere = _collect(tests, ".", f"--rootdir={tests}", "--rnn-shard=2/3")
    assert elsewhere != parts[1]
    assert ["tests/" + i for i in elsewhere] == parts[1]


def test_a_bad_rnn_shard_is_a_pytest_usage_error(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
    environ = dict(os.environ, PYTHONPATH=str(REPO))
    environ.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-p", "no:cacheprovider", "--rnn-shard=3/2"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 4  # pytest's usage error
    assert "--rnn-shard='3/2': expected K/N with 1 <= K <= N" in result.stderr


def test_run_with_a_bad_shard_is_a_usage_error_before_anything_runs(tmp_path, capsys):
    argv = ["run", "--targets", "keras3-tensorflow", "--shard", "2/1", "--out", str(tmp_path)]
    line = usage_error(capsys, argv)
    assert "--shard='2/1': expected K/N with 1 <= K <= N" in line
    assert not (tmp_path / "logs").exists()
