"""Figures of the ablation study (paper Table III): ours vs the paper's direction of change.

- :func:`plot_direction_map`: one cell per (ablation, data set x metric), coloured by whether our
  change relative to the full FNet has the paper's sign, annotated with our relative change;
- :func:`plot_agreement`: the share of agreeing cells per ablation.

Both read a :class:`lzsc.ablations.DirectionTable`. Introduced in ``notebooks/10_ablations.ipynb``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..ablations import DirectionTable

__all__ = ["plot_agreement", "plot_direction_map"]

_STATES = ("not counted", "agree", "opposite", "ours: no change")
_COLOURS = ("#ffffff", "#a6dba0", "#f4a582", "#d0d0d0")


def _state(row: dict) -> int:
    if row["paper"] not in ("better", "worse") or not row["aligned"]:
        return 0
    if row["ours"] == row["paper"]:
        return 1
    return 3 if row["ours"] == "tie" else 2


def plot_direction_map(table: DirectionTable, annotate: bool = True) -> Figure:
    """Rows: ablations; columns: (data set, metric). Green: our change has the paper's sign; magenta:
    the opposite sign; grey: we see no change; white: not counted (the paper shows no change, or its
    row's alignment is uncertain). Numbers: our change in % of our full FNet's value."""
    ablations = list(dict.fromkeys(r["ablation"] for r in table.rows))
    columns = list(dict.fromkeys((r["dataset"], r["metric"]) for r in table.rows))
    state = np.zeros((len(ablations), len(columns)), dtype=int)
    rel = np.full(state.shape, np.nan)
    for r in table.rows:
        i, j = ablations.index(r["ablation"]), columns.index((r["dataset"], r["metric"]))
        state[i, j], rel[i, j] = _state(r), r["rel_pct"]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.55 * len(columns) + 2), 0.42 * len(ablations) + 2.2))
    ax.imshow(state, cmap=ListedColormap(_COLOURS), vmin=-0.5, vmax=len(_COLOURS) - 0.5, aspect="auto")
    if annotate:
        for (i, j), value in np.ndenumerate(rel):
            if np.isfinite(value):
                text = f"{value:+.0f}" if abs(value) < 999 else f"{value:+.0e}"
                ax.text(j, i, text, ha="center", va="center", fontsize=6)
    ax.set_yticks(range(len(ablations)), ablations, fontsize=8)
    ax.set_xticks(range(len(columns)), [f"{m}\n{d}" for d, m in columns], fontsize=6, rotation=90)
    for j in range(1, len(columns)):
        if columns[j][0] != columns[j - 1][0]:
            ax.axvline(j - 0.5, color="k", lw=1)
    total = table.agreement()
    ax.set_title(
        f"Our change vs the paper's direction (Table III): {total['agree']}/{total['cells']} counted cells "
        f"agree\nnumbers: our change in % of our full FNet (CE: lower is better)",
        fontsize=10,
    )
    handles = [Patch(facecolor=c, edgecolor="k", label=s) for s, c in zip(_STATES, _COLOURS, strict=True)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_agreement(table: DirectionTable) -> Figure:
    """Per ablation: counted cells where our direction agrees with the paper's, opposes it, or is none."""
    rows = table.by_ablation()
    names = [r["ablation"] for r in rows]
    agree = np.array([r["agree"] for r in rows])
    opposite = np.array([r["disagree"] for r in rows])
    ties = np.array([r["ours_tie"] for r in rows])
    fig, ax = plt.subplots(figsize=(max(7.0, 0.5 * len(names) + 2), 3.8))
    x = np.arange(len(names))
    ax.bar(x, agree, color=_COLOURS[1], edgecolor="k", lw=0.4, label="agree")
    ax.bar(x, opposite, bottom=agree, color=_COLOURS[2], edgecolor="k", lw=0.4, label="opposite")
    ax.bar(
        x, ties, bottom=agree + opposite, color=_COLOURS[3], edgecolor="k", lw=0.4, label="ours: no change"
    )
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("counted cells (data set x metric)")
    ax.set_ylim(0, max(1, int((agree + opposite + ties).max())) * 1.05)
    total = table.agreement()
    ax.set_title(f"Agreement with the paper's direction per ablation (overall {100 * total['rate']:.0f}%)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
