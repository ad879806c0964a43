"""A comparison -> Markdown: one table per experiment, for a CI step summary or a PR comment."""

from __future__ import annotations

from chaos.report import compare_view as view
from chaos.report.markdown import cell


def _side(side: dict) -> str:
    runs = "" if side["runs"] in side["label"] else f" (runs {cell(side['runs'])})"
    return f"**{side['letter']}** {cell(side['label'])}{runs}" + (" · baseline" if side["role"] == "baseline" else "")


def render_compare_markdown(comparison: dict, heading: str | None = None, level: int = 3) -> str:
    verdict = comparison["verdict"]
    hashes = "#" * level
    title = heading or " · ".join(dict.fromkeys(e["name"] for e in comparison["experiments"])) or "comparison"
    lines = [f"{hashes} {view.VERDICT_EMOJI[verdict]} {view.VERDICT_LABEL[verdict]} · {cell(title)}", ""]
    sides = view.side_rows(comparison)
    lines += [" · ".join(_side(s) for s in sides), ""]
    if comparison.get("pairing"):  # chaos ab
        pairing = comparison["pairing"]
        lines += [f"{pairing['judged']} round(s) judged ({cell(pairing['order'])}), {cell(pairing['design'])}", ""]
    lines += [cell(comparison["reason"]), ""]
    candidates = sides[1:]
    for experiment in comparison["experiments"]:
        if len(comparison["experiments"]) > 1:
            lines += [f"**{cell(experiment['name'])}**", ""]
        header = ["Phase", "Metric", *(s["letter"] for s in sides)]
        align = ["---", "---", *("---:" for _ in sides)]
        for c in candidates:
            suffix = f" {c['letter']}" if len(candidates) > 1 else ""
            header += [f"Change{suffix} (95 % CI)", f"Verdict{suffix}"]
            align += ["---:", "---"]
        lines += ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
        for row in view.metric_rows(experiment):
            cells = [cell(row["phase"]), cell(row["metric"]), *(cell(v["text"]) for v in row["values"])]
            for change in row["changes"]:
                effect = change["effect"] + (f" ({change['ci']})" if change["ci"] and change["effect"] != "–" else "")
                cells += [cell(effect), f"{view.VERDICT_EMOJI[change['verdict']]} {change['verdict']}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    notes = [f"{s['letter']}: {cell(n)}" for s in sides for n in s["notes"]]
    if notes:
        lines += [f"> {n}" for n in notes] + [""]
    lines.append(f"<sub>{cell(view.settings_text(comparison))} · full comparison: compare.html</sub>")
    return "\n".join(lines) + "\n"
