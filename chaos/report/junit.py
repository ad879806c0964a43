"""summary -> JUnit XML: one testcase per check, failure for deviated, skipped for inconclusive."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from chaos.analysis import format_value

# XML 1.0 forbids most control characters even when escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _element(parent: ET.Element, tag: str, text: str | None = None, **attrs: object) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: _text(v) for k, v in attrs.items()})
    if text is not None:
        node.text = _text(text)
    return node


def testcase_name(check: dict) -> str:
    return f"{check['hypothesis']} [{check['phase']}] {check['metric']}"


def render_junit(summary: dict) -> str:
    checks = summary.get("checks") or []
    experiment = summary.get("experiment") or "experiment"
    aborted = summary["verdict"] == "aborted"
    failures = sum(c["verdict"] == "deviated" for c in checks)
    skipped = sum(c["verdict"] == "inconclusive" for c in checks)
    totals = {"tests": len(checks) + aborted, "failures": failures, "errors": int(aborted), "skipped": skipped,
              "time": f"{summary['run']['duration_s'] or 0:.3f}"}
    root = ET.Element("testsuites", {"name": "chaos", **{k: str(v) for k, v in totals.items()}})
    suite = _element(root, "testsuite", name=experiment, **totals,
                     timestamp=(summary.get("environment") or {}).get("started_at") or "")
    properties = _element(suite, "properties")
    for key, value in (("run_id", summary.get("run_id")), ("verdict", summary["verdict"]),
                       ("score", summary.get("score")), ("seed", (summary.get("environment") or {}).get("seed")),
                       ("reason", summary["reason"])):
        _element(properties, "property", name=key, value="" if value is None else value)
    durations = {p["name"]: p["duration_s"] for p in summary.get("phases") or []}
    for check in checks:
        case = _element(suite, "testcase", classname=experiment, name=testcase_name(check),
                        time=f"{durations.get(check['phase'], 0.0) or 0.0:.3f}")
        message = (f"phase {check['phase']}: {check['metric']} observed "
                   f"{format_value(check['metric'], check['observed'])} "
                   f"(95 % CI {format_value(check['metric'], check['ci_low'])} to "
                   f"{format_value(check['metric'], check['ci_high'])}), threshold {check['op']} "
                   f"{format_value(check['metric'], check['threshold'])}")
        detail = f"{check['reason']}\nrequests: {check['samples']}, windows: {check['windows']}"
        if check["verdict"] == "deviated":
            _element(case, "failure", detail, message=message, type="deviated")
        elif check["verdict"] == "inconclusive":
            _element(case, "skipped", message=f"inconclusive: {check['reason']}")
        _element(case, "system-out", f"{check['verdict']}: {check['reason']}")
    if aborted:
        case = _element(suite, "testcase", classname=experiment, name="run aborted", time="0")
        _element(case, "error", summary["reason"], message=summary["reason"], type="aborted")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'

