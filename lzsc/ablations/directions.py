"""The paper's directions of change in Table III, for :mod:`lzsc.ablations.study` to judge ours against.

:func:`paper_directions` reads the paper's direction of change (ablation vs full FNet) from Table III
(``paper_table3_ablation.csv``; rows whose alignment in the source is uncertain are flagged);
:func:`binomial_tail` is the tail of a binomial distribution (the study's per-ablation test).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Literal

from ..datasets import REGISTRY
from ..metrics import HIGHER_IS_BETTER
from ..reference import ablation_table
from .configs import PAPER_BASELINE

__all__ = ["Direction", "binomial_tail", "paper_directions"]

Direction = Literal["better", "worse", "tie"]
"""An ablation's change of one metric against the full model (CE: lower is better)."""


def _lzsc_name(paper_name: str) -> str:
    """lzsc's name of the test set FNet's tables call ``paper_name``, else ``paper_name`` itself."""
    spec = REGISTRY.by_paper_name(paper_name)
    return paper_name if spec is None else spec.name


def _direction(delta: float, metric: str, tie: float) -> Direction:
    """Direction "better", "worse" or "tie": the ablation vs the full model (CE: lower is better)."""
    if not math.isfinite(delta) or abs(delta) < tie:
        return "tie"
    improves = delta > 0 if HIGHER_IS_BETTER.get(metric, True) else delta < 0
    return "better" if improves else "worse"


def paper_directions(rows: Sequence[Mapping[str, str]] | None = None) -> dict[tuple[str, str, str], dict]:
    """The paper's Table III as ``{(dataset, metric, AE): {value, fnet, delta, direction, aligned}}``.

    ``dataset`` is lzsc's name of a set registered in :data:`lzsc.datasets.REGISTRY` (TNO, RoadScene,
    MRI_CT, MRI_PET, MRI_SPECT, and CATS, KAIST, RGB-NIR once :func:`~lzsc.datasets.register_extra_sets`
    has registered them), else the paper's (e.g. "VIS-IR (KAIST)"). Directions compare the printed
    2-decimal values: equal values are a "tie". ``aligned`` is False for rows the reference marks as
    uncertain ("alignment uncertain").
    """
    rows = ablation_table() if rows is None else rows
    base = {
        (r["task_dataset"], r["metric"]): float(r["value"]) for r in rows if r["experiment"] == PAPER_BASELINE
    }
    out = {}
    for r in rows:
        if r["experiment"] == PAPER_BASELINE or (r["task_dataset"], r["metric"]) not in base:
            continue
        fnet, value = base[(r["task_dataset"], r["metric"])], float(r["value"])
        delta = value - fnet
        out[(_lzsc_name(r["task_dataset"]), r["metric"], r["experiment"])] = {
            "value": value,
            "fnet": fnet,
            "delta": delta,
            "direction": _direction(round(delta, 6), r["metric"], 0.005),
            "aligned": not r.get("note", "").strip(),
        }
    return out


def _paper_overall(paper: Mapping, metric: str, ablation: str) -> dict | None:
    """Majority direction over the paper's data sets (aligned rows only), for synthetic-only runs."""
    votes = Counter(
        v["direction"] for (d, m, e), v in paper.items() if m == metric and e == ablation and v["aligned"]
    )
    if not votes:
        return None
    (top, n), *rest = votes.most_common()
    direction = top if not rest or rest[0][1] < n else "tie"
    return {"direction": direction, "aligned": True, "value": math.nan, "fnet": math.nan, "delta": math.nan}


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how likely at least k agreements of n are by coin flips."""
    if n <= 0:
        return math.nan
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(max(k, 0), n + 1)))
