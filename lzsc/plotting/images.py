"""Image panels: a row of grey images with titles (sources, fused results, decompositions).

Introduced in ``notebooks/00_overview.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .checks import labelled_figure

__all__ = ["as_image", "show_images"]


def as_image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A (H, W) float array from a tensor or array of shape (H, W), (1, H, W) or (1, 1, H, W)."""
    arr = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise ValueError(f"expected a single grey image, got shape {arr.shape} after squeezing")
    return arr


@labelled_figure
def show_images(
    images: Mapping[str, torch.Tensor | np.ndarray],
    title: str | None = None,
    vrange: tuple[float, float] | None = (0.0, 1.0),
    cmap: str = "gray",
    panel_size: float = 3.0,
) -> Figure:
    """One row of images, each titled by its key; ``vrange=None`` scales each panel to its own range."""
    if not images:
        raise ValueError("no images to show")
    fig, axes = plt.subplots(1, len(images), figsize=(panel_size * len(images), panel_size * 0.9 + 0.4))
    for ax, (name, img) in zip(np.atleast_1d(axes), images.items(), strict=True):
        arr = as_image(img)
        vmin, vmax = vrange if vrange is not None else (arr.min(), arr.max())
        ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(name)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
