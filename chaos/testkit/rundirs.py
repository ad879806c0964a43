"""A test's run dir: its folder name, its seed (stable per test) and a fresh run dir with ``latest``."""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path


def slug_for(nodeid: str) -> str:
    """A folder name for a test: ``tests/test_shop.py::test_slow_redis[v2]`` -> ``test_shop-test_slow_redis-v2``."""
    path, _, rest = nodeid.partition("::")
    stem = Path(path).stem
    text = f"{stem}-{rest}" if rest else stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:100] or "test"


def seed_for(nodeid: str) -> int:
    """Stable per test, so a report re-rendered later is identical."""
    return zlib.crc32(nodeid.encode()) & 0x7FFFFFFF


def new_run_dir_for(report_dir: Path, nodeid: str) -> Path:
    from chaos.plan import new_run_id

    folder = Path(report_dir) / slug_for(nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        run_dir = folder / new_run_id()
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            continue
    latest = folder / "latest"
    temporary = folder / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_dir.name)
    temporary.replace(latest)
    return run_dir
