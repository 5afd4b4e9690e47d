"""Chen-Blum perceptual fusion metric Qcb, as VIFB's ``metricsQcb.m`` (Z. Liu's ``metricChenBlum.m``).

Steps, per image X in {A, B, F}:

1. Min-max normalise to 0..255 and round half away from zero (MATLAB ``round``).
2. Contrast-sensitivity filtering in the frequency domain: with MATLAB ``freqspace([H, W], 'meshgrid')``
   frequencies f_u (columns) and f_v (rows), u = (W / 30) f_u, v = (H / 30) f_v, r = sqrt(u^2 + v^2),
   S(r) = exp(-(r / 15.3870)^2) - 0.7622 exp(-(r / 1.3456)^2) and
   X_csf = ifft2(ifftshift(fftshift(fft2(X)) S)), kept complex as MATLAB/Octave keep it.
3. Local contrast C = |(G1 * X_csf) / (G2 * X_csf) - 1| with unnormalised 31 x 31 Gaussians G_s(x, y) =
   exp(-(x^2 + y^2) / (2 s^2)) / (2 pi s^2) on -15..15 (s = 2, 4), 'same' correlation with zero padding;
   masked contrast C' = C^3 / (C^2 + 1e-4).

Then Q_XF = min(C'_X, C'_F) / max(C'_X, C'_F), saliency lambda_A = C'_A^2 / (C'_A^2 + C'_B^2),
lambda_B = C'_B^2 / (C'_A^2 + C'_B^2), and Qcb = mean(lambda_A Q_AF + lambda_B Q_BF).

Degenerate cases, where the MATLAB code gives NaN (and so a NaN image score), are defined here:

- a constant image normalises to all zeros (MATLAB divides 0 by 0 unless the constant is 0);
- where G2 * X_csf is exactly 0 (an all-zero neighbourhood) the contrast C is 0;
- Q_XF = 1 where C'_X = C'_F = 0 (no contrast to preserve, none added), and 0 where exactly one of
  them is 0 (MATLAB's masked formula computes inf * 0 = NaN there);
- lambda_A = lambda_B = 1/2 where C'_A = C'_B = 0;
- Qcb is NaN, with a ``RuntimeWarning``, when C'_A = C'_B = 0 everywhere (both sources constant, for
  example): with no source contrast anywhere the score would only say whether F is flat too (1) or
  not (0).

Where MATLAB's value is finite these rules change nothing. Near-zero but non-zero values are NOT
guarded: far from the object of a medical image, X_csf is FFT rounding noise (~1e-14), and C is the
ratio of two smoothings of that noise. MATLAB's Qcb, and so the paper's, averages those pixels in, so
they are kept; a noise floor would move the MRI-PET mean by more than 5e-3. To give the noise MATLAB's
statistics, the Gaussian filtering is a direct sum like ``filter2`` (its rounding scales with the local
values), not an FFT convolution (whose rounding scales with the image maximum and changed the MRI-PET
mean by ~1e-3). What remains is the FFT library's rounding in step 2: with the mean-fused baseline,
torch's FFT against numpy's changes single MRI-PET images by up to ~9e-3 and the 42-image mean by
3e-4; complex against real-part X_csf changes single images by up to 1e-2.
"""

from __future__ import annotations

import numpy as np
import torch

from lzsc.metrics.checks import check_triplet, undefined
from lzsc.metrics.filters import correlate

__all__ = ["contrast_map", "qcb", "qcb_from_contrasts"]

F0, F1, A_CSF = 15.3870, 1.3456, 0.7622
SIGMAS = (2.0, 4.0)
HALF = 15
Z = 1e-4


def normalize255(img: np.ndarray) -> np.ndarray:
    """Min-max normalisation to 0..255 rounded half away from zero; a constant image gives zeros."""
    lo, hi = img.min(), img.max()
    if hi == lo:
        return np.zeros_like(img)
    return np.floor((img - lo) / (hi - lo) * 255.0 + 0.5)


def csf_filter(shape: tuple[int, int]) -> np.ndarray:
    """The contrast-sensitivity filter S on MATLAB's centred ``freqspace`` grid (DC at index floor(n/2))."""
    h, w = shape
    fu = (np.arange(w) - w // 2) * (2.0 / w)
    fv = (np.arange(h) - h // 2) * (2.0 / h)
    u, v = np.meshgrid((w / 30.0) * fu, (h / 30.0) * fv)
    r = np.sqrt(u**2 + v**2)
    return np.exp(-((r / F0) ** 2)) - A_CSF * np.exp(-((r / F1) ** 2))


def gaussian31(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Separable factors (kv, kh) of exp(-(x^2 + y^2) / (2 sigma^2)) / (2 pi sigma^2) on -15..15.

    Unnormalised, as in VIFB: the 31 x 31 window holds 1 - 1e-14 (sigma 2) and 1 - 2e-4 (sigma 4) of the mass.
    """
    x = np.arange(-HALF, HALF + 1, dtype=np.float64)
    e = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return e / (2.0 * np.pi * sigma * sigma), e


def contrast_map(images: np.ndarray) -> np.ndarray:
    """Masked local contrast C' of each image of a stack (n, H, W) of checked 0..255 images."""
    x = np.stack([normalize255(img) for img in images])
    s = torch.from_numpy(np.fft.ifftshift(csf_filter(x.shape[-2:])))
    x_csf = torch.fft.ifft2(torch.fft.fft2(torch.from_numpy(x)) * s).numpy()
    near, far = correlate(x_csf, [gaussian31(sg) for sg in SIGMAS], "same")
    zero = far == 0
    c = np.where(zero, 0.0, np.abs(near / np.where(zero, 1.0, far) - 1.0))
    c2 = c * c
    return c2 * c / (c2 + Z)


def _ratio(num: np.ndarray, den: np.ndarray, both_zero: float) -> np.ndarray:
    """num / den with 0 / 0 := both_zero (den is 0 only where num is 0 too)."""
    zero = den == 0
    return np.where(zero, both_zero, num / np.where(zero, 1.0, den))


def qcb_from_contrasts(c_a: np.ndarray, c_b: np.ndarray, c_f: np.ndarray) -> float:
    """Qcb from the masked contrasts C' of A, B and F (see the module docstring)."""
    if not (c_a.any() or c_b.any()):
        return undefined(
            "Qcb", "neither source has any contrast (both constant?): there is nothing to preserve"
        )
    q_af = _ratio(np.minimum(c_a, c_f), np.maximum(c_a, c_f), 1.0)
    q_bf = _ratio(np.minimum(c_b, c_f), np.maximum(c_b, c_f), 1.0)
    sa, sb = c_a * c_a, c_b * c_b
    lam_a, lam_b = _ratio(sa, sa + sb, 0.5), _ratio(sb, sa + sb, 0.5)
    return float(np.mean(lam_a * q_af + lam_b * q_bf))


def qcb(f: object, a: object, b: object) -> float:
    """Chen-Blum metric Qcb in [0, 1] (higher is better); see the module docstring for the definition."""
    f, a, b = check_triplet(f, a, b)
    c_a, c_b, c_f = contrast_map(np.stack([a, b, f]))
    return qcb_from_contrasts(c_a, c_b, c_f)
