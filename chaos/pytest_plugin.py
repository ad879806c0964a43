"""pytest plugin for chaos (entry point ``pytest11`` named ``chaos``): YAML experiments collected as
tests, fixtures for chaos inside ordinary tests, the ``chaos`` marker and the ``--chaos-*`` options.

Loaded into every pytest run of an environment that has chaos installed, so importing it must stay
cheap and side-effect free: Docker, pandas and the runner are imported only when a test needs them,
and gevent never (Locust runs in its own process). See docs/pytest.md.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chaos.pytest_experiments import (
    DEFAULT_GLOBS,
    OPTIONS_KEY,
    ExperimentFile,
    ExperimentFailed,
    inconclusive,
    is_experiment_path,
)

INCONCLUSIVE = ("skip", "xfail", "fail")
CHAOS_KEY = pytest.StashKey()
CALL_KEY = pytest.StashKey()
FIXTURES = ("chaos", "chaos_system")


@dataclass
class Options:
    variables: dict[str, str]
    report_dir: Path | None  # --chaos-report-dir: wins over an experiment's own report.dir
    fixture_report_dir: Path  # where fixture tests write their run dirs
    inconclusive: str
    keep: bool
    reuse: str | None
    patterns: list[str]
    system_scope: str
    verbose: int
    config: pytest.Config
    seed: int | None = None
    runs: list[tuple[str, str, object]] = field(default_factory=list)  # (node id, verdict, report)
    pool: object = None
    module_owners: set = field(default_factory=set)

    def progress(self, name: str):
        """Live progress lines for a long run, shown with -v (capture suspended while writing)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.verbose < 1 or reporter is None:
            return lambda message: None
        capman = self.config.pluginmanager.get_plugin("capturemanager")

        def show(message: str) -> None:
            with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
                reporter.write_line(f"    chaos {name}: {message}")

        return show


# ---------------------------------------------------------------- options

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "chaos: resilience experiments and fault injection")
    group.addoption("--chaos-report-dir", metavar="DIR", default=None,
                    help="where run dirs and reports go (default: chaos_report_dir, or an experiment's report.dir)")
    group.addoption("--chaos-keep-system", action="store_true", default=False,
                    help="leave the systems started by the chaos_system fixture running at the end (for debugging; "
                         "reuse with --chaos-reuse-system, remove with `chaos clean --run ID`)")
    group.addoption("--chaos-reuse-system", metavar="RUN_ID", default=None,
                    help="adopt an already running system (kept with --chaos-keep-system) instead of starting one")
    group.addoption("--chaos-inconclusive", choices=INCONCLUSIVE, default=None,
                    help="what an inconclusive check does: skip (default), xfail or fail")
    group.addoption("--chaos-var", action="append", default=[], metavar="NAME=VALUE",
                    help="set a ${NAME} variable for experiment and compose files (repeatable)")
    group.addoption("--chaos-seed", type=int, default=None, help="seed for the analysis of YAML experiments")
    parser.addini("chaos_experiments", type="linelist", default=list(DEFAULT_GLOBS),
                  help="glob patterns of experiment files to collect (matched from the right of the path)")
    parser.addini("chaos_report_dir", default="reports", help="run dirs of fixture tests (relative to the rootdir)")
    parser.addini("chaos_inconclusive", default="skip", help="skip, xfail or fail")
    parser.addini("chaos_compose", default="", help="compose file of the system the chaos_system fixture starts")
    parser.addini("chaos_experiment", default="", help="or: an experiment file whose targets, links and load to use")
    parser.addini("chaos_links", type="linelist", default=[],
                  help="links to route through Toxiproxy: 'from -> to:port' lines and/or 'dependencies' "
                       "(default for a compose file: dependencies)")
    parser.addini("chaos_edge", default="", help="service:port that load drives (default: inferred)")
    parser.addini("chaos_locustfile", default="", help="default locustfile of chaos.load()")
    parser.addini("chaos_user_classes", type="args", default=[], help="default Locust user classes")
    parser.addini("chaos_system_scope", default="session", help="session or module: how long a system lives")


def _variables(pairs: list[str]) -> dict[str, str]:
    variables = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise pytest.UsageError(f"--chaos-var {pair!r}: expected NAME=VALUE")
        variables[name] = value
    return variables


def _xdist_worker(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)
    return workerinput.get("workerid") if workerinput else None


def _xdist_active(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) or _xdist_worker(config) is not None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a chaos test (YAML experiment checks and tests using the chaos or "
                                       "chaos_system fixture carry it): select with -m chaos, skip with -m 'not chaos'")
    if not config.pluginmanager.hasplugin("xdist"):  # experiment items carry xdist_group either way
        config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's grouping mark (--dist loadgroup)")
    policy = config.getoption("chaos_inconclusive") or config.getini("chaos_inconclusive")
    if policy not in INCONCLUSIVE:
        raise pytest.UsageError(f"chaos_inconclusive = {policy!r}: use one of {', '.join(INCONCLUSIVE)}")
    scope = config.getini("chaos_system_scope")
    if scope not in ("session", "module"):
        raise pytest.UsageError(f"chaos_system_scope = {scope!r}: use session or module")
    reuse = config.getoption("chaos_reuse_system")
    if reuse and _xdist_active(config):
        raise pytest.UsageError("--chaos-reuse-system cannot be used with pytest-xdist: every worker would inject "
                                "faults into the same containers at once. Run without -n, or let each worker start "
                                "its own system (drop --chaos-reuse-system).")
    report_dir = config.getoption("chaos_report_dir")
    fixture_dir = Path(report_dir) if report_dir else config.rootpath / config.getini("chaos_report_dir")
    config.stash[OPTIONS_KEY] = Options(
        variables=_variables(config.getoption("chaos_var")),
        report_dir=Path(report_dir).resolve() if report_dir else None,
        fixture_report_dir=fixture_dir.resolve(),
        inconclusive=policy,
        keep=config.getoption("chaos_keep_system"),
        reuse=reuse,
        patterns=config.getini("chaos_experiments"),
        system_scope=scope,
        verbose=config.get_verbosity(),
        config=config,
        seed=config.getoption("chaos_seed"),
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    options = config.stash.get(OPTIONS_KEY, None)
    if options is not None and options.pool is not None:  # normally closed by its fixture already
        options.pool.close()


# ---------------------------------------------------------------- collection

def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    options = parent.config.stash[OPTIONS_KEY]
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    if parent.session.isinitpath(file_path) or is_experiment_path(file_path, options.patterns,
                                                                  parent.config.rootpath):
        return ExperimentFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the marker must be there
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in FIXTURES) and not item.get_closest_marker("chaos"):
            item.add_marker(pytest.mark.chaos)
    _refuse_split_experiments(config, items)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist controller, per worker: workers see ``--dist`` as "no", so it is passed on here."""
    node.workerinput["chaos_dist"] = node.config.getoption("dist", "no")


def _refuse_split_experiments(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each experiment file runs once, so its checks must stay on one xdist worker. Under a mode that
    splits them, every experiment item errors with the reason and nothing is started (an exception
    here would only crash the worker)."""
    if _xdist_worker(config) is None:
        return
    dist = config.workerinput.get("chaos_dist", "load")
    # not loadgroup: with pytest 9.2 and xdist 3.8 it spreads one xdist_group over the workers (xdist renames
    # the item's node id, which pytest 9 no longer schedules by)
    if dist in ("loadfile", "loadscope", "each", "no"):
        return
    for item in items:
        if isinstance(item.parent, ExperimentFile):
            item.parent.refusal = (f"chaos: with pytest-xdist, YAML experiments need --dist loadfile: "
                                   f"--dist {dist} would split one experiment's checks over several workers and "
                                   f"run the experiment on each of them. Nothing was started.")


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def chaos_system_spec(pytestconfig: pytest.Config):
    """The system the ``chaos_system`` fixture starts, from the pytest configuration (``chaos_compose``
    or ``chaos_experiment``, ``chaos_links``, ``chaos_edge``, ``chaos_locustfile``). Override this
    fixture to describe it in Python (``chaos.testkit.SystemSpec``), at any scope."""
    from chaos.testkit import SystemSpec

    options = pytestconfig.stash[OPTIONS_KEY]
    base = pytestconfig.inipath.parent if pytestconfig.inipath else pytestconfig.rootpath
    links = tuple(pytestconfig.getini("chaos_links"))
    if pytestconfig.getini("chaos_experiment"):
        return SystemSpec.from_experiment(pytestconfig.getini("chaos_experiment"), links=links,
                                          variables=options.variables, base=base)
    if pytestconfig.getini("chaos_compose"):
        return SystemSpec.from_compose(pytestconfig.getini("chaos_compose"), links=links or ("dependencies",),
                                       edge=pytestconfig.getini("chaos_edge") or None, variables=options.variables,
                                       locustfile=pytestconfig.getini("chaos_locustfile") or None,
                                       user_classes=pytestconfig.getini("chaos_user_classes"), base=base)
    pytest.fail("chaos: no system to start: set chaos_compose (or chaos_experiment) in the pytest configuration, "
                "or override the chaos_system_spec fixture (see docs/pytest.md)", pytrace=False)


@pytest.fixture(scope="session")
def chaos_pool(pytestconfig: pytest.Config):
    """Every system this session started (or adopted); removed at the end unless --chaos-keep-system."""
    from chaos.testkit import SystemPool

    options = pytestconfig.stash[OPTIONS_KEY]
    options.pool = SystemPool(keep=options.keep, reuse=options.reuse, worker=_xdist_worker(pytestconfig))
    try:
        yield options.pool
    finally:
        options.pool.close()


@pytest.fixture
def chaos_system(request: pytest.FixtureRequest, chaos_system_spec, chaos_pool):
    """The running system (``chaos.testkit.RunningSystem``): started once per spec and kept for the
    session (or the module: ``chaos_system_scope``), removed at its end even when tests fail."""
    from chaos.errors import ChaosError

    options = request.config.stash[OPTIONS_KEY]
    owner = "session"
    if (chaos_system_spec.scope or options.system_scope) == "module":
        module = request.node.getparent(pytest.Module) or request.node.parent
        owner = module.nodeid
        if owner not in options.module_owners:
            options.module_owners.add(owner)
            module.addfinalizer(lambda: chaos_pool.release(owner))
    try:
        return chaos_pool.acquire(chaos_system_spec, owner)
    except ChaosError as exc:
        pytest.fail(f"chaos: the system could not be started: {exc}", pytrace=False)


@pytest.fixture
def chaos(request: pytest.FixtureRequest, chaos_system):
    """Faults as context managers, load and checks inside a test (``chaos.testkit.Chaos``). The test
    gets its own run dir and report, linked in the output and in JUnit properties."""
    from chaos.results import ResultPolicy
    from chaos.testkit import Chaos, new_run_dir_for, seed_for, slug_for

    options = request.config.stash[OPTIONS_KEY]
    nodeid = request.node.nodeid
    run_dir = new_run_dir_for(options.fixture_report_dir, nodeid)
    policy = ResultPolicy(inconclusive=lambda reason, full: inconclusive(request.config, reason, full))
    session = Chaos(chaos_system, run_dir, name=slug_for(nodeid), description=nodeid, seed=seed_for(nodeid),
                    policy=policy)
    request.node.stash[CHAOS_KEY] = session
    try:
        yield session
    finally:
        called = request.node.stash.get(CALL_KEY, None) is not None
        try:
            session.close(outcome="completed" if called else "interrupted")
        finally:
            request.node.user_properties += [("chaos_run_dir", str(run_dir)), ("chaos_report", str(session.report))]
            options.runs.append((nodeid, "report", session.report))


# ---------------------------------------------------------------- reporting

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    if call.when == "call":
        item.stash[CALL_KEY] = report.outcome
        session = item.stash.get(CHAOS_KEY, None)
        if session is not None and report.failed:
            report.sections.append(("chaos", f"run dir: {session.run_dir}\nreport:  {session.report}"))
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    options = config.stash.get(OPTIONS_KEY, None)
    if options is None:
        return
    if options.runs:
        terminalreporter.section("chaos reports", sep="-")
        for nodeid, verdict, report in options.runs:
            label = "" if verdict == "report" else f"{verdict.upper():13}"
            terminalreporter.write_line(f"{label}{nodeid}: {report}")
    kept = getattr(options.pool, "kept", None) or []
    for running in kept:
        terminalreporter.write_line(
            f"chaos: kept system {running.run_id} ({running.name}): reuse it with --chaos-reuse-system={running.run_id}, "
            f"remove it with `chaos clean --run {running.run_id}`", yellow=True)


__all__ = ["ExperimentFailed", "ExperimentFile", "Options"]
