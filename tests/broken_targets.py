"""Deliberately broken targets: each wraps a real target and breaks one promise.

They exist to prove that the properties bite: every property must fail on at
least one of them, and pass on the real target they wrap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.specs import GATES, LayerSpec
from harness.targets.base import Output, Runner, Target

BATCHING_PATHS = ("predict", "evaluate", "fit")  # the paths that cut their input into batches


class WrappedRunner(Runner):
    """Delegates everything to a real runner; subclasses override one behaviour."""

    def __init__(self, inner: Runner, target: Target):
        self.inner = inner
        self.target = target  # the real target, for twins a break needs
        self.spec = inner.spec
        self.batch_size = inner.batch_size
        self.stateful = inner.stateful

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        self.inner.set_weights(weights)

    def get_weights(self) -> list[np.ndarray]:
        return self.inner.get_weights()

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None) -> Output:
        return self.inner(
            x, initial_state=initial_state, path=path, batch_size=batch_size, mask=mask
        )

    def feed(self, x, **options) -> Output:
        return self.inner.feed(x, **options)

    def states(self) -> list[np.ndarray]:
        return self.inner.states()

    def set_states(self, states) -> None:
        self.inner.set_states(states)

    def reset(self) -> None:
        self.inner.reset()

    def model_reset(self) -> None:
        self.inner.model_reset()

    def save_weights(self, path: str) -> None:
        self.inner.save_weights(path)

    def load_weights(self, path: str) -> None:
        self.inner.load_weights(path)

    def clone(self) -> WrappedRunner:
        """The framework's clone of the runner inside, wrapped the same way (a break stays)."""
        return type(self)(self.inner.clone(), self.target)


class BrokenTarget(Target):
    """A real target whose runners are wrapped by ``runner_cls``."""

    def __init__(self, inner: Target, runner_cls: type[WrappedRunner], label: str):
        self.inner = inner
        self.runner_cls = runner_cls
        self.name = f"broken[{label}]:{inner.name}"
        # Judged by the inner target's tolerance entry: same backend, dtype, precision.
        self.dtype = inner.dtype
        self.backend = inner.backend
        self.precision = inner.precision
        self.supports_use_cudnn = inner.supports_use_cudnn

    def __getattr__(self, name: str):
        # What model builders read from a Keras 3 target (keras, cached, compiled).
        inner = self.__dict__.get("inner")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)

    def runner(self, spec: LayerSpec, *, batch_size, stateful) -> Runner:
        inner = self.inner.runner(spec, batch_size=batch_size, stateful=stateful)
        return self.runner_cls(inner, self.inner)

    def versions(self) -> dict[str, str]:
        return self.inner.versions()

    @property
    def device(self) -> str:
        return self.inner.device

    def clear(self) -> None:
        self.inner.clear()

    def new_example(self) -> None:
        self.inner.new_example()


class ZeroStartEachCall(WrappedRunner):
    """Every stateful call starts from zeros, as if state were never carried."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        if self.stateful:
            self.inner.reset()
        return self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)


class HandsStateToNextSample(WrappedRunner):
    """After each stateful call, sample i's state seeds sample i+1 (wrapping around)."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        out = self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)
        if self.stateful:
            self.inner.set_states([np.roll(s, 1, axis=0) for s in self.inner.states()])
        return out


class ScalesCarriedState(WrappedRunner):
    """The carried state drifts: it is multiplied by ``factor`` (1.001) after each stateful call."""

    factor = 1.001

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        out = self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)
        if self.stateful:
            self.inner.set_states([s * self.factor for s in self.inner.states()])
        return out


def scales_carried_state(factor: float) -> type[ScalesCarriedState]:
    """``ScalesCarriedState`` with another factor, e.g. to find a tolerance's detection floor."""
    return type(f"ScalesCarriedStateBy{factor}", (ScalesCarriedState,), {"factor": factor})


class ResetClearsFirstStateOnly(WrappedRunner):
    """Reset zeroes the first state (h) and forgets the rest (an LSTM keeps c)."""

    def reset(self) -> None:
        kept = self.inner.states()
        self.inner.reset()
        self.inner.set_states([np.zeros_like(kept[0]), *kept[1:]])


class ResetDoesNothing(WrappedRunner):
    """Reset is a no-op, through the layer and through the model."""

    def reset(self) -> None:
        pass

    def model_reset(self) -> None:
        pass


class StatelessRemembers(WrappedRunner):
    """A stateless layer that starts each call from the previous call's final state."""

    def __init__(self, inner: Runner, target: Target):
        super().__init__(inner, target)
        self.previous: list[np.ndarray] | None = None

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        if not self.stateful and path == "fit":
            return self._fit_carrying_state(x, batch_size or len(x))
        if self.stateful or path != "call":
            return self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)
        carried = self.previous
        if carried is not None and carried[0].shape[0] != len(x):
            carried = None
        out = self.inner(x, initial_state=initial_state if initial_state is not None else carried)
        if out.states is not None:
            self.previous = out.states
        return out

    def _fit_carrying_state(self, x, batch_size) -> Output:
        """The loss a fit would report if each batch started from the last one's states."""
        twin = self.target.runner(
            self.spec.replace(return_sequences=True, return_state=True),
            batch_size=None,
            stateful=False,
        )
        twin.set_weights(self.inner.get_weights())
        carried, total = None, 0.0
        for start in range(0, len(x), batch_size):
            xb = np.asarray(x[start : start + batch_size])
            init = None if carried is None else [s[-1:].repeat(len(xb), axis=0) for s in carried]
            out = twin(xb, initial_state=init)
            head = out.output if self.spec.return_sequences else out.output[:, -1]
            total += float(np.mean(head**2)) * len(xb)
            carried = out.states
        return Output(None, loss=total / len(x))


class UnweightedFitLoss(WrappedRunner):
    """fit reports the unweighted mean of its batches' losses (Keras 3.0-3.1, keras#19363)."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        if self.stateful or path != "fit" or not batch_size or len(x) % batch_size == 0:
            return self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)
        twin = self.target.runner(
            self.spec.replace(return_sequences=True), batch_size=None, stateful=False
        )
        twin.set_weights(self.inner.get_weights())
        losses = []
        for start in range(0, len(x), batch_size):
            out = twin(np.asarray(x[start : start + batch_size]))
            head = out.output if self.spec.return_sequences else out.output[:, -1]
            losses.append(float(np.mean(head**2)))
        return Output(None, loss=float(np.mean(losses)))


class LeaksBatchIntoState(WrappedRunner):
    """A stateless layer whose starting state depends on the whole batch (its mean input)."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        if self.stateful or path != "call" or initial_state is not None:
            return self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)
        leak = np.full((len(x), self.spec.units), 0.1 * float(np.mean(x)), np.float32)
        return self.inner(x, initial_state=[leak] * self.spec.n_states)


class ForgetsStateOutsideCall(WrappedRunner):
    """predict/evaluate/fit run from the stored state but never write the new state back."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        if not self.stateful or path in ("call",):
            return self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)
        kept = self.inner.states()
        out = self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)
        self.inner.set_states(kept)
        return out


class ResetsBetweenPredictBatches(WrappedRunner):
    """One predict over several batches starts every batch from zeros."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        b = batch_size or self.batch_size
        if not self.stateful or path != "predict" or len(x) <= b:
            return self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)
        outputs = []
        for start in range(0, len(x), b):
            self.inner.set_states([np.zeros_like(s) for s in self.inner.states()])
            outputs.append(self.inner(x[start : start + b], path="predict").output)
        return Output(np.concatenate(outputs, axis=0))


class AcceptsAnyBatchSize(WrappedRunner):
    """A stateful layer that silently pads or cuts a wrong-sized batch to its batch size
    (a direct call to exactly it, a batching path to a multiple of it)."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        x = np.asarray(x)
        b = self.batch_size
        fits = len(x) % b == 0 if path in BATCHING_PATHS else len(x) == b
        if not self.stateful or fits:
            return self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)
        size = b * (len(x) // b + 1) if path in BATCHING_PATHS else b
        padded = np.zeros((size, *x.shape[1:]), x.dtype)
        padded[: min(len(x), size)] = x[:size]
        out = self.inner(padded, path=path)
        return Output(None if out.output is None else out.output[: len(x)], out.states, out.loss)


class ZeroesStateOnRefusal(WrappedRunner):
    """Refuses a wrong batch size, but only after zeroing its states."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None) -> Output:
        if self.stateful and len(x) % self.batch_size:
            self.inner.set_states([np.zeros_like(s) for s in self.inner.states()])
        return self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)


class AdvancesStateBeforeRefusing(WrappedRunner):
    """predict/evaluate/fit run the full batches before a short last batch is refused: the
    stored states move although the call raised (what TensorFlow and PyTorch do)."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None) -> Output:
        b = self.batch_size
        full = len(x) - len(x) % b if self.stateful else 0
        if path in BATCHING_PATHS and batch_size in (None, b) and len(x) % b and full:
            for start in range(0, full, b):
                self.inner(np.asarray(x[start : start + b]))
        return self.inner(
            x, initial_state=initial_state, path=path, batch_size=batch_size, mask=mask
        )


class ModelResetByLayers(WrappedRunner):
    """A repair: the model-level reset (gone from Keras 3) resets the layer instead."""

    def model_reset(self) -> None:
        self.inner.reset()


class TrainerPathsThroughCall(WrappedRunner):
    """A repair: every path of a stateful runner goes through direct calls, batch by batch.

    predict and predict_on_batch return the calls' outputs; the loss paths report
    ``mean(output**2)`` (all-zero targets, Keras's mse, summed over the outputs); each
    batch starts from the state the last one left. This is what the trainer paths
    promise; JAX's never write a stateful RNN's state back, and torch's fit crashes on a
    stateful LSTM or GRU (reviewed known failures), so bites of those paths are shown
    on this.
    """

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None) -> Output:
        if not self.stateful or path == "call" or initial_state is not None or mask is not None:
            return self.inner(
                x, initial_state=initial_state, path=path, batch_size=batch_size, mask=mask
            )
        b = batch_size or self.batch_size
        runs = [self.inner(np.asarray(x[start : start + b])) for start in range(0, len(x), b)]
        states = None
        if runs[0].states is not None:
            states = [
                np.concatenate(s, axis=0) for s in zip(*(r.states for r in runs), strict=True)
            ]
        output = np.concatenate([r.output for r in runs], axis=0)
        if path in ("predict", "predict_on_batch"):
            return Output(output, states)
        loss = float(np.mean(output.astype(np.float64) ** 2))
        loss += sum(float(np.mean(s.astype(np.float64) ** 2)) for s in states or [])
        return Output(None, loss=loss)


class RefusesUpFront(WrappedRunner):
    """Refuses a batch that does not fit the batch size before the real layer sees it.

    Nothing is broken: this is a framework whose short-last-batch refusals are
    repaired (every Keras 3 target refuses one only after the full batches ran, or
    not at all). Subclasses break something on each refusal (``on_refusal``), which
    then shows on every target; any other refusal (features, rank) is the real
    layer's own.
    """

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None) -> Output:
        try:
            b = self.batch_size
            cuts_batches = path in BATCHING_PATHS and batch_size in (None, b)
            if self.stateful and (len(x) % b if cuts_batches else len(x) != b):
                received = len(x) % b if cuts_batches else len(x)
                raise ValueError(
                    f"Expected batch size {b} for a stateful layer. Received: {received}"
                )
            return self.inner(
                x, initial_state=initial_state, path=path, batch_size=batch_size, mask=mask
            )
        except Exception:
            self.on_refusal()
            raise

    def on_refusal(self) -> None:
        """What a refusal breaks: nothing here."""


class CorruptsStateOnRefusal(RefusesUpFront):
    """A refused call halves the last stored state (an LSTM's c) before it raises."""

    def on_refusal(self) -> None:
        if self.stateful:
            *kept, last = self.inner.states()
            self.inner.set_states([*kept, last * 0.5])


class UnusableAfterRefusal(RefusesUpFront):
    """After a refused call every later call raises: the layer is left unusable."""

    refused = False

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None) -> Output:
        if self.refused:
            raise RuntimeError("unusable after a refused call")
        return super().__call__(
            x, initial_state=initial_state, path=path, batch_size=batch_size, mask=mask
        )

    def on_refusal(self) -> None:
        self.refused = True


class TransposedRecurrentKernel(WrappedRunner):
    """Loads each gate's recurrent block transposed: a classic weight-layout bug."""

    def set_weights(self, weights) -> None:
        weights = [np.array(w) for w in weights]
        units, gates = self.spec.units, GATES[self.spec.kind]
        blocks = np.split(weights[1], gates, axis=1)
        weights[1] = np.concatenate([b.T for b in blocks], axis=1)
        assert weights[1].shape == (units, gates * units)
        self.inner.set_weights(weights)


class IgnoresMask(WrappedRunner):
    """The mask is dropped: masked steps update the state like any other step."""

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None) -> Output:
        return self.inner(x, initial_state=initial_state, path=path, batch_size=batch_size)


class EagerCallForgetsState(WrappedRunner):
    """The eager ``layer(x)`` users run puts the stored states back after it: nothing is carried.

    Only the eager call is broken. On JAX the runner also has a compiled call of the
    harness's own (``harness.targets.jax_call.EagerAndCompiled``), which still carries
    the state: a property that checked only that path would pass here. On the other
    backends every direct call is eager.
    """

    def __init__(self, inner: Runner, target: Target):
        super().__init__(inner, target)
        turns = getattr(inner, "_jit", None)
        self.on_jax = turns is not None
        if self.on_jax and inner.stateful and not getattr(turns, "forgets", False):
            eager = turns.eager

            def forgetful(x):
                kept = inner.states()
                out = eager(x)
                inner.set_states(kept)
                return out

            turns.eager, turns.forgets = forgetful, True

    def __call__(self, x, *, initial_state=None, path="call", batch_size=None, mask=None) -> Output:
        kept = self.inner.states() if self.stateful and not self.on_jax else None
        out = self.inner(
            x, initial_state=initial_state, path=path, batch_size=batch_size, mask=mask
        )
        if kept is not None and path == "call":
            self.inner.set_states(kept)
        return out


BROKEN_RUNNERS: dict[str, type[WrappedRunner]] = {
    "zero_start_each_call": ZeroStartEachCall,
    "hands_state_to_next_sample": HandsStateToNextSample,
    "scales_carried_state": ScalesCarriedState,
    "reset_clears_first_state_only": ResetClearsFirstStateOnly,
    "reset_does_nothing": ResetDoesNothing,
    "stateless_remembers": StatelessRemembers,
    "unweighted_fit_loss": UnweightedFitLoss,
    "transposed_recurrent_kernel": TransposedRecurrentKernel,
    "leaks_batch_into_state": LeaksBatchIntoState,
    "forgets_state_outside_call": ForgetsStateOutsideCall,
    "resets_between_predict_batches": ResetsBetweenPredictBatches,
    "accepts_any_batch_size": AcceptsAnyBatchSize,
    "zeroes_state_on_refusal": ZeroesStateOnRefusal,
    "refuses_up_front": RefusesUpFront,
    "corrupts_state_on_refusal": CorruptsStateOnRefusal,
    "unusable_after_refusal": UnusableAfterRefusal,
    "ignores_mask": IgnoresMask,
    "eager_call_forgets_state": EagerCallForgetsState,
    "advances_state_before_refusing": AdvancesStateBeforeRefusing,
}
# Known framework bugs repaired, so that a bite can be shown where the real target fails.
REPAIRS: dict[str, type[WrappedRunner]] = {
    "refuses_up_front": RefusesUpFront,
    "model_reset_by_layers": ModelResetByLayers,
    "trainer_paths_through_call": TrainerPathsThroughCall,
}


def broken(target: Target, label: str) -> BrokenTarget:
    """``target`` with the behaviour named ``label`` broken."""
    return BrokenTarget(target, BROKEN_RUNNERS[label], label)


class PretendsGpu(BrokenTarget):
    """A CPU target that says it runs on a GPU, with ``runner_cls`` breaking only the
    layers that may take a cuDNN kernel (``use_cudnn`` not False).

    Its comparisons are judged by the GPU tolerance entry of ``precision`` (``strict``
    or ``native``): the CPU's numbers under a GPU's tolerance, as a bite under that
    entry needs them.

    There is no cuDNN on a CPU: ``use_cudnn="auto"`` falls back to the generic loop
    and ``use_cudnn=True`` is refused, so with ``runner_cls=WrappedRunner`` the
    cuDNN side equals the generic side, as it must on a correct GPU target.
    """

    def __init__(
        self,
        inner: Target,
        runner_cls: type[WrappedRunner] = WrappedRunner,
        *,
        precision: str = "strict",
    ):
        super().__init__(inner, runner_cls, f"gpu-{precision}:{runner_cls.__name__}")
        self.precision = precision  # judged by the GPU entry of this precision

    @property
    def device(self) -> str:
        return "gpu"

    def runner(self, spec: LayerSpec, *, batch_size, stateful) -> Runner:
        inner = self.inner.runner(spec, batch_size=batch_size, stateful=stateful)
        cls = WrappedRunner if spec.use_cudnn is False else self.runner_cls
        return cls(inner, self.inner)
