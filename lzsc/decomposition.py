"""What each decoded part of FNet's fused image carries: F = G_u1 u1 + G_c c + G_u2 u2 (eq. 23).

:func:`part_shares` reads an :class:`~lzsc.models.FNetOutput` and gives, for each part, its share of F
(the projection <part, F> / ||F||^2; the three shares sum to 1, and a part can have a negative share
when it cancels the others) and its Pearson correlation with each source. Introduced in
``notebooks/05_fnet_ifnet.ipynb``, which interprets the figure of the three parts with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from .metrics.structural import pearson as _pearson

if TYPE_CHECKING:
    from .models import FNetOutput

__all__ = ["PARTS", "part_shares"]

PARTS = ("u1", "c", "u2")
"""The parts of eq. 23 in the order of the paper: A's unique code, the common code, B's unique code."""


def _corr(x: Tensor, y: Tensor) -> float:
    """Pearson correlation over all entries (:func:`lzsc.metrics.structural.pearson`)."""
    return _pearson(x.detach().double().cpu().numpy(), y.detach().double().cpu().numpy())


def part_shares(parts: FNetOutput, a: Tensor, b: Tensor) -> dict[str, dict[str, float]]:
    """Per part ("u1", "c", "u2"): ``share`` <G part, F> / ||F||^2, ``corr_a`` and ``corr_b``.

    ``parts`` is ``FNet.forward(a, b, return_parts=True)`` for the sources ``a`` (A) and ``b`` (B).
    """
    decoded = {"u1": parts.rec_u1, "c": parts.rec_c, "u2": parts.rec_u2}
    fused = parts.fused.double()
    for name, source in (("A", a), ("B", b)):
        if source.shape != fused.shape:
            raise ValueError(f"source {name} has shape {tuple(source.shape)}, F has {tuple(fused.shape)}")
    energy = fused.pow(2).sum()
    if energy == 0:
        raise ValueError("F is zero: its parts have no share")
    return {
        name: {
            "share": (part.double() * fused).sum().div(energy).item(),
            "corr_a": _corr(part, a),
            "corr_b": _corr(part, b),
        }
        for name, part in decoded.items()
    }
