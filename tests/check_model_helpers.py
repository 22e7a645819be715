"""What the check-model tests share: models that stream, models that cannot, broken twins.

Models are built with plain Keras in each test (the ``target`` fixture has
imported Keras with the session's backend). The broken twin builders wrap
``build_streaming_twin`` for the proof that ``streaming_equals_whole`` bites.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

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


def without_stateful_flag(original):
    """``original`` (a twin builder) with every recurrent layer left stateless."""

    def build(model, batch_size, **kwargs):
        return original(model, batch_size, **{**kwargs, "stateful": False})

    return build


def with_perturbed_weight(original):
    """``original`` (a twin builder) with 1e-3 added to the twin's first weight."""

    def build(model, batch_size, **kwargs):
        twin = original(model, batch_size, **kwargs)
        weights = twin.get_weights()
        weights[0] = weights[0] + np.float32(1e-3)
        twin.set_weights(weights)
        return twin

    return build


def run_reproducer(path: Path) -> subprocess.CompletedProcess:
    """Run a reproducer script in a fresh interpreter on the session's backend."""
    import keras

    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=300
    )
