"""Plots for classical sparse coding: codes, magnitude bias, support recovery and convergence curves.

Introduced in ``notebooks/01_l0_vs_l1_sparse_coding.ipynb`` and ``notebooks/02_niht_and_momentum.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

__all__ = [
    "plot_codes",
    "plot_curves_per_iteration",
    "plot_magnitude_errors",
    "plot_recovery",
]

_MARKERS = ("o", "s", "D", "^", "v", "P")


def _np(t: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=float)


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    return plt.subplots(figsize=size)[1] if ax is None else ax


def plot_codes(
    z_true: torch.Tensor, estimates: Mapping[str, torch.Tensor], title: str = "", ax: Axes | None = None
) -> Axes:
    """One code (a 1-D tensor of length m): the true coefficients as grey bars, estimates as markers.

    Only entries that are non-zero in the truth or in some estimate are marked, so the sparsity
    pattern (and any coefficient an estimate missed or added) is visible.
    """
    ax = _axes(ax, (10.0, 3.6))
    idx = np.arange(z_true.numel())
    truth = _np(z_true.reshape(-1))
    ax.bar(idx, truth, width=1.2, color="0.6", label="true code")
    for i, (name, z) in enumerate(estimates.items()):
        values = _np(z.reshape(-1))
        keep = values != 0
        ax.plot(idx[keep], values[keep], _MARKERS[i % len(_MARKERS)], mfc="none", ms=7, mew=1.4, label=name)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xlabel("entry $i$ of the code")
    ax.set_ylabel("coefficient $z_i$")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=len(estimates) + 1)
    return ax


def plot_magnitude_errors(
    errors: Mapping[str, torch.Tensor], reference: float | None = None, ax: Axes | None = None
) -> Axes:
    """Histograms of |z_hat_i| - |z_i| over the true support, one per solver; ``reference`` marks -lambda."""
    ax = _axes(ax, (7.0, 4.0))
    values = {name: _np(e.reshape(-1)) for name, e in errors.items()}
    lo = min(v.min() for v in values.values())
    hi = max(v.max() for v in values.values())
    bins = np.linspace(lo, hi, 60)
    for name, v in values.items():
        ax.hist(v, bins=bins, alpha=0.55, label=f"{name}: mean {v.mean():+.3f}")
    if reference is not None:
        ax.axvline(-reference, color="k", ls="--", lw=1, label=rf"$-\lambda$ = {-reference:g}")
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlabel(r"$|\hat z_i| - |z_i|$ on the true support")
    ax.set_ylabel("number of coefficients")
    ax.set_title("Recovered magnitudes: the bias of soft thresholding")
    ax.legend(fontsize=8)
    return ax


def plot_recovery(
    sparsities: Sequence[int],
    rates: Mapping[str, Sequence[float]],
    trials: int,
    title: str = "Exact support recovery",
    ax: Axes | None = None,
) -> Axes:
    """Fraction of trials whose support was recovered exactly, against the number of non-zeros k."""
    ax = _axes(ax, (6.5, 4.0))
    for i, (name, r) in enumerate(rates.items()):
        ax.plot(_np(sparsities), _np(r), _MARKERS[i % len(_MARKERS)] + "-", label=name)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("non-zeros per code $k$")
    ax.set_ylabel(f"fraction of {trials} trials recovered")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_curves_per_iteration(
    curves: Mapping[str, torch.Tensor | Sequence[float]],
    ylabel: str,
    title: str = "",
    log: bool = True,
    ylim: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Quantities per iteration (objective, objective gap, recovery rate), one curve per solver.

    ``ylim`` clips the y axis (for example to keep a diverging curve from squashing the others).
    """
    ax = _axes(ax, (6.5, 4.0))
    for name, values in curves.items():
        ax.plot(_np(values), label=name, lw=1.5)
    if log:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return ax
