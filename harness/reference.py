"""Float64 NumPy reference cells, fed the target's own weights.

The reference is independent of every framework: it takes the arrays that
``layer.get_weights()`` returns (Keras gate order) and computes the recurrence
step by step in float64, vectorised over the batch. Equations follow the Keras
documentation of each layer:

- SimpleRNN: ``h = act(x W + h U + b)``
- LSTM (gates i, f, c, o): ``i = ra(x Wi + h Ui + bi)``, ``f = ra(...)``,
  ``c = f * c + i * act(x Wc + h Uc + bc)``, ``o = ra(...)``, ``h = o * act(c)``
- hard_sigmoid: Keras 3's ``clip(x / 6 + 0.5, 0, 1)``, or Keras 2's (tf-keras)
  ``clip(0.2 x + 0.5, 0, 1)`` where ``run_reference`` is given ``keras_version="2..."``
  (``keras_version_of`` reads it from a target's versions).
- GRU (gates z, r, h), ``reset_after=True``:
  ``hh = act(x Wh + bh_in + r * (h Uh + bh_rec))``; ``reset_after=False``:
  ``hh = act(x Wh + (r * h) Uh + bh)``; both ``h = z * h_prev + (1 - z) * hh``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.specs import LayerSpec


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so that exp never overflows for large |x|.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0.0),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    # Keras 3 (keras/src/backend/*/nn.py hard_sigmoid; keras-team/keras#19477).
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
}
# Keras 2 (tf-keras backend.hard_sigmoid): where the two Keras lines part ways.
KERAS2_ACTIVATION_FUNCTIONS = {
    **ACTIVATION_FUNCTIONS,
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
}


def keras_version_of(versions: dict[str, str]) -> str:
    """The Keras version in a target's ``versions()`` (``"3"`` where none is named)."""
    return versions.get("keras", "3")


def _activations(keras_version: str) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return KERAS2_ACTIVATION_FUNCTIONS if keras_version.startswith("2.") else ACTIVATION_FUNCTIONS


@dataclass
class ReferenceResult:
    """Per-timestep outputs ``(batch, timesteps, units)`` and final states."""

    sequence: np.ndarray
    states: list[np.ndarray]

    def output(self, spec: LayerSpec) -> np.ndarray:
        """What the layer returns as its main output for ``spec``."""
        return self.sequence if spec.return_sequences else self.sequence[:, -1]


def zero_states(spec: LayerSpec, batch_size: int) -> list[np.ndarray]:
    """The zero state a layer starts from: one ``(batch, units)`` array per state."""
    return [np.zeros(shape) for shape in spec.state_shapes(batch_size)]


def run_reference(
    spec: LayerSpec,
    weights: Sequence[np.ndarray],
    x: np.ndarray,
    initial_state: Sequence[np.ndarray] | None = None,
    *,
    keras_version: str = "3",
    mask: np.ndarray | None = None,
) -> ReferenceResult:
    """Run the float64 reference recurrence over ``x``.

    Args:
        spec: the layer being mirrored.
        weights: the layer's weights in Keras order, as from ``get_weights()``.
        x: inputs of shape ``(batch, timesteps, features)``.
        initial_state: one ``(batch, units)`` array per state; zeros if omitted.
        keras_version: the Keras whose activations to mirror: ``"2.x"`` (tf-keras) takes
            Keras 2's ``hard_sigmoid``, anything else Keras 3's.
        mask: boolean ``(batch, timesteps)``, True where a step is valid. As Keras's RNN
            loop: a masked step keeps every state and outputs the previous step's output
            (zeros before the call's first valid step), so a fully masked row outputs zeros
            and keeps its initial state.

    Example:
        >>> spec = LayerSpec("SimpleRNN", units=1, features=1, use_bias=False)
        >>> w = [np.array([[1.0]]), np.array([[0.0]])]
        >>> float(run_reference(spec, w, np.zeros((1, 2, 1))).states[0][0, 0])
        0.0
    """
    if spec.kind not in _STEPS:  # the extra kinds: cells, stacks, ConvLSTM
        from harness.layer_kinds import run_extra_reference

        if mask is not None:
            raise ValueError(f"mask is not supported by the {spec.kind} reference")
        return run_extra_reference(spec, weights, x, initial_state, run_reference)
    x = np.asarray(x, dtype=np.float64)
    batch, timesteps, _ = x.shape
    w = [np.asarray(a, dtype=np.float64) for a in weights]
    kernel, recurrent = w[0], w[1]
    bias = w[2] if spec.use_bias else None
    if initial_state is None:
        states = zero_states(spec, batch)
    else:
        states = [np.asarray(s, dtype=np.float64).copy() for s in initial_state]
    step = _STEPS[spec.kind]
    functions = _activations(keras_version)
    act = functions[spec.activation]
    ract = functions[spec.recurrent_activation]
    outputs = np.empty((batch, timesteps, spec.units))
    previous = np.zeros((batch, spec.units))
    for t in range(timesteps):
        new = step(spec, x[:, t], states, kernel, recurrent, bias, act, ract)
        if mask is None:
            states = new
        else:
            valid = np.asarray(mask[:, t], dtype=bool)[:, None]
            states = [np.where(valid, n, s) for n, s in zip(new, states, strict=True)]
            new = [np.where(valid, new[0], previous)]
        outputs[:, t] = previous = new[0]
    return ReferenceResult(outputs, states)


def _simple_rnn_step(spec, x, states, kernel, recurrent, bias, act, ract):
    z = x @ kernel + states[0] @ recurrent
    if bias is not None:
        z = z + bias
    return [act(z)]


def _lstm_step(spec, x, states, kernel, recurrent, bias, act, ract):
    h, c = states
    z = x @ kernel + h @ recurrent
    if bias is not None:
        z = z + bias
    zi, zf, zc, zo = np.split(z, 4, axis=-1)
    i, f, o = ract(zi), ract(zf), ract(zo)
    c = f * c + i * act(zc)
    h = o * act(c)
    return [h, c]


def _gru_step(spec, x, states, kernel, recurrent, bias, act, ract):
    (h,) = states
    u = spec.units
    if bias is None:
        b_in = b_rec = np.zeros(3 * u)
    elif spec.reset_after:
        b_in, b_rec = bias[0], bias[1]
    else:
        b_in, b_rec = bias, np.zeros(3 * u)
    x_z, x_r, x_h = np.split(x @ kernel + b_in, 3, axis=-1)
    if spec.reset_after:
        h_z, h_r, h_h = np.split(h @ recurrent + b_rec, 3, axis=-1)
        z, r = ract(x_z + h_z), ract(x_r + h_r)
        hh = act(x_h + r * h_h)
    else:
        z = ract(x_z + h @ recurrent[:, :u])
        r = ract(x_r + h @ recurrent[:, u : 2 * u])
        hh = act(x_h + (r * h) @ recurrent[:, 2 * u :])
    return [z * h + (1.0 - z) * hh]


_STEPS = {"SimpleRNN": _simple_rnn_step, "LSTM": _lstm_step, "GRU": _gru_step}
