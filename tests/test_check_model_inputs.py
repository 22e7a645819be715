"""harness.check_model.inputs: --data rows are streamed; an input that cannot stream is refused."""

from __future__ import annotations

import numpy as np
import pytest

from harness.check_model import check_model
from harness.errors import HarnessUsageError
from tests.check_model_helpers import sequence_model, streamable_models


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
