"""Second-order statistics: standard deviation SD, correlations SCD and structural similarity SSIM."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lzsc.metrics.checks import as_gray_image, check_pair, check_triplet
from lzsc.metrics.filters import correlate

__all__ = ["scd", "sd", "ssim", "ssim_pair"]

SSIM_WIN = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03


def sd(f: object) -> float:
    """Standard deviation SD = sqrt(mean((F - mean(F))^2)) (population, as ``np.std``)."""
    return float(np.std(as_gray_image(f, "F (fused)")))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation over all pixels; 0 when either image is constant (zero variance)."""
    xm, ym = x - x.mean(), y - y.mean()
    den = float(np.sqrt(np.sum(xm * xm) * np.sum(ym * ym)))
    return float(np.sum(xm * ym)) / den if den > 0 else 0.0


def scd(f: object, a: object, b: object) -> float:
    """Sum of the correlations of differences SCD = corr(A, F - B) + corr(B, F - A), in [-2, 2].

    ``corr`` is the Pearson correlation over all pixels. A correlation with a constant difference
    image (for example F - A when F = A) is taken as 0 rather than 0/0: that difference carries no
    information about the other source.
    """
    f, a, b = check_triplet(f, a, b)
    return pearson(a, f - b) + pearson(b, f - a)


def ssim_moments(f: np.ndarray, sources: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Local 7 x 7 means over the 'valid' positions of F, each source X, F^2, X^2 and F X.

    Returns (mu_f, mu_x, e_ff, e_xx, e_fx), the per-source entries stacked along axis 0.
    """
    x = np.stack(sources)
    box = np.full(SSIM_WIN, 1.0 / SSIM_WIN)
    m = correlate(np.concatenate([f[None], x, (f * f)[None], x * x, x * f]), [(box, box)], "valid")[0]
    n = len(sources)
    return m[0], m[1 : 1 + n], m[1 + n], m[2 + n : 2 + 2 * n], m[2 + 2 * n :]


def ssim_from_moments(moments: tuple[np.ndarray, ...], data_range: float) -> list[float]:
    """Mean SSIM of F against each source from :func:`ssim_moments` (scikit-image's formula)."""
    mu_f, mu_x, e_ff, e_xx, e_fx = moments
    cov_norm = SSIM_WIN**2 / (SSIM_WIN**2 - 1.0)
    v_f = cov_norm * (e_ff - mu_f * mu_f)
    v_x = cov_norm * (e_xx - mu_x * mu_x)
    v_fx = cov_norm * (e_fx - mu_f * mu_x)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * mu_f * mu_x + c1) * (2 * v_fx + c2)) / ((mu_f**2 + mu_x**2 + c1) * (v_f + v_x + c2))
    return [float(v) for v in s.mean(axis=(-2, -1))]


def _check_range(data_range: float) -> float:
    if not data_range > 0 or not np.isfinite(data_range):
        raise ValueError(f"data_range must be a positive number (255 for 8-bit images), got {data_range}")
    return float(data_range)


def ssim_pair(x: object, y: object, data_range: float = 255.0) -> float:
    """Mean SSIM of two images, as scikit-image's ``structural_similarity`` with its defaults.

    7 x 7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance (N / (N - 1)), C1 = (K1 L)^2,
    C2 = (K2 L)^2 with L = ``data_range``; SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) /
    ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)), averaged over the positions where the window fits.
    C1 and C2 keep it defined on constant images: two equal constant images give 1, a constant image
    against a textured one a value well below 1.
    """
    data_range = _check_range(data_range)
    x, y = check_pair(x, y, ("X", "Y"), min_side=SSIM_WIN)
    return ssim_from_moments(ssim_moments(x, [y]), data_range)[0]


def ssim(f: object, a: object, b: object, data_range: float = 255.0) -> float:
    """SSIM = SSIM(F, A) + SSIM(F, B) (the paper's sum, up to 2) with :func:`ssim_pair`'s definition.

    ``data_range=255`` is the standard value for 8-bit images. The paper's numbers need the legacy
    ``data_range=2``: CDDFuse passed float images 0..255 without a range and scikit-image 0.19 then used
    the float dtype range (-1, 1).
    """
    data_range = _check_range(data_range)
    f, a, b = check_triplet(f, a, b, min_side=SSIM_WIN)
    return sum(ssim_from_moments(ssim_moments(f, [a, b]), data_range))
