"""Exact support recovery of several solvers over a grid of sparsity s and measurements n.

The Donoho-Tanner phase diagram of compressed sensing, measured: for every pair (n, s) of the grid,
``trials`` problems x = D z (+ noise, none by default) with a Gaussian dictionary D of n rows and m
unit-norm columns and codes with s non-zeros (magnitudes at least ``z_min``) are solved by each
solver, and the share of codes whose support is recovered exactly is recorded, with its binomial
standard error. Comparing an l0 solver with an l1 one cell by cell says in which regime each wins,
which is what a single operating point (one n, one s) cannot.

Introduced in ``notebooks/02_niht_and_momentum.ipynb`` (l0 versus l1 at the suite's scale).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from lzsc.operators import DenseDictionary
from lzsc.problems import random_sparse_problem
from lzsc.stats import holm

__all__ = [
    "PhaseDiagram",
    "bounded_away_from_zero",
    "phase_transition",
    "support_recovered",
    "transition_point",
]

Solver = Callable[..., object]


def support_recovered(z_hat: Tensor, z_true: Tensor, sample_dims: int = 1) -> Tensor:
    """Per sample, whether the estimated support equals the true one exactly (a bool tensor).

    A sample is the last ``sample_dims`` dimensions (1 for dense codes (batch, m), 2 for 1-D
    convolutional codes (batch, K, length)).
    """
    if z_hat.shape != z_true.shape:
        raise ValueError(
            f"z_hat and z_true must have the same shape, got {tuple(z_hat.shape)} and {tuple(z_true.shape)}"
        )
    if not 1 <= sample_dims <= z_true.ndim:
        raise ValueError(
            f"sample_dims must lie in [1, {z_true.ndim}] (dimensions of the codes), got {sample_dims}"
        )
    same = (z_hat != 0) == (z_true != 0)
    return same.reshape(*same.shape[: same.ndim - sample_dims], -1).all(-1)


def bounded_away_from_zero(z: Tensor, z_min: float) -> Tensor:
    """Push every non-zero coefficient away from zero: z_i -> sign(z_i) (z_min + |z_i|); zeros stay zero.

    Whether a coefficient of size 1e-3 is "recovered" says nothing about an algorithm, so recovery
    experiments keep the non-zeros at least ``z_min`` in magnitude.
    """
    if not (math.isfinite(z_min) and z_min >= 0):
        raise ValueError(f"z_min must be a finite number >= 0, got {z_min}")
    return z.sign() * (z_min + z.abs())


def transition_point(
    sparsities: Sequence[float], rates: Sequence[float] | Tensor, level: float = 0.5
) -> float:
    """Where a recovery curve first falls below ``level``: the sparsity s at which the straight line
    between the last grid point at or above ``level`` and the next one crosses it.

    Returns the first sparsity if the curve starts below ``level`` and the last one if it never falls
    below (the transition lies beyond the grid). Used in notebooks 01 and 02 to give a recovery curve's
    50 % point as one number.
    """
    s = [float(v) for v in sparsities]
    r = [float(v) for v in (rates.tolist() if isinstance(rates, Tensor) else rates)]
    if len(s) != len(r) or not s:
        raise ValueError(f"need as many rates as sparsities (at least one), got {len(r)} and {len(s)}")
    if any(b <= a for a, b in itertools.pairwise(s)):
        raise ValueError(f"sparsities must increase, got {s}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    if r[0] < level:
        return s[0]
    for i in range(1, len(s)):
        if r[i] < level:
            return s[i - 1] + (r[i - 1] - level) / (r[i - 1] - r[i]) * (s[i] - s[i - 1])
    return s[-1]


@dataclass(frozen=True)
class PhaseDiagram:
    """Recovery rates on the grid: ``rates[name]`` has shape (len(measurements), len(sparsities)).

    Row i is n = ``measurements[i]``, column j is s = ``sparsities[j]``; every cell is the share of
    ``trials`` codes whose support the solver recovered exactly.
    """

    measurements: tuple[int, ...]
    sparsities: tuple[int, ...]
    atoms: int
    trials: int
    rates: dict[str, Tensor]

    def standard_error(self, name: str) -> Tensor:
        """Binomial standard error sqrt(p (1 - p) / trials) of every cell of ``rates[name]``."""
        p = self.rates[self._known(name)]
        return (p * (1 - p) / self.trials).sqrt()

    def difference(self, a: str, b: str) -> tuple[Tensor, Tensor]:
        """rates[a] - rates[b] per cell and its standard error (independent problems per solver run)."""
        diff = self.rates[self._known(a)] - self.rates[self._known(b)]
        se = (self.standard_error(a) ** 2 + self.standard_error(b) ** 2).sqrt()
        return diff, se

    def ahead(self, a: str, b: str, z: float = 2.0) -> Tensor:
        """Cells where ``a`` recovers more supports than ``b`` by more than ``z`` standard errors.

        The two solvers see the same problems, so this (unpaired) test is conservative. A cell where
        both rates are 0 or 1 has standard error 0 and a difference of 0: never ahead.
        """
        diff, se = self.difference(a, b)
        return diff > z * se.clamp_min(1e-12)

    def ahead_holm(self, a: str, b: str, alpha: float = 0.05) -> Tensor:
        """Cells where ``a`` recovers more supports than ``b``, Holm-corrected over the whole grid.

        Every cell gets the two-sided p-value of its difference, 2 (1 - Phi(|d| / se)) (normal
        approximation, p = 1 where both rates are 0 or 1); Holm's step-down procedure then rejects, at
        family-wise error rate ``alpha`` over all ``len(measurements) x len(sparsities)`` cells, the
        cells with the smallest p-values while p_(i) <= alpha / (cells - i) (i = 0, 1, ...). The cells
        returned are the rejected ones with rates[a] > rates[b]. Introduced in notebook 02, where 28
        cells tested at two standard errors each would give about 1.3 false positives.
        """
        if not (isinstance(alpha, float | int) and 0 < alpha < 1):
            raise ValueError(
                f"alpha is a family-wise error rate and must lie strictly between 0 and 1, got {alpha}"
            )
        diff, se = self.difference(a, b)
        p = torch.where(
            se > 0, torch.erfc(diff.abs() / (se.clamp_min(1e-12) * math.sqrt(2))), torch.ones_like(diff)
        )
        adjusted = torch.from_numpy(holm(p.flatten().double().numpy())).view_as(p)
        return (adjusted <= alpha) & (diff > 0)

    def ratio(self) -> Tensor:
        """s / n of every cell, shape (len(measurements), len(sparsities))."""
        n = torch.tensor(self.measurements, dtype=torch.float64)[:, None]
        s = torch.tensor(self.sparsities, dtype=torch.float64)[None, :]
        return s / n

    def _known(self, name: str) -> str:
        if name not in self.rates:
            raise KeyError(f"no solver named {name!r}; the diagram has {sorted(self.rates)}")
        return name


def phase_transition(
    solvers: Mapping[str, Solver],
    measurements: Sequence[int],
    sparsities: Sequence[int],
    atoms: int = 128,
    trials: int = 20,
    lam: float = 0.02,
    n_iter: int = 300,
    z_min: float = 0.5,
    noise: float = 0.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> PhaseDiagram:
    """Exact support recovery of every solver on every (n, s) cell of the grid (see the module doc).

    ``solvers`` maps a name to a solver of :mod:`lzsc.solvers` (called as ``solve(D, x, lam,
    n_iter=n_iter)``; any callable with that signature returning an object with a ``z`` works).
    Cell (n, s) draws one Gaussian dictionary with unit-norm columns (n x ``atoms``) and ``trials``
    codes with s non-zeros pushed to at least ``z_min`` in magnitude, seeded by ``seed``, n and s,
    so that every solver sees the same problems and a cell does not depend on the rest of the grid;
    x = D z + ``noise`` N(0, I) (noise-free by default).
    """
    if not solvers:
        raise ValueError("give at least one solver")
    for what, values in (("measurements", measurements), ("sparsities", sparsities)):
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise ValueError(f"{what} must be a non-empty sequence of ints >= 1, got {list(values)!r}")
    if max(sparsities) > atoms:
        raise ValueError(f"a sparsity s = {max(sparsities)} exceeds the number of atoms m = {atoms}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be an int >= 1, got {trials!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise is a standard deviation and must be a finite number >= 0, got {noise}")
    rates = {name: torch.zeros(len(measurements), len(sparsities), dtype=torch.float64) for name in solvers}
    for i, n in enumerate(measurements):
        for j, s in enumerate(sparsities):
            D, z, _ = random_sparse_problem(n, atoms, s, batch=trials, seed=seed + 10_007 * n + 101 * s)
            D, z = DenseDictionary(D.weight.to(device)), bounded_away_from_zero(z.to(device), z_min)
            gen = torch.Generator().manual_seed(seed + 7 * n + s)
            x = D(z) + noise * torch.randn(trials, n, generator=gen, dtype=z.dtype).to(device)
            for name, solve in solvers.items():
                z_hat = solve(D, x, lam, n_iter=n_iter).z
                rates[name][i, j] = support_recovered(z_hat, z).double().mean().cpu()
    return PhaseDiagram(tuple(measurements), tuple(sparsities), atoms, trials, rates)
