"""Hypothesis strategies for recurrent-layer properties.

Strategies are plural nouns for what they produce (``layer_specs``,
``chunk_splits``, ``cases``), take keyword-only ``min_``/``max_`` pairs, and
validate their arguments when they are built (``harness.strategies.validation``).

- ``harness.strategies.layers``: one recurrent layer — specs, weights, states,
  inputs, chunk splits and whole ``Case`` examples.
- ``harness.strategies.models``: small models — ``ModelSpec`` stacks, their
  weights and inputs, and ``ModelCase`` examples.
"""

from harness.strategies.layers import (
    INPUT_MAGNITUDES,
    MAX_ABS_INPUT,
    MAX_BATCH,
    MAX_CHUNK_LENGTH,
    MAX_CHUNKS,
    MAX_FEATURES,
    MAX_RECURRENT_GAIN,
    MAX_SEED,
    MAX_UNITS,
    MAX_WEIGHT_SCALE,
    MIN_RECURRENT_GAIN,
    MIN_WEIGHT_SCALE,
    batch_sizes,
    cases,
    chunk_splits,
    layer_specs,
    layer_states,
    sequences,
    weights,
)
from harness.strategies.models import (
    MAX_LAYERS,
    MAX_MODEL_BATCH,
    MAX_MODEL_CHUNK_LENGTH,
    MAX_MODEL_CHUNKS,
    MAX_MODEL_FEATURES,
    MAX_MODEL_TIMESTEPS,
    MAX_MODEL_UNITS,
    conv_lstm1d_model_specs,
    model_cases,
    model_inputs,
    model_specs,
    model_weights,
)

__all__ = [
    "INPUT_MAGNITUDES",
    "MAX_ABS_INPUT",
    "MAX_BATCH",
    "MAX_CHUNKS",
    "MAX_CHUNK_LENGTH",
    "MAX_FEATURES",
    "MAX_LAYERS",
    "MAX_MODEL_BATCH",
    "MAX_MODEL_CHUNKS",
    "MAX_MODEL_CHUNK_LENGTH",
    "MAX_MODEL_FEATURES",
    "MAX_MODEL_TIMESTEPS",
    "MAX_MODEL_UNITS",
    "MAX_RECURRENT_GAIN",
    "MAX_SEED",
    "MAX_UNITS",
    "MAX_WEIGHT_SCALE",
    "MIN_RECURRENT_GAIN",
    "MIN_WEIGHT_SCALE",
    "batch_sizes",
    "cases",
    "chunk_splits",
    "conv_lstm1d_model_specs",
    "layer_specs",
    "layer_states",
    "model_cases",
    "model_inputs",
    "model_specs",
    "model_weights",
    "sequences",
    "weights",
]
