"""The LZSC block: momentum IHT for l0 convolutional sparse coding, unrolled (paper eqs. 15-21).

Classical momentum IHT for min_u 0.5 ||x - D u||^2 + lambda ||u||_0 (``lzsc.solvers.momentum_iht``)
iterates a gradient step at an extrapolated point followed by a threshold. Unrolling keeps the
iteration and makes its operators learnable, per iteration k (eq. 20)::

    u^0 = T_{theta^0}( W_e^0 x )
    u^1 = T_{theta^1}( (1 + rho^1) (u^0 - W_u^1 W_d^1 u^0) + W_e^1 x )
    u^k = T_{theta^k}( (1 + rho^k) (u^{k-1} - W_u^k W_d^k u^{k-1})
                       - rho^k (u^{k-2} - W_u'^k W_d'^k u^{k-2}) + W_e^k x ),   k = 2..N

with the schedules of eq. 21, theta^k = softplus(w_theta k + b_theta) and
rho^k = (softplus(w_rho k + b_rho) - softplus(b_rho)) / softplus(w_rho k + b_rho).
W_e^k: C -> K channels (the step times D^T), W_d^k: K -> C (the dictionary D), W_u^k: C -> K (D^T);
the u^{k-2} branch has its own pair (W_d'^k, W_u'^k). All convolutions are "same", bias-free.
The block returns u^N. This is exactly the released block structure (``docs/conventions.md``):
N = 4 gives 5 thresholdings. Introduced in ``notebooks/04_unrolling.ipynb``.

Ablation switches (paper Table III): ``threshold`` ("sigmoidal", "soft": AE2, "hard"),
``shared_weights`` (AE3), ``momentum`` ("nesterov" as in the paper, "none": AE4, "polyak": AE5,
"qhm": AE6), ``alpha``/``gamma`` (AE7, AE8), ``n_iter`` (AE9, AE10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..thresholds import THRESHOLD_KINDS, ThresholdKind, threshold_kernel
from .backends import Executable, run_blocks
from .momentum import MOMENTUM_KINDS, Momentum, next_buffer, pre_activation, step_coefficients

__all__ = [
    "BlockOutput",
    "LZSCBlock",
    "LZSCConfig",
    "conv",
    "rho_schedule",
    "stack_weights",
    "theta_schedule",
]


def conv(x: Tensor, weight: Tensor) -> Tensor:
    """'same' zero-padded, bias-free 2-D convolution (odd square kernels), in ``x``'s dtype.

    Under ``torch.autocast`` the convolution runs in the low precision and its output is cast back
    to ``x``'s dtype: the bf16 policy of every backend (momentum updates and thresholds, where
    gamma = 100 is precision-sensitive, stay float32).
    """
    return F.conv2d(x, weight, padding=weight.shape[-1] // 2).to(x.dtype)


def theta_schedule(w: Tensor, b: Tensor, k: Tensor) -> Tensor:
    """theta^k = softplus(w k + b) (eq. 21): positive; decreasing in k when w < 0."""
    return F.softplus(w * k + b)


def rho_schedule(w: Tensor, b: Tensor, k: Tensor) -> Tensor:
    """rho^k = (softplus(w k + b) - softplus(b)) / softplus(w k + b) (eq. 21).

    rho^0 = 0; for w > 0 it increases with k towards 1 (softplus is increasing), mimicking
    Nesterov's (t_k - 1) / t_{k+1}.
    """
    s = F.softplus(w * k + b)
    return (s - F.softplus(b)) / s


@dataclass(frozen=True)
class LZSCConfig:
    """Hyper-parameters of an LZSC block; the defaults are the released FNet's.

    ``n_iter`` is N, the number of updates k = 1..N after the initial estimate u^0 = T(W_e^0 x), the
    meaning ``n_iter`` has everywhere in lzsc (the solvers count updates after z^0 the same way);
    the block thresholds N + 1 times. ``init_theta`` / ``init_rho`` are the initial (w, b) of the
    softplus schedules of eq. 21, not cut-offs (the LCSC block's initial cut-off is ``init_cutoff``).
    ``qhm_nu`` is QHM's nu (AE6).
    """

    in_channels: int = 1
    n_filters: int = 64
    kernel_size: int = 9
    n_iter: int = 4
    threshold: ThresholdKind = "sigmoidal"
    alpha: float = 0.1
    gamma: float = 100.0
    momentum: Momentum = "nesterov"
    shared_weights: bool = False
    qhm_nu: float = 0.7
    init_theta: tuple[float, float] = (-0.5, -2.0)
    init_rho: tuple[float, float] = (0.5, 0.0)

    def __post_init__(self) -> None:
        if self.threshold not in THRESHOLD_KINDS:
            raise ValueError(f"threshold must be one of {THRESHOLD_KINDS}, got {self.threshold!r}")
        if self.momentum not in MOMENTUM_KINDS:
            raise ValueError(f"momentum must be one of {MOMENTUM_KINDS}, got {self.momentum!r}")
        if self.n_iter < 1:
            raise ValueError(f"n_iter must be >= 1 (u^0 plus n_iter iterations), got {self.n_iter}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {self.kernel_size}")
        if min(self.in_channels, self.n_filters) < 1:
            raise ValueError("in_channels and n_filters must be >= 1")


@dataclass
class BlockOutput:
    """u^N plus, on request, every iterate u^0..u^N and every pre-threshold activation."""

    u: Tensor
    iterates: list[Tensor] = field(default_factory=list)
    pre_activations: list[Tensor] = field(default_factory=list)


def _weights(count: int, out_ch: int, in_ch: int, k: int) -> nn.ParameterList:
    params = []
    for _ in range(count):
        w = torch.empty(out_ch, in_ch, k, k)
        nn.init.xavier_uniform_(w)
        params.append(nn.Parameter(w))
    return nn.ParameterList(params)


def stack_weights(blocks: Sequence[LZSCBlock], name: str, i: int) -> Tensor:
    """Operator ``name`` at list index ``i`` of G blocks of one configuration, stacked: (G, O, C, k, k)."""
    return torch.stack([block.weight(name, i) for block in blocks])


class LZSCBlock(Executable, nn.Module):
    """Unrolled momentum IHT (eq. 20) mapping an image (B, C, H, W) to a code (B, K, H, W).

    Parameters (names are the paper's symbols): ``W_e[k]`` (k = 0..N), ``W_d[k-1]``, ``W_u[k-1]``
    (k = 1..N), ``W_d_prev[k-2]``, ``W_u_prev[k-2]`` (k = 2..N, Nesterov only), and the four
    schedule scalars ``w_theta, b_theta, w_rho, b_rho``. With ``shared_weights`` each list
    holds a single tensor used at every k. ``forward`` runs on an execution backend
    (:mod:`lzsc.unrolled.backends`, chosen by :meth:`set_backend`); :meth:`forward_reference` is eq. 20
    as written, the oracle of the others.
    """

    stackable = True

    def __init__(self, config: LZSCConfig | None = None, **overrides) -> None:
        super().__init__()
        cfg = config or LZSCConfig()
        if overrides:
            cfg = LZSCConfig(**{**cfg.__dict__, **overrides})
        self.config = cfg
        n, c, kk, ks = cfg.n_iter, cfg.in_channels, cfg.n_filters, cfg.kernel_size
        self._count = (lambda m: 1) if cfg.shared_weights else (lambda m: m)
        self.W_e = _weights(self._count(n + 1), kk, c, ks)
        self.W_d = _weights(self._count(n), c, kk, ks)
        self.W_u = _weights(self._count(n), kk, c, ks)
        if cfg.momentum == "nesterov" and n >= 2:
            self.W_d_prev = _weights(self._count(n - 1), c, kk, ks)
            self.W_u_prev = _weights(self._count(n - 1), kk, c, ks)
        self.w_theta = nn.Parameter(torch.tensor([cfg.init_theta[0]]))
        self.b_theta = nn.Parameter(torch.tensor([cfg.init_theta[1]]))
        if cfg.momentum != "none":
            self.w_rho = nn.Parameter(torch.tensor([cfg.init_rho[0]]))
            self.b_rho = nn.Parameter(torch.tensor([cfg.init_rho[1]]))

    def thetas(self) -> Tensor:
        """theta^k for k = 0..N (eq. 21), shape (N + 1,)."""
        k = torch.arange(self.config.n_iter + 1, device=self.w_theta.device, dtype=self.w_theta.dtype)
        return theta_schedule(self.w_theta, self.b_theta, k)

    def rhos(self) -> Tensor:
        """rho^k for k = 1..N (eq. 21), shape (N,); zeros without momentum."""
        k = torch.arange(1, self.config.n_iter + 1, device=self.w_theta.device, dtype=self.w_theta.dtype)
        if self.config.momentum == "none":
            return torch.zeros_like(k)
        return rho_schedule(self.w_rho, self.b_rho, k)

    def weight(self, name: str, i: int) -> Tensor:
        """Operator ``name`` ("W_e", "W_d", "W_u", "W_d_prev", "W_u_prev") at list index ``i``; with
        ``shared_weights`` the single tensor serves every index."""
        plist = getattr(self, name)
        return plist[min(i, len(plist) - 1)]

    def forward(self, x: Tensor, return_all: bool = False) -> Tensor | BlockOutput:
        """u^N for x (B, C, H, W) on the backend chosen by :meth:`set_backend` (default "auto").

        ``return_all=True`` runs the reference backend (the only one that keeps every iterate) and
        returns a :class:`BlockOutput`.
        """
        self._check_input(x)
        out = run_blocks([self], x.unsqueeze(1), None, self.execution, return_all)
        self.last_backend = out.backend
        return out.traces[0] if return_all else out.u[:, 0]

    def _check_input(self, x: Tensor) -> None:
        c = self.config.in_channels
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(f"LZSC block expects (B, {c}, H, W) input, got shape {tuple(x.shape)}")

    def forward_reference(self, x: Tensor, return_all: bool = False) -> Tensor | BlockOutput:
        """The reference backend: eq. 20 as written, one convolution at a time.

        Iteration k reads its coefficients from :func:`lzsc.unrolled.momentum.step_coefficients`::

            lin = a W_u W_d u^{k-1} + b W_u' W_d' u^{k-2} + e W_e x
            pre = c u^{k-1} + c' u^{k-2} + s lin + c_m m,      u^k = T_{theta^k}(pre)
        """
        self._check_input(x)
        cfg = self.config
        thetas, rhos = self.thetas(), self.rhos()
        t = threshold_kernel(cfg.threshold)
        pre = conv(x, self.weight("W_e", 0))
        u_prev, u, m = None, t(pre, thetas[0], cfg.alpha, cfg.gamma), None
        iterates, pres = ([u], [pre]) if return_all else ([], [])
        for k in range(1, cfg.n_iter + 1):
            co = step_coefficients(cfg.momentum, k, rhos[k - 1], cfg.qhm_nu)
            lin = co.a * conv(conv(u, self.weight("W_d", k - 1)), self.weight("W_u", k - 1))
            if co.prev_operator:
                w_d, w_u = self.weight("W_d_prev", k - 2), self.weight("W_u_prev", k - 2)
                lin = lin + co.b * conv(conv(u_prev, w_d), w_u)
            lin = lin + co.e * conv(x, self.weight("W_e", k))
            pre = pre_activation(co, u, u_prev, lin, m)
            m = next_buffer(co, m, lin)
            u_prev, u = u, t(pre, thetas[k], cfg.alpha, cfg.gamma)
            if return_all:
                iterates.append(u)
                pres.append(pre)
        return BlockOutput(u, iterates, pres) if return_all else u
