"""rnn-harness: property-based verification of Keras recurrent-layer state semantics."""

from harness.check_layer import assert_layer_passes, check_layer
from harness.check_model import assert_streamable, check_model
from harness.errors import HarnessUsageError
from harness.specs import LAYER_KINDS, LayerSpec

__all__ = [
    "LAYER_KINDS",
    "HarnessUsageError",
    "LayerSpec",
    "assert_layer_passes",
    "assert_streamable",
    "check_layer",
    "check_model",
]
__version__ = "0.1.0"
