"""summary -> JUnit XML, the dialect CI servers read (Jenkins' junit-10.xsd, GitLab, GitHub Actions reporters).

``<testsuites>`` (name, tests, failures, errors, time) holds one ``<testsuite>`` per run, named
by the experiment; every hypothesis check is one ``<testcase>`` (classname = experiment, name =
``hypothesis [phase] metric``, made unique when a hypothesis has both bounds or two share a name):

* held: passed;
* deviated: ``<failure type="deviated">``, the message naming phase, metric, observed value,
  interval and threshold;
* inconclusive: ``<skipped>`` with the same message and the reason (too little data, or the
  interval straddles the threshold): the check was not decided, so it neither passes nor fails;
  ``chaos run`` exits 5;
* an aborted or interrupted run (a safety rule stopped it) or a run that ended with an error
  adds one ``<testcase name="run aborted">`` (``run failed``) with an ``<error>``; the checks
  judged on the data until then keep their own verdicts.

A test case's time is its phase's duration shared among that phase's checks, so consumers that
add case times up (GitLab, junitparser) get the judged part of the run, not a multiple of it;
the suite's time is the run's.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from chaos.metrics import format_range, format_value, has_interval

# XML 1.0 forbids most control characters even when escaped; lone surrogates cannot be encoded
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
RUN_CASE = {"aborted": "run aborted", "error": "run failed"}


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _element(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: _text(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        node.text = _text(text)
    return node


def testcase_name(check: dict) -> str:
    return f"{check['hypothesis']} [{check['phase']}] {check['metric']}"


def case_names(checks: list[dict]) -> list[str]:
    """One name per check, unique: `` (max)``/`` (min)`` when a hypothesis has both bounds, then ``#2``..."""
    bases = [testcase_name(c) for c in checks]
    names, seen = [], {}
    for check, base in zip(checks, bases):
        name = f"{base} ({'max' if check['op'] == '<=' else 'min'})" if bases.count(base) > 1 else base
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return names


def case_times(checks: list[dict], phases: list[dict]) -> list[float]:
    durations = {p["name"]: p["duration_s"] or 0.0 for p in phases}
    per_phase = {name: sum(c["phase"] == name for c in checks) for name in durations}
    return [durations.get(c["phase"], 0.0) / per_phase[c["phase"]] if c["phase"] in durations else 0.0
            for c in checks]


def check_message(check: dict) -> str:
    """One line: phase, metric (and which requests), observed value with its interval, threshold."""
    metric = check["metric"]
    what = metric + (f" of {check['filter']}" if check.get("filter") else "")
    has_ci = check["ci_low"] is not None and has_interval(metric)
    ci = f" (95 % CI {format_range(metric, check['ci_low'], check['ci_high'])})" if has_ci else ""
    return (f"phase {check['phase']}: {what} observed {format_value(metric, check['observed'])}{ci}, "
            f"threshold {check['op']} {format_value(metric, check['threshold'])}")


def _totals(summary: dict, checks: list[dict]) -> dict[str, object]:
    run_case = _run_case(summary) is not None
    return {"tests": len(checks) + run_case, "failures": sum(c["verdict"] == "deviated" for c in checks),
            "errors": int(run_case), "skipped": sum(c["verdict"] == "inconclusive" for c in checks),
            "time": f"{summary['run']['duration_s'] or 0:.3f}"}


def _run_case(summary: dict) -> str | None:
    """The extra test case of a run that did not end as planned, else None."""
    if summary["verdict"] == "aborted":
        return "aborted"
    return "error" if (summary.get("run") or {}).get("outcome") == "error" else None


def _properties(suite: ET.Element, summary: dict) -> None:
    env = summary.get("environment") or {}
    properties = _element(suite, "properties")
    for key, value in (("run_id", summary.get("run_id")), ("verdict", summary["verdict"]),
                       ("score", summary.get("score")), ("seed", env.get("seed")), ("reason", summary["reason"]),
                       ("harness_version", env.get("harness_version")), ("schema", summary.get("schema"))):
        _element(properties, "property", name=key, value="" if value is None else value)


def _check_case(suite: ET.Element, experiment: str, check: dict, name: str, time: float) -> None:
    case = _element(suite, "testcase", classname=experiment, name=name, time=f"{time:.3f}")
    detail = f"{check['reason']}\nrequests: {check['samples']}, windows: {check['windows']}"
    if check["verdict"] == "deviated":
        _element(case, "failure", detail, message=check_message(check), type="deviated")
    elif check["verdict"] == "inconclusive":
        _element(case, "skipped", detail, message=f"inconclusive: {check_message(check)}", type="inconclusive")
    _element(case, "system-out", f"{check['verdict']}: {check['reason']}")


def render_junit(summary: dict) -> str:
    checks = summary.get("checks") or []
    experiment = summary.get("experiment") or "experiment"
    totals = _totals(summary, checks)
    root = ET.Element("testsuites", {"name": "chaos", **{k: str(v) for k, v in totals.items() if k != "skipped"}})
    started = (summary.get("environment") or {}).get("started_at")
    suite = _element(root, "testsuite", name=experiment, **totals, timestamp=started)
    _properties(suite, summary)
    for check, name, time in zip(checks, case_names(checks), case_times(checks, summary.get("phases") or [])):
        _check_case(suite, experiment, check, name, time)
    kind = _run_case(summary)
    if kind:
        case = _element(suite, "testcase", classname=experiment, name=RUN_CASE[kind], time="0.000")
        _element(case, "error", summary["reason"], message=summary["reason"],
                 type=(summary.get("run") or {}).get("outcome") or kind)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'
