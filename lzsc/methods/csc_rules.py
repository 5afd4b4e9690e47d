"""CSC-IVFN's hand-made fusion rules for the codes of two sources, as the release applies them at test time.

Codes z1 (source A, infrared) and z2 (source B, visible) of shape (B, K, H, W) are fused channel by channel
into w1 z1 + w2 z2 with w1 + w2 = 1; :func:`lzsc.methods.csc_ivfn.fuse_csc_ivfn` then scales the fused
codes by alpha = 2. Introduced in ``notebooks/11_csc_networks.ipynb``.

- Base codes, saliency rule (:func:`saliency_rule`): each channel min-max normalised to [0, 1] (float32)
  and quantised to q = trunc(255 n) in 0..255; histogram-contrast saliency
  s(q) = sum_j h(j) |q - j| (h the channel's normalised 256-bin histogram); initial weights
  P_i = (s_i + 1e-12) / (s_1 + s_2 + 2e-12); refined by a guided filter with the normalised channel
  n_i as guide (radius 45, eps 0.01), W_i = G(n_i, P_i) + 1e-12, normalised to W_1 + W_2 = 1.
- Detail codes, l1-norm rule (:func:`l1_norm_rule`): activity A_i = 3 x 3 mean, zero padded, of the
  channel sum sum_k |z_i,k|; w_1 = A_1 / (A_1 + A_2) for every channel.

The guided filter (He et al. 2013) is the release's ``cv2.ximgproc.guidedFilter`` (guide I, input p,
window radius r, eps used as is, not squared)::

    a = cov_r(I, p) / (var_r(I) + eps),   b = mean_r(p) - a mean_r(I),   q = mean_r(a) I + mean_r(b)

with mean_r the (2r+1) x (2r+1) box mean under OpenCV's ``BORDER_REFLECT`` ("cba|abc", the edge pixel
repeated). kornia has the same filter (``kornia.filters.guided_blur``), but (1) only with the
``reflect`` border ("cb|abc", OpenCV's ``BORDER_REFLECT_101``), which changes the weights in a band of
2r = 90 pixels along every edge, and (2) its box mean is a convolution with O(r) work per pixel: 126 s
for the 128 guided filters of one 768 x 576 pair on 2 CPU cores. :func:`guided_filter` therefore
computes the box means from cumulative sums (O(1) per pixel, float64, as OpenCV's box filter
accumulates in double) on symmetric-padded images. ``tests/test_csc_ivfn.py`` proves it equal to
kornia's ``guided_blur`` run on the image symmetric-padded by 2r (which turns kornia's border into
OpenCV's inside the image) to 1e-10, and to OpenCV's own filter where ``cv2.ximgproc`` is installed.

Departures from the release, where it is undefined: a constant code channel (max = min) normalises to
0 instead of NaN (the release's histogram then fails); the l1 rule keeps the release's 0 / 0 = NaN
where both activities vanish, because the release's output inherits it there.
"""

from __future__ import annotations

import kornia
import torch
from torch import Tensor

__all__ = [
    "box_mean",
    "guided_filter",
    "histogram_saliency",
    "l1_norm_rule",
    "l1_norm_weights",
    "minmax_normalise",
    "saliency_rule",
    "saliency_weights",
]

_LEVELS = 256
_TINY = 1e-12
#: Channels filtered at once by :func:`saliency_weights`. Its float64 temporaries then stay under
#: glibc's 32 MB mmap threshold for images up to about 800 x 800 (the test sets' largest is 768 x 576:
#: 4.6 MB per channel with its border), so they reuse heap memory: 16 channels at once spent 15 s of
#: system time on page faults per 768 x 576 pair (measured on 2 CPU cores).
_CHUNK = 4


def _check_pair(z1: Tensor, z2: Tensor) -> None:
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, Tensor) or z.ndim != 4 or not torch.is_floating_point(z):
            got = f"{tuple(z.shape)} {z.dtype}" if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"{name} must be a floating (B, K, H, W) code tensor, got {got}")
    if z1.shape != z2.shape:
        raise ValueError(f"codes differ in shape: z1 {tuple(z1.shape)} vs z2 {tuple(z2.shape)}")


def l1_norm_weights(z1: Tensor, z2: Tensor, window: int = 3) -> tuple[Tensor, Tensor]:
    """(w1, w2), each (B, 1, H, W): w_i = A_i / (A_1 + A_2), A_i the zero-padded mean of sum_k |z_i|."""
    _check_pair(z1, z2)
    a1, a2 = (
        kornia.filters.box_blur(z.abs().sum(dim=1, keepdim=True), window, "constant", separable=False)
        for z in (z1, z2)
    )
    return a1 / (a1 + a2), a2 / (a1 + a2)


def l1_norm_rule(z1: Tensor, z2: Tensor, window: int = 3) -> Tensor:
    """w1 z1 + w2 z2 with the l1-norm weights of :func:`l1_norm_weights` (the detail-code rule)."""
    w1, w2 = l1_norm_weights(z1, z2, window)
    return w1 * z1 + w2 * z2


def minmax_normalise(z: Tensor) -> Tensor:
    """Each channel of ``z`` (..., H, W) to [0, 1]: (z - min) / (max - min) in z's dtype, 0 if constant."""
    lo = z.amin(dim=(-2, -1), keepdim=True)
    span = z.amax(dim=(-2, -1), keepdim=True) - lo
    return torch.where(span > 0, (z - lo) / torch.where(span > 0, span, 1), 0)


def histogram_saliency(q: Tensor) -> Tensor:
    """Histogram-contrast saliency of integer images ``q`` (..., H, W) with values in 0..255, float64.

    s(v) = sum_j h(j) |v - j|, h the image's histogram divided by its pixel count: how far a grey
    level lies from all the others.
    """
    if q.dtype != torch.int64 or (q.numel() and (int(q.min()) < 0 or int(q.max()) >= _LEVELS)):
        raise ValueError(f"q must hold int64 levels in 0..{_LEVELS - 1}, got dtype {q.dtype}")
    flat = q.reshape(-1, q.shape[-2] * q.shape[-1])
    counts = torch.zeros(flat.shape[0], _LEVELS, dtype=torch.float64, device=q.device)
    counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float64))
    levels = torch.arange(_LEVELS, dtype=torch.float64, device=q.device)
    table = (counts / flat.shape[1]) @ (levels[:, None] - levels[None, :]).abs()
    return table.gather(1, flat).reshape(q.shape)


def _symmetric_index(n: int, pad: int, device: torch.device) -> Tensor:
    """Indices of an axis of length n padded by ``pad`` with OpenCV's BORDER_REFLECT, any pad."""
    idx = torch.arange(-pad, n + pad, device=device).remainder(2 * n)
    return torch.where(idx >= n, 2 * n - 1 - idx, idx)


def box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean over (2r+1) x (2r+1) windows of ``x`` (..., H, W) under BORDER_REFLECT, from cumulative sums."""
    height, width = x.shape[-2:]
    size = 2 * radius + 1
    x = x.index_select(-2, _symmetric_index(height, radius, x.device))
    x = x.index_select(-1, _symmetric_index(width, radius, x.device))
    for dim, n in ((-2, height), (-1, width)):
        c = torch.nn.functional.pad(x.cumsum(dim), (0, 0, 1, 0) if dim == -2 else (1, 0))
        x = c.narrow(dim, size, n) - c.narrow(dim, 0, n)
    return x / (size * size)


def guided_filter(guide: Tensor, src: Tensor, radius: int, eps: float) -> Tensor:
    """The grey-guide guided filter of the module docstring on (..., H, W) tensors, computed in float64."""
    if guide.shape != src.shape:
        raise ValueError(f"guide and src differ in shape: {tuple(guide.shape)} vs {tuple(src.shape)}")
    if radius < 0 or eps < 0:
        raise ValueError(f"radius and eps must be >= 0, got {radius} and {eps}")
    i, p = guide.double(), src.double()
    mean_i, mean_p = box_mean(i, radius), box_mean(p, radius)
    var = box_mean(i * i, radius) - mean_i * mean_i
    cov = box_mean(i * p, radius) - mean_i * mean_p
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box_mean(a, radius) * i + box_mean(b, radius)


def saliency_weights(z1: Tensor, z2: Tensor, radius: int = 45, eps: float = 0.01) -> tuple[Tensor, Tensor]:
    """(w1, w2), each (B, K, H, W) in z1's dtype: the base-code weights of the saliency rule (see above)."""
    _check_pair(z1, z2)
    n1, n2 = minmax_normalise(z1), minmax_normalise(z2)
    s1, s2 = (histogram_saliency((n * 255).to(torch.int64)) + _TINY for n in (n1, n2))
    p1, p2 = (s1 / (s1 + s2)).to(z1.dtype), (s2 / (s1 + s2)).to(z1.dtype)
    g1, g2 = torch.empty_like(z1), torch.empty_like(z1)
    flat = [t.reshape(-1, *t.shape[-2:]) for t in (n1, n2, p1, p2, g1, g2)]
    for start in range(0, flat[0].shape[0], _CHUNK):
        part = slice(start, start + _CHUNK)
        flat[4][part] = guided_filter(flat[0][part], flat[2][part], radius, eps)
        flat[5][part] = guided_filter(flat[1][part], flat[3][part], radius, eps)
    g1, g2 = g1 + _TINY, g2 + _TINY
    return g1 / (g1 + g2), g2 / (g1 + g2)


def saliency_rule(z1: Tensor, z2: Tensor, radius: int = 45, eps: float = 0.01) -> Tensor:
    """w1 z1 + w2 z2 with the weights of :func:`saliency_weights` (the base-code rule)."""
    w1, w2 = saliency_weights(z1, z2, radius, eps)
    return z1 * w1 + z2 * w2
