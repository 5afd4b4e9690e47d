"""Training losses: stage I (paper eq. 25) and stage II (paper eq. 26), as in the authors' release.

Stage I trains FNet and IFNet jointly: IFNet must recover both sources from the fused image F, so
for each modality (``docs/conventions.md``)::

    L_I = sum_{I in {A, B}}  w_int * L1(I', I) + w_grad * L1(grad I', grad I)          (eq. 25)

with ``grad`` kornia's ``SpatialGradient`` (normalised 3x3 Sobel, both directions, replicated border)
and w_int = w_grad = 1. Stage II trains FNet alone with the fusion loss::

    L_II = 20 L_int + 20 L_grad + 15 (1 - SSIM_w)                                       (eq. 26)
    L_int  = L1(F, max(A, B))
    L_grad = L1(S(F), max(S(A), S(B))),     S(x) = |Sobel_x * x| + |Sobel_y * x|
    SSIM_w = w_A SSIM(A, F) + w_B SSIM(B, F),   w_A = mean S(A) / (mean S(A) + mean S(B))

where S uses the unnormalised 3x3 Sobel kernels with zero padding 1, w_A and w_B are scalars over
the whole batch (not per-pixel maps), and SSIM uses an 11x11 Gaussian window (sigma 1.5),
C1 = 0.01^2, C2 = 0.03^2 and zero padding, averaged over every pixel of the batch.

kornia is used where it matches the release exactly (stage I's ``SpatialGradient``). It does not for
stage II: ``kornia.filters.spatial_gradient`` / ``sobel`` pad by replicating the border and
``kornia.metrics.ssim`` pads by reflection, while the release pads with zeros. Both are therefore
written here with ``F.conv2d`` (the interiors agree with kornia; tests/test_losses.py checks it).
Every convolution kernel is built once per device and dtype (:func:`_kernels`), never per step: built
from Python numbers on a GPU, a kernel is a blocking host-to-device copy, which would synchronise
every training step (``kornia.filters.spatial_gradient`` builds its kernel at every call, so stage I
applies kornia's normalised Sobel kernel with kornia's own padding and convolution, bitwise equal).

The weights are arguments, so the ablations AE13-AE15 (drop L_int, L_grad or the SSIM term) are a
configuration: set the weight to 0. Introduced in ``notebooks/06_train_stage1.ipynb`` (eq. 25) and
``notebooks/07_train_stage2.ipynb`` (eq. 26).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from kornia.filters import get_spatial_gradient_kernel2d
from kornia.filters.kernels import normalize_kernel2d
from torch import Tensor, nn

__all__ = [
    "FusionLoss",
    "LossOutput",
    "ReconstructionLoss",
    "fusion_loss",
    "gaussian_window",
    "gradient_loss",
    "gradient_weights",
    "intensity_loss",
    "reconstruction_loss",
    "sobel_magnitude",
    "ssim",
    "ssim_map",
]

SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


@dataclass
class LossOutput:
    """The weighted total (differentiable) and its components (detached, for logging)."""

    total: Tensor
    parts: dict[str, Tensor] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """``["loss", *parts]``: the order of :meth:`as_tensor`."""
        return ["loss", *self.parts]

    def as_tensor(self) -> Tensor:
        """The total and the parts stacked in one detached float32 tensor, on their device (no host sync)."""
        return torch.stack([self.total.detach().float(), *(p.detach().float() for p in self.parts.values())])

    def as_floats(self) -> dict[str, float]:
        """``{"loss": total, **parts}`` as Python floats (one host transfer)."""
        return dict(zip(self.names, self.as_tensor().tolist(), strict=True))


def _check_images(**images: Tensor) -> None:
    shape = None
    for name, t in images.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 4 or t.shape[1] != 1:
            raise ValueError(f"{name} must be a (N, 1, H, W) grey image batch, got shape {tuple(t.shape)}")
        if not torch.is_floating_point(t):
            raise TypeError(f"{name} must be floating point, got {t.dtype}")
        if shape is not None and t.shape != shape:
            names = ", ".join(images)
            raise ValueError(
                f"{names} must have equal shapes, got {[tuple(v.shape) for v in images.values()]}"
            )
        shape = t.shape


def _check_weights(**weights: float) -> None:
    for name, w in weights.items():
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"loss weight {name} must be a finite number >= 0, got {w}")


@functools.cache
def _kernels(device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """(S's unnormalised Sobel pair, kornia's normalised Sobel pair), each (2, 1, 3, 3), on ``device``:
    built on the CPU and copied once per device and dtype (module docstring)."""
    kx = torch.tensor(_SOBEL_X, dtype=dtype)
    plain = torch.stack((kx, kx.t())).unsqueeze(1)
    normalised = normalize_kernel2d(get_spatial_gradient_kernel2d("sobel", 1, dtype=dtype))[:, None]
    return plain.to(device), normalised.to(device)


def sobel_magnitude(x: Tensor) -> Tensor:
    """S(x) = |Sobel_x * x| + |Sobel_y * x|: unnormalised 3x3 Sobel, zero padding 1 (eq. 26's L_grad)."""
    kernel = _kernels(x.device, x.dtype)[0]
    g = F.conv2d(x.reshape(-1, 1, *x.shape[-2:]), kernel, padding=1)
    return (g[:, :1].abs() + g[:, 1:].abs()).reshape(x.shape)


def gaussian_window(
    size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float32, device=None
) -> Tensor:
    """Normalised 1-D sampled Gaussian of ``size`` taps (the separable SSIM window)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be odd and >= 1, got {size}")
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map(
    x: Tensor, y: Tensor, window_size: int = 11, sigma: float = 1.5, c1: float = SSIM_C1, c2: float = SSIM_C2
) -> Tensor:
    """Per-pixel SSIM of two (N, 1, H, W) batches with a Gaussian window and zero padding.

    The local moments are Gaussian-weighted sums over the zero-padded image, as in the release's
    SSIM (the usual pytorch-ssim): ``mu = G * x``, ``sigma_xy = G * (x y) - mu_x mu_y``.
    """
    _check_images(x=x, y=y)
    g = gaussian_window(window_size, sigma, dtype=x.dtype, device=x.device)
    pad = window_size // 2

    def blur(t: Tensor) -> Tensor:
        t = F.conv2d(t, g.view(1, 1, 1, -1), padding=(0, pad))
        return F.conv2d(t, g.view(1, 1, -1, 1), padding=(pad, 0))

    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x * mu_x
    syy = blur(y * y) - mu_y * mu_y
    sxy = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return num / den


def ssim(x: Tensor, y: Tensor, window_size: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM over every pixel of the batch (11x11 Gaussian, sigma 1.5, C1 = 0.01^2, C2 = 0.03^2)."""
    return ssim_map(x, y, window_size, sigma).mean()


def gradient_weights(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Batch-scalar SSIM weights w_A = mean S(A) / (mean S(A) + mean S(B)), w_B = 1 - w_A (eq. 26).

    Two flat batches (no gradient anywhere) get w_A = w_B = 1/2 instead of 0/0.
    """
    _check_images(a=a, b=b)
    w_a = _weight_a(sobel_magnitude(a).mean(), sobel_magnitude(b).mean())
    return w_a, 1 - w_a


def _weight_a(mean_sa: Tensor, mean_sb: Tensor) -> Tensor:
    den = mean_sa + mean_sb
    safe = torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, mean_sa / safe, torch.full_like(den, 0.5))


def intensity_loss(fused: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """L_int = mean |F - max(A, B)| (eq. 26's L_int; DAE-Fuse's L_int)."""
    _check_images(fused=fused, a=a, b=b)
    return F.l1_loss(fused, torch.maximum(a, b))


def gradient_loss(fused: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """L_grad = mean |S(F) - max(S(A), S(B))| with S of :func:`sobel_magnitude` (eq. 26's L_grad;
    DAE-Fuse's L_text, as CDDFuse computes it)."""
    _check_images(fused=fused, a=a, b=b)
    return F.l1_loss(sobel_magnitude(fused), torch.maximum(sobel_magnitude(a), sobel_magnitude(b)))


def fusion_loss(
    fused: Tensor,
    a: Tensor,
    b: Tensor,
    w_int: float = 20.0,
    w_grad: float = 20.0,
    w_ssim: float = 15.0,
    batch_mean: Callable[[Tensor], Tensor] | None = None,
) -> LossOutput:
    """Stage II loss (eq. 26): ``w_int L_int + w_grad L_grad + w_ssim (1 - SSIM_w)``.

    Parts: ``int`` (L_int), ``grad`` (L_grad), ``ssim_w`` (SSIM_w, higher is better), ``w_a``.
    A weight of 0 drops its term (AE13: ``w_int``, AE14: ``w_grad``, AE15: ``w_ssim``).
    SSIM_w's weight ``w_a`` comes from the mean Sobel magnitudes of A and B over the whole batch, as
    in the release; in data-parallel training ``batch_mean`` turns a mean over this rank's slice into
    the mean over the global batch (an all-reduce), so every rank uses the single-process weight.
    """
    _check_images(fused=fused, a=a, b=b)
    _check_weights(w_int=w_int, w_grad=w_grad, w_ssim=w_ssim)
    l_int = intensity_loss(fused, a, b)
    l_grad = gradient_loss(fused, a, b)
    means = torch.stack([sobel_magnitude(a).mean(), sobel_magnitude(b).mean()])
    if batch_mean is not None:
        means = batch_mean(means)
    w_a = _weight_a(means[0], means[1])
    ssim_w = w_a * ssim(a, fused) + (1 - w_a) * ssim(b, fused)
    total = w_int * l_int + w_grad * l_grad + w_ssim * (1 - ssim_w)
    parts = {"int": l_int, "grad": l_grad, "ssim_w": ssim_w, "w_a": w_a}
    return LossOutput(total, {k: v.detach() for k, v in parts.items()})


def spatial_gradient(x: Tensor) -> Tensor:
    """``kornia.filters.spatial_gradient(x, "sobel", normalized=True)`` (B, C, 2, H, W): kornia's
    kernel, replicated border and convolution, with the kernel built once per device (module docstring)."""
    b, c, h, w = x.shape
    padded = F.pad(x.reshape(b * c, 1, h, w), [1, 1, 1, 1], "replicate")
    return F.conv2d(padded, _kernels(x.device, x.dtype)[1]).reshape(b, c, 2, h, w)


def _spatial_gradient_l1(x: Tensor, y: Tensor) -> Tensor:
    return F.l1_loss(spatial_gradient(x), spatial_gradient(y))


def reconstruction_loss(
    a_rec: Tensor, b_rec: Tensor, a: Tensor, b: Tensor, w_int: float = 1.0, w_grad: float = 1.0
) -> LossOutput:
    """Stage I loss (eq. 25): per modality ``w_int L1(I', I) + w_grad L1(grad I', grad I)``, summed.

    ``grad`` is kornia's normalised Sobel ``SpatialGradient`` (x and y), as in the release.
    Parts: ``int_a``, ``grad_a``, ``int_b``, ``grad_b`` (unweighted).
    """
    _check_images(a_rec=a_rec, b_rec=b_rec, a=a, b=b)
    _check_weights(w_int=w_int, w_grad=w_grad)
    parts = {
        "int_a": F.l1_loss(a_rec, a),
        "grad_a": _spatial_gradient_l1(a_rec, a),
        "int_b": F.l1_loss(b_rec, b),
        "grad_b": _spatial_gradient_l1(b_rec, b),
    }
    total = w_int * (parts["int_a"] + parts["int_b"]) + w_grad * (parts["grad_a"] + parts["grad_b"])
    return LossOutput(total, {k: v.detach() for k, v in parts.items()})


class ReconstructionLoss(nn.Module):
    """Module form of :func:`reconstruction_loss` (stage I, eq. 25): ``forward(a_rec, b_rec, a, b)``."""

    def __init__(self, w_int: float = 1.0, w_grad: float = 1.0) -> None:
        super().__init__()
        _check_weights(w_int=w_int, w_grad=w_grad)
        self.w_int, self.w_grad = w_int, w_grad

    def forward(self, a_rec: Tensor, b_rec: Tensor, a: Tensor, b: Tensor) -> LossOutput:
        return reconstruction_loss(a_rec, b_rec, a, b, self.w_int, self.w_grad)

    def extra_repr(self) -> str:
        return f"w_int={self.w_int}, w_grad={self.w_grad}"


class FusionLoss(nn.Module):
    """Module form of :func:`fusion_loss` (stage II, eq. 26): ``forward(fused, a, b)``."""

    def __init__(self, w_int: float = 20.0, w_grad: float = 20.0, w_ssim: float = 15.0) -> None:
        super().__init__()
        _check_weights(w_int=w_int, w_grad=w_grad, w_ssim=w_ssim)
        self.w_int, self.w_grad, self.w_ssim = w_int, w_grad, w_ssim

    def forward(self, fused: Tensor, a: Tensor, b: Tensor) -> LossOutput:
        return fusion_loss(fused, a, b, self.w_int, self.w_grad, self.w_ssim)

    def extra_repr(self) -> str:
        return f"w_int={self.w_int}, w_grad={self.w_grad}, w_ssim={self.w_ssim}"
