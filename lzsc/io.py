"""Reading and writing 8-bit images the way the release and the reference evaluator do.

Conventions (stated once, used everywhere):

- Sources are read as 8-bit grey values. Colour files are reduced with OpenCV's BGR->GRAY
  fixed-point weights, ``Y = (4899 R + 9617 G + 1868 B + 8192) >> 14`` (what the release's
  ``cv2.imread(path, 0)`` and the CDDFuse evaluator's ``cvtColor`` compute, up to libpng rounding).
- The network sees grey / 255 in [0, 1]; its output is made 8-bit by clip to [0, 1], x 255, round.
- Colour mode fuses only the luma of B. ``ycbcr="matlab"`` is the release's studio-swing YCbCr
  (Y in [16, 235]; what the paper's medical rows were made with), ``ycbcr="kornia"`` kornia's
  full-range YCbCr. The fused luma replaces B's and B's chroma is kept.
- Images are written atomically (temporary file + rename); ``.jpg`` names give JPEG (quality 95,
  OpenCV's default), everything else PNG.
"""

from __future__ import annotations

from pathlib import Path

import kornia
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from .atomic import atomic_open

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageError",
    "fuse_color",
    "pair_files",
    "read_gray",
    "read_image",
    "read_pair",
    "rgb_to_gray_u8",
    "rgb_to_ycbcr_matlab",
    "save_image",
    "to_tensor",
    "to_uint8",
    "ycbcr_matlab_to_rgb",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
JPEG_QUALITY = 95


class ImageError(ValueError):
    """An input image that cannot be used; the message says which file and what to do."""


def read_image(path: str | Path) -> np.ndarray:
    """Read an 8-bit grey (H, W) or RGB (H, W, 3) image as uint8.

    Rejects, with a message naming the file: missing, unreadable or corrupt files, 16-bit or float
    images, images with alpha, palette images.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                raise ImageError(f"{path}: {mode} image (16-bit or float); convert it to 8-bit first")
            if mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                raise ImageError(f"{path}: image has an alpha channel ({mode}); save it as RGB or grey")
            if mode == "P":
                raise ImageError(f"{path}: palette image; convert it to RGB or grey (e.g. im.convert('RGB'))")
            if mode == "1":
                raise ImageError(f"{path}: 1-bit image; convert it to 8-bit grey")
            if mode not in ("L", "RGB"):
                raise ImageError(f"{path}: unsupported image mode {mode}; use 8-bit grey or RGB")
            return np.asarray(im, dtype=np.uint8).copy()
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: unreadable or corrupt image ({err})") from err


def rgb_to_gray_u8(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's BGR->GRAY for uint8 RGB arrays, bit-exact: (4899 R + 9617 G + 1868 B + 8192) >> 14."""
    if rgb.ndim == 2:
        return rgb.astype(np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    c = rgb.astype(np.int32)
    return ((4899 * c[..., 0] + 9617 * c[..., 1] + 1868 * c[..., 2] + 8192) >> 14).astype(np.uint8)


def to_tensor(gray_u8: np.ndarray) -> Tensor:
    """uint8 (H, W) -> float32 tensor (1, 1, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(gray_u8, dtype=np.float32) / 255.0)[None, None]


def read_gray(path: str | Path) -> Tensor:
    """Read ``path`` as 8-bit grey and return a (1, 1, H, W) float32 tensor in [0, 1]."""
    return to_tensor(rgb_to_gray_u8(read_image(path)))


def to_uint8(x: Tensor) -> np.ndarray:
    """Network output (..., H, W) in [0, 1] -> uint8 (H, W): clip, x 255, round (the release's rule)."""
    return (x.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).squeeze().cpu().numpy()


_M_FWD = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0
_M_OFFSET = np.array([16.0, 128.0, 128.0])


def rgb_to_ycbcr_matlab(rgb_u8: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` (studio swing, Y in [16, 235]) on uint8 RGB, rounded to uint8."""
    ycc = rgb_u8.astype(np.float64) @ _M_FWD.T + _M_OFFSET
    return np.clip(np.round(ycc), 0, 255).astype(np.uint8)


def ycbcr_matlab_to_rgb(ycc_u8: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr_matlab` (MATLAB ``ycbcr2rgb``), clipped and rounded to uint8."""
    rgb = (ycc_u8.astype(np.float64) - _M_OFFSET) @ np.linalg.inv(_M_FWD).T
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def fuse_color(rgb_b: np.ndarray, fuse_luma, ycbcr: str = "matlab") -> np.ndarray:
    """Colour fusion of B: ``fuse_luma(y)`` maps B's luma (1, 1, H, W) in [0, 1] to the fused luma.

    Returns the uint8 RGB image with the fused luma and B's chroma. ``ycbcr`` selects the
    conversion ("matlab": the release's studio swing; "kornia": full-range via kornia).
    """
    if rgb_b.ndim != 3 or rgb_b.shape[2] != 3:
        raise ImageError(f"colour mode needs an RGB image B, got shape {rgb_b.shape}")
    if ycbcr == "matlab":
        ycc = rgb_to_ycbcr_matlab(rgb_b)
        ycc[..., 0] = to_uint8(fuse_luma(to_tensor(ycc[..., 0])))
        return ycbcr_matlab_to_rgb(ycc)
    if ycbcr == "kornia":
        rgb = torch.from_numpy(rgb_b).permute(2, 0, 1)[None].float() / 255.0
        ycc_t = kornia.color.rgb_to_ycbcr(rgb)
        ycc_t[:, :1] = fuse_luma(ycc_t[:, :1].contiguous()).clamp(0, 1)
        out = kornia.color.ycbcr_to_rgb(ycc_t).clamp(0, 1)
        return (out[0].permute(1, 2, 0) * 255.0).round().to(torch.uint8).numpy()
    raise ValueError(f"unknown ycbcr conversion {ycbcr!r}; choose 'matlab' or 'kornia'")


def save_image(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 grey or RGB image atomically; ``.jpg``/``.jpeg`` gives JPEG (quality 95), else PNG."""
    path = Path(path)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    with atomic_open(path) as fh:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(
            fh, format=fmt, **({"quality": JPEG_QUALITY} if fmt == "JPEG" else {})
        )
    return path


def read_pair(path_a: str | Path, path_b: str | Path) -> tuple[Tensor, Tensor]:
    """Read sources A and B as grey (1, 1, H, W) tensors, checking that their sizes agree."""
    a, b = read_gray(path_a), read_gray(path_b)
    if a.shape != b.shape:
        raise ImageError(
            f"size mismatch: {path_a} is {a.shape[-1]}x{a.shape[-2]} but {path_b} is "
            f"{b.shape[-1]}x{b.shape[-2]} (W x H); register or resize the pair to a common size"
        )
    return a, b


def pair_files(a_dir: str | Path, b_dir: str | Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """Match image files of two folders by file name (then by stem). Returns (pairs, problems).

    ``pairs`` is sorted by name: (name, path_a, path_b). ``problems`` lists every file without a
    partner, as a readable message.
    """
    a_dir, b_dir = Path(a_dir), Path(b_dir)
    for folder in (a_dir, b_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder")

    def images(folder: Path) -> dict[str, Path]:
        return {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}

    a_files, b_files = images(a_dir), images(b_dir)
    b_by_stem = {p.stem: p for p in b_files.values()}
    pairs, used_b, problems = [], set(), []
    for name, pa in a_files.items():
        pb = b_files.get(name) or b_by_stem.get(pa.stem)
        if pb is None:
            problems.append(f"{pa}: no file named {name} (or {pa.stem}.*) in {b_dir}")
            continue
        pairs.append((name, pa, pb))
        used_b.add(pb.name)
    problems += [f"{pb}: no partner in {a_dir}" for name, pb in b_files.items() if name not in used_b]
    return pairs, problems
