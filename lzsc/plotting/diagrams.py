"""Diagrams drawn with matplotlib: the multi-modal CSC model (paper eq. 7) and the fusion of eq. 23.

Introduced in ``notebooks/00_overview.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .images import as_image

__all__ = ["mcsc_diagram"]

_CODE_COLOR = {"u1": "#f4c7a1", "c": "#c9dcf0", "u2": "#cfe8c4"}


def _box(
    ax: Axes, x: float, y: float, text: str, color: str, width: float = 1.9, height: float = 0.9
) -> None:
    ax.add_patch(
        plt.Rectangle(
            (x - width / 2, y - height / 2), width, height, facecolor=color, edgecolor="0.3", lw=1.2
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=11)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], label: str, color: str) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.6})
    mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
    ax.text(
        mx,
        my + 0.12,
        label,
        ha="center",
        va="bottom",
        fontsize=11,
        color=color,
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
    )


def _thumbnail(
    fig: Figure, ax: Axes, image: torch.Tensor | np.ndarray, x: float, y: float, size: float
) -> None:
    """Draw ``image`` centred at data point (x, y) of ``ax`` with width ``size`` in data units."""
    (x0, y0), (x1, y1) = (
        ax.transData.transform((x - size / 2, y - size / 2)),
        ax.transData.transform((x + size / 2, y + size / 2)),
    )
    inv = fig.transFigure.inverted()
    (fx0, fy0), (fx1, fy1) = inv.transform((x0, y0)), inv.transform((x1, y1))
    inset = fig.add_axes((fx0, fy0, fx1 - fx0, fy1 - fy0))
    arr = as_image(image)
    inset.imshow(arr, cmap="gray", vmin=min(0.0, arr.min()), vmax=max(1.0, arr.max()))
    inset.set_axis_off()


def mcsc_diagram(images: Mapping[str, torch.Tensor | np.ndarray] | None = None) -> Figure:
    """MCSC model (eq. 7) x_A = D_u1 u1 + D_c1 c, x_B = D_u2 u2 + D_c2 c, and F = G_u1 u1 + G_c c + G_u2 u2.

    Codes sit in the middle, the sources they synthesise through the dictionaries D on the left,
    the fused image FNet synthesises through its decoders G on the right. ``images`` may hold
    thumbnails for "x_A", "x_B" and "F" (grey images in [0, 1]), drawn next to their boxes.
    """
    fig, ax = plt.subplots(figsize=(11, 5.2))
    ax.set_xlim(-0.6, 11.6)
    ax.set_ylim(-0.3, 5.3)
    ax.set_axis_off()
    codes = {"u1": (5.5, 4.2), "c": (5.5, 2.5), "u2": (5.5, 0.8)}
    labels = {"u1": "$u_1$\nunique to A", "c": "$c$\ncommon", "u2": "$u_2$\nunique to B"}
    for name, (x, y) in codes.items():
        _box(ax, x, y, labels[name], _CODE_COLOR[name], height=1.1)
    sources = {"x_A": (2.0, 3.6), "x_B": (2.0, 1.4)}
    _box(ax, *sources["x_A"], "$x_A$ (infrared)", "0.92")
    _box(ax, *sources["x_B"], "$x_B$ (visible)", "0.92")
    _box(ax, 9.0, 2.5, "$F$ (fused)", "#fff2b3")
    left = 5.5 - 0.95
    _arrow(ax, (left, 4.2), (2.95, 3.75), r"$D_{u_1}$", "#b35806")
    _arrow(ax, (left, 2.6), (2.95, 3.45), r"$D_{c_1}$", "#2166ac")
    _arrow(ax, (left, 2.4), (2.95, 1.55), r"$D_{c_2}$", "#2166ac")
    _arrow(ax, (left, 0.8), (2.95, 1.25), r"$D_{u_2}$", "#1b7837")
    right = 5.5 + 0.95
    _arrow(ax, (right, 4.2), (8.05, 2.75), r"$G_{u_1}$", "#b35806")
    _arrow(ax, (right, 2.5), (8.05, 2.5), r"$G_c$", "#2166ac")
    _arrow(ax, (right, 0.8), (8.05, 2.25), r"$G_{u_2}$", "#1b7837")
    ax.text(
        2.0,
        5.0,
        "model of the sources (eq. 7)\n$x_A = D_{u_1}u_1 + D_{c_1}c$,  $x_B = D_{u_2}u_2 + D_{c_2}c$",
        ha="center",
        va="center",
        fontsize=10,
    )
    ax.text(
        9.0,
        5.0,
        "fusion (eq. 23)\n$F = G_{u_1}u_1 + G_c c + G_{u_2}u_2$",
        ha="center",
        va="center",
        fontsize=10,
    )
    ax.text(5.5, 5.05, r"sparse codes ($\ell_0$)", ha="center", va="center", fontsize=10, style="italic")
    fig.tight_layout()
    if images:
        spots = {"x_A": (0.2, 3.6), "x_B": (0.2, 1.4), "F": (10.8, 2.5)}
        for name, (x, y) in spots.items():
            if name in images:
                _thumbnail(fig, ax, images[name], x, y, 1.4)
    return fig
