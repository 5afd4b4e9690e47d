"""Plots of the thresholds H_theta, S_theta and T_{alpha,gamma,theta} (paper Fig. 1) and their derivatives.

Introduced in ``notebooks/03_thresholds.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..interactive import live_frontend
from ..thresholds import hard_threshold, sigmoidal_threshold, soft_threshold
from .checks import labelled_figure

if TYPE_CHECKING:
    import ipywidgets

__all__ = [
    "plot_curves",
    "plot_derivatives",
    "plot_limits",
    "plot_theta_landscape",
    "plot_thresholds",
    "threshold_explorer",
    "threshold_grid",
]


def _np(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=float)


def _axes(ax: Axes | None, size: tuple[float, float] = (5.0, 4.0)) -> Axes:
    return plt.subplots(figsize=size)[1] if ax is None else ax


def _mark_theta(ax: Axes, theta: float, signs: tuple[int, ...] = (-1, 1)) -> None:
    for sign in signs:
        ax.axvline(sign * theta, color="0.6", lw=0.8, ls=":")


@labelled_figure
def plot_curves(
    x: torch.Tensor | np.ndarray,
    curves: Mapping[str, torch.Tensor | np.ndarray],
    theta: float | None = None,
    title: str = "",
    ylabel: str = "output",
    ax: Axes | None = None,
) -> Axes:
    """Curves y(x), one per key of ``curves``, with dotted lines at x = +-theta."""
    ax = _axes(ax)
    xs = _np(x)
    styles = [{"lw": 3.5, "alpha": 0.55}, {"lw": 2.0, "ls": "--"}, {"lw": 1.5}]
    for i, (name, y) in enumerate(curves.items()):
        ax.plot(xs, _np(y), label=name, **styles[min(i, len(styles) - 1)])
    if theta is not None:
        _mark_theta(ax, theta)
    ax.axhline(0, color="0.8", lw=0.6)
    ax.set_xlabel("input $x$")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def _three(x: torch.Tensor, theta: float, alpha: float, gamma: float) -> dict[str, torch.Tensor]:
    return {
        r"hard $H_\theta$": hard_threshold(x, theta),
        r"soft $S_\theta$": soft_threshold(x, theta),
        rf"sigmoidal $T$ ($\alpha$={alpha:g}, $\gamma$={gamma:g})": sigmoidal_threshold(
            x, theta, alpha, gamma
        ),
    }


@labelled_figure
def plot_thresholds(
    x: torch.Tensor, theta: float, alpha: float, gamma: float, ax: Axes | None = None
) -> Axes:
    """The paper's Fig. 1: H_theta, S_theta and T_{alpha,gamma,theta} on one axis, with the identity."""
    ax = _axes(ax)
    ax.plot(_np(x), _np(x), color="0.75", ls=":", lw=1.0, label="identity")
    title = rf"Thresholds with cut-off $\theta$ = {theta:g}"
    return plot_curves(x, _three(x, theta, alpha, gamma), theta, title, "output", ax)


@labelled_figure
def plot_derivatives(
    x: torch.Tensor,
    d_dx: Mapping[str, torch.Tensor],
    d_dtheta: Mapping[str, torch.Tensor],
    theta: float,
) -> Figure:
    """Two panels: the derivative of each threshold w.r.t. its input x and w.r.t. its cut-off theta."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    plot_curves(x, d_dx, theta, r"$\partial T / \partial x$: flows back to the input", "derivative", left)
    plot_curves(
        x, d_dtheta, theta, r"$\partial T / \partial \theta$: trains the cut-off", "derivative", right
    )
    fig.tight_layout()
    return fig


@labelled_figure
def plot_limits(
    x: torch.Tensor,
    theta: float,
    alphas: Sequence[float],
    gammas: Sequence[float],
    alpha: float,
    gamma: float,
) -> Figure:
    """Two panels: T for several alpha at fixed gamma (H to S), and for several gamma at fixed alpha."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    pos = x >= 0
    xp = x[pos]
    left.plot(_np(xp), _np(hard_threshold(xp, theta)), color="k", lw=2.5, alpha=0.25, label=r"$H_\theta$")
    left.plot(
        _np(xp), _np(soft_threshold(xp, theta)), color="k", lw=2.5, ls="--", alpha=0.25, label=r"$S_\theta$"
    )
    for a in alphas:
        left.plot(_np(xp), _np(sigmoidal_threshold(xp, theta, a, gamma)), label=rf"$\alpha$ = {a:g}")
    left.set_title(rf"$\alpha$ moves T from H ($\alpha$=0) to S ($\alpha$=1); $\gamma$ = {gamma:g}")
    right.plot(_np(xp), _np(hard_threshold(xp, theta)), color="k", lw=2.5, alpha=0.25, label=r"$H_\theta$")
    for g in gammas:
        right.plot(_np(xp), _np(sigmoidal_threshold(xp, theta, alpha, g)), label=rf"$\gamma$ = {g:g}")
    right.set_title(rf"$\gamma \to \infty$ sharpens the step at $\theta$; $\alpha$ = {alpha:g}")
    for ax in (left, right):
        _mark_theta(ax, theta, signs=(1,))
        ax.set_xlabel("input $x$ (x >= 0; T is odd)")
        ax.set_ylabel(r"$T_{\alpha,\gamma,\theta}(x)$")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@labelled_figure
def threshold_grid(x: torch.Tensor, theta: float, alphas: Sequence[float], gammas: Sequence[float]) -> Figure:
    """A static grid of T_{alpha,gamma,theta}: a row per alpha, a column per gamma, H and S faint behind."""
    fig, axes = plt.subplots(
        len(alphas),
        len(gammas),
        figsize=(2.6 * len(gammas), 2.2 * len(alphas)),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    h, s = _np(hard_threshold(x, theta)), _np(soft_threshold(x, theta))
    xs = _np(x)
    for i, a in enumerate(alphas):
        for j, g in enumerate(gammas):
            ax = axes[i, j]
            ax.plot(xs, h, color="k", alpha=0.2, lw=2, label="H")
            ax.plot(xs, s, color="k", alpha=0.2, lw=2, ls="--", label="S")
            ax.plot(xs, _np(sigmoidal_threshold(x, theta, a, g)), color="C2", label="T")
            ax.set_title(rf"$\alpha$={a:g}, $\gamma$={g:g}", fontsize=9)
            if i == len(alphas) - 1:
                ax.set_xlabel("$x$")
            if j == 0:
                ax.set_ylabel("$T(x)$")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(rf"$T_{{\alpha,\gamma,\theta}}$ with $\theta$ = {theta:g}")
    fig.tight_layout()
    return fig


@labelled_figure
def threshold_explorer(
    x: torch.Tensor,
    theta: float = 1.0,
    alpha: float = 0.1,
    gamma: float = 100.0,
    interactive: bool | None = None,
) -> ipywidgets.interactive | Figure:
    """Sliders for alpha, gamma (log scale) and theta over :func:`plot_thresholds`, or its static figure.

    ``interactive=None`` (the default) asks :func:`lzsc.interactive.live_frontend`: in a person's
    Jupyter front end the ipywidgets explorer is returned, executed headless (papermill, nbval) the
    figure of :func:`plot_thresholds` at the given (theta, alpha, gamma), closed so that a cell ending
    in the call shows it once. ``True`` / ``False`` force one or the other. Introduced in
    ``notebooks/03_thresholds.ipynb``.
    """
    if interactive is None:
        interactive = live_frontend()
    if not interactive:
        fig = plot_thresholds(x, theta, alpha, gamma).figure
        plt.close(fig)  # shown once, as the cell's result, not again by the inline backend
        return fig
    import ipywidgets as widgets

    def draw(alpha: float, gamma: float, theta: float) -> None:
        plot_thresholds(x, theta, alpha, gamma)
        plt.show()

    return widgets.interactive(
        draw,
        alpha=widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha"),
        gamma=widgets.FloatLogSlider(value=gamma, base=10, min=0, max=3, step=0.1, description="gamma"),
        theta=widgets.FloatSlider(value=theta, min=0.05, max=2.0, step=0.05, description="theta"),
    )


@labelled_figure
def plot_theta_landscape(
    thetas: torch.Tensor,
    losses: Mapping[str, torch.Tensor],
    paths: Mapping[str, torch.Tensor] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Loss as a function of the cut-off theta per threshold kind, with gradient-descent paths on top.

    ``paths`` maps a kind to the theta values visited during training; they are drawn on that
    kind's loss curve (same colour) from a circle (start) to a star (end).
    """
    ax = _axes(ax, (6.0, 4.0))
    grid = _np(thetas)
    for i, (name, loss) in enumerate(losses.items()):
        values = _np(loss)
        ax.plot(grid, values, color=f"C{i}", label=f"loss, {name}")
        if paths and name in paths:
            visited = _np(paths[name])
            on_curve = np.interp(visited, grid, values)
            ax.plot(visited, on_curve, ".", color=f"C{i}", ms=3, alpha=0.5)
            ax.plot(visited[:1], on_curve[:1], "o", color=f"C{i}", mfc="none", ms=9, label=f"start, {name}")
            ax.plot(visited[-1:], on_curve[-1:], "*", color=f"C{i}", ms=12, label=f"end, {name}")
    ax.set_xlabel(r"cut-off $\theta$")
    ax.set_ylabel("denoising loss (MSE)")
    ax.set_title(r"Learning $\theta$ by gradient descent")
    ax.legend(fontsize=8)
    return ax
