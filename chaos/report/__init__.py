"""Report renderers: every output is a pure function of the run dir (``render_all``).

``summary.json`` (schema ``chaos.summary/1``), ``report.html`` (self-contained: inline CSS
and SVG, no script, nothing fetched), ``report.md`` (short, for a CI step summary or a PR
comment) and ``junit.xml`` (one testcase per check).  The summary is already scrubbed of
the plan's secrets; each rendered text is scrubbed once more before it is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from chaos.analysis import analyse, load_run, scrub_text, secrets_of

FILES = {"html": "report.html", "md": "report.md", "junit": "junit.xml", "json": "summary.json"}


def _renderers() -> dict[str, Callable[[dict], str]]:
    # imported late: matplotlib and jinja2 load only when a report is rendered
    from chaos.report.html import render_html
    from chaos.report.junit import render_junit
    from chaos.report.markdown import render_markdown
    from chaos.report.summary import render_json

    return {"html": render_html, "md": render_markdown, "junit": render_junit, "json": render_json}


def render_all(run_dir: str | Path, formats=("html", "md", "junit", "json"), seed: int | None = None) -> dict[str, Path]:
    unknown = [f for f in formats if f not in FILES]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}; choose from {', '.join(FILES)}")
    run = load_run(run_dir)
    summary = analyse(run, seed=seed)
    secrets = secrets_of(run.plan)
    renderers = _renderers()
    written = {}
    for fmt in formats:
        path = Path(run_dir) / FILES[fmt]
        _write_atomically(path, scrub_text(renderers[fmt](summary), secrets))
        written[fmt] = path
    return written


def _write_atomically(path: Path, text: str) -> None:
    """A reader (or a crash) never sees half a report: write aside, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["FILES", "render_all"]
