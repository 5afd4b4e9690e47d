"""Reading and writing 8-bit images the way the release and the reference evaluator do.

Conventions (stated once, used everywhere):

- Sources are read as 8-bit grey values by one of two named *readers* (:data:`READERS`):

  - ``standard``: decode to RGB, then OpenCV's ``cvtColor(..., COLOR_BGR2GRAY)``,
    ``Y = (9798 R + 19235 G + 3735 B + 16384) >> 15`` (:func:`rgb_to_gray_u8`). What the reference
    evaluator (CDDFuse's ``image_read_cv2(path, "GRAY")``) reads, and what the metrics read.
  - ``release``: what the release's ``cv2.imread(path, 0)`` returns, OpenCV's grey-mode decode: a
    JPEG's luma straight from the JPEG decoder (no RGB round trip; PIL's ``draft("L")``), libpng's
    truncating ``rgb_to_gray`` for a colour PNG (gamma-corrected when the file has ``gAMA``/``sRGB``),
    OpenCV's own 14-bit weights for BMP and TIFF (:func:`release_gray_u8`).

  A grey file reads the same with both. ``docs/conventions.md`` lists where each is used.
- The network sees grey / 255 in [0, 1]; its output is made 8-bit by clip to [0, 1], x 255, round.
- Colour mode fuses only the luma of B. ``ycbcr="matlab"`` is the release's studio-swing YCbCr
  (Y in [16, 235]; what the paper's medical rows were made with), ``ycbcr="kornia"`` kornia's
  full-range YCbCr. The fused luma replaces B's and B's chroma is kept.
- Images are written atomically (temporary file + rename); ``.jpg`` names give JPEG (quality 95,
  OpenCV's default), everything else PNG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import kornia
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from .atomic import atomic_open

__all__ = [
    "IMAGE_SUFFIXES",
    "READERS",
    "ImageError",
    "Reader",
    "fuse_color",
    "pair_files",
    "read_gray",
    "read_gray_u8",
    "read_image",
    "read_pair",
    "release_gray_u8",
    "rgb_to_gray_u8",
    "rgb_to_ycbcr_matlab",
    "save_image",
    "single_image",
    "to_tensor",
    "to_uint8",
    "ycbcr_matlab_to_rgb",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
JPEG_QUALITY = 95

Reader = Literal["standard", "release"]
READERS: tuple[Reader, ...] = ("standard", "release")


class ImageError(ValueError):
    """An input image that cannot be used; the message says which file and what to do."""


def read_image(path: str | Path) -> np.ndarray:
    """Read an 8-bit grey (H, W) or RGB (H, W, 3) image as uint8.

    Rejects, with a message naming the file: missing, unreadable or corrupt files, 16-bit or float
    images, images with alpha, palette images.
    """
    return _decode(path, jpeg_luma=False)[0]


def _decode(path: str | Path, jpeg_luma: bool) -> tuple[np.ndarray, str, dict]:
    """(uint8 array, file format, PIL info) of ``path``; ``jpeg_luma`` asks the JPEG decoder for grey."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            if jpeg_luma and im.format == "JPEG" and im.mode == "RGB":
                im.draft("L", im.size)
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
            return np.asarray(im, dtype=np.uint8).copy(), str(im.format), dict(im.info)
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: unreadable or corrupt image ({err})") from err


def _weighted(rgb: np.ndarray, r: int, g: int, b: int, shift: int, half: bool) -> np.ndarray:
    """(r R + g G + b B [+ 2^(shift-1)]) >> shift on uint8 RGB, as uint8."""
    c = rgb.astype(np.int64)
    offset = 1 << (shift - 1) if half else 0
    return ((r * c[..., 0] + g * c[..., 1] + b * c[..., 2] + offset) >> shift).astype(np.uint8)


def rgb_to_gray_u8(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's ``cvtColor(BGR2GRAY)`` for uint8 RGB, bit-exact: (9798 R + 19235 G + 3735 B + 2^14) >> 15.

    Checked on all 2^24 colours against OpenCV 4.5.5, 4.8, 4.10-4.12 and 5.1 (``tests/test_readers.py``). The
    14-bit weights 4899 / 9617 / 1868 found in older write-ups differ on 0.26% of the colours.
    """
    if rgb.ndim == 2:
        return rgb.astype(np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    return _weighted(rgb, 9798, 19235, 3735, 15, half=True)


def _libpng_gamma_table(gamma: int) -> np.ndarray:
    """libpng's 8-bit gamma table for a gamma in units of 1e-5 (``png_build_8bit_table``)."""
    if abs(gamma - 100000) <= 5000:  # png_gamma_significant: within 5% of 1 is no correction
        return np.arange(256)
    table = np.floor(255.0 * np.power(np.arange(256) / 255.0, gamma * 1e-5) + 0.5).astype(np.int64)
    table[0], table[255] = 0, 255
    return table


def _libpng_reciprocal(fixed: int) -> int:
    return math.floor(1e10 / fixed + 0.5)


def _libpng_gray(rgb: np.ndarray, info: dict) -> np.ndarray:
    """libpng's ``png_set_rgb_to_gray(png, 1, 0.299, 0.587)`` as OpenCV's PNG decoder asks for it.

    Weights 9797 / 19234 / 3737 (x 2^-15), truncated. A file gamma (``sRGB`` chunk: 0.45455, else
    ``gAMA``) makes libpng convert through linear light: grey pixels are kept, colour ones become
    from_1[(to_1[R] 9797 + to_1[G] 19234 + to_1[B] 3737 + 2^14) >> 15].
    """
    gamma = 45455 if "srgb" in info else round(info["gamma"] * 100000) if "gamma" in info else 100000
    if abs(gamma - 100000) <= 5000:
        return _weighted(rgb, 9797, 19234, 3737, 15, half=False)
    to_1 = _libpng_gamma_table(_libpng_reciprocal(gamma))
    from_1 = _libpng_gamma_table(_libpng_reciprocal(_libpng_reciprocal(gamma)))
    grey = from_1[_weighted(to_1[rgb].astype(np.uint16), 9797, 19234, 3737, 15, half=True).astype(np.int64)]
    same = (rgb[..., 0] == rgb[..., 1]) & (rgb[..., 0] == rgb[..., 2])
    return np.where(same, rgb[..., 0], grey).astype(np.uint8)


def release_gray_u8(path: str | Path) -> np.ndarray:
    """``cv2.imread(path, cv2.IMREAD_GRAYSCALE)`` (the release's reader) without OpenCV, bit-exact.

    JPEG: the decoder's own luma (libjpeg's grey output; PIL's ``draft("L")``). PNG: libpng's
    ``rgb_to_gray`` (:func:`_libpng_gray`). BMP, TIFF: OpenCV's own decoders reduce colour with
    (4899 R + 9617 G + 1868 B + 2^13) >> 14. Grey files are returned as they are.
    """
    image, fmt, info = _decode(path, jpeg_luma=True)
    if image.ndim == 2:
        return image
    if fmt == "PNG":
        return _libpng_gray(image, info)
    if fmt in ("BMP", "TIFF"):
        return _weighted(image, 4899, 9617, 1868, 14, half=True)
    raise ImageError(
        f"{path}: the release reader knows OpenCV's grey decode of JPEG, PNG, BMP and TIFF, not of "
        f"{fmt} colour files; use the standard reader or convert the file"
    )


def read_gray_u8(path: str | Path, reader: Reader = "standard") -> np.ndarray:
    """Read ``path`` as uint8 grey (H, W) with the named reader (module docstring)."""
    if reader == "standard":
        return rgb_to_gray_u8(read_image(path))
    if reader == "release":
        return release_gray_u8(path)
    raise ValueError(f"unknown reader {reader!r}; choose one of {READERS}")


def to_tensor(gray_u8: np.ndarray) -> Tensor:
    """uint8 (H, W) -> float32 tensor (1, 1, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(gray_u8, dtype=np.float32) / 255.0)[None, None]


def read_gray(path: str | Path, reader: Reader = "standard") -> Tensor:
    """Read ``path`` as 8-bit grey (``reader``) and return a (1, 1, H, W) float32 tensor in [0, 1]."""
    return to_tensor(read_gray_u8(path, reader))


def single_image(x: Tensor) -> Tensor:
    """One image (..., H, W) whose leading dimensions have size 1, as (H, W); H and W are kept even when
    they are 1, so that a 1 x N or N x 1 image keeps its orientation. ValueError otherwise."""
    if x.ndim < 2 or x[..., 0, 0].numel() != 1:
        raise ValueError(
            f"expected one image of shape (..., H, W) with leading sizes 1, got {tuple(x.shape)}"
        )
    return x.reshape(x.shape[-2:])


def to_uint8(x: Tensor) -> np.ndarray:
    """Network output (..., H, W) in [0, 1] -> uint8 (H, W): clip, x 255, round (the release's rule).

    The leading dimensions must hold one image (:func:`single_image`).
    """
    u8 = (single_image(x).detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return u8.cpu().numpy()


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
    """Write a uint8 grey or RGB image atomically; ``.jpg``/``.jpeg`` gives JPEG (quality 95), else PNG.

    ValueError, naming the path, when ``path`` is a folder or cannot be written (no permission, a
    parent that is a file, a full disk).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder; give the name of the image file to write (e.g. {path / 'fused.png'})"
        )
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    try:
        with atomic_open(path) as fh:
            Image.fromarray(np.asarray(image, dtype=np.uint8)).save(
                fh, format=fmt, **({"quality": JPEG_QUALITY} if fmt == "JPEG" else {})
            )
    except OSError as err:
        raise ValueError(f"cannot write {path} ({err}); choose an output location you can write to") from err
    return path


def read_pair(path_a: str | Path, path_b: str | Path, reader: Reader = "standard") -> tuple[Tensor, Tensor]:
    """Read sources A and B as grey (1, 1, H, W) tensors (``reader``), checking that their sizes agree."""
    a, b = read_gray(path_a, reader), read_gray(path_b, reader)
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
