"""What the harness needs from old framework releases (the Keras 3 release line,
matrix/keras3-releases.toml): a JAX without the persistent-cache options runs without it."""

from __future__ import annotations

import sys
import types

from harness.compilation_cache import CACHE_OPTIONS, enable_jax_compilation_cache


class _OldConfig:
    """jax.config of jax 0.4.20: no compilation-cache options (AttributeError, like JAX's)."""

    def update(self, name, value):
        raise AssertionError(f"an old JAX has no option {name}")


def test_a_jax_without_the_cache_options_runs_without_the_cache(monkeypatch):
    old_jax = types.SimpleNamespace(config=_OldConfig(), __version__="0.4.20")
    monkeypatch.setitem(sys.modules, "jax", old_jax)
    info = enable_jax_compilation_cache()
    assert info["dir"] is None
    assert info["unsupported"] == f"jax 0.4.20 has no {', '.join(CACHE_OPTIONS)}"
