"""CSC-IVFN's inner images: base / detail layers, their codes and the fused codes of a pair.

Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ..fusion import check_sources, module_device
from ..methods.csc_ivfn import CSCIVFN
from ..methods.csc_rules import l1_norm_rule, saliency_rule
from .reproduction import show_gallery

__all__ = ["code_energy", "plot_csc_codes"]


def code_energy(z: Tensor) -> np.ndarray:
    """The channel energy sum_k z_k^2 of one code (1, K, H, W), scaled to [0, 1] by its maximum."""
    energy = z.detach().double().pow(2).sum(dim=1)[0].cpu().numpy()
    top = energy.max()
    return energy / top if top > 0 else energy


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
