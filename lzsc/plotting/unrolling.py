"""Plots for unrolled networks: error versus depth against classical iterations, and the eq. 21 schedules.

Introduced in ``notebooks/04_unrolling.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .checks import labelled_figure

__all__ = ["plot_depth_vs_error", "plot_schedules", "plot_training_losses"]

_MARKERS = ("o", "s", "D", "^", "v")


def _np(t: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=float)


@labelled_figure
def plot_depth_vs_error(
    iterations: Sequence[int],
    classical: Mapping[str, Sequence[float]],
    depths: Sequence[int],
    learned: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
) -> Axes:
    """Test error (dB) of classical solvers after t iterations (lines) and of learned d-layer nets (markers).

    ``classical[name][i]`` is the error after ``iterations[i]`` iterations; ``learned[name][j]`` the
    error of the network with ``depths[j]`` layers. The x axis (iterations = layers) is logarithmic.
    """
    if ax is None:
        ax = plt.subplots(figsize=(7.5, 4.5))[1]
    for i, (name, errors) in enumerate(classical.items()):
        ax.plot(_np(iterations), _np(errors), "-", color=f"C{i}", lw=1.5, label=f"{name} (iterations)")
    offset = len(classical)
    for j, (name, errors) in enumerate(learned.items()):
        ax.plot(
            _np(depths),
            _np(errors),
            _MARKERS[j % len(_MARKERS)] + "--",
            color=f"C{offset + j}",
            ms=8,
            lw=1.0,
            label=f"{name} (layers)",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("iterations of the solver / layers of the network")
    ax.set_ylabel(r"code error $10\log_{10}\|\hat z - z\|^2 / \|z\|^2$ (dB)")
    ax.set_title("Few learned layers against many classical iterations (test set)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


@labelled_figure
def plot_training_losses(histories: Mapping[str, Sequence[float]], ax: Axes | None = None) -> Axes:
    """Training loss (normalised code error, log scale) per step, one curve per network."""
    if ax is None:
        ax = plt.subplots(figsize=(6.0, 3.5))[1]
    for name, losses in histories.items():
        ax.plot(_np(losses), label=name, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(r"$\|\hat z - z\|^2 / \|z\|^2$ (minibatch)")
    ax.set_title("Training the learned IHT networks")
    ax.legend(fontsize=8)
    return ax


@labelled_figure
def plot_schedules(
    k: torch.Tensor, thetas: Mapping[str, torch.Tensor], rhos: Mapping[str, torch.Tensor]
) -> Figure:
    """Two panels: theta^k and rho^k against the iteration k for several (w, b) of eq. 21."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    ks = _np(k)
    for name, values in thetas.items():
        left.plot(ks, _np(values), "o-", label=name)
    for name, values in rhos.items():
        right.plot(ks, _np(values), "o-", label=name)
    left.set_title(r"$\theta^k = \mathrm{softplus}(w_\theta k + b_\theta)$")
    left.set_ylabel(r"cut-off $\theta^k$")
    right.set_title(
        r"$\rho^k = (\mathrm{softplus}(w_\rho k + b_\rho) - \mathrm{softplus}(b_\rho))"
        r" / \mathrm{softplus}(w_\rho k + b_\rho)$",
        fontsize=10,
    )
    right.set_ylabel(r"momentum $\rho^k$")
    right.axhline(1.0, color="0.7", ls=":", lw=1)
    for ax in (left, right):
        ax.set_xlabel("iteration $k$")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
