"""Interpretability of a trained FNet: its codes, its schedules, its sparsity, its separation of sources.

What the paper's Sec. V-D and Figs. 8 and 10 read off a trained network, as library functions:

- :func:`trace_fnet` runs FNet once and keeps every intermediate: the three blocks' iterates
  u^0..u^N and pre-threshold activations (``BlockOutput``), the codes u1, u2, c, the residuals and
  the three reconstruction parts G_u1 u1, G_c c, G_u2 u2 (whose sum is the fused image).
- :func:`schedules` gives theta^k and rho^k of each block (eq. 21); :func:`is_monotone` checks the
  paper's claim that theta^k decreases and rho^k increases with k.
- :func:`zero_fraction` and :func:`zero_increase`: the share of (near) zeros in the activations
  before and after the last threshold, and its percentage increase (the paper's Fig. 10 numbers).
  A sigmoidal threshold does not output exact zeros below theta, only small values, so a
  tolerance ``tol`` (on |value|) defines "near zero"; always state it with the number.
- :func:`channel_energy` and :func:`top_channels`: a code's per-pixel energy sum_k u_k^2 and its
  most active channels (for Fig. 8); :func:`source_alignment` says which source each code and each
  reconstruction part follows (Pearson r with A and with B) and how much of the fused image's
  energy each part carries.
- :func:`increase_order` and :func:`matching_tolerances`: how the Fig. 10 comparison depends on the
  near-zero tolerance the paper does not state.
- :func:`roc_auc`, :func:`support_auc`, :func:`component_scores` (both in :func:`recovery_scores`):
  on synthetic MCSC pairs (:class:`lzsc.data.SyntheticMCSC`, ground truth known) how well u1 / u2
  versus c split each source into its true unique and common supports, and how well A's unique
  estimate D_u1 u1 and the residuals match the true unique and common parts. Real data has no
  such ground truth. Compare with an untrained network of the same architecture: a score means
  something only relative to that reference.

Mapping of names: as in the release, A is the infrared (or MRI) image and u1 A's unique code;
B is the visible (CT / PET / SPECT) image and u2 B's unique code; c the common code.
Introduced in ``notebooks/09_interpretability.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .fusion import module_device
from .models import FNet, check_pair
from .unrolled import BlockOutput

__all__ = [
    "BLOCKS",
    "CODES",
    "PAPER_BLOCK",
    "PAPER_ZERO_INCREASE",
    "FNetTrace",
    "channel_energy",
    "component_scores",
    "increase_order",
    "intensity_auc",
    "is_monotone",
    "matching_tolerances",
    "recovery_report",
    "recovery_scores",
    "roc_auc",
    "schedule_report",
    "schedules",
    "source_alignment",
    "source_report",
    "support_auc",
    "top_channels",
    "trace_fnet",
    "zero_fraction",
    "zero_increase",
    "zero_increase_table",
    "zero_report",
]

BLOCKS = ("u1", "u2", "c")
"""FNet's three LZSC blocks, named by the code they estimate."""
CODES = {"u1": "lzsc_u1", "u2": "lzsc_u2", "c": "lzsc_c"}
"""Code name -> FNet attribute of the block that estimates it."""


@dataclass
class FNetTrace:
    """Every intermediate of one FNet forward pass (paper eqs. 22-23), detached, on the CPU."""

    a: Tensor
    b: Tensor
    blocks: dict[str, BlockOutput]
    residual_a: Tensor
    residual_b: Tensor
    rec_u1: Tensor
    rec_u2: Tensor
    rec_c: Tensor

    @property
    def u1(self) -> Tensor:
        return self.blocks["u1"].u

    @property
    def u2(self) -> Tensor:
        return self.blocks["u2"].u

    @property
    def c(self) -> Tensor:
        return self.blocks["c"].u

    @property
    def fused(self) -> Tensor:
        """F = G_u1 u1 + G_c c + G_u2 u2 (unclipped)."""
        return self.rec_u1 + self.rec_c + self.rec_u2

    @property
    def unique_a(self) -> Tensor:
        """A's unique part as FNet estimates it: D_u1 u1 = A - residual_a."""
        return self.a - self.residual_a

    @property
    def unique_b(self) -> Tensor:
        """B's unique part as FNet estimates it: D_u2 u2 = B - residual_b."""
        return self.b - self.residual_b

    def code(self, name: str) -> Tensor:
        if name not in BLOCKS:
            raise KeyError(f"unknown code {name!r}; choose one of {BLOCKS}")
        return self.blocks[name].u


def trace_fnet(model: FNet, a: Tensor, b: Tensor) -> FNetTrace:
    """Run ``model`` on (A, B) keeping every block's iterates: ``FNet.forward(..., return_all=True)``
    (the reference backend), detached and moved to the CPU.

    Works for LZSC and LCSC blocks. Inputs are (N, 1, H, W) in [0, 1]; no autograd is recorded.
    """
    check_pair(a, b)
    device = module_device(model)
    a, b = a.to(device), b.to(device)
    with torch.inference_mode():
        out = model(a, b, return_all=True)

    def cpu(block: BlockOutput) -> BlockOutput:
        iterates = [t.cpu() for t in block.iterates]
        return BlockOutput(block.u.cpu(), iterates, [t.cpu() for t in block.pre_activations])

    blocks = {name: cpu(out.blocks[name]) for name in BLOCKS}
    parts = (out.residual_a, out.residual_b, out.rec_u1, out.rec_u2, out.rec_c)
    return FNetTrace(a.cpu(), b.cpu(), blocks, *(t.cpu() for t in parts))


def schedules(model: nn.Module) -> dict[str, dict[str, np.ndarray]]:
    """theta^k (k = 0..N) and rho^k (k = 1..N) of each of FNet's LZSC blocks (eq. 21), as float arrays.

    Blocks without these schedules (the LCSC block of AE1) are left out.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    with torch.no_grad():
        for name, attr in CODES.items():
            block = getattr(model, attr)
            if not hasattr(block, "thetas"):
                continue
            out[name] = {
                "theta": block.thetas().double().cpu().numpy(),
                "rho": block.rhos().double().cpu().numpy(),
            }
    return out


def is_monotone(values: Sequence[float] | np.ndarray, direction: str) -> bool:
    """Whether ``values`` strictly decrease (``"decreasing"``) or strictly increase (``"increasing"``)."""
    diffs = np.diff(np.asarray(values, dtype=float))
    if direction == "decreasing":
        return bool(np.all(diffs < 0))
    if direction == "increasing":
        return bool(np.all(diffs > 0))
    raise ValueError(f"direction must be 'decreasing' or 'increasing', got {direction!r}")


def _np(x: Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, Tensor) else np.asarray(x, dtype=float)


def zero_fraction(x: Tensor | np.ndarray, tol: float = 0.0) -> float:
    """Share of entries with |x| <= tol (``tol = 0``: exact zeros)."""
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    arr = np.abs(_np(x))
    if arr.size == 0:
        raise ValueError("empty tensor")
    return float(np.mean(arr <= tol))


def zero_increase(pre: Tensor | np.ndarray, post: Tensor | np.ndarray, tol: float) -> dict[str, float]:
    """Near zeros before and after a threshold: fractions and the percentage increase.

    ``increase_pct = 100 (post - pre) / pre`` with ``pre``, ``post`` the shares of |x| <= tol;
    infinite when the activations held no near zero before the threshold.
    """
    before, after = zero_fraction(pre, tol), zero_fraction(post, tol)
    empty = float("inf") if after > 0 else 0.0
    increase = 100.0 * (after - before) / before if before > 0 else empty
    return {"tol": float(tol), "zeros_before": before, "zeros_after": after, "increase_pct": increase}


def zero_increase_table(trace: FNetTrace, tols: Sequence[float], iteration: int = -1) -> list[dict]:
    """:func:`zero_increase` at one iteration (default the last) for each block and tolerance.

    The magnitudes are sorted once per block, so a fine grid of tolerances costs little more than one.
    """
    if any(t < 0 for t in tols):
        raise ValueError(f"tolerances must be >= 0, got {list(tols)}")
    rows = []
    for name in BLOCKS:
        out = trace.blocks[name]
        if not out.pre_activations:
            raise ValueError(f"block {name} kept no pre-activations; trace with trace_fnet")
        pre = np.sort(np.abs(_np(out.pre_activations[iteration])).ravel())
        post = np.sort(np.abs(_np(out.iterates[iteration])).ravel())
        for tol in tols:
            before = float(np.searchsorted(pre, tol, side="right")) / pre.size
            after = float(np.searchsorted(post, tol, side="right")) / post.size
            empty = float("inf") if after > 0 else 0.0
            increase = 100.0 * (after - before) / before if before > 0 else empty
            rows.append(
                {
                    "block": name,
                    "tol": float(tol),
                    "zeros_before": before,
                    "zeros_after": after,
                    "increase_pct": increase,
                }
            )
    return rows


def increase_order(rows: Sequence[dict]) -> dict[float, tuple[str, ...]]:
    """Per tolerance of :func:`zero_increase_table` rows: the blocks from least to most increase."""
    per_tol: dict[float, dict[str, float]] = {}
    for r in rows:
        per_tol.setdefault(r["tol"], {})[r["block"]] = r["increase_pct"]
    return {t: tuple(sorted(per, key=per.__getitem__)) for t, per in per_tol.items()}


def matching_tolerances(
    rows: Sequence[dict], paper: dict[str, float] | None = None, rel: float = 0.1
) -> dict[str, list[float]]:
    """Per block, the tolerances of :func:`zero_increase_table` rows at which the increase lies within
    ``rel`` (relative) of the paper's number for the same source (:data:`PAPER_ZERO_INCREASE`).

    Used in ``notebooks/09_interpretability.ipynb`` to show that the paper's Fig. 10 numbers need a
    tolerance it does not state. Blocks without a paper number are left out.
    """
    if rel <= 0:
        raise ValueError(f"rel must be > 0, got {rel}")
    paper = PAPER_ZERO_INCREASE if paper is None else paper
    out: dict[str, list[float]] = {block: [] for block in paper}
    for r in rows:
        target = paper.get(r["block"])
        if target is not None and abs(r["increase_pct"] - target) <= rel * abs(target):
            out[r["block"]].append(r["tol"])
    return out


def channel_energy(code: Tensor) -> np.ndarray:
    """Per-pixel energy sum_k u_k^2 of a code (1, K, H, W) or (K, H, W), as an (H, W) array."""
    arr = _np(code)
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise ValueError(f"one code at a time, got a batch of {arr.shape[0]}")
        arr = arr[0]
    if arr.ndim != 3:
        raise ValueError(f"expected a code (1, K, H, W) or (K, H, W), got shape {arr.shape}")
    return np.sum(arr**2, axis=0)


def top_channels(code: Tensor, n: int = 4) -> list[int]:
    """Indices of the ``n`` channels with the largest energy (sum of squares), most energetic first."""
    arr = _np(code)
    arr = arr[0] if arr.ndim == 4 else arr
    energy = np.sum(arr.reshape(arr.shape[0], -1) ** 2, axis=1)
    return [int(i) for i in np.argsort(-energy, kind="stable")[:n]]


def source_alignment(trace: FNetTrace) -> list[dict[str, float | str]]:
    """Which source each of FNet's codes carries, on one traced pair (first item).

    Per block (u1, u2, c): Pearson r of the code's channel-energy map (:func:`channel_energy`) with A
    and with B (``energy_r_a``, ``energy_r_b``); Pearson r of its reconstruction part G_u1 u1, G_u2 u2
    or G_c c with A and with B (``part_r_a``, ``part_r_b``); and the part's share of the three parts'
    summed energy (``part_share``, sum of squares). Introduced in ``notebooks/09_interpretability.ipynb``.
    """
    a, b = _np(trace.a[:1])[0, 0], _np(trace.b[:1])[0, 0]
    parts = {"u1": trace.rec_u1, "u2": trace.rec_u2, "c": trace.rec_c}
    energies = {name: float(np.sum(_np(part[:1]) ** 2)) for name, part in parts.items()}
    total = sum(energies.values()) or float("nan")
    rows: list[dict[str, float | str]] = []
    for name in BLOCKS:
        energy = channel_energy(trace.code(name)[:1])
        part = _np(parts[name][:1])[0, 0]
        rows.append(
            {
                "block": name,
                "energy_r_a": _pearson(energy, a),
                "energy_r_b": _pearson(energy, b),
                "part_r_a": _pearson(part, a),
                "part_r_b": _pearson(part, b),
                "part_share": energies[name] / total,
            }
        )
    return rows


def source_report(rows: Sequence[dict]) -> str:
    """:func:`source_alignment` rows as a text table."""
    lines = [
        f"{'code':>4} {'r(E(code), A)':>14} {'r(E(code), B)':>14} {'r(part, A)':>11} {'r(part, B)':>11} "
        f"{'share of the parts energy':>26}"
    ]
    for r in rows:
        lines.append(
            f"{r['block']:>4} {r['energy_r_a']:>+14.3f} {r['energy_r_b']:>+14.3f} {r['part_r_a']:>+11.3f} "
            f"{r['part_r_b']:>+11.3f} {100 * r['part_share']:>25.1f}%"
        )
    return "\n".join(lines)


def roc_auc(score: Tensor | np.ndarray, mask: Tensor | np.ndarray) -> float:
    """Area under the ROC curve of ``score`` as a detector of ``mask`` (Mann-Whitney U, ties averaged).

    1 = every positive scores above every negative, 0.5 = no better than chance. NaN when the mask
    is all positive or all negative.
    """
    s = _np(score).ravel()
    m = np.asarray(_np(mask).ravel() > 0.5)
    if s.shape != m.shape:
        raise ValueError(f"score and mask differ in size: {s.size} vs {m.size}")
    n_pos = int(m.sum())
    n_neg = m.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0  # 1-based ranks, ties share their mean rank
    ranks = average_rank[inverse]
    u = ranks[m].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _pearson(x: Tensor | np.ndarray, y: Tensor | np.ndarray) -> float:
    xa, ya = _np(x).ravel(), _np(y).ravel()
    xa, ya = xa - xa.mean(), ya - ya.mean()
    den = np.sqrt((xa**2).sum() * (ya**2).sum())
    return float((xa * ya).sum() / den) if den > 0 else float("nan")


def _support(pair, key: str) -> np.ndarray:
    """Ground-truth support ``key`` of a synthetic pair as a per-pixel (H, W) bool mask (first item)."""
    if key not in pair.supports:
        raise KeyError(f"the synthetic pair carries no {key!r} support (has: {', '.join(pair.supports)})")
    mask = pair.supports[key][:1]
    if mask.shape[1] > 1:  # code supports (kind="codes"): any channel active at the pixel
        mask = mask.any(dim=1, keepdim=True)
    return _np(mask)[0, 0] > 0.5


def support_auc(traces: Sequence[FNetTrace], pairs: Sequence) -> dict[str, float]:
    """How well the codes split each source into its unique and common content (ROC-AUC, 0.5 = chance).

    For source A, on the pixels that are either inside A's true unique support or inside the
    common support (not both; background left out), the score ``E(u1) / (E(u1) + E(c))`` (channel
    energies, :func:`channel_energy`) should be high on unique pixels and low on common ones; the
    AUC measures exactly that. Likewise for B with u2. ``traces[i]`` is :func:`trace_fnet` of
    ``pairs[i]`` (:class:`lzsc.data.SyntheticPair`, first item used).
    """
    out = {}
    for src, code in (("a", "u1"), ("b", "u2")):
        scores, labels = [], []
        for trace, pair in zip(traces, pairs, strict=True):
            e_u, e_c = channel_energy(trace.code(code)[:1]), channel_energy(trace.c[:1])
            ratio = e_u / np.maximum(e_u + e_c, 1e-30)
            unique, common = _support(pair, f"unique_{src}"), _support(pair, "common")
            keep = unique ^ common
            scores.append(ratio[keep])
            labels.append(unique[keep])
        out[f"{code} vs c on {src.upper()}"] = roc_auc(np.concatenate(scores), np.concatenate(labels))
    return out


def intensity_auc(pairs: Sequence) -> dict[str, float]:
    """The brightness baseline of :func:`support_auc`: the AUC of each source's raw intensity as the score.

    Same pixels and labels as :func:`support_auc` (A: A's unique support vs the common one, not both;
    B likewise), scored by the pixel value of A (resp. B) instead of a code-energy share. A code score
    close to this one ranks pixels by brightness, whatever their content. Keys ``"intensity on A"`` and
    ``"intensity on B"``; ``pairs`` are :class:`lzsc.data.SyntheticPair` (first item used). Introduced in
    ``notebooks/09_interpretability.ipynb``.
    """
    if not pairs:
        raise ValueError("intensity_auc needs at least one synthetic pair")
    out = {}
    for src in ("a", "b"):
        scores, labels = [], []
        for pair in pairs:
            unique, common = _support(pair, f"unique_{src}"), _support(pair, "common")
            keep = unique ^ common
            scores.append(_np(getattr(pair, src)[:1])[0, 0][keep])
            labels.append(unique[keep])
        out[f"intensity on {src.upper()}"] = roc_auc(np.concatenate(scores), np.concatenate(labels))
    return out


def component_scores(traces: Sequence[FNetTrace], pairs: Sequence) -> dict[str, float]:
    """Pearson correlation of FNet's source decomposition with the true parts, over all pixels of ``pairs``.

    - ``unique_a``: D_u1 u1 (= A - residual_a) vs the true unique part of A;
    - ``unique_b``: D_u2 u2 vs the true unique part of B;
    - ``common_a`` / ``common_b``: the residuals (the input of the common block) vs the true common parts.
    """
    keys = ("unique_a", "unique_b", "common_a", "common_b")
    est: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    true: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for trace, pair in zip(traces, pairs, strict=True):
        values = {
            "unique_a": trace.unique_a,
            "unique_b": trace.unique_b,
            "common_a": trace.residual_a,
            "common_b": trace.residual_b,
        }
        for key in keys:
            est[key].append(_np(values[key][:1]).ravel())
            true[key].append(_np(getattr(pair, key)[:1]).ravel())
    return {key: _pearson(np.concatenate(est[key]), np.concatenate(true[key])) for key in keys}


def recovery_scores(model: FNet, pairs: Sequence) -> dict[str, float]:
    """:func:`support_auc` (keys prefixed ``AUC``) and :func:`component_scores` (``corr``) of a model."""
    traces = [trace_fnet(model, pair.a[:1], pair.b[:1]) for pair in pairs]
    scores = {f"AUC {k}": v for k, v in support_auc(traces, pairs).items()}
    scores.update({f"corr {k}": v for k, v in component_scores(traces, pairs).items()})
    return scores


PAPER_BLOCK = {"u1": "u2", "u2": "u1", "c": "c"}
"""lzsc block -> the paper's name for the block that codes the same source.

The paper's Figs. 8 and 10 call the visible image's unique code u1 and the infrared one's u2; the
release (and lzsc) code A = infrared with the first block, u1. Numbers are matched by source."""

PAPER_ZERO_INCREASE = {"u1": 596.5, "u2": 84.4, "c": 1068.8}
"""The paper's increase (%) of near zeros after the last threshold on a TNO pair (Fig. 10), keyed by
the lzsc block that codes the same source: the paper's +84.4 % is its u1 = visible = lzsc's u2, its
+596.5 % its u2 = infrared = lzsc's u1 (see :data:`PAPER_BLOCK`)."""


def schedule_report(learned: dict[str, dict[str, dict[str, np.ndarray]]]) -> str:
    """Text lines: per model and block, whether theta^k decreases and rho^k increases, and their values."""
    lines = []
    for label, per_block in learned.items():
        for block, values in per_block.items():
            theta, rho = values["theta"], values["rho"]
            lines.append(
                f"{label:>22} {block:>2}: theta^k decreasing {is_monotone(theta, 'decreasing')}, "
                f"rho^k increasing {is_monotone(rho, 'increasing')}; theta = {np.round(theta, 4)}, "
                f"rho = {np.round(rho, 3)}"
            )
    return "\n".join(lines)


def zero_report(rows: Sequence[dict], paper: dict[str, float] = PAPER_ZERO_INCREASE) -> str:
    """:func:`zero_increase_table` rows as a text table with the paper's increase for the same source
    (and the paper's name of that block) next to ours."""
    lines = [
        f"{'block':>5} {'tol':>7} {'before':>8} {'after':>8} {'increase':>10} {'paper':>9} {'(its name)':>12}"
    ]
    for r in rows:
        ref = paper.get(r["block"])
        lines.append(
            f"{r['block']:>5} {r['tol']:7.0e} {100 * r['zeros_before']:7.2f}% {100 * r['zeros_after']:7.2f}% "
            f"{r['increase_pct']:+9.1f}% "
            + ("" if ref is None else f"{ref:+8.1f}% {'(' + PAPER_BLOCK[r['block']] + ')':>12}")
        )
    return "\n".join(lines)


def recovery_report(scores: dict[str, dict[str, float]]) -> str:
    """One line per model of :func:`recovery_scores` values."""
    width = max(len(label) for label in scores)
    return "\n".join(
        f"{label:>{width}}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items())
        for label, values in scores.items()
    )
