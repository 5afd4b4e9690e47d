"""The dictionary convolution unit (DCU) of the CSC fusion networks: one unrolled ISTA step (eq. 3).

Xu, Zhao et al., "Deep convolutional sparse coding networks for image fusion". Classical ISTA for
min_z 0.5 ||x - D z||^2 + lambda ||z||_1 (``lzsc.solvers.ista``) iterates
z <- S_{lambda mu}(z + mu D^T (x - D z)). The DCU keeps the step and learns its operators, adding a
batch-norm before the non-linearity (paper eq. 3)::

    z^(k+1) = f( BN( z^(k) + Conv1( x - Conv0(z^(k)) ) ) )

with Conv0: K -> C channels (the dictionary D), Conv1: C -> K (the step times D^T), both bias-free,
k x k (3 x 3 by default) with reflection padding, and f one of

- ``"sst"``: the soft threshold S_theta(v) = sign(v) max(|v| - theta, 0) of :mod:`lzsc.thresholds` with
  a learnable theta per channel (initialised to 1e-2);
- ``"prelu"``: PReLU with one learnable slope per channel (initialised to 0.25);
- ``"relu"``.

From z^(0) = 0 the first unit is z^(1) = f(BN(Conv1 x)): it has no Conv0. :class:`DCUStack` chains a
first unit and ``n_iter`` later ones, each with its own operators (untied, unlike the LCSC block).

Three options express the other two networks of the paper as released (all off by default):
``first_batch_norm=False`` drops the first unit's BN (CSC-MMFN), ``first_shared_theta`` gives the first
unit's SST one theta for all channels (CSC-MEFN), and ``nonnegative_theta`` applies max(theta, 0)
in every SST, as CSC-MMFN's release does in its forward (the stored theta stays unconstrained).

The l1 sibling of the LZSC block (momentum IHT, eq. 20 of the FNet paper): l1 instead of l0, no
momentum, a batch-norm, one operator pair per unit. With BN off, f = S_theta, Conv0 = D and
Conv1 = mu D^T a stack *is* convolutional ISTA from z = 0 (``tests/test_dcu.py`` checks it to 1e-10).

The SST's theta is not kept >= 0, as in the IVF and MEF releases, which learn it unconstrained: the
released CSC-IVFN and CSC-MEFN weights hold negative thetas, where f widens |v| instead of shrinking
it. It is therefore applied with the unchecked kernel (``threshold_kernel("soft")``), not
:func:`soft_threshold`.
Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..thresholds import threshold_kernel

__all__ = ["ACTIVATIONS", "DCU", "PADDINGS", "Activation", "DCUConfig", "DCUStack", "Padding"]

Activation = Literal["sst", "prelu", "relu"]
Padding = Literal["reflect", "zeros"]
ACTIVATIONS: tuple[Activation, ...] = ("sst", "prelu", "relu")
PADDINGS: tuple[Padding, ...] = ("reflect", "zeros")
_DEFAULT_INIT = {"sst": 1e-2, "prelu": 0.25}
_soft = threshold_kernel("soft")


@dataclass(frozen=True)
class DCUConfig:
    """Hyper-parameters of a DCU (and of a :class:`DCUStack`); the defaults are CSC-IVFN's detail branch.

    ``in_channels`` is C (image channels), ``n_filters`` K (code channels). ``init`` is the initial
    theta ("sst") or slope ("prelu"); None takes the release's defaults (1e-2, 0.25); "relu" has none.
    ``padding``: "reflect" as released, "zeros" for the 'same' zero padding of lzsc's convolutional
    dictionaries (the padding under which Conv1 = mu D^T is the exact adjoint of Conv0 = D).
    ``n_iter``: the units after the first in a :class:`DCUStack` (the release's ``ista_iters``).
    ``first_batch_norm``: BN in the first unit (None: as ``batch_norm``); ``first_shared_theta``: one
    theta for all channels in the first unit's SST; ``nonnegative_theta``: SSTs use max(theta, 0).
    """

    in_channels: int = 1
    n_filters: int = 64
    kernel_size: int = 3
    activation: Activation = "sst"
    init: float | None = None
    batch_norm: bool = True
    padding: Padding = "reflect"
    n_iter: int = 7
    first_batch_norm: bool | None = None
    first_shared_theta: bool = False
    nonnegative_theta: bool = False

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {self.padding!r}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1 for 'same' padding, got {self.kernel_size}")
        if min(self.in_channels, self.n_filters) < 1:
            raise ValueError(
                f"in_channels and n_filters must be >= 1, got {self.in_channels} and {self.n_filters}"
            )
        if self.n_iter < 0:
            raise ValueError(f"n_iter (units after the first) must be >= 0, got {self.n_iter}")
        if (self.first_shared_theta or self.nonnegative_theta) and self.activation != "sst":
            raise ValueError(
                f"first_shared_theta and nonnegative_theta concern the SST's theta; activation is "
                f"{self.activation!r}: use activation='sst' or leave them False"
            )
        if self.init is not None:
            if self.activation == "relu":
                raise ValueError("activation 'relu' has no parameter: leave init=None")
            if not math.isfinite(self.init):
                raise ValueError(f"init must be a finite number, got {self.init}")

    @property
    def initial_value(self) -> float | None:
        """The initial theta / slope, with the release's default where ``init`` is None."""
        return _DEFAULT_INIT.get(self.activation) if self.init is None else self.init


def _with(config: DCUConfig | None, overrides: dict) -> DCUConfig:
    cfg = config or DCUConfig()
    return DCUConfig(**{**cfg.__dict__, **overrides}) if overrides else cfg


class DCU(nn.Module):
    """One dictionary convolution unit (eq. 3): (x, z^(k)) -> z^(k+1); a ``first`` unit maps x -> z^(1).

    Parameters: ``conv0`` (K -> C, later units only), ``conv1`` (C -> K), ``bn`` (with ``batch_norm``,
    or ``first_batch_norm`` in a first unit), and ``theta`` (K,) for "sst" ((1,) in a first unit with
    ``first_shared_theta``) or ``prelu`` (K slopes) for "prelu".
    """

    def __init__(self, config: DCUConfig | None = None, first: bool = False, **overrides) -> None:
        super().__init__()
        cfg = _with(config, overrides)
        self.config, self.first = cfg, first
        c, k, size = cfg.in_channels, cfg.n_filters, cfg.kernel_size
        mode = "reflect" if cfg.padding == "reflect" else "zeros"
        if not first:
            self.conv0 = nn.Conv2d(k, c, size, padding=size // 2, padding_mode=mode, bias=False)
        self.conv1 = nn.Conv2d(c, k, size, padding=size // 2, padding_mode=mode, bias=False)
        with_bn = cfg.batch_norm if not first or cfg.first_batch_norm is None else cfg.first_batch_norm
        self.bn = nn.BatchNorm2d(k) if with_bn else None
        if cfg.activation == "sst":
            n_theta = 1 if first and cfg.first_shared_theta else k
            self.theta = nn.Parameter(torch.full((n_theta,), float(cfg.initial_value)))
        elif cfg.activation == "prelu":
            self.prelu = nn.PReLU(k, init=float(cfg.initial_value))

    def activation(self, v: Tensor) -> Tensor:
        """f(v): S_theta per channel (theta clamped at 0 with ``nonnegative_theta``), PReLU or ReLU."""
        kind = self.config.activation
        if kind == "sst":
            theta = self.theta.clamp(min=0) if self.config.nonnegative_theta else self.theta
            return _soft(v, theta.view(1, -1, 1, 1))
        return self.prelu(v) if kind == "prelu" else F.relu(v)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """z^(k+1) = f(BN(z + Conv1(x - Conv0 z))); a first unit takes no z and returns f(BN(Conv1 x))."""
        self._check(x, z)
        v = self.conv1(x) if self.first else z + self.conv1(x - self.conv0(z))
        if self.bn is not None:
            v = self.bn(v)
        return self.activation(v)

    def _check(self, x: Tensor, z: Tensor | None) -> None:
        cfg, name = self.config, "first DCU" if self.first else "DCU"
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != cfg.in_channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} expects an image x of shape (B, {cfg.in_channels}, H, W), got {shape}")
        if not torch.is_floating_point(x):
            raise TypeError(f"{name} expects a floating-point x, got dtype {x.dtype}; convert with x.float()")
        pad = cfg.kernel_size // 2
        if cfg.padding == "reflect" and min(x.shape[-2:]) <= pad:
            raise ValueError(
                f"reflection padding by {pad} needs H and W > {pad}, got {tuple(x.shape[-2:])}; "
                "use a larger image or padding='zeros'"
            )
        if self.first:
            if z is not None:
                raise ValueError("a first DCU starts from z = 0 and takes no code z")
            return
        want = (x.shape[0], cfg.n_filters, *x.shape[2:])
        if z is None:
            raise ValueError(f"a DCU after the first needs the previous code z of shape {want}")
        if tuple(z.shape) != want:
            raise ValueError(f"code z must have shape (B, K, H, W) = {want} to match x, got {tuple(z.shape)}")


class DCUStack(nn.Module):
    """A first unit and ``n_iter`` later ones, untied: the unrolled ISTA of eq. 3, K + 1 thresholdings::

        z^(1) = f_0( BN_0( Conv1_0 x_first ) )
        z^(k+1) = f_k( BN_k( z^(k) + Conv1_k( x - Conv0_k(z^(k)) ) ) ),   k = 1..n_iter

    ``x_first`` is ``x`` unless ``first_input`` is given: CSC-IVFN's release feeds the first unit
    the base or detail layer and the later ones the raw image.
    """

    def __init__(self, config: DCUConfig | None = None, **overrides) -> None:
        super().__init__()
        cfg = _with(config, overrides)
        self.config = cfg
        self.first = DCU(cfg, first=True)
        self.units = nn.ModuleList(DCU(cfg) for _ in range(cfg.n_iter))

    @classmethod
    def from_ista(cls, filters: Tensor, lam: float, step: float, n_steps: int) -> DCUStack:
        """The stack that *is* ``n_steps`` steps of convolutional ISTA from z = 0 (``lzsc.solvers.ista``).

        ``filters`` (C, K, k, k) is the dictionary D as :class:`lzsc.operators.ConvDictionary` stores it
        (a true convolution with 'same' zero padding); ``step`` is mu. BN off, f = S_theta with
        theta = lam mu, Conv0 = D (its kernel flipped: Conv2d is a correlation), Conv1 = mu D^T,
        zero padding (under which mu D^T is the exact adjoint of D), in ``filters``' dtype.
        """
        if filters.ndim != 4 or filters.shape[-1] != filters.shape[-2] or n_steps < 1:
            raise ValueError(
                f"filters must be (C, K, k, k) and n_steps >= 1, got {tuple(filters.shape)} and {n_steps}"
            )
        c, k, size = filters.shape[0], filters.shape[1], filters.shape[-1]
        config = DCUConfig(c, k, size, batch_norm=False, padding="zeros", n_iter=n_steps - 1)
        stack = cls(config).to(filters.dtype)
        with torch.no_grad():
            for unit in (stack.first, *stack.units):
                unit.theta.fill_(lam * step)
                unit.conv1.weight.copy_(step * filters.transpose(0, 1))
                if not unit.first:
                    unit.conv0.weight.copy_(filters.flip(-2, -1))
        return stack

    def forward(
        self, x: Tensor, first_input: Tensor | None = None, return_all: bool = False
    ) -> Tensor | list[Tensor]:
        """The last code z^(n_iter + 1), or with ``return_all`` every code z^(1)..z^(n_iter + 1)."""
        if first_input is not None and (not isinstance(first_input, Tensor) or first_input.shape != x.shape):
            got = tuple(first_input.shape) if isinstance(first_input, Tensor) else type(first_input).__name__
            raise ValueError(f"first_input must have x's shape {tuple(x.shape)}, got {got}")
        z = self.first(x if first_input is None else first_input)
        codes = [z]
        for unit in self.units:
            z = unit(x, z)
            codes.append(z)
        return codes if return_all else z
