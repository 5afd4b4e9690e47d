"""Exponential moving average of a network's weights (decay 0.999 in the authors' release).

After every optimiser step, ``theta_ema <- decay * theta_ema + (1 - decay) * theta``. The averaged
copy, not the raw weights, is what the release saves and tests (``docs/conventions.md``), and so does
:mod:`lzsc.training.trainer`. Introduced in ``notebooks/06_train_stage1.ipynb``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..checkpoints import load_state_dict_strict

__all__ = ["EMA"]


class EMA:
    """A frozen copy of ``model`` whose parameters track an exponential moving average.

    ``module`` is the averaged network (eval mode, no gradients); ``state_dict()`` is its plain
    state_dict, the ``"ema"`` entry of an lzsc checkpoint. Buffers are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One averaging step towards ``model``'s current weights."""
        own = dict(self.module.named_parameters())
        theirs = dict(model.named_parameters())
        if own.keys() != theirs.keys():
            raise ValueError("EMA.update got a model whose parameters differ from the averaged one")
        for name, p in theirs.items():
            own[name].lerp_(p.detach(), 1.0 - self.decay)
        for (_, mine), (_, other) in zip(self.module.named_buffers(), model.named_buffers(), strict=True):
            mine.copy_(other)

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged weights as a plain state_dict."""
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        """Restore averaged weights (strict: every key and shape must match)."""
        load_state_dict_strict(self.module, state, source="EMA state")

    def to(self, *args, **kwargs) -> EMA:
        """Move the averaged copy (same arguments as ``nn.Module.to``)."""
        self.module.to(*args, **kwargs)
        return self
