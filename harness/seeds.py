"""Seeds: every test and layer draws from its own seed, derived from the run's seed.

The run's seed comes from ``--rnn-seed=N`` (``rnn-harness run --seed N``), else
``$RNN_HARNESS_SEED``, else ``--hypothesis-seed``. Without one, a derandomized profile
(``ci``, ``survey``) runs seed 0, the same examples on every run, and a random one
(``dev``, ``thorough``) draws a fresh seed; either way the seed is printed in the
header and written with the results, so that every run can be replayed.

Each test draws from ``derive_seed(run_seed, test_key(item))``: the key names the
module, the test function and its parameters, the layer included, never a path. So
LSTM, GRU and SimpleRNN get examples of their own, a test gets the same examples
whichever other tests run, and ``--rnn-seed=N`` replays any one test alone. The seed
is set as ``@hypothesis.seed`` sets it, on the test function for the duration of its
call; the profile's ``derandomize`` is turned off, since the seed replaces it (and
Hypothesis reads no example database while derandomized).

``--rnn-database=DIR`` (``$RNN_HARNESS_DATABASE``) keeps every failing example
Hypothesis finds in ``DIR`` and replays them first in the next run given the same
``DIR``, whatever its seed: how a failure found by a nightly exploration run comes
back in the next ordinary run (``docs/ci/explore.yml``). The test key is also the
test's key in that database, so each layer keeps its own entries. Without it, a
derandomized profile uses no database and the others Hypothesis's default
(``.hypothesis/`` in the working directory).
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import secrets
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from harness.errors import HarnessUsageError

SEED_ENV = "RNN_HARNESS_SEED"
DATABASE_ENV = "RNN_HARNESS_DATABASE"
MAX_RUN_SEED = 2**32 - 1  # run seeds are short enough to read out and type back
WORKER_KEY = "rnn_harness_run_seed"  # how pytest-xdist workers learn the controller's seed

_current: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "rnn_harness_test_seed", default=None
)


def parse_seed(value: str | int, *, source: str) -> int:
    """``value`` as a run seed, or a usage error naming ``source``.

    Example:
        >>> parse_seed("42", source="--rnn-seed")
        42
    """
    try:
        seed = int(value)
    except (TypeError, ValueError):
        seed = -1
    if not 0 <= seed <= MAX_RUN_SEED:
        raise HarnessUsageError(
            f"{source}={value!r} is not a seed; expected an integer from 0 to {MAX_RUN_SEED}, "
            "e.g. the seed a report names"
        )
    return seed


def random_run_seed() -> int:
    """A fresh run seed, for profiles that explore."""
    return secrets.randbelow(MAX_RUN_SEED + 1)


def resolve_run_seed(
    explicit: str | int | None, *, derandomized: bool, source: str = "--rnn-seed"
) -> int:
    """The run's seed: ``explicit`` (an option), else ``$RNN_HARNESS_SEED``, else 0 for a
    derandomized profile and a fresh random seed for the others.

    Example:
        >>> resolve_run_seed(None, derandomized=True) if "RNN_HARNESS_SEED" not in os.environ else 0
        0
    """
    if explicit is not None:
        return parse_seed(explicit, source=source)
    if os.environ.get(SEED_ENV):
        return parse_seed(os.environ[SEED_ENV], source=SEED_ENV)
    return 0 if derandomized else random_run_seed()


def derive_seed(run_seed: int, key: str) -> int:
    """The seed of one test: a hash of the run's seed and the test's key.

    Example:
        >>> derive_seed(0, "test_a::test_x[LSTM]") != derive_seed(0, "test_a::test_x[GRU]")
        True
    """
    digest = hashlib.sha256(f"{run_seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def test_key(item: pytest.Item) -> str:
    """``module::function[name=value-...]``: what identifies a test across runs and machines.

    The module's own name (not its package or path: the properties run from a checkout
    and from an installed package alike) and every parameter, sorted by name.
    """
    module = getattr(item, "module", None)
    module_name = module.__name__ if module is not None else item.path.stem
    name = getattr(item, "originalname", None) or item.name
    callspec = getattr(item, "callspec", None)
    return key(module_name, name, callspec.params if callspec is not None else {})


def key(module: str, function: str, params: dict[str, object]) -> str:
    """``test_key`` from its parts: the module's last name, the function, its parameters.

    Example:
        >>> key("properties.test_x", "test_y", {"rnn_layer_kind": "GRU"})
        'test_x::test_y[rnn_layer_kind=GRU]'
    """
    suffix = "-".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{module.rsplit('.', 1)[-1]}::{function}" + (f"[{suffix}]" if suffix else "")


def database_dir(explicit: str | None, *, source: str = "--rnn-database") -> Path | None:
    """The example database directory: ``explicit`` (an option), else ``$RNN_HARNESS_DATABASE``."""
    if explicit is None and os.environ.get(DATABASE_ENV):
        explicit, source = os.environ[DATABASE_ENV], DATABASE_ENV
    if not explicit:
        return None
    path = Path(explicit).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise HarnessUsageError(
            f"{source}={explicit!r} is a file; expected a directory for Hypothesis's example "
            "database (it is created if missing)"
        )
    return path


def seeded_settings(profile: settings, *, database: Path | None) -> settings:
    """``profile`` with per-test seeds in place of derandomization, and ``database`` if given.

    Example:
        >>> from harness.profiles import profile_settings
        >>> seeded_settings(profile_settings("ci"), database=None).derandomize
        False
    """
    if database is not None:
        return settings(
            profile, derandomize=False, database=DirectoryBasedExampleDatabase(database)
        )
    if profile.derandomize:
        return settings(profile, derandomize=False, database=None)
    return profile


def current_seed() -> int | None:
    """The seed of the test running now (``None`` outside a seeded run).

    For tests that are not ``@given`` and run Hypothesis themselves (the state machine):
    ``hypothesis.seed(current_seed())`` on what they run.
    """
    return _current.get()


class SeedPlugin:
    """Sets each test's derived seed around its call; hands the run's seed to xdist workers."""

    def __init__(self, run_seed: int):
        self.run_seed = run_seed

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        node.workerinput[WORKER_KEY] = self.run_seed

    # Innermost: after Hypothesis's own plugin gives a parametrized test its nodeid as
    # database key (a path that differs between a checkout and an install), ours wins.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item):
        test = getattr(item, "obj", None)
        if test is None:
            return (yield)
        key = test_key(item)
        seed = derive_seed(self.run_seed, key)
        handle = getattr(test, "hypothesis", None)
        inner = getattr(handle, "inner_test", None)
        saved = (
            getattr(test, "_hypothesis_internal_use_seed", None),
            getattr(inner, "_hypothesis_internal_add_digest", None),
        )
        token = _current.set(seed)
        try:
            if handle is not None:
                test._hypothesis_internal_use_seed = seed  # what @hypothesis.seed(seed) sets
                if inner is not None:
                    inner._hypothesis_internal_add_digest = key.encode()  # the database key
            return (yield)
        finally:
            _current.reset(token)
            if handle is not None:
                test._hypothesis_internal_use_seed = saved[0]
                if inner is not None:
                    if saved[1] is None:
                        del inner._hypothesis_internal_add_digest
                    else:
                        inner._hypothesis_internal_add_digest = saved[1]


def worker_run_seed(config: pytest.Config) -> int | None:
    """The controller's run seed on a pytest-xdist worker, ``None`` elsewhere."""
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else workerinput.get(WORKER_KEY)
