"""harness.targets.keras3_feeding: one predict/evaluate/fit fed as users feed it."""

import numpy as np
import pytest

from harness.errors import HarnessUsageError
from harness.specs import LayerSpec
from harness.strategies import weights
from harness.targets import keras3_feeding as feeding


def test_batches_are_cut_in_order_with_every_nested_target_sliced_alike():
    x = np.arange(12.0).reshape(6, 2, 1)
    y = [np.arange(6.0), [np.arange(6.0) * 10, np.arange(6.0) * 100]]  # a stack's nested states
    batches = feeding._batches((x, y), 6, 2)
    assert len(batches) == 3
    xb, (head, (s0, s1)) = batches[1]
    np.testing.assert_array_equal(xb, x[2:4])
    np.testing.assert_array_equal(head, [2.0, 3.0])
    np.testing.assert_array_equal(s0, [20.0, 30.0])
    np.testing.assert_array_equal(s1, [200.0, 300.0])


def test_an_unknown_source_or_path_is_a_usage_error_that_names_the_choices():
    with pytest.raises(HarnessUsageError, match="Unknown source 'csv'; expected one of arrays"):
        feeding._source(None, "csv", (np.zeros((2, 1, 1)),), 2, 1)
    with pytest.raises(HarnessUsageError, match="Unknown path 'call'; expected one of predict"):
        feeding.feed(None, np.zeros((2, 1, 1)), path="call", batch_size=1)


def test_tf_data_without_tensorflow_says_why(monkeypatch):
    monkeypatch.setattr(feeding.importlib.util, "find_spec", lambda name: None)
    assert feeding.source_unavailable("tf.data") == (
        "tf.data needs TensorFlow, which is not installed"
    )
    assert feeding.source_unavailable("generator") is None
    with pytest.raises(feeding.SourceUnavailable, match="needs TensorFlow"):
        feeding._source(None, "tf.data", (np.zeros((2, 1, 1)),), 2, 1)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_the_model_is_compiled_with_the_jit_compile_asked_for(target, jit_compile):
    if jit_compile and target.backend == "torch":
        pytest.skip("torch.compile takes 10 s and more on a CPU; False shows the option arrives")
    spec = LayerSpec("SimpleRNN", units=2, features=1)
    runner = target.runner(spec, batch_size=1, stateful=True)
    runner.set_weights(weights(spec).example())
    got = runner.feed(np.ones((2, 3, 1), np.float32), path="evaluate", jit_compile=jit_compile)
    assert np.isfinite(got.loss)
    assert runner.model.jit_compile is jit_compile
