"""Reproducing the paper's Table I: comparison tables, ours-vs-paper plots, the gallery, the cost row.

Besides the figures this module holds the two small computations notebook 08 displays with them:
:func:`model_cost` (parameters, multiply-accumulates counted by ``torch.utils.flop_counter`` and the
measured run time of one pair) and :class:`ComparisonTable` (per data set: our models' means next
to the paper's FNet value, the difference and the paper's best competitor; protocol and scale in
its header). Introduced in ``notebooks/08_reproduce_table1.ipynb``.
"""

from __future__ import annotations

import copy
import html
import math
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..evaluation import CONVENTIONS, FUSION_MODE, EvalResult
from ..metrics import HIGHER_IS_BETTER, PROTOCOLS
from ..reference import PAPER_METRICS, best_competitor, paper_value

__all__ = [
    "EXTRA_SETS",
    "PAPER_COST",
    "ComparisonTable",
    "count_macs",
    "device_name",
    "fused_path",
    "gallery_rows",
    "model_cost",
    "plot_ours_vs_paper",
    "register_extra_sets",
    "show_gallery",
]

PAPER_COST = {"params": 420e3, "gflops": 0.33, "seconds": 0.051, "device": "NVIDIA A40", "size": 320}
"""The paper's Table I cost row for FNet (parameters, "GFLOPs" and run time per 320x320 pair)."""


def device_name(device: torch.device | str) -> str:
    """A readable name: the GPU's model, or the CPU with torch's thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {torch.get_num_threads()} torch threads)"


def count_macs(model: nn.Module, size: int = 320) -> int:
    """Multiply-accumulates of one forward pass on a (1, 1, size, size) pair: FlopCounterMode FLOPs / 2.

    Counted on a copy of the model on the ``meta`` device (no arithmetic is done); convolutions and
    matrix products are counted, elementwise work (thresholds, sums) is not.
    """
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(model).to("meta")
    a = torch.zeros(1, 1, size, size, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(a, a.clone())
    return counter.get_total_flops() // 2


def model_cost(
    model: nn.Module,
    size: int = 320,
    repeats: int = 3,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    runner: Callable[[nn.Module], nn.Module] | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Parameters, MACs and the median wall time of one forward pass on a random size x size pair.

    ``runner`` maps the model to the module that is timed (e.g. :func:`lzsc.fast.fast_fnet`); the MACs
    are counted on ``model`` itself (the same arithmetic). CUDA timings synchronise before reading
    the clock. ``repeats = 0`` skips the timing.
    """
    params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model, size)
    out: dict[str, object] = {"params": params, "macs": macs, "size": size, "device": device_name(device)}
    if repeats <= 0:
        return {**out, "seconds": math.nan, "times": []}
    device = torch.device(device)
    net = (runner(model) if runner is not None else model).to(device).eval()
    gen = torch.Generator().manual_seed(seed)
    a, b = (torch.rand(1, 1, size, size, generator=gen).to(device) for _ in range(2))
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            net(a, b)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return {**out, "seconds": statistics.median(times), "times": times}


@dataclass
class ComparisonTable:
    """One data set: each of our models' mean (and std) per metric, the paper's FNet value, our difference
    to it and the paper's best competitor. Prints as text and as HTML, protocol and scale in the header."""

    dataset: str
    results: Mapping[str, EvalResult]
    metrics: Sequence[str] = PAPER_METRICS
    notes: Mapping[str, str] | None = None

    def __repr__(self) -> str:
        return str(self)

    def header(self) -> str:
        first = next(iter(self.results.values()))
        protocol = first.protocol
        models = "; ".join(
            f"{label}: {len(r.rows)} pairs"
            + (f" ({self.notes[label]})" if self.notes and label in self.notes else "")
            for label, r in self.results.items()
        )
        return (
            f"{self.dataset}, protocol '{protocol}' [{FUSION_MODE[protocol]}; {PROTOCOLS[protocol]}]. "
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
            row["paper FNet"] = paper
            row["best other"] = best
            out.append(row)
        return out

    def __str__(self) -> str:
        labels = list(self.results)
        cols = ["metric", *labels, "paper FNet", *(f"diff {label}" for label in labels), "best other (paper)"]
        lines = [self.header(), " | ".join(cols)]
        for r in self.rows():
            cells = [str(r["metric"])]
            cells += [f"{r[label][0]:.3f} ± {r[label][1]:.3f}" for label in labels]
            cells.append("" if r["paper FNet"] is None else f"{r['paper FNet']:.2f}")
            cells += ["" if r[f"diff {label}"] is None else f"{r[f'diff {label}']:+.3f}" for label in labels]
            best = r["best other"]
            cells.append("" if best is None else f"{best[1]:.2f} {best[0]}")
            lines.append(" | ".join(cells))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        labels = list(self.results)
        cols = ["metric", *labels, "paper FNet", *(f"ours − paper ({label})" for label in labels)]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in [*cols, "best other (paper)"])
        body = []
        for r in self.rows():
            cells = [html.escape(str(r["metric"]))]
            cells += [f"{r[label][0]:.3f} ± {r[label][1]:.3f}" for label in labels]
            cells.append("" if r["paper FNet"] is None else f"{r['paper FNet']:.2f}")
            cells += ["" if r[f"diff {label}"] is None else f"{r[f'diff {label}']:+.3f}" for label in labels]
            best = r["best other"]
            cells.append("" if best is None else f"{best[1]:.2f} ({html.escape(best[0])})")
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return f"<p><b>{html.escape(self.header())}</b></p><table><tr>{head}</tr>{''.join(body)}</table>"


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def plot_ours_vs_paper(
    results: Mapping[str, Mapping[str, EvalResult]],
    metrics: Sequence[str] = PAPER_METRICS,
    panel_size: float = 4.6,
) -> Figure:
    """Ours (y) against the paper's FNet value (x) for every (data set, metric) cell, one panel per model.

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
        xs, ys = [], []
        for dataset, res in per_dataset.items():
            means = res.means()
            for m in metrics:
                paper = paper_value(dataset, m)
                if paper is None or m not in means:
                    continue
                ax.scatter(
                    paper, means[m], color=colours[m], marker=markers[dataset], s=40, edgecolor="k", lw=0.4
                )
                xs.append(paper)
                ys.append(means[m])
        if xs:
            lo, hi = min(0.0, *xs, *ys), max(*xs, *ys) * 1.05
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            err = np.abs(np.array(ys) - np.array(xs))
            ax.set_title(
                f"{label}\n{len(xs)} cells, median |ours − paper| = {np.median(err):.3f}", fontsize=10
            )
        else:
            ax.set_title(f"{label}: no paper values", fontsize=10)
        ax.set_xlabel("paper (Table I, FNet)")
        ax.set_ylabel("ours")
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
    from ..fusion import output_name
    from ..io import IMAGE_SUFFIXES

    folder = Path(cache_dir) / result.model / result.protocol / result.dataset
    keep_ext = result.protocol == "paper" and result.dataset == "RoadScene"
    candidates = [
        folder / output_name(name, keep_ext),
        *(folder / f"{Path(name).stem}{s}" for s in IMAGE_SUFFIXES),
    ]
    return next((p for p in candidates if p.is_file()), None)


EXTRA_SETS = {
    "CATS": ("VIS-IR (CATS)", "ir", "vi", False),
    "KAIST": ("VIS-IR (KAIST)", "ir", "vi", False),
    "RGB-NIR": ("VIS-NIR (RGB-NIR Scene)", "nir", "rgb", True),
}
"""The paper's three test sets that are not part of the shared data: lzsc name -> (Table I name, A folder,
B folder, colour B). A user adds one by placing registered pairs with equal file names under
``$LZSC_DATA/test/<name>/<A folder>`` and ``.../<B folder>``."""


def register_extra_sets(root: str | Path | None) -> dict[str, str]:
    """Register each :data:`EXTRA_SETS` entry whose folders exist under ``root/test`` as a test set.

    Registered sets join :data:`lzsc.paths.TEST_SETS` (so :func:`lzsc.evaluation.evaluate` takes
    them) and :data:`lzsc.reference.PAPER_DATASET` (so tables show the paper's values). Returns
    ``{name: status line}`` for every extra set, present or not.
    """
    from ..paths import TEST_SETS, DataSet
    from ..reference import PAPER_DATASET

    status = {}
    for name, (paper_name, a_dir, b_dir, color) in EXTRA_SETS.items():
        base = Path(root) / "test" / name if root is not None else None
        if base is not None and (base / a_dir).is_dir() and (base / b_dir).is_dir():
            TEST_SETS[name] = DataSet(name, "test", a_dir, b_dir, color=color)
            PAPER_DATASET[name] = paper_name
            status[name] = f"found at {base}: evaluated below"
        else:
            where = f"{base}" if base is not None else f"$LZSC_DATA/test/{name}"
            status[name] = f"not available (expected {where}/{{{a_dir},{b_dir}}})"
    return status


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
    from ..fusion import fuse_files
    from ..io import read_image
    from ..paths import dataset_dirs

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
