"""Gradient metrics: spatial frequency SF, average gradient AG and Xydeas-Petrovic Qabf."""

from __future__ import annotations

import math

import numpy as np

from lzsc.metrics.checks import as_gray_image, check_triplet, is_constant, undefined

__all__ = ["ag", "qabf", "sf"]

# Xydeas-Petrovic sigmoid constants (Gamma, kappa, sigma) for edge strength g and orientation alpha.
_TG, _KG, _DG = 0.9994, -15.0, 0.5
_TA, _KA, _DA = 0.9879, -22.0, 0.8


def sf(f: object) -> float:
    """Spatial frequency SF = sqrt(RF^2 + CF^2).

    RF^2 = mean((F[:, 1:] - F[:, :-1])^2) (row frequency), CF^2 = mean((F[1:, :] - F[:-1, :])^2).
    """
    return spatial_frequency(as_gray_image(f, "F (fused)", min_side=2))


def spatial_frequency(img: np.ndarray) -> float:
    """SF of a checked float64 image (see :func:`sf`)."""
    return float(np.sqrt(np.mean(np.diff(img, axis=1) ** 2) + np.mean(np.diff(img, axis=0) ** 2)))


def ag(f: object) -> float:
    """Average gradient AG = mean(sqrt((Gx^2 + Gy^2) / 2)).

    Gx, Gy are central differences (x[i+1] - x[i-1]) / 2 inside and one-sided differences at the borders.
    """
    return average_gradient(as_gray_image(f, "F (fused)", min_side=2))


def average_gradient(img: np.ndarray) -> float:
    """AG of a checked float64 image (see :func:`ag`)."""
    gy, gx = np.gradient(img)
    return float(np.mean(np.sqrt((gx**2 + gy**2) / 2.0)))


def sobel_edges(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge strength g = sqrt(sx^2 + sy^2) and orientation a = arctan(sy / sx) (pi/2 where sx = 0).

    sx, sy are the 'same' 2-D convolutions (zero padding) of the image with
    [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] and [[1, 2, 1], [0, 0, 0], [-1, -2, -1]].
    """
    p = np.pad(img, 1)
    vert = p[:-2] + 2.0 * p[1:-1] + p[2:]
    horiz = p[:, :-2] + 2.0 * p[:, 1:-1] + p[:, 2:]
    sx = vert[:, :-2] - vert[:, 2:]
    sy = horiz[2:] - horiz[:-2]
    g = np.sqrt(sx * sx + sy * sy)
    nonzero = sx != 0
    angle = np.full(img.shape, math.pi / 2)
    angle[nonzero] = np.arctan(sy[nonzero] / sx[nonzero])
    return g, angle


def edge_preservation(g_x: np.ndarray, a_x: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    """Per-pixel edge preservation Q_XF = Q_g Q_a of source X in F.

    G = min(g_X, g_F) / max(g_X, g_F) (G = g_F where g_X = g_F), A = 1 - |a_X - a_F| / (pi/2),
    Q_g = 0.9994 / (1 + exp(-15 (G - 0.5))), Q_a = 0.9879 / (1 + exp(-22 (A - 0.8))).
    """
    ratio = np.minimum(g_x, g_f) / np.where(g_x == g_f, 1.0, np.maximum(g_x, g_f))
    strength = np.where(g_x == g_f, g_f, ratio)
    orientation = 1.0 - np.abs(a_x - a_f) / (math.pi / 2)
    q_g = _TG / (1.0 + np.exp(_KG * (strength - _DG)))
    q_a = _TA / (1.0 + np.exp(_KA * (orientation - _DA)))
    return q_g * q_a


def qabf_from_images(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Qabf of checked float64 images F, A, B (see :func:`qabf`)."""
    if is_constant(a) and is_constant(b):
        return undefined(
            "Qabf",
            "both sources are constant: they have no edge to preserve (their only Sobel responses "
            "are the zero padding's artefacts at the image border)",
        )
    (g_a, a_a), (g_b, a_b), (g_f, a_f) = sobel_edges(a), sobel_edges(b), sobel_edges(f)
    den = float(np.sum(g_a + g_b))
    if den == 0.0:
        return undefined("Qabf", "neither source has a Sobel edge anywhere")
    q_af = edge_preservation(g_a, a_a, g_f, a_f)
    q_bf = edge_preservation(g_b, a_b, g_f, a_f)
    return float(np.sum(q_af * g_a + q_bf * g_b)) / den


def qabf(f: object, a: object, b: object) -> float:
    """Xydeas-Petrovic edge-preservation metric Qabf (0..1, higher is better).

    Qabf = sum(Q_AF g_A + Q_BF g_B) / sum(g_A + g_B) with Sobel edge strengths g and the per-pixel
    preservation Q_XF of :func:`edge_preservation`. Undefined: NaN with a ``RuntimeWarning`` when
    neither source has an edge, i.e. both sources are constant (a constant non-zero image has Sobel
    responses only at the zero-padded border, which F = the same constant would "preserve" to 0.975)
    or their Sobel responses vanish everywhere. A constant F against sources with edges gets the
    formula's (low) value.
    """
    f, a, b = check_triplet(f, a, b)
    return qabf_from_images(f, a, b)
