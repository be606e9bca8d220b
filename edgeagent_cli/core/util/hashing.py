"""sha256 of files and streams, in 1 MiB chunks, with an optional progress callback."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

CHUNK = 1 << 20
Progress = Callable[[int], None]


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    with path.open("rb") as f:
        return copy_hashing(f, None, progress)


def copy_hashing(src: IO[bytes], dst: IO[bytes] | None, progress: Progress | None = None) -> str:
    """Read `src` to the end, writing each chunk to `dst` (if any); the sha256 of what was read."""
    h = hashlib.sha256()
    while chunk := src.read(CHUNK):
        h.update(chunk)
        if dst is not None:
            dst.write(chunk)
        if progress:
            progress(len(chunk))
    return h.hexdigest()
