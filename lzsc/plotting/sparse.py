"""Plots for classical sparse coding: codes and their errors, magnitude bias, support recovery (with
standard errors), convergence curves, the solver race and the phase diagram.

Introduced in ``notebooks/01_l0_vs_l1_sparse_coding.ipynb`` and ``notebooks/02_niht_and_momentum.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from lzsc.interactive import live_frontend
from lzsc.operators import DenseDictionary
from lzsc.phase import PhaseDiagram
from lzsc.solvers import momentum_iht

from .checks import labelled_figure

if TYPE_CHECKING:
    import ipywidgets

__all__ = [
    "STEP_SETTINGS",
    "plot_code_errors",
    "plot_codes",
    "plot_curves_per_iteration",
    "plot_magnitude_errors",
    "plot_phase_diagram",
    "plot_race",
    "plot_recovery",
    "plot_step_paths",
    "step_explorer",
]

STEP_SETTINGS = ((0.2, 0.0), (0.99, 0.0), (0.99, 0.8), (1.9, 0.0))

_MARKERS = ("o", "s", "D", "^", "v", "P")
Legend = Literal["best", "outside", "none"]


def _np(t: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=float)


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    return plt.subplots(figsize=size)[1] if ax is None else ax


def _legend(ax: Axes, where: Legend) -> None:
    if where == "best":
        ax.legend(fontsize=8)
    elif where == "outside":
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    elif where != "none":
        raise ValueError(f"legend must be 'best', 'outside' or 'none', got {where!r}")


@labelled_figure
def plot_codes(
    z_true: torch.Tensor, estimates: Mapping[str, torch.Tensor], title: str = "", ax: Axes | None = None
) -> Axes:
    """One code (a 1-D tensor of length m): the true coefficients as grey bars, estimates as markers.

    Only entries that are non-zero in the truth or in some estimate are marked, so the sparsity
    pattern (and any coefficient an estimate missed or added) is visible. A bias of a few per cent
    is not: :func:`plot_code_errors` shows the errors themselves.
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


@labelled_figure
def plot_code_errors(
    z_true: torch.Tensor,
    estimates: Mapping[str, torch.Tensor],
    reference: float | None = None,
    title: str = "",
    ax: Axes | None = None,
) -> Axes:
    """The error of each estimate on the true support of one code, signed towards the truth's sign.

    For every true non-zero z_i (x axis: its index i), the marker is sign(z_i) (z_hat_i - z_i): 0 for an
    exact value, negative when the estimate is shrunk towards zero, -|z_i| when it is missed. This
    is the picture where soft thresholding's shortfall of about lambda is visible (``reference``
    draws -lambda), unlike the values of :func:`plot_codes`, where it is a few per cent of a bar.
    """
    ax = _axes(ax, (7.0, 3.6))
    truth = _np(z_true.reshape(-1))
    support = np.flatnonzero(truth)
    if support.size == 0:
        raise ValueError("z_true has no non-zero entry: there is no support to show errors on")
    pos = np.arange(support.size)
    width = 0.8 / max(len(estimates), 1)
    for i, (name, z) in enumerate(estimates.items()):
        err = np.sign(truth[support]) * (_np(z.reshape(-1))[support] - truth[support])
        offset = (i - (len(estimates) - 1) / 2) * width
        ax.bar(pos + offset, err, width=width, label=f"{name}: mean {err.mean():+.3f}")
    if reference is not None:
        ax.axhline(-reference, color="k", ls="--", lw=1, label=rf"$-\lambda$ = {-reference:g}")
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xticks(pos, [str(i) for i in support])
    ax.set_xlabel("entry $i$ on the true support")
    ax.set_ylabel(r"$\mathrm{sign}(z_i)\,(\hat z_i - z_i)$")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(
        fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(estimates) + 1, frameon=False
    )
    return ax


@labelled_figure
def plot_magnitude_errors(
    errors: Mapping[str, torch.Tensor], reference: float | None = None, ax: Axes | None = None
) -> Axes:
    """Histograms of |z_hat_i| - |z_i| over the true support, one per solver; ``reference`` marks -lambda.

    The legend gives each solver's mean with its standard error and the number of coefficients.
    """
    ax = _axes(ax, (7.0, 4.0))
    values = {name: _np(e.reshape(-1)) for name, e in errors.items()}
    if any(v.size < 2 for v in values.values()):
        raise ValueError("every solver needs at least 2 errors for a histogram and a standard error")
    lo = min(v.min() for v in values.values())
    hi = max(v.max() for v in values.values())
    bins = np.linspace(lo, hi, 60)
    for name, v in values.items():
        se = v.std(ddof=1) / np.sqrt(v.size)
        ax.hist(
            v, bins=bins, alpha=0.55, label=f"{name}: mean {v.mean():+.3f} ± {se:.3f} ({v.size} coefficients)"
        )
    if reference is not None:
        ax.axvline(-reference, color="k", ls="--", lw=1, label=rf"$-\lambda$ = {-reference:g}")
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xlabel(r"$|\hat z_i| - |z_i|$ on the true support")
    ax.set_ylabel("number of coefficients")
    ax.set_title("Recovered magnitudes: the bias of soft thresholding")
    ax.legend(fontsize=8)
    return ax


@labelled_figure
def plot_recovery(
    sparsities: Sequence[int],
    rates: Mapping[str, Sequence[float]],
    trials: int,
    title: str = "Exact support recovery",
    ax: Axes | None = None,
) -> Axes:
    """Fraction of trials whose support was recovered exactly, against the number of non-zeros s.

    Every point is a mean of ``trials`` successes or failures; the error bars are its binomial
    standard error sqrt(p (1 - p) / trials).
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be an int >= 1, got {trials!r}")
    ax = _axes(ax, (6.5, 4.0))
    s = _np(sparsities)
    for i, (name, r) in enumerate(rates.items()):
        p = _np(r)
        if p.shape != s.shape:
            raise ValueError(f"{name}: {p.size} rates for {s.size} sparsities")
        se = np.sqrt(p * (1 - p) / trials)
        ax.errorbar(s, p, yerr=se, fmt=_MARKERS[i % len(_MARKERS)] + "-", capsize=3, label=name)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("non-zeros per code $s$")
    ax.set_ylabel(f"fraction of {trials} trials recovered (± s.e.)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax


@labelled_figure
def plot_curves_per_iteration(
    curves: Mapping[str, torch.Tensor | Sequence[float]],
    ylabel: str,
    title: str = "",
    log: bool = True,
    ylim: tuple[float, float] | None = None,
    ax: Axes | None = None,
    legend: Legend = "best",
) -> Axes:
    """Quantities per iteration (objective, objective gap, recovery rate), one curve per solver.

    ``ylim`` clips the y axis (for example to keep a diverging curve from squashing the others);
    ``legend="outside"`` puts the legend to the right of the axes, where it hides no curve.
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
    _legend(ax, legend)
    return ax


@labelled_figure
def plot_race(
    l0_objectives: Mapping[str, torch.Tensor],
    l1_gaps: Mapping[str, torch.Tensor],
    recovery: Mapping[str, torch.Tensor],
    trials: int,
    title: str = "",
) -> Figure:
    """The solver race of notebook 02 in three panels: mean F_0 of the l0 solvers, mean F_1 - F_1* of
    the l1 solvers, and the share of the ``trials`` codes with the exact support, per iteration.

    Every curve is a mean over ``trials`` codes (said on the y axes). One legend for all solvers,
    below the panels, so that no curve is hidden (each solver keeps its colour in every panel).
    """
    names = list(dict.fromkeys([*l0_objectives, *l1_gaps, *recovery]))
    colours = {name: f"C{i}" for i, name in enumerate(names)}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    panels = (
        (l0_objectives, f"mean $F_0(z^k)$ over {trials} codes", "l0 objective", True),
        (l1_gaps, rf"mean $F_1(z^k) - F_1^\star$ over {trials} codes", "l1 objective gap", True),
        (recovery, f"share of {trials} codes with exact support", "exact support", False),
    )
    for ax, (curves, ylabel, what, log) in zip(axes, panels, strict=True):
        for name, values in curves.items():
            ax.plot(_np(values), lw=1.5, color=colours[name], label=name)
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("iteration $k$")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}: {what}" if title else what)
        ax.grid(True, which="major", alpha=0.3)
    handles = [Line2D([], [], color=colours[name], lw=2) for name in names]
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


@labelled_figure
def plot_phase_diagram(
    diagram: PhaseDiagram,
    compare: tuple[str, str] | None = None,
    z: float = 2.0,
    title: str = "",
    holm_alpha: float | None = None,
) -> Figure:
    """One heat map per solver of the share of supports recovered exactly on the (s, n) grid, and,
    with ``compare = (a, b)``, a last panel of rates[a] - rates[b] in which a cell where the difference
    exceeds ``z`` standard errors is framed (see :meth:`lzsc.phase.PhaseDiagram.ahead`), or, with
    ``holm_alpha``, a cell significant after Holm's correction over the grid at that family-wise level
    (:meth:`lzsc.phase.PhaseDiagram.ahead_holm`).

    Colour scales are colour-blind safe (viridis for rates, PuOr for the difference); every cell
    also carries its value as text. Up to three panels sit in one row, more in rows of two.
    """
    names = list(diagram.rates)
    panels = len(names) + (compare is not None)
    cols = panels if panels <= 3 else 2
    rows = -(-panels // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    axes = list(grid.flat)
    for ax in axes[panels:]:
        ax.set_axis_off()
    extent_x, extent_y = np.arange(len(diagram.sparsities)), np.arange(len(diagram.measurements))

    def cells(ax: Axes, values: np.ndarray, cmap: str, vmin: float, vmax: float, label: str) -> None:
        image = ax.imshow(values, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for (r, c), v in np.ndenumerate(values):
            dark = (v - vmin) / (vmax - vmin) < 0.5 if cmap == "viridis" else abs(v) > 0.6 * vmax
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8, color="w" if dark else "k")
        ax.set_xticks(extent_x, [str(s) for s in diagram.sparsities])
        ax.set_yticks(extent_y, [str(n) for n in diagram.measurements])
        ax.set_xlabel("non-zeros per code $s$")
        ax.set_ylabel(f"measurements $n$ (m = {diagram.atoms} atoms)")
        fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03).set_label(label)

    for ax, name in zip(axes, names, strict=False):
        cells(ax, _np(diagram.rates[name]), "viridis", 0.0, 1.0, f"share of {diagram.trials} codes")
        ax.set_title(name)
    if compare is not None:
        a, b = compare
        diff, _ = diagram.difference(a, b)
        ax = axes[panels - 1]
        cells(ax, _np(diff), "PuOr", -1.0, 1.0, f"{a} - {b}")
        if holm_alpha is None:
            framed = _np(diagram.ahead(a, b, z)) + _np(diagram.ahead(b, a, z))
            rule = f"more than {z:g} standard errors"
        else:
            framed = _np(diagram.ahead_holm(a, b, holm_alpha)) + _np(diagram.ahead_holm(b, a, holm_alpha))
            rule = f"significant, Holm-corrected at {holm_alpha:g}"
        for r, c in zip(*np.nonzero(framed), strict=True):
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=1.8, ec="k"))
        ax.set_title(f"{a} - {b}\n(framed: {rule})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@labelled_figure
def plot_step_paths(
    D: DenseDictionary,
    x: torch.Tensor,
    lam: float,
    settings: Sequence[tuple[float, float]] = STEP_SETTINGS,
    n_iter: int = 30,
    ax: Axes | None = None,
) -> Axes:
    """Paths of momentum IHT on a problem with two atoms (``lzsc.problems.two_atom_problem``), drawn
    over the level sets of the data term 0.5 ||x - D z||^2.

    Each setting is (c, rho): the step mu = c / L (L = ||D||_2^2) and a constant momentum weight rho
    (0: plain IHT). The iterates come from :func:`lzsc.solvers.momentum_iht`; the legend gives each
    path's final objective F_0. The axes z_1 = 0 and z_2 = 0 are where the sparse codes lie.
    """
    if D.weight.shape != (2, 2):
        raise ValueError(
            f"plot_step_paths draws codes in the plane: D must be 2 x 2, got {tuple(D.weight.shape)}"
        )
    ax = _axes(ax, (6.5, 5.0))
    lipschitz = D.norm_sq(like=x)
    z_ls = torch.linalg.solve(D.weight, x)
    radius = float(z_ls.abs().max()) + 0.3
    g1, g2 = np.meshgrid(*(np.linspace(float(c) - radius, float(c) + radius, 201) for c in z_ls))
    grid = torch.tensor(np.stack([g1.ravel(), g2.ravel()], axis=1), dtype=x.dtype)
    data = 0.5 * ((x - grid @ D.weight.T) ** 2).sum(-1)
    ax.contour(
        g1, g2, _np(data).reshape(g1.shape), levels=np.geomspace(1e-3, float(data.max()), 14), colors="0.75"
    )
    ax.axhline(0, color="0.4", lw=0.8)
    ax.axvline(0, color="0.4", lw=0.8)
    for i, (factor, rho) in enumerate(settings):
        r = momentum_iht(
            D, x, lam, n_iter=n_iter, step=factor / lipschitz, rho=lambda k, v=rho: v, return_iterates=True
        )
        path = _np(torch.stack(r.iterates))
        label = f"$\\mu$ = {factor:g}/L, $\\rho$ = {rho:g}: $F_0$ = {float(r.objective[-1]):.3g}"
        ax.plot(path[:, 0], path[:, 1], _MARKERS[i % len(_MARKERS)] + "-", ms=3, lw=1.2, label=label)
    ax.plot(*_np(z_ls), "k*", ms=12, label="least squares")
    ax.set_xlim(float(z_ls[0]) - radius, float(z_ls[0]) + radius)
    ax.set_ylim(float(z_ls[1]) - radius, float(z_ls[1]) + radius)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(f"{n_iter} iterations from $z^0 = 0$, $\\lambda$ = {lam:g}")
    _legend(ax, "outside")
    return ax


@labelled_figure
def step_explorer(
    D: DenseDictionary,
    x: torch.Tensor,
    lam: float = 0.05,
    step: float = 0.99,
    momentum: float = 0.0,
    n_iter: int = 30,
    interactive: bool | None = None,
) -> ipywidgets.interactive | Figure:
    """Sliders for the step (in units of 1/L), the momentum weight and lambda over :func:`plot_step_paths`.

    ``interactive=None`` asks :func:`lzsc.interactive.live_frontend`: in a person's Jupyter front end
    the ipywidgets explorer (one path, the sliders' setting, beside plain IHT at 0.99/L) is returned;
    executed headless, the static figure of the reference settings ``STEP_SETTINGS`` plus the given
    one, closed so that a cell ending in the call shows it once. Introduced in
    ``notebooks/02_niht_and_momentum.ipynb``.
    """
    if interactive is None:
        interactive = live_frontend()
    if not interactive:
        settings = list(dict.fromkeys([*STEP_SETTINGS, (step, momentum)]))
        fig = plot_step_paths(D, x, lam, settings, n_iter).figure
        plt.close(fig)
        return fig
    import ipywidgets as widgets

    def draw(step: float, momentum: float, lam: float) -> None:
        plot_step_paths(D, x, lam, list(dict.fromkeys([(0.99, 0.0), (step, momentum)])), n_iter)
        plt.show()

    return widgets.interactive(
        draw,
        step=widgets.FloatSlider(value=step, min=0.05, max=2.5, step=0.05, description="mu x L"),
        momentum=widgets.FloatSlider(value=momentum, min=0.0, max=0.95, step=0.05, description="rho"),
        lam=widgets.FloatSlider(value=lam, min=0.0, max=0.5, step=0.01, description="lambda"),
    )
