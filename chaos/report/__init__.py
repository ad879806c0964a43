"""Report renderers: every output is a pure function of the run dir (``render_all``).

``summary.json`` (schema ``chaos.summary/1``), ``report.html`` (self-contained: inline CSS
and SVG, no script, nothing fetched), ``report.md`` (short, for a CI step summary or a PR
comment) and ``junit.xml`` (one testcase per check).  The summary is already scrubbed of
the plan's secrets (walked as values, never scrubbed as rendered text): every renderer is a
pure function of that summary, so no secret reaches a rendered file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from chaos.analysis import analyse, load_run, secrets_of
from chaos.atomic import written_atomically
from chaos.secrets import scrub

FILES = {"html": "report.html", "md": "report.md", "junit": "junit.xml", "json": "summary.json"}
COMPARE_FILES = {"html": "compare.html", "md": "compare.md", "json": "compare.json"}


def _renderers() -> dict[str, Callable[[dict], str]]:
    # imported late: matplotlib and jinja2 load only when a report is rendered
    from chaos.report.html import render_html
    from chaos.report.junit import render_junit
    from chaos.report.markdown import render_markdown
    from chaos.report.summary import render_json

    return {"html": render_html, "md": render_markdown, "junit": render_junit, "json": render_json}


def render_all(run_dir: str | Path, formats=("html", "md", "junit", "json"), seed: int | None = None,
               secrets=()) -> dict[str, Path]:
    """``secrets``: values the caller knows to be secret (the runner's); the run dir holds none.

    Raises ``RunDirError`` before anything is written when the run dir cannot be read (``chaos.rundir``)."""
    unknown = [f for f in formats if f not in FILES]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}; choose from {', '.join(FILES)}")
    run = load_run(run_dir)
    secrets = secrets_of(run.plan, secrets)
    summary = scrub(analyse(run, seed=seed), secrets)
    renderers = _renderers()
    texts = {fmt: renderers[fmt](summary) for fmt in formats}  # all rendered before any is written
    if "md" in texts:
        texts["md"] += _baseline_section(Path(run_dir))
    return write_texts(run_dir, FILES, texts)


def write_texts(directory: str | Path, files: dict[str, str], texts: dict[str, str]) -> dict[str, Path]:
    """Each format's text into its file (``files``: format -> file name) in ``directory``, each written aside
    and renamed: a reader, or a crash, never sees half a report. Returns format -> path."""
    written = {}
    for fmt, text in texts.items():
        path = Path(directory) / files[fmt]
        with written_atomically(path) as partial:
            partial.write_text(text, encoding="utf-8", newline="\n")
        written[fmt] = path
    return written


def _baseline_section(run_dir: Path) -> str:
    """report.md carries the comparison with a baseline when `chaos run --baseline` wrote one."""
    path = run_dir / COMPARE_FILES["json"]
    if not path.is_file():
        return ""
    from chaos.report.compare_markdown import render_compare_markdown

    try:
        comparison = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return "\n> ⚠️ compare.json could not be read: no baseline comparison shown.\n"
    return "\n" + render_compare_markdown(comparison, heading="Against the baseline", level=4)


def write_comparison(comparison: dict, out_dir: str | Path, formats=("html", "md", "json")) -> dict[str, Path]:
    """compare.html, compare.md and compare.json: pure functions of the comparison."""
    from chaos.report.compare_html import render_compare_html
    from chaos.report.compare_markdown import render_compare_markdown

    renderers = {"html": render_compare_html, "md": render_compare_markdown,
                 "json": lambda c: json.dumps(c, indent=2, ensure_ascii=False, allow_nan=False) + "\n"}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return write_texts(out_dir, COMPARE_FILES, {fmt: renderers[fmt](comparison) for fmt in formats})


__all__ = ["COMPARE_FILES", "FILES", "render_all", "write_comparison"]
