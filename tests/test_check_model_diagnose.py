"""harness.check_model.diagnose: every layer named with how it streams, blockers with why.

Every non-streamable model must be named with the right layer and reason before
any example runs; a layer the diagnosis does not know leaves the verdict to the
numeric check.
"""

from __future__ import annotations

import pytest

from harness.check_model import check_model
from harness.check_model.result import NOT_STREAMABLE
from tests.check_model_helpers import BLOCKING_IDS, EXAMPLES, blocking_models, sequence_model


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
