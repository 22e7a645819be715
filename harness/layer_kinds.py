"""The built-in recurrent layers beyond LSTM, GRU and SimpleRNN: draws, layers, references.

``harness.specs.EXTRA_LAYER_KINDS`` run when named (``--layers``, ``--rnn-layers``):

- ``LSTMCell``, ``GRUCell``, ``SimpleRNNCell``: the cell in ``keras.layers.RNN``; the
  weights and the math of its layer, so the reference is the layer's.
- ``ConvLSTM1D``/``2D``/``3D``: an LSTM whose matmuls are convolutions over 1-3 spatial
  axes (padding ``"same"``, stride 1, odd kernels); a float64 NumPy reference below.
- ``StackedRNNCells``: a drawn stack of built-in cells in one ``keras.layers.RNN``; each
  cell is fed the previous cell's output at the same step, so the reference is the
  composition of the cells' references, and the states are the cells' states in order.

``not_applicable`` says, per property and kind, why a property skips.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from harness import custom_layers
from harness.specs import (
    ACTIVATIONS,
    ALL_LAYER_KINDS,  # noqa: F401  (re-exported for harness.strategies)
    CELL_KINDS,
    CONV_LSTM_RANKS,
    EXTRA_LAYER_KINDS,
    LAYER_KINDS,
    RECURRENT_ACTIVATIONS,
    STACKED,
    LayerSpec,
)

MAX_SPATIAL = 4  # per axis: a 3x3 kernel with "same" padding meets both borders and a middle
MAX_SPATIAL_3D = 3  # ConvLSTM3D: 3**3 positions keep an example as cheap as a 2D one
MAX_CONV_UNITS = 3  # filters; every position already multiplies the work
MAX_CONV_FEATURES = 2  # input channels
KERNEL_SIZES = (1, 3)  # odd: "same" padding is symmetric on every backend
MAX_CELLS = 3  # two hand-offs between cells inside one step
MAX_CELL_UNITS = 4

# Properties that build models from ModelSpec (LSTM/GRU/SimpleRNN layers and wrappers) or
# compare kernels only LSTM and GRU have.
_MODEL_PROPERTIES = ("composition", "model_reset_states")
_NEEDS_REFERENCE = ("matches_reference",)  # an independent float64 reference


def is_extra(kind: str) -> bool:
    """An extra built-in kind, or a user's layer (``MODULE:NAME``)."""
    return kind in EXTRA_LAYER_KINDS or custom_layers.is_custom(kind)


def not_applicable(property_id: str | None, kind: str | None) -> str | None:
    """Why ``property_id`` does not run on layer ``kind``, or None when it does."""
    if custom_layers.is_custom(kind) and property_id in _NEEDS_REFERENCE:
        return (
            f"{property_id} compares against a float64 reference of the layer's math, "
            f"and a user's layer ({kind}) has none"
        )
    if custom_layers.is_custom(kind) and property_id == "cudnn_matches_generic":
        return f"a user's layer ({kind}) has no use_cudnn switch between Keras' own kernels"
    if custom_layers.is_custom(kind) and property_id in _MODEL_PROPERTIES:
        return f"{property_id} builds models of {', '.join(LAYER_KINDS)} layers (ModelSpec)"
    if kind not in EXTRA_LAYER_KINDS or property_id is None:
        return None
    if property_id == "cudnn_matches_generic":
        return f"{kind} has no cuDNN kernel in Keras (only the LSTM and GRU layers have one)"
    if property_id in _MODEL_PROPERTIES:
        return (
            f"{property_id} builds models of {', '.join(LAYER_KINDS)} layers (ModelSpec); "
            f"{kind} is checked as a single layer by the other properties"
        )
    return None


# ---------------------------------------------------------------------------- draws


def _flag(value: bool | None) -> st.SearchStrategy[bool]:
    return st.booleans() if value is None else st.just(value)


@functools.cache
def layer_specs(
    kind: str, return_sequences: bool | None, return_state: bool | None
) -> st.SearchStrategy[LayerSpec]:
    """Specs of one extra kind (see ``harness.strategies.layer_specs`` for the classic ones)."""
    common = {
        "kind": st.just(kind),
        "return_sequences": _flag(return_sequences),
        "return_state": _flag(return_state),
        "reset_after": st.booleans(),
        "use_bias": st.booleans(),
        "activation": st.sampled_from(ACTIVATIONS),
        "recurrent_activation": st.sampled_from(RECURRENT_ACTIVATIONS),
    }
    if custom_layers.is_custom(kind):  # only units, features and the return flags apply
        return st.builds(
            LayerSpec,
            kind=st.just(kind),
            units=st.integers(1, 8),
            features=st.integers(1, 4),
            return_sequences=_flag(return_sequences),
            return_state=_flag(return_state),
        )
    if kind in CONV_LSTM_RANKS:
        rank = CONV_LSTM_RANKS[kind]
        side = MAX_SPATIAL_3D if rank == 3 else MAX_SPATIAL
        strategy = st.builds(
            LayerSpec,
            units=st.integers(1, MAX_CONV_UNITS),
            features=st.integers(1, MAX_CONV_FEATURES),
            spatial=st.tuples(*[st.integers(1, side)] * rank),
            kernel_size=st.sampled_from(KERNEL_SIZES),
            **common,
        )
    elif kind == STACKED:
        cells = st.lists(
            st.tuples(st.sampled_from(list(CELL_KINDS)), st.integers(1, MAX_CELL_UNITS)),
            min_size=2,
            max_size=MAX_CELLS,
        ).map(tuple)
        strategy = st.builds(
            lambda cells, **kw: LayerSpec(cells=cells, units=cells[-1][1], **kw),
            cells=cells,
            features=st.integers(1, 4),
            **common,
        )
    else:
        strategy = st.builds(
            LayerSpec, units=st.integers(1, 8), features=st.integers(1, 4), **common
        )
    return strategy.map(LayerSpec.canonical)


def scale_recurrent(recurrent: np.ndarray, blocks: int, gain: float) -> np.ndarray:
    """Each gate block of a recurrent kernel (gates on the last axis) at operator norm <= gain.

    For a convolution kernel the bound is the sum of the spectral norms of its taps
    (zero padding only drops terms), so the recurrence stays contractive.
    """
    parts = np.split(recurrent, blocks, axis=-1)
    scaled = []
    for part in parts:
        taps = part.reshape(-1, *part.shape[-2:])
        norm = max(sum(np.linalg.norm(t, 2) for t in taps), 1e-12)
        scaled.append(part * (gain / norm))
    return np.concatenate(scaled, axis=-1)


def draw_weights(draw, spec: LayerSpec, weights, rng, scale: float, gain: float) -> list:
    """Weights of an extra kind, drawn as ``harness.strategies.weights`` draws a layer's.

    A cell has its layer's weights; a stack, each cell's in turn; a ConvLSTM, uniform
    kernels and bias in [-scale, scale] with each recurrent gate block at norm ``gain``.
    """
    if spec.custom:
        # Unknown roles: every matrix at a spectral norm of ``gain`` (below 1), so that a
        # recurrent kernel among them is contractive; vectors (biases) in [-scale, scale].
        arrays = [rng.uniform(-scale, scale, size=s) for s in spec.weight_shapes()]
        for i, a in enumerate(arrays):
            if a.ndim >= 2:
                norm = max(np.linalg.norm(a.reshape(-1, a.shape[-1]), 2), 1e-12)
                arrays[i] = a * (gain / norm)
        return [a.astype(np.float32) for a in arrays]
    if spec.kind in CELL_KINDS:
        return draw(weights(spec.replace(kind=spec.base_kind).canonical()))
    if spec.kind == STACKED:
        return [w for cell in spec.cell_specs() for w in draw(weights(cell))]
    arrays = [rng.uniform(-scale, scale, size=s) for s in spec.weight_shapes()]
    arrays[1] = scale_recurrent(arrays[1], 4, gain)
    if spec.activation == "relu" and spec.use_bias:
        arrays[2] = np.abs(arrays[2])  # see harness.strategies.weights
    return [a.astype(np.float32) for a in arrays]


# ---------------------------------------------------------------------------- layers


def build_layer(keras, spec: LayerSpec, *, stateful: bool, zeros: bool):
    """The Keras layer for an extra kind; ``zeros`` sets zero initializers (weights are set later)."""
    init = (
        dict.fromkeys(("kernel_initializer", "recurrent_initializer", "bias_initializer"), "zeros")
        if zeros
        else {}
    )
    rnn = {
        "stateful": stateful,
        "return_sequences": spec.return_sequences,
        "return_state": spec.return_state,
    }
    if spec.custom:
        return custom_layers.build(keras, spec, stateful=stateful)
    if spec.kind in CONV_LSTM_RANKS:
        layer_cls = getattr(keras.layers, spec.kind)
        return layer_cls(
            filters=spec.units,
            kernel_size=spec.kernel_size,
            padding="same",
            activation=spec.activation,
            recurrent_activation=spec.recurrent_activation,
            use_bias=spec.use_bias,
            **rnn,
            **init,
        )
    specs = spec.cell_specs() if spec.kind == STACKED else [spec.replace(kind=spec.base_kind)]
    cells = [_cell(keras, s, init) for s in specs]
    cell = keras.layers.StackedRNNCells(cells) if spec.kind == STACKED else cells[0]
    return keras.layers.RNN(cell, **rnn)


def _cell(keras, spec: LayerSpec, init: dict):
    kwargs = {"units": spec.units, "activation": spec.activation, "use_bias": spec.use_bias}
    if spec.kind != "SimpleRNN":
        kwargs["recurrent_activation"] = spec.recurrent_activation
    if spec.kind == "GRU":
        kwargs["reset_after"] = spec.reset_after
    return getattr(keras.layers, f"{spec.kind}Cell")(**kwargs, **init)


def flat(values) -> list:
    """Nested lists of states (a stack's, per cell) as one flat list, in order."""
    if isinstance(values, (list, tuple)):
        return [v for item in values for v in flat(item)]
    return [values]


def nest(spec: LayerSpec, states: Sequence) -> list:
    """Flat states in the structure the layer takes as ``initial_state`` and returns.

    A stack's are per cell: a list for a cell of several states, a bare tensor for a cell
    of one (its ``state_size`` is an int).
    """
    if spec.kind != STACKED:
        return list(states)
    counts = [c.n_states for c in spec.cell_specs()]
    edges = [0, *itertools.accumulate(counts)]
    return [states[a] if b - a == 1 else list(states[a:b]) for a, b in itertools.pairwise(edges)]


# ---------------------------------------------------------------------------- references


def run_extra_reference(spec, weights, x, initial_state, run_reference):
    """The float64 reference of an extra kind (``harness.reference.run_reference`` calls it)."""
    from harness.reference import ReferenceResult

    if spec.custom:
        return custom_layers.run_own_layer(spec, weights, x, initial_state)
    if spec.kind in CELL_KINDS:
        return run_reference(spec.replace(kind=spec.base_kind), weights, x, initial_state)
    if spec.kind == STACKED:
        given = None if initial_state is None else list(initial_state)
        sequence, states, w = np.asarray(x, dtype=np.float64), [], list(weights)
        for cell in spec.cell_specs():
            n = len(cell.weight_shapes())
            own, w = w[:n], w[n:]
            start = None
            if given is not None:
                start, given = given[: cell.n_states], given[cell.n_states :]
            result = run_reference(cell, own, sequence, start)
            sequence, states = result.sequence, states + result.states
        return ReferenceResult(sequence, states)
    return _conv_lstm(spec, weights, x, initial_state)


def _conv_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Cross-correlation with 'same' padding: x ``(batch, *spatial, cin)``, kernel ``(*k, cin, cout)``."""
    k = kernel.shape[:-2]
    pad = [(0, 0)] + [((n - 1) // 2, n - 1 - (n - 1) // 2) for n in k] + [(0, 0)]
    padded = np.pad(x, pad)
    spatial = x.shape[1:-1]
    out = np.zeros((*x.shape[:-1], kernel.shape[-1]))
    for offset in itertools.product(*[range(n) for n in k]):
        window = padded[
            (slice(None), *[slice(o, o + s) for o, s in zip(offset, spatial, strict=True)])
        ]
        out += window @ kernel[offset]
    return out


def _conv_lstm(spec, weights, x, initial_state):
    from harness.reference import ACTIVATION_FUNCTIONS, ReferenceResult

    x = np.asarray(x, dtype=np.float64)
    w = [np.asarray(a, dtype=np.float64) for a in weights]
    kernel, recurrent = w[0], w[1]
    bias = w[2] if spec.use_bias else 0.0
    batch, timesteps = x.shape[:2]
    shapes = spec.state_shapes(batch)
    if initial_state is None:
        h, c = (np.zeros(s) for s in shapes)
    else:
        h, c = (np.asarray(s, dtype=np.float64).copy() for s in initial_state)
    act = ACTIVATION_FUNCTIONS[spec.activation]
    ract = ACTIVATION_FUNCTIONS[spec.recurrent_activation]
    outputs = np.empty((batch, timesteps, *spec.output_shape))
    for t in range(timesteps):
        z = _conv_same(x[:, t], kernel) + _conv_same(h, recurrent) + bias
        zi, zf, zc, zo = np.split(z, 4, axis=-1)
        c = ract(zf) * c + ract(zi) * act(zc)
        h = ract(zo) * act(c)
        outputs[:, t] = h
    return ReferenceResult(outputs, [h, c])
