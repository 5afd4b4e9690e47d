"""Input checks shared by every metric, the undefined-value warning, and the evaluator's grey reader.

Every metric takes 2-D arrays of 8-bit grey values (0..255) as numpy arrays or torch tensors of any
real dtype; they are converted once to float64 numpy arrays here. Bad inputs raise ``ValueError``
(``TypeError`` for objects that are not arrays at all) with a message that says what was wrong and
what to do about it: a non-real dtype, a shape that is not (H, W) or is too small, NaN or infinite
values, values outside 0..255, images of different shapes, and [0, 1] data. An image is taken for
[0, 1] data when its maximum is at most 1 and some value is not an integer: an 8-bit image is made of
integers, so a dark 8-bit image with levels 0 and 1 only passes, while a network output in [0, 1]
(fractional values) is refused. A [0, 1] image holding only the values 0 and 1 cannot be told from
an 8-bit one and is measured as 8-bit levels 0 and 1.

Where a metric is undefined on a degenerate input (see each metric's docstring and the table in
``docs/conventions.md``), it returns NaN through :func:`undefined`, which warns with a
``RuntimeWarning`` naming the metric and the reason.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from ..io import rgb_to_gray_u8

__all__ = ["as_gray_image", "check_pair", "check_triplet", "is_constant", "to_gray_u8", "undefined"]

_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def as_gray_image(x: object, name: str = "image", min_side: int = 1) -> np.ndarray:
    """Return ``x`` as a float64 (H, W) array of grey values in 0..255, or raise ``ValueError``.

    Accepts numpy arrays and torch tensors (detached, moved to the CPU) of real dtype. ``min_side``
    is the smallest height and width the calling metric can handle.
    """
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"{name} has dtype {x.dtype}; metrics need real grey values 0..255")
        x = x.detach().cpu().to(torch.float64).numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(x).__name__}")
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(
            f"{name} has dtype {x.dtype}; metrics need real grey values 0..255 (uint8, float32 or float64)"
        )
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D grey image (H, W), got shape {tuple(x.shape)}; squeeze batch/channel "
            "axes, and reduce colour images with to_gray_u8 first"
        )
    if min(x.shape) < min_side:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)} but this metric needs at least {min_side} x {min_side} pixels"
        )
    img = x.astype(np.float64)
    finite = np.isfinite(img)
    if not finite.all():
        raise ValueError(
            f"{name} contains {int((~finite).sum())} NaN or infinite values; fix the image "
            "(e.g. np.nan_to_num, or clip the network output) before measuring"
        )
    lo, hi = float(img.min()), float(img.max())
    if lo < 0.0 or hi > 255.0:
        raise ValueError(
            f"{name} has values in [{lo:g}, {hi:g}] but metrics expect 8-bit grey levels in 0..255; "
            "clip to 0..255 (a [0, 1] network output: clip, multiply by 255 and round, as a saved image)"
        )
    if hi <= 1.0 and not np.array_equal(img, np.rint(img)):
        raise ValueError(
            f"{name} has fractional values in [{lo:g}, {hi:g}]: it looks like [0, 1] data; multiply by 255 "
            "(and round, as a saved 8-bit image) before measuring: metrics expect grey levels 0..255"
        )
    return img


def is_constant(img: np.ndarray) -> bool:
    """Whether a checked image has a single value."""
    return bool(img.min() == img.max())


def undefined(metric: str, why: str) -> float:
    """Warn that ``metric`` is undefined on this input (a ``RuntimeWarning`` saying why) and return NaN.

    The warning points at the first caller outside ``lzsc.metrics``, i.e. at the user's call.
    """
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        level, frame = level + 1, frame.f_back
    warnings.warn(f"{metric} is undefined (NaN): {why}", RuntimeWarning, stacklevel=level)
    return math.nan


def check_pair(x: object, y: object, names: tuple[str, str], min_side: int = 1) -> tuple[np.ndarray, ...]:
    """Check two images with :func:`as_gray_image` and that their shapes agree."""
    images = [as_gray_image(v, n, min_side) for v, n in zip((x, y), names, strict=True)]
    return _check_same_shape(images, names)


def check_triplet(f: object, a: object, b: object, min_side: int = 1) -> tuple[np.ndarray, ...]:
    """Check fused F and sources A, B with :func:`as_gray_image` and that their shapes agree."""
    names = ("F (fused)", "A (source)", "B (source)")
    images = [as_gray_image(v, n, min_side) for v, n in zip((f, a, b), names, strict=True)]
    return _check_same_shape(images, names)


def _check_same_shape(images: list[np.ndarray], names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    if len({img.shape for img in images}) > 1:
        shapes = ", ".join(f"{n} {img.shape}" for n, img in zip(names, images, strict=True))
        raise ValueError(
            f"images must have the same shape, got {shapes}; crop or resize them to a common size"
        )
    return tuple(images)


def to_gray_u8(rgb: object) -> np.ndarray:
    """OpenCV's 8-bit BGR -> GRAY conversion of an RGB image, as float64 grey values 0..255.

    ``Y = (9798 R + 19235 G + 3735 B + 2^14) >> 15`` on uint8 (H, W, 3) arrays in R, G, B channel order
    (as PIL reads files), i.e. ``cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)`` bit for bit
    (:func:`lzsc.io.rgb_to_gray_u8`). The 14-bit weights 4899 / 9617 / 1868 of older write-ups, and the
    CDDFuse reader's float32 conversion, differ from it by at most one grey level on a small fraction of
    colour pixels, and not at all on grey (R = G = B) images. A 2-D uint8 array is already grey and is
    returned as float64.
    """
    if isinstance(rgb, torch.Tensor):
        rgb = rgb.detach().cpu().numpy()
    if not isinstance(rgb, np.ndarray):
        raise TypeError(f"rgb must be a numpy array or a torch tensor, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8 (as read from an 8-bit file), got dtype {rgb.dtype}")
    if rgb.ndim == 2:
        return rgb.astype(np.float64)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(
            f"rgb must have shape (H, W, 3) in R, G, B order, got {tuple(rgb.shape)}; drop an alpha "
            "channel with rgb[..., :3]"
        )
    return rgb_to_gray_u8(rgb).astype(np.float64)
