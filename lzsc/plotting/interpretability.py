"""Figures of a trained FNet's inner workings: the paper's Figs. 8 and 10 and the iterate viewer.

- :func:`plot_feature_maps`: a few channels and the channel-energy map of u1, u2 and c (Fig. 8, top);
- :func:`plot_reconstruction_parts`: G_u1 u1, G_u2 u2, G_c c and their sum, the fused image (Fig. 8);
- :func:`plot_learned_schedules`: theta^k and rho^k of the three blocks (Fig. 10, left);
- :func:`plot_activation_histograms`: |activation| before and after the last threshold (Fig. 10, right);
- :func:`plot_zero_increase_vs_tol`: Fig. 10's near-zero increase as a function of the unstated tolerance;
- :func:`plot_iterates` / :func:`iterate_viewer`: u^0..u^N of one block and channel, static or with
  ipywidgets;
- :func:`plot_recovery_scores`: the synthetic-data recovery scores of :func:`lzsc.interpret.recovery_scores`
  (AUCs and correlations on two panels, each with its own reference line).

Most take the :class:`lzsc.interpret.FNetTrace` of one pair. Introduced in
``notebooks/09_interpretability.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..interactive import live_frontend
from ..interpret import (
    BLOCKS,
    PAPER_BLOCK,
    PAPER_ZERO_INCREASE,
    FNetTrace,
    channel_energy,
    top_channels,
    zero_increase,
)
from .checks import labelled_figure
from .images import as_image

if TYPE_CHECKING:
    import ipywidgets

__all__ = [
    "BLOCK_LABELS",
    "iterate_viewer",
    "plot_activation_histograms",
    "plot_feature_maps",
    "plot_iterates",
    "plot_learned_schedules",
    "plot_reconstruction_parts",
    "plot_recovery_scores",
    "plot_zero_increase_vs_tol",
]

BLOCK_LABELS = {"u1": "u1 (A's unique code)", "u2": "u2 (B's unique code)", "c": "c (common code)"}
BLOCK_COLOURS = {"u1": "#D55E00", "u2": "#0072B2", "c": "#009E73"}
"""Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), one per block."""


def _off(ax: plt.Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


@labelled_figure
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
        fig.colorbar(im, ax=axes[r, -1], fraction=0.046, pad=0.02).set_label("log10 energy", fontsize=8)
        for ax in axes[r]:
            _off(ax)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@labelled_figure
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


@labelled_figure
def plot_learned_schedules(schedules: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]) -> Figure:
    """theta^k (k = 0..N) and rho^k (k = 1..N) of every block, for one or more models.

    ``schedules`` maps a model label to :func:`lzsc.interpret.schedules` of that model. Colour:
    block; line style: model.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = BLOCK_COLOURS
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


@labelled_figure
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
        ax.hist(np.clip(pre, lo, None), bins=edges, alpha=0.55, label="before threshold", color="0.45")
        ax.hist(np.clip(post, lo, None), bins=edges, alpha=0.55, label="after threshold", color="#E69F00")
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


@labelled_figure
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


@labelled_figure
def iterate_viewer(
    traces: Mapping[str, FNetTrace], block: str = "c", channel: int = 0, interactive: bool | None = None
) -> ipywidgets.interactive | Figure:
    """Browse u^0..u^N of any block and channel of the traced pairs.

    ``interactive=None`` (the default) asks :func:`lzsc.interactive.live_frontend`: in a person's
    Jupyter front end it returns an ipywidgets ``interactive`` with drop-downs for the pair and the
    block and a slider for the channel; executed headless (papermill, nbval) it returns the static
    :func:`plot_iterates` figure of the first pair at ``block`` / ``channel`` (closed, so that a cell
    ending in the call shows it once). ``True`` / ``False`` force one or the other.
    """
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
    if not traces:
        raise ValueError("no traced pair to show")
    first = next(iter(traces))
    n_ch = traces[first].code(block).shape[1]
    if not 0 <= channel < n_ch:
        raise ValueError(f"channel must lie in [0, {n_ch - 1}], got {channel}")
    if interactive is None:
        interactive = live_frontend()
    if not interactive:
        fig = plot_iterates(traces[first], block, channel)
        plt.close(fig)  # a cell ending in the call then shows it once, through the returned figure
        return fig
    import ipywidgets as widgets

    def show(pair: str, block: str, channel: int) -> None:
        plot_iterates(traces[pair], block, min(channel, traces[pair].code(block).shape[1] - 1))
        plt.show()

    return widgets.interactive(
        show,
        pair=widgets.Dropdown(options=list(traces), value=first, description="pair"),
        block=widgets.Dropdown(options=list(BLOCKS), value=block, description="block"),
        channel=widgets.IntSlider(value=channel, min=0, max=n_ch - 1, description="channel"),
    )


@labelled_figure
def plot_recovery_scores(
    scores: Mapping[str, Mapping[str, float]], reference: str | None = None, n_pairs: int | None = None
) -> Figure:
    """Two panels of the scores of :func:`lzsc.interpret.recovery_scores`, one bar per model.

    Left: the ROC-AUCs (keys starting with ``AUC``) on 0..1 with chance, 0.5, dotted. Right: the
    Pearson correlations (keys starting with ``corr``) on -1..1 with no correlation, 0, drawn. Each
    score pools the pixels of ``n_pairs`` synthetic pairs (stated in the title when given; a score is
    not a mean over trials). ``reference`` names the model drawn hatched (an untrained network: the
    level a score must beat).
    """
    models = list(scores)
    keys = list(next(iter(scores.values())))
    groups = {
        "AUC": [k for k in keys if k.startswith("AUC")],
        "corr": [k for k in keys if k.startswith("corr")],
    }
    if not groups["AUC"] and not groups["corr"]:
        raise ValueError(f"no 'AUC ...' or 'corr ...' score among {keys}")
    panels = [g for g in groups if groups[g]]
    ratios = [len(groups[g]) + 1 for g in panels]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(4.0 + 1.7 * len(keys), 4.4),
        gridspec_kw={"width_ratios": ratios},
        squeeze=False,
    )
    width = 0.8 / len(models)
    hatches = ("", "..", "xx", "--")
    for ax, group in zip(axes[0], panels, strict=True):
        names = groups[group]
        x = np.arange(len(names))
        for i, model in enumerate(models):
            ax.bar(
                x + (i - (len(models) - 1) / 2) * width,
                [scores[model][k] for k in names],
                width,
                label=model,
                hatch="//" if model == reference else hatches[i % len(hatches)],
                color=plt.cm.cividis(i / max(1, len(models) - 1)),
                edgecolor="k",
                lw=0.4,
            )
        if group == "AUC":
            ax.axhline(0.5, color="k", ls=":", lw=1.2, label="chance (0.5)")
            ax.set_ylim(0, 1)
            ax.set_ylabel("ROC-AUC (0.5: chance)")
            ax.set_title("AUC: unique vs common pixels", fontsize=10)
            ticks = [k.removeprefix("AUC ").replace(" on ", "\non ") for k in names]
        else:
            ax.axhline(0.0, color="k", lw=0.8, label="no correlation (0)")
            ax.set_ylim(-1, 1)
            ax.set_ylabel("Pearson r with the true part")
            ax.set_title("Pearson r: decomposition vs the truth", fontsize=10)
            ticks = [k.removeprefix("corr ").replace("_", " of ") for k in names]
        ax.set_xticks(x, ticks, fontsize=9)
        ax.set_xlabel("score")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes[0, 1:]:
        more = ax.get_legend_handles_labels()
        handles += [h for h, lab in zip(*more, strict=True) if lab not in labels]
        labels += [lab for lab in more[1] if lab not in labels]
    axes[0, -1].legend(
        handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )
    pooled = f" (pixels pooled over {n_pairs} pairs)" if n_pairs else ""
    fig.suptitle(f"Recovery of the true unique / common content on synthetic MCSC pairs{pooled}")
    fig.tight_layout()
    return fig


@labelled_figure
def plot_zero_increase_vs_tol(
    rows: Sequence[Mapping[str, float | str]],
    paper: Mapping[str, float] | None = None,
    tol: float | None = None,
    title: str = "",
) -> Figure:
    """Fig. 10's increase of near zeros (%) as a function of the tolerance ``tol`` that defines them.

    ``rows``: :func:`lzsc.interpret.zero_increase_table` over a grid of tolerances; one line per block;
    dashed: the paper's number for the block of the same source (:data:`lzsc.interpret.PAPER_BLOCK`),
    dotted vertical: the tolerance the notebook states (``tol``). Introduced in
    ``notebooks/09_interpretability.ipynb`` (the Fig. 10 erratum).
    """
    paper = PAPER_ZERO_INCREASE if paper is None else paper
    blocks = list(dict.fromkeys(str(r["block"]) for r in rows))
    if not blocks:
        raise ValueError("no rows to plot")
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    markers = {"u1": "o", "u2": "s", "c": "^"}
    for name in blocks:
        mine = sorted((float(r["tol"]), float(r["increase_pct"])) for r in rows if r["block"] == name)
        t, inc = np.array(mine).T
        colour = BLOCK_COLOURS.get(name, "k")
        ax.plot(
            t,
            inc,
            marker=markers.get(name, "."),
            ms=3.5,
            color=colour,
            label=f"lzsc {BLOCK_LABELS.get(name, name)}",
        )
        if name in paper:
            ax.axhline(
                paper[name],
                color=colour,
                ls="--",
                lw=1,
                label=f"paper, same source (its {PAPER_BLOCK.get(name, name)}): {paper[name]:+.1f}%",
            )
    if tol is not None:
        ax.axvline(tol, color="k", ls=":", lw=1.2, label=f"stated tolerance {tol:g}")
    ax.set_xscale("log")
    ax.set_xlabel("near-zero tolerance tol (entries with |x| <= tol count as zero)")
    ax.set_ylabel("increase of near zeros after the threshold (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(title or "Fig. 10's numbers depend on the tolerance the paper does not state", fontsize=10)
    fig.tight_layout()
    return fig
