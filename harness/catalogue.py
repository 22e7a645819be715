"""The property catalogue: stable public ids and the invariant each one claims.

Known-failures files and reports refer to these ids; never rename one.
"""

from __future__ import annotations

PROPERTIES: dict[str, str] = {
    "chunked_equals_whole": "a stateful run over consecutive chunks equals a stateless run "
    "over the whole sequence: outputs at every timestep and final states",
    "sample_i_continues_sample_i": "in stateful mode the state of sample i seeds sample i of "
    "the next batch, and no other sample",
    "stateless_batches_independent": "in stateless mode a batch's outputs do not depend on "
    "what ran before; repeated calls are identical",
    "samples_independent_within_batch": "each sample's output is the same alone, in any batch, "
    "in any order, at any batch size",
    "reset_restores_zero_state": "after reset every state is zero and outputs equal a fresh "
    "layer's, also mid-sequence",
    "initial_state_equals_carried_state": "a stateless run given the returned state of chunk k "
    "as initial_state equals the stateful continuation",
    "paths_agree": "the state evolves the same through __call__, predict, predict_on_batch, "
    "evaluate and fit",
    "batch_size_mismatch_is_an_error": "a stateful layer given another batch size raises a "
    "clear error and leaves its states unchanged",
    "refusal_leaves_model_intact": "after any refused call (another batch size, a short last "
    "batch in predict/evaluate/fit, wrong features or rank) the layer or model is still usable: "
    "weights and states exactly as before, and the next valid call on every path equals a "
    "twin's that never saw the bad call",
    "matches_reference": "outputs and final states match the float64 NumPy reference within "
    "the tolerance for the dtype and device",
    "composition": "the invariants hold end to end for stacked, wrapped and masked models",
    "state_machine": "random sequences of operations agree with the reference after every step",
    "model_reset_states": "the model-level reset a Keras 2 user relied on (model.reset_states()) "
    "exists and zeroes every stateful layer",
    "streaming_equals_whole": "a user's saved model, made stateful and fed in chunks, equals "
    "the original on the whole sequence",
    "cudnn_matches_generic": "cuDNN kernels and the generic kernel agree (GPU only)",
}

PROPERTY_IDS = tuple(PROPERTIES)
