"""harness.streaming: diagnosis, streaming twin, the streaming_equals_whole check, reproducers.

Models are built with plain Keras in each test (the ``target`` fixture has
imported Keras with the session's backend). Every streamable model must pass
and every non-streamable one must be named with the right layer and reason;
deliberately broken twin builders and a broken reset must make the check fail,
which is the proof that ``streaming_equals_whole`` bites.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness import streaming
from harness.errors import HarnessUsageError
from harness.streaming import (
    DIFFERS,
    NOT_STREAMABLE,
    STREAMABLE,
    STREAMS,
    assert_streamable,
    check_model,
    diagnose,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = 8  # each example streams a model several times: a handful shows any carry-over bug


def sequence_model(*layers, name: str, features: int = 2, timesteps: int | None = None):
    """``Input((timesteps, features))`` followed by ``layers`` in a functional model."""
    import keras

    inputs = keras.Input((timesteps, features))
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def streamable_models():
    """(id, builder) for models that stream by construction."""
    import keras

    L = keras.layers

    def nested():
        inner = keras.Sequential(
            [keras.Input((None, 4)), L.GRU(3, return_sequences=True)], name="inner"
        )
        return sequence_model(L.LSTM(4, return_sequences=True), inner, name="nested")

    def tokens():
        inputs = keras.Input((None,), dtype="int32")
        x = L.Embedding(7, 3, mask_zero=True)(inputs)
        x = L.GRU(4, return_sequences=True)(x)
        return keras.Model(inputs, L.Dense(2)(x), name="tokens")

    return {
        "lstm_many_to_many": lambda: sequence_model(
            L.LSTM(4, return_sequences=True), name="lstm_many_to_many"
        ),
        "gru_many_to_one": lambda: sequence_model(L.GRU(3), L.Dense(1), name="gru_many_to_one"),
        "simple_rnn_time_distributed": lambda: sequence_model(
            L.SimpleRNN(3, return_sequences=True),
            L.TimeDistributed(L.Dense(2)),
            name="simple_rnn_time_distributed",
        ),
        "stacked": lambda: sequence_model(
            L.LSTM(4, return_sequences=True),
            L.GRU(3, return_sequences=True),
            L.SimpleRNN(2),
            name="stacked",
        ),
        "lstm_time_distributed_dense": lambda: sequence_model(
            L.LSTM(8, return_sequences=True),
            L.TimeDistributed(L.Dense(1)),
            name="lstm_time_distributed_dense",
        ),
        "right_padded_masking": lambda: sequence_model(
            L.Masking(0.0),
            L.LSTM(3, return_sequences=True),
            L.Dense(1),
            name="right_padded_masking",
        ),
        "per_timestep_layers": lambda: sequence_model(
            L.Conv1D(3, 1),
            L.LayerNormalization(),
            L.Dropout(0.5),
            L.GRU(3, return_sequences=True),
            L.Activation("relu"),
            name="per_timestep_layers",
        ),
        "encoder_decoder": lambda: sequence_model(
            L.LSTM(3), L.RepeatVector(2), L.LSTM(2, return_sequences=True), name="encoder_decoder"
        ),
        "fixed_length_input": lambda: sequence_model(
            L.LSTM(3, return_sequences=True), L.Dense(1), name="fixed_length", timesteps=6
        ),
        "nested_sequential": nested,
        "embedding_tokens_mask_zero": tokens,
    }


STREAMABLE_IDS = [
    "lstm_many_to_many",
    "gru_many_to_one",
    "simple_rnn_time_distributed",
    "stacked",
    "lstm_time_distributed_dense",
    "right_padded_masking",
    "per_timestep_layers",
    "encoder_decoder",
    "fixed_length_input",
    "nested_sequential",
    "embedding_tokens_mask_zero",
]


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


def test_decoder_after_repeat_vector_is_noted_and_left_stateless(target):
    model = streamable_models()["encoder_decoder"]()
    diagnosis = {d.name: d for d in diagnose(model)}
    decoder = [d for d in diagnosis.values() if d.verdict == "note"]
    assert len(decoder) == 1
    assert "kept stateless" in decoder[0].reason
    twin = streaming.build_streaming_twin(
        model, 2, keep_stateless=streaming.keep_stateless(list(diagnosis.values()))
    )
    states = {layer.name: layer.stateful for layer in twin.layers if hasattr(layer, "stateful")}
    assert sorted(states.values()) == [False, True], states


def test_twin_is_stateful_at_the_batch_size_with_the_same_weights(target):
    import keras

    model = streamable_models()["nested_sequential"]()
    twin = streaming.build_streaming_twin(model, 3)
    assert tuple(twin.inputs[0].shape) == (3, None, 2)
    layers = streaming.stateful_layers(twin)
    assert [type(layer).__name__ for layer in layers] == ["LSTM", "GRU"]
    assert all(layer.stateful for layer in layers)
    assert not streaming.stateful_layers(model)
    for got, want in zip(twin.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 5, 2)).astype("float32")
    streamed = np.concatenate(
        [keras.ops.convert_to_numpy(twin(c)) for c in (x[:, :2], x[:, 2:])], axis=1
    )
    np.testing.assert_allclose(streamed, keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)


def blocking_models():
    """(id, builder, blocking class, reason fragment) for models that cannot stream."""
    import keras

    L = keras.layers
    return {
        "bidirectional": (
            lambda: sequence_model(
                L.Bidirectional(L.LSTM(3, return_sequences=True)), name="bidirectional"
            ),
            "Bidirectional",
            "needs the future",
        ),
        "conv1d_same": (
            lambda: sequence_model(
                L.Conv1D(3, 3, padding="same"), L.LSTM(3, return_sequences=True), name="conv_same"
            ),
            "Conv1D",
            "padding='same' needs up to 1 future timestep",
        ),
        "conv1d_causal": (
            lambda: sequence_model(
                L.Conv1D(3, 3, padding="causal"),
                L.LSTM(3, return_sequences=True),
                name="conv_causal",
            ),
            "Conv1D",
            "keeps no buffer of past inputs",
        ),
        "global_average_pooling": (
            lambda: sequence_model(
                L.LSTM(3, return_sequences=True), L.GlobalAveragePooling1D(), name="gap"
            ),
            "GlobalAveragePooling1D",
            "pools over every timestep",
        ),
        "max_pooling": (
            lambda: sequence_model(
                L.LSTM(3, return_sequences=True), L.MaxPooling1D(2), name="max_pooling"
            ),
            "MaxPooling1D",
            "pools over windows of 2 timesteps",
        ),
        "go_backwards": (
            lambda: sequence_model(
                L.GRU(3, return_sequences=True, go_backwards=True), name="backwards"
            ),
            "GRU",
            "go_backwards=True",
        ),
        "flatten_over_time": (
            lambda: sequence_model(
                L.LSTM(3, return_sequences=True),
                L.Flatten(),
                L.Dense(1),
                name="flatten",
                timesteps=4,
            ),
            "Flatten",
            "merges the time axis",
        ),
        "attention": (
            lambda: attention_model(),
            "MultiHeadAttention",
            "Keras keeps no key/value cache",
        ),
    }


def attention_model():
    import keras

    inputs = keras.Input((None, 2))
    x = keras.layers.LSTM(4, return_sequences=True)(inputs)
    x = keras.layers.MultiHeadAttention(num_heads=1, key_dim=2)(x, x, use_causal_mask=True)
    return keras.Model(inputs, x, name="attention")


BLOCKING_IDS = [
    "bidirectional",
    "conv1d_same",
    "conv1d_causal",
    "global_average_pooling",
    "max_pooling",
    "go_backwards",
    "flatten_over_time",
    "attention",
]


@pytest.mark.parametrize("model_id", BLOCKING_IDS)
def test_non_streamable_model_is_diagnosed_without_running_examples(target, model_id):
    build, cls, reason = blocking_models()[model_id]
    result = check_model(build(), batch_size=2, max_examples=EXAMPLES)
    assert not result.passed
    assert result.verdict == NOT_STREAMABLE
    assert result.status == "failed"
    assert result.examples == 0
    assert [d.class_name for d in result.blockers] == [cls], result.diagnosis
    assert reason in result.blockers[0].reason
    assert result.blockers[0].name in result.message
    assert "not streamable" in result.message


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


def test_nested_blocker_is_named_by_its_path(target):
    import keras

    L = keras.layers
    inner = keras.Sequential(
        [keras.Input((None, 3)), L.Conv1D(2, 3, padding="same", name="conv")], name="frontend"
    )
    model = sequence_model(L.LSTM(3, return_sequences=True), inner, name="outer")
    result = check_model(model, max_examples=3)
    assert result.verdict == NOT_STREAMABLE
    assert [(d.name, d.class_name) for d in result.blockers] == [("frontend/conv", "Conv1D")]
    assert "frontend/conv (Conv1D): padding='same'" in result.message


def test_unknown_layers_leave_the_verdict_to_the_numeric_check(target):
    import keras

    inputs = keras.Input((None, 2))
    x = keras.layers.LSTM(3, return_sequences=True)(inputs)
    x = keras.layers.UpSampling1D(1)(x)
    model = keras.Model(inputs, x, name="unknown_layer")
    result = check_model(model, batch_size=1, max_examples=3)
    upsampling = [d for d in result.diagnosis if d.class_name == "UpSampling1D"]
    assert upsampling[0].verdict == "unknown"
    assert result.passed, result.message


# --- proof that streaming_equals_whole bites ------------------------------------------------


def without_stateful_flag(original):
    def build(model, batch_size, **kwargs):
        return original(model, batch_size, **{**kwargs, "stateful": False})

    return build


def with_perturbed_weight(original):
    def build(model, batch_size, **kwargs):
        twin = original(model, batch_size, **kwargs)
        weights = twin.get_weights()
        weights[0] = weights[0] + np.float32(1e-3)
        twin.set_weights(weights)
        return twin

    return build


def test_twin_without_the_stateful_flag_fails_where_the_second_chunk_starts(target, monkeypatch):
    monkeypatch.setattr(
        streaming, "build_streaming_twin", without_stateful_flag(streaming.build_streaming_twin)
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
        streaming, "build_streaming_twin", with_perturbed_weight(streaming.build_streaming_twin)
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
    monkeypatch.setattr(streaming, "_reset", lambda layer: None)
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


# --- data and arguments -------------------------------------------------------------------


def test_rows_of_the_given_data_are_streamed(target):
    model = streamable_models()["lstm_many_to_many"]()
    data = np.arange(3 * 5 * 2, dtype="float32").reshape(3, 5, 2) / 30.0
    result = check_model(model, batch_size=2, data=data, max_examples=4)
    assert result.passed, result.message
    assert result.examples >= 4


def test_data_of_the_wrong_shape_names_the_expected_shape(target):
    model = streamable_models()["lstm_many_to_many"]()
    with pytest.raises(HarnessUsageError, match=r"expected \(N, T, 2\)"):
        check_model(model, data=np.zeros((4, 5, 3), "float32"))


def test_a_model_without_a_time_axis_is_a_usage_error(target):
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs), name="flat")
    with pytest.raises(HarnessUsageError, match="has no time axis"):
        check_model(model)


def test_a_model_without_a_recurrent_layer_is_a_usage_error(target):
    import keras

    model = sequence_model(keras.layers.Dense(2), name="dense_only")
    with pytest.raises(HarnessUsageError, match="has no recurrent layer"):
        check_model(model)


def test_an_object_that_is_not_a_model_is_a_usage_error(target):
    with pytest.raises(HarnessUsageError, match=r"expects a keras\.Model"):
        check_model(object())


# --- the reproducer --------------------------------------------------------------------------


def run_reproducer(path: Path) -> subprocess.CompletedProcess:
    import keras

    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=300
    )


def test_reproducer_of_a_real_failure_reproduces_it_standalone(target, tmp_path):
    build, _, _ = blocking_models()["conv1d_causal"]
    model_file = tmp_path / "causal.keras"
    build().save(model_file)
    result = check_model(str(model_file), batch_size=2, max_examples=EXAMPLES, force=True)
    assert result.verdict == DIFFERS
    script = tmp_path / "reproduce.py"
    script.write_text(result.reproducer, encoding="utf-8")
    assert str(model_file.resolve()) in result.reproducer
    assert "import harness" not in result.reproducer
    ran = run_reproducer(script)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "REPRODUCED" in ran.stdout
    assert "first diverging timestep" in ran.stdout


def test_reproducer_of_a_harness_side_failure_does_not_reproduce(target, tmp_path, monkeypatch):
    # The twin is broken inside the harness only: the reproducer builds the real twin.
    monkeypatch.setattr(
        streaming, "build_streaming_twin", without_stateful_flag(streaming.build_streaming_twin)
    )
    model_file = tmp_path / "lstm.keras"
    streamable_models()["lstm_many_to_many"]().save(model_file)
    result = check_model(model_file, batch_size=2, max_examples=EXAMPLES)
    assert result.verdict == DIFFERS
    script = tmp_path / "reproduce.py"
    script.write_text(result.reproducer, encoding="utf-8")
    ran = run_reproducer(script)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "NOT REPRODUCED" in ran.stdout


# --- the API in a user's plain pytest test ------------------------------------------------


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
            from harness.streaming import assert_streamable, check_model

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
