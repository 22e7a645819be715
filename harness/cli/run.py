"""``rnn-harness run``: the properties on each target, the reports, and the CI gate."""

from __future__ import annotations

import argparse

from harness.cli.arguments import workers, writable_directory
from harness.cli.console import err, out
from harness.cli.known import resolve_known_failures, warn_stale_known_failures
from harness.cli.progress import summary_table
from harness.cli.selection import (
    resolve_custom_layers,
    resolve_layers,
    resolve_properties,
    resolve_targets,
)
from harness.cli.target_run import not_run_payload, run_target
from harness.errors import EXIT_INTERRUPTED, EXIT_OK
from harness.precision import DEFAULT_PRECISION, PRECISIONS
from harness.profiles import PROFILES, profile_settings
from harness.seeds import DATABASE_ENV, SEED_ENV, database_dir, resolve_run_seed
from harness.shards import parse_shard, shard_text
from harness.specs import EXTRA_LAYER_KINDS, LAYER_KINDS
from harness.targets import TARGET_NAMES

DEFAULT_OUT = "reports/latest"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``run`` and its options to ``subparsers``."""
    run = subparsers.add_parser("run", help="run the properties on targets, write reports, gate")
    run.add_argument(
        "--targets",
        help=f"comma list of {', '.join(TARGET_NAMES)} or 'all' (default: every installed one)",
    )
    run.add_argument(
        "--profile", default="ci", choices=PROFILES, help="Hypothesis profile (default: ci)"
    )
    run.add_argument("--properties", help="comma list of property ids (default: all implemented)")
    run.add_argument(
        "--layers",
        help=f"comma list of {', '.join(LAYER_KINDS)} (the default) and, when named, "
        f"{', '.join(EXTRA_LAYER_KINDS)}",
    )
    run.add_argument(
        "--layer",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="a user's layer (repeatable): NAME in MODULE, imported from this directory or "
        "PYTHONPATH, takes units and keras.layers.RNN's keyword arguments and returns a "
        "recurrent layer; only these run unless --layers is given too",
    )
    run.add_argument(
        "--out", default=DEFAULT_OUT, help=f"report directory (default: {DEFAULT_OUT})"
    )
    run.add_argument(
        "--known-failures",
        action="append",
        metavar="PATH",
        help="a project's own known-failures TOML, in addition to the reviewed file shipped "
        "with rnn-harness; repeatable (default: the shipped file only)",
    )
    run.add_argument(
        "--no-shipped-known-failures",
        action="store_true",
        help="do not apply the known-failures file shipped with rnn-harness (default: apply it)",
    )
    run.add_argument(
        "--seed",
        help="the run's seed: each test and layer draws from its own seed derived from it "
        f"(default: ${SEED_ENV}, else 0 for ci and survey, the same examples every run, "
        "else a fresh random seed; the report names it and the command that replays it)",
    )
    run.add_argument(
        "--database",
        metavar="DIR",
        help="Hypothesis example database: failing examples are kept in DIR and replayed "
        "first by the next run given DIR, whatever its seed (docs/ci/explore.yml) "
        f"(default: ${DATABASE_ENV}, else none for ci and survey)",
    )
    run.add_argument(
        "--no-shrink",
        action="store_true",
        help="report failures with the first counterexample found, not a minimal one: "
        "for machines whose time is scarce (default: shrink)",
    )
    run.add_argument(
        "--precision",
        default=DEFAULT_PRECISION,
        choices=PRECISIONS,
        help="float32 precision on GPUs: strict turns TF32 off and keeps tolerances close to "
        "the CPU's; native keeps the framework's defaults, with measured tolerances "
        "(default: strict; the same on a CPU)",
    )
    run.add_argument(
        "--shard",
        metavar="K/N",
        help="run only the K-th of N deterministic, balanced parts of each target's tests, "
        "for one CI job of N; `rnn-harness merge` joins the shards' report.json files "
        "(default: every test)",
    )
    run.add_argument(
        "-n",
        "--workers",
        default="1",
        type=workers,
        help="pytest-xdist workers per target, or 'auto' (default: 1)",
    )
    run.set_defaults(func=cmd_run)
    return run


def cmd_run(args: argparse.Namespace) -> int:
    """Run every target in turn, write the reports, warn about stale known failures, gate."""
    from harness.report import merge_payloads, write_all
    from harness.report.model import exit_code
    from harness.report.writers import replay_commands
    from harness.reproducers import write_reproducers

    targets = resolve_targets(args.targets)
    properties = resolve_properties(args.properties)
    layers = resolve_layers(args.layers) if args.layers or not args.layer else []
    layers += resolve_custom_layers(args.layer)
    known_files, known = resolve_known_failures(
        args.known_failures, shipped=not args.no_shipped_known_failures
    )
    derandomized = profile_settings(args.profile).derandomize
    seed = resolve_run_seed(args.seed, derandomized=derandomized, source="--seed")
    database = database_dir(args.database, source="--database")
    shard = parse_shard(args.shard) if args.shard is not None else None
    out_dir = writable_directory(args.out, option="--out")
    work = out_dir / "logs"
    work.mkdir(parents=True, exist_ok=True)
    out.print(
        f"rnn-harness run: targets={','.join(targets)} profile={args.profile} seed={seed} "
        f"precision={args.precision} properties={len(properties)} layers={','.join(layers)}"
        + f" known-failures={','.join(map(str, known_files)) or 'none'}"
        + (f" database={database}" if database else "")
        + (f" shard={shard_text(shard)}" if shard else "")
    )
    payloads = []
    for target in targets:
        if payloads and payloads[-1].get("interrupted"):
            payloads.append(not_run_payload(target, properties, layers, args.precision))
            continue
        payloads.append(
            run_target(
                target,
                properties=properties,
                layers=layers,
                profile=args.profile,
                seed=seed,
                database=database,
                known_failures=known_files,
                workers=str(args.workers),
                work=work,
                precision=args.precision,
                shrink=not args.no_shrink,
                shard=shard,
            )
        )
    report = merge_payloads(payloads, profile=args.profile, seed=seed)
    if shard is not None:
        report["shard"] = shard_text(shard)  # rnn-harness merge checks that every shard is there
    # report.json names the commands that replay the run too, not only report.md.
    commands = replay_commands(report)
    if database is not None:  # the examples it replayed first came from there
        commands[0] += f" --database {database}"
    if shard is not None:
        commands = [
            c + (f" --shard {shard_text(shard)}" if i == 0 else f" --rnn-shard={shard_text(shard)}")
            for i, c in enumerate(commands)
        ]
    report["replay_commands"] = commands
    write_reproducers(report, out_dir)
    paths = write_all(report, out_dir)
    out.print(summary_table(report))
    interrupted = any(p.get("interrupted") for p in payloads)
    if not interrupted and shard is None:  # a shard runs part of the cells: nothing is stale
        warn_stale_known_failures(
            known, report, targets=targets, properties=properties, layers=layers
        )
    summary = ", ".join(f"{v} {k}" for k, v in report["summary"].items() if v)
    out.print(f"summary: {summary}")
    out.print("reports: " + ", ".join(str(p) for p in paths.values()))
    code = exit_code(report)
    if interrupted:
        err.print("rnn-harness: interrupted: the report holds what finished; the rest is 'not run'")
        return EXIT_INTERRUPTED
    out.print(
        "gate: [green]pass[/]" if code == EXIT_OK else "gate: [bold red]FAIL[/] (new failures)"
    )
    return code
