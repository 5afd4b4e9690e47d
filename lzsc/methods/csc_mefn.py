"""CSC-MEFN, the multi-exposure network of the CSC fusion paper, as released (with its weights).

Xu, Zhao et al., "Deep convolutional sparse coding networks for image fusion", release folder
``CSC-MEF`` (``networks.py``, ``test.py``, ``utils.py``). K exposures x_k (RGB in [0, 1]) of one scene
are split into full-range YCbCr (JPEG / BT.601 constants, :func:`rgb_to_ycbcr`). The luma Y_k of each
exposure is coded by a stack of eq. 3 DCUs (:class:`lzsc.unrolled.DCUStack`, 24 channels, 3 x 3, SST)
and a 1 x 1 convolution H (24 -> 1, no bias) maps the code to a weight logit:

    l_k = H(E(Y_k)),   w = softmax_k(l),   Y_f = sum_k w_k Y_k
    Cb_f = sum_k u_k Cb_k,   u_k = (|Cb_k - 1/2| + 1e-8) / sum_j (|Cb_j - 1/2| + 1e-8)   (Cr alike)

and F = clip(ycbcr_to_rgb(Y_f, Cb_f, Cr_f), 0, 1). The release's ``test.py`` then stretches the
output (:func:`stretch_release`): the levels at the 0.5 % and 99.5 % order statistics of the 3 H W
values of 255 F become 0 and 255, values beyond them are clipped, and the float32 result is truncated
to uint8. Training (MEF-SSIM, not reproduced here) sees each exposure's luma alone, so
:meth:`CSCMEFN.forward` codes the exposures one by one, as the release does (its BN statistics in
train mode are per exposure).

The release's quirks, reproduced because the weights were trained with them:

- the released weights fit ``test.py``'s ``num_blocks=4`` model (``train.py`` says 8): a first unit
  (Conv, BN, SST) and ``num_blocks - 2`` = 2 later DCUs (``n_iter=2``); every unit sees Y_k;
- the first unit's SST has ONE theta for its 24 channels (the release builds it with
  ``num_parameters=None``), the later ones one per channel (``DCUConfig.first_shared_theta``);
- thetas are unconstrained (some released ones are negative; see :mod:`lzsc.unrolled.dcu`) and
  initialised to 1e-3;
- the colour transform uses the release's 6-digit constants (0.168736, 0.331264, ...), not kornia's
  (0.564, 0.713), evaluated in the release's order in float32;
- the stretch uses order statistics at indices int(n a), int(n b) of the sorted values and truncates
  255 (v - lo) / (hi - lo) to uint8 (the top level can come out as 254).

Deviations: the model takes exposures as (N, K, 3, H, W) (the release: (N, 3, K, H, W)); a folder's
exposures are its image files sorted by name (the release takes every file in ``glob`` order, which
changes nothing but the order of the float sums); a flat output (hi = lo, where the release divides
0 by 0 and casts NaN) stretches to zeros.

Reproduction (``benchmarks/compare_csc_mef_mmf_release.py``, the release's ``test.py`` run on the CPU
on the 8 scenes of ``MEF_synthetic``): given the exposures in the order the release's ``glob`` listed
them, :func:`fuse_exposures` returns the release's 8-bit output exactly (the float output is equal bit
for bit); :func:`fuse_exposure_folder`, which sorts them by name, differs by 1 grey level in 4 to 19
pixels of 81920 per scene (the float sums over the exposures run in another order).
Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..fusion import module_device
from ..io import IMAGE_SUFFIXES, read_image
from ..unrolled.dcu import DCUConfig, DCUStack
from .csc_common import load_release_weights, release_unit_key, rename_release_state

__all__ = [
    "CSCMEFN",
    "CSCMEFNConfig",
    "chroma_weights",
    "fuse_exposure_folder",
    "fuse_exposures",
    "load_csc_mefn",
    "official_to_lzsc_mefn",
    "rgb_to_ycbcr",
    "stretch_release",
    "ycbcr_to_rgb",
]

_EPS = 1e-8


@dataclass(frozen=True)
class CSCMEFNConfig:
    """Sizes of CSC-MEFN; the defaults are the release's ``test.py`` model (``num_blocks=4``).

    ``n_iter``: the DCUs after the first unit, the release's ``num_blocks - 2``.
    """

    n_filters: int = 24
    kernel_size: int = 3
    n_iter: int = 2

    def encoder(self) -> DCUConfig:
        """The DCU configuration of the luma encoder."""
        return DCUConfig(
            in_channels=1,
            n_filters=self.n_filters,
            kernel_size=self.kernel_size,
            activation="sst",
            init=1e-3,
            n_iter=self.n_iter,
            first_shared_theta=True,
        )


def rgb_to_ycbcr(rgb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Full-range YCbCr (BT.601, offsets 1/2) of RGB (..., 3, H, W) in [0, 1]: (Y, Cb, Cr), each (..., H, W).

    The release's constants and order of operations (float32 results bit for bit)::

        Y  = 0.299 R + 0.587 G + 0.114 B
        Cb = 1/2 - 0.168736 R - 0.331264 G + 0.5 B
        Cr = 1/2 + 0.5 R - 0.418688 G - 0.081312 B
    """
    r, g, b = rgb.unbind(-3)
    y = r * 0.299 + g * 0.587 + b * 0.114
    cb = 0.5 - r * 0.168736 - g * 0.331264 + b * 0.5
    cr = 0.5 + r * 0.5 - g * 0.418688 - b * 0.081312
    return y, cb, cr


def ycbcr_to_rgb(y: Tensor, cb: Tensor, cr: Tensor) -> Tensor:
    """The inverse of :func:`rgb_to_ycbcr` (to 6 digits), (..., H, W) each -> RGB (..., 3, H, W).

    Per pixel::

        R = Y + 1.402 (Cr - 1/2),  G = Y - 0.344136 (Cb - 1/2) - 0.714136 (Cr - 1/2),
        B = Y + 1.772 (Cb - 1/2)
    """
    cb, cr = cb - 0.5, cr - 0.5
    return torch.stack((y + cr * 1.402, y - cb * 0.344136 - cr * 0.714136, y + cb * 1.772), dim=-3)


def chroma_weights(c: Tensor) -> Tensor:
    """The release's chroma weights over the exposures (dim 1): (|c - 1/2| + 1e-8), normalised to sum 1."""
    saturation = torch.abs(c - 0.5) + _EPS
    return saturation / torch.sum(saturation, dim=1, keepdim=True)


class CSCMEFN(nn.Module):
    """The network of the module docstring: ``encoder`` (a :class:`DCUStack` on the luma), ``head``."""

    def __init__(self, config: CSCMEFNConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CSCMEFNConfig()
        self.encoder = DCUStack(cfg.encoder())
        self.head = nn.Conv2d(cfg.n_filters, 1, 1, bias=False)

    def weight_logits(self, y: Tensor) -> Tensor:
        """l = H(E(Y)) for lumas (N, 1, H, W)."""
        return self.head(self.encoder(y))

    def forward(self, exposures: Tensor) -> Tensor:
        """Exposures (N, K, 3, H, W) in [0, 1] -> fused RGB (N, 3, H, W) clipped to [0, 1] (not stretched)."""
        if not isinstance(exposures, Tensor) or exposures.ndim != 5 or exposures.shape[2] != 3:
            got = tuple(exposures.shape) if isinstance(exposures, Tensor) else type(exposures).__name__
            raise ValueError(f"CSC-MEFN expects exposures of shape (N, K, 3, H, W), got {got}")
        y, cb, cr = rgb_to_ycbcr(exposures)  # (N, K, H, W) each
        logits = torch.cat([self.weight_logits(y[:, k : k + 1]) for k in range(y.shape[1])], dim=1)
        y_f = torch.sum(F.softmax(logits, dim=1) * y, dim=1)
        cb_f = torch.sum(chroma_weights(cb) * cb, dim=1)
        cr_f = torch.sum(chroma_weights(cr) * cr, dim=1)
        return torch.clamp(ycbcr_to_rgb(y_f, cb_f, cr_f), 0.0, 1.0)


def stretch_release(values: Tensor, low: float = 0.005, high: float = 0.995) -> np.ndarray:
    """The release's ``post_process`` of 255 F (any shape, float32): clip to the order statistics at
    int(n low) and int(n high), map them to 0 and 255, truncate to uint8 (zeros if they coincide)."""
    flat = values.detach().reshape(-1)
    ordered = torch.sort(flat).values
    lo, hi = ordered[int(flat.numel() * low)], ordered[int(flat.numel() * high)]
    if not bool(hi > lo):
        return np.zeros(tuple(values.shape), dtype=np.uint8)
    clipped = torch.clamp(values.detach(), lo, hi)
    return (255.0 * (clipped - lo) / (hi - lo)).cpu().numpy().astype(np.uint8)


def _check_exposures(images: Sequence[np.ndarray]) -> None:
    if isinstance(images, np.ndarray) or not isinstance(images, Sequence) or len(images) < 2:
        got = f"{len(images)} image(s)" if isinstance(images, Sequence) else type(images).__name__
        raise ValueError(f"CSC-MEFN fuses a list of at least 2 exposures of one scene, got {got}")
    for i, img in enumerate(images):
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            got = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise ValueError(
                f"exposure {i} must be an 8-bit RGB image, uint8 of shape (H, W, 3), got {got}; "
                "convert grey images to RGB first"
            )
        if img.shape != images[0].shape:
            raise ValueError(
                f"exposures differ in size: exposure 0 is {images[0].shape[:2]}, exposure {i} "
                f"{img.shape[:2]} (H, W); align and crop them to one size"
            )
        if min(img.shape[:2]) < 2:
            raise ValueError(
                f"exposures must be at least 2 x 2 pixels (reflection padding), got {img.shape[:2]}"
            )


def fuse_exposures(model: CSCMEFN, images: Sequence[np.ndarray]) -> np.ndarray:
    """Fuse 8-bit RGB exposures (H, W, 3) of one scene as the release's ``test.py``: uint8 (H, W, 3).

    x / 255 in float32, :class:`CSCMEFN` without autograd in the model's current mode (eval, as
    :func:`load_csc_mefn` returns it) on its device, then :func:`stretch_release` of 255 F.
    """
    _check_exposures(images)
    stack = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        fused = model(stack[None].to(module_device(model)))
        return stretch_release(255.0 * fused[0].permute(1, 2, 0))


def fuse_exposure_folder(model: CSCMEFN, scene_dir: str | Path) -> np.ndarray:
    """:func:`fuse_exposures` of the image files in ``scene_dir`` (one scene: >= 2, one size, by name)."""
    folder = Path(scene_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; give the folder holding one scene's exposures")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise ValueError(
            f"{folder} holds {len(files)} image file(s) ({', '.join(IMAGE_SUFFIXES)}); "
            "CSC-MEFN needs at least 2 exposures of the scene"
        )
    images = [read_image(p) for p in files]
    for path, img in zip(files, images, strict=True):
        if img.ndim != 3:
            raise ValueError(f"{path} is a grey image; CSC-MEFN fuses RGB exposures: save it as RGB")
        if img.shape != images[0].shape:
            raise ValueError(
                f"{path} is {img.shape[1]} x {img.shape[0]} but {files[0].name} is "
                f"{images[0].shape[1]} x {images[0].shape[0]} (W x H); the exposures must have one size"
            )
    return fuse_exposures(model, images)


def _rename(key: str) -> str | None:
    """The lzsc name of a release key (``main.<i>.<rest>``), None for an unknown one."""
    m = re.fullmatch(r"main\.(\d+)\.(.+)", key)
    if not m:
        return None
    index, rest = int(m[1]), m[2]
    if rest == "conv2d.weight":  # main.0: the first unit's conv; the last index: the 1 x 1 head
        return "encoder.first.conv1.weight" if index == 0 else "head.weight"
    if index == 1 and re.fullmatch(r"weight|bias|running_mean|running_var|num_batches_tracked", rest):
        return f"encoder.first.bn.{rest}"
    if index == 2 and rest == "theta":
        return "encoder.first.theta"
    name = release_unit_key(rest) if index >= 3 else None
    return f"encoder.units.{index - 3}.{name}" if name else None


def official_to_lzsc_mefn(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The release's ``CSC_Fusion_MEF`` state_dict renamed to :class:`CSCMEFN`'s::

        main.0.conv2d.weight            -> encoder.first.conv1.weight
        main.1.*  (BatchNorm2d)         -> encoder.first.bn.*
        main.2.theta (1, 1, 1, 1)       -> encoder.first.theta (1,)
        main.<3+j>.<DCU key>            -> encoder.units.<j>.<lzsc DCU key>   (lzsc.methods.csc_common)
        main.<last>.conv2d.weight       -> head.weight

    Keys that fit no rule raise :class:`CheckpointError` naming them.
    """
    return rename_release_state(state, _rename, "CSC-MEFN")


def load_csc_mefn(spec: str | Path = "official", config: CSCMEFNConfig | None = None) -> CSCMEFN:
    """CSC-MEFN in eval mode with the release's weights: ``"official"`` is
    ``$LZSC_DATA/checkpoints/csc_mefn/best_net.pth``, else the path of such a file or its folder."""
    return load_release_weights(CSCMEFN(config), spec, "csc_mefn", official_to_lzsc_mefn)
