"""JAX's persistent compilation cache: where it goes, how to turn it off, that it is used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.compilation_cache import CACHE_ENV, cache_dir_from_env, default_cache_dir, trim_cache

REPO = Path(__file__).resolve().parent.parent


def test_default_directory_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir_from_env() == tmp_path / "rnn-harness" / "jax-compilation"
    assert default_cache_dir() == cache_dir_from_env()


@pytest.mark.parametrize("value", ["off", "OFF", "none", "0", "false", "no"])
def test_off_turns_the_cache_off(monkeypatch, value):
    monkeypatch.setenv(CACHE_ENV, value)
    assert cache_dir_from_env() is None


def test_a_named_directory_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cc"))
    assert cache_dir_from_env() == tmp_path / "cc"


def test_trim_deletes_the_oldest_entries_down_to_the_budget(tmp_path):
    for age, name in enumerate(["newest", "middle", "oldest"]):
        path = tmp_path / f"{name}-cache"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1_000_000 - age * 1000, 1_000_000 - age * 1000))
    assert trim_cache(tmp_path, max_bytes=250) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["middle-cache", "newest-cache"]
    assert trim_cache(tmp_path, max_bytes=250) == 0  # within the budget: nothing to do


def python_in_a_fresh_process(code: str, **env_changes: str | None) -> str:
    """Run ``code`` in a new interpreter (JAX opens its cache once per process); its stdout.

    ``env_changes`` set variables, or remove them where the value is ``None``; a cache
    set for JAX itself (``JAX_COMPILATION_CACHE_DIR``) is always removed.
    """
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def jax_target_in_a_fresh_process(cache: str) -> dict:
    """Build the keras3-jax target, run one LSTM call, return its info and the cache's files."""
    code = """
import json, os, numpy as np
from harness.specs import LayerSpec
from harness.targets.keras3 import Keras3Target
target = Keras3Target("jax")
runner = target.runner(LayerSpec("LSTM", units=2, features=3), batch_size=2, stateful=True)
runner(np.ones((2, 4, 3), np.float32))
info = target.info()
directory = (info.get("compilation_cache") or {}).get("dir")
files = sorted(os.listdir(directory)) if directory else []
print(json.dumps({"info": info, "files": files}))
"""
    stdout = python_in_a_fresh_process(code, **{CACHE_ENV: cache})
    return json.loads(stdout.strip().splitlines()[-1])


def test_jax_target_writes_its_programs_to_the_cache_and_reports_it(tmp_path):
    pytest.importorskip("jax")
    cache = tmp_path / "jax-cache"
    first = jax_target_in_a_fresh_process(str(cache))
    assert first["info"]["compilation_cache"]["dir"] == str(cache)
    entries = [f for f in first["files"] if f.endswith("-cache")]
    assert entries, f"no compiled program was written to {cache}: {first['files']}"
    # A second process finds the same programs: nothing new is written.
    second = jax_target_in_a_fresh_process(str(cache))
    assert sorted(f for f in second["files"] if f.endswith("-cache")) == sorted(entries)


def test_jax_target_without_cache_reports_none(tmp_path):
    pytest.importorskip("jax")
    result = jax_target_in_a_fresh_process("off")
    assert result["info"]["compilation_cache"] == {"dir": None}


def test_unwritable_cache_directory_is_a_usage_error(tmp_path):
    pytest.importorskip("jax")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = (
        "from harness.targets.keras3 import Keras3Target\n"
        "from harness.errors import HarnessUsageError\n"
        "try:\n    Keras3Target('jax')\n"
        "except HarnessUsageError as error:\n    print('USAGE:', error)\n"
    )
    stdout = python_in_a_fresh_process(code, **{CACHE_ENV: str(blocker / "cache")})
    assert f"USAGE: {CACHE_ENV}: cannot use {blocker / 'cache'}" in stdout
    assert "'off'" in stdout


def test_unwritable_default_directory_runs_without_the_cache_and_warns(tmp_path):
    pytest.importorskip("jax")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = (
        "import json, warnings\n"
        "from harness.compilation_cache import enable_jax_compilation_cache\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    state = enable_jax_compilation_cache()\n"
        "print(json.dumps({'state': state, 'warnings': [str(w.message) for w in caught]}))\n"
    )
    stdout = python_in_a_fresh_process(code, XDG_CACHE_HOME=str(blocker), **{CACHE_ENV: None})
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["state"]["dir"] is None
    assert any("Running without it" in w for w in out["warnings"])
