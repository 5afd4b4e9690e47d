"""Fusing images with a trained FNet: tensors, files and folders of pairs.

Inference follows the release (``docs/conventions.md``): sources read as 8-bit grey / 255 by a named
reader (``lzsc.io.READERS``: ``standard`` by default, ``release`` for the release's own decode), A the
infrared or MRI image, B the visible / CT / PET / SPECT image, output clip-x255-round to 8 bit. In
colour mode only B's luma is fused (``lzsc.io.fuse_color``). No autograd is recorded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .io import (
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

__all__ = ["FolderReport", "fuse", "fuse_files", "fuse_folder", "module_device", "output_name"]


def module_device(model: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module with neither)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def fuse(model: nn.Module, a: Tensor, b: Tensor) -> Tensor:
    """F = model(A, B) for (N, 1, H, W) sources in [0, 1], without autograd, on the model's device.

    Returns a CPU float tensor. FNet runs on its backend (``model.set_backend``; "auto": the CPU
    engine on a CPU, the fused backend on CUDA).
    """
    device = module_device(model)
    with torch.inference_mode():
        return model(a.to(device), b.to(device)).float().cpu()


def fuse_files(
    model: nn.Module,
    path_a: str | Path,
    path_b: str | Path,
    color: bool = False,
    ycbcr: str = "matlab",
    reader: Reader = "standard",
) -> np.ndarray:
    """Fuse one pair of files into a uint8 image: grey (H, W), or RGB (H, W, 3) in colour mode.

    ``reader`` reads the grey sources (both in grey mode, A in colour mode, as the release does).
    Colour mode needs an RGB B (a grey B is fused in grey mode, as there is no chroma to keep).
    """
    if not color:
        a, b = read_pair(path_a, path_b, reader)
        return to_uint8(fuse(model, a, b))
    a_grey, b_img = read_gray_u8(path_a, reader), read_image(path_b)
    if a_grey.shape != b_img.shape[:2]:
        raise ImageError(
            f"size mismatch: {path_a} is {a_grey.shape[1]}x{a_grey.shape[0]} but {path_b} is "
            f"{b_img.shape[1]}x{b_img.shape[0]} (W x H); register or resize the pair to a common size"
        )
    a = to_tensor(a_grey)
    if b_img.ndim == 2:
        return to_uint8(fuse(model, a, to_tensor(b_img)))
    return fuse_color(b_img, lambda y: fuse(model, a, y), ycbcr=ycbcr)


def output_name(name: str, keep_ext: bool) -> str:
    """The fused file's name: the source's name as the release does (``keep_ext``), else ``stem.png``."""
    return name if keep_ext else f"{Path(name).stem}.png"


@dataclass
class FolderReport:
    """What a folder fusion did: written files, and one message per pair that failed."""

    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        lines = [f"fused {len(self.written)} pair(s), {len(self.failed)} failed"]
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
) -> FolderReport:
    """Fuse every pair of two folders matched by file name; a bad pair is reported, the rest still run."""
    pairs, problems = pair_files(a_dir, b_dir)
    report = FolderReport()
    for msg in problems:
        report.failed[msg.split(":")[0]] = msg
    if limit is not None:
        pairs = pairs[:limit]
    for name, pa, pb in tqdm(pairs, desc="fusing", unit="pair", disable=not progress):
        try:
            fused = fuse_files(model, pa, pb, color=color, ycbcr=ycbcr, reader=reader)
            report.written.append(save_image(Path(out_dir) / output_name(name, keep_ext), fused))
        except (ImageError, ValueError, OSError) as err:
            report.failed[name] = str(err)
    return report
