"""Plain-data descriptions of what to build.

A ``LayerSpec`` is hashable and JSON-friendly: it keys model caches, appears in
counterexamples and reports, and is what a reproducer script rebuilds from.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.errors import check_argument

LAYER_KINDS = ("LSTM", "GRU", "SimpleRNN")
# Activations the float64 reference implements identically on every target. Gates stay
# sigmoid: a tanh gate can go negative and make the recurrence expansive (chaotic), where
# float32 and float64 trajectories part ways for no fault of the framework.
# hard_sigmoid is left out on purpose: Keras 2 and Keras 3 define it differently.
ACTIVATIONS = ("tanh", "sigmoid", "relu")
RECURRENT_ACTIVATIONS = ("sigmoid",)
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

    def __post_init__(self) -> None:
        check_argument(
            self.kind in LAYER_KINDS,
            f"kind={self.kind!r} is not a recurrent layer kind; expected one of {', '.join(LAYER_KINDS)}",
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
    def n_states(self) -> int:
        """How many state tensors the layer carries (LSTM: h and c)."""
        return 2 if self.kind == "LSTM" else 1

    def weight_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of ``layer.get_weights()``, in Keras order (kernel, recurrent, bias)."""
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
        if self.kind != "GRU":
            changes["reset_after"] = True
        if self.kind == "SimpleRNN":
            changes["recurrent_activation"] = "sigmoid"
            changes["use_cudnn"] = "auto"
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSpec:
        return cls(**data)

    def replace(self, **changes: Any) -> LayerSpec:
        return dataclasses.replace(self, **changes)
