"""Trivial fusion baselines used as reference points, named in ``notebooks/07_train_stage2.ipynb``.

- :class:`MeanFusion`: F = (A + B) / 2 as a module ``lzsc.evaluation`` can run.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MeanFusion"]


class MeanFusion(nn.Module):
    """The trivial fusion baseline F = (A + B) / 2, pixel by pixel.

    It has no parameters. Its one buffer, empty, follows ``.to(device)`` so that
    :func:`lzsc.fusion.module_device` finds the device it was moved to, and gives it a fixed
    state_dict, hence a fixed :func:`lzsc.evaluation.model_hash` (the cache key of its fused images).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("anchor", torch.zeros(0))

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return 0.5 * (a + b)
