"""Helpers shared by several test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

SIZE = (40, 52)  # (H, W): small, non-square images keep the tests fast


def write_pairs(
    root: Path,
    names: list[str],
    size: tuple[int, int] = SIZE,
    a_sub: str = "ir",
    b_sub: str = "vi",
    seed: int = 0,
) -> tuple[Path, Path]:
    """Grey A in 0..200 and RGB B whose three channels equal A + 20 (so B's luma is exactly A + 20)."""
    rng = np.random.default_rng(seed)
    a_dir, b_dir = root / a_sub, root / b_sub
    a_dir.mkdir(parents=True, exist_ok=True)
    b_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        a = rng.integers(0, 201, size=size, dtype=np.uint8)
        Image.fromarray(a).save(a_dir / name)
        Image.fromarray(np.repeat((a + 20)[..., None], 3, axis=2)).save(b_dir / name)
    return a_dir, b_dir


def assert_same_state(x, y, where: str = "") -> None:
    """Recursive bitwise comparison of checkpoint contents (tensors with torch.equal)."""
    if isinstance(x, torch.Tensor):
        assert isinstance(y, torch.Tensor), where
        assert x.dtype == y.dtype, where
        assert torch.equal(x, y), where
    elif isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for k in x:
            assert_same_state(x[k], y[k], f"{where}.{k}")
    elif isinstance(x, list | tuple):
        assert len(x) == len(y), where
        for i, (a, b) in enumerate(zip(x, y, strict=True)):
            assert_same_state(a, b, f"{where}[{i}]")
    else:
        assert x == y, where
