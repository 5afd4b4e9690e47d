"""All eleven metrics of one (F, A, B) triplet in one call, sharing the intermediate work.

Shared: the input checks and float64 conversion (once per image), the rounded grey levels and
histograms (EN, MI, CE), one batched filtering of F with both sources per scale (VIF) and for the
local moments (SSIM), and one batched contrast computation (Qcb).
"""

from __future__ import annotations

import numpy as np

from lzsc.metrics.checks import check_triplet
from lzsc.metrics.chen_blum import contrast_map, qcb_from_contrasts
from lzsc.metrics.gradient import average_gradient, qabf_from_images, spatial_frequency
from lzsc.metrics.information import (
    ce_from_counts,
    entropy_from_counts,
    grey_levels,
    joint_histogram,
    mi_from_joint,
)
from lzsc.metrics.structural import pearson, ssim_from_moments, ssim_moments
from lzsc.metrics.visual_fidelity import VIF_MIN_SIDE, vif_many
from lzsc.protocols import PROTOCOLS as _RULES
from lzsc.protocols import ProtocolName

__all__ = ["HIGHER_IS_BETTER", "METRIC_NAMES", "PROTOCOLS", "compute_all"]

METRIC_NAMES: tuple[str, ...] = ("EN", "SD", "SF", "AG", "MI", "CE", "SCD", "VIF", "Qabf", "Qcb", "SSIM")

HIGHER_IS_BETTER: dict[str, bool] = {name: name != "CE" for name in METRIC_NAMES}

PROTOCOLS: dict[str, str] = {
    "default": (
        "default: 8-bit grey images in 0..255, A = infrared/MRI, B = visible/CT/PET/SPECT; MI, VIF and "
        "SSIM are sums over the two sources, SSIM uses data_range=255 and CE is VIFB's mean "
        "(CE(A,F) + CE(B,F)) / 2."
    ),
    "paper": (
        "paper: as default except SSIM with the legacy data_range=2 of CDDFuse's evaluator (scikit-image "
        "0.19 on float input) and CE as the sum CE(A,F) + CE(B,F), the settings under which the paper's "
        "Table I reproduces (except TNO's CE)."
    ),
}


def compute_all(f: object, a: object, b: object, protocol: ProtocolName = "default") -> dict[str, float]:
    """Compute every metric of :data:`METRIC_NAMES` for fused F and sources A (infrared / MRI), B.

    Inputs are 2-D arrays or tensors of 8-bit grey values 0..255, all of one shape, at least 41 x 41
    (VIF's coarsest scale). ``protocol`` selects the SSIM data range and the CE reduction: those of
    ``lzsc.protocols.PROTOCOLS[protocol]`` (described in :data:`PROTOCOLS`). The values equal those of
    the individual functions (``en``, ..., ``ssim``) up to float64 rounding.
    """
    if protocol not in _RULES:
        raise ValueError(f"protocol must be one of {sorted(_RULES)}, got {protocol!r}")
    rules = _RULES[protocol]
    f, a, b = check_triplet(f, a, b, min_side=VIF_MIN_SIDE)

    lf, la, lb = grey_levels(f), grey_levels(a), grey_levels(b)
    joint_fa, joint_fb = joint_histogram(lf, la), joint_histogram(lf, lb)
    hist_f, hist_a, hist_b = joint_fa.sum(axis=1), joint_fa.sum(axis=0), joint_fb.sum(axis=0)

    c_a, c_b, c_f = contrast_map(np.stack([a, b, f]))
    ce_total = ce_from_counts(hist_a, hist_f, "A") + ce_from_counts(hist_b, hist_f, "B")
    out = {
        "EN": entropy_from_counts(hist_f),
        "SD": float(np.std(f)),
        "SF": spatial_frequency(f),
        "AG": average_gradient(f),
        "MI": mi_from_joint(joint_fa) + mi_from_joint(joint_fb),
        "CE": ce_total / 2.0 if rules.ce_reduction == "mean" else ce_total,
        "SCD": pearson(a, f - b) + pearson(b, f - a),
        "VIF": sum(vif_many([a, b], f, ("A", "B", "F"))),
        "Qabf": qabf_from_images(f, a, b),
        "Qcb": qcb_from_contrasts(c_a, c_b, c_f),
        "SSIM": sum(ssim_from_moments(ssim_moments(f, [a, b]), rules.ssim_data_range)),
    }
    return {name: out[name] for name in METRIC_NAMES}
