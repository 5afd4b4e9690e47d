"""Training data of CSC-IVFN: single grey images, random-resized crops, an epoch schedule; and its loss.

The release (``CSC-IVF/Train.py``) trains an autoencoder on the infrared AND the visible images of
its FLIR set, mixed in one folder (``ImageFolder``): 180 pairs are 360 single images. Each item is
torchvision's ``RandomResizedCrop(128)`` with its defaults, then ``Grayscale(1)`` and ``ToTensor``;
a ``DataLoader(batch_size=16, shuffle=True)`` serves them, so an epoch is one random permutation of
the 360 images in ceil(360 / 16) = 23 batches, the last one of 360 - 22 * 16 = 8 images (no
``drop_last``). Here:

- :class:`ImageCrops` holds the images of one or more folders (FLIR: ``ir/`` and ``vi/``), read
  once as 8-bit grey (:func:`lzsc.io.read_gray_u8`) and cached;
- :func:`random_resized_box` draws a crop box as torchvision's ``RandomResizedCrop.get_params``
  does (area fraction uniform in ``scale`` = (0.08, 1), log aspect ratio uniform in ``ratio`` =
  (3/4, 4/3), up to 10 tries, else the central crop with the ratio clamped), from an explicit
  generator; the box is resized to ``crop`` x ``crop`` with antialiased bilinear interpolation (what
  PIL's bilinear resize does, which the release calls) and rounded to 8-bit levels, as PIL returns;
- :func:`batch_plan` is the epoch schedule, a pure function of (seed, step): the permutation of
  epoch e is seeded by (seed, e) and batch j of it holds positions j B .. (j + 1) B - 1;
- :func:`csc_ivfn_loss` is the release's loss, MSE(x_hat, x) + 5 * mean(clamp((1 - SSIM) / 2, 0, 1))
  with kornia's SSIM of window 3 (``kornia.losses.SSIM(3)``: a 3-tap Gaussian of sigma 1.5,
  C1 = 0.01^2, C2 = 0.03^2, reflect border; the (1 - SSIM) / 2 is kornia's, the factor 5 the release's).

Deviations, each small: the grey conversion comes before the crop (the release crops the RGB image,
then converts; both are linear, so they differ only by 8-bit rounding, at most about one grey level),
and the luma weights are OpenCV's (9798, 19235, 3735) / 2^15 rather than PIL's (19595, 38470, 7471) /
2^16 (equal to within one level). An image smaller than the crop on either side is refused (the
release would upsample it; such an image in a training set is almost always a mistake).
Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.transforms import seeded_generator
from ..datasets import REGISTRY, dataset_dirs, resolve_layout
from ..io import IMAGE_SUFFIXES, read_gray_u8
from .losses import LossOutput
from .preflight import load_every

__all__ = [
    "ImageCrops",
    "batch_plan",
    "csc_ivfn_loss",
    "image_folders",
    "random_resized_box",
    "steps_per_epoch",
]

_ORDER = 11  # seed-domain tag of the epoch permutations (lzsc.data.transforms.derive_seed)


def image_folders(data: str | Path) -> list[Path]:
    """The folders whose images train CSC-IVFN: a training set registered in :mod:`lzsc.datasets`
    ("FLIR": ``$LZSC_DATA/train/FLIR/{ir,vi}``), a folder holding both sources of pairs (``ir/`` and
    ``vi/``, or another known layout), or a folder of images. Missing folders raise ``FileNotFoundError``."""
    if isinstance(data, str) and REGISTRY.find(data, "train") is not None:
        a_dir, b_dir, _ = dataset_dirs(data, "train")
        return [a_dir, b_dir]
    folder = Path(data)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"training data {str(data)!r} is neither a training set ({', '.join(REGISTRY.names('train'))} "
            "under $LZSC_DATA/train) nor a folder; set LZSC_DATA or pass --data FOLDER"
        )
    try:
        a_dir, b_dir, _ = resolve_layout(folder)
    except FileNotFoundError:
        return [folder]
    return [a_dir, b_dir]


def random_resized_box(
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random crop box, by the rule of torchvision's ``RandomResizedCrop``.

    Up to 10 tries: area s H W with s ~ U(scale), aspect ratio r = w / h with log r ~ U(log ratio),
    w = round(sqrt(s H W r)), h = round(sqrt(s H W / r)); the first box that fits gets a uniform
    position. If none fits: the central box of the whole image with its ratio clamped to ``ratio``.
    """
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        u_area, u_ratio = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * u_area)
        aspect = math.exp(log_lo + (log_hi - log_lo) * u_ratio)
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(height - h + 1, (1,), generator=generator))
            left = int(torch.randint(width - w + 1, (1,), generator=generator))
            return top, left, h, w
    if width / height < min(ratio):
        w, h = width, round(width / min(ratio))
    elif width / height > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


class ImageCrops:
    """The grey images of ``folders`` as one list (sorted by folder, then name), served as crops.

    ``batch(indices, generator)`` gives (B, 1, crop, crop) float32 in [0, 1] on 8-bit levels: for each
    index in order, a :func:`random_resized_box` from ``generator``, resized to ``crop`` x ``crop``.
    """

    def __init__(
        self,
        folders: Sequence[str | Path],
        crop: int = 128,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
    ) -> None:
        self.files: list[Path] = []
        for folder in map(Path, folders):
            if not folder.is_dir():
                raise FileNotFoundError(f"training folder {folder} does not exist")
            self.files += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            names = ", ".join(map(str, folders))
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {names}; nothing to train on")
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(
                f"need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], got {scale}, {ratio}"
            )
        self.crop, self.scale, self.ratio = int(crop), scale, ratio
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"ImageCrops({len(self)} images, crop={self.crop}, scale={self.scale}, ratio={self.ratio})"

    def load(self, index: int) -> np.ndarray:
        """Image ``index`` as uint8 (H, W), cached; an unreadable one or one smaller than the crop raises."""
        image = self._cache.get(index)
        if image is None:
            path = self.files[index]
            image = read_gray_u8(path)
            height, width = image.shape
            if min(height, width) < self.crop:
                raise ValueError(f"{path} is {width}x{height}, smaller than the {self.crop}x{self.crop} crop")
            self._cache[index] = image
        return image

    def check(self, progress: bool = True) -> None:
        """Read every image now, so that bad files fail before the first step, all listed at once."""
        load_every(len(self), self.load, "image", "a smaller crop (--set crop=N)", progress)

    def crop_one(self, index: int, generator: torch.Generator) -> Tensor:
        """One random-resized crop (crop, crop) of image ``index``."""
        image = self.load(index)
        top, left, h, w = random_resized_box(*image.shape, self.scale, self.ratio, generator)
        box = torch.from_numpy(image[top : top + h, left : left + w].astype(np.float32))[None, None]
        size = (self.crop, self.crop)
        resized = F.interpolate(box, size=size, mode="bilinear", align_corners=False, antialias=True)
        return resized[0, 0].round().clamp(0, 255) / 255

    def batch(self, indices: Sequence[int], generator: torch.Generator) -> Tensor:
        return torch.stack([self.crop_one(i, generator) for i in indices])[:, None]


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """ceil(n / B): the last batch of an epoch holds the remaining images (no ``drop_last``)."""
    return -(-n_images // batch_size)


def batch_plan(step: int, n_images: int, batch_size: int, seed: int) -> tuple[int, list[int]]:
    """(epoch, image indices) of 0-based ``step``: batch j of epoch e is positions j B .. (j + 1) B - 1
    of a permutation seeded by (seed, e) (:func:`lzsc.data.transforms.seeded_generator`)."""
    epoch, j = divmod(step, steps_per_epoch(n_images, batch_size))
    order = torch.randperm(n_images, generator=seeded_generator(seed, _ORDER, epoch)).tolist()
    return epoch, order[j * batch_size : (j + 1) * batch_size]


def csc_ivfn_loss(x_hat: Tensor, x: Tensor, w_ssim: float = 5.0, window: int = 3) -> LossOutput:
    """The release's loss: MSE(x_hat, x) + w_ssim * mean(clamp((1 - SSIM(x_hat, x)) / 2, 0, 1)).

    SSIM is kornia's (:func:`kornia.losses.ssim_loss`, Gaussian window of ``window`` taps, sigma 1.5,
    reflect border). Parts (detached): ``mse`` and ``ssim`` (the (1 - SSIM) / 2 term, before the weight).
    """
    mse = F.mse_loss(x_hat, x)
    dssim = kornia.losses.ssim_loss(x_hat, x, window)
    return LossOutput(mse + w_ssim * dssim, {"mse": mse.detach(), "ssim": dssim.detach()})
