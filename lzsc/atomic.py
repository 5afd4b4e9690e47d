"""Atomic file writes: a temporary file in the target folder, fsync, then one rename.

A reader sees either the old file or the complete new one, never a half-written file, even if the
writer is interrupted (Ctrl-C, a crash, a full disk). The new file gets the permissions a plain
``open(path, "w")`` would give it: the replaced file's, or 0o666 under the umask the process has at
the time of the write. Every result, CSV, JSON, image and checkpoint the library writes goes through here.

Temporary files are siblings named ``.<name>.<8 random characters>.tmp``. One whose writer was killed
(``kill -9``, a power cut) stays behind; after each successful write of ``path``,
:func:`remove_stale_temporaries` deletes the orphans of that same target that nobody has modified for
:data:`STALE_SECONDS` (10 minutes). A live writer writes its temporary file continuously and lzsc's
writes take seconds, so a concurrent writer's file is never that old; ``remove_stale_temporaries``
also cleans a whole folder (``lzsc train`` does it when it opens a run folder).
"""

from __future__ import annotations

import csv
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["STALE_SECONDS", "append_csv", "atomic_open", "remove_stale_temporaries", "write_text_atomic"]

STALE_SECONDS = 600.0
"""A temporary file unmodified for this long is an orphan of a killed writer (see the module docstring)."""

_RANDOM = r"[a-z0-9_]{8}"  # tempfile.mkstemp's random part


def _umask() -> int:
    """The process's current umask: from ``/proc/self/status`` on Linux, else by setting and restoring it."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere, reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The permissions ``open(path, "w")`` would leave: the existing file's, else 0o666 minus the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def remove_stale_temporaries(
    folder: str | Path, target: str | None = None, older_than: float = STALE_SECONDS
) -> list[Path]:
    """Delete the orphaned temporary files of :func:`atomic_open` in ``folder``; returns what was deleted.

    Only files named like ours (``.<name>.<random>.tmp``) and not modified for ``older_than`` seconds
    are removed, those of ``target`` (a file name in ``folder``) when given, else of every target.
    """
    prefix, name = (f".{target}.", re.escape(target)) if target is not None else (".", ".+")
    pattern = re.compile(rf"\.{name}\.{_RANDOM}\.tmp")
    removed: list[Path] = []
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:  # cheap string tests first: this runs after every write, in folders of any size
        if not (
            entry.name.startswith(prefix) and entry.name.endswith(".tmp") and pattern.fullmatch(entry.name)
        ):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except FileNotFoundError:  # removed meanwhile by its writer or another cleaner
            continue
    return removed


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
    remove_stale_temporaries(path.parent, path.name)


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
