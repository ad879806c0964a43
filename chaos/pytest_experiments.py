"""YAML experiments as pytest items: one file, one run, one item per hypothesis check.

An experiment file is a collector; each check of its steady state (hypothesis x phase x bound) is an
item named ``<hypothesis>[<phase>]``. The experiment runs once, when the first selected item of the
file is set up (so ``-k`` that deselects a whole file runs nothing); every item then reports its own
check: held passes, deviated fails with the whole story, inconclusive skips (or xfails, or fails:
``--chaos-inconclusive``). An aborted run fails every check; a run that could not start (Docker,
images) is an error of every item. A file with no hypothesis gets one item, ``run``.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path, PurePath

import pytest

from chaos.errors import ChaosError, SpecError
from chaos.results import CheckFailed, check_text, observed_text, threshold_text

DEFAULT_GLOBS = ("experiments/*.yaml", "experiments/*.yml")


class ExperimentFailed(Exception):
    """The run itself failed (aborted, or could not run): the text says why and where to look."""


def is_experiment_path(file_path: Path, patterns: list[str], rootdir: Path) -> bool:
    if file_path.suffix not in (".yaml", ".yml"):
        return False
    pure = PurePath(file_path)
    try:
        relative = file_path.relative_to(rootdir).as_posix()
    except ValueError:
        relative = None
    return any(pure.match(pattern) or (relative and fnmatch.fnmatch(relative, pattern)) for pattern in patterns)


class ExperimentFile(pytest.File):
    """One experiment file: collects its checks; its setup runs the experiment once."""

    result = None  # chaos.runner.RunResult once run
    refusal: str | None = None  # why this file must not run here (set at collection, e.g. under xdist)

    def collect(self):
        from chaos.plan import make_plan
        from chaos.spec import load_experiment

        options = self.config.stash[OPTIONS_KEY]
        try:
            self.loaded = load_experiment(self.path, options.variables)
        except SpecError as exc:
            raise self.CollectError(f"invalid experiment (nothing was started):\n{exc}") from None
        self.plan = make_plan(self.loaded, seed=options.seed)
        self.experiment = self.plan.experiment
        checks = self.plan.checks()
        both_bounds = {c.hypothesis for c in checks if c.op == ">="} & {c.hypothesis for c in checks if c.op == "<="}
        seen: dict[str, int] = {}
        for check in checks:
            suffix = f"-{'max' if check.op == '<=' else 'min'}" if check.hypothesis in both_bounds else ""
            name = f"{check.hypothesis}[{check.phase}{suffix}]"
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:  # two hypotheses of the same name: keep node ids unique
                name = f"{check.hypothesis}[{check.phase}{suffix}-{seen[name]}]"
            yield CheckItem.from_parent(self, name=name, check=check, nodeid=self._child_id(name))
        if not checks:
            yield RunItem.from_parent(self, name="run")

    def _child_id(self, name: str) -> str:
        # Given as a string so pytest parses "name[phase]" the way it parses ids it stored (--lf).
        return f"{self.nodeid}::{name}"

    def setup(self) -> None:
        from chaos.runner import Runner

        if self.refusal:
            pytest.fail(self.refusal, pytrace=False)
        options = self.config.stash[OPTIONS_KEY]
        plan = self.plan
        if options.report_dir:
            plan.with_report_dir(options.report_dir)
        progress = options.progress(f"{self.experiment}")
        progress(f"run {plan.run_id} ({plan.duration:.0f}s of load)")
        self.result = Runner(plan, on_progress=progress).run()
        summary = self.result.summary or {}
        report = self.report_path
        options.runs.append((self.nodeid, summary.get("verdict") or self.result.outcome, report or self.result.run_dir))
        progress(f"{(summary.get('verdict') or self.result.outcome).upper()} report: {report or self.result.run_dir}")
        if self.result.outcome == "interrupted":
            raise KeyboardInterrupt(self.result.error or "interrupted")
        if self.result.summary is None:  # an error of every item, shown as the message alone (no traceback)
            pytest.fail(f"experiment {self.experiment} could not run: {self.result.error}\n"
                        f"  run dir:   {self.result.run_dir} (journal.jsonl, logs/)", pytrace=False)

    @property
    def report_path(self) -> Path | None:
        if self.result is None:
            return None
        return self.result.reports.get("html") or self.result.reports.get("md")


class _ExperimentItem(pytest.Item):
    parent: ExperimentFile

    def __init__(self, *, check=None, **kwargs):
        super().__init__(**kwargs)
        self.check = check
        self.add_marker(pytest.mark.chaos)
        self.add_marker(pytest.mark.xdist_group(str(self.path)))
        self.extra_keyword_matches.add(self.parent.experiment)
        if check is not None:
            self.extra_keyword_matches.update({check.metric, check.phase})

    def reportinfo(self):
        source = self.parent.loaded.source
        field = ("steady_state", self.check.entry) if self.check is not None else ()
        line, _ = source.position(field)
        return self.path, line - 1, f"{self.parent.experiment}: {self.name}"

    def _properties(self, verdict: str) -> None:
        result = self.parent.result
        self.user_properties += [("chaos_verdict", verdict), ("chaos_run_dir", str(result.run_dir))]
        report = self.parent.report_path
        if report:
            self.user_properties.append(("chaos_report", str(report)))

    def _aborted(self, summary: dict) -> None:
        if summary.get("verdict") == "aborted":
            self._properties("aborted")
            raise CheckFailed(f"experiment {self.parent.experiment} was aborted: {summary['reason']}\n"
                              f"  report:    {self.parent.report_path}")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (CheckFailed, ExperimentFailed)):
            return str(excinfo.value)
        if isinstance(excinfo.value, ChaosError):
            return f"chaos: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)


class CheckItem(_ExperimentItem):
    """One hypothesis check of an experiment."""

    def runtest(self) -> None:
        summary = self.parent.result.summary
        self._aborted(summary)
        check = _find(summary.get("checks") or [], self.check)
        self._properties(check["verdict"])
        self.user_properties += [("chaos_observed", observed_text(check)), ("chaos_threshold", threshold_text(check))]
        report = self.parent.report_path
        if check["verdict"] == "deviated":
            raise CheckFailed(check_text(check, report))
        if check["verdict"] == "inconclusive":
            inconclusive(self.config, f"inconclusive: {check['reason']} (report: {report})", check_text(check, report))


class RunItem(_ExperimentItem):
    """An experiment without hypotheses: the run itself (held only if it was not aborted)."""

    def runtest(self) -> None:
        summary = self.parent.result.summary
        self._aborted(summary)
        self._properties(summary["verdict"])
        if summary["verdict"] == "inconclusive":
            report = self.parent.report_path
            inconclusive(self.config, f"inconclusive: {summary['reason']} (report: {report})",
                         f"experiment {self.parent.experiment} inconclusive: {summary['reason']}\n"
                         f"  report:    {report}")


def _find(checks: list[dict], planned) -> dict:
    if planned.index < len(checks):
        check = checks[planned.index]
        if (check["hypothesis"], check["phase"], check["op"]) == (planned.hypothesis, planned.phase, planned.op):
            return check
    for check in checks:
        if (check["hypothesis"], check["phase"], check["op"]) == (planned.hypothesis, planned.phase, planned.op):
            return check
    raise ExperimentFailed(f"the summary has no check {planned.hypothesis} [{planned.phase}]")


def inconclusive(config, reason: str, full: str) -> None:
    """What an inconclusive check does, by ``--chaos-inconclusive``: skip or xfail with a one-line
    ``reason``, or fail with the ``full`` text."""
    policy = config.stash[OPTIONS_KEY].inconclusive
    if policy == "xfail":
        pytest.xfail(reason)
    if policy == "fail":
        raise CheckFailed(full)
    try:  # point the skip at the test (the hypothesis line), as pytest does for skip marks
        skipped = pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:  # a pytest without that keyword: the skip points at this line instead
        skipped = pytest.skip.Exception(reason)
    raise skipped


# the plugin fills this in at configure time; defined here so items reach it without importing the plugin
OPTIONS_KEY = pytest.StashKey()
