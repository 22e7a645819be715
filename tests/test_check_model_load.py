"""harness.check_model.load: what check_model accepts as a model.

Model files (missing, not a model, needing safe_mode=False) are covered through
the command line in tests/test_check_model_cli.py.
"""

from __future__ import annotations

import pytest

from harness.check_model import check_model
from harness.errors import HarnessUsageError


def test_an_object_that_is_not_a_model_is_a_usage_error(target):
    with pytest.raises(HarnessUsageError, match=r"expects a keras\.Model"):
        check_model(object())
