"""Hypothesis profiles: how many examples, how random, whether failures shrink.

One table for every command: the pytest plugin loads these settings, ``rnn-harness
run`` and ``matrix`` validate profile names against them, and ``check-model`` takes
its example count from them.

| profile | examples | randomness | use |
|---|---|---|---|
| ``dev`` | 10 | random, with the example database | while editing |
| ``ci`` | 25 | derandomized, no database | CI and the gate |
| ``thorough`` | 300 | random | before a release, after an upgrade, nightly |
| ``survey`` | 10 | derandomized, no shrinking | many environments (``rnn-harness matrix``) |

Under the pytest plugin (and so ``rnn-harness run``) each test and layer draws from
its own seed, derived from the run's (``harness.seeds``): "derandomized" means run
seed 0 unless ``--seed``/``--rnn-seed`` names another, the same examples every run;
"random" a fresh run seed, printed and recorded. ``--database``/``--rnn-database``
gives any profile an example database.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, Verbosity, settings

from harness.errors import HarnessUsageError

PROFILE_ENV = "RNN_HARNESS_PROFILE"
DEFAULT_PROFILE = "dev"
# Keras traces and compiles on first use of a shape: timing deadlines would flake.
SUPPRESSED_HEALTH_CHECKS = (
    HealthCheck.function_scoped_fixture,
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
)
_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": SUPPRESSED_HEALTH_CHECKS,
}
_PROFILE_OPTIONS: dict[str, dict] = {
    "ci": {"derandomize": True, "database": None, "max_examples": 25},
    "dev": {"max_examples": 10},
    "thorough": {"max_examples": 300, "verbosity": Verbosity.normal},
    # For surveys of many environments (rnn-harness matrix), where statuses matter more
    # than minimal counterexamples: shrinking a failure can take minutes per test.
    "survey": {
        "max_examples": 10,
        "derandomize": True,
        "database": None,
        "phases": (Phase.explicit, Phase.reuse, Phase.generate),
    },
}
PROFILES = tuple(_PROFILE_OPTIONS)


def validate_profile(name: str, *, source: str = "--profile") -> str:
    """``name`` if it is a profile, else a usage error naming ``source``."""
    if name not in _PROFILE_OPTIONS:
        raise HarnessUsageError(
            f"{source}={name!r} is not a profile; expected one of {', '.join(PROFILES)}"
        )
    return name


def profile_settings(name: str) -> settings:
    """The Hypothesis settings of profile ``name`` (not registered, not loaded).

    Example:
        >>> profile_settings("ci").max_examples
        25
    """
    return settings(**_COMMON, **_PROFILE_OPTIONS[validate_profile(name)])


def max_examples(name: str) -> int:
    """How many examples profile ``name`` runs per test."""
    return profile_settings(name).max_examples


def without_shrinking(parent: settings) -> settings:
    """``parent`` without the shrink phase, stopping at the first failure as shrinking would."""
    return settings(
        parent=parent,
        phases=[p for p in parent.phases if p is not Phase.shrink],
        report_multiple_bugs=False,
    )


def register_profiles() -> None:
    """Register every profile under its own name, for ``--hypothesis-profile NAME``."""
    for name in PROFILES:
        settings.register_profile(name, profile_settings(name))
