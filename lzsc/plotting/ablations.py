"""Figures of the multi-seed ablation study (paper Table III): effects with their seed spread.

- :func:`plot_effects`: per metric, each ablation's change on each data set in % of the full FNet,
  with the range over seeds, coloured by its verdict (agree / opposite / within noise), over the
  baseline's own seed range (the noise floor) shaded;
- :func:`plot_verdicts`: per ablation, how many counted cells agree, are opposite or are within noise,
  with its outcome (supports / contradicts / cannot resolve).

Both read a :class:`lzsc.ablations.AblationStudy`. Introduced in ``notebooks/10_ablations.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..ablations import AblationStudy
from ..reference import PAPER_METRICS

__all__ = ["plot_effects", "plot_verdicts"]

VERDICT_COLOURS = {
    "agree": "#1b7837",
    "opposite": "#c51b7d",
    "within noise": "#9a9a9a",
    "no paper direction": "#d9d9d9",
}


def plot_effects(study: AblationStudy, metrics: Sequence[str] = PAPER_METRICS, clip: float = 100.0) -> Figure:
    """One panel per metric; rows: ablations; a point per data set at the mean change (%), a bar over the
    ablation's seeds, coloured by the cell's verdict; grey band: the baseline's median seed range
    (relative to its mean) for that metric. Changes beyond ``clip`` % are drawn at the edge."""
    effects = study.effects(metrics)
    ablations = list(dict.fromkeys(e["ablation"] for e in effects))
    datasets = list(dict.fromkeys(e["dataset"] for e in effects))
    offsets = np.linspace(-0.3, 0.3, len(datasets)) if len(datasets) > 1 else np.zeros(1)
    markers = "osD^vP*X"
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(2.6 * len(metrics) + 1.5, 0.34 * len(ablations) + 1.8), sharey=True
    )
    axes = np.atleast_1d(axes)
    for ax, metric in zip(axes, metrics, strict=True):
        cells = [e for e in effects if e["metric"] == metric]
        if cells:
            low = np.median([e["base_low_pct"] for e in cells])
            high = np.median([e["base_high_pct"] for e in cells])
            ax.axvspan(low, high, color="#e6e6e6", zorder=0)
        ax.axvline(0, color="k", lw=0.6)
        for e in cells:
            y = ablations.index(e["ablation"]) + offsets[datasets.index(e["dataset"])]
            lo, mid, hi = (float(np.clip(e[k], -clip, clip)) for k in ("low_pct", "effect_pct", "high_pct"))
            colour = VERDICT_COLOURS[e["verdict"]]
            ax.plot([lo, hi], [y, y], color=colour, lw=1.2)
            marker = markers[datasets.index(e["dataset"]) % len(markers)]
            ax.plot(mid, y, marker=marker, ms=3.5, color=colour, ls="none")
        ax.set_xlim(-clip * 1.05, clip * 1.05)
        ax.set_title(f"{metric}" + (" (lower better)" if metric == "CE" else ""), fontsize=9)
        ax.set_xlabel("change vs FNet (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_yticks(range(len(ablations)), ablations)
    axes[0].invert_yaxis()
    handles = [Line2D([], [], color=c, lw=2, label=v) for v, c in VERDICT_COLOURS.items()]
    handles += [
        Line2D([], [], color="k", marker=markers[i % len(markers)], ls="none", ms=4, label=d)
        for i, d in enumerate(datasets)
    ]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=7, frameon=False)
    fig.suptitle(
        f"Ablation effects over {len(study.seeds)} seeds (bars: the ablation's seed range; grey band: the "
        "baseline's median seed range)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_verdicts(study: AblationStudy, metrics: Sequence[str] = PAPER_METRICS) -> Figure:
    """Per ablation: counted cells that agree with the paper, are opposite, or are within noise."""
    rows = study.by_ablation(metrics)
    names = [r["ablation"] for r in rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.5 * len(names) + 2), 3.8))
    bottom = np.zeros(len(rows))
    for key, label in (("agree", "agree"), ("opposite", "opposite"), ("within_noise", "within noise")):
        counts = np.array([r[key] for r in rows])
        ax.bar(x, counts, bottom=bottom, color=VERDICT_COLOURS[label], edgecolor="k", lw=0.4, label=label)
        bottom += counts
    for xi, r in zip(x, rows, strict=True):
        short = {"supports": "S", "contradicts": "C", "cannot resolve": "?"}[r["outcome"]]
        ax.text(xi, r["cells"] + 0.3, short, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("counted cells (data set x metric)")
    ax.set_ylim(0, max([1, *(r["cells"] for r in rows)]) * 1.15)
    ax.set_title("Verdict per ablation (S supports, C contradicts, ? cannot resolve the paper's direction)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
