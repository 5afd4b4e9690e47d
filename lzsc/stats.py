"""Multiple testing: Holm's step-down adjustment, for a family of p-values tested at once.

Used by the ablation study (:mod:`lzsc.ablations`, notebook 10) and the phase diagram
(:mod:`lzsc.phase`, notebook 02).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["holm"]


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of ``p_values`` for testing them all at once (same order as given).

    The i-th smallest p is multiplied by (m - i + 1) and the adjusted values are made non-decreasing in
    that order (capped at 1); rejecting where the adjusted p is below a level controls the family-wise
    error at that level. :meth:`lzsc.ablations.AblationStudy.by_ablation` tests the ablations one at a
    time and notebook 10 shows the outcomes that survive this correction;
    :meth:`lzsc.phase.PhaseDiagram.ahead_holm` corrects the cells of notebook 02's phase diagram.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional, got shape {p.shape}")
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1 + 1e-9)):
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    p = np.minimum(p, 1.0)  # a binomial tail summed in floating point can exceed 1 by rounding
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted
