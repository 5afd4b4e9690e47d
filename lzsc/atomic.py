"""Atomic file writes: a temporary file in the target folder, fsync, then one rename.

A reader sees either the old file or the complete new one, never a half-written file, even if the
writer is interrupted (Ctrl-C, a crash, a full disk). The new file gets the permissions a plain
``open(path, "w")`` would give it: the replaced file's, or the default under the process umask.
Every result, CSV, JSON, image and checkpoint the library writes goes through here.
"""

from __future__ import annotations

import csv
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["append_csv", "atomic_open", "write_text_atomic"]

_UMASK = os.umask(0o022)  # reading the umask means setting it: put it straight back
os.umask(_UMASK)


def _mode_for(path: Path) -> int:
    """The permissions ``open(path, "w")`` would leave: the existing file's, else 0o666 minus the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_UMASK


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _mode_for(path))
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def append_csv(path: str | Path, rows: Sequence[Mapping[str, object]]) -> Path:
    """Append ``rows`` to the CSV at ``path``, rewriting it atomically.

    Columns are the existing header followed by any new keys, in order of first appearance; a cell a
    row lacks is left empty, so rows written by an older version of a script stay readable.
    """
    path = Path(path)
    previous: list[dict[str, str]] = []
    columns: list[str] = []
    if path.is_file() and path.stat().st_size:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            previous = list(reader)
            columns = list(reader.fieldnames or [])
    columns += [k for k in dict.fromkeys(k for r in rows for k in r) if k not in columns]
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows([*previous, *rows])
    return path
