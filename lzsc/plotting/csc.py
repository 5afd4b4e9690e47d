"""CSC-IVFN's figures: its inner images (base / detail layers, their codes and the fused codes of a
pair) and the log of its training.

- :func:`plot_csc_codes`: the layers and code energies of A, B and the fusion;
- :func:`plot_training_log`: the per-step loss terms of a CSC-IVFN training log (``log.csv``).

Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..fusion import check_sources, module_device
from ..methods.csc_ivfn import CSCIVFN
from ..methods.csc_rules import l1_norm_rule, saliency_rule
from .checks import labelled_figure
from .reproduction import show_gallery

__all__ = ["code_energy", "plot_csc_codes", "plot_training_log"]

#: Legend names of the columns of a CSC-IVFN training log (``lzsc.training.csc_ivfn``).
_LOG_LABELS = {"loss": "loss = MSE + 5 (1 - SSIM) / 2", "mse": "MSE", "ssim": "(1 - SSIM) / 2"}


def code_energy(z: Tensor) -> np.ndarray:
    """The channel energy sum_k z_k^2 of one code (1, K, H, W), scaled to [0, 1] by its maximum."""
    energy = z.detach().double().pow(2).sum(dim=1)[0].cpu().numpy()
    top = energy.max()
    return energy / top if top > 0 else energy


@labelled_figure
def plot_csc_codes(
    model: CSCIVFN, a: Tensor, b: Tensor, alpha: float = 2.0, title: str | None = None
) -> Figure:
    """One row per source (A, B) and one for the fusion: the image, its base layer x_b (11 x 11 box
    mean), its detail layer x_d = x - x_b (shown as 0.5 + x_d), and the channel energies of the base
    code z_b and the detail code z_d; the fusion row shows F and the energies of the fused codes
    (saliency rule for z_b, l1-norm rule for z_d, before the factor ``alpha``)."""
    check_sources(a, b)
    device = module_device(model)
    rows = []
    codes = {}
    with torch.inference_mode():
        for label, x in (("A", a.to(device)), ("B", b.to(device))):
            base, detail = model.split(x)
            codes[label] = model.encode(x)
            rows.append(
                (
                    label,
                    {
                        "image": x[0, 0].cpu().numpy(),
                        "base layer x_b": base[0, 0].cpu().numpy(),
                        "detail layer 0.5 + x_d": (0.5 + detail[0, 0]).clamp(0, 1).cpu().numpy(),
                        "base code energy": code_energy(codes[label][0]),
                        "detail code energy": code_energy(codes[label][1]),
                    },
                )
            )
        z_base = saliency_rule(codes["A"][0], codes["B"][0])
        z_detail = l1_norm_rule(codes["A"][1], codes["B"][1])
        fused = model.decode(alpha * z_base, alpha * z_detail)
    rows.append(
        (
            "fused",
            {
                "image": fused[0, 0].cpu().numpy(),
                "base layer x_b": None,
                "detail layer 0.5 + x_d": None,
                "base code energy": code_energy(z_base),
                "detail code energy": code_energy(z_detail),
            },
        )
    )
    return show_gallery(rows, title=title)


@labelled_figure
def plot_training_log(
    log: Sequence[Mapping[str, float]],
    keys: Sequence[str] = ("loss", "mse", "ssim"),
    batch: int | None = None,
    title: str | None = None,
) -> Figure:
    """The loss terms ``keys`` of a CSC-IVFN training log (:func:`lzsc.training.log.read_log` rows of
    ``log.csv``: ``loss`` = ``mse`` + 5 ``ssim``, with ``ssim`` the (1 - SSIM) / 2 term) against the
    step, one curve per term on a log scale. Each point is the mean over one batch; ``batch`` (its
    size) is written on the y axis when given."""
    if not log:
        raise ValueError("empty training log: nothing to plot")
    missing = [k for k in ("step", *keys) if k not in log[0]]
    if missing:
        raise ValueError(f"the log has no column {missing}; its columns are {sorted(log[0])}")
    steps = [r["step"] for r in log]
    fig, ax = plt.subplots(figsize=(6, 3))
    for key in keys:
        ax.plot(steps, [r[key] for r in log], label=_LOG_LABELS.get(key, key))
    ax.set_xlabel("step")
    ax.set_yscale("log")
    per = f"mean over a batch of {batch} crops" if batch else "mean over one batch"
    ax.set_ylabel(f"loss term ({per})")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
