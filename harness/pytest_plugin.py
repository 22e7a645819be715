"""pytest plugin: target selection, Hypothesis profiles, known failures, results.

Registered through the ``pytest11`` entry point, so it is loaded into every pytest
session of an environment where rnn-harness is installed. There it stays inert: it
registers or loads no Hypothesis profile, changes no environment variable, exports
no fixture but the ``rnn_``-prefixed ones (``rnn_target``, ``rnn_layer_kind``,
``rnn_check``) and its hooks do nothing, until it is activated (``activate``):

- by an ``--rnn-*`` option (or ``--target``), or an ``RNN_HARNESS_*`` variable;
- by test paths that name the property modules (``pytest properties``,
  ``pytest --pyargs harness.properties``);
- by the conftest of a directory of property tests (``harness.property_fixtures``),
  which pytest loads before it collects them.

Then it sets the target's environment (Keras picks its backend at import), loads
the Hypothesis profile, applies the known failures (the file shipped with
rnn-harness, plus ``--rnn-known-failures=PATH`` of a project's own) and writes
results. Its state lives in ``config.stash`` and ``item.stash``. Laid out in the
order pytest calls the hooks.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.errors import Flaky

from harness import seeds
from harness.catalogue import PROPERTY_IDS
from harness.check import PropertyCheck
from harness.custom_layers import is_custom
from harness.custom_layers import load as load_custom_layer
from harness.env import apply_target_environment, installed_versions
from harness.errors import HarnessUsageError
from harness.known_failures import (
    KnownFailure,
    known_failure_files,
    load_known_failure_files,
    recognise,
)
from harness.layer_kinds import not_applicable
from harness.precision import PRECISION_ENV, precision_from_env, validate_precision
from harness.profiles import (
    DEFAULT_PROFILE,
    PROFILE_ENV,
    PROFILES,
    register_profiles,
    without_shrinking,
)
from harness.recognition import Recognition
from harness.report.row import ResultRow
from harness.shards import node_sort_key, parse_shard, select
from harness.specs import ALL_LAYER_KINDS, LAYER_KINDS
from harness.targets import default_target_name, get_target, validate_target_name

PACKAGE = Path(__file__).resolve().parent
ENV_PREFIX = "RNN_HARNESS_"
LAYER_FIXTURE = "rnn_layer_kind"
# Options whose value is a path: see _refuse_separate_path_values.
PATH_OPTIONS = ("--rnn-known-failures", "--rnn-results", "--rnn-progress", "--rnn-database")
# The profile a known-failure test that is not @given runs under (registered once).
KNOWN_FAILURE_PROFILE = "rnn-harness-known-failure"


@dataclass
class Harness:
    """What an active session runs, set once by ``activate``."""

    target: str
    layers: tuple[str, ...]
    precision: str
    profile: str
    shrink: bool
    known_files: list[Path]
    known: list[KnownFailure]
    seed: int = 0  # the run's seed; each test draws from one derived from it (harness.seeds)
    database: Path | None = None  # Hypothesis's example database directory, if given
    known_profile: bool = False  # KNOWN_FAILURE_PROFILE registered
    shard: tuple[int, int] | None = None  # (K, N): run only the K-th of N parts (harness.shards)


@dataclass
class ItemState:
    """One property test: the known failures that may apply, its evidence, its recognition."""

    known: list[KnownFailure] = field(default_factory=list)
    check: PropertyCheck | None = None
    start: float = 0.0
    recognition: Recognition | None = None


HARNESS = pytest.StashKey[Harness]()
ITEM = pytest.StashKey[ItemState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnn-harness", "rnn-harness: Keras recurrent-layer state semantics")
    group.addoption(
        "--rnn-target",
        "--target",
        dest="rnn_target",
        default=None,
        help="framework target to test (default: keras3-$KERAS_BACKEND, else keras3-tensorflow)",
    )
    group.addoption(
        "--rnn-precision",
        dest="rnn_precision",
        default=None,
        help="float32 precision on GPUs: strict (TF32 off, tolerances close to the CPU's) or "
        f"native (framework defaults, measured tolerances); default: ${PRECISION_ENV}, else strict",
    )
    group.addoption(
        "--rnn-no-shrink",
        dest="rnn_no_shrink",
        action="store_true",
        help="keep the first failing example instead of shrinking it (for scarce machines)",
    )
    group.addoption(
        "--rnn-layers",
        dest="rnn_layers",
        default=None,
        help="comma list of layer kinds to run (default: LSTM,GRU,SimpleRNN)",
    )
    group.addoption(
        "--rnn-known-failures",
        dest="rnn_known_failures",
        action="append",
        default=None,
        metavar="PATH",
        help="a project's own known-failures TOML, in addition to the reviewed file shipped "
        "with rnn-harness; repeatable; write --rnn-known-failures=PATH",
    )
    group.addoption(
        "--rnn-no-shipped-known-failures",
        dest="rnn_no_shipped_known_failures",
        action="store_true",
        help="do not apply the known-failures file shipped with rnn-harness (default: apply it)",
    )
    group.addoption(
        "--rnn-seed",
        dest="rnn_seed",
        default=None,
        help="the run's seed: each test and layer draws from its own seed derived from it "
        f"(default: ${seeds.SEED_ENV}, else 0 for derandomized profiles such as ci, "
        "else a fresh random seed; printed in the header)",
    )
    group.addoption(
        "--rnn-database",
        dest="rnn_database",
        default=None,
        metavar="DIR",
        help="keep failing examples in this directory and replay them first on the next run "
        f"(default: ${seeds.DATABASE_ENV}, else none for derandomized profiles, else "
        "Hypothesis's .hypothesis/); write --rnn-database=DIR",
    )
    group.addoption(
        "--rnn-shard",
        dest="rnn_shard",
        default=None,
        metavar="K/N",
        help="run only the K-th of N deterministic, balanced parts of the collected tests "
        "(one CI job of N); default: all of them",
    )
    group.addoption(
        "--rnn-progress",
        dest="rnn_progress",
        default=None,
        help="append one JSON line per test start and finish to this file (default: none)",
    )
    group.addoption(
        "--rnn-results",
        dest="rnn_results",
        default=None,
        help="write per-test results as JSON to this file (default: not written)",
    )


OPTION_DESTS = (
    "rnn_target",
    "rnn_precision",
    "rnn_no_shrink",
    "rnn_layers",
    "rnn_known_failures",
    "rnn_no_shipped_known_failures",
    "rnn_progress",
    "rnn_results",
    "rnn_seed",
    "rnn_database",
    "rnn_shard",
)


@pytest.hookimpl(tryfirst=True)  # before Hypothesis's plugin loads --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rnn_property(id): the catalogue id a property test checks")
    if (
        any(config.getoption(dest, default=None) for dest in OPTION_DESTS)
        or any(key.startswith(ENV_PREFIX) for key in os.environ)
        or _names_properties(config)
    ):
        activate(config)


def _names_properties(config: pytest.Config) -> bool:
    """Whether a test path of the session is, or lies in, a directory of property modules."""
    homes = [
        d.resolve() for d in (PACKAGE / "properties", PACKAGE.parent / "properties") if d.is_dir()
    ]
    for arg in config.args:
        name = arg.split("::", 1)[0]
        if config.option.pyargs and (name == "harness" or name.startswith("harness.")):
            path = PACKAGE.joinpath(*name.split(".")[1:])  # found without importing anything
        else:
            path = config.invocation_params.dir / name
        path = path.resolve()
        if any(path == home or home in path.parents for home in homes):
            return True
    return False


def activate(config: pytest.Config) -> Harness:
    """Turn the harness on for this session, once: validate the options, set the target's
    environment, load the Hypothesis profile, read the known failures, collect results."""
    harness = config.stash.get(HARNESS, None)
    if harness is not None:
        return harness
    _refuse_separate_path_values(config)
    target = config.getoption("rnn_target") or default_target_name()
    try:
        validate_target_name(target)
        precision = config.getoption("rnn_precision")
        if precision is not None:
            # Through the environment: targets read it, and so do xdist workers.
            os.environ[PRECISION_ENV] = validate_precision(precision, source="--rnn-precision")
        files = known_failure_files(
            config.getoption("rnn_known_failures") or (),
            shipped=not config.getoption("rnn_no_shipped_known_failures"),
        )
        known = load_known_failure_files(files, property_ids=PROPERTY_IDS)
        shard = config.getoption("rnn_shard")
        shard = parse_shard(shard, source="--rnn-shard") if shard is not None else None
    except HarnessUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    layers = _layers(config)
    # Keras 3 reads the backend at import: fix it before any test module imports keras.
    apply_target_environment(target)
    shrink = not config.getoption("rnn_no_shrink")
    try:
        database = seeds.database_dir(config.getoption("rnn_database"))
    except HarnessUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    profile, run_seed = _load_profile(config, shrink=shrink, database=database)
    harness = Harness(
        target=target,
        layers=layers,
        precision=precision_from_env(),
        profile=profile,
        shrink=shrink,
        known_files=files,
        known=known,
        seed=run_seed,
        database=database,
        shard=shard,
    )
    config.stash[HARNESS] = harness
    config.pluginmanager.register(seeds.SeedPlugin(run_seed), "rnn-harness-seeds")
    config.pluginmanager.register(ResultCollector(config), "rnn-harness-results")
    return harness


def _active(config: pytest.Config) -> Harness | None:
    return config.stash.get(HARNESS, None)


def _refuse_separate_path_values(config: pytest.Config) -> None:
    """A usage error for ``--rnn-known-failures PATH`` where the separate token moved pytest's
    rootdir search.

    pytest chooses its rootdir and config file before it loads plugins, so it takes
    the value of a plugin's option given as a separate token for a test path: one
    that names an existing file elsewhere than the test paths can make it read
    another project's settings. ``--rnn-known-failures=PATH`` (one token) never does.
    """
    namespace = config.known_args_namespace
    if namespace.rootdir and namespace.inifilename:
        return  # both given: nothing was searched for
    here = config.invocation_params.dir
    args = list(config.invocation_params.args)
    tests = [here / str(a).split("::", 1)[0] for a in namespace.file_or_dir]
    start = _search_start(tests, here)
    for option, value in itertools.pairwise(args):
        if option in PATH_OPTIONS and _search_start([*tests, here / value], here) != start:
            raise pytest.UsageError(
                f"{option} {value}: pytest took {value!r} for a test path when it chose its "
                f"rootdir and config file (it reads plugin options later). "
                f"Write {option}={value} (one token)"
            )


def _search_start(paths: list[Path], here: Path) -> Path:
    """Where pytest starts looking for its rootdir and config file: the deepest directory
    common to the test paths that exist (a file stands for its directory), else ``here``."""
    found = [Path(os.path.abspath(p)) for p in paths]
    dirs = [p if p.is_dir() else p.parent for p in found if p.exists()]
    return Path(os.path.commonpath(dirs)) if dirs else here


def _profile_name(config: pytest.Config) -> str:
    explicit = config.getoption("hypothesis_profile", default=None)
    name = explicit or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PROFILES and explicit is None:
        raise pytest.UsageError(
            f"{PROFILE_ENV}={name!r} is not a profile; expected one of {', '.join(PROFILES)}"
        )
    return name


def _load_profile(config: pytest.Config, *, shrink: bool, database: Path | None) -> tuple[str, int]:
    """Register the harness's profiles and load the session's; return its name and the
    run's seed.

    Loaded explicitly, so that CI=true does not silently swap in Hypothesis's own ``ci``
    profile. Each test's own seed, derived from the run's (``harness.seeds``), replaces
    derandomization and lets ``database`` be read; ``--rnn-no-shrink`` drops shrinking:
    the profile is registered again under its own name with those changes, for this
    session only, so that Hypothesis's plugin, loading ``--hypothesis-profile`` after
    this, loads the same.
    """
    register_profiles()
    name = _profile_name(config)
    try:
        chosen = base = settings.get_profile(name)
    except Exception:  # hypothesis.errors.InvalidArgument: nobody registered it
        raise pytest.UsageError(
            f"--hypothesis-profile={name!r} is not a profile; expected one of "
            f"{', '.join(PROFILES)}, or one your conftest registers"
        ) from None
    run_seed = _run_seed(config, derandomized=base.derandomize)
    chosen = seeds.seeded_settings(chosen, database=database)
    if not shrink:
        chosen = without_shrinking(chosen)
    if chosen is not base:
        settings.register_profile(name, chosen)
    settings.load_profile(name)
    return name, run_seed


def _run_seed(config: pytest.Config, *, derandomized: bool) -> int:
    """The controller's seed on an xdist worker; else ``--rnn-seed`` (or ``--hypothesis-seed``),
    ``$RNN_HARNESS_SEED``, 0 for a derandomized profile, or a fresh random seed."""
    on_worker = seeds.worker_run_seed(config)
    if on_worker is not None:
        return on_worker
    explicit = config.getoption("rnn_seed")
    if explicit is None:
        explicit = config.getoption("hypothesis_seed", default=None)
    try:
        return seeds.resolve_run_seed(explicit, derandomized=derandomized)
    except HarnessUsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def _layers(config: pytest.Config) -> tuple[str, ...]:
    raw = config.getoption("rnn_layers")
    if not raw:
        return LAYER_KINDS
    layers = tuple(s.strip() for s in raw.split(",") if s.strip())
    unknown = [s for s in layers if s not in ALL_LAYER_KINDS and not is_custom(s)]
    if unknown or not layers:
        raise pytest.UsageError(
            f"--rnn-layers={raw!r}: unknown layer kind(s) {', '.join(unknown) or '(none given)'}; "
            f"expected a comma list of {', '.join(ALL_LAYER_KINDS)} or MODULE:NAME"
        )
    for name in filter(is_custom, layers):  # import them now: a typo is a usage error
        try:
            load_custom_layer(name)
        except HarnessUsageError as exc:
            raise pytest.UsageError(str(exc)) from None
    return layers


def pytest_report_header(config: pytest.Config) -> list[str]:
    harness = _active(config)
    if harness is None:
        return []
    profile = settings()  # the profile as loaded, seeded
    versions = ", ".join(f"{k} {v}" for k, v in installed_versions(harness.target).items())
    return [
        f"rnn-harness: target={harness.target} layers={','.join(harness.layers)} "
        f"precision={harness.precision}",
        f"rnn-harness: versions: {versions}",
        f"rnn-harness: hypothesis profile={harness.profile} "
        f"(max_examples={profile.max_examples}"
        + ("" if harness.shrink else ", no shrinking")
        + f"), seed={harness.seed} (each test and layer draws from its own seed, derived "
        "from it)" + (f", example database {harness.database}" if harness.database else ""),
        f"rnn-harness: known failures: {', '.join(map(str, harness.known_files)) or 'none'}",
        "rnn-harness: replay with: " + _replay_command(config, harness),
    ]


def _replay_command(config: pytest.Config, harness: Harness) -> str:
    """The pytest command that replays this session: its paths, target, layers, known
    failures, profile, seed and shard."""
    paths = " ".join(shlex.quote(str(a)) for a in config.args if not str(a).startswith("-"))
    command = f"pytest {paths} " if paths else "pytest "
    command += f"--target {harness.target} --rnn-layers={','.join(harness.layers)} "
    command += f"--rnn-precision {harness.precision} --hypothesis-profile {harness.profile} "
    command += f"--rnn-seed {harness.seed}"
    if config.getoption("rnn_no_shipped_known_failures"):
        command += " --rnn-no-shipped-known-failures"
    for name in config.getoption("rnn_known_failures") or ():
        command += f" --rnn-known-failures={shlex.quote(str(name))}"
    if not harness.shrink:
        command += " --rnn-no-shrink"
    if harness.shard:
        command += f" --rnn-shard={harness.shard[0]}/{harness.shard[1]}"
    return command


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    harness = _active(metafunc.config)
    if harness is not None and LAYER_FIXTURE in metafunc.fixturenames:
        metafunc.parametrize(LAYER_FIXTURE, harness.layers)


def _property_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("rnn_property")
    return marker.args[0] if marker else None


def _layer(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(LAYER_FIXTURE) if callspec else None


def test_name(item: pytest.Item) -> str:
    """The test function and its parameters other than the layer, e.g. ``test_paths[fit]``."""
    callspec = getattr(item, "callspec", None)
    params = [
        str(v) for k, v in (callspec.params.items() if callspec else []) if k != LAYER_FIXTURE
    ]
    name = getattr(item, "originalname", None) or item.name
    return f"{name}[{'-'.join(params)}]" if params else name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    harness = _active(config)
    if harness is not None and harness.shard is not None:
        keys = [node_sort_key(item.nodeid, item.path.name) for item in items]
        kept = select(items, keys, harness.shard)
        if len(kept) < len(items):
            chosen = set(map(id, kept))
            config.hook.pytest_deselected(items=[i for i in items if id(i) not in chosen])
            items[:] = kept
    if harness is None or not harness.known:
        return
    versions = installed_versions(harness.target)
    for item in items:
        prop, layer = _property_id(item), _layer(item)
        if prop is None or layer is None:
            continue
        entries = [
            e
            for e in harness.known
            if e.matches(
                property_id=prop,
                layer=layer,
                target=harness.target,
                versions=versions,
                test=test_name(item),
            )
        ]
        if entries:
            item.stash[ITEM] = ItemState(known=entries)


def _harness_for(config: pytest.Config, fixture: str) -> Harness:
    harness = _active(config)
    if harness is None:
        pytest.fail(
            f"{fixture}: rnn-harness is not active in this session. Pass an --rnn-* option "
            "(e.g. --rnn-target=keras3-tensorflow), or import the short fixture names in the "
            "tests' conftest.py (see harness/property_fixtures.py)",
            pytrace=False,
        )
    return harness


@pytest.fixture(scope="session")
def rnn_target(pytestconfig: pytest.Config):
    """The framework target under test (``--rnn-target``), built once per session."""
    harness = _harness_for(pytestconfig, "rnn_target")
    try:
        return get_target(harness.target)
    except HarnessUsageError as exc:
        pytest.exit(f"rnn-harness: {exc}", returncode=2)


@pytest.fixture
def rnn_check(request: pytest.FixtureRequest, rnn_target) -> PropertyCheck:
    """Evidence collector and comparison helper for one property x layer x target."""
    prop = _property_id(request.node)
    if prop is None:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses the `rnn_check` fixture but has no "
            "@pytest.mark.rnn_property(id) marker"
        )
    evidence = PropertyCheck(
        prop, _layer(request.node) or "-", rnn_target.name, on_example=rnn_target.new_example
    )
    state = request.node.stash.setdefault(ITEM, ItemState())
    state.check, state.start = evidence, time.perf_counter()
    reason = not_applicable(prop, _layer(request.node))
    if reason:  # here, not at collection: a skipped row is reported with its reason
        pytest.skip(reason)
    yield evidence
    # Cached models are keyed per test; dropping them keeps memory flat over a run.
    rnn_target.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Replay and recognise the known failures of this test (``harness.recognition``).

    Each entry's recorded counterexample runs first; then a ``@given`` test runs all
    its examples, those that fail as an entry's signature says being recorded, not
    raised. A test that is not ``@given`` (the state machine) stops at its first
    failure, which is known only if it matches a signature; it runs without
    shrinking, since a known failure was minimised when it was reviewed.
    """
    state = item.stash.get(ITEM, None)
    target = getattr(item, "funcargs", {}).get("rnn_target")
    if state is None or state.check is None or not state.known or target is None:
        return (yield)
    entries = [
        e
        for e in state.known
        if e.device in (None, target.device) and e.precision in (None, target.precision)
    ]
    if not entries:
        return (yield)
    recognition = Recognition(entries, state.check)
    state.recognition = recognition
    recognition.replay(item.module, test_name(item), target, _layer(item))
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    if handle is not None:
        # `test.hypothesis.inner_test` is Hypothesis's documented hook for running custom
        # code around each example (HypothesisHandle: "downstream users can reassign its
        # attributes"): the only place where a failure can be told known or new example
        # by example, so that the search goes on past a known failure. Restored after.
        inner = handle.inner_test
        handle.inner_test = recognition.wrap(inner)
        try:
            return (yield)
        finally:
            handle.inner_test = inner
    harness = item.config.stash[HARNESS]
    previous = settings.get_current_profile_name()
    if not harness.known_profile:
        settings.register_profile(KNOWN_FAILURE_PROFILE, without_shrinking(settings()))
        harness.known_profile = True
    settings.load_profile(KNOWN_FAILURE_PROFILE)
    try:
        return (yield)
    finally:
        settings.load_profile(previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    state = item.stash.get(ITEM, None)
    evidence = state.check if state is not None else None
    if evidence is None or report.when not in ("setup", "call"):
        return report
    if report.when == "setup" and report.passed:
        return report
    recognition = state.recognition
    excinfo = call.excinfo
    details = {}
    known_reason = None
    if recognition is not None:
        if excinfo is not None and not excinfo.errisinstance(Flaky):
            recognition.record(excinfo.value)  # a test that is not @given: its one failure
        details = recognition.summary()
    if excinfo is not None and excinfo.errisinstance(Flaky):
        # A failure that did not fail again when Hypothesis replayed it (on a fresh
        # runner: runners live for one example): a harness defect until shown otherwise.
        status = "flaky"
        first = [str(e).strip() for e in getattr(excinfo.value, "exceptions", ())]
        details["first_run"] = {"outcome": "failed", "messages": first}
        details["replay"] = {"outcome": "passed: the same example did not fail again"}
    elif report.skipped:
        status = "skipped"
    elif (
        recognition is not None
        and (recognition.hits or recognition.not_reproduced)
        and (excinfo is None or recognise(recognition.entries, excinfo.value) is not None)
    ):
        status, known_reason = _known_status(recognition, evidence)
    elif report.passed:
        status = "passed"
    elif excinfo is not None and excinfo.errisinstance(AssertionError):
        status = "failed"
    else:
        status = "error"
    message = None
    if status in ("known_failure", "fixed"):
        message = known_reason
    elif status in ("failed", "error", "flaky") and excinfo is not None:
        message = str(excinfo.value).strip()
        if status in ("error", "flaky"):
            message = f"{excinfo.typename}: {message}"
    elif status == "skipped":
        message = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else None
    row = ResultRow(
        property=evidence.property_id,
        test=test_name(item),
        layer=evidence.layer,
        target=evidence.target,
        status=status,
        examples=evidence.examples,
        examples_that_could_fail=evidence.sensitive_examples,
        duration_s=round(time.perf_counter() - state.start, 3),
        max_abs_error=evidence.max_abs_error,
        tolerance=evidence.tolerance.to_dict() if evidence.tolerance else None,
        message=message,
        counterexample=_counterexample(status, evidence, recognition),
        known_failure=_known_reasons(status, recognition),
        nodeid=item.nodeid,
        details=details,
    )
    # Carried on the report so that pytest-xdist ships it from workers to the controller.
    report.user_properties.append(("rnn_result", row.to_dict()))
    return report


def _known_status(recognition: Recognition, evidence: PropertyCheck) -> tuple[str, str]:
    """``known_failure`` with what hit, or ``fixed`` when a recorded example no longer fails."""
    if recognition.hits:
        parts = [
            f"{h.count} example(s) failed as {source} records ({h.entry.reason}): {h.message}"
            for source, h in recognition.hits.items()
        ]
        return "known_failure", "\n".join(parts)
    names = ", ".join(e.source for e in recognition.not_reproduced)
    return "fixed", (
        f"known failure {names} did not reproduce on the versions it was recorded for "
        f"(its recorded example passed, and none of {evidence.examples} examples failed as "
        "it records): investigate, then update or remove the entry"
    )


def _known_reasons(status: str, recognition: Recognition | None) -> str | None:
    """The reasons of the entries a known or fixed row is about."""
    if recognition is None:
        return None
    if status == "known_failure":
        return "; ".join(h.entry.reason for h in recognition.hits.values())
    if status == "fixed":
        return "; ".join(e.reason for e in recognition.not_reproduced)
    return None


def _counterexample(status: str, evidence: PropertyCheck, recognition) -> dict | None:
    """The example a reader needs: a known failure's first hit, else the failing one."""
    if status == "known_failure" and recognition is not None and recognition.hits:
        return next(iter(recognition.hits.values())).counterexample
    if status in ("failed", "error", "flaky"):
        return evidence.counterexample()
    return None


class ResultCollector:
    """Gathers result rows on the controlling process and writes ``--rnn-results``.

    With ``--rnn-progress`` it also appends a JSON line when each test starts
    and finishes, which ``rnn-harness run`` follows to show progress.
    """

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: list[dict] = []
        progress = config.getoption("rnn_progress", default=None)
        self.progress = Path(progress) if progress and not hasattr(config, "workerinput") else None

    def _event(self, **event) -> None:
        if self.progress is not None:
            with self.progress.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(event) + "\n")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Every process that collects lists its tests (with -n each worker, the same list),
        # in one append: rnn-harness run keeps the first, for its time estimate and for the
        # "not run" rows of an interrupted run.
        path = self.config.getoption("rnn_progress", default=None)
        if not path:
            return
        tests = [
            {"nodeid": item.nodeid, "property": prop, "test": test_name(item), "layer": layer}
            for item in session.items
            if (prop := _property_id(item)) is not None and (layer := _layer(item)) is not None
        ]
        line = json.dumps({"event": "collected", "tests": tests}) + "\n"
        with open(path, "ab", buffering=0) as stream:  # one write: workers append at once
            stream.write(line.encode("utf-8"))

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        self._event(event="start", nodeid=nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rows = [v for k, v in report.user_properties if k == "rnn_result"]
        self.results.extend(rows)
        for row in rows:
            self._event(
                event="finish",
                nodeid=report.nodeid,
                property=row["property"],
                test=row["test"],
                layer=row["layer"],
                status=row["status"],
                examples=row["examples"],
                duration_s=row["duration_s"],
            )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = self.config
        path = config.getoption("rnn_results", default=None)
        if not path or hasattr(config, "workerinput"):
            return
        harness = config.stash[HARNESS]
        target_info = {
            "name": harness.target,
            "versions": {},
            "device": "cpu",
            "precision": harness.precision,
        }
        try:
            target_info = get_target(harness.target).info()
        except HarnessUsageError as exc:
            target_info["error"] = str(exc)
        if not harness.shrink:
            target_info["shrink"] = False
        payload = {
            "profile": harness.profile,
            "seed": harness.seed,
            "database": str(harness.database) if harness.database else None,
            "target": target_info,
            "known_failures": [str(f) for f in harness.known_files],
            "results": self.results,
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
