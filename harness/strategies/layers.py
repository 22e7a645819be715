"""Strategies for one recurrent layer: specs, weights, states, inputs, chunkings, cases.

Strategies are plural nouns for what they produce. Every bound is a named
constant with its reason, and every strategy validates its arguments when it
is built, raising ``HarnessUsageError`` with the argument, the value and a fix.

Arrays (inputs, weights, states) are drawn as a magnitude regime plus a seed for
a NumPy generator: Hypothesis chooses and shrinks the regime (unit magnitudes
first, then small and saturating ones) and the shapes, while the values come from
the seed. Drawing hundreds of floats one by one would cost more than running the
layers and shrinks no better; the exact arrays of a failing example are kept
in its counterexample all the same.

Examples are drawn so that the relation a property checks is sensitive (see
``harness.sensitivity``): all-zero inputs and states are a small deliberate share
(one draw in ``ZERO_ODDS``), not the regime failures shrink to, since zeros carry
little through a state and, without a bias, nothing at all; properties about
carrying ask ``cases`` for two chunks or more; ``row_permutations`` moves rows
in a way a state handed to the wrong sample cannot hide behind.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from harness import layer_kinds
from harness.errors import check_argument
from harness.specs import (
    ACTIVATIONS,
    GATES,
    LAYER_KINDS,
    RECURRENT_ACTIVATIONS,
    Case,
    LayerSpec,
)
from harness.strategies.validation import check_range

MAX_BATCH = 8  # enough rows to see any mixing between samples; larger adds time, not coverage
MAX_UNITS = 8  # per-unit bugs show at 2+ units; wider layers add time, not coverage
MAX_FEATURES = 4  # the input projection is a plain matmul; a few features exercise it
MAX_CHUNKS = 4  # 3 boundaries catch carry-over bugs that need more than one hand-off
MAX_CHUNK_LENGTH = 6  # chunk lengths 1..6 cover single steps and multi-step carries
MAX_ABS_INPUT = 10.0  # saturates tanh/sigmoid gates, yet x @ W stays far from float32 overflow
# Unit first: what a failure shrinks to. Then the linear regime and saturating gates.
INPUT_MAGNITUDES = (1.0, 0.1, MAX_ABS_INPUT)
# Bounded by 1 like tanh outputs, then beyond: an LSTM's cell state c is no tanh output
# and grows past 1 (f near 1 accumulates i * g), and a user may set any state.
MAX_ABS_STATE = 4.0
STATE_MAGNITUDES = (1.0, 0.5, MAX_ABS_STATE)
# All-zero inputs (or states) in about one draw in ZERO_ODDS: a regime worth a few
# examples (padding, bias-only dynamics), but one where a carried state, a reset or a
# swapped sample barely shows. Hypothesis draws the largest value of a small integer
# range about as often as any other (3-4% for 0..19 in 400 draws), and never shrinks to it.
ZERO_ODDS = 20
MIN_WEIGHT_SCALE = 0.5  # below this every gate sits near 0.5 and bugs hide in tiny numbers
MAX_WEIGHT_SCALE = 3.0  # with |x| <= 10 this drives gates into saturation and flips signs
# The recurrent kernel's gate blocks are rescaled to a spectral norm in this range.
# Above 1 the recurrence can be expansive (chaotic): float32 and float64 trajectories
# then part ways exponentially for no fault of the framework, and no honest reference
# tolerance exists. Saturation and sign flips come from the input kernel and bias.
MIN_RECURRENT_GAIN = 0.3  # the carried state must matter, or carry-over bugs hide
MAX_RECURRENT_GAIN = 0.9  # below 1: contractive, so rounding errors do not compound
MAX_SEED = 2**32 - 1
# Masks as users make them: left-padded (pad_sequences' default, padding="pre"),
# right-padded, or with holes anywhere; a row masked at every step in about one mask in
# FULLY_MASKED_ODDS (a whole padded sample in a batch, as a last short batch is filled).
MASK_KINDS = ("left-padded", "right-padded", "holes")
FULLY_MASKED_ODDS = 4
# A rare region, about one example in RARE_ODDS (so ``ci`` meets it about twice per test
# and ``thorough`` some 25 times): wide layers and long sequences, where bugs have been
# reported and backends switch kernels (unrolled or blocked loops, other matmul tilings,
# cuDNN's size heuristics). Each such example costs a new trace or compile on JAX and
# TensorFlow, hence the small share; failures shrink out of it to the common region.
RARE_ODDS = 12
WIDE_UNITS = 64  # past the 32- and 64-wide tiles of common matmul kernels
LONG_SEQUENCE = 200  # timesteps of the longest sequence drawn, split over the chunks
# Gates other than sigmoid (hard_sigmoid) in about one layer in 2 * OTHER_GATE_ODDS: a
# hard gate saturates to exactly 0 or 1, where a carried state can be kept or dropped
# whole and a carry-over bug may not show (a third of the layers cost the ci profile its
# nine-in-ten examples that could fail on GRU).
OTHER_GATE_ODDS = 3

# Strategies are built once and reused: building one per draw re-validates it every
# time, which cost more than a PyTorch layer call (see benchmarks/bench.py).
_SEEDS = st.integers(0, MAX_SEED)


def magnitudes(*, values: Sequence[float]) -> st.SearchStrategy[float]:
    """One of ``values`` (failures shrink to the first), or 0.0 in about one draw in ZERO_ODDS.

    Example:
        >>> magnitudes(values=(1.0, 0.1)).example() in (0.0, 0.1, 1.0)
        True
    """
    check_argument(
        len(values) > 0 and all(v >= 0 for v in values),
        f"values={list(values)!r} must list at least one magnitude, none negative",
    )
    return _magnitudes(tuple(values))


@functools.cache
def _magnitudes(values: tuple[float, ...]) -> st.SearchStrategy[float]:
    zero = st.integers(0, ZERO_ODDS - 1).map(lambda i: i == ZERO_ODDS - 1)
    return st.tuples(zero, st.sampled_from(values)).map(lambda pair: 0.0 if pair[0] else pair[1])


_INPUT_MAGNITUDES = _magnitudes(INPUT_MAGNITUDES)
_NONZERO_INPUT_MAGNITUDES = st.sampled_from(INPUT_MAGNITUDES)
_STATE_MAGNITUDES = _magnitudes(STATE_MAGNITUDES)
_WEIGHT_SCALES = st.floats(MIN_WEIGHT_SCALE, MAX_WEIGHT_SCALE)
_RECURRENT_GAINS = st.floats(MIN_RECURRENT_GAIN, MAX_RECURRENT_GAIN)
# True in about one draw in RARE_ODDS; shrinks to False.
_RARE = st.integers(0, RARE_ODDS - 1).map(lambda i: i == RARE_ODDS - 1)


# Each role of array has its own random stream, keyed by role, seed and shape too:
# Hypothesis often draws equal seeds within one example (all 0 in the first one), and
# inputs equal to the weights, or another batch's first chunk equal to this batch's,
# would make examples where nothing the property compares can differ.
_INPUTS, _WEIGHTS, _STATES, _MASKS = 0, 1, 2, 3


def _rng(role: int, seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([role, seed, *key])


def _uniform(rng: np.random.Generator, scale: float, shape: Sequence[int]) -> np.ndarray:
    return rng.uniform(-scale, scale, size=tuple(shape)).astype(np.float32)


def batch_sizes(*, min_size: int = 1, max_size: int = MAX_BATCH) -> st.SearchStrategy[int]:
    """Batch sizes from ``min_size`` to ``max_size``.

    Example:
        >>> batch_sizes(max_size=4).example() in range(1, 5)
        True
    """
    check_range("size", min_size, max_size, floor=1, ceiling=64)
    return st.integers(min_size, max_size)


def chunk_splits(
    *,
    min_chunks: int = 1,
    max_chunks: int = MAX_CHUNKS,
    min_length: int = 1,
    max_length: int = MAX_CHUNK_LENGTH,
) -> st.SearchStrategy[tuple[int, ...]]:
    """Lengths of consecutive chunks of one sequence, e.g. ``(3, 1, 2)``.

    Example:
        >>> all(1 <= n <= 6 for n in chunk_splits().example())
        True
    """
    check_range("chunks", min_chunks, max_chunks, floor=1, ceiling=64)
    check_range("length", min_length, max_length, floor=1, ceiling=256)
    return _chunk_splits(min_chunks, max_chunks, min_length, max_length)


@functools.cache
def _chunk_splits(
    min_chunks: int, max_chunks: int, min_length: int, max_length: int
) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(
        st.integers(min_length, max_length), min_size=min_chunks, max_size=max_chunks
    ).map(tuple)


def row_permutations(*, size: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Orders of ``size`` batch rows that a state handed to the wrong sample cannot hide behind.

    A layer that gives sample i's state to sample i+1 commutes with rotating the
    rows: the identity and every rotation would pass over that break unseen. From
    3 rows on, every permutation drawn is no rotation; 2 rows have only the swap.

    Example:
        >>> sorted(row_permutations(size=4).example())
        [0, 1, 2, 3]
    """
    check_argument(size >= 2, f"size={size} must be at least 2: one row cannot move")
    return _row_permutations(size)


def is_rotation(permutation: Sequence[int]) -> bool:
    """Whether ``permutation`` shifts every row by the same step (the identity included)."""
    n = len(permutation)
    return all((p - i) % n == (permutation[0] % n) for i, p in enumerate(permutation))


@functools.cache
def _row_permutations(size: int) -> st.SearchStrategy[tuple[int, ...]]:
    def moving(perm: list[int]) -> tuple[int, ...]:
        if size == 2:
            return (1, 0)
        # Composed with a swap, a rotation is none (for 3 rows or more): constructed,
        # not filtered, so it shrinks like any permutation.
        return tuple(perm[1::-1] + perm[2:]) if is_rotation(perm) else tuple(perm)

    return st.permutations(range(size)).map(moving)


def layer_specs(
    *,
    kinds: Sequence[str] = LAYER_KINDS,
    min_units: int = 1,
    max_units: int = MAX_UNITS,
    min_features: int = 1,
    max_features: int = MAX_FEATURES,
    return_sequences: bool | None = None,
    return_state: bool | None = None,
    cudnn_eligible: bool = False,
    recurrent_activations: Sequence[str] = RECURRENT_ACTIVATIONS,
) -> st.SearchStrategy[LayerSpec]:
    """``LayerSpec`` values; ``None`` for a flag means draw it both ways.

    ``cudnn_eligible=True`` draws only configurations a cuDNN kernel implements
    (see ``LayerSpec.cudnn_eligible``), so that ``use_cudnn`` really picks a kernel.

    Example:
        >>> layer_specs(kinds=["GRU"]).example().kind
        'GRU'
    """
    check_argument(
        not isinstance(kinds, str),
        f"kinds={kinds!r} must be a list of layer kinds, e.g. [{kinds!r}], not a string",
    )
    if kinds and all(layer_kinds.is_extra(k) for k in kinds):  # each draws its own sizes
        extra = [layer_kinds.layer_specs(k, return_sequences, return_state) for k in kinds]
        return st.one_of(extra)
    for kind in kinds:
        check_argument(
            kind in LAYER_KINDS, f"kinds contains {kind!r}; expected only {', '.join(LAYER_KINDS)}"
        )
    check_argument(len(kinds) > 0, "kinds=[] must name at least one layer kind")
    check_range("units", min_units, max_units, floor=1, ceiling=256)
    check_range("features", min_features, max_features, floor=1, ceiling=256)
    for name in recurrent_activations:
        check_argument(
            name in RECURRENT_ACTIVATIONS,
            f"recurrent_activations contains {name!r}; expected only {RECURRENT_ACTIVATIONS}",
        )

    if cudnn_eligible:
        check_argument(
            "SimpleRNN" not in kinds, "cudnn_eligible=True: SimpleRNN has no cuDNN kernel"
        )
    return _layer_specs(
        tuple(kinds),
        min_units,
        max_units,
        min_features,
        max_features,
        return_sequences,
        return_state,
        cudnn_eligible,
        tuple(recurrent_activations),
    )


@functools.cache
def _layer_specs(
    kinds: tuple[str, ...],
    min_units: int,
    max_units: int,
    min_features: int,
    max_features: int,
    return_sequences: bool | None,
    return_state: bool | None,
    cudnn_eligible: bool,
    recurrent_activations: tuple[str, ...] = RECURRENT_ACTIVATIONS,
) -> st.SearchStrategy[LayerSpec]:
    def flag(value: bool | None) -> st.SearchStrategy[bool]:
        return st.booleans() if value is None else st.just(value)

    return st.builds(
        LayerSpec,
        kind=st.sampled_from(list(kinds)),
        units=st.integers(min_units, max_units),
        features=st.integers(min_features, max_features),
        return_sequences=flag(return_sequences),
        return_state=flag(return_state),
        reset_after=st.just(True) if cudnn_eligible else st.booleans(),
        use_bias=st.just(True) if cudnn_eligible else st.booleans(),
        activation=st.just("tanh") if cudnn_eligible else st.sampled_from(ACTIVATIONS),
        recurrent_activation=(
            st.just("sigmoid") if cudnn_eligible else _gates(recurrent_activations)
        ),
    ).map(LayerSpec.canonical)


def _gates(names: tuple[str, ...]) -> st.SearchStrategy[str]:
    """The first of ``names`` but in about one draw in OTHER_GATE_ODDS; shrinks to it."""
    other = st.integers(0, OTHER_GATE_ODDS - 1).map(lambda i: i == OTHER_GATE_ODDS - 1)
    return st.tuples(other, st.sampled_from(names)).map(lambda p: p[1] if p[0] else names[0])


def sequences(*, batch_size: int, timesteps: int, features: int) -> st.SearchStrategy[np.ndarray]:
    """float32 inputs ``(batch_size, timesteps, features)``, finite and bounded by MAX_ABS_INPUT.

    Shrinks toward unit magnitudes; the regimes include small and saturating values,
    and all zeros in about one draw in ``ZERO_ODDS``.

    Example:
        >>> sequences(batch_size=2, timesteps=3, features=1).example().shape
        (2, 3, 1)
    """
    check_argument(batch_size >= 1, f"batch_size={batch_size} must be at least 1")
    check_argument(timesteps >= 1, f"timesteps={timesteps} must be at least 1")
    check_argument(features >= 1, f"features={features} must be at least 1")
    return _sequences((batch_size, timesteps, features))


def layer_inputs(
    spec: LayerSpec, *, batch_size: int, timesteps: int
) -> st.SearchStrategy[np.ndarray]:
    """float32 inputs ``(batch_size, timesteps, *spec.input_shape)`` for the layer of ``spec``.

    ``sequences`` for any kind: a ConvLSTM's steps are ``(*spatial, features)``, the
    others' ``(features,)``; the same regimes and bounds.

    Example:
        >>> spec = LayerSpec("ConvLSTM2D", units=1, features=2, spatial=(3, 4))
        >>> layer_inputs(spec, batch_size=2, timesteps=3).example().shape
        (2, 3, 3, 4, 2)
    """
    check_argument(batch_size >= 1, f"batch_size={batch_size} must be at least 1")
    check_argument(timesteps >= 1, f"timesteps={timesteps} must be at least 1")
    return _sequences((batch_size, timesteps, *spec.input_shape))


@st.composite
def _sequences(draw: st.DrawFn, shape: tuple[int, ...], *, zeros: bool = True) -> np.ndarray:
    seed = draw(_SEEDS)
    magnitude = draw(_INPUT_MAGNITUDES if zeros else _NONZERO_INPUT_MAGNITUDES)
    return _uniform(_rng(_INPUTS, seed, *shape), magnitude, shape)


def masks(*, batch_size: int, timesteps: int) -> st.SearchStrategy[np.ndarray]:
    """Boolean masks ``(batch_size, timesteps)``, True where a step is valid.

    One of ``MASK_KINDS`` (failures shrink to left-padded) with each row's valid length
    from 1 to ``timesteps`` (holes: each step valid with odds 2 in 3); in about one mask
    in ``FULLY_MASKED_ODDS`` one row is masked at every step.

    Example:
        >>> masks(batch_size=2, timesteps=3).example().shape
        (2, 3)
    """
    check_argument(batch_size >= 1, f"batch_size={batch_size} must be at least 1")
    check_argument(timesteps >= 1, f"timesteps={timesteps} must be at least 1")
    return _masks((batch_size, timesteps))


@st.composite
def _masks(draw: st.DrawFn, shape: tuple[int, int]) -> np.ndarray:
    kind = draw(st.sampled_from(MASK_KINDS))
    fully = draw(st.integers(0, FULLY_MASKED_ODDS - 1)) == FULLY_MASKED_ODDS - 1
    rng = _rng(_MASKS, draw(_SEEDS), *shape)
    batch, timesteps = shape
    lengths = rng.integers(1, timesteps + 1, size=batch)[:, None]
    steps = np.arange(timesteps)[None, :]
    if kind == "left-padded":
        mask = steps >= timesteps - lengths
    elif kind == "right-padded":
        mask = steps < lengths
    else:
        mask = rng.random(shape) < 2 / 3
    if fully:
        mask[rng.integers(batch)] = False
    return mask


@st.composite
def weights(draw: st.DrawFn, spec: LayerSpec) -> list[np.ndarray]:
    """Weights for ``spec`` in Keras order.

    Input kernel and bias are uniform in [-s, s] with s in
    [MIN_WEIGHT_SCALE, MAX_WEIGHT_SCALE]; each gate block of the recurrent kernel
    is rescaled to a spectral norm in [MIN_RECURRENT_GAIN, MAX_RECURRENT_GAIN].
    A ``relu`` layer's bias is non-negative: a unit whose pre-activation stays
    negative outputs 0 and carries no state, so that a dropped or misrouted state
    would not show (measured: 12 of the 17 stateless SimpleRNN examples in 100 that
    could not fail were relu layers; none with the bias non-negative).

    Example:
        >>> spec = LayerSpec("LSTM", units=2, features=3)
        >>> [w.shape for w in weights(spec).example()]
        [(3, 8), (2, 8), (8,)]
    """
    scale = draw(_WEIGHT_SCALES)
    gain = draw(_RECURRENT_GAINS)
    seed = draw(_SEEDS)
    rng = _rng(_WEIGHTS, seed)
    if layer_kinds.is_extra(spec.kind):
        return layer_kinds.draw_weights(draw, spec, weights, rng, scale, gain)
    arrays = [rng.uniform(-scale, scale, size=s) for s in spec.weight_shapes()]
    blocks = np.split(arrays[1], GATES[spec.kind], axis=1)
    norms = [max(np.linalg.norm(b, 2), 1e-12) for b in blocks]
    arrays[1] = np.concatenate([b * (gain / n) for b, n in zip(blocks, norms, strict=True)], axis=1)
    if spec.activation == "relu" and spec.use_bias:
        arrays[2] = np.abs(arrays[2])
    return [a.astype(np.float32) for a in arrays]


def layer_states(spec: LayerSpec, batch_size: int) -> st.SearchStrategy[list[np.ndarray]]:
    """One ``(batch_size, units)`` float32 array per state, bounded by ``MAX_ABS_STATE``.

    Shrinks toward states bounded by 1 (like tanh outputs); about a third of the draws
    go beyond, up to ``MAX_ABS_STATE``, as an LSTM's cell state does.
    """
    check_argument(batch_size >= 1, f"batch_size={batch_size} must be at least 1")
    return _layer_states(spec, batch_size)


@st.composite
def _layer_states(draw: st.DrawFn, spec: LayerSpec, batch_size: int) -> list[np.ndarray]:
    seed = draw(_SEEDS)
    magnitude = draw(_STATE_MAGNITUDES)
    shapes = spec.state_shapes(batch_size)
    return [_uniform(_rng(_STATES, seed, i), magnitude, s) for i, s in enumerate(shapes)]


def cases(
    *,
    kind: str,
    min_chunks: int = 1,
    max_chunks: int = MAX_CHUNKS,
    min_batch: int = 1,
    max_batch: int = MAX_BATCH,
    return_sequences: bool | None = None,
    return_state: bool | None = None,
    cudnn_eligible: bool = False,
    zero_inputs: bool = True,
) -> st.SearchStrategy[Case]:
    """A complete example for one layer kind: spec, weights, inputs and chunk splits.

    ``zero_inputs=False`` leaves out the all-zero input regime, for properties that
    compare rows with each other: zero inputs make every row alike.

    About one case in ``RARE_ODDS`` is wide and long: ``MAX_UNITS + 1`` to ``WIDE_UNITS``
    units and chunks of up to ``LONG_SEQUENCE // max_chunks`` steps (up to
    ``LONG_SEQUENCE`` in all); the others have at most ``MAX_UNITS`` units and chunks of
    at most ``MAX_CHUNK_LENGTH`` steps. An extra kind (``harness.layer_kinds``) draws its
    own sizes and has no such share. Inputs are ``(batch, time, *spec.input_shape)``.

    Example:
        >>> case = cases(kind="LSTM", min_chunks=2).example()
        >>> case.x.shape == (case.batch_size, sum(case.splits), case.spec.features)
        True
    """
    kinds = layer_kinds.ALL_LAYER_KINDS
    check_argument(
        kind in kinds or layer_kinds.is_extra(kind),
        f"kind={kind!r}; expected one of {', '.join(kinds)} or a user's MODULE:NAME",
    )
    check_range("chunks", min_chunks, max_chunks, floor=1, ceiling=64)
    check_range("batch", min_batch, max_batch, floor=1, ceiling=64)
    return _case_strategy(
        kind,
        min_chunks,
        max_chunks,
        min_batch,
        max_batch,
        return_sequences,
        return_state,
        cudnn_eligible,
        zero_inputs,
    )


@functools.cache
def _case_strategy(
    kind: str,
    min_chunks: int,
    max_chunks: int,
    min_batch: int,
    max_batch: int,
    return_sequences: bool | None,
    return_state: bool | None,
    cudnn_eligible: bool,
    zero_inputs: bool,
) -> st.SearchStrategy[Case]:
    return _cases(
        kind=kind,
        min_chunks=min_chunks,
        max_chunks=max_chunks,
        min_batch=min_batch,
        max_batch=max_batch,
        return_sequences=return_sequences,
        return_state=return_state,
        cudnn_eligible=cudnn_eligible,
        zero_inputs=zero_inputs,
    )


@st.composite
def _cases(
    draw: st.DrawFn,
    *,
    kind: str,
    min_chunks: int = 1,
    max_chunks: int = MAX_CHUNKS,
    min_batch: int = 1,
    max_batch: int = MAX_BATCH,
    return_sequences: bool | None = None,
    return_state: bool | None = None,
    cudnn_eligible: bool = False,
    zero_inputs: bool = True,
) -> Case:
    extra = layer_kinds.is_extra(kind)  # draws its own sizes: no wide and long share
    rare = not extra and draw(_RARE)
    if extra:
        spec = draw(layer_kinds.layer_specs(kind, return_sequences, return_state))
    else:
        spec = draw(
            _layer_specs(
                (kind,),
                MAX_UNITS + 1 if rare else 1,
                WIDE_UNITS if rare else MAX_UNITS,
                1,
                MAX_FEATURES,
                return_sequences,
                return_state,
                cudnn_eligible,
            )
        )
    batch_size = draw(st.integers(min_batch, max_batch))
    max_length = LONG_SEQUENCE // max_chunks if rare else MAX_CHUNK_LENGTH
    splits = draw(_chunk_splits(min_chunks, max_chunks, 1, max(max_length, MAX_CHUNK_LENGTH)))
    x = draw(_sequences((batch_size, sum(splits), *spec.input_shape), zeros=zero_inputs))
    return Case(spec, batch_size, splits, x, draw(weights(spec)))
