"""``harness.seeds``: a run's seed, each test's derived seed, and the example database.

The derivations are checked directly; ``SeedPlugin`` in a pytest run of a small
``@given`` module whose examples are written to a file: each layer draws its own,
the same seed draws the same, another seed draws others, and a failure kept in
the database comes back first in the next run, whatever its seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

from harness.errors import HarnessUsageError
from harness.profiles import profile_settings
from harness.seeds import (
    DATABASE_ENV,
    MAX_RUN_SEED,
    SEED_ENV,
    SeedPlugin,
    database_dir,
    derive_seed,
    parse_seed,
    resolve_run_seed,
    seeded_settings,
)
from tests.cli_helpers import RUN_ONE, run_cli, usage_error

pytest_plugins = ["pytester"]


def test_each_key_derives_its_own_seed_and_the_same_key_the_same() -> None:
    lstm = derive_seed(0, "test_chunked_equals_whole::test_chunked_equals_whole[layer_kind=LSTM]")
    gru = derive_seed(0, "test_chunked_equals_whole::test_chunked_equals_whole[layer_kind=GRU]")
    assert lstm != gru
    assert lstm == derive_seed(
        0, "test_chunked_equals_whole::test_chunked_equals_whole[layer_kind=LSTM]"
    )
    assert lstm != derive_seed(
        1, "test_chunked_equals_whole::test_chunked_equals_whole[layer_kind=LSTM]"
    )


@pytest.mark.parametrize("value", ["-1", "seven", str(MAX_RUN_SEED + 1), "1.5"])
def test_a_seed_that_is_no_seed_is_a_usage_error_naming_its_source(value: str) -> None:
    with pytest.raises(HarnessUsageError, match=rf"--rnn-seed='{value}' is not a seed"):
        parse_seed(value, source="--rnn-seed")


def test_the_run_seed_comes_from_the_option_then_the_environment_then_the_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SEED_ENV, raising=False)
    assert resolve_run_seed("12", derandomized=False) == 12
    assert resolve_run_seed(None, derandomized=True) == 0
    drawn = {resolve_run_seed(None, derandomized=False) for _ in range(5)}
    assert len(drawn) > 1  # random: five equal draws of 2^32 values do not happen
    monkeypatch.setenv(SEED_ENV, "99")
    assert resolve_run_seed(None, derandomized=True) == 99
    assert resolve_run_seed("3", derandomized=True) == 3
    monkeypatch.setenv(SEED_ENV, "x")
    with pytest.raises(HarnessUsageError, match="RNN_HARNESS_SEED='x' is not a seed"):
        resolve_run_seed(None, derandomized=True)


def test_seeds_replace_derandomization_and_open_the_database(tmp_path: Path) -> None:
    ci = profile_settings("ci")
    assert ci.derandomize and ci.database is None
    seeded = seeded_settings(ci, database=None)
    assert not seeded.derandomize
    assert seeded.database is None
    assert seeded.max_examples == ci.max_examples
    with_db = seeded_settings(ci, database=tmp_path)
    assert isinstance(with_db.database, DirectoryBasedExampleDatabase)
    assert Path(with_db.database.path) == tmp_path


def test_the_database_comes_from_the_option_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    assert database_dir(None) is None
    assert database_dir(str(tmp_path / "db")) == tmp_path / "db"
    monkeypatch.setenv(DATABASE_ENV, str(tmp_path / "env-db"))
    assert database_dir(None) == tmp_path / "env-db"
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(HarnessUsageError, match="is a file; expected a directory"):
        database_dir(str(file))


DRAWING_MODULE = """
import json, os
import pytest
from hypothesis import given, settings, strategies as st

@pytest.mark.parametrize("layer_kind", ["LSTM", "GRU"])
@settings(max_examples=5, database={database}, derandomize=False, deadline=None)
@given(n=st.integers(0, 10**9))
def test_draws(layer_kind, n):
    with open(os.environ["DRAWS"], "a") as f:
        f.write(json.dumps([layer_kind, n]) + "\\n")
    assert n != int(os.environ["FAIL_ON"])
"""


def draws(pytester: pytest.Pytester, seed: int, *, database: str = "None", fail_on: int = -1):
    """The examples each layer drew in one run with run seed ``seed``."""
    pytester.makepyfile(test_drawing=DRAWING_MODULE.format(database=database))
    out = pytester.path / f"draws-{seed}.jsonl"
    out.unlink(missing_ok=True)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DRAWS", str(out))
        env.setenv("FAIL_ON", str(fail_on))
        result = pytester.inline_run("-p", "no:cacheprovider", plugins=[SeedPlugin(seed)])
    by_layer: dict[str, list[int]] = {}
    for line in out.read_text().splitlines():
        layer, n = json.loads(line)
        by_layer.setdefault(layer, []).append(n)
    return result, by_layer


def test_each_layer_draws_its_own_examples_and_a_seed_replays_them(
    pytester: pytest.Pytester,
) -> None:
    _, first = draws(pytester, 0)
    _, again = draws(pytester, 0)
    _, other = draws(pytester, 1)
    assert first["LSTM"] != first["GRU"]
    assert again == first
    assert other["LSTM"] != first["LSTM"]


def test_a_failure_kept_in_the_database_replays_first_under_another_seed(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    database = f"__import__('hypothesis').database.DirectoryBasedExampleDatabase({str(tmp_path)!r})"
    _, seen = draws(pytester, 3)
    target = seen["GRU"][2]  # an example only seed 3 draws (for GRU)
    result, _ = draws(pytester, 3, database=database, fail_on=target)
    result.assertoutcome(passed=1, failed=1)
    # Another seed never draws it, yet the failure found under seed 3 comes back first.
    result, replayed = draws(pytester, 4, database=database, fail_on=target)
    result.assertoutcome(passed=1, failed=1)
    assert replayed["GRU"][0] == target
    assert target not in replayed["LSTM"]


def plugin_run(pytester: pytest.Pytester, *args: str, **env: str) -> pytest.RunResult:
    """pytest in a subprocess, with rnn-harness's plugin as installed (activated by args)."""
    with pytest.MonkeyPatch.context() as patch:
        for key in ("PYTEST_ADDOPTS", "RNN_HARNESS_PROFILE", SEED_ENV, DATABASE_ENV, "CI"):
            patch.delenv(key, raising=False)
        for key, value in env.items():
            patch.setenv(key, value)
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_the_plugin_draws_each_test_from_the_seed_derived_from_the_run_seed(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    _, expected = draws(pytester, 5)
    out = pytester.path / "draws-5.jsonl"
    out.unlink()
    results = tmp_path / "results.json"
    result = plugin_run(
        pytester, "--rnn-seed=5", f"--rnn-results={results}", DRAWS=str(out), FAIL_ON="-1"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*seed=5 (each test and layer draws from its own seed*"])
    by_layer: dict[str, list[int]] = {}
    for line in out.read_text().splitlines():
        layer, n = json.loads(line)
        by_layer.setdefault(layer, []).append(n)
    assert by_layer == expected
    assert json.loads(results.read_text())["seed"] == 5


def test_a_random_profile_draws_a_fresh_run_seed_and_prints_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    seeds = set()
    for _ in range(2):
        result = plugin_run(pytester, "--rnn-layers=LSTM", "--hypothesis-profile=thorough")
        line = next(s for s in result.stdout.lines if "seed=" in s)
        seeds.add(line.split("seed=", 1)[1].split()[0])
    assert len(seeds) == 2
    result = plugin_run(pytester, "--rnn-layers=LSTM", **{SEED_ENV: "11"})
    result.stdout.fnmatch_lines(["*seed=11 (each test*", "*replay with:*--rnn-seed 11"])


def test_a_bad_run_seed_or_database_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = plugin_run(pytester, "--rnn-seed=-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--rnn-seed='-3' is not a seed; expected an integer*"])
    (pytester.path / "a-file").write_text("")
    result = plugin_run(pytester, f"--rnn-database={pytester.path / 'a-file'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is a file; expected a directory*"])


def test_run_refuses_a_seed_that_is_no_seed(capsys) -> None:
    line = usage_error(capsys, [*RUN_ONE, "--seed", "x"])
    assert "--seed='x' is not a seed; expected an integer from 0 to" in line


def test_run_draws_a_fresh_seed_for_a_random_profile_and_records_how_to_replay_it(
    tmp_path: Path,
) -> None:
    result = run_cli([*RUN_ONE, "--out", str(tmp_path)], sabotage=False)  # dev: random
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    seed = report["seed"]
    assert isinstance(seed, int)
    assert f"seed={seed} " in result.stdout
    payload = json.loads((tmp_path / "logs" / "keras3-tensorflow.results.json").read_text())
    assert payload["seed"] == seed  # what pytest ran under
    run_command, pytest_command = report["replay_commands"]
    assert run_command.endswith(f"--profile dev --seed {seed}")
    assert pytest_command.endswith(f"--rnn-seed {seed}")
    assert f"--seed {seed}" in (tmp_path / "report.md").read_text(encoding="utf-8")
    (row,) = report["results"]
    assert row["examples_that_could_fail"] >= 0.9 * row["examples"]


def test_run_passes_seed_and_database_to_every_target(tmp_path: Path) -> None:
    database = tmp_path / "db"
    out = tmp_path / "out"
    result = run_cli(
        [*RUN_ONE, "--out", str(out), "--seed", "123", "--database", str(database)],
        sabotage=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["seed"] == 123
    assert report["replay_commands"][0].endswith(f"--seed 123 --database {database}")
    payload = json.loads((out / "logs" / "keras3-tensorflow.results.json").read_text())
    assert payload["seed"] == 123
    assert payload["database"] == str(database)


def test_xdist_workers_draw_from_the_controller_s_random_run_seed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_drawing=DRAWING_MODULE.format(database="None"))
    out = pytester.path / "draws-xdist.jsonl"
    result = plugin_run(
        pytester,
        "-n",
        "2",
        "--rnn-layers=LSTM",  # any --rnn-* option turns the harness on
        "--hypothesis-profile=thorough",
        DRAWS=str(out),
        FAIL_ON="-1",
    )
    result.assert_outcomes(passed=2)
    line = next(s for s in result.stdout.lines if "seed=" in s)
    run_seed = int(line.split("seed=", 1)[1].split()[0])
    by_layer: dict[str, list[int]] = {}
    for row in out.read_text().splitlines():
        layer, n = json.loads(row)
        by_layer.setdefault(layer, []).append(n)
    _, expected = draws(pytester, run_seed)
    assert by_layer == expected
