"""Plain-data descriptions of what to build, and of a drawn example.

A ``LayerSpec`` (one recurrent layer) and a ``ModelSpec`` (a small Sequential-like
stack: an optional ``Masking`` layer, recurrent layers each a ``RecurrentLayer``
with its wrappers and options, or one ``ConvLSTM1DLayer``, then an optional
``TimeDistributed(Dense)`` head) are frozen, hashable and JSON-friendly: they key
runner caches, appear in counterexamples and reports, and are what a reproducer
rebuilds from. ``Case`` and ``ModelCase`` are one drawn example each (spec,
weights, inputs, chunking); ``harness.strategies`` draws them.

Weights of a whole model are one flat list in Keras order (``model.get_weights()``):
layer by layer, a ``Bidirectional`` layer's forward weights before its backward
weights, the head last. ``ModelSpec.split_weights`` cuts that list back into
per-layer pieces for the reference.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import check_argument

LAYER_KINDS = ("LSTM", "GRU", "SimpleRNN")
# More built-in recurrent layers, run when named (``--layers``): the default stays the three
# classic layers so that CI time does not grow. A cell kind is the cell wrapped in
# ``keras.layers.RNN`` (the math and weights of its layer); ConvLSTM<N>D convolves over N
# spatial axes; StackedRNNCells is a drawn stack of built-in cells in one ``keras.layers.RNN``.
CELL_KINDS = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}
CONV_LSTM_RANKS = {"ConvLSTM1D": 1, "ConvLSTM2D": 2, "ConvLSTM3D": 3}
STACKED = "StackedRNNCells"
EXTRA_LAYER_KINDS = (*CONV_LSTM_RANKS, *CELL_KINDS, STACKED)
ALL_LAYER_KINDS = LAYER_KINDS + EXTRA_LAYER_KINDS
# Activations the float64 reference implements identically on every target. Gates stay
# sigmoid: a tanh gate can go negative and make the recurrence expansive (chaotic), where
# float32 and float64 trajectories part ways for no fault of the framework.
# hard_sigmoid, a gate like sigmoid, is defined differently by Keras 2 (clip(0.2 x + 0.5))
# and Keras 3 (clip(x / 6 + 0.5)): the reference has both (``harness.reference``).
ACTIVATIONS = ("tanh", "sigmoid", "relu", "softsign")
RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid")
# Keras 3's `use_cudnn` for LSTM and GRU: "auto" (cuDNN where feasible, else the generic
# loop), True (cuDNN or an error), False (always the generic loop).
USE_CUDNN_VALUES = ("auto", True, False)
# Number of gate blocks in the kernel, per kind: LSTM i,f,c,o; GRU z,r,h.
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One recurrent layer, as plain data.

    Args:
        kind: ``"LSTM"``, ``"GRU"`` or ``"SimpleRNN"``.
        units: size of the hidden state.
        features: size of each input timestep.
        return_sequences: return the output at every timestep, not only the last.
        return_state: also return the final states.
        reset_after: GRU only; where the reset gate applies (Keras 3 default True).
        use_bias: whether the layer has a bias.
        activation: the cell activation.
        recurrent_activation: the gate activation (LSTM and GRU only).
        use_cudnn: LSTM and GRU only; Keras 3's kernel choice, ``"auto"`` (its default,
            left out of the layer's arguments), ``True`` or ``False``.
        dropout, recurrent_dropout: LSTM, GRU and SimpleRNN only; the rates Keras applies to
            the inputs and to the recurrent state in training mode (0: none, left out of the
            layer's arguments). Inference ignores them, and so does the reference.

    Example:
        >>> LayerSpec("GRU", units=3, features=2, reset_after=False).n_states
        1
    """

    kind: str
    units: int
    features: int
    return_sequences: bool = True
    return_state: bool = False
    reset_after: bool = True
    use_bias: bool = True
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_cudnn: bool | str = "auto"
    # ConvLSTM<N>D only: the input's N spatial sizes and the (odd) kernel size, padding "same".
    spatial: tuple[int, ...] = ()
    kernel_size: int = 1
    # StackedRNNCells only: (cell kind, units) per cell, bottom first; units is the last's.
    cells: tuple[tuple[str, int], ...] = ()
    dropout: float = 0.0
    recurrent_dropout: float = 0.0

    def __post_init__(self) -> None:
        check_argument(
            self.kind in ALL_LAYER_KINDS or self.custom,
            f"kind={self.kind!r} is not a recurrent layer kind; "
            f"expected one of {', '.join(ALL_LAYER_KINDS)} or a user's MODULE:NAME",
        )
        check_argument(
            len(self.spatial) == CONV_LSTM_RANKS.get(self.kind, 0),
            f"spatial={self.spatial!r} for kind {self.kind!r}; expected "
            f"{CONV_LSTM_RANKS.get(self.kind, 0)} spatial sizes",
        )
        check_argument(
            self.kernel_size >= 1 and self.kernel_size % 2 == 1,
            f"kernel_size={self.kernel_size} must be odd and positive (padding 'same' is "
            "symmetric only for odd kernels)",
        )
        check_argument(
            (self.kind == STACKED) == bool(self.cells)
            and all(k in CELL_KINDS and u >= 1 for k, u in self.cells)
            and (not self.cells or self.cells[-1][1] == self.units),
            f"cells={self.cells!r} for kind {self.kind!r}: StackedRNNCells needs (cell kind, "
            f"units) pairs of {', '.join(CELL_KINDS)}, the last with units={self.units}; "
            "other kinds none",
        )
        for name in ("dropout", "recurrent_dropout"):
            rate = getattr(self, name)
            check_argument(
                0.0 <= rate < 1.0 and (rate == 0.0 or self.kind in LAYER_KINDS),
                f"{name}={rate!r} for kind {self.kind!r}; expected a rate in [0, 1), "
                f"non-zero only for {', '.join(LAYER_KINDS)}",
            )
        check_argument(self.units >= 1, f"units={self.units} must be at least 1")
        check_argument(self.features >= 1, f"features={self.features} must be at least 1")
        check_argument(
            self.activation in ACTIVATIONS,
            f"activation={self.activation!r} is not supported by the reference; use one of {ACTIVATIONS}",
        )
        check_argument(
            self.recurrent_activation in RECURRENT_ACTIVATIONS,
            f"recurrent_activation={self.recurrent_activation!r} is not supported by the "
            f"reference; use one of {RECURRENT_ACTIVATIONS}",
        )
        check_argument(
            isinstance(self.use_cudnn, bool) or self.use_cudnn == "auto",
            f"use_cudnn={self.use_cudnn!r}; expected one of {USE_CUDNN_VALUES}",
        )

    @property
    def custom(self) -> bool:
        """A user's layer, ``MODULE:NAME`` (``harness.custom_layers``): shapes discovered."""
        return ":" in self.kind

    @property
    def base_kind(self) -> str | None:
        """The classic layer whose math this kind has (ConvLSTM: LSTM's); None for a stack."""
        if self.custom:
            return None
        if self.kind in CONV_LSTM_RANKS:
            return "LSTM"
        return None if self.kind == STACKED else CELL_KINDS.get(self.kind, self.kind)

    def cell_specs(self) -> list[LayerSpec]:
        """StackedRNNCells: one classic-layer spec per cell, each fed the previous output."""
        specs, features = [], self.features
        for kind, units in self.cells:
            base = CELL_KINDS[kind]
            specs.append(
                LayerSpec(
                    base,
                    units=units,
                    features=features,
                    reset_after=self.reset_after,
                    use_bias=self.use_bias,
                    activation=self.activation,
                    recurrent_activation=self.recurrent_activation,
                ).canonical()
            )
            features = units
        return specs

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input timestep: ``(*spatial, features)``."""
        return (*self.spatial, self.features)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one output timestep: ``(*spatial, units)``."""
        return (*self.spatial, self.units)

    def state_shapes(self, batch_size: int) -> list[tuple[int, ...]]:
        """Shapes of the states, flat and in Keras order (a stack: cell by cell)."""
        if self.custom:
            from harness.custom_layers import state_shapes

            return state_shapes(self, batch_size)
        if self.kind == STACKED:
            return [s for c in self.cell_specs() for s in c.state_shapes(batch_size)]
        return [(batch_size, *self.output_shape)] * self.n_states

    @property
    def n_states(self) -> int:
        """How many state tensors the layer carries (LSTM: h and c)."""
        if self.custom:
            return len(self.state_shapes(1))
        if self.kind == STACKED:
            return sum(c.n_states for c in self.cell_specs())
        return 2 if self.base_kind == "LSTM" else 1

    def weight_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of ``layer.get_weights()``, in Keras order (kernel, recurrent, bias)."""
        if self.custom:
            from harness.custom_layers import weight_shapes

            return weight_shapes(self)
        if self.kind == STACKED:
            return [s for c in self.cell_specs() for s in c.weight_shapes()]
        if self.kind in CONV_LSTM_RANKS:
            k = (self.kernel_size,) * len(self.spatial)
            g = 4 * self.units
            conv = [(*k, self.features, g), (*k, self.units, g)]
            return conv + [(g,)] * self.use_bias
        if self.kind in CELL_KINDS:
            return self.replace(kind=self.base_kind).weight_shapes()
        g = GATES[self.kind] * self.units
        shapes: list[tuple[int, ...]] = [(self.features, g), (self.units, g)]
        if self.use_bias:
            two_biases = self.kind == "GRU" and self.reset_after
            shapes.append((2, g) if two_biases else (g,))
        return shapes

    def layer_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the Keras layer constructor (without ``stateful``)."""
        kwargs: dict[str, Any] = {
            "units": self.units,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "use_bias": self.use_bias,
            "activation": self.activation,
        }
        if self.kind != "SimpleRNN":
            kwargs["recurrent_activation"] = self.recurrent_activation
        if self.kind == "GRU":
            kwargs["reset_after"] = self.reset_after
        if self.use_cudnn != "auto":
            kwargs["use_cudnn"] = self.use_cudnn
        for name in ("dropout", "recurrent_dropout"):
            if getattr(self, name):
                kwargs[name] = getattr(self, name)
        return kwargs

    @property
    def cudnn_eligible(self) -> bool:
        """Whether Keras may pick a cuDNN kernel for this layer (on a GPU backend that has one).

        cuDNN implements only tanh cells with sigmoid gates and a bias, and for GRU
        only the ``reset_after=True`` variant.
        """
        return (
            self.kind in ("LSTM", "GRU")
            and self.activation == "tanh"
            and self.recurrent_activation == "sigmoid"
            and self.use_bias
            and (self.kind != "GRU" or self.reset_after)
        )

    def canonical(self) -> LayerSpec:
        """The same layer with fields that do not apply to its kind set to their defaults.

        SimpleRNN has no gates (no ``recurrent_activation``) and only GRU has
        ``reset_after``: equal layers get equal specs, and so share cached models.
        """
        changes: dict[str, Any] = {}
        if self.custom:  # only units, features and the return flags reach a user's layer
            return LayerSpec(
                self.kind, self.units, self.features, self.return_sequences, self.return_state
            )
        kinds = [CELL_KINDS[k] for k, _ in self.cells] or [self.base_kind]
        if self.kind not in ("LSTM", "GRU"):
            changes["use_cudnn"] = "auto"  # only these two layers have the argument
        if "GRU" not in kinds:
            changes["reset_after"] = True
        if set(kinds) == {"SimpleRNN"}:
            changes["recurrent_activation"] = "sigmoid"
        if self.kind == "SimpleRNN":
            changes["recurrent_activation"] = "sigmoid"
            changes["use_cudnn"] = "auto"
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        # The fields of the extra kinds only where they apply: classic specs read as before.
        defaults = (("spatial", ()), ("kernel_size", 1), ("cells", ()))
        for name, default in (*defaults, ("dropout", 0.0), ("recurrent_dropout", 0.0)):
            if data[name] == default:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSpec:
        data = dict(data)
        data["spatial"] = tuple(data.get("spatial", ()))
        data["cells"] = tuple((k, u) for k, u in data.get("cells", ()))
        return cls(**data)

    def replace(self, **changes: Any) -> LayerSpec:
        return dataclasses.replace(self, **changes)


DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16")
PADDINGS = ("same", "valid")  # ConvLSTM1D padding along its one spatial axis


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
            >>> weights = [np.zeros(shape) for shape in spec.weight_shapes()]
            >>> [len(p) for p in spec.split_weights(weights)]
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


# --- Drawn examples ---------------------------------------------------------------------


class ChunkedExample:
    """A drawn batch of sequences ``x`` and the lengths ``splits`` it is cut into along time."""

    splits: tuple[int, ...]
    x: np.ndarray

    @property
    def timesteps(self) -> int:
        return int(sum(self.splits))

    def boundaries(self) -> list[int]:
        """Timestep indices where a new chunk starts (excluding 0)."""
        return list(np.cumsum(self.splits)[:-1].tolist())

    def chunks(self, x: np.ndarray | None = None) -> list[np.ndarray]:
        """``x`` (default: the example's) cut into consecutive chunks following ``splits``."""
        return np.split(self.x if x is None else x, self.boundaries(), axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "batch_size": self.batch_size,
            "splits": list(self.splits),
            "x": self.x.tolist(),
            "weights": [w.tolist() for w in self.weights],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The example ``to_dict`` wrote (``spec_type`` rebuilds its spec)."""
        return cls(
            cls.spec_type.from_dict(data["spec"]),
            int(data["batch_size"]),
            tuple(data["splits"]),
            np.asarray(data["x"], dtype=np.float32),
            [np.asarray(w, dtype=np.float32) for w in data["weights"]],
        )


@dataclass
class Case(ChunkedExample):
    """One drawn example: a layer, its weights, a batch of sequences and its chunking."""

    spec_type = LayerSpec  # a class attribute, not a field: how from_dict rebuilds spec

    spec: LayerSpec
    batch_size: int
    splits: tuple[int, ...]
    x: np.ndarray
    weights: list[np.ndarray]


@dataclass
class ModelCase(ChunkedExample):
    """One drawn example for a model: spec, weights, a batch of sequences and its chunking."""

    spec_type = ModelSpec  # a class attribute, not a field: how from_dict rebuilds spec

    spec: ModelSpec
    batch_size: int
    splits: tuple[int, ...]
    x: np.ndarray
    weights: list[np.ndarray]
