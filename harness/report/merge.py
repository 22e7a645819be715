"""Merge reports: the shards of one run, or runs of other targets or versions, into one.

``rnn-harness merge`` reads ``report.json`` files and builds one report of them through
``merge_payloads``, the same path ``rnn-harness run`` takes, so that every format and the
gate read it as they read a run's. An *environment* is a target with its versions,
device and precision: rows are keyed by ``(property, test, layer, target)`` within
their environment, so a row given twice for one environment (a shard merged twice,
shards of two runs, two reports that overlap) is refused, whatever the two statuses;
the same target in several environments (keras 3.0 and keras 3.15) stays apart, each
named by what differs, e.g. ``keras3-tensorflow (keras 3.0.5, tensorflow 2.16.2)``.
Shards of one environment must all be there: a missing one would pass the gate on
the tests it never ran.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from harness.errors import HarnessUsageError
from harness.report.model import Report, merge_payloads, row_identity
from harness.shards import parse_shard

# What makes two runs of one target name the same environment; the rest of a target's
# entry (a compilation cache's directory, device details) may differ between machines.
ENVIRONMENT_KEYS = ("versions", "device", "precision")
_SHARD_OPTION = re.compile(r" --(?:rnn-)?shard[ =]\d+/\d+")


def environment(info: dict[str, Any]) -> str:
    """A target entry's environment as a comparable string: name, versions, device, precision."""
    return json.dumps(
        [info.get("name"), *(info.get(k) for k in ENVIRONMENT_KEYS)], sort_keys=True, default=str
    )


def _label(info: dict[str, Any], others: list[dict[str, Any]]) -> str:
    """The target's name, plus what tells its environment from ``others`` of the same name."""
    if len(others) < 2:
        return str(info["name"])

    def facts(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            **(entry.get("versions") or {}),
            "device": entry.get("device"),
            "precision": entry.get("precision"),
        }

    mine = facts(info)
    differing = [k for k in mine if any(facts(o).get(k) != mine[k] for o in others)]
    differing += [k for o in others for k in facts(o) if k not in mine and k not in differing]
    return f"{info['name']} ({', '.join(f'{k} {mine.get(k)}' for k in differing)})"


def _one(values: dict[str, Any], what: str, fix: str) -> Any:
    """The one value every report has for ``what``, or a usage error naming two that differ."""
    distinct = list(dict.fromkeys(json.dumps(v) for v in values.values()))
    if len(distinct) > 1:
        first, second = (
            next(s for s, v in values.items() if json.dumps(v) == d) for d in distinct[:2]
        )
        raise HarnessUsageError(
            f"expected reports of one {what}. Received {what} {values[first]!r} in {first} and "
            f"{values[second]!r} in {second}. {fix}"
        )
    return next(iter(values.values()))


def _check_shards(shards: dict[str, dict[str, str | None]], labels: dict[str, str]) -> None:
    """Each environment run in shards has every shard of one N, each once."""
    for env, by_source in shards.items():
        given = {s: v for s, v in by_source.items() if v is not None}
        if not given:
            continue
        parsed = {s: parse_shard(v, source=f"{s}: shard") for s, v in given.items()}
        count = _one(
            {s: n for s, (_, n) in parsed.items()},
            f"shard count for {labels[env]}",
            "Merge the shards of one run (rnn-harness run --shard K/N, one N)",
        )
        whole = [s for s, v in by_source.items() if v is None]
        if whole:
            raise HarnessUsageError(
                f"{whole[0]} holds all of {labels[env]} and {next(iter(given))} one shard of "
                "it: expected the whole run or its shards, not both. Merge one of them"
            )
        missing = sorted(set(range(1, count + 1)) - {k for k, _ in parsed.values()})
        if missing:
            raise HarnessUsageError(
                f"expected shards 1 to {count} of {labels[env]}. Received no "
                f"{', '.join(f'{k}/{count}' for k in missing)}. Pass every shard's report.json"
            )


def merge_reports(reports: Sequence[tuple[str, Report]], *, created: str | None = None) -> Report:
    """One report of ``reports`` (each ``(source, report)``, from ``load_report``).

    Args:
        reports: the reports and what to call each in a message (its path).
        created: the merged report's timestamp; now when ``None``.

    Raises ``HarnessUsageError`` (one line) for reports of different profiles or seeds, a
    row given twice for one environment, or a shard missing or given twice.

    >>> from harness.report.model import merge_payloads
    >>> def run(status):
    ...     row = {"property": "chunked_equals_whole", "layer": "LSTM", "status": status}
    ...     info = {"name": "keras3-jax", "versions": {"keras": "3.15.1"}, "device": "cpu"}
    ...     return merge_payloads([{"target": info, "results": [row]}], profile="ci", seed=0)
    >>> merge_reports([("a.json", run("passed")), ("b.json", run("failed"))])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    harness.errors.HarnessUsageError: b.json repeats a result of a.json for one environment: ...
    """
    if not reports:
        raise HarnessUsageError("expected at least one report.json to merge. Received none")
    fix = "Merge runs made with the same --profile and --seed"
    profile = _one({s: r.get("profile") for s, r in reports}, "profile", fix)
    seed = _one({s: r.get("seed") for s, r in reports}, "seed", fix)
    infos: dict[str, dict[str, Any]] = {}  # environment -> its target entry
    for _, report in reports:
        for info in report["targets"]:
            infos.setdefault(environment(info), info)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for info in infos.values():
        by_name.setdefault(str(info.get("name")), []).append(info)
    labels = {env: _label(info, by_name[str(info.get("name"))]) for env, info in infos.items()}

    rows: dict[str, list[dict[str, Any]]] = {env: [] for env in infos}
    seen: dict[tuple, tuple[str, str]] = {}  # identity -> (source, status)
    shards: dict[str, dict[str, str | None]] = {}
    for source, report in reports:
        envs = {t.get("name"): environment(t) for t in report["targets"]}
        for env in envs.values():
            shards.setdefault(env, {})[source] = report.get("shard")
        for row in report["results"]:
            env = envs.get(row["target"])
            if env is None:  # a row of a target the report does not describe
                env = environment({"name": row["target"]})
                infos.setdefault(env, {"name": row["target"], "versions": {}})
                labels.setdefault(env, row["target"])
                rows.setdefault(env, [])
            key = (env, *row_identity(row))
            if key in seen:
                first, status = seen[key]
                prop, test, layer, _ = row_identity(row)
                statuses = (
                    f"{status!r}, then {row['status']!r}"
                    if status != row["status"]
                    else f"both {status!r}"
                )
                raise HarnessUsageError(
                    f"{source} repeats a result of {first} for one environment: {test} "
                    f"({prop}) on {layer} and {labels[env]} ({statuses}). Expected each test "
                    "once per environment: merge each shard once, and shards of one run only"
                )
            seen[key] = (source, row["status"])
            rows[env].append({**row, "target": labels[env], "reproducer": None})
    _check_shards(shards, labels)

    payloads = []
    known = [f for _, r in reports for f in r.get("known_failures") or []]
    for env, info in infos.items():
        payload = {"target": {**info, "name": labels[env]}, "results": rows[env]}
        if any("known_failures" in r for _, r in reports):
            payload["known_failures"] = list(dict.fromkeys(known))
        payloads.append(payload)
    merged = merge_payloads(payloads, profile=profile, seed=seed, created=created)
    merged["merged_from"] = [
        {
            "report": source,
            "created": r.get("created"),
            "shard": r.get("shard"),
            "targets": [t.get("name") for t in r["targets"]],
        }
        for source, r in reports
    ]
    merged["replay_commands"] = _replay_commands(reports)
    return merged


def _replay_commands(reports: Sequence[tuple[str, Report]]) -> list[str]:
    """Each source's replay commands without its shard, once each: shards of one run
    replay as the whole run; runs in other environments each need their own."""
    from harness.report.writers import replay_commands

    commands = [_SHARD_OPTION.sub("", c) for _, r in reports for c in replay_commands(r)]
    return list(dict.fromkeys(commands))
