"""Pixel-domain multi-scale visual information fidelity (VIF; "VIFF" in the CDDFuse evaluator).

For scales s = 1..4 a Gaussian window of size N = 2^(4 - s + 1) + 1 (17, 9, 5, 3) and sd N / 5 is
built as MATLAB's ``fspecial('gaussian')`` (entries below eps * max set to 0, normalised to sum 1).
For s > 1 reference and distorted images are first filtered with it ('valid') and every second row and
column kept. Local statistics are then 'valid'-filtered with the same window::

    g = s_12 / (s_1^2 + 1e-10),   sv^2 = s_2^2 - g s_12
    num += sum log10(1 + g^2 s_1^2 / (sv^2 + 2)),   den += sum log10(1 + s_1^2 / 2)

with the guards of the reference code: negative variances -> 0; where s_1^2 < 1e-10: g = 0,
sv^2 = s_2^2, s_1^2 = 0; where s_2^2 < 1e-10: g = 0, sv^2 = 0; where g < 0: sv^2 = s_2^2, g = 0;
sv^2 floored at 1e-10. VIF = num / den.

A reference with no variance at any scale (a constant one) gives 0 / 0. The reference code returns
1.0 there, which would score a constant source as perfectly preserved whatever F is (and make a
two-source VIF of 2 with two constant sources); here it is NaN, with a ``RuntimeWarning``. A constant
F against a textured reference gives 0 (nothing preserved), F = the reference gives 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lzsc.metrics.checks import check_pair, check_triplet, undefined
from lzsc.metrics.filters import correlate

__all__ = ["VIF_MIN_SIDE", "vif", "vif_pair"]

SCALES = 4
NOISE_VAR = 2.0
EPS = 1e-10
VIF_MIN_SIDE = 41  # the smallest side that leaves a 'valid' 3 x 3 window at scale 4


def gaussian_window(n: int) -> np.ndarray:
    """1-D factor g of MATLAB's ``fspecial('gaussian', n, n / 5)`` window W = outer(g, g).

    g = exp(-x^2 / (2 sd^2)) on x = -(n-1)/2..(n-1)/2, sd = n / 5, normalised to sum 1. MATLAB's cut of
    entries below eps * max never applies at sd = n / 5 (no entry is below exp(-6.25) of the largest),
    so outer(g, g) is MATLAB's 2-D window up to float64 rounding.
    """
    r = (n - 1) / 2.0
    x = np.arange(n) - r
    sd = n / 5.0
    g = np.exp(-(x * x) / (2.0 * sd * sd))
    return g / g.sum()


def vif_many(refs: Sequence[np.ndarray], dist: np.ndarray, names: Sequence[str]) -> list[float]:
    """VIF(ref -> dist) for each reference, sharing the filtering of ``dist`` (checked float64 arrays).

    ``names`` (one per reference, then the distorted image's) name the terms in the warning of a
    constant reference.
    """
    n = len(refs)
    stack = np.stack([*refs, dist])
    num = np.zeros(n)
    den = np.zeros(n)
    for scale in range(1, SCALES + 1):
        g = gaussian_window(2 ** (SCALES - scale + 1) + 1)
        win = [(g, g)]
        if scale > 1:
            stack = correlate(stack, win, "valid")[0][..., ::2, ::2]
        ref, d = stack[:n], stack[n]
        m = correlate(np.concatenate([stack, stack * stack, ref * d]), win, "valid")[0]
        mu1, mu2 = m[:n], m[n]
        s1 = np.maximum(m[n + 1 : 2 * n + 1] - mu1 * mu1, 0.0)
        s2 = np.broadcast_to(np.maximum(m[2 * n + 1] - mu2 * mu2, 0.0), s1.shape)
        s12 = m[2 * n + 2 :] - mu1 * mu2
        num_s, den_s = _vif_terms(s1, s2, s12)
        num += num_s
        den += den_s
    *ref_names, dist_name = names
    return [
        float(nu / de)
        if de > 0
        else undefined(f"VIF({r} -> {dist_name})", f"{r} is constant (no information)")
        for nu, de, r in zip(num, den, ref_names, strict=True)
    ]


def _vif_terms(s1: np.ndarray, s2: np.ndarray, s12: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-reference sums of the numerator and denominator terms at one scale, with the reference guards."""
    g = s12 / (s1 + EPS)
    sv = s2 - g * s12
    flat1 = s1 < EPS
    g = np.where(flat1, 0.0, g)
    sv = np.where(flat1, s2, sv)
    s1 = np.where(flat1, 0.0, s1)
    flat2 = s2 < EPS
    g = np.where(flat2, 0.0, g)
    sv = np.where(flat2, 0.0, sv)
    negative = g < 0
    sv = np.where(negative, s2, sv)
    g = np.where(negative, 0.0, g)
    sv = np.maximum(sv, EPS)
    num = np.log10(1.0 + g * g * s1 / (sv + NOISE_VAR)).sum(axis=(-2, -1))
    den = np.log10(1.0 + s1 / NOISE_VAR).sum(axis=(-2, -1))
    return num, den


def vif_pair(ref: object, dist: object) -> float:
    """VIF(ref -> dist): the information of ``ref`` preserved in ``dist`` (1 for dist = ref).

    See the module docstring for the formula. Needs images of at least 41 x 41 pixels.
    """
    ref, dist = check_pair(ref, dist, ("ref", "dist"), min_side=VIF_MIN_SIDE)
    return vif_many([ref], dist, ("ref", "dist"))[0]


def vif(f: object, a: object, b: object) -> float:
    """VIF = VIF(A -> F) + VIF(B -> F), the paper's (CDDFuse's) sum over the two sources."""
    f, a, b = check_triplet(f, a, b, min_side=VIF_MIN_SIDE)
    return sum(vif_many([a, b], f, ("A", "B", "F")))
