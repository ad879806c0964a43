"""Which values are secret, and scrubbing them from text and from the files of a run dir.

Secret are: the values of the variables an experiment lists under ``secrets:`` (wherever
they are used: the experiment file, its compose file, a header), and the values of target
environment entries whose key looks secret (PASSWORD, TOKEN, SECRET, KEY, ...) or that carry
a password inside a URL (``postgres://user:PASSWORD@db``).  Every other environment value
is only ever shown as ``<set>`` (plan.json) and never copied into journals or reports; it
is not scrubbed from free text, because values like ``redis`` or ``6379`` also name links.
For the same reason a number or a boolean (``SESSION_TIMEOUT=3600``, ``AUTH_ENABLED=true``) is
never a secret by its key name alone: list it under ``secrets:`` if it really is one.

``scrub`` is the one way to hide them: it walks a value (a text, or the dicts and lists about to
be serialised: journal lines, plan.json, reports, notifications, console lines) and replaces each
secret inside its strings; numbers, booleans and None are left as they are.  It is never applied
to serialised JSON text, where a secret such as ``3600`` or ``true`` would break the syntax.

The secret values themselves are never written to the run dir, so a report rendered later
from the run dir alone (``chaos report``) cannot scrub them: that is why the runner scrubs
the only files written by other processes (samples, Locust's logs) before it renders.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from chaos.atomic import written_atomically

REDACTED = "***"
MIN_DETECTED_LENGTH = 4  # shorter values would blank out ordinary words everywhere
_SECRET_KEY = re.compile(r"pass|pwd|token|secret|key|credential|auth|cookie|session|private", re.IGNORECASE)
_NUMBER_OR_BOOLEAN = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|true|false|yes|no|on|off", re.IGNORECASE)
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
        if looks_secret(str(key)) and len(text) >= MIN_DETECTED_LENGTH and not number_or_boolean(value):
            found.append(text)
            continue
        password = _url_password(text)
        if password and len(password) >= MIN_DETECTED_LENGTH:
            found.append(password)
    return found


def number_or_boolean(value) -> bool:
    """A setting, not a credential: ``3600``, ``0.5``, ``true``, ``off`` (as a YAML scalar or its text)."""
    if isinstance(value, (bool, int, float)):
        return True
    return bool(_NUMBER_OR_BOOLEAN.fullmatch(str(value).strip()))


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


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` with every secret replaced inside its strings (dict keys too), before it is serialised.

    A text, or dicts, lists and tuples of values; numbers, booleans, None and other objects come back
    as they are (serialise those with ``scrubbed_default``)."""
    secrets = ordered(secrets)
    return _scrub(value, secrets) if secrets else value


def scrubbed_default(secrets: Iterable[str]):
    """A ``json.dumps(default=...)`` that writes an object JSON does not know as its text, scrubbed."""
    secrets = ordered(secrets)
    return lambda value: _scrub(str(value), secrets)


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_scrub(key, secrets): _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(_scrub(item, secrets) for item in value)
    return value


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
        with written_atomically(path) as partial:
            pq.write_table(table, partial)
    return dirty
