"""Figures of the multi-seed ablation study (paper Table III): effects with their seed spread.

All three use one sign convention, "+ = the ablation is better than the full FNet" (the change in % of
the baseline's mean, with CE's sign flipped since lower CE is better), and one colour-blind-safe
encoding of the verdicts (blue / orange of the Okabe-Ito palette plus a symbol each):

- :func:`plot_verdict_grid`: one heat map per data set, rows ablations, columns metrics; colour: the
  mean change over seeds (blue: ablation worse, orange: better), symbol: the cell's verdict
  (✓ agrees with the paper, ✗ opposite, · within noise, blank: the paper shows no direction);
- :func:`plot_effects`: for chosen ablations, one panel per data set, one row per (ablation, metric):
  the mean change, the ablation's range over seeds (bar) and the baseline's own seed range (grey);
- :func:`plot_verdicts`: per ablation, how many counted cells agree, are opposite or are within noise,
  with its outcome (supports / contradicts / cannot resolve).

All read a :class:`lzsc.ablations.AblationStudy`. Introduced in ``notebooks/10_ablations.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..ablations import AblationStudy
from ..metrics import HIGHER_IS_BETTER
from ..reference import PAPER_METRICS
from .checks import labelled_figure

__all__ = ["VERDICT_STYLE", "better_pct", "plot_effects", "plot_verdict_grid", "plot_verdicts"]

VERDICT_STYLE = {
    "agree": {"colour": "#0072B2", "symbol": "✓", "marker": "o", "hatch": "//"},
    "opposite": {"colour": "#E69F00", "symbol": "✗", "marker": "D", "hatch": "xx"},
    "within noise": {"colour": "#bbbbbb", "symbol": "·", "marker": "o", "hatch": ""},
    "no paper direction": {"colour": "#dddddd", "symbol": "", "marker": ".", "hatch": ""},
}
"""Colour (Okabe-Ito blue / orange, greys), symbol, marker and hatch of each cell verdict."""
CHANGE_CMAP = LinearSegmentedColormap.from_list("worse_better", ["#0072B2", "#f7f7f7", "#E69F00"])
"""Diverging blue (ablation worse) - white - orange (ablation better), colour-blind safe."""
CHANGE_LABEL = "change vs FNet (%, + = ablation better; CE sign flipped)"


def better_pct(effect: dict, key: str = "effect_pct") -> float:
    """An effect row's change in %, signed so that + means the ablation is better (CE: lower is better)."""
    sign = 1.0 if HIGHER_IS_BETTER.get(effect["metric"], True) else -1.0
    return sign * float(effect[key])


def _effects(study: AblationStudy, metrics: Sequence[str], ablations: Sequence[str] | None) -> list[dict]:
    effects = study.effects(metrics)
    if ablations is not None:
        unknown = set(ablations) - {e["ablation"] for e in effects}
        if unknown:
            raise ValueError(f"ablations {sorted(unknown)} are not in the study")
        effects = [e for e in effects if e["ablation"] in ablations]
    if not effects:
        raise ValueError("the study holds no ablation besides the baseline: nothing to plot")
    return effects


def _grid(
    n: int, ncols: int, width: float, height: float, layout: str | None = None
) -> tuple[Figure, np.ndarray]:
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, layout=layout
    )
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes


@labelled_figure
def plot_verdict_grid(
    study: AblationStudy, metrics: Sequence[str] = PAPER_METRICS, ncols: int = 3, clip: float = 50.0
) -> Figure:
    """One heat map per data set: rows ablations, columns metrics, colour the mean change over the
    study's seeds (+ = ablation better, clipped at ``clip`` %), symbol the cell's verdict (module doc)."""
    effects = _effects(study, metrics, None)
    ablations = list(dict.fromkeys(e["ablation"] for e in effects))
    datasets = list(dict.fromkeys(e["dataset"] for e in effects))
    fig, axes = _grid(
        len(datasets), ncols, 0.62 * len(metrics) + 1.6, 0.34 * len(ablations) + 1.0, layout="constrained"
    )
    image = None
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        values = np.full((len(ablations), len(metrics)), np.nan)
        for e in (e for e in effects if e["dataset"] == dataset):
            i, j = ablations.index(e["ablation"]), list(metrics).index(e["metric"])
            values[i, j] = better_pct(e)
            symbol = VERDICT_STYLE[e["verdict"]]["symbol"]
            if symbol:
                ax.text(
                    j, i, symbol, ha="center", va="center", fontsize=14 if symbol == "·" else 11, color="k"
                )
        image = ax.imshow(
            np.clip(values, -clip, clip), cmap=CHANGE_CMAP, vmin=-clip, vmax=clip, aspect="auto"
        )
        ax.set_xticks(
            range(len(metrics)), [m + (" ↓" if not HIGHER_IS_BETTER.get(m, True) else "") for m in metrics]
        )
        ax.set_yticks(range(len(ablations)), ablations)
        ax.tick_params(labelsize=9, length=0)
        ax.set_xticks(np.arange(len(metrics) + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(len(ablations) + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="w", lw=1)
        ax.set_title(dataset, fontsize=11)
        ax.set_xlabel("metric", fontsize=9)
        ax.set_ylabel("ablation", fontsize=9)
    bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, pad=0.02)
    bar.set_label(f"{CHANGE_LABEL}, mean of {len(study.seeds)} seeds, clipped at ±{clip:g}%", fontsize=9)
    key = "   ".join(f"{s['symbol']} {v}" for v, s in VERDICT_STYLE.items() if s["symbol"])
    fig.suptitle(
        f"Every cell against the paper's direction ({key}; blank: the paper shows none)", fontsize=11
    )
    return fig


@labelled_figure
def plot_effects(
    study: AblationStudy,
    ablations: Sequence[str] | None = None,
    metrics: Sequence[str] = PAPER_METRICS,
    clip: float = 100.0,
    ncols: int = 3,
) -> Figure:
    """One panel per data set, one row per (ablation, metric): the mean change over seeds (symbol and
    colour: the cell's verdict), the ablation's range over its seeds (bar) and the baseline's own seed
    range around its mean (grey band), all in % of the baseline's mean, + = ablation better. Changes
    beyond ``clip`` % are drawn at the edge. ``ablations``: the rows to show (None: all)."""
    effects = _effects(study, metrics, ablations)
    names = list(dict.fromkeys(e["ablation"] for e in effects))
    datasets = list(dict.fromkeys(e["dataset"] for e in effects))
    rows = [(a, m) for a in names for m in metrics]
    fig, axes = _grid(len(datasets), ncols, 4.6, 0.24 * len(rows) + 1.3)
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        for e in (e for e in effects if e["dataset"] == dataset):
            y = rows.index((e["ablation"], e["metric"]))
            base = sorted(better_pct(e, k) for k in ("base_low_pct", "base_high_pct"))
            ax.fill_betweenx([y - 0.35, y + 0.35], *base, color="#d9d9d9", lw=0, zorder=0)
            lo, hi = sorted(float(np.clip(better_pct(e, k), -clip, clip)) for k in ("low_pct", "high_pct"))
            mid = float(np.clip(better_pct(e), -clip, clip))
            style = VERDICT_STYLE[e["verdict"]]
            hollow = e["verdict"] in ("within noise", "no paper direction")
            ax.plot([lo, hi], [y, y], color=style["colour"], lw=1.6)
            ax.plot(
                mid,
                y,
                marker=style["marker"],
                ms=6,
                ls="none",
                color=style["colour"],
                mfc="white" if hollow else style["colour"],
            )
        for k in range(1, len(names)):
            ax.axhline(k * len(metrics) - 0.5, color="0.6", lw=0.6)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlim(-clip * 1.05, clip * 1.05)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_yticks(range(len(rows)), [f"{a} {m}" for a, m in rows], fontsize=9)
        ax.set_title(dataset, fontsize=11)
        ax.set_xlabel("change vs FNet (%, + = ablation better)", fontsize=9)
        ax.set_ylabel("ablation, metric", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D(
            [],
            [],
            color=s["colour"],
            marker=s["marker"],
            mfc="white" if v in ("within noise", "no paper direction") else s["colour"],
            lw=1.6,
            label=v,
        )
        for v, s in VERDICT_STYLE.items()
    ]
    handles.append(Patch(color="#d9d9d9", label="baseline's seed range"))
    spare = list(axes.flat[len(datasets) :])
    if spare:  # the legend takes the first empty panel
        spare[0].legend(handles=handles, loc="center", fontsize=10, frameon=False, title="cell verdict")
    else:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    fig.suptitle(
        f"Mean change over {len(study.seeds)} seeds (bar: the ablation's range over its seeds; "
        "CE sign flipped)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0 if spare else 0.05, 1, 0.97))
    return fig


@labelled_figure
def plot_verdicts(study: AblationStudy, metrics: Sequence[str] = PAPER_METRICS) -> Figure:
    """Per ablation: counted cells that agree with the paper, are opposite, or are within noise
    (colour and hatching), with the ablation's outcome above its bar."""
    rows = study.by_ablation(metrics)
    if not rows:
        raise ValueError("the study holds no ablation besides the baseline: nothing to plot")
    names = [r["ablation"] for r in rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.6 * len(names) + 3), 4.4))
    bottom = np.zeros(len(rows))
    for key, label in (("agree", "agree"), ("opposite", "opposite"), ("within_noise", "within noise")):
        counts = np.array([r[key] for r in rows])
        style = VERDICT_STYLE[label]
        ax.bar(
            x,
            counts,
            bottom=bottom,
            color=style["colour"],
            hatch=style["hatch"],
            edgecolor="k",
            lw=0.5,
            label=label,
        )
        bottom += counts
    short = {"supports": "S", "contradicts": "C", "cannot resolve": "?"}
    for xi, r in zip(x, rows, strict=True):
        ax.text(
            xi, r["cells"] + 0.3, short[r["outcome"]], ha="center", va="bottom", fontsize=11, weight="bold"
        )
    ax.set_xticks(x, names, fontsize=10)
    ax.set_xlabel("ablation (paper Table III)", fontsize=10)
    ax.set_ylabel("counted cells (data set x metric)", fontsize=10)
    ax.set_ylim(0, max([1, *(r["cells"] for r in rows)]) * 1.18)
    ax.set_title(
        f"Verdict per ablation over {len(study.seeds)} seeds (S supports, C contradicts, "
        "? cannot resolve the paper's direction)",
        fontsize=10,
    )
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig
