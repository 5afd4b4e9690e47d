"""Classical sparse-coding solvers built on ONE proximal-gradient loop.

Per sample: min_z F(z) = 0.5 ||x - D z||^2 + lam R(z), R = ||z||_0 (IHT family) or ||z||_1 (ISTA,
FISTA); the k-sparse variants minimise 0.5 ||x - D z||^2 s.t. ||z||_0 <= k. Every iteration is::

    y^k     = z^k + rho^k (z^k - z^{k-1})              (momentum line; rho^k = 0 without momentum)
    z^{k+1} = P_mu( y^k + mu D^T (x - D y^k) )          (gradient step, then threshold / prox)

and the solvers differ only in P (theta is always the cut-off on |.|), the step rule and rho:
iht (H_{sqrt(2 lam mu)}, fixed mu), niht (H_k or H_theta, normalised mu), momentum_iht (H_k or
H_theta, fixed or normalised mu, FISTA / callable / line-search rho), ista (S_{lam mu}, fixed mu)
and fista (S_{lam mu}, fixed mu, FISTA rho). The fixed step defaults to 0.99 / L_hat, L_hat ~ ||D||_2^2
by power iteration, which approaches L from below: the 0.99 keeps mu < 1/L, so IHT and ISTA decrease F.

Every solver checks its arguments once, at entry, before iterating (``ValueError`` naming the argument,
``TypeError`` for a wrong type): D, x and z0 must be finite, D not all zeros, lam finite and >= 0, an
explicit step finite and > 0 (and the estimated ||D||^2 finite), NIHT's c and kappa finite, and the
momentum values rho(k) finite. The loop itself checks nothing.
Introduced in ``notebooks/01_l0_vs_l1_sparse_coding.ipynb`` (IHT, ISTA, FISTA) and
``notebooks/02_niht_and_momentum.ipynb`` (NIHT, momentum IHT).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from lzsc.operators import Dictionary, as_dictionary
from lzsc.thresholds import threshold_kernel

__all__ = ["SolverResult", "fista", "hard_threshold_k", "iht", "ista", "momentum_iht", "niht"]

_NIHT_C, _NIHT_KAPPA = 0.01, 2.0
_hard, _soft = threshold_kernel("hard"), threshold_kernel("soft")

Threshold = Callable[[Tensor, Tensor], Tensor]
Penalty = Callable[[Tensor], Tensor | float]
Update = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]
Momentum = Callable[[Tensor, Tensor, Tensor], Tensor]
Rho = Callable[[int], float] | Literal["line_search"]


@dataclass
class SolverResult:
    """What a solver returns.

    ``z``: the final code. ``objective``: F(z^k) for k = 0..n_iter, shape (n_iter + 1, *batch), batch
    being the signal's batch shape (empty for one dense signal of shape (n,)). ``step``: the last mu
    used, per sample (0 when n_iter = 0). ``iterates`` ([z^0, ..., z^n_iter]) and ``support_history``
    ([z^k != 0]) are filled when asked for.
    """

    z: Tensor
    objective: Tensor
    step: Tensor
    iterates: list[Tensor] | None = None
    support_history: list[Tensor] | None = None


def hard_threshold_k(x: Tensor, k: int, sample_dims: int = 1) -> Tensor:
    """H_k: keep the k largest magnitudes of each sample (its last ``sample_dims`` dims), zero the rest.

    The best k-term approximation of the k-sparse IHT / NIHT (Blumensath & Davies 2010); exactly k
    entries are kept per sample, ties broken by ``torch.topk``.
    """
    flat = x.reshape(*x.shape[: x.ndim - sample_dims], -1)
    if not 1 <= k <= flat.shape[-1]:
        raise ValueError(f"k must lie in [1, {flat.shape[-1]}] (entries per sample), got {k}")
    keep = torch.zeros_like(flat, dtype=torch.bool).scatter_(-1, flat.abs().topk(k, dim=-1).indices, True)
    return (flat * keep).reshape(x.shape)


def _check_finite(name: str, t: Tensor, advice: str) -> None:
    """Refuse a tensor holding NaN or infinite values, saying how many and what to do."""
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        raise ValueError(f"{name} has {bad} NaN or infinite value(s) of {t.numel()}; {advice}")


class _Problem:
    """The checked dictionary, signal and start; per-sample reductions (a sample = the last nd dims)."""

    def __init__(self, D: Dictionary | Tensor, x: Tensor, z0: Tensor | None, n_iter: int) -> None:
        self.op = as_dictionary(D)
        if not isinstance(x, Tensor) or not torch.is_floating_point(x):
            raise TypeError(f"x must be a floating-point torch.Tensor, got {getattr(x, 'dtype', type(x))}")
        if x.dtype != self.op.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the dictionary has dtype {self.op.dtype}")
        if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
            raise ValueError(f"n_iter must be a non-negative int, got {n_iter!r}")
        _check_finite("D", self.op.weight, "fix the dictionary (how was it built or loaded?)")
        if not bool(self.op.weight.any()):
            raise ValueError(
                "D is all zeros: no code explains x and the step 1 / ||D||^2 is infinite; "
                "check how the dictionary was built or loaded"
            )
        _check_finite("x", x, "clean the signal first (e.g. torch.nan_to_num)")
        self.x, self.nd = x, self.op.event_dims
        self.dims = tuple(range(-self.nd, 0))
        shape = tuple(self.op.code_shape(x))
        if z0 is not None:
            if not isinstance(z0, Tensor) or z0.dtype != x.dtype:
                raise TypeError(
                    f"z0 must be a torch.Tensor of x's dtype {x.dtype}, got {getattr(z0, 'dtype', type(z0))}"
                )
            if tuple(z0.shape) != shape:
                raise ValueError(f"z0 must have the code shape {shape}, got {tuple(z0.shape)}")
            _check_finite("z0", z0, "start from a finite code (or leave z0=None for zeros)")
        self.z0 = torch.zeros(shape, dtype=x.dtype, device=x.device) if z0 is None else z0
        self.atoms = math.prod(shape[len(shape) - self.nd :])

    def ssum(self, t: Tensor) -> Tensor:
        return t.sum(dim=self.dims)

    def bcast(self, v: Tensor) -> Tensor:
        return v.reshape(*v.shape, *([1] * self.nd))

    def gradient(self, dz: Tensor) -> Tensor:
        """D^T (x - D z) (minus the gradient of the data term) from the cached D z."""
        return self.op.adjoint(self.x - dz)

    def step(self, step: float | None, power_iters: int) -> Tensor:
        """The fixed step mu: ``step`` (checked) or 0.99 / L_hat (L_hat checked)."""
        if step is None:
            lipschitz = self.op.norm_sq(power_iters, like=self.x)
            step = 0.99 / lipschitz if lipschitz > 0 else math.inf
            if not 0 < step < math.inf:
                raise ValueError(
                    f"the estimate of ||D||^2 is {lipschitz}, so no step 0.99 / ||D||^2 exists; rescale D "
                    "(e.g. unit-norm atoms) or pass step=..."
                )
        else:
            if isinstance(step, Tensor) and step.numel() == 1:
                step = step.item()
            if isinstance(step, bool) or not isinstance(step, numbers.Real):
                raise TypeError(f"step must be a number or None (0.99 / ||D||^2), got {step!r}")
            if not (math.isfinite(step) and step > 0):
                raise ValueError(
                    f"step must be a finite number > 0, got {step}; leave step=None for 0.99 / ||D||^2, "
                    "the largest step that keeps the objective decreasing"
                )
        return torch.tensor(float(step), dtype=self.x.dtype, device=self.x.device)

    def check_l0(self, lam: float | None, k: int | None) -> None:
        if (lam is None) == (k is None):
            raise ValueError("give exactly one of lam (l0 penalty) and sparsity (k-sparse constraint)")
        if k is not None and not (isinstance(k, int) and 1 <= k <= self.atoms):
            raise ValueError(f"sparsity k must be an int in [1, {self.atoms}] (atoms per sample), got {k}")


def _check_lam(lam: float) -> float:
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam < math.inf:
        raise ValueError(f"lam is a regularisation weight and must be a finite number >= 0, got {lam!r}")
    return float(lam)


def _l0_prox(prob: _Problem, lam: float | None, k: int | None) -> tuple[Threshold, Penalty]:
    """H_k and no penalty if ``k`` is given, else H_{sqrt(2 lam mu)} and lam ||z||_0."""
    if k is not None:
        return (lambda v, mu: hard_threshold_k(v, k, prob.nd)), (lambda z: 0.0)
    lam = _check_lam(lam)
    return (
        lambda v, mu: _hard(v, prob.bcast(torch.sqrt(2 * lam * mu))),
        lambda z: lam * prob.ssum((z != 0).to(z.dtype)),
    )


def _l1_prox(prob: _Problem, lam: float) -> tuple[Threshold, Penalty]:
    lam = _check_lam(lam)
    return lambda v, mu: _soft(v, prob.bcast(lam * mu)), lambda z: lam * prob.ssum(z.abs())


def _fixed_step(prob: _Problem, thresh: Threshold, mu: Tensor) -> Update:
    """z^{k+1} = P_mu(y + mu D^T (x - D y)) with a constant mu."""

    def update(y: Tensor, dy: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        z = thresh(y + mu * prob.gradient(dy), mu)
        return z, prob.op.forward(z), mu

    return update


def _normalized_step(prob: _Problem, thresh: Threshold, k: int | None, c: float, kappa: float) -> Update:
    """NIHT step (Blumensath & Davies 2010, Algorithm 2) at the point y, one mu per sample.

    mu = ||g_G||^2 / ||D g_G||^2 on G = supp(y) (at y = 0: G = supp(H_k(g)) for the k-sparse
    variant, all atoms for the lambda one; if g_G = 0, the whole g). If supp(z_new) != G and
    mu > (1 - c) ||z_new - y||^2 / ||D (z_new - y)||^2, then mu <- mu / (kappa (1 - c)) and z_new
    is recomputed; for k-sparse y this gives F(z_new) <= F(y) - c ||z_new - y||^2 / mu.
    """

    def update(y: Tensor, dy: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        g = prob.gradient(dy)
        support = y != 0
        empty = prob.ssum(support) == 0
        if bool(empty.any()):
            initial = torch.ones_like(support) if k is None else hard_threshold_k(g, k, prob.nd) != 0
            support = torch.where(prob.bcast(empty), initial, support)
        g_s = g * support
        num = prob.ssum(g_s**2)
        if bool((num == 0).any()):
            g_s = torch.where(prob.bcast(num == 0), g, g_s)
            num = prob.ssum(g_s**2)
        den = prob.ssum(prob.op.forward(g_s) ** 2)
        mu = torch.where(den > 0, num / torch.where(den > 0, den, 1.0), 0.0)
        while True:
            z = thresh(y + prob.bcast(mu) * g, mu)
            dz = prob.op.forward(z)
            changed = prob.ssum((z != 0) != support) > 0
            too_long = mu * prob.ssum((dz - dy) ** 2) > (1 - c) * prob.ssum((z - y) ** 2)
            shrink = changed & too_long
            if not bool(shrink.any()):
                return z, dz, mu
            mu = torch.where(shrink, mu / (kappa * (1 - c)), mu)

    return update


def _momentum_rule(rho: Rho | None, n: int, prob: _Problem) -> Momentum:
    """rho^j from the per-sample restart counter j and the cached D z^k, D z^{k-1}. None: FISTA's
    (t_j - 1) / t_{j+1}, t_0 = 1, t_{j+1} = (1 + sqrt(1 + 4 t_j^2)) / 2; a callable: rho(j);
    "line_search": argmin_rho ||x - D(z^k + rho (z^k - z^{k-1}))||, i.e. <x - D z^k, D(z^k - z^{k-1})>
    / ||D(z^k - z^{k-1})||^2 (0 at j = 0), the memory step of ALPS (Kyrillidis & Cevher 2011)."""
    if rho == "line_search":

        def line_search(j: Tensor, dz: Tensor, dz_prev: Tensor) -> Tensor:
            d = dz - dz_prev
            den = prob.ssum(d**2)
            ok = (den > 0) & (j > 0)
            return torch.where(ok, prob.ssum((prob.x - dz) * d) / torch.where(ok, den, 1.0), 0.0)

        return line_search
    if isinstance(rho, str):
        raise ValueError(f"rho must be None, a callable rho(k) or 'line_search', got {rho!r}")
    values, t = [], 1.0
    for j in range(n):
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        values.append((t - 1) / t_next if rho is None else float(rho(j)))
        if not math.isfinite(values[-1]):
            raise ValueError(f"rho({j}) = {values[-1]}: the momentum values must be finite numbers")
        t = t_next
    table = prob.x.new_tensor(values)
    return lambda j, dz, dz_prev: table[j]


def _proximal_gradient(
    prob: _Problem,
    update: Update,
    penalty: Penalty,
    n_iter: int,
    momentum: Momentum | None,
    restart: bool,
    record: tuple[bool, bool],
) -> SolverResult:
    """The one loop: momentum line, ``update`` (gradient step + threshold), F(z^{k+1}). D z is cached and
    D y = D z + rho (D z - D z_prev) by linearity: one ``forward`` and one ``adjoint`` per iteration
    (NIHT's step adds a ``forward``, and one per backtrack). ``restart`` (function scheme, O'Donoghue
    & Candes 2015): a sample whose F went up resets its counter: next rho = rho^0 (0 unless a callable)."""
    z = prob.z0
    dz = prob.op.forward(z)
    z_prev, dz_prev = z, dz
    f = 0.5 * prob.ssum((prob.x - dz) ** 2) + penalty(z)
    objective, iterates, supports = [f], [z] if record[0] else None, [z != 0] if record[1] else None
    counter = torch.zeros(f.shape, dtype=torch.long, device=z.device)
    mu = torch.zeros((), dtype=z.dtype, device=z.device)
    for _ in range(n_iter):
        y, dy = z, dz
        if momentum is not None:
            rho = prob.bcast(momentum(counter, dz, dz_prev))
            y, dy = z + rho * (z - z_prev), dz + rho * (dz - dz_prev)
        z_prev, dz_prev = z, dz
        z, dz, mu = update(y, dy)
        f_new = 0.5 * prob.ssum((prob.x - dz) ** 2) + penalty(z)
        if momentum is not None:
            counter = torch.where(f_new > f, 0, counter + 1) if restart else counter + 1
        f = f_new
        objective.append(f)
        if iterates is not None:
            iterates.append(z)
        if supports is not None:
            supports.append(z != 0)
    step = mu.expand(f.shape).clone()
    return SolverResult(z, torch.stack(objective), step, iterates, supports)


def iht(
    D: Dictionary | Tensor,
    x: Tensor,
    lam: float,
    n_iter: int = 100,
    step: float | None = None,
    *,
    z0: Tensor | None = None,
    power_iters: int = 100,
    return_iterates: bool = False,
    track_support: bool = False,
) -> SolverResult:
    """Iterative hard thresholding for the l0 penalty (paper eq. 2)::

        z^{k+1} = H_{sqrt(2 lam mu)}( z^k + mu D^T (x - D z^k) )

    H_theta is the prox of mu lam ||.||_0. For mu < 1/L (L = ||D||_2^2) F decreases monotonically
    and z^k converges to a fixed point z = H(z + mu D^T (x - D z)). Default mu = 0.99 / L_hat
    (``power_iters`` power iterations). ``D``: DenseDictionary, ConvDictionary or an (n, m) tensor;
    ``x``: (..., n) or (B, C, *S). Introduced in ``notebooks/01_l0_vs_l1_sparse_coding.ipynb``.
    """
    prob = _Problem(D, x, z0, n_iter)
    thresh, penalty = _l0_prox(prob, lam, None)
    update = _fixed_step(prob, thresh, prob.step(step, power_iters))
    return _proximal_gradient(prob, update, penalty, n_iter, None, False, (return_iterates, track_support))


def niht(
    D: Dictionary | Tensor,
    x: Tensor,
    lam: float | None = None,
    n_iter: int = 100,
    *,
    sparsity: int | None = None,
    c: float = _NIHT_C,
    kappa: float = _NIHT_KAPPA,
    z0: Tensor | None = None,
    return_iterates: bool = False,
    track_support: bool = False,
) -> SolverResult:
    """Normalised IHT (Blumensath & Davies 2010), k-sparse (``sparsity=k``) or l0-penalised (``lam``)::

        g^k = D^T (x - D z^k),  G = supp(z^k),  mu^k = ||g_G||^2 / ||D g_G||^2
        z^{k+1} = H( z^k + mu^k g^k ),  H = H_k or H_{sqrt(2 lam mu^k)}

    If the support changed, mu^k is divided by kappa (1 - c) until
    mu^k <= (1 - c) ||z^{k+1} - z^k||^2 / ||D (z^{k+1} - z^k)||^2 (needs kappa > 1 / (1 - c)), so
    that for k-sparse codes F = 0.5 ||x - D z||^2 never increases. One mu per sample.
    Introduced in ``notebooks/02_niht_and_momentum.ipynb``.
    """
    prob = _Problem(D, x, z0, n_iter)
    prob.check_l0(lam, sparsity)
    if not 0 < c < 1 or not (math.isfinite(kappa) and kappa > 1 / (1 - c)):
        raise ValueError(f"need 0 < c < 1 and a finite kappa > 1 / (1 - c), got c={c}, kappa={kappa}")
    thresh, penalty = _l0_prox(prob, lam, sparsity)
    update = _normalized_step(prob, thresh, sparsity, c, kappa)
    return _proximal_gradient(prob, update, penalty, n_iter, None, False, (return_iterates, track_support))


def momentum_iht(
    D: Dictionary | Tensor,
    x: Tensor,
    lam: float | None = None,
    n_iter: int = 100,
    step: float | Literal["normalized"] | None = None,
    *,
    sparsity: int | None = None,
    rho: Rho | None = None,
    restart: bool = False,
    z0: Tensor | None = None,
    power_iters: int = 100,
    return_iterates: bool = False,
    track_support: bool = False,
) -> SolverResult:
    """IHT with Nesterov momentum (paper eqs. 16-17), k-sparse (``sparsity=k``) or l0-penalised (``lam``)::

        y^k     = z^k + rho^k (z^k - z^{k-1})                                  (16)
        z^{k+1} = H( y^k + mu D^T (x - D y^k) ),  H = H_k or H_{sqrt(2 lam mu)}  (17)

    ``rho``: None for FISTA's rho^k = (t_k - 1) / t_{k+1}; a callable rho(k); or "line_search",
    the rho^k minimising the data term along z^k - z^{k-1} (ALPS' memory step, Kyrillidis & Cevher
    2011; free, from the cached D z). ``step``: a float; None for 0.99 / L_hat; or "normalized"
    for NIHT's step and backtracking taken at y^k. ``restart``: a sample whose F went up restarts
    its momentum (O'Donoghue & Candes 2015), since momentum can overshoot into a worse support.

    The textbook setting (FISTA rho, mu = 0.99 / L) is slower than NIHT on k-sparse recovery: 1/L is
    far below the restricted step NIHT adapts to, and the small step stalls on wrong supports more
    often. ``step="normalized", rho="line_search"`` reaches NIHT's objective in fewer iterations.
    Introduced in ``notebooks/02_niht_and_momentum.ipynb``.
    """
    prob = _Problem(D, x, z0, n_iter)
    prob.check_l0(lam, sparsity)
    thresh, penalty = _l0_prox(prob, lam, sparsity)
    if step == "normalized":
        update = _normalized_step(prob, thresh, sparsity, _NIHT_C, _NIHT_KAPPA)
    elif isinstance(step, str):
        raise ValueError(f"step must be a float, None or 'normalized', got {step!r}")
    else:
        update = _fixed_step(prob, thresh, prob.step(step, power_iters))
    momentum = _momentum_rule(rho, n_iter, prob)
    return _proximal_gradient(
        prob, update, penalty, n_iter, momentum, restart, (return_iterates, track_support)
    )


def ista(
    D: Dictionary | Tensor,
    x: Tensor,
    lam: float,
    n_iter: int = 100,
    step: float | None = None,
    *,
    z0: Tensor | None = None,
    power_iters: int = 100,
    return_iterates: bool = False,
    track_support: bool = False,
) -> SolverResult:
    """ISTA (Beck & Teboulle 2009) for the l1 penalty::

        z^{k+1} = S_{lam mu}( z^k + mu D^T (x - D z^k) )

    Converges to a minimiser for mu < 2/L, monotonically for mu <= 1/L; default 0.99 / L_hat.
    Introduced in ``notebooks/01_l0_vs_l1_sparse_coding.ipynb``.
    """
    prob = _Problem(D, x, z0, n_iter)
    thresh, penalty = _l1_prox(prob, lam)
    update = _fixed_step(prob, thresh, prob.step(step, power_iters))
    return _proximal_gradient(prob, update, penalty, n_iter, None, False, (return_iterates, track_support))


def fista(
    D: Dictionary | Tensor,
    x: Tensor,
    lam: float,
    n_iter: int = 100,
    step: float | None = None,
    *,
    rho: Rho | None = None,
    restart: bool = False,
    z0: Tensor | None = None,
    power_iters: int = 100,
    return_iterates: bool = False,
    track_support: bool = False,
) -> SolverResult:
    """FISTA (Beck & Teboulle 2009) for the l1 penalty::

        y^k     = z^k + rho^k (z^k - z^{k-1}),  rho^k = (t_k - 1) / t_{k+1}
        z^{k+1} = S_{lam mu}( y^k + mu D^T (x - D y^k) )

    F(z^k) - F* = O(1 / k^2) for mu <= 1/L (default 0.99 / L_hat). ``rho`` and ``restart`` as in
    :func:`momentum_iht` (the line search sees only the data term). Introduced in
    ``notebooks/01_l0_vs_l1_sparse_coding.ipynb``.
    """
    prob = _Problem(D, x, z0, n_iter)
    thresh, penalty = _l1_prox(prob, lam)
    update = _fixed_step(prob, thresh, prob.step(step, power_iters))
    momentum = _momentum_rule(rho, n_iter, prob)
    return _proximal_gradient(
        prob, update, penalty, n_iter, momentum, restart, (return_iterates, track_support)
    )
