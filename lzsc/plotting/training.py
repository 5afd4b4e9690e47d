"""Training plots and helpers of ``notebooks/06_train_stage1`` and ``07_train_stage2``.

- :func:`plot_loss_components`: every column of a training ``log.csv`` against the step, raw and
  smoothed, one panel per loss part;
- :func:`window_means`: mean of a loss column over the first and the last window of steps;
- :func:`show_image_grid`: rows of grey images (sources, fused images, reconstructions).

The mean-fusion baseline of ``07`` is :class:`lzsc.baselines.MeanFusion`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from .checks import labelled_figure
from .images import as_image

__all__ = ["moving_average", "plot_loss_components", "show_image_grid", "window_means"]


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average (the first points average what is available)."""
    x = np.asarray(values, dtype=float)
    if window <= 1 or x.size == 0:
        return x
    c = np.cumsum(np.insert(x, 0, 0.0))
    n = np.arange(1, x.size + 1)
    lo = np.maximum(n - window, 0)
    return (c[n] - c[lo]) / (n - lo)


def window_means(rows: Sequence[Mapping[str, float]], key: str, window: int) -> tuple[float, float]:
    """Mean of ``key`` over the first and the last ``window`` rows of a log."""
    values = [r[key] for r in rows]
    if len(values) < 2 * window:
        raise ValueError(f"{len(values)} rows: too few for two disjoint windows of {window}")
    return float(np.mean(values[:window])), float(np.mean(values[-window:]))


@labelled_figure
def plot_loss_components(
    rows: Sequence[Mapping[str, float]],
    window: int = 20,
    title: str | None = None,
    keys: Sequence[str] | None = None,
    panel_size: float = 3.2,
) -> Figure:
    """One panel per loss column of a ``log.csv`` (``read_log`` rows): per step (thin) and smoothed.

    The smoothed curve is the trailing mean of ``window`` steps (the legend says so); each panel's
    y axis is the column's value, titled by the column name.
    """
    if not rows:
        raise ValueError("empty log")
    keys = list(keys) if keys is not None else [k for k in rows[0] if k != "step"]
    steps = np.array([r["step"] for r in rows])
    fig, axes = plt.subplots(1, len(keys), figsize=(panel_size * len(keys), panel_size * 0.85 + 0.5))
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        values = np.array([r[key] for r in rows])
        ax.plot(steps, values, lw=0.6, alpha=0.4, color="C0")
        ax.plot(steps, moving_average(values, window), lw=1.8, color="C0", label=f"mean of {window} steps")
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.set_ylabel(f"{key} (per batch)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@labelled_figure
def show_image_grid(
    rows: Mapping[str, Mapping[str, Tensor | np.ndarray]],
    title: str | None = None,
    panel_size: float = 2.6,
    vrange: tuple[float, float] = (0.0, 1.0),
    own_range: Sequence[str] = (),
) -> Figure:
    """A grid of grey images: one row per key of ``rows``, one column per key of its dict.

    The column names head the top row and the row names stand, rotated, left of the first column, so
    no title sits between two rows of images (introduced in ``notebooks/06_train_stage1.ipynb``).
    Images are shown on ``vrange`` (clipped), except the columns named in ``own_range``, which are
    scaled to their own minimum and maximum, printed under each such image.
    """
    if not rows:
        raise ValueError("no rows to show")
    if vrange[0] >= vrange[1]:
        raise ValueError(f"vrange must be (low, high) with low < high, got {vrange}")
    columns = list(next(iter(rows.values())))
    for label, images in rows.items():
        if list(images) != columns:
            raise ValueError(
                f"row {label!r} has columns {list(images)}, expected {columns} (as the first row)"
            )
    height, width = as_image(next(iter(next(iter(rows.values())).values()))).shape
    aspect = height / width
    has_range = any(name in own_range for name in columns)
    fig, axes = plt.subplots(
        len(rows),
        len(columns),
        figsize=(panel_size * len(columns) + 0.4, (panel_size * aspect + 0.2 * has_range) * len(rows) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for r, (label, images) in enumerate(rows.items()):
        for c, (name, img) in enumerate(images.items()):
            ax, arr = axes[r, c], as_image(img)
            ax.set_axis_off()
            if name in own_range:
                ax.imshow(arr, cmap="gray", vmin=arr.min(), vmax=arr.max())
                ax.text(
                    0.5, -0.02, f"range [{arr.min():.2f}, {arr.max():.2f}]", transform=ax.transAxes,
                    ha="center", va="top", fontsize="x-small",
                )  # fmt: skip
            else:
                ax.imshow(np.clip(arr, *vrange), cmap="gray", vmin=vrange[0], vmax=vrange[1])
            if r == 0:
                ax.set_title(name + (" (own range)" if name in own_range else ""), fontsize="small")
            if c == 0:
                ax.text(
                    -0.04, 0.5, label, transform=ax.transAxes, rotation=90, ha="right", va="center",
                    fontsize="small",
                )  # fmt: skip
    if title:
        fig.suptitle(title)
    return fig
