"""harness.check_model.check: streamable models pass; broken twins and resets fail.

Every streamable model must pass, and every diagnosed blocker, forced past the
diagnosis, must really diverge. Deliberately broken twin builders and a broken
reset must make the check fail, which is the proof that ``streaming_equals_whole``
bites. The API works in a user's plain pytest run, and leaves the process as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.check_model import assert_streamable, check_model
from harness.check_model import check as check_module
from harness.check_model.diagnose import STREAMS
from harness.check_model.result import DIFFERS, STREAMABLE
from tests.check_model_helpers import (
    EXAMPLES,
    REPO,
    STREAMABLE_IDS,
    blocking_models,
    sequence_model,
    streamable_models,
    with_perturbed_weight,
    without_stateful_flag,
)


@pytest.mark.parametrize("model_id", STREAMABLE_IDS)
def test_streamable_model_passes_with_every_layer_streaming(target, model_id):
    model = streamable_models()[model_id]()
    result = check_model(model, batch_size=2, max_examples=EXAMPLES)
    assert result.passed, str(result)
    assert result.verdict == STREAMABLE
    assert result.status == "passed"
    assert result.examples >= EXAMPLES
    assert result.max_abs_error is not None and np.isfinite(result.max_abs_error)
    assert not result.blockers
    assert all(d.verdict in (STREAMS, "note") for d in result.diagnosis), result.diagnosis
    recurrent = [d for d in result.diagnosis if d.class_name in ("LSTM", "GRU", "SimpleRNN")]
    assert recurrent, result.diagnosis


# The diagnosis must not block what streams: forced past it, each blocker really diverges.
@pytest.mark.parametrize(
    "model_id",
    ["bidirectional", "conv1d_same", "conv1d_causal", "global_average_pooling", "go_backwards"],
)
def test_each_diagnosed_blocker_really_breaks_streaming_when_forced(target, model_id):
    build, _, _ = blocking_models()[model_id]
    result = check_model(build(), batch_size=2, max_examples=EXAMPLES, force=True)
    assert not result.passed
    assert result.verdict == DIFFERS, result.message
    assert result.counterexample is not None
    assert len(result.counterexample["splits"]) >= 2


def test_twin_without_the_stateful_flag_fails_where_the_second_chunk_starts(target, monkeypatch):
    monkeypatch.setattr(
        check_module,
        "build_streaming_twin",
        without_stateful_flag(check_module.build_streaming_twin),
    )
    model = streamable_models()["lstm_many_to_many"]()
    result = check_model(model, batch_size=2, max_examples=EXAMPLES)
    assert not result.passed
    assert result.verdict == DIFFERS
    assert result.status == "failed"
    assert result.max_abs_error > result.tolerance.atol
    assert "differs from the whole sequence" in result.message
    assert "first diverging timestep" in result.message
    example = result.counterexample
    first, second = example["divergence"][0]["chunks"][:2]
    assert first["first_diverging_timestep"] is None  # the first chunk starts from zeros anyway
    assert second["first_diverging_timestep"] == example["splits"][0]
    assert sum(example["splits"]) == example["timesteps"] == len(example["x"][0])


def test_twin_with_a_perturbed_weight_fails_from_the_first_timestep(target, monkeypatch):
    monkeypatch.setattr(
        check_module,
        "build_streaming_twin",
        with_perturbed_weight(check_module.build_streaming_twin),
    )
    model = streamable_models()["gru_many_to_one"]()
    result = check_model(model, batch_size=1, max_examples=EXAMPLES)
    assert not result.passed
    assert result.counterexample["divergence"][0]["kind"] == "final"
    assert result.counterexample["divergence"][0]["chunks"][0]["first_diverging_timestep"] == (
        result.counterexample["splits"][0] - 1
    )
    assert "output after chunk 1 vs whole model on timesteps 0.." in result.message


def test_a_reset_that_does_nothing_fails_the_reset_comparison(target, monkeypatch):
    monkeypatch.setattr(check_module, "reset_state", lambda layer: None)
    model = streamable_models()["lstm_many_to_many"]()
    result = check_model(model, batch_size=2, max_examples=EXAMPLES)
    assert not result.passed
    assert "reset_state()" in result.counterexample["failed_comparison"]


# Found by this check (Keras 3.15.1; TensorFlow 2.21 and torch 2.13 on CPU): a stateful RNN
# with return_sequences=False fed a chunk that is all padding returns zeros, although its
# stored state is right; the whole run returns the last valid output. JAX returns the carried
# output, so the check passes there.
ALL_PADDING_CHUNK_RETURNS_ZEROS = ("keras3-tensorflow", "keras3-torch")


def test_right_padded_many_to_one_streams_even_when_a_chunk_is_all_padding(target, request):
    import keras

    if target.name in ALL_PADDING_CHUNK_RETURNS_ZEROS:
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason=f"{target.name}: a stateful RNN returns zeros for an all-padding chunk, "
                "not its carried output",
            )
        )
    model = sequence_model(keras.layers.Masking(0.0), keras.layers.LSTM(3), name="masked_m2o")
    data = np.random.default_rng(1).uniform(-1, 1, (2, 6, 2)).astype("float32")
    data[:, 2:] = 0.0  # two valid steps, then padding: any later chunk is all padding
    assert_streamable(model, batch_size=1, data=data, max_examples=EXAMPLES)


def test_api_works_in_a_plain_pytest_run_without_the_harness_plugin(target, tmp_path):
    import keras

    L = keras.layers
    sequence_model(L.GRU(3, return_sequences=True), L.Dense(1), name="good").save(
        tmp_path / "good.keras"
    )
    sequence_model(L.Conv1D(2, 3, padding="same"), L.GRU(2), name="bad").save(
        tmp_path / "bad.keras"
    )
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from harness import assert_streamable, check_model

            def test_my_model_streams():
                result = assert_streamable("good.keras", batch_size=2, max_examples=3)
                assert result.passed

            def test_a_blocker_fails_with_the_diagnosis():
                with pytest.raises(AssertionError, match="padding='same'"):
                    assert_streamable("bad.keras", max_examples=3)
                assert check_model("bad.keras").verdict == "not streamable"
            """
        ),
        encoding="utf-8",
    )
    env = dict(
        os.environ,
        KERAS_BACKEND=keras.backend.backend(),
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=str(REPO),
    )
    env.pop("PYTEST_ADDOPTS", None)
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:rnn_harness"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 passed" in ran.stdout


# --- no hidden global state -----------------------------------------------------------------

# Each mode runs in a fresh interpreter, where no harness target has set any switch yet.
# "import": check_model imports Keras for a target, with nothing imported before it.
# "switches": the backend is imported first, its switches read; then a model object and a
# file are checked. (Importing TensorFlow imports Keras: the two cannot share a process.)
PROCESS_STATE_SCRIPT = """
import json, os, sys

from harness import check_model
from harness.precision import apply_precision

mode, backend, model_path = sys.argv[1:]
target = "keras3-" + backend


def state():
    # "native" reads the float32 precision switches and sets none.
    found = {"switches": apply_precision(backend, "native")}
    if backend == "jax":
        import jax

        found["jax_compilation_cache_dir"] = jax.config.jax_compilation_cache_dir
    return {**found, "environ": dict(os.environ)}


if mode == "import":
    keys = ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")
    before = {k: os.environ.get(k) for k in keys}
    passed = [check_model(model_path, target=target, batch_size=2, max_examples=2).passed]
    after = {k: os.environ.get(k) for k in keys}
else:
    before = state()
    import keras

    model = keras.saving.load_model(model_path)
    passed = [
        check_model(model, batch_size=2, max_examples=2).passed,
        check_model(model_path, target=target, batch_size=2, max_examples=2).passed,
    ]
    after = state()
print(json.dumps({"before": before, "after": after, "passed": passed}))
"""


def process_state(mode: str, model_file: Path) -> dict:
    """Run ``PROCESS_STATE_SCRIPT`` in ``mode``: what check_model left as it found it."""
    import keras

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    env.pop("KERAS_BACKEND", None)  # check_model sets it to import Keras, then restores it
    ran = subprocess.run(
        [
            sys.executable,
            "-c",
            PROCESS_STATE_SCRIPT,
            mode,
            keras.backend.backend(),
            str(model_file),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return json.loads(ran.stdout.strip().splitlines()[-1])


def changed(before: dict, after: dict) -> set[str]:
    return {key for key in {*before, *after} if before.get(key) != after.get(key)}


def test_importing_keras_for_a_target_leaves_the_environment_as_it_was(target, tmp_path):
    model_file = tmp_path / "small.keras"
    streamable_models()["lstm_many_to_many"]().save(model_file)
    found = process_state("import", model_file)
    assert found["passed"] == [True]
    assert found["before"] == {"KERAS_BACKEND": None, "TF_CPP_MIN_LOG_LEVEL": "3"}
    assert found["after"] == found["before"]


def test_check_model_leaves_precision_switches_and_environment_as_they_were(target, tmp_path):
    model_file = tmp_path / "small.keras"
    streamable_models()["lstm_many_to_many"]().save(model_file)
    found = process_state("switches", model_file)
    assert found["passed"] == [True, True]
    before, after = found["before"], found["after"]
    assert after["switches"] == before["switches"]
    assert after.get("jax_compilation_cache_dir") == before.get("jax_compilation_cache_dir")
    assert not changed(before["environ"], after["environ"])
