"""The streaming twin: the model rebuilt with its recurrent layers stateful at batch size B.

The first functions here are portable: plain Keras and NumPy, no harness import,
so that ``harness/check_model/reproducer.py`` copies their source verbatim into
every reproducer (``PORTABLE``), and a reproducer builds, zeroes, resets and runs
the twin with exactly the code the check used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# --- portable helpers: copied verbatim into every reproducer --------------------------------


def streaming_config(serialized, batch_size, *, stateful=True, time_dim=None, keep_stateless=()):
    """A copy of ``keras.saving.serialize_keras_object(model)`` rebuilt for streaming.

    Every input and build shape gets the fixed ``batch_size`` (``None`` for any);
    a fixed time length ``time_dim`` becomes variable; every layer config with a
    ``stateful`` field gets ``stateful``, except the layers named in
    ``keep_stateless`` (recurrent layers that run over another axis than time) and
    layers inside ``TimeDistributed`` (they run on one timestep at a time).
    """
    import copy

    config = copy.deepcopy(serialized)
    config.pop("compile_config", None)
    keep = set(keep_stateless)

    def is_shape(value):
        return (
            isinstance(value, (list, tuple))
            and len(value) >= 2
            and all(v is None or isinstance(v, int) for v in value)
        )

    def reshape(shape, *, min_rank=3):
        shape = list(shape)
        shape[0] = batch_size
        if time_dim is not None and len(shape) >= min_rank and shape[1] == time_dim:
            shape[1] = None
        return shape

    def fix_shapes(value):
        if is_shape(value):
            return reshape(value)
        if isinstance(value, (list, tuple)):
            return [fix_shapes(v) for v in value]
        if isinstance(value, dict):
            return {k: fix_shapes(v) for k, v in value.items()}
        return value

    def visit(node, in_time_distributed):
        if isinstance(node, (list, tuple)):
            for item in node:
                visit(item, in_time_distributed)
            return
        if not isinstance(node, dict):
            return
        inner = in_time_distributed or node.get("class_name") == "TimeDistributed"
        layer_config = node.get("config")
        if isinstance(layer_config, dict) and not in_time_distributed:
            shape = layer_config.get("batch_shape")
            if node.get("class_name") == "InputLayer" and is_shape(shape):
                tokens = "int" in str(layer_config.get("dtype"))
                layer_config["batch_shape"] = reshape(shape, min_rank=2 if tokens else 3)
            if "stateful" in layer_config and layer_config.get("name") not in keep:
                layer_config["stateful"] = stateful
            if is_shape(layer_config.get("build_input_shape")):
                layer_config["build_input_shape"] = reshape(layer_config["build_input_shape"])
        build = node.get("build_config")
        if isinstance(build, dict) and not in_time_distributed:
            node["build_config"] = fix_shapes(build)
        for key, value in node.items():
            if key != "build_config":
                visit(value, inner)

    visit(config, False)
    return config


def build_twin(
    keras,
    model,
    batch_size,
    *,
    stateful=True,
    time_dim=None,
    keep_stateless=(),
    safe_mode=True,
):
    """``model`` rebuilt from its config by ``streaming_config``, with its weights."""
    serialized = keras.saving.serialize_keras_object(model)
    config = streaming_config(
        serialized,
        batch_size,
        stateful=stateful,
        time_dim=time_dim,
        keep_stateless=keep_stateless,
    )
    twin = keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)
    twin.set_weights(model.get_weights())
    return twin


def stateful_layers(model):
    """Every stateful recurrent layer in ``model``: nested models and wrappers included."""
    found, seen, stack = [], set(), [model]
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        is_rnn = any(c.__name__ == "RNN" for c in type(layer).__mro__)
        if is_rnn and getattr(layer, "stateful", False):
            found.append(layer)
        children = list(getattr(layer, "layers", None) or [])
        for attribute in ("layer", "forward_layer", "backward_layer"):
            child = getattr(layer, attribute, None)
            if child is not None and not is_rnn:
                children.append(child)
        stack.extend(children)
    return found


def model_outputs(keras, model, x):
    """Every output of ``model(x)`` in inference mode, as NumPy arrays."""
    result = model(x, training=False)
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in keras.tree.flatten(result)]


def zero_states(layers):
    """Set every state of ``layers`` to zeros by assignment.

    Not through ``reset_state()``: the reset is itself under test.
    """
    for layer in layers:
        for variable in layer.states or []:
            variable.assign(np.zeros(tuple(variable.shape), dtype=variable.dtype))


def reset_state(layer):
    """``layer.reset_state()``; ``reset_states()`` where a layer has only that name."""
    if hasattr(layer, "reset_state"):
        layer.reset_state()
    else:
        layer.reset_states()


# --- for the check -------------------------------------------------------------------------


def build_streaming_twin(
    model,
    batch_size: int,
    *,
    stateful: bool = True,
    time_dim: int | None = None,
    keep_stateless: Sequence[str] = (),
    safe_mode: bool = True,
):
    """The streaming twin of ``model``: recurrent layers stateful at ``batch_size``.

    Args:
        model: the model as loaded.
        batch_size: the fixed batch size B the twin streams.
        stateful: ``True`` for the twin; ``False`` rebuilds a stateless copy.
        time_dim: the model's fixed number of timesteps, made variable (None: already is).
        keep_stateless: recurrent layers that run over another axis than time.
        safe_mode: passed to ``keras.saving.deserialize_keras_object``.

    The same config (``get_config``) with ``stateful`` set on every recurrent layer,
    nested models and wrappers included, the input's batch size fixed to B and its
    time axis variable; the weights are copied with ``set_weights``.
    """
    import keras

    return build_twin(
        keras,
        model,
        batch_size,
        stateful=stateful,
        time_dim=time_dim,
        keep_stateless=tuple(keep_stateless),
        safe_mode=safe_mode,
    )


def sequence_outputs(twin) -> list[bool]:
    """Per output: does it keep the time axis (variable length at axis 1)?"""
    import keras

    outputs = keras.tree.flatten(twin.outputs)
    return [len(o.shape) >= 2 and o.shape[1] is None for o in outputs]
