"""Run a property test's body against any target, outside pytest's fixtures.

The bite tests use this to run the very same property code against the
deliberately broken targets in ``tests/broken_targets.py``: ``run_property`` runs
one target, ``run_bite`` runs a baseline (the real target, through a no-op wrapper
or with a known framework bug repaired) and a broken one on the same examples, and
``assert_bitten`` says what it saw. ``passes_on_real_target`` runs a property on the
real target, or xfails it where a reviewed known failure says it fails there.
"""

from __future__ import annotations

import copy
import functools
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness import known_failures as kf
from harness.check import PropertyCheck
from harness.errors import PropertyFailure
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


def derandomized(max_examples: int, *, shrink: bool = False) -> settings:
    """The settings of a bite's search: ``max_examples`` derandomized examples, no database,
    no deadline, no health checks; shrinking only when ``shrink`` is set."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink) if shrink else (Phase.generate,),
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


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

    ``test_fn`` is a ``@given`` property test, or a search that runs Hypothesis itself
    under the settings it is given, ``test_fn(target, layer_kind, check, settings)``
    (``run_state_machine``). Returns the evidence (``check``, or a new one); raises
    whatever the property raises, after shrinking when ``shrink`` is set. Pass your own
    ``check`` to read the shrunk counterexample after a failure.
    """
    if check is None:
        check = PropertyCheck(
            property_id(test_fn), layer_kind, target.name, on_example=target.new_example
        )
    search = derandomized(max_examples, shrink=shrink)

    @search
    @given(data=st.data())
    def run(data):
        test_fn.hypothesis.inner_test(target=target, layer_kind=layer_kind, check=check, data=data)

    try:
        if hasattr(test_fn, "hypothesis"):
            run()
        else:
            test_fn(target, layer_kind, check, search)
    finally:
        target.clear()
    return check


# --- differential bites ---------------------------------------------------------------------


def known_failure_file() -> Path:
    """The reviewed known-failures file (shipped with the package, or at the repository root)."""
    shipped = getattr(kf, "SHIPPED_KNOWN_FAILURES", None)
    if shipped is not None and Path(shipped).is_file():
        return Path(shipped)
    return Path(__file__).resolve().parent.parent / "known_failures.toml"


def real_target(target: Target) -> Target:
    """The real target under any number of wrappers (``BrokenTarget.inner``)."""
    while hasattr(target, "inner") and isinstance(target.inner, Target):
        target = target.inner
    return target


def known_entries(target: Target, test_fn: Callable, layer_kind: str) -> list[kf.KnownFailure]:
    """The reviewed known failures of the real target under ``target`` for this test and layer."""
    real = real_target(target)
    return [
        e
        for e in kf.load_known_failures(known_failure_file())
        if e.matches(
            property_id=property_id(test_fn),
            layer=layer_kind,
            target=real.name,
            versions=dict(real.versions()),
            test=test_fn.__name__,
            device=target.device,
            precision=target.precision,
        )
    ]


def passes_on_real_target(
    test_fn: Callable,
    target: Target,
    layer_kind: str,
    *,
    max_examples: int,
    match: str | None = None,
    known_may_pass: bool = False,
) -> PropertyCheck:
    """The evidence of ``test_fn`` passing ``max_examples`` examples on the real ``target``,
    or an xfail where a reviewed known failure (``known_entries``) says it fails there.

    The real framework failing is a finding, reviewed in known_failures.toml: the test xfails
    with the entry's reason, once the run has raised (an exception whose message matches
    ``match``, where given). A run with a known entry that passes fails the test, unless
    ``known_may_pass``: then its evidence is returned like any passing run's. Without an
    entry, whatever the run raises fails the test.
    """
    known = known_entries(target, test_fn, layer_kind)
    if not known:
        return run_property(test_fn, target, layer_kind, max_examples=max_examples)
    reason = f"known failure of {target.name}: {known[0].reason}"
    if known_may_pass:
        try:
            return run_property(test_fn, target, layer_kind, max_examples=max_examples)
        except Exception:
            pytest.xfail(reason)
    with pytest.raises(Exception, match=match):  # a failure or a framework crash
        run_property(test_fn, target, layer_kind, max_examples=max_examples)
    pytest.xfail(reason)


class RecordedDraws:
    """Stands in for Hypothesis's ``data``: draws through it and keeps every value drawn."""

    def __init__(self, data: Any):
        self.data, self.values = data, []

    def draw(self, strategy, label=None):
        value = self.data.draw(strategy, label=label)
        self.values.append(copy.deepcopy(value))
        return value


class ReplayedDraws:
    """Stands in for Hypothesis's ``data``: hands out recorded draws, in order."""

    def __init__(self, values):
        self.values = copy.deepcopy(list(values))

    def draw(self, strategy, label=None):
        return self.values.pop(0)


class BiteError(AssertionError):
    """A bite proved nothing: the break crashed, failed another check, or the baseline failed."""


class _Enough(BaseException):
    """Ends the search at once (Hypothesis replays an ``Exception``, not this)."""


@dataclass
class Bite:
    """What a differential bite saw, example by example."""

    examples: int = 0  # examples the broken target ran
    bitten: int = 0  # failed on the broken target as expected, passed on the baseline
    missed: int = 0  # passed on the broken target
    known: int = 0  # the baseline failed them as a reviewed known failure says: not usable
    failure: PropertyFailure | None = None  # the first bite's failure
    baseline_checks: list[PropertyCheck] = field(default_factory=list)


def outcome(test_fn: Callable, target: Target, layer_kind: str, check, data) -> Exception | None:
    """Run ``test_fn``'s body once; the exception it raised, or ``None``."""
    try:
        test_fn.hypothesis.inner_test(target=target, layer_kind=layer_kind, check=check, data=data)
    except Exception as exc:  # judged by the caller: a bite, a known failure, or a defect
        if "skip" in type(exc).__name__.lower():
            raise
        return exc
    return None


def describe(exc: BaseException) -> str:
    label = getattr(exc, "check", None)
    return f"{type(exc).__name__}" + (f" (check {label!r})" if label else "") + f": {exc}"[:600]


def run_bite(
    test_fn: Callable,
    *,
    baseline: Target,
    broken: Target,
    layer_kind: str,
    expect: str,
    max_examples: int,
    bites_wanted: int = 1,
) -> Bite:
    """Run ``test_fn`` on ``broken`` and, on the examples it fails, on ``baseline``.

    A bite counts where the property fails on ``broken`` with a ``PropertyFailure``
    whose check label (``PropertyFailure.check``) matches the regular expression
    ``expect``, and passes on ``baseline`` on the very same example (the same drawn
    values, replayed). An example the baseline fails as one of its reviewed known
    failures says is set aside (the break is not what failed it), and the search goes
    on. Anything else raises ``BiteError``: the break made the property crash or fail
    another check, or the baseline failed in a way no reviewed entry describes. The
    search stops after ``bites_wanted`` bites, or after ``max_examples`` examples.

    Args:
        test_fn: a property test (or a ``Parametrized`` one).
        baseline: the target the property must pass on: the real one, wrapped in a
            no-op wrapper, or with a known framework bug repaired.
        broken: ``baseline`` with one promise broken.
        layer_kind: ``"LSTM"``, ``"GRU"`` or ``"SimpleRNN"``.
        expect: what the failing check's label must match.
        max_examples: how many derandomized examples the search may take.
        bites_wanted: bites after which the search stops.
    """
    known = known_entries(baseline, test_fn, layer_kind)
    bite = Bite()
    pid = property_id(test_fn)

    @derandomized(max_examples)
    @given(data=st.data())
    def search(data):
        bite.examples += 1
        draws = RecordedDraws(data)
        check = PropertyCheck(pid, layer_kind, broken.name, on_example=broken.new_example)
        failed = outcome(test_fn, broken, layer_kind, check, draws)
        if failed is None:
            bite.missed += 1
            return
        base_check = PropertyCheck(pid, layer_kind, baseline.name, on_example=baseline.new_example)
        base = outcome(test_fn, baseline, layer_kind, base_check, ReplayedDraws(draws.values))
        if base is not None:
            if kf.recognise(known, base) is None:
                raise BiteError(
                    f"the baseline {baseline.name} fails this example with a failure no "
                    f"reviewed entry describes: {describe(base)}"
                ) from base
            bite.known += 1
            return
        label = getattr(failed, "check", None)
        if not isinstance(failed, PropertyFailure) or not re.search(expect, label or ""):
            raise BiteError(
                f"{broken.name} made the property fail, but not by a check matching "
                f"{expect!r}: {describe(failed)}"
            ) from failed
        bite.bitten += 1
        bite.baseline_checks.append(base_check)
        if bite.failure is None:
            bite.failure = failed
        if bite.bitten >= bites_wanted:
            raise _Enough

    try:
        search()
    except _Enough:
        pass
    finally:
        broken.clear()
        baseline.clear()
    return bite


def assert_bitten(
    seen: Bite, broken: str, *, entry: str | None = None, baseline: str = "the baseline"
) -> None:
    """Fail unless ``run_bite`` saw the break ``broken`` bite, saying how many examples it
    searched, under which tolerance ``entry`` (where the bite names one), and how many it set
    aside as known failures of ``baseline``."""
    __tracebackhide__ = True
    under = f" under the {entry} tolerance" if entry is not None else ""
    assert seen.bitten == 1, (
        f"{broken} went unseen in {seen.examples} examples{under} "
        f"({seen.known} set aside as known failures of {baseline})"
    )
