"""Print the Debian mirror this machine's apt already uses for a suite, for debootstrap.

Usage: debian_mirror.py SUITE [APT_DIR]
Reads deb822 `.sources` files and one-line `.list` files; prints nothing and exits 1 when no
binary source for SUITE with component `main` is configured.
"""

from __future__ import annotations

import sys
from pathlib import Path


def deb822_entries(text: str):
    for paragraph in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split(), fields.get("components", "").split()


def one_line_entries(text: str):
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if len(words) >= 3:
            yield words[0], [words[1]], words[2:]


def mirror_for(suite: str, apt_dir: Path) -> str | None:
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        entries = deb822_entries(text) if path.suffix == ".sources" else one_line_entries(text)
        for uri, suites, components in entries:
            if suite in suites and "main" in components:
                return uri.rstrip("/")
    return None


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    found = mirror_for(sys.argv[1], Path(sys.argv[2] if len(sys.argv) == 3 else "/etc/apt"))
    if found is None:
        sys.exit(1)
    print(found)
