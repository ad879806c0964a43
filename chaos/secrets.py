"""Which values are secret, and scrubbing them from text and from the files of a run dir.

Secret are: the values of the variables an experiment lists under ``secrets:`` (wherever
they are used: the experiment file, its compose file, a header), and the values of target
environment entries whose key looks secret (PASSWORD, TOKEN, SECRET, KEY, ...) or that carry
a password inside a URL (``postgres://user:PASSWORD@db``).  Every other environment value
is only ever shown as ``<set>`` (plan.json) and never copied into journals or reports; it
is not scrubbed from free text, because values like ``redis`` or ``6379`` also name links.

The secret values themselves are never written to the run dir, so a report rendered later
from the run dir alone (``chaos report``) cannot scrub them: that is why the runner scrubs
the only files written by other processes (samples, Locust's logs) before it renders.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

REDACTED = "***"
MIN_DETECTED_LENGTH = 4  # shorter values would blank out ordinary words everywhere
_SECRET_KEY = re.compile(r"pass|pwd|token|secret|key|credential|auth|cookie|session|private", re.IGNORECASE)
SCRUBBED_SAMPLE_COLUMNS = ("name", "error")


def looks_secret(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def secret_env_values(env: dict) -> list[str]:
    """Values of an environment that must never be shown: by key, or a password inside a URL."""
    found = []
    for key, value in (env or {}).items():
        if value is None:
            continue
        text = str(value)
        if looks_secret(str(key)) and len(text) >= MIN_DETECTED_LENGTH:
            found.append(text)
            continue
        password = _url_password(text)
        if password and len(password) >= MIN_DETECTED_LENGTH:
            found.append(password)
    return found


def _url_password(text: str) -> str | None:
    if "://" not in text or "@" not in text:
        return None
    try:
        return urlsplit(text).password
    except ValueError:
        return None


def ordered(values: Iterable[str]) -> list[str]:
    """Unique, longest first: a secret that contains another is replaced whole."""
    return sorted({v for v in values if isinstance(v, str) and v}, key=len, reverse=True)


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret, also in the escaped forms JSON gives it (quotes, backslashes, non-ASCII)."""
    for secret in ordered(secrets):
        for form in dict.fromkeys((secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1])):
            text = text.replace(form, REDACTED)
    return text


def scrub_run_files(run_dir: Path, secrets: Iterable[str]) -> list[str]:
    """Scrub the files of a run dir that other processes wrote (samples, logs); returns what changed.

    Locust records request names and error texts verbatim (a token in a URL path, a header
    echoed in an error) and writes its own logs and stats: none of them went through the journal.
    """
    secrets = ordered(secrets)
    if not secrets:
        return []
    changed = []
    samples = run_dir / "samples.parquet"
    if samples.is_file() and _scrub_samples(samples, secrets):
        changed.append(samples.name)
    logs = run_dir / "logs"
    for path in sorted(logs.rglob("*")) if logs.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            clean = data
            for secret in secrets:
                clean = clean.replace(secret.encode(), REDACTED.encode())
            if clean != data:
                path.write_bytes(clean)
                changed.append(str(path.relative_to(run_dir)))
    return changed


def _scrub_samples(path: Path, secrets: list[str]) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    dirty = False
    for column in SCRUBBED_SAMPLE_COLUMNS:
        if column not in table.column_names:
            continue
        index = table.column_names.index(column)
        values = table.column(column)
        if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
            continue
        cleaned = values
        for secret in secrets:
            cleaned = pc.replace_substring(cleaned, pattern=secret, replacement=REDACTED)
        if not cleaned.equals(values):
            table = table.set_column(index, table.field(index), cleaned)
            dirty = True
    if dirty:
        from chaos.rundir import written_atomically

        with written_atomically(path) as partial:
            pq.write_table(table, partial)
    return dirty
