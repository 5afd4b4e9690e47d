"""A learned IHT network: K iterations of IHT unrolled into K layers with per-layer thresholds.

Classical IHT for min_z 0.5 ||x - D z||^2 + lambda ||z||_0 from z^0 = 0 (``lzsc.solvers.iht``)
repeats one gradient step and one hard threshold with the same mu and theta = sqrt(2 lambda mu).
Unrolling K iterations gives a K-layer network (layer index k = 0..K-1, z^{-1} = 0)::

    z^0 = T_{theta^0}( W_e^0 x )
    z^k = T_{theta^k}( z^{k-1} - W_u^k W_d^k z^{k-1} + W_e^k x ),      k = 1..K-1

(the first layer has no z^{-1} term, as in the LZSC block). With the weights tied to the dictionary,
W_d^k = D and W_u^k = W_e^k = mu D^T, a layer is exactly one IHT step
z^k = T(z^{k-1} + mu D^T (x - D z^{k-1})) and only the cut-offs theta^k are learned
(``untied=False``). With ``untied=True`` every layer gets its own copies of the three operators,
initialised to those values and trained as well: LISTA (Gregor & LeCun 2010) with the hard or the
sigmoidal threshold instead of the soft one, and the separate W_u^k W_d^k factorisation of the
paper's eq. 20 instead of a single matrix. theta^k = softplus(s^k) > 0 is learned per layer.

The operators are :class:`lzsc.operators.DenseDictionary` or :class:`~lzsc.operators.ConvDictionary`
built from (learnable) weights of the dictionary's shape, so the same module unrolls a dense or a
convolutional problem. :func:`fit_learned_iht` trains it on (signal, code) pairs by the normalised
code error. Introduced in ``notebooks/04_unrolling.ipynb`` (also used in ``03_thresholds.ipynb``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..operators import ConvDictionary, DenseDictionary, Dictionary
from ..thresholds import THRESHOLD_KINDS, threshold_kernel
from .lzsc_block import LZSCBlock, LZSCConfig

__all__ = ["FitHistory", "LearnedIHT", "block_from_dictionary", "fit_learned_iht", "nmse_db"]


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


def nmse_db(z_hat: Tensor, z: Tensor) -> float:
    """Normalised squared error of a batch of codes in dB: 10 log10(sum ||z_hat - z||^2 / sum ||z||^2)."""
    return float(10 * torch.log10((z_hat - z).pow(2).sum() / z.pow(2).sum()))


class LearnedIHT(nn.Module):
    """K unrolled IHT layers with learned cut-offs theta^k and optionally untied per-layer weights.

    Args:
        D: the dictionary of the problem (dense or convolutional); its weight initialises the layers.
        n_layers: K, the number of thresholdings (K = 1 is a single threshold of W_e^0 x).
        theta: initial cut-off of every layer (for example sqrt(2 lambda mu) of a tuned IHT).
        step: mu; ``None`` uses 0.99 / ||D||^2 (power iteration; ``like`` fixes a convolution's size).
        untied: learn per-layer W_e^k, W_d^k, W_u^k (LISTA-style) instead of only theta^k.
        threshold, alpha, gamma: the threshold of every layer ("sigmoidal" trains theta; with
            "hard" the cut-offs receive no gradient, see ``notebooks/03_thresholds.ipynb``).
    """

    def __init__(
        self,
        D: Dictionary,
        n_layers: int,
        theta: float = 0.1,
        step: float | None = None,
        untied: bool = False,
        threshold: str = "sigmoidal",
        alpha: float = 0.1,
        gamma: float = 100.0,
        like: Tensor | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(D, (DenseDictionary, ConvDictionary)):
            raise TypeError(f"D must be a DenseDictionary or ConvDictionary, got {type(D).__name__}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        if threshold not in THRESHOLD_KINDS:
            raise ValueError(f"threshold must be one of {THRESHOLD_KINDS}, got {threshold!r}")
        if theta <= 0:
            raise ValueError(f"theta is a cut-off and must be > 0, got {theta}")
        if not 0.0 <= alpha <= 1.0 or gamma <= 0:
            raise ValueError(f"need alpha in [0, 1] and gamma > 0, got alpha={alpha}, gamma={gamma}")
        mu = 0.99 / D.norm_sq(like=like) if step is None else float(step)
        if mu <= 0:
            raise ValueError(f"step must be > 0, got {step}")
        self.n_layers, self.untied, self.step = n_layers, untied, mu
        self.threshold, self.alpha, self.gamma = threshold, alpha, gamma
        self._kernel = threshold_kernel(threshold)
        self._size = D.size if isinstance(D, ConvDictionary) else None
        self._conv = isinstance(D, ConvDictionary)
        weight = D.weight.detach().clone()
        self.s_theta = nn.Parameter(torch.full((n_layers,), _inverse_softplus(theta), dtype=weight.dtype))
        if untied:
            self.W_e = nn.ParameterList(nn.Parameter(mu * weight.clone()) for _ in range(n_layers))
            self.W_d = nn.ParameterList(nn.Parameter(weight.clone()) for _ in range(n_layers - 1))
            self.W_u = nn.ParameterList(nn.Parameter(mu * weight.clone()) for _ in range(n_layers - 1))
        else:
            self.register_buffer("D_weight", weight)

    def extra_repr(self) -> str:
        return (
            f"n_layers={self.n_layers}, untied={self.untied}, step={self.step:.4g}, "
            f"threshold={self.threshold!r}, alpha={self.alpha}, gamma={self.gamma}"
        )

    def thetas(self) -> Tensor:
        """theta^k = softplus(s^k) for k = 0..K-1, shape (K,)."""
        return F.softplus(self.s_theta)

    def _op(self, weight: Tensor) -> Dictionary:
        return ConvDictionary(weight, self._size) if self._conv else DenseDictionary(weight)

    def _operators(self, k: int) -> tuple[Dictionary, Dictionary | None, Dictionary | None]:
        """(W_e^k, W_d^k, W_u^k) as dictionaries: W_e, W_u act by ``adjoint``, W_d by ``forward``."""
        if self.untied:
            w_d = self._op(self.W_d[k - 1]) if k else None
            w_u = self._op(self.W_u[k - 1]) if k else None
            return self._op(self.W_e[k]), w_d, w_u
        d = self._op(self.D_weight)
        scaled = self._op(self.step * self.D_weight)
        return scaled, d, scaled

    def forward(self, x: Tensor, return_all: bool = False) -> Tensor | list[Tensor]:
        """z^{K-1} for signals x (dense (B, n), convolutional (B, C, *S)); every iterate if ``return_all``."""
        thetas = self.thetas()
        iterates: list[Tensor] = []
        z = None
        for k in range(self.n_layers):
            w_e, w_d, w_u = self._operators(k)
            pre = w_e.adjoint(x)
            if z is not None:
                pre = pre + z - w_u.adjoint(w_d.forward(z))
            theta = thetas[k].reshape((1,) * pre.ndim)
            z = self._kernel(pre, theta, self.alpha, self.gamma)
            iterates.append(z)
        return iterates if return_all else z


@dataclass
class FitHistory:
    """``losses[i]``: the loss (normalised code error, linear scale) at step i; ``thetas[i]``: theta^k
    before step i, with the final cut-offs appended (``len(thetas) == len(losses) + 1``)."""

    losses: list[float] = field(default_factory=list)
    thetas: list[Tensor] = field(default_factory=list)


def fit_learned_iht(
    model: LearnedIHT,
    x: Tensor,
    z: Tensor,
    steps: int = 300,
    lr: float = 1e-3,
    batch_size: int | None = None,
    seed: int = 0,
) -> FitHistory:
    """Train ``model`` on pairs (x_i, z_i) to minimise sum ||z^{K-1}(x) - z||^2 / sum ||z||^2.

    Adam with a learning rate annealed from ``lr`` to 0 over ``steps`` (cosine schedule).

    Minibatches of ``batch_size`` (default: all samples) are drawn from a generator seeded with
    ``seed``, so a fit is reproducible. Parameters without a gradient (theta under the hard
    threshold) are left unchanged. Returns the loss and the cut-offs of every step.
    """
    if x.shape[0] != z.shape[0]:
        raise ValueError(f"x and z must hold the same number of samples, got {x.shape[0]} and {z.shape[0]}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    n = x.shape[0]
    history = FitHistory(thetas=[model.thetas().detach().clone()])
    for _ in range(steps):
        idx = torch.randperm(n, generator=gen)[:batch_size] if batch_size else slice(None)
        xb, zb = x[idx], z[idx]
        loss = (model(xb) - zb).pow(2).sum() / zb.pow(2).sum()
        opt.zero_grad()
        if loss.requires_grad:
            loss.backward()
            opt.step()
            sched.step()
        history.losses.append(loss.item())
        history.thetas.append(model.thetas().detach().clone())
    return history


def block_from_dictionary(
    D: ConvDictionary, theta: float, step: float | None = None, like: Tensor | None = None, **config: object
) -> LZSCBlock:
    """An LZSC block whose weights are a 2-D convolutional dictionary's: classical momentum IHT, unrolled.

    Sets W_e^k = W_u^k = W_u'^k = mu D^T and W_d^k = W_d'^k = D for every k (in the block's
    correlation convention: D^T is ``D.weight`` with channels swapped, D the spatially flipped
    filters) and a constant cut-off theta^k = theta (w_theta = 0). With ``threshold="hard"`` the
    block's u^N then equals N + 1 iterations of ``lzsc.solvers.momentum_iht`` from zero with
    lambda = theta^2 / (2 mu), no restart, and the block's rho^k. ``config`` overrides fields of
    :class:`~lzsc.unrolled.LZSCConfig` (``n_iter``, ``threshold``, ``momentum`` ...); channels,
    atoms and kernel size come from ``D``. The result has ``D``'s dtype and device.
    """
    if not isinstance(D, ConvDictionary) or D.spatial_dims != 2:
        raise TypeError("D must be a 2-D ConvDictionary (filters of shape (C, K, k, k))")
    if D.kernel_size[0] != D.kernel_size[1]:
        raise ValueError(f"the LZSC block needs square kernels, got {D.kernel_size}")
    if theta <= 0:
        raise ValueError(f"theta is a cut-off and must be > 0, got {theta}")
    mu = 0.99 / D.norm_sq(like=like) if step is None else float(step)
    shape = {"in_channels": D.n_channels, "n_filters": D.n_atoms, "kernel_size": D.kernel_size[0]}
    block = LZSCBlock(LZSCConfig(**{**shape, **config})).to(dtype=D.dtype, device=D.device)
    analysis = mu * D.weight.transpose(0, 1)
    synthesis = D.weight.flip(-2, -1)
    with torch.no_grad():
        for p in (*block.W_e, *block.W_u, *getattr(block, "W_u_prev", ())):
            p.copy_(analysis)
        for p in (*block.W_d, *getattr(block, "W_d_prev", ())):
            p.copy_(synthesis)
        block.w_theta.zero_()
        block.b_theta.fill_(_inverse_softplus(theta))
    return block
