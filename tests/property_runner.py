"""Run a property test's body against any target, outside pytest's fixtures.

The bite tests use this to run the very same property code against the
deliberately broken targets in ``tests/broken_targets.py``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from types import SimpleNamespace

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.check import PropertyCheck
from harness.targets.base import Target


class Parametrized:
    """A parametrized property test with its parameters other than the layer fixed.

    Named like the test id pytest gives it, e.g. ``test_state_evolves_through_one_path[fit]``.
    """

    def __init__(self, fn: Callable, **params: object):
        self.fn, self.params = fn, params
        self.__name__ = f"{fn.__name__}[{'-'.join(str(v) for v in params.values())}]"
        self.__module__ = fn.__module__
        self.hypothesis = SimpleNamespace(
            inner_test=functools.partial(fn.hypothesis.inner_test, **params)
        )

    def __repr__(self) -> str:
        return self.__name__


def property_id(test_fn: Callable) -> str:
    """The catalogue id in the module-level ``pytestmark`` of a property module."""
    module = sys.modules[test_fn.__module__]
    return module.pytestmark.args[0]


def run_property(
    test_fn: Callable,
    target: Target,
    layer_kind: str,
    *,
    max_examples: int,
    shrink: bool = False,
    check: PropertyCheck | None = None,
) -> PropertyCheck:
    """Run ``test_fn``'s body for ``max_examples`` derandomized examples on ``target``.

    Returns the evidence (``check``, or a new one); raises whatever the property
    raises, after shrinking when ``shrink`` is set. Pass your own ``check`` to
    read the shrunk counterexample after a failure.
    """
    if check is None:
        check = PropertyCheck(
            property_id(test_fn), layer_kind, target.name, on_example=target.new_example
        )
    phases = (Phase.generate, Phase.shrink) if shrink else (Phase.generate,)

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=phases,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data):
        test_fn.hypothesis.inner_test(target=target, layer_kind=layer_kind, check=check, data=data)

    try:
        run()
    finally:
        target.clear()
    return check
