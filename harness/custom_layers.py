"""The user's own recurrent layers and cells: ``rnn-harness run --layer MODULE:NAME``.

``NAME`` in ``MODULE`` is a callable that takes ``units`` and the keyword arguments of
``keras.layers.RNN`` (``stateful``, ``return_sequences``, ``return_state``, ...) and
returns a Keras recurrent layer, e.g.::

    def my_layer(units, **kwargs):
        return keras.layers.RNN(MyCell(units), **kwargs)

``MODULE`` is imported as Python would from the directory ``rnn-harness run`` started in
(``LAYER_PATH_ENV``, set by the command for its pytest process) and ``PYTHONPATH``. The
number of states, their shapes and the weights are discovered from the built layer; the
weights are drawn for whatever it builds. No float64 reference exists for such a layer:
the properties that need one skip, and where a property estimates whether an example
could fail (``harness.sensitivity``), the layer's own stateless run stands in for it.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness.errors import HarnessUsageError

LAYER_PATH_ENV = "RNN_HARNESS_LAYER_PATH"
_NAME = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_FACTORIES: dict[str, Callable] = {}
DISCOVERY_BATCH = 2  # state shapes are discovered at this batch size, then rescaled


def is_custom(kind: str | None) -> bool:
    """Whether ``kind`` names a user's layer (``MODULE:NAME``) rather than a Keras one."""
    return isinstance(kind, str) and ":" in kind


def register(name: str, factory: Callable) -> str:
    """Make ``factory`` the layer ``name`` (``MODULE:NAME``) in this process; returns ``name``."""
    if not _NAME.match(name) or not callable(factory):
        raise HarnessUsageError(
            f"layer {name!r}: expected MODULE:NAME naming a callable, e.g. mycells:make_layer"
        )
    _FACTORIES[name] = factory
    return name


def _import_path() -> None:
    for path in (os.environ.get(LAYER_PATH_ENV), os.getcwd()):
        if path and path not in sys.path:
            sys.path.insert(0, path)


def check_name(name: str) -> str:
    """``name`` if it reads ``MODULE:NAME`` and MODULE can be found (not imported: the
    pytest process of each target imports it, with that target's backend)."""
    if not _NAME.match(name):
        raise HarnessUsageError(
            f"--layer {name!r}: expected MODULE:NAME, e.g. --layer mycells:make_layer "
            "(a callable taking units and keras.layers.RNN's keyword arguments)"
        )
    _import_path()
    module_name = name.split(":")[0]
    try:
        found = importlib.util.find_spec(module_name) is not None
    except ImportError:
        found = False
    if not found:
        raise HarnessUsageError(
            f"--layer {name}: no module {module_name!r} here ({os.getcwd()}) or on "
            "PYTHONPATH; run from the directory that holds it, or add it to PYTHONPATH"
        )
    attr = name.split(":")[1]
    defined = _top_level_names(module_name)
    if defined is not None and attr not in defined:
        close = difflib.get_close_matches(attr, sorted(defined), n=3)
        raise HarnessUsageError(
            f"--layer {name}: module {module_name!r} defines no {attr!r} at its top level; "
            "expected a function taking units and keras.layers.RNN's keyword arguments"
            + (f". Did you mean: {', '.join(close)}?" if close else "")
        )
    return name


def _top_level_names(module_name: str) -> set[str] | None:
    """The names a module's source binds at its top level, read without importing it
    (importing would pick a Keras backend in this process); ``None`` where that cannot be
    told: no Python source, a star import or a module ``__getattr__``."""
    try:
        spec = importlib.util.find_spec(module_name)
        source = Path(spec.origin).read_text(encoding="utf-8")  # type: ignore[union-attr, arg-type]
        tree = ast.parse(source)
    except (ImportError, AttributeError, TypeError, OSError, SyntaxError, ValueError):
        return None  # importing it later says what is wrong
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        else:  # assignments, also under if/try/with: every Name stored anywhere at the top
            names.update(
                n.id
                for n in ast.walk(node)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            )
            for sub in ast.walk(node):
                if isinstance(sub, ast.FunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom):
                    if isinstance(sub, ast.Import | ast.ImportFrom):
                        names.update(a.asname or a.name.split(".")[0] for a in sub.names)
                    else:
                        names.add(sub.name)
    return None if "__getattr__" in names else names


def load(name: str) -> Callable:
    """The factory ``name`` names, importing its module from the run's directory."""
    if name in _FACTORIES:
        return _FACTORIES[name]
    module_name, attr = check_name(name).split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HarnessUsageError(
            f"--layer {name}: cannot import module {module_name!r} ({exc}); run from the "
            "directory that holds it, or add that directory to PYTHONPATH"
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise HarnessUsageError(
            f"--layer {name}: module {module_name!r} has no callable {attr!r}; expected a "
            "function taking units and keras.layers.RNN's keyword arguments"
        )
    return register(name, factory) and factory


def build(keras, spec, *, stateful: bool):
    """The user's layer for ``spec``: ``factory(units, stateful=..., return_*=...)``."""
    layer = load(spec.kind)(
        spec.units,
        stateful=stateful,
        return_sequences=spec.return_sequences,
        return_state=spec.return_state,
    )
    if not isinstance(layer, keras.layers.Layer):
        raise HarnessUsageError(
            f"layer {spec.kind} returned {type(layer).__name__}; expected a Keras layer"
        )
    return layer


@functools.cache
def _shapes(kind: str, units: int, features: int):
    """(state shapes at DISCOVERY_BATCH, weight shapes) of the built layer."""
    import keras

    from harness.layer_kinds import flat
    from harness.specs import LayerSpec

    spec = LayerSpec(kind, units=units, features=features)
    layer = build(keras, spec, stateful=True)
    layer.build((DISCOVERY_BATCH, None, features))
    states = [tuple(v.shape) for v in flat(layer.states)]
    if not states or any(s[0] != DISCOVERY_BATCH for s in states):
        raise HarnessUsageError(
            f"layer {kind}: a stateful build at batch size {DISCOVERY_BATCH} gave states "
            f"{states}; expected one or more states shaped (batch, ...)"
        )
    return states, [tuple(np.shape(w)) for w in layer.get_weights()]


def state_shapes(spec, batch_size: int) -> list[tuple[int, ...]]:
    states, _ = _shapes(spec.kind, spec.units, spec.features)
    return [(batch_size, *s[1:]) for s in states]


def weight_shapes(spec) -> list[tuple[int, ...]]:
    return list(_shapes(spec.kind, spec.units, spec.features)[1])


def run_own_layer(spec, weights, x, initial_state):
    """The layer's own stateless run, in place of a reference (see the module's docstring)."""
    import keras

    from harness.layer_kinds import flat, nest
    from harness.reference import ReferenceResult

    layer = _stateless(spec.kind, spec.units, spec.features)
    layer.set_weights([np.asarray(w, np.float32) for w in weights])
    x = np.asarray(x, np.float32)
    kwargs = {}
    if initial_state is not None:
        states = [keras.ops.convert_to_tensor(np.asarray(s, np.float32)) for s in initial_state]
        kwargs["initial_state"] = nest(spec, states)
    sequence, *states = layer(x, **kwargs)
    numpy = keras.ops.convert_to_numpy
    return ReferenceResult(
        numpy(sequence).astype(np.float64),
        [numpy(s).astype(np.float64) for s in flat(states)],
    )


@functools.cache
def _stateless(kind: str, units: int, features: int):
    import keras

    from harness.specs import LayerSpec

    spec = LayerSpec(kind, units=units, features=features, return_state=True)
    layer = build(keras, spec, stateful=False)
    layer.build((None, None, features))
    return layer
