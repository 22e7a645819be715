"""harness.check_model.twin: the streaming twin is the model, stateful at batch size B."""

from __future__ import annotations

import numpy as np

from harness.check_model.diagnose import diagnose, keep_stateless
from harness.check_model.twin import build_streaming_twin, stateful_layers
from tests.check_model_helpers import streamable_models


def test_decoder_after_repeat_vector_is_noted_and_left_stateless(target):
    model = streamable_models()["encoder_decoder"]()
    diagnosis = {d.name: d for d in diagnose(model)}
    decoder = [d for d in diagnosis.values() if d.verdict == "note"]
    assert len(decoder) == 1
    assert "kept stateless" in decoder[0].reason
    twin = build_streaming_twin(model, 2, keep_stateless=keep_stateless(list(diagnosis.values())))
    states = {layer.name: layer.stateful for layer in twin.layers if hasattr(layer, "stateful")}
    assert sorted(states.values()) == [False, True], states


def test_twin_is_stateful_at_the_batch_size_with_the_same_weights(target):
    import keras

    model = streamable_models()["nested_sequential"]()
    twin = build_streaming_twin(model, 3)
    assert tuple(twin.inputs[0].shape) == (3, None, 2)
    layers = stateful_layers(twin)
    assert [type(layer).__name__ for layer in layers] == ["LSTM", "GRU"]
    assert all(layer.stateful for layer in layers)
    assert not stateful_layers(model)
    for got, want in zip(twin.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 5, 2)).astype("float32")
    streamed = np.concatenate(
        [keras.ops.convert_to_numpy(twin(c)) for c in (x[:, :2], x[:, 2:])], axis=1
    )
    np.testing.assert_allclose(streamed, keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)
