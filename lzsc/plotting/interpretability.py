"""Figures of a trained FNet's inner workings: the paper's Figs. 8 and 10 and the iterate viewer.

- :func:`plot_feature_maps`: a few channels and the channel-energy map of u1, u2 and c (Fig. 8, top);
- :func:`plot_reconstruction_parts`: G_u1 u1, G_u2 u2, G_c c and their sum, the fused image (Fig. 8);
- :func:`plot_learned_schedules`: theta^k and rho^k of the three blocks (Fig. 10, left);
- :func:`plot_activation_histograms`: |activation| before and after the last threshold (Fig. 10, right);
- :func:`plot_iterates` / :func:`iterate_viewer`: u^0..u^N of one block and channel, static or with
  ipywidgets;
- :func:`plot_recovery_scores`: the synthetic-data recovery scores of :func:`lzsc.interpret.recovery_scores`.

All take the :class:`lzsc.interpret.FNetTrace` of one pair. Introduced in
``notebooks/09_interpretability.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..interpret import BLOCKS, FNetTrace, channel_energy, top_channels, zero_increase
from .images import as_image

__all__ = [
    "BLOCK_LABELS",
    "iterate_viewer",
    "plot_activation_histograms",
    "plot_feature_maps",
    "plot_iterates",
    "plot_learned_schedules",
    "plot_reconstruction_parts",
    "plot_recovery_scores",
]

BLOCK_LABELS = {"u1": "u1 (A's unique code)", "u2": "u2 (B's unique code)", "c": "c (common code)"}


def _off(ax: plt.Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_feature_maps(
    trace: FNetTrace, n_channels: int = 3, panel_size: float = 2.3, title: str = ""
) -> Figure:
    """Rows u1, u2, c: the ``n_channels`` most energetic channels (symmetric colour scale) and the
    channel-energy map sum_k u_k^2 (log scale); the first column shows the block's input."""
    inputs = {"u1": ("A", trace.a), "u2": ("B", trace.b), "c": ("residual of A", trace.residual_a)}
    cols = n_channels + 2
    fig, axes = plt.subplots(3, cols, figsize=(panel_size * cols, panel_size * 0.85 * 3), squeeze=False)
    for r, name in enumerate(BLOCKS):
        code = trace.code(name)[:1]
        label, image = inputs[name]
        axes[r, 0].imshow(as_image(image[:1]), cmap="gray")
        axes[r, 0].set_title(f"input: {label}", fontsize=9)
        axes[r, 0].set_ylabel(BLOCK_LABELS[name], fontsize=9)
        for j, ch in enumerate(top_channels(code, n_channels), start=1):
            arr = code[0, ch].double().numpy()
            lim = float(np.abs(arr).max()) or 1.0
            axes[r, j].imshow(arr, cmap="RdBu_r", vmin=-lim, vmax=lim)
            axes[r, j].set_title(f"{name} channel {ch} (±{lim:.2g})", fontsize=9)
        energy = channel_energy(code)
        im = axes[r, -1].imshow(np.log10(energy + 1e-8), cmap="magma")
        axes[r, -1].set_title(f"log10 energy of {name}", fontsize=9)
        fig.colorbar(im, ax=axes[r, -1], fraction=0.046, pad=0.02)
        for ax in axes[r]:
            _off(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_reconstruction_parts(trace: FNetTrace, panel_size: float = 2.6, title: str = "") -> Figure:
    """A, B, then G_u1 u1, G_u2 u2, G_c c (each on its own symmetric scale) and their sum F (0..1)."""
    panels = {
        "A": (trace.a, "gray", (0, 1)),
        "B": (trace.b, "gray", (0, 1)),
        "G_u1 u1 (from A's unique code)": (trace.rec_u1, "RdBu_r", None),
        "G_u2 u2 (from B's unique code)": (trace.rec_u2, "RdBu_r", None),
        "G_c c (from the common code)": (trace.rec_c, "RdBu_r", None),
        "sum = fused F": (trace.fused.clamp(0, 1), "gray", (0, 1)),
    }
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_size * len(panels), panel_size * 1.05))
    for ax, (name, (img, cmap, vrange)) in zip(axes, panels.items(), strict=True):
        arr = as_image(img[:1])
        if vrange is None:
            lim = float(np.abs(arr).max()) or 1.0
            vrange = (-lim, lim)
            name = f"{name}\nrange ±{lim:.2f}"
        ax.imshow(arr, cmap=cmap, vmin=vrange[0], vmax=vrange[1])
        ax.set_title(name, fontsize=9)
        _off(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_learned_schedules(schedules: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]) -> Figure:
    """theta^k (k = 0..N) and rho^k (k = 1..N) of every block, for one or more models.

    ``schedules`` maps a model label to :func:`lzsc.interpret.schedules` of that model. Colour:
    block; line style: model.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = dict(zip(BLOCKS, ("tab:red", "tab:blue", "tab:green"), strict=True))
    styles = ("-", "--", ":", "-.")
    for (label, per_block), ls in zip(schedules.items(), styles, strict=False):
        for name, values in per_block.items():
            theta, rho = np.asarray(values["theta"]), np.asarray(values["rho"])
            left.plot(
                np.arange(len(theta)), theta, ls, marker="o", color=colours[name], label=f"{name}, {label}"
            )
            right.plot(
                np.arange(1, len(rho) + 1), rho, ls, marker="o", color=colours[name], label=f"{name}, {label}"
            )
    left.set_title(r"learned cut-off $\theta^k$ (eq. 21)")
    left.set_ylabel(r"$\theta^k$")
    right.set_title(r"learned momentum $\rho^k$ (eq. 21)")
    right.set_ylabel(r"$\rho^k$")
    for ax in (left, right):
        ax.set_xlabel("iteration $k$")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_activation_histograms(
    trace: FNetTrace, tol: float, iteration: int = -1, bins: int = 80, title: str = ""
) -> Figure:
    """Histograms of |activation| before (pre-threshold) and after the threshold at one iteration.

    One panel per block, log-spaced bins; the dotted line marks the near-zero tolerance ``tol`` and
    the title gives the percentage increase of entries with |x| <= tol.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for ax, name in zip(axes, BLOCKS, strict=True):
        out = trace.blocks[name]
        pre = np.abs(out.pre_activations[iteration].double().numpy()).ravel()
        post = np.abs(out.iterates[iteration].double().numpy()).ravel()
        positive = np.concatenate([pre[pre > 0], post[post > 0]])
        lo, hi = max(float(positive.min()), 1e-9), float(positive.max())
        edges = np.logspace(np.log10(lo), np.log10(hi), bins)
        ax.hist(np.clip(pre, lo, None), bins=edges, alpha=0.55, label="before threshold", color="tab:gray")
        ax.hist(np.clip(post, lo, None), bins=edges, alpha=0.55, label="after threshold", color="tab:orange")
        ax.axvline(tol, color="k", ls=":", lw=1, label=f"near-zero tolerance {tol:g}")
        stats = zero_increase(pre, post, tol)
        k = len(out.iterates) - 1 if iteration == -1 else iteration
        ax.set_xscale("log")
        ax.set_title(
            f"{BLOCK_LABELS[name]}, k = {k}\nnear zeros {100 * stats['zeros_before']:.1f}% -> "
            f"{100 * stats['zeros_after']:.1f}% ({stats['increase_pct']:+.1f}%)",
            fontsize=9,
        )
        ax.set_xlabel("|activation|")
        ax.set_ylabel("count")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_iterates(
    trace: FNetTrace, block: str, channel: int, panel_size: float = 2.4, title: str = ""
) -> Figure:
    """Channel ``channel`` of block ``block``'s iterates u^0..u^N (top) and pre-activations (bottom),
    one shared symmetric colour scale per row."""
    out = trace.blocks[block]
    n = len(out.iterates)
    fig, axes = plt.subplots(2, n, figsize=(panel_size * n, panel_size * 2.0), squeeze=False)
    for row, (seq, label) in enumerate(((out.iterates, "u"), (out.pre_activations, "pre"))):
        arrs = [t[0, channel].double().numpy() for t in seq]
        lim = max(float(np.abs(a).max()) for a in arrs) or 1.0
        for k, arr in enumerate(arrs):
            axes[row, k].imshow(arr, cmap="RdBu_r", vmin=-lim, vmax=lim)
            nnz = 100 * float(np.mean(np.abs(arr) > 1e-3))
            axes[row, k].set_title(f"{label}^{k}  (|x| > 1e-3: {nnz:.0f}%)", fontsize=8)
            _off(axes[row, k])
        axes[row, 0].set_ylabel(f"{'iterate' if row == 0 else 'before threshold'}\n(±{lim:.2g})", fontsize=8)
    fig.suptitle(title or f"{BLOCK_LABELS[block]}, channel {channel}: iterations k = 0..{n - 1}")
    fig.tight_layout()
    return fig


def iterate_viewer(
    traces: Mapping[str, FNetTrace], interactive: bool = False, block: str = "c", channel: int = 0
):
    """Browse u^0..u^N of any block and channel of the traced pairs.

    ``interactive=False`` (headless, CI) returns the static :func:`plot_iterates` figure of the first
    pair at ``block`` / ``channel``; ``interactive=True`` returns an ipywidgets ``interactive`` with
    drop-downs for the pair and block and a slider for the channel (needs a live Jupyter front end).
    """
    first = next(iter(traces))
    if not interactive:
        return plot_iterates(traces[first], block, channel)
    import ipywidgets as widgets

    n_ch = traces[first].code(block).shape[1]

    def show(pair: str, block: str, channel: int) -> None:
        plot_iterates(traces[pair], block, channel)
        plt.show()

    return widgets.interactive(
        show,
        pair=widgets.Dropdown(options=list(traces), value=first, description="pair"),
        block=widgets.Dropdown(options=list(BLOCKS), value=block, description="block"),
        channel=widgets.IntSlider(value=channel, min=0, max=n_ch - 1, description="channel"),
    )


def plot_recovery_scores(scores: Mapping[str, Mapping[str, float]], reference: str | None = None) -> Figure:
    """Grouped bars: one group per score of :func:`lzsc.interpret.recovery_scores`, one bar per model.

    ``reference`` names the model drawn hatched (an untrained network: the level a score must beat).
    """
    models = list(scores)
    keys = list(next(iter(scores.values())))
    x = np.arange(len(keys))
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.5 * len(keys)), 4))
    for i, model in enumerate(models):
        values = [scores[model][k] for k in keys]
        hatch = "//" if model == reference else None
        ax.bar(
            x + (i - (len(models) - 1) / 2) * width,
            values,
            width,
            label=model,
            hatch=hatch,
            edgecolor="k",
            lw=0.4,
        )
    ax.axhline(0.5, color="0.5", ls=":", lw=1)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(x, [k.replace(" on ", "\non ").replace("corr ", "corr\n") for k in keys], fontsize=8)
    ax.set_ylabel("AUC (dotted: chance) / Pearson r")
    ax.set_title("Recovery of the true unique / common content on synthetic MCSC pairs")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
