"""Fusing pairs of images with a fusion model: tensors, files and folders of pairs.

A model is any pair method of :mod:`lzsc.methods.registry` (FNet, CSC-IVFN, the mean), called as
``model(A, B) -> F`` on (N, 1, H, W) tensors in [0, 1].

Inference follows the release (``docs/conventions.md``): sources read as 8-bit grey / 255 by a named
reader (``lzsc.io.READERS``: ``standard`` by default, ``release`` for the release's own decode), A the
infrared or MRI image, B the visible / CT / PET / SPECT image, output clip-x255-round to 8 bit. In
colour mode only B's luma is fused (``lzsc.io.fuse_color``). No autograd is recorded.

Large images are fused in overlapping tiles (:func:`fuse`, ``tile``): memory grows with the area fused
at once (about 1.2 kB per pixel for the released FNet on a CPU, so 8000 x 8000 in one piece would
need ~80 GB). Each tile is fused with :data:`TILE_MARGIN` pixels of context on every inner side and
only its centre is kept. The margin was measured with the released weights on TNO 01 (256 x 320 crop,
tiles of 96): the largest difference to whole-image fusion is 5.97 grey levels with a margin of 8,
0.75 with 16, 0.076 with 24, 0.012 with 32 and 0.0095 (float rounding) from 48 on; the 8-bit outputs
then differ by at most 1 grey level, on 0.02% of the pixels at 32.

Writers never write over a source: :func:`check_output_file` and :func:`prepare_output_dir` refuse an
output that is one of the inputs.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .io import (
    IMAGE_SUFFIXES,
    ImageError,
    Reader,
    fuse_color,
    pair_files,
    read_gray_u8,
    read_image,
    read_pair,
    save_image,
    to_tensor,
    to_uint8,
)

__all__ = [
    "TILE",
    "TILE_MARGIN",
    "FolderReport",
    "check_limit",
    "check_output_file",
    "check_sources",
    "fuse",
    "fuse_files",
    "fuse_folder",
    "module_device",
    "output_name",
    "prepare_output_dir",
]

#: The largest image side fused in one piece; larger images are fused in tiles of at most TILE x TILE.
TILE = 1024
#: Context (pixels) a tile gets on each inner side; the module docstring gives the measurement.
TILE_MARGIN = 32


def module_device(model: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module with neither)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def check_sources(a: Tensor, b: Tensor) -> None:
    """ValueError unless A and B are floating (N, 1, H, W) tensors of one shape with finite values in [0, 1].

    One pass over each input (its minimum and maximum; none for tensors on the ``meta`` device, which have
    no values); the message says what is wrong and what to do.
    """
    for name, t in (("A", a), ("B", b)):
        if not isinstance(t, Tensor):
            raise ValueError(f"source {name} must be a torch tensor, got {type(t).__name__}")
        if t.ndim != 4 or t.shape[1] != 1 or t.numel() == 0:
            raise ValueError(
                f"source {name} must be a non-empty (N, 1, H, W) grey tensor, got shape {tuple(t.shape)}; "
                "add the missing axes with t[None, None] for an (H, W) image"
            )
        if not torch.is_floating_point(t):
            raise ValueError(
                f"source {name} must be a floating-point tensor in [0, 1], got {t.dtype}; "
                "convert 8-bit images with t.float() / 255"
            )
        if t.is_meta:  # shapes only (lzsc.cost.count_macs): there are no values to check
            continue
        lo, hi = (float(v) for v in torch.aminmax(t))
        if not (lo >= 0.0 and hi <= 1.0):  # also true for NaN, which compares false
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                raise ValueError(
                    f"source {name} has {bad} NaN or infinite pixel value(s); replace them (e.g. with "
                    "torch.nan_to_num) before fusing"
                )
            raise ValueError(
                f"source {name} has values in [{lo:g}, {hi:g}] but sources must be in [0, 1]; "
                "scale 8-bit images by 1/255"
            )
    if a.shape != b.shape:
        raise ValueError(f"sources differ in shape: A {tuple(a.shape)} vs B {tuple(b.shape)}")


def _spans(size: int, core: int, margin: int) -> list[tuple[int, int, int, int]]:
    """(start, stop) of each core along one axis, with the (start, stop) of its piece with context."""
    return [
        (c0, min(c0 + core, size), max(0, c0 - margin), min(size, c0 + core + margin))
        for c0 in range(0, size, core)
    ]


def fuse(
    model: nn.Module, a: Tensor, b: Tensor, tile: int | None = TILE, margin: int = TILE_MARGIN
) -> Tensor:
    """F = model(A, B) for (N, 1, H, W) sources in [0, 1], without autograd, on the model's device.

    Returns a CPU float tensor. FNet runs on its backend (``model.set_backend``; "auto": the CPU
    engine on a CPU, the fused backend on CUDA). Sources outside that contract (another shape, values
    outside [0, 1] such as 0..255, NaN or infinite pixels) raise ValueError (:func:`check_sources`).

    An image with a side longer than ``tile`` is fused in pieces of at most ``tile`` x ``tile``: cores
    of ``tile - 2 * margin`` pixels, each fused with ``margin`` pixels of context and kept without it
    (module docstring: within 1 grey level of whole-image fusion with the default margin). ``tile=None``
    fuses any image in one piece, however much memory that takes, and so does a model whose rule uses
    image-wide statistics and declares ``whole_image = True`` (CSC-IVFN's saliency rule).
    """
    check_sources(a, b)
    if getattr(model, "whole_image", False):
        tile = None
    if tile is not None and tile <= 2 * margin:
        raise ValueError(
            f"tile ({tile}) must be larger than twice the margin ({margin}); use tile >= {4 * margin}"
        )
    device = module_device(model)
    height, width = a.shape[-2:]
    with torch.inference_mode():
        if tile is None or (height <= tile and width <= tile):
            return model(a.to(device), b.to(device)).float().cpu()
        out = torch.empty(a.shape, dtype=torch.float32)
        core = tile - 2 * margin
        for y0, y1, py0, py1 in _spans(height, core, margin):
            for x0, x1, px0, px1 in _spans(width, core, margin):
                piece = model(a[..., py0:py1, px0:px1].to(device), b[..., py0:py1, px0:px1].to(device))
                out[..., y0:y1, x0:x1] = piece[..., y0 - py0 : y1 - py0, x0 - px0 : x1 - px0].float().cpu()
        return out


def fuse_files(
    model: nn.Module,
    path_a: str | Path,
    path_b: str | Path,
    color: bool = False,
    ycbcr: str = "matlab",
    reader: Reader = "standard",
    tile: int | None = TILE,
) -> np.ndarray:
    """Fuse one pair of files into a uint8 image: grey (H, W), or RGB (H, W, 3) in colour mode.

    ``reader`` reads the grey sources (both in grey mode, A in colour mode, as the release does).
    Colour mode needs an RGB B (a grey B is fused in grey mode, as there is no chroma to keep).
    ``tile``: the largest side fused in one piece (:func:`fuse`).
    """
    if not color:
        a, b = read_pair(path_a, path_b, reader)
        return to_uint8(fuse(model, a, b, tile))
    a_grey, b_img = read_gray_u8(path_a, reader), read_image(path_b)
    if a_grey.shape != b_img.shape[:2]:
        raise ImageError(
            f"size mismatch: {path_a} is {a_grey.shape[1]}x{a_grey.shape[0]} but {path_b} is "
            f"{b_img.shape[1]}x{b_img.shape[0]} (W x H); register or resize the pair to a common size"
        )
    a = to_tensor(a_grey)
    if b_img.ndim == 2:
        return to_uint8(fuse(model, a, to_tensor(b_img), tile))
    return fuse_color(b_img, lambda y: fuse(model, a, y, tile), ycbcr=ycbcr)


def check_limit(limit: int | None) -> None:
    """ValueError unless ``limit`` (the first N pairs) is None or a positive integer."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(
            f"limit must be a positive number of pairs, got {limit!r}; leave it out for all pairs"
        )


def _resolved(paths: Iterable[str | Path]) -> set[Path]:
    return {Path(p).resolve() for p in paths}


def check_output_file(path: str | Path, sources: Iterable[str | Path]) -> Path:
    """The output file ``path``, after checking that it is not a folder and not one of ``sources``."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"output {path} is a folder; give the name of the image file to write (e.g. {path / 'fused.png'})"
        )
    if path.resolve() in _resolved(sources):
        raise ValueError(
            f"output {path} is one of the sources; refusing to write over an input, choose another name"
        )
    return path


def prepare_output_dir(path: str | Path, sources: Iterable[str | Path]) -> Path:
    """Create the output folder ``path`` and check that it can be written and is none of ``sources``."""
    path = Path(path)
    if path.resolve() in _resolved(sources):
        raise ValueError(
            f"output folder {path} is a source folder; the fused images would replace the sources: "
            "choose another folder"
        )
    if path.exists() and not path.is_dir():
        raise ValueError(f"output folder {path} is an existing file; give the name of a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as err:
        raise ValueError(
            f"cannot write into the output folder {path} ({err}); choose a folder you can write to"
        ) from err
    return path


def output_name(name: str, keep_ext: bool) -> str:
    """The fused file's name: the source's name as the release does (``keep_ext``), else ``stem.png``."""
    return name if keep_ext else f"{Path(name).stem}.png"


@dataclass
class FolderReport:
    """What a folder fusion did: written files, and one message per pair that failed."""

    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unit: str = "pair"

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [f"fused {len(self.written)} {self.unit}(s), {len(self.failed)} failed"]
        lines += [f"  FAILED {name}: {msg}" for name, msg in self.failed.items()]
        return "\n".join(lines)


def fuse_folder(
    model: nn.Module,
    a_dir: str | Path,
    b_dir: str | Path,
    out_dir: str | Path,
    color: bool = False,
    ycbcr: str = "matlab",
    keep_ext: bool = False,
    limit: int | None = None,
    progress: bool = True,
    reader: Reader = "standard",
    tile: int | None = TILE,
) -> FolderReport:
    """Fuse every pair of two folders matched by file name into ``out_dir``.

    Any failure of a pair (unreadable image, size mismatch, an error of the model, a file that cannot be
    written) is reported in the returned :class:`FolderReport` and the other pairs still run. Refused
    before anything is written (ValueError / FileNotFoundError): a ``limit`` that is not a positive
    number, folders holding no pair at all, an ``out_dir`` that is a source folder or cannot be written.
    """
    check_limit(limit)
    pairs, problems = pair_files(a_dir, b_dir)
    if not pairs:
        found = "".join(f"\n  {msg}" for msg in problems[:5])
        raise FileNotFoundError(
            f"no image pairs found in {a_dir} and {b_dir} (image files {'/'.join(IMAGE_SUFFIXES)} "
            f"matched by name){found}"
        )
    out_dir = prepare_output_dir(out_dir, (a_dir, b_dir))
    report = FolderReport()
    for msg in problems:
        report.failed[msg.split(":")[0]] = msg
    for name, pa, pb in tqdm(pairs[:limit], desc="fusing", unit="pair", disable=not progress):
        try:
            fused = fuse_files(model, pa, pb, color=color, ycbcr=ycbcr, reader=reader, tile=tile)
            report.written.append(save_image(out_dir / output_name(name, keep_ext), fused))
        except (ValueError, OSError) as err:
            report.failed[name] = str(err)
        except Exception as err:  # an error of the model on this pair: report it, fuse the others
            report.failed[name] = f"{type(err).__name__}: {err}"
    return report
