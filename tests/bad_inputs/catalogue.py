"""Helpers of the bad-input catalogue: run a command as a user would, check how it fails.

Every case asserts three things: the exit code, that the message names the problem (and carries no
traceback), and that no input or earlier output changed (:class:`Snapshot`). Commands run in-process
through :func:`lzsc.cli.main` (what the ``lzsc`` script calls) so that a case costs no interpreter
start-up; an exception escaping ``main`` is a traceback the user would see, and fails the case.
Test modules of this folder import these names (pytest puts the folder on ``sys.path``); the fixtures
are in ``conftest.py``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lzsc.cli import main


@dataclass
class Outcome:
    """What a user sees: the exit code and everything printed."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(capsys: pytest.CaptureFixture, *argv: object) -> Outcome:
    """``lzsc ARGV...`` in-process; argparse's own exits become their exit code."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def expect_failure(outcome: Outcome, code: int, *fragments: str) -> None:
    """Exit ``code``, each fragment in the output, and no traceback."""
    assert "Traceback" not in outcome.text, outcome.text
    assert outcome.code == code, f"exit {outcome.code}, expected {code}:\n{outcome.text}"
    for fragment in fragments:
        assert fragment in outcome.text, f"{fragment!r} not in:\n{outcome.text}"


class Snapshot:
    """SHA-256 of every file under some paths; :meth:`unchanged` asserts none was added, changed or lost."""

    def __init__(self, *paths: Path) -> None:
        self.paths = paths
        self.before = self._hashes()

    def _hashes(self) -> dict[Path, str]:
        files: dict[Path, str] = {}
        for root in self.paths:
            for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
                files[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return files

    def unchanged(self) -> None:
        after = self._hashes()
        assert after == self.before, {
            "added": sorted(set(after) - set(self.before)),
            "lost": sorted(set(self.before) - set(after)),
            "changed": sorted(p for p in set(after) & set(self.before) if after[p] != self.before[p]),
        }


def write_grey(path: Path, shape: tuple[int, int] = (24, 32), seed: int = 0) -> Path:
    """A random 8-bit grey PNG (or any format PIL infers from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path
