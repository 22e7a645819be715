"""profiles: one table of Hypothesis profiles for every command."""

from __future__ import annotations

import pytest
from hypothesis import Phase

from harness.errors import HarnessUsageError
from harness.profiles import PROFILES, max_examples, profile_settings, without_shrinking


def test_every_profile_has_no_deadline_and_ci_replays_the_same_examples():
    assert PROFILES == ("ci", "dev", "thorough", "survey")
    assert all(profile_settings(name).deadline is None for name in PROFILES)
    ci = profile_settings("ci")
    assert ci.derandomize and ci.database is None and ci.max_examples == 25
    assert [max_examples(name) for name in PROFILES] == [25, 10, 300, 10]
    assert Phase.shrink not in profile_settings("survey").phases


def test_an_unknown_profile_is_a_usage_error_naming_the_choices():
    with pytest.raises(HarnessUsageError, match=r"--profile='fast' is not a profile; expected"):
        profile_settings("fast")


def test_without_shrinking_keeps_the_rest_and_stops_at_the_first_failure():
    settings = without_shrinking(profile_settings("ci"))
    assert Phase.shrink not in settings.phases and settings.report_multiple_bugs is False
    assert settings.max_examples == 25 and settings.derandomize
