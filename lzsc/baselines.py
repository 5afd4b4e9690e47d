"""Trivial fusion baselines used as reference points, named in ``notebooks/07_train_stage2.ipynb``.

- :class:`MeanFusion`: F = (A + B) / 2 as a module ``lzsc.evaluation`` can run.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MeanFusion"]


class MeanFusion(nn.Module):
    """The trivial fusion baseline F = (A + B) / 2, pixel by pixel.

    It has one unused, empty parameter so that code that looks up a model's device
    (``next(model.parameters())``) and ``lzsc.evaluation.model_hash`` work with it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return 0.5 * (a + b)
