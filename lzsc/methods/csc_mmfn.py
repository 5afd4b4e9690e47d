"""CSC-MMFN, the multispectral network of the CSC fusion paper (RGB-guided x2 super-resolution), as released.

Xu, Zhao et al., "Deep convolutional sparse coding networks for image fusion", release folder ``CSC-MSF``
(``networks.py``, ``GuidedFilterLayer.py``, ``test.py``). A low-resolution multispectral cube
m (N, 31, h, w) and a high-resolution RGB guide g (N, 3, H, W) are coded by two stacks of eq. 3 DCUs
(:class:`lzsc.unrolled.DCUStack`, 256 channels, 3 x 3, SST; a first unit and 3 later ones):

    z_g = E_g(g) (N, 256, H, W),   z_m = E_m(m) (N, 256, h, w),   z_g' = up_{h,w}(z_g)
    Z = FGF(z_g', z_m; z_g),       out = R(Z) + up_{H,W}(m)

with up_{s} bilinear resizing (``align_corners=True``), R a 3 x 3 convolution 256 -> 31 (reflection
padding, no bias), and FGF the fast guided filter (Wu et al. 2018, :func:`fast_guided_filter`): the
guided filter of z_m by z_g' at low resolution (radius 1, eps 1e-4, per channel), whose linear
coefficients (a, b) are resized to (H, W) and applied to z_g:

    a = cov_r(x, y) / (var_r(x) + eps),  b = mean_r(y) - a mean_r(x),  Z = up(a) z_g + up(b)

with mean_r the mean over the (2r+1) x (2r+1) window clipped to the image (:func:`box_sum` / the
number of pixels in it; not the reflected window of :func:`lzsc.methods.csc_rules.box_mean`). The
box sums are float32 cumulative sums along H then W, differenced, as the release computes them:
lzsc's results equal the release's bit for bit on the CPU. The release's ``test.py`` returns
clip(out, 0, 1) (:func:`fuse_multispectral`).

The release's quirks, reproduced because the weights were trained with them:

- the weights have 256 channels, as ``train.py`` builds the model; ``test.py`` builds it with 64
  and cannot load them;
- the first unit of each stack has no batch-norm (``DCUConfig.first_batch_norm=False``);
- every SST applies max(theta, 0) in its forward (``DCUConfig.nonnegative_theta``): most released
  thetas are negative, so most channels are not thresholded at all; thetas initialised to 1e-2;
- every DCU of a stack sees its own input (m or g) as data term.

Deviation: the release resizes m to (H, H) (its height twice), which breaks on a non-square guide;
lzsc resizes it to (H, W), the same on the square images the release was made for.
Reproduction: ``benchmarks/compare_csc_mef_mmf_release.py`` (4 synthetic cubes, the release's
``test.py`` run on the CPU: identical float32 outputs). Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..fusion import module_device
from ..unrolled.dcu import DCUConfig, DCUStack
from .csc_common import load_release_weights, release_unit_key, rename_release_state

__all__ = [
    "CSCMMFN",
    "CSCMMFNConfig",
    "box_sum",
    "fast_guided_filter",
    "fuse_multispectral",
    "fuse_npz",
    "load_csc_mmfn",
    "official_to_lzsc_mmfn",
]


@dataclass(frozen=True)
class CSCMMFNConfig:
    """Sizes of CSC-MMFN; the defaults are the released weights' (``train.py``: ``num_blocks=4``, 256
    channels). ``n_iter``: the DCUs after each stack's first unit, the release's ``num_blocks - 1``."""

    ms_channels: int = 31
    guide_channels: int = 3
    n_filters: int = 256
    kernel_size: int = 3
    n_iter: int = 3
    radius: int = 1
    eps: float = 1e-4

    def encoder(self, channels: int) -> DCUConfig:
        """The DCU configuration of the stack coding an input of ``channels`` channels."""
        return DCUConfig(
            in_channels=channels,
            n_filters=self.n_filters,
            kernel_size=self.kernel_size,
            activation="sst",
            init=1e-2,
            n_iter=self.n_iter,
            first_batch_norm=False,
            nonnegative_theta=True,
        )


def box_sum(x: Tensor, radius: int) -> Tensor:
    """Sums of ``x`` (..., H, W) over (2r+1) x (2r+1) windows clipped to the image, by cumulative sums
    in x's dtype along H, then W (the release's order and rounding)."""
    for dim in (-2, -1):
        n = x.shape[dim]
        c = F.pad(x.cumsum(dim), (0, 0, 1, 0) if dim == -2 else (1, 0))  # c[j] = sum of the first j
        i = torch.arange(n, device=x.device)
        x = c.index_select(dim, (i + radius + 1).clamp(max=n)) - c.index_select(
            dim, (i - radius).clamp(min=0)
        )
    return x


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size, mode="bilinear", align_corners=True)


def fast_guided_filter(low_guide: Tensor, low_src: Tensor, guide: Tensor, radius: int, eps: float) -> Tensor:
    """The fast guided filter of the module docstring: (N, K, h, w) x2 and (N, K, H, W) -> (N, K, H, W)."""
    h, w = low_guide.shape[-2:]
    if low_src.shape != low_guide.shape or guide.shape[:2] != low_guide.shape[:2]:
        raise ValueError(
            f"guided filter shapes do not fit: low guide {tuple(low_guide.shape)}, low source "
            f"{tuple(low_src.shape)}, guide {tuple(guide.shape)}"
        )
    if min(h, w) <= 2 * radius + 1:
        raise ValueError(
            f"the low-resolution input must exceed {2 * radius + 1} pixels per side, got {h} x {w}"
        )
    count = box_sum(low_guide.new_ones(1, 1, h, w), radius)
    mean_x = box_sum(low_guide, radius) / count
    mean_y = box_sum(low_src, radius) / count
    cov_xy = box_sum(low_guide * low_src, radius) / count - mean_x * mean_y
    var_x = box_sum(low_guide * low_guide, radius) / count - mean_x * mean_x
    a = cov_xy / (var_x + eps)
    b = mean_y - a * mean_x
    size = (guide.shape[-2], guide.shape[-1])
    return _resize(a, size) * guide + _resize(b, size)


class CSCMMFN(nn.Module):
    """The network of the module docstring: ``encoder_guide``, ``encoder_ms`` (DCU stacks), ``decoder``."""

    def __init__(self, config: CSCMMFNConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CSCMMFNConfig()
        self.encoder_guide = DCUStack(cfg.encoder(cfg.guide_channels))
        self.encoder_ms = DCUStack(cfg.encoder(cfg.ms_channels))
        self.decoder = nn.Conv2d(
            cfg.n_filters,
            cfg.ms_channels,
            cfg.kernel_size,
            padding=cfg.kernel_size // 2,
            padding_mode="reflect",
            bias=False,
        )

    def forward(self, ms: Tensor, guide: Tensor) -> Tensor:
        """Low-resolution cube (N, C, h, w) and RGB guide (N, 3, H, W) -> cube (N, C, H, W), not clipped."""
        cfg = self.config
        for name, t, c in (("cube", ms, cfg.ms_channels), ("guide", guide, cfg.guide_channels)):
            if not isinstance(t, Tensor) or t.ndim != 4 or t.shape[1] != c:
                got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise ValueError(f"CSC-MMFN expects the {name} as (N, {c}, H, W), got {got}")
        if ms.shape[0] != guide.shape[0]:
            raise ValueError(f"cube and guide differ in batch size: {ms.shape[0]} vs {guide.shape[0]}")
        z_guide, z_ms = self.encoder_guide(guide), self.encoder_ms(ms)
        low_guide = _resize(z_guide, (ms.shape[-2], ms.shape[-1]))
        code = fast_guided_filter(low_guide, z_ms, z_guide, cfg.radius, cfg.eps)
        return self.decoder(code) + _resize(ms, (guide.shape[-2], guide.shape[-1]))


def _check_array(name: str, a: np.ndarray, channels: int | None) -> None:
    want = f"({channels}, H, W)" if channels else "(C, H, W)"
    if not isinstance(a, np.ndarray) or a.ndim != 3 or (channels and a.shape[0] != channels):
        got = f"shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name} must be a channel-first float array {want}, got {got}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must hold floats in [0, 1], got dtype {a.dtype}; scale 8-bit data by 1/255")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values; replace them before fusing")


def fuse_multispectral(model: CSCMMFN, lr_ms: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The release's ``test.py``: clip(CSC-MMFN(lr_ms, rgb), 0, 1) as float32 (C, H, W).

    ``lr_ms`` (C, h, w) and ``rgb`` (3, H, W) are float arrays in [0, 1] (cast to float32; H = 2 h and
    W = 2 w for the released weights). Runs without autograd in the model's current mode (eval, as
    :func:`load_csc_mmfn` returns it) on its device.
    """
    cfg = model.config
    _check_array("lr_ms", lr_ms, cfg.ms_channels)
    _check_array("rgb", rgb, cfg.guide_channels)
    if min(lr_ms.shape[1:]) <= 2 * cfg.radius + 1:
        raise ValueError(
            f"lr_ms must exceed {2 * cfg.radius + 1} pixels per side (the guided filter's window), "
            f"got {lr_ms.shape[1]} x {lr_ms.shape[2]}"
        )
    if rgb.shape[1] < lr_ms.shape[1] or rgb.shape[2] < lr_ms.shape[2]:
        raise ValueError(
            f"the guide rgb {rgb.shape[1:]} must be at least as large as lr_ms {lr_ms.shape[1:]}"
        )
    device = module_device(model)
    ms, guide = (torch.from_numpy(np.asarray(a, dtype=np.float32))[None].to(device) for a in (lr_ms, rgb))
    with torch.inference_mode():
        return torch.clamp(model(ms, guide), 0.0, 1.0)[0].cpu().numpy()


def fuse_npz(model: CSCMMFN, path: str | Path) -> np.ndarray:
    """:func:`fuse_multispectral` of the arrays ``lr_ms`` and ``rgb`` of an ``.npz`` file (no pickles)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; give an .npz file holding arrays lr_ms and rgb")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz file (np.savez's zip of the arrays lr_ms and rgb)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("lr_ms", "rgb") if k not in data.files]
            if missing:
                raise ValueError(
                    f"{path} lacks array(s) {', '.join(missing)} "
                    f"(it holds: {', '.join(data.files) or 'none'}); "
                    "save the low-resolution cube as lr_ms (C, h, w) and the guide as rgb (3, H, W)"
                )
            lr_ms, rgb = data["lr_ms"], data["rgb"]
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a readable .npz file ({err})") from err
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ValueError(
                f"{path} holds pickled objects; lr_ms and rgb must be plain float arrays"
            ) from err
        raise
    return fuse_multispectral(model, lr_ms, rgb)


_PARTS = {"backbone_guide": "encoder_guide", "backbone_lr": "encoder_ms"}


def _rename(key: str) -> str | None:
    """The lzsc name of a release key, None for an unknown one."""
    if key == "decoder.conv0.weight":
        return "decoder.weight"
    m = re.fullmatch(r"(backbone_guide|backbone_lr)\.(conv0\.weight|relu0\.theta|csc(\d+)\.(.+))", key)
    if not m:
        return None
    part = _PARTS[m[1]]
    if m[3] is None:
        return f"{part}.first.{'conv1.weight' if m[2] == 'conv0.weight' else 'theta'}"
    name = release_unit_key(m[4]) if int(m[3]) >= 1 else None
    return f"{part}.units.{int(m[3]) - 1}.{name}" if name else None


def official_to_lzsc_mmfn(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The release's ``ModelA`` state_dict renamed to :class:`CSCMMFN`'s::

        backbone_guide / backbone_lr             -> encoder_guide / encoder_ms
        <backbone>.conv0.weight                  -> <encoder>.first.conv1.weight
        <backbone>.relu0.theta (1, K, 1, 1)      -> <encoder>.first.theta (K,)
        <backbone>.csc<j>.<DCU key>              -> <encoder>.units.<j-1>.<lzsc DCU key> (csc_common)
        decoder.conv0.weight                     -> decoder.weight

    Keys that fit no rule raise :class:`CheckpointError` naming them.
    """
    return rename_release_state(state, _rename, "CSC-MMFN")


def load_csc_mmfn(spec: str | Path = "official", config: CSCMMFNConfig | None = None) -> CSCMMFN:
    """CSC-MMFN in eval mode with the release's weights: ``"official"`` is
    ``$LZSC_DATA/checkpoints/csc_mmfn/best_net.pth``, else the path of such a file or its folder."""
    return load_release_weights(CSCMMFN(config), spec, "csc_mmfn", official_to_lzsc_mmfn)
