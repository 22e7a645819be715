"""Shards: a deterministic, balanced part of a run's tests, for one CI job of several.

``rnn-harness run --shard K/N`` (pytest: ``--rnn-shard=K/N``) keeps every N-th test of the
collected tests sorted by a key that does not depend on where the run happens (the
module's file name and the rest of the node id, never the directory pytest was started
from), starting with the K-th. Every machine that collects the same tests keeps the same
part; the N parts are disjoint, cover every test, and differ in size by one test at most.
``rnn-harness merge`` puts the shards' reports back together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from harness.errors import HarnessUsageError

SHARD_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
T = TypeVar("T")


def parse_shard(raw: str, *, source: str = "--shard") -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)`` with ``1 <= K <= N``, or a usage error naming ``source``.

    Example:
        >>> parse_shard("2/3")
        (2, 3)
    """
    match = SHARD_PATTERN.match(str(raw))
    index, count = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not match or count < 1 or not 1 <= index <= count:
        raise HarnessUsageError(
            f"{source}={raw!r}: expected K/N with 1 <= K <= N, e.g. {source}=1/4 for the "
            "first of four shards"
        )
    return index, count


def shard_text(shard: tuple[int, int]) -> str:
    """``(2, 3)`` as ``"2/3"``."""
    return f"{shard[0]}/{shard[1]}"


def node_sort_key(nodeid: str, file_name: str) -> tuple[str, str, str]:
    """The order shards are dealt in: file name, then the node id past the path, then the id.

    Example:
        >>> node_sort_key("../site/properties/test_a.py::test_x[LSTM]", "test_a.py")
        ('test_a.py', 'test_x[LSTM]', '../site/properties/test_a.py::test_x[LSTM]')
    """
    return (file_name, nodeid.split("::", 1)[-1], nodeid)


def select(items: Sequence[T], keys: Sequence[tuple], shard: tuple[int, int]) -> list[T]:
    """The items of ``shard`` (``(K, N)``), in their original order: every N-th by ``keys``.

    Example:
        >>> select(["c", "a", "b", "d"], [("c",), ("a",), ("b",), ("d",)], (1, 2))
        ['c', 'a']
    """
    index, count = shard
    order = sorted(range(len(items)), key=lambda i: keys[i])
    mine = set(order[index - 1 :: count])
    return [item for i, item in enumerate(items) if i in mine]
