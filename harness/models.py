"""Small models as plain data, and the Hypothesis strategies that draw them.

A ``ModelSpec`` describes a Sequential-like stack: an optional ``Masking`` layer,
one or more recurrent layers (each a ``RecurrentLayer``: a ``LayerSpec`` plus its
wrappers and options, ``Bidirectional``, ``go_backwards``, ``unroll``), or one
``ConvLSTM1DLayer``, then an optional ``TimeDistributed(Dense)`` head. Like
``LayerSpec`` it is frozen, hashable and JSON-friendly: it keys model caches and
appears in counterexamples. The adapter that builds it is
``harness.targets.keras3_models``.

Weights of a whole model are one flat list in Keras order (``model.get_weights()``):
layer by layer, a ``Bidirectional`` layer's forward weights before its backward
weights, the head last. ``ModelSpec.split_weights`` cuts that list back into
per-layer pieces for the reference.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from harness.errors import check_argument
from harness.specs import LAYER_KINDS, LayerSpec
from harness.strategies import (
    INPUT_MAGNITUDES,
    MAX_RECURRENT_GAIN,
    MAX_SEED,
    MAX_WEIGHT_SCALE,
    MIN_RECURRENT_GAIN,
    MIN_WEIGHT_SCALE,
    ChunkedExample,
    chunk_splits,
    layer_specs,
    weights,
)

# Per-layer dtype policies a model can be built with: plain float32, or Keras mixed
# precision (float16 compute, float32 variables).
DTYPE_POLICIES = ("float32", "mixed_float16")
PADDINGS = ("same", "valid")  # ConvLSTM1D padding along its one spatial axis

# Models compose several layers, and JAX compiles once per shape: the bounds are
# tighter than harness.strategies' single-layer ones.
MAX_MODEL_BATCH = 4  # enough rows to see mixing between samples
MAX_MODEL_UNITS = 4  # per-unit bugs show at 2+ units
MAX_MODEL_FEATURES = 3  # the input projection is a plain matmul
MAX_LAYERS = 3  # a stack of 3 has a middle layer: hand-offs on both sides
MAX_DENSE_UNITS = 3  # the head is a plain matmul per timestep
MAX_MODEL_CHUNKS = 3  # 2 boundaries: a carry that must survive a second hand-off
MAX_MODEL_CHUNK_LENGTH = 4  # 3 chunks of up to 4 steps: at most MAX_MODEL_TIMESTEPS
MAX_MODEL_TIMESTEPS = MAX_MODEL_CHUNKS * MAX_MODEL_CHUNK_LENGTH  # 12
MAX_FILTERS = 3  # ConvLSTM1D: per-filter bugs show at 2+ filters
MAX_KERNEL_SIZE = 3  # a kernel of 3 has a centre and both neighbours
MAX_ROWS = 4  # the one spatial axis: room for a kernel of 3 with "valid" padding
MAX_CHANNELS = 2  # input channels of ConvLSTM1D


@dataclass(frozen=True)
class RecurrentLayer:
    """One ``LSTM``, ``GRU`` or ``SimpleRNN`` in a model, with its wrappers and options.

    Args:
        layer: the recurrent layer itself; its ``return_state`` must be False (a model
            returns states through ``ModelSpec.return_state``).
        bidirectional: wrap it in ``Bidirectional`` (``merge_mode="concat"``): its
            output is the forward and the backward output side by side.
        go_backwards: process each input sequence from its last timestep to its first.
        unroll: unroll the recurrence (needs ``ModelSpec.timesteps``).

    Example:
        >>> RecurrentLayer(LayerSpec("GRU", units=2, features=3), bidirectional=True).width
        4
    """

    layer: LayerSpec
    bidirectional: bool = False
    go_backwards: bool = False
    unroll: bool = False

    def __post_init__(self) -> None:
        check_argument(
            isinstance(self.layer, LayerSpec),
            f"layer={self.layer!r} must be a LayerSpec, e.g. LayerSpec('LSTM', units=2, features=1)",
        )
        check_argument(
            not self.layer.return_state,
            "layer.return_state=True is not used inside a model; "
            "set ModelSpec(return_state=True) to have every layer return its states",
        )
        check_argument(
            not (self.bidirectional and self.go_backwards),
            "bidirectional=True with go_backwards=True: Bidirectional builds its own "
            "backward copy; set go_backwards=False",
        )

    @property
    def features(self) -> int:
        """Size of each input timestep."""
        return self.layer.features

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input timestep."""
        return (self.layer.features,)

    @property
    def width(self) -> int:
        """Size of each output timestep (both directions for ``bidirectional``)."""
        return self.layer.units * (2 if self.bidirectional else 1)

    @property
    def return_sequences(self) -> bool:
        return self.layer.return_sequences

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def n_states(self) -> int:
        """State tensors this layer carries, both directions counted."""
        return self.layer.n_states * self.directions

    def state_shapes(self, batch_size: int) -> list[tuple[int, ...]]:
        return [(batch_size, self.layer.units)] * self.n_states

    def weight_shapes(self) -> list[tuple[int, ...]]:
        return self.layer.weight_shapes() * self.directions

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "recurrent",
            "layer": self.layer.to_dict(),
            "bidirectional": self.bidirectional,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
        }


@dataclass(frozen=True)
class ConvLSTM1DLayer:
    """One ``ConvLSTM1D`` layer: inputs ``(batch, time, rows, channels)``.

    Args:
        filters: output channels, the size of each state's last axis.
        kernel_size: width of the convolution along ``rows``.
        rows: length of the one spatial axis of each input timestep.
        channels: input channels.
        padding: ``"same"`` (rows kept) or ``"valid"`` (``rows - kernel_size + 1`` rows).
        return_sequences: return the output at every timestep.
        use_bias: whether the layer has a bias.

    Example:
        >>> ConvLSTM1DLayer(filters=2, kernel_size=3, rows=4, channels=1, padding="valid").out_rows
        2
    """

    filters: int
    kernel_size: int
    rows: int
    channels: int
    padding: str = "same"
    return_sequences: bool = True
    use_bias: bool = True

    def __post_init__(self) -> None:
        for name in ("filters", "kernel_size", "rows", "channels"):
            value = getattr(self, name)
            check_argument(
                isinstance(value, int) and value >= 1, f"{name}={value!r} must be at least 1"
            )
        check_argument(
            self.padding in PADDINGS,
            f"padding={self.padding!r} is not supported; use one of {PADDINGS}",
        )
        check_argument(
            self.padding == "same" or self.kernel_size <= self.rows,
            f"kernel_size={self.kernel_size} is wider than rows={self.rows} with "
            "padding='valid'; use padding='same' or a kernel_size of at most rows",
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.rows, self.channels)

    @property
    def out_rows(self) -> int:
        return self.rows if self.padding == "same" else self.rows - self.kernel_size + 1

    @property
    def n_states(self) -> int:
        return 2  # h and c, as for LSTM

    def state_shapes(self, batch_size: int) -> list[tuple[int, ...]]:
        return [(batch_size, self.out_rows, self.filters)] * 2

    def weight_shapes(self) -> list[tuple[int, ...]]:
        g = 4 * self.filters
        shapes = [(self.kernel_size, self.channels, g), (self.kernel_size, self.filters, g)]
        return [*shapes, (g,)] if self.use_bias else shapes

    def to_dict(self) -> dict[str, Any]:
        return {"type": "conv_lstm1d", **dataclasses.asdict(self)}


ModelLayer = RecurrentLayer | ConvLSTM1DLayer


def _layer_from_dict(data: dict[str, Any]) -> ModelLayer:
    data = dict(data)
    kind = data.pop("type", None)
    if kind == "recurrent":
        return RecurrentLayer(layer=LayerSpec.from_dict(data.pop("layer")), **data)
    check_argument(
        kind == "conv_lstm1d",
        f"type={kind!r} is not a model layer type; expected 'recurrent' or 'conv_lstm1d'",
    )
    return ConvLSTM1DLayer(**data)


@dataclass(frozen=True)
class StateGroup:
    """The states one stateful layer (one direction of it) holds, in ``states()`` order."""

    layer: int  # index into ModelSpec.layers
    direction: str  # "forward" or "backward"
    start: int  # first index in the flat list of states
    count: int


@dataclass(frozen=True)
class ModelSpec:
    """A small Sequential-like model, as plain data.

    Args:
        layers: one or more ``RecurrentLayer`` (each feeding the next), or exactly one
            ``ConvLSTM1DLayer``.
        dense_units: if set, a ``TimeDistributed(Dense(dense_units))`` head follows the
            last layer (which must return sequences).
        mask_value: if set, a ``Masking(mask_value)`` layer comes first: a timestep whose
            features all equal it is skipped.
        timesteps: a fixed time dimension for the ``Input``; ``unroll`` needs one.
        dtype: the dtype policy of every layer, one of ``DTYPE_POLICIES``.
        return_state: every recurrent layer also returns its final states.

    Example:
        >>> lstm = RecurrentLayer(LayerSpec("LSTM", units=2, features=1))
        >>> gru = RecurrentLayer(LayerSpec("GRU", units=3, features=2))
        >>> ModelSpec(layers=(lstm, gru), dense_units=1).n_states
        3
    """

    layers: tuple[ModelLayer, ...]
    dense_units: int | None = None
    mask_value: float | None = None
    timesteps: int | None = None
    dtype: str = "float32"
    return_state: bool = False

    def __post_init__(self) -> None:
        check_argument(
            isinstance(self.layers, (tuple, list)),
            f"layers={self.layers!r} must be a tuple of RecurrentLayer or ConvLSTM1DLayer",
        )
        object.__setattr__(self, "layers", tuple(self.layers))  # hashable, whatever came in
        check_argument(len(self.layers) >= 1, "layers=() must hold at least one layer")
        for i, entry in enumerate(self.layers):
            check_argument(
                isinstance(entry, (RecurrentLayer, ConvLSTM1DLayer)),
                f"layers[{i}]={entry!r} must be a RecurrentLayer or a ConvLSTM1DLayer",
            )
        if any(isinstance(e, ConvLSTM1DLayer) for e in self.layers):
            check_argument(
                len(self.layers) == 1,
                f"layers has {len(self.layers)} entries with a ConvLSTM1DLayer; "
                "a ConvLSTM1DLayer must be the only layer",
            )
            check_argument(
                self.dense_units is None and self.mask_value is None,
                f"dense_units={self.dense_units!r}, mask_value={self.mask_value!r}: "
                "a ConvLSTM1D model takes no head and no mask; set both to None",
            )
        for i, (before, after) in enumerate(zip(self.layers, self.layers[1:], strict=False)):
            check_argument(
                before.return_sequences,
                f"layers[{i}] has return_sequences=False but feeds layers[{i + 1}]; "
                "every layer but the last must return sequences",
            )
            check_argument(
                after.features == before.width,
                f"layers[{i + 1}].layer.features={after.features} must equal the output "
                f"width of layers[{i}] ({before.width})",
            )
        if self.dense_units is not None:
            check_argument(
                isinstance(self.dense_units, int) and self.dense_units >= 1,
                f"dense_units={self.dense_units!r} must be at least 1, or None for no head",
            )
            check_argument(
                self.layers[-1].return_sequences,
                "dense_units is set but the last layer has return_sequences=False; "
                "TimeDistributed(Dense) needs a sequence",
            )
        if self.mask_value is not None:
            check_argument(
                isinstance(self.mask_value, (int, float)) and math.isfinite(self.mask_value),
                f"mask_value={self.mask_value!r} must be a finite number, or None for no mask",
            )
        if self.timesteps is not None:
            check_argument(
                isinstance(self.timesteps, int) and self.timesteps >= 1,
                f"timesteps={self.timesteps!r} must be at least 1, or None for any length",
            )
        unrolled = [i for i, e in enumerate(self.layers) if getattr(e, "unroll", False)]
        check_argument(
            not unrolled or self.timesteps is not None,
            f"layers{unrolled} have unroll=True but timesteps=None; "
            "an unrolled RNN needs a fixed time dimension: set timesteps",
        )
        check_argument(
            self.dtype in DTYPE_POLICIES,
            f"dtype={self.dtype!r} is not supported; use one of {DTYPE_POLICIES}",
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input timestep: ``(features,)``, or ``(rows, channels)`` for ConvLSTM1D."""
        return self.layers[0].input_shape

    @property
    def n_states(self) -> int:
        """State tensors of every stateful layer together (``states()`` returns this many)."""
        return sum(e.n_states for e in self.layers)

    def state_shapes(self, batch_size: int) -> list[tuple[int, ...]]:
        """Shapes of ``states()``: layer by layer, forward direction before backward."""
        return [s for e in self.layers for s in e.state_shapes(batch_size)]

    def state_groups(self) -> list[StateGroup]:
        """Where each stateful layer's (and direction's) states sit in ``states()``."""
        groups, start = [], 0
        for i, entry in enumerate(self.layers):
            directions = ("forward", "backward")[: getattr(entry, "directions", 1)]
            per_direction = entry.n_states // len(directions)
            for direction in directions:
                groups.append(StateGroup(i, direction, start, per_direction))
                start += per_direction
        return groups

    def weight_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of ``model.get_weights()``, in Keras order."""
        shapes = [s for e in self.layers for s in e.weight_shapes()]
        if self.dense_units is not None:
            shapes += [(self.layers[-1].width, self.dense_units), (self.dense_units,)]
        return shapes

    def split_weights(self, weights: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        """Cut a flat weight list into one list per layer direction, then the head.

        A ``Bidirectional`` layer gives two lists (forward, backward), every other
        layer one, the ``TimeDistributed(Dense)`` head one (kernel, bias) at the end.

        Example:
            >>> spec = ModelSpec((RecurrentLayer(LayerSpec("SimpleRNN", 1, 1), True),), 2)
            >>> [len(p) for p in spec.split_weights(model_weights(spec).example())]
            [3, 3, 2]
        """
        shapes = self.weight_shapes()
        check_argument(
            len(weights) == len(shapes),
            f"weights has {len(weights)} arrays; this model has {len(shapes)}: {shapes}",
        )
        pieces, start = [], 0
        for entry in self.layers:
            directions = getattr(entry, "directions", 1)
            per_direction = len(entry.weight_shapes()) // directions
            for _ in range(directions):
                pieces.append(list(weights[start : start + per_direction]))
                start += per_direction
        if self.dense_units is not None:
            pieces.append(list(weights[start:]))
        return pieces

    def replace(self, **changes: Any) -> ModelSpec:
        """The same model with some fields changed."""
        return dataclasses.replace(self, **changes)

    def with_layer_options(self, **changes: Any) -> ModelSpec:
        """The same model with ``changes`` (e.g. ``unroll=True``) on every recurrent layer."""
        layers = tuple(
            dataclasses.replace(e, **changes) if isinstance(e, RecurrentLayer) else e
            for e in self.layers
        )
        return dataclasses.replace(self, layers=layers)

    def returning_everything(self) -> ModelSpec:
        """The same model with the last layer returning sequences and every layer its states.

        What a whole-sequence run is compared with: its output at every timestep and
        every layer's final states.
        """
        last = self.layers[-1]
        if isinstance(last, RecurrentLayer):
            last = dataclasses.replace(last, layer=last.layer.replace(return_sequences=True))
        else:
            last = dataclasses.replace(last, return_sequences=True)
        return dataclasses.replace(self, layers=(*self.layers[:-1], last), return_state=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": [e.to_dict() for e in self.layers],
            "dense_units": self.dense_units,
            "mask_value": self.mask_value,
            "timesteps": self.timesteps,
            "dtype": self.dtype,
            "return_state": self.return_state,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        data = dict(data)
        layers = tuple(_layer_from_dict(e) for e in data.pop("layers"))
        return cls(layers=layers, **data)


# --- Strategies ------------------------------------------------------------------------


def _check_range(name: str, low: int, high: int, *, floor: int, ceiling: int) -> None:
    check_argument(low >= floor, f"min_{name}={low} must be at least {floor}")
    check_argument(high <= ceiling, f"max_{name}={high} must be at most {ceiling}")
    check_argument(
        low <= high, f"min_{name}={low} must not exceed max_{name}={high}; swap or widen them"
    )


def _check_flag(name: str, value: bool | None) -> None:
    check_argument(
        value in (None, True, False),
        f"{name}={value!r} must be True, False or None (None: draw it both ways)",
    )


def _flag(value: bool | None) -> st.SearchStrategy[bool]:
    return st.booleans() if value is None else st.just(value)


def model_specs(
    *,
    first_kind: str | None = None,
    kinds: Sequence[str] = LAYER_KINDS,
    min_layers: int = 1,
    max_layers: int = MAX_LAYERS,
    min_units: int = 1,
    max_units: int = MAX_MODEL_UNITS,
    max_features: int = MAX_MODEL_FEATURES,
    return_sequences: bool | None = True,
    bidirectional: bool | None = False,
    go_backwards: bool | None = False,
    dense_head: bool | None = False,
    mask_value: float | None = None,
    dtype: str = "float32",
    return_state: bool = False,
) -> st.SearchStrategy[ModelSpec]:
    """``ModelSpec`` values for stacks of recurrent layers.

    Args:
        first_kind: the kind of the first layer (default: drawn from ``kinds``).
        kinds: the kinds the other layers are drawn from.
        min_layers, max_layers: how many recurrent layers are stacked.
        min_units, max_units: units of each layer.
        max_features: input features of the first layer.
        return_sequences: of the last layer (the others always return sequences);
            ``None`` draws it both ways. Forced True under a dense head.
        bidirectional, go_backwards: for every layer; ``None`` draws each layer's.
        dense_head: add a ``TimeDistributed(Dense)`` head; ``None`` draws it.
        mask_value: put a ``Masking(mask_value)`` layer first, or None for none.
        dtype: the dtype policy of every layer.
        return_state: whether every layer returns its final states.

    Example:
        >>> spec = model_specs(first_kind="GRU", min_layers=2).example()
        >>> spec.layers[0].layer.kind, len(spec.layers) >= 2
        ('GRU', True)
    """
    check_argument(
        not isinstance(kinds, str),
        f"kinds={kinds!r} must be a list of layer kinds, e.g. [{kinds!r}], not a string",
    )
    check_argument(len(kinds) > 0, "kinds=[] must name at least one layer kind")
    for kind in [*kinds, *([first_kind] if first_kind is not None else [])]:
        check_argument(kind in LAYER_KINDS, f"kind {kind!r} is not one of {', '.join(LAYER_KINDS)}")
    _check_range("layers", min_layers, max_layers, floor=1, ceiling=MAX_LAYERS)
    _check_range("units", min_units, max_units, floor=1, ceiling=MAX_MODEL_UNITS)
    _check_range("features", 1, max_features, floor=1, ceiling=MAX_MODEL_FEATURES)
    for name, value in [
        ("return_sequences", return_sequences),
        ("bidirectional", bidirectional),
        ("go_backwards", go_backwards),
        ("dense_head", dense_head),
    ]:
        _check_flag(name, value)
    check_argument(
        not (bidirectional and go_backwards),
        "bidirectional=True with go_backwards=True: Bidirectional builds its own "
        "backward copy; set one of them to False",
    )
    check_argument(
        dtype in DTYPE_POLICIES, f"dtype={dtype!r} is not supported; use one of {DTYPE_POLICIES}"
    )
    return _model_specs(
        first_kind=first_kind,
        kinds=tuple(kinds),
        min_layers=min_layers,
        max_layers=max_layers,
        min_units=min_units,
        max_units=max_units,
        max_features=max_features,
        return_sequences=return_sequences,
        bidirectional=bidirectional,
        go_backwards=go_backwards,
        dense_head=dense_head,
        mask_value=mask_value,
        dtype=dtype,
        return_state=return_state,
    )


@st.composite
def _model_specs(draw: st.DrawFn, **options: Any) -> ModelSpec:
    n_layers = draw(st.integers(options["min_layers"], options["max_layers"]))
    dense = draw(_flag(options["dense_head"]))
    last_sequences = True if dense else draw(_flag(options["return_sequences"]))
    features = draw(st.integers(1, options["max_features"]))
    layers = []
    for i in range(n_layers):
        first = options["first_kind"] if i == 0 else None
        spec = draw(
            layer_specs(
                kinds=[first] if first else list(options["kinds"]),
                min_units=options["min_units"],
                max_units=options["max_units"],
                min_features=features,
                max_features=features,
                return_sequences=last_sequences if i == n_layers - 1 else True,
                return_state=False,
            )
        )
        bidirectional = draw(_flag(options["bidirectional"]))
        go_backwards = False if bidirectional else draw(_flag(options["go_backwards"]))
        entry = RecurrentLayer(spec, bidirectional=bidirectional, go_backwards=go_backwards)
        layers.append(entry)
        features = entry.width
    dense_units = draw(st.integers(1, MAX_DENSE_UNITS)) if dense else None
    return ModelSpec(
        layers=tuple(layers),
        dense_units=dense_units,
        mask_value=options["mask_value"],
        dtype=options["dtype"],
        return_state=options["return_state"],
    )


def conv_lstm1d_model_specs(
    *, return_state: bool = False, return_sequences: bool = True
) -> st.SearchStrategy[ModelSpec]:
    """``ModelSpec`` values holding one ``ConvLSTM1DLayer``, both paddings.

    Example:
        >>> spec = conv_lstm1d_model_specs().example()
        >>> isinstance(spec.layers[0], ConvLSTM1DLayer)
        True
    """

    @st.composite
    def build(draw: st.DrawFn) -> ModelSpec:
        rows = draw(st.integers(1, MAX_ROWS))
        padding = draw(st.sampled_from(PADDINGS))
        max_kernel = MAX_KERNEL_SIZE if padding == "same" else min(MAX_KERNEL_SIZE, rows)
        layer = ConvLSTM1DLayer(
            filters=draw(st.integers(1, MAX_FILTERS)),
            kernel_size=draw(st.integers(1, max_kernel)),
            rows=rows,
            channels=draw(st.integers(1, MAX_CHANNELS)),
            padding=padding,
            return_sequences=return_sequences,
            use_bias=draw(st.booleans()),
        )
        return ModelSpec(layers=(layer,), return_state=return_state)

    return build()


def _uniform(rng: np.random.Generator, scale: float, shape: Sequence[int]) -> np.ndarray:
    return rng.uniform(-scale, scale, size=tuple(shape)).astype(np.float32)


@st.composite
def _conv_lstm1d_weights(draw: st.DrawFn, layer: ConvLSTM1DLayer) -> list[np.ndarray]:
    scale = draw(st.floats(MIN_WEIGHT_SCALE, MAX_WEIGHT_SCALE))
    gain = draw(st.floats(MIN_RECURRENT_GAIN, MAX_RECURRENT_GAIN))
    rng = np.random.default_rng(draw(st.integers(0, MAX_SEED)))
    arrays = [_uniform(rng, scale, s) for s in layer.weight_shapes()]
    # Each gate block of the recurrent kernel, as a (kernel_size * filters, filters)
    # matrix, gets spectral norm `gain`, as in harness.strategies.weights: the carried
    # state must matter, and the recurrence stays tame.
    k, f = layer.kernel_size, layer.filters
    blocks = np.split(arrays[1].astype(np.float64), 4, axis=2)
    scaled = []
    for block in blocks:
        norm = max(np.linalg.norm(block.reshape(k * f, f), 2), 1e-12)
        scaled.append(block * (gain / norm))
    arrays[1] = np.concatenate(scaled, axis=2).astype(np.float32)
    return arrays


@st.composite
def model_weights(draw: st.DrawFn, spec: ModelSpec) -> list[np.ndarray]:
    """Weights for a whole model, flat, in Keras order (``spec.weight_shapes()``).

    Recurrent layers (each direction separately) follow ``harness.strategies.weights``;
    the head's kernel and bias are uniform in [-s, s], s in [MIN_WEIGHT_SCALE,
    MAX_WEIGHT_SCALE].

    Example:
        >>> spec = ModelSpec((RecurrentLayer(LayerSpec("LSTM", units=2, features=1)),))
        >>> [w.shape for w in model_weights(spec).example()]
        [(1, 8), (2, 8), (8,)]
    """
    arrays: list[np.ndarray] = []
    for entry in spec.layers:
        if isinstance(entry, ConvLSTM1DLayer):
            arrays += draw(_conv_lstm1d_weights(entry))
        else:
            for _ in range(entry.directions):
                arrays += draw(weights(entry.layer))
    if spec.dense_units is not None:
        scale = draw(st.floats(MIN_WEIGHT_SCALE, MAX_WEIGHT_SCALE))
        rng = np.random.default_rng(draw(st.integers(0, MAX_SEED)))
        arrays += [_uniform(rng, scale, s) for s in spec.weight_shapes()[-2:]]
    return arrays


def model_inputs(
    spec: ModelSpec,
    *,
    batch_size: int,
    timesteps: int,
    magnitudes: Sequence[float] = INPUT_MAGNITUDES,
) -> st.SearchStrategy[np.ndarray]:
    """float32 inputs ``(batch_size, timesteps, *spec.input_shape)``, uniform in ±magnitude.

    Example:
        >>> spec = ModelSpec((RecurrentLayer(LayerSpec("GRU", units=1, features=2)),))
        >>> model_inputs(spec, batch_size=3, timesteps=4).example().shape
        (3, 4, 2)
    """
    check_argument(batch_size >= 1, f"batch_size={batch_size} must be at least 1")
    check_argument(timesteps >= 1, f"timesteps={timesteps} must be at least 1")
    check_argument(
        len(magnitudes) > 0 and all(m >= 0 for m in magnitudes),
        f"magnitudes={list(magnitudes)!r} must list at least one magnitude, none negative",
    )
    shape = (batch_size, timesteps, *spec.input_shape)

    def build(seed: int, magnitude: float) -> np.ndarray:
        return _uniform(np.random.default_rng(seed), magnitude, shape)

    return st.builds(build, st.integers(0, MAX_SEED), st.sampled_from(list(magnitudes)))


@dataclass
class ModelCase(ChunkedExample):
    """One drawn example for a model: spec, weights, a batch of sequences and its chunking."""

    spec: ModelSpec
    batch_size: int
    splits: tuple[int, ...]
    x: np.ndarray
    weights: list[np.ndarray]

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "batch_size": self.batch_size,
            "splits": list(self.splits),
            "x": self.x.tolist(),
            "weights": [w.tolist() for w in self.weights],
        }


def model_cases(
    specs: st.SearchStrategy[ModelSpec],
    *,
    min_chunks: int = 1,
    max_chunks: int = MAX_MODEL_CHUNKS,
    max_chunk_length: int = MAX_MODEL_CHUNK_LENGTH,
    equal_chunks: bool = False,
    min_batch: int = 1,
    max_batch: int = MAX_MODEL_BATCH,
    magnitudes: Sequence[float] = INPUT_MAGNITUDES,
    prepare: Callable[[ModelSpec, tuple[int, ...]], ModelSpec] | None = None,
) -> st.SearchStrategy[ModelCase]:
    """A complete example: a spec from ``specs``, its weights, inputs and chunk splits.

    Args:
        specs: where the model comes from, e.g. ``model_specs(first_kind="LSTM")``.
        min_chunks, max_chunks, max_chunk_length: how the sequence is cut.
        equal_chunks: every chunk has the same length (a fixed time dimension).
        min_batch, max_batch: the batch size.
        magnitudes: input magnitudes to draw from (default: every regime).
        prepare: called with the drawn spec and splits, returns the spec to use
            (e.g. to fix ``timesteps``).

    Example:
        >>> case = model_cases(model_specs(), equal_chunks=True).example()
        >>> len(set(case.splits)) == 1
        True
    """
    _check_range("chunks", min_chunks, max_chunks, floor=1, ceiling=MAX_MODEL_CHUNKS)
    _check_range("chunk_length", 1, max_chunk_length, floor=1, ceiling=MAX_MODEL_CHUNK_LENGTH)
    _check_range("batch", min_batch, max_batch, floor=1, ceiling=MAX_MODEL_BATCH)

    @st.composite
    def build(draw: st.DrawFn) -> ModelCase:
        spec = draw(specs)
        if equal_chunks:
            length = draw(st.integers(1, max_chunk_length))
            splits = (length,) * draw(st.integers(min_chunks, max_chunks))
        else:
            splits = draw(
                chunk_splits(
                    min_chunks=min_chunks, max_chunks=max_chunks, max_length=max_chunk_length
                )
            )
        if prepare is not None:
            spec = prepare(spec, splits)
        batch_size = draw(st.integers(min_batch, max_batch))
        x = draw(
            model_inputs(spec, batch_size=batch_size, timesteps=sum(splits), magnitudes=magnitudes)
        )
        return ModelCase(spec, batch_size, splits, x, draw(model_weights(spec)))

    return build()
