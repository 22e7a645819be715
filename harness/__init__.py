"""rnn-harness: property-based verification of Keras recurrent-layer state semantics."""

from harness.errors import HarnessUsageError
from harness.specs import LAYER_KINDS, LayerSpec
from harness.streaming import assert_streamable, check_model

__all__ = ["LAYER_KINDS", "HarnessUsageError", "LayerSpec", "assert_streamable", "check_model"]
__version__ = "0.1.0"
