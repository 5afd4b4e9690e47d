"""Fixtures of the bad-input catalogue (the helpers themselves are in ``catalogue.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalogue import run_cli, write_grey


@pytest.fixture
def cli(capsys: pytest.CaptureFixture):
    """``cli("fuse", a, b, "-o", out)`` -> :class:`Outcome`."""
    return lambda *argv: run_cli(capsys, *argv)


@pytest.fixture
def pair_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """Two folders ``a/`` and ``b/`` with three matching grey pairs."""
    for i in range(3):
        write_grey(tmp_path / "a" / f"p{i}.png", seed=i)
        write_grey(tmp_path / "b" / f"p{i}.png", seed=10 + i)
    return tmp_path / "a", tmp_path / "b"
