"""summary -> short Markdown for a GitHub step summary or a PR comment."""

from __future__ import annotations

from chaos.report import view


def cell(text: object) -> str:
    """Keep a value inside its table cell: no pipes, no line breaks, no raw HTML tags."""
    return (str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
            .replace("<", "&lt;"))


def _code(text: object) -> str:
    """Inline code: entities would show literally there, so only pipes and backticks are tamed."""
    return "`" + str(text).replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def render_markdown(summary: dict) -> str:
    verdict = summary["verdict"]
    lines = [
        f"### {view.VERDICT_EMOJI[verdict]} {view.VERDICT_LABEL[verdict]} · {cell(summary['experiment'])}"
        f" · score {view.score_text(summary)}/100",
        "",
        cell(summary["reason"]),
        "",
    ]
    rows = view.check_rows(summary)
    if rows:
        lines += ["| Verdict | Hypothesis | Check | Phase | Observed (95 % CI) | Threshold | Requests |",
                  "| --- | --- | --- | --- | ---: | ---: | ---: |"]
        for r in rows:
            observed = r["observed"] + (f" ({r['ci']})" if r["ci"] else "")
            lines.append(f"| {view.VERDICT_EMOJI[r['verdict']]} {r['verdict']} | {cell(r['hypothesis'])} "
                         f"| {cell(r['what'])} | {cell(r['phase'])} | {cell(observed)} "
                         f"| {cell(r['threshold'])} | {r['samples']} |")
        lines.append("")
    faults = view.fault_rows(summary)
    if faults:
        lines += ["| Fault | Target | Settings | Active | Time to degrade | Recovery time |",
                  "| --- | --- | --- | --- | ---: | ---: |"]
        for f in faults:
            recovery = f["recovery"] + (f" ({cell(f['note'])})" if f["note"] else "")
            lines.append(f"| {cell(f['id'])} {cell(f['kind'])} | {_code(f['target'])} | {cell(f['settings'])} "
                         f"| {cell(f['window'])} | {cell(f['degrade'])} | {recovery} |")
        lines.append("")
    model = summary.get("load_model") or {}
    if model.get("note"):
        lines += [f"<sub>{cell(model['note'])}</sub>", ""]
    for abort in summary["run"].get("aborts") or []:
        lines.append(f"> 🛑 abort at {view.seconds(abort['at_s'], 1)}: {cell(abort.get('rule') or abort.get('metric'))}")
    env = summary.get("environment") or {}
    lines.append(f"<sub>{view.counts_text(summary)} · run {cell(summary.get('run_id'))} · seed {env.get('seed')}"
                 f" · chaos {cell(env.get('harness_version') or '?')} · exit code {view.code(summary)}"
                 f" · full report: report.html</sub>")
    return "\n".join(lines) + "\n"
