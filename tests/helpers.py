"""Helpers shared by several test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

import torch


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
