"""Users' own recurrent layers for tests/test_custom_layers.py: one correct, three broken.

Each ``make_*`` is what ``rnn-harness run --layer tests.custom_cells:make_*`` takes: a
callable of ``units`` and ``keras.layers.RNN``'s keyword arguments returning a layer.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnn_harness_tests")
class TwoStateCell(keras.layers.Layer):
    """A correct cell with two states: ``h = tanh(x W + h U + c V + b)``, ``c = (c + h) / 2``."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        n = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], n), name="kernel")
        self.recurrent = self.add_weight(shape=(n, n), name="recurrent")
        self.carry = self.add_weight(shape=(n, n), name="carry")
        self.bias = self.add_weight(shape=(n,), name="bias", initializer="zeros")

    def step(self, x, h, c):
        h = ops.tanh(
            ops.matmul(x, self.kernel)
            + ops.matmul(h, self.recurrent)
            + ops.matmul(c, self.carry)
            + self.bias
        )
        return h, 0.5 * (c + h)

    def call(self, inputs, states):
        h, c = self.step(inputs, *states)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="rnn_harness_tests")
class MixingCell(TwoStateCell):
    """Broken: each sample's step reads the next sample's h (rows of the batch mix)."""

    def call(self, inputs, states):
        h, c = states
        h, c = self.step(inputs, ops.roll(h, 1, axis=0), c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="rnn_harness_tests")
class LeakyResetRNN(keras.layers.RNN):
    """Broken: ``reset_state()`` leaves every state at half its value."""

    def reset_state(self):
        for v in keras.tree.flatten(self.states):
            v.assign(0.5 * v.value)


@keras.saving.register_keras_serializable(package="rnn_harness_tests")
class ForgetsSecondStateRNN(keras.layers.RNN):
    """Broken: a stateful call carries only the first state to the next call."""

    def call(self, *args, **kwargs):
        out = super().call(*args, **kwargs)
        if self.stateful:
            second = keras.tree.flatten(self.states)[1]
            second.assign(ops.zeros_like(second.value))
        return out


def make_good(units, **kwargs):
    return keras.layers.RNN(TwoStateCell(units), **kwargs)


def make_mixing(units, **kwargs):
    return keras.layers.RNN(MixingCell(units), **kwargs)


def make_leaky_reset(units, **kwargs):
    return LeakyResetRNN(TwoStateCell(units), **kwargs)


def make_forgets_second(units, **kwargs):
    return ForgetsSecondStateRNN(TwoStateCell(units), **kwargs)
