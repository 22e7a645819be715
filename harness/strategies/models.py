"""Strategies for small models: ``ModelSpec`` stacks, their weights, inputs and cases.

Models compose several layers, and JAX compiles once per shape: the bounds are
tighter than the single-layer ones in ``harness.strategies.layers``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from harness.errors import check_argument
from harness.specs import (
    DTYPE_POLICIES,
    LAYER_KINDS,
    PADDINGS,
    ConvLSTM1DLayer,
    ModelCase,
    ModelSpec,
    RecurrentLayer,
)
from harness.strategies.layers import (
    INPUT_MAGNITUDES,
    MAX_RECURRENT_GAIN,
    MAX_SEED,
    MAX_WEIGHT_SCALE,
    MIN_RECURRENT_GAIN,
    MIN_WEIGHT_SCALE,
    chunk_splits,
    layer_specs,
    weights,
)
from harness.strategies.layers import magnitudes as magnitude_regimes
from harness.strategies.validation import check_flag, check_range, flag

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
    check_range("layers", min_layers, max_layers, floor=1, ceiling=MAX_LAYERS)
    check_range("units", min_units, max_units, floor=1, ceiling=MAX_MODEL_UNITS)
    check_range("features", 1, max_features, floor=1, ceiling=MAX_MODEL_FEATURES)
    for name, value in [
        ("return_sequences", return_sequences),
        ("bidirectional", bidirectional),
        ("go_backwards", go_backwards),
        ("dense_head", dense_head),
    ]:
        check_flag(name, value)
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
    dense = draw(flag(options["dense_head"]))
    last_sequences = True if dense else draw(flag(options["return_sequences"]))
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
                # Sigmoid gates only: properties/test_composition.py's reference mirrors
                # Keras 3, and tf-keras's hard_sigmoid differs (harness.reference).
                recurrent_activations=("sigmoid",),
            )
        )
        bidirectional = draw(flag(options["bidirectional"]))
        go_backwards = False if bidirectional else draw(flag(options["go_backwards"]))
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
        >>> from harness.specs import LayerSpec
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

    The magnitude is one of ``magnitudes`` (failures shrink to the first), or 0 (all
    zeros) in about one draw in ``ZERO_ODDS``.

    Example:
        >>> from harness.specs import LayerSpec
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

    # All zeros only as a small share (see harness.strategies.layers.ZERO_ODDS).
    return st.builds(build, st.integers(0, MAX_SEED), magnitude_regimes(values=magnitudes))


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
    check_range("chunks", min_chunks, max_chunks, floor=1, ceiling=MAX_MODEL_CHUNKS)
    check_range("chunk_length", 1, max_chunk_length, floor=1, ceiling=MAX_MODEL_CHUNK_LENGTH)
    check_range("batch", min_batch, max_batch, floor=1, ceiling=MAX_MODEL_BATCH)

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
