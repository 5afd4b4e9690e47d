"""Image-fusion metrics: EN, SD, SF, AG, MI, CE, SCD, VIF, Qabf, Qcb and SSIM.

Definitions follow the CDDFuse evaluator (EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM) and the VIFB
benchmark (CE, Qcb); the formula of each is in its function's docstring.

Conventions (state them in every results table):

- F is the fused image, A the infrared (TNO, RoadScene) or MRI (medical sets) source, B the visible,
  CT, PET or SPECT source, as in the authors' release.
- Images are 2-D arrays or tensors of 8-bit grey values 0..255 (uint8, float32 or float64), measured
  as float64. Colour files are reduced to grey with OpenCV's BGR->GRAY weights (:func:`to_gray_u8`).
  Fused images should be saved as 8-bit (or rounded) before measuring, as the paper did. Histogram
  metrics (EN, MI, CE) round values to integer grey levels.
- Two-source metrics report the SUM of the two one-source values: MI = MI(F,A) + MI(F,B) (nats),
  VIF = VIF(A->F) + VIF(B->F), SSIM = SSIM(F,A) + SSIM(F,B) (so up to 2); Qabf, Qcb and SCD combine
  both sources by definition. CE is VIFB's MEAN (CE(A,F) + CE(B,F)) / 2 by default, the sum with
  ``reduction="sum"``; lower CE is better (:data:`HIGHER_IS_BETTER`).
- :data:`PROTOCOLS` names the two settings of :func:`compute_all`: ``"default"`` (SSIM data_range 255,
  CE mean) and ``"paper"`` (the legacy SSIM data_range 2 and the CE sum that reproduce the paper).
- Per-dataset values are means over all image pairs.

One-source helpers (``mi_pair``, ``ce_pair``, ``ssim_pair``, ``vif_pair``) give the single terms.
"""

from lzsc.metrics.checks import to_gray_u8
from lzsc.metrics.chen_blum import qcb
from lzsc.metrics.core import HIGHER_IS_BETTER, METRIC_NAMES, PROTOCOLS, compute_all
from lzsc.metrics.gradient import ag, qabf, sf
from lzsc.metrics.information import ce, ce_pair, en, mi, mi_pair
from lzsc.metrics.structural import scd, sd, ssim, ssim_pair
from lzsc.metrics.visual_fidelity import vif, vif_pair

__all__ = [
    "HIGHER_IS_BETTER",
    "METRIC_NAMES",
    "PROTOCOLS",
    "ag",
    "ce",
    "ce_pair",
    "compute_all",
    "en",
    "mi",
    "mi_pair",
    "qabf",
    "qcb",
    "scd",
    "sd",
    "sf",
    "ssim",
    "ssim_pair",
    "to_gray_u8",
    "vif",
    "vif_pair",
]
