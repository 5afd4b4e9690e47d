"""Histogram metrics: entropy EN, mutual information MI and cross entropy CE.

All three work on integer grey levels: values are rounded with ``np.rint`` (half to even, as the
CDDFuse evaluator's ``np.round``) and counted over 256 bins. Saved 8-bit images are integers already.

Degenerate inputs: EN of a constant image is 0 and MI with a constant image is 0 (no information),
both the mathematically right values and the worst ones. CE is NaN, with a ``RuntimeWarning``, where
VIFB's sum over the common grey levels stops meaning anything (see :func:`ce_pair`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from lzsc.metrics.checks import as_gray_image, check_pair, check_triplet, undefined

__all__ = ["ce", "ce_pair", "en", "mi", "mi_pair"]

LEVELS = 256


def grey_levels(img: np.ndarray) -> np.ndarray:
    """Integer grey levels 0..255 (int64) of a checked float64 image."""
    return np.rint(img).astype(np.int64).ravel()


def histogram(levels: np.ndarray) -> np.ndarray:
    """Counts of the 256 grey levels."""
    return np.bincount(levels, minlength=LEVELS).astype(np.float64)


def joint_histogram(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """256 x 256 joint counts, rows indexed by the levels of ``p`` and columns by those of ``q``."""
    return np.bincount(p * LEVELS + q, minlength=LEVELS * LEVELS).astype(np.float64).reshape(LEVELS, LEVELS)


def entropy_from_counts(counts: np.ndarray) -> float:
    """Shannon entropy in bits, -sum p log2 p with 0 log 0 = 0 (+0.0, not -0.0, for one level)."""
    p = counts[counts > 0] / counts.sum()
    return 0.0 - float((p * np.log2(p)).sum())


def mi_from_joint(joint: np.ndarray) -> float:
    """Mutual information in nats from joint counts: sum p_ij log(p_ij / (p_i p_j)), clipped at 0."""
    n = joint.sum()
    rows, cols = joint.sum(axis=1), joint.sum(axis=0)
    i, j = np.nonzero(joint)
    nij = joint[i, j]
    value = np.sum(nij / n * (np.log(nij) + np.log(n) - np.log(rows[i]) - np.log(cols[j])))
    return max(float(value), 0.0)


def ce_from_counts(counts_x: np.ndarray, counts_f: np.ndarray, source: str = "X") -> float:
    """Cross entropy CE(X, F) = sum over bins with P_X > 0 and P_F > 0 of P_X log2(P_X / P_F), in bits.

    NaN with a warning (naming ``source``) in the degenerate cases of :func:`ce_pair`.
    """
    px, pf = counts_x / counts_x.sum(), counts_f / counts_f.sum()
    both = (px > 0) & (pf > 0)
    term = f"CE({source}, F)"
    if np.count_nonzero(pf) == 1 and not np.array_equal(px, pf):
        return undefined(
            term,
            f"F is constant (a single grey level) while {source} is not that same constant image: "
            "the sum then covers one level at most and is <= 0",
        )
    if not both.any():
        return undefined(term, f"{source} and F share no grey level (the sum is empty, not a perfect 0)")
    return float(np.sum(px[both] * np.log2(px[both] / pf[both])))


def en(f: object) -> float:
    """Entropy EN = -sum_k p_k log2 p_k of the 256-bin histogram of F's rounded grey levels, in bits.

    0 for a constant image (one grey level), the lowest value.
    """
    img = as_gray_image(f, "F (fused)")
    return entropy_from_counts(histogram(grey_levels(img)))


def mi_pair(x: object, y: object) -> float:
    """Mutual information of two images in nats (scikit-learn's ``mutual_info_score`` of the levels).

    ``MI(X, Y) = sum_ij p_ij ln(p_ij / (p_i p_j))`` over the 256 x 256 joint histogram; MI(X, X) is
    X's entropy in nats.
    """
    x, y = check_pair(x, y, ("X", "Y"))
    return mi_from_joint(joint_histogram(grey_levels(x), grey_levels(y)))


def mi(f: object, a: object, b: object) -> float:
    """MI = MI(F, A) + MI(F, B), in nats (the paper's and CDDFuse's sum over the two sources)."""
    f, a, b = check_triplet(f, a, b)
    lf = grey_levels(f)
    return sum(mi_from_joint(joint_histogram(lf, grey_levels(s))) for s in (a, b))


def ce_pair(x: object, f: object) -> float:
    """Cross entropy CE(X, F) = sum_k P_X(k) log2(P_X(k) / P_F(k)) over bins where both are non-zero.

    This is VIFB's definition: the Kullback-Leibler divergence restricted to the grey levels X and F
    share, so it is not a divergence (it can be negative where F lacks levels X has). It is NaN, with
    a ``RuntimeWarning``, where that restriction leaves nothing meaningful: F constant (a black, white
    or grey F; the sum is then P_X(c) log2 P_X(c) <= 0 and would rank as best) unless X is the same
    constant image (CE = 0: identical histograms), and X and F sharing no grey level (an empty sum, 0).
    """
    x, f = check_pair(x, f, ("X (source)", "F (fused)"))
    return ce_from_counts(histogram(grey_levels(x)), histogram(grey_levels(f)))


def ce(f: object, a: object, b: object, reduction: Literal["mean", "sum"] = "mean") -> float:
    """Cross entropy of F against both sources; lower is better.

    ``reduction="mean"``: (CE(A, F) + CE(B, F)) / 2, VIFB's definition (the default).
    ``reduction="sum"``: CE(A, F) + CE(B, F), the variant matching the paper on 4 of its 5 sets.
    NaN, with a ``RuntimeWarning``, when either term is undefined (see :func:`ce_pair`).
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    f, a, b = check_triplet(f, a, b)
    hf = histogram(grey_levels(f))
    total = sum(ce_from_counts(histogram(grey_levels(s)), hf, n) for s, n in ((a, "A"), (b, "B")))
    return total / 2.0 if reduction == "mean" else total
