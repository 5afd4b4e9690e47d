"""Reproducing the papers' tables: comparison tables, ours-vs-paper plots and the gallery.

:class:`ComparisonTable` sets, per data set, our models' means next to the value of the method of the
paper that reports the set (FNet in Table I, CSC-IVFN in the CSC paper's Table II), the difference and
that paper's best competitor, with protocol and scale in its header. The gallery shows
the fused images :func:`lzsc.evaluation.evaluate` cached (where the protocol says,
:mod:`lzsc.protocols`). The cost row is :mod:`lzsc.cost`. Introduced in
``notebooks/08_reproduce_table1.ipynb``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from torch import nn

from ..datasets import dataset_dirs
from ..evaluation import EvalResult
from ..fusion import fuse_files
from ..io import read_image
from ..metrics import HIGHER_IS_BETTER
from ..protocols import CONVENTIONS, get_protocol
from ..reference import FNET, PAPER_METRICS, best_competitor, own_method, paper_metrics, paper_value
from .checks import labelled_figure

__all__ = [
    "ComparisonTable",
    "fused_path",
    "gallery_rows",
    "plot_ours_vs_paper",
    "show_gallery",
]


@dataclass
class ComparisonTable:
    """One data set: each evaluated model's mean (and std) per metric, the published value of the method
    of the paper that reports the set (:func:`lzsc.reference.own_method`), each model's difference to it
    and that paper's best competitor. ``metrics``: default that paper's. Prints as text and as HTML,
    protocol and scale in the header. Column titles say what they hold (:meth:`column_titles`):
    ``<label> (mean ± sd, n = <pairs>)`` for a model's per-pair mean and population standard deviation,
    ``<label> − paper <method>`` for its mean minus the published value."""

    dataset: str
    results: Mapping[str, EvalResult]
    metrics: Sequence[str] | None = None
    notes: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.metrics = paper_metrics(self.dataset)

    @property
    def paper_column(self) -> str:
        """The title of the published column, e.g. "paper FNet" or "paper CSC-IVFN"."""
        own = own_method(self.dataset)
        return f"paper {'FNet' if own == FNET else own}"

    def __repr__(self) -> str:
        return str(self)

    def column_titles(self) -> dict[str, tuple[str, str]]:
        """Per model label: the title of its mean column and of its difference column, e.g.
        ``("released (mean ± sd, n = 25)", "released − paper FNet")``."""
        return {
            label: (f"{label} (mean ± sd, n = {len(r.rows)})", f"{label} − {self.paper_column}")
            for label, r in self.results.items()
        }

    def header(self) -> str:
        first = next(iter(self.results.values()))
        protocol = first.protocol
        models = "; ".join(
            f"{label}: {len(r.rows)} pairs"
            + (f" ({self.notes[label]})" if self.notes and label in self.notes else "")
            for label, r in self.results.items()
        )
        return (
            f"{self.dataset}, protocol '{protocol}' [{get_protocol(protocol).describe()}]. "
            f"{models}. {CONVENTIONS}"
        )

    def rows(self) -> list[dict[str, object]]:
        out = []
        for m in self.metrics:
            paper = paper_value(self.dataset, m)
            best = best_competitor(self.dataset, m)
            row: dict[str, object] = {
                "metric": m + ("" if HIGHER_IS_BETTER.get(m, True) else " (lower better)")
            }
            for label, res in self.results.items():
                mean, std = res.means().get(m, math.nan), res.stds().get(m, math.nan)
                row[label] = (mean, std)
                row[f"diff {label}"] = None if paper is None else mean - paper
            row[self.paper_column] = paper
            row["best other"] = best
            out.append(row)
        return out

    def _columns(self) -> list[str]:
        titles = self.column_titles()
        return [
            "metric",
            *(mean for mean, _ in titles.values()),
            self.paper_column,
            *(diff for _, diff in titles.values()),
            "best other (paper)",
        ]

    def __str__(self) -> str:
        labels = list(self.results)
        cols = self._columns()
        lines = [self.header(), " | ".join(cols)]
        for r in self.rows():
            cells = [str(r["metric"])]
            cells += [f"{r[label][0]:.3f} ± {r[label][1]:.3f}" for label in labels]
            paper = r[self.paper_column]
            cells.append("" if paper is None else f"{paper:.2f}")
            cells += ["" if r[f"diff {label}"] is None else f"{r[f'diff {label}']:+.3f}" for label in labels]
            best = r["best other"]
            cells.append("" if best is None else f"{best[1]:.2f} {best[0]}")
            lines.append(" | ".join(cells))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        labels = list(self.results)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self._columns())
        body = []
        for r in self.rows():
            cells = [html.escape(str(r["metric"]))]
            cells += [f"{r[label][0]:.3f} ± {r[label][1]:.3f}" for label in labels]
            paper = r[self.paper_column]
            cells.append("" if paper is None else f"{paper:.2f}")
            cells += ["" if r[f"diff {label}"] is None else f"{r[f'diff {label}']:+.3f}" for label in labels]
            best = r["best other"]
            cells.append("" if best is None else f"{best[1]:.2f} ({html.escape(best[0])})")
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return f"<p><b>{html.escape(self.header())}</b></p><table><tr>{head}</tr>{''.join(body)}</table>"


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@labelled_figure
def plot_ours_vs_paper(
    results: Mapping[str, Mapping[str, EvalResult]],
    metrics: Sequence[str] = PAPER_METRICS,
    panel_size: float = 4.6,
) -> Figure:
    """The value measured with lzsc (y: mean over pairs, error bar ± one standard deviation) against the
    published value (x) of the method of the paper that reports each set (FNet in Table I, CSC-IVFN in
    Table II) for every (data set, metric) cell, one panel per evaluated model, titled by its label
    (e.g. "released weights"); the title gives the number of pairs per set and the median
    |measured − paper|. Introduced in ``notebooks/08_reproduce_table1.ipynb``.

    ``results`` maps a model label to ``{dataset: EvalResult}``. Colour: metric; marker: data set;
    the dashed line is y = x (a perfect reproduction). Cells without a paper value are skipped.
    """
    if not results:
        raise ValueError("no results to plot")
    fig, axes = plt.subplots(
        1, len(results), figsize=(panel_size * len(results) + 1.8, panel_size), squeeze=False
    )
    colours = dict(zip(metrics, plt.get_cmap("tab10").colors, strict=False))
    datasets = list(dict.fromkeys(d for per in results.values() for d in per))
    markers = dict(zip(datasets, _MARKERS, strict=False))
    for ax, (label, per_dataset) in zip(axes[0], results.items(), strict=True):
        xs, ys, tops = [], [], []
        for dataset, res in per_dataset.items():
            means, stds = res.means(), res.stds()
            for m in metrics:
                paper = paper_value(dataset, m)
                if paper is None or m not in means:
                    continue
                ax.errorbar(paper, means[m], yerr=stds[m], color=colours[m], lw=0.8, capsize=2, zorder=1)
                ax.scatter(
                    paper, means[m], color=colours[m], marker=markers[dataset], s=40, edgecolor="k", lw=0.4,
                    zorder=2,
                )  # fmt: skip
                xs.append(paper)
                ys.append(means[m])
                tops.append(means[m] + stds[m])
        counts = sorted({len(res.rows) for res in per_dataset.values()})
        n = f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}-{counts[-1]}"
        if xs:
            lo, hi = min(0.0, *xs, *ys), max(*xs, *tops) * 1.05
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            err = np.abs(np.array(ys) - np.array(xs))
            median = f"median |measured − paper| = {np.median(err):.3f}"
            ax.set_title(f"{label}\n{len(xs)} cells, {n} pairs per set, {median}", fontsize=9)
        else:
            ax.set_title(f"{label}: no paper values", fontsize=10)
        ax.set_xlabel("published value (the paper's table)")
        ax.set_ylabel("measured with lzsc: mean ± sd over pairs")
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=m) for m, c in colours.items()]
    handles += [
        plt.Line2D([], [], color="0.5", marker=mk, ls="", markeredgecolor="k", label=d)
        for d, mk in markers.items()
    ]
    handles.append(plt.Line2D([], [], color="k", ls="--", label="y = x"))
    axes[0, -1].legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False
    )
    fig.tight_layout()
    return fig


def _show(ax: plt.Axes, img: np.ndarray) -> None:
    img = np.asarray(img)
    if img.ndim == 3:
        ax.imshow(img.astype(np.uint8) if img.dtype != np.uint8 else img)
    else:
        ax.imshow(img, cmap="gray", vmin=0, vmax=255 if img.max() > 1.5 else 1)
    ax.set_xticks([])
    ax.set_yticks([])


@labelled_figure
def show_gallery(
    rows: Sequence[tuple[str, Mapping[str, np.ndarray | None]]],
    panel_size: float = 2.4,
    title: str | None = None,
) -> Figure:
    """A grid of images: one row per (row label, {column title: image}); ``None`` leaves a cell empty.

    Images are uint8 grey (H, W) or RGB (H, W, 3) arrays (or floats in [0, 1]); every row must use the
    same column titles.
    """
    if not rows:
        raise ValueError("no rows to show")
    columns = list(rows[0][1])
    fig, axes = plt.subplots(
        len(rows),
        len(columns),
        figsize=(panel_size * len(columns), panel_size * 0.8 * len(rows)),
        squeeze=False,
    )
    for r, (label, images) in enumerate(rows):
        if list(images) != columns:
            raise ValueError(f"row {label!r} has columns {list(images)}, expected {columns}")
        for c, (name, img) in enumerate(images.items()):
            ax = axes[r, c]
            if img is None:
                ax.set_axis_off()
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes, color="0.5")
            else:
                _show(ax, img)
            if r == 0:
                ax.set_title(name, fontsize=10)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def fused_path(result: EvalResult, name: str, cache_dir: str | Path) -> Path | None:
    """The fused image :func:`lzsc.evaluation.evaluate` cached for pair ``name`` of ``result``, if any."""
    rules = get_protocol(result.protocol)
    return rules.find_fused(rules.cache_folder(cache_dir, result.model, result.dataset), name)


def _rgb_or_grey(img: np.ndarray) -> np.ndarray:
    """An RGB image whose three channels are equal is shown (and stored) as grey."""
    if (
        img.ndim == 3
        and np.array_equal(img[..., 0], img[..., 1])
        and np.array_equal(img[..., 1], img[..., 2])
    ):
        return img[..., 0]
    return img


def gallery_rows(
    dataset: str,
    names: Sequence[str],
    fused: Mapping[str, tuple[nn.Module, EvalResult | None]],
    cache_dir: str | Path,
    root: str | Path | None = None,
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Rows for :func:`show_gallery`: A, B and each model's fused image for the pairs ``names``.

    ``fused`` maps a column title to (model, EvalResult of that model on ``dataset``). The fused
    image cached by :func:`lzsc.evaluation.evaluate` is reused when it is in colour or B is grey;
    otherwise (RoadScene's visible images are RGB but the paper protocol fuses grey) the pair is
    fused again in colour mode (only B's luma is fused, its chroma kept).
    """
    a_dir, b_dir, _ = dataset_dirs(dataset, "test", root)
    rows = []
    for name in names:
        a, b = _rgb_or_grey(read_image(a_dir / name)), _rgb_or_grey(read_image(b_dir / name))
        images: dict[str, np.ndarray] = {"A": a, "B": b}
        for title, (model, result) in fused.items():
            path = fused_path(result, name, cache_dir) if result is not None else None
            img = _rgb_or_grey(read_image(path)) if path is not None else None
            if img is None or (img.ndim == 2 and b.ndim == 3):
                img = fuse_files(model, a_dir / name, b_dir / name, color=b.ndim == 3)
            images[title] = img
        rows.append((name, images))
    return rows
