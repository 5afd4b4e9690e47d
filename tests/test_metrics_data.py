"""Fusion metrics on the real test images (skipped with a message when LZSC_DATA is absent).

The fused image is the trivial baseline F = round((A + B) / 2), so no model is needed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lzsc.datasets import dataset_dirs
from lzsc.metrics import METRIC_NAMES, ce, compute_all, qcb, ssim, to_gray_u8
from lzsc.protocols import PROTOCOLS

pytestmark = pytest.mark.data

PLAUSIBLE = {
    "EN": (4.0, 8.0),
    "SD": (5.0, 128.0),
    "SF": (1.0, 100.0),
    "AG": (0.5, 50.0),
    "MI": (0.3, 2 * math.log(256)),
    "CE": (0.0, 8.0),
    "SCD": (-2.0, 2.0),
    "VIF": (0.2, 2.5),
    "Qabf": (0.1, 1.0),
    "Qcb": (0.1, 1.0),
    "SSIM": (0.2, 2.0),
}


def read_gray(path: Path) -> np.ndarray:
    return to_gray_u8(np.asarray(Image.open(path).convert("RGB")))


def set_pairs(root: Path, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    try:
        a_dir, b_dir, _ = dataset_dirs(name, root=root)
    except FileNotFoundError as err:
        pytest.skip(str(err))
    names = sorted(p.name for p in a_dir.iterdir())
    return [(read_gray(a_dir / n), read_gray(b_dir / n)) for n in names]


def mean_fusion(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.round((a + b) / 2)


def test_tno_mean_fusion_values_are_finite_and_plausible(lzsc_data: Path) -> None:
    rules = PROTOCOLS["paper"]
    for a, b in set_pairs(lzsc_data, "TNO")[:3]:
        f = mean_fusion(a, b)
        values = compute_all(f, a, b)
        # the paper protocol changes only SSIM (data_range 2) and CE (sum of the two terms)
        paper = {
            **values,
            "SSIM": ssim(f, a, b, data_range=rules.ssim_data_range),
            "CE": ce(f, a, b, reduction=rules.ce_reduction),
        }
        for name in METRIC_NAMES:
            lo, hi = PLAUSIBLE[name]
            for table in (values, paper):
                assert math.isfinite(table[name]), name
                assert lo <= table[name] <= hi, (name, table[name])
        assert paper["CE"] == pytest.approx(2 * values["CE"])


def reference_qcb(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """VIFB's metricsQcb.m transcribed with numpy's FFT and shifted-sum separable filtering."""
    taps = np.arange(-15, 16)

    def filt(xp: np.ndarray, sigma: float) -> np.ndarray:
        e = np.exp(-(taps**2) / (2 * sigma**2))
        h, w = xp.shape[0] - 30, xp.shape[1] - 30
        rows = sum(e[t] * xp[:, t : t + w] for t in range(31))
        return sum(e[t] * rows[t : t + h] for t in range(31)) / (2 * np.pi * sigma**2)

    def contrast(img: np.ndarray) -> np.ndarray:
        x = np.floor((img - img.min()) / (img.max() - img.min()) * 255 + 0.5)
        h, w = x.shape
        fu, fv = (np.arange(w) - w // 2) * (2 / w), (np.arange(h) - h // 2) * (2 / h)
        u, v = np.meshgrid(w / 30 * fu, h / 30 * fv)
        r = np.sqrt(u**2 + v**2)
        s = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))
        xp = np.pad(np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(x)) * s)), 15)
        c = np.abs(filt(xp, 2.0) / filt(xp, 4.0) - 1)
        return c**3 / (c**2 + 1e-4)

    ca, cb, cf = contrast(a), contrast(b), contrast(f)
    qa = np.where(ca < cf, ca / cf, cf / ca)
    qb = np.where(cb < cf, cb / cf, cf / cb)
    return float(np.mean((ca**2 * qa + cb**2 * qb) / (ca**2 + cb**2)))


def test_qcb_set_mean_is_robust_to_the_fft_implementation(lzsc_data: Path) -> None:
    """On black backgrounds Qcb divides FFT rounding noise by FFT rounding noise, so single images
    depend on the FFT library (here torch's against numpy's); the per-set mean must not (1e-3)."""
    pairs = set_pairs(lzsc_data, "MRI_PET")
    ours = [qcb(mean_fusion(a, b), a, b) for a, b in pairs]
    reference = [reference_qcb(mean_fusion(a, b), a, b) for a, b in pairs]
    assert np.all(np.isfinite(ours))
    assert np.mean(ours) == pytest.approx(np.mean(reference), abs=1e-3)
