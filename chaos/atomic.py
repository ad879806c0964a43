"""Writing a file so that no reader, and no crash, ever sees half of it. Its own module: the run dir,
the secret scrubber, the probes, the load and the reports all write files this way, and the run dir's
rules (rundir) read the journal, which scrubs secrets: the writer must sit below all of them."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """A path beside ``path`` to write to; renamed onto ``path`` only when the block ends without error, removed
    otherwise: a reader, or a crash, never sees half a file, and a failed write leaves the old one."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
