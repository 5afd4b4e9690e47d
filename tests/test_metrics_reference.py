"""Fusion metrics against independent references.

scikit-learn (MI), scikit-image (SSIM), OpenCV (grey conversion) and small brute-force numpy
transcriptions of the definitions in docs/conventions.md, written without the library's
filtering code (AG, SF, VIF, Qabf, Qcb).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from lzsc.metrics import ag, mi, qabf, qcb, sf, ssim, to_gray_u8, vif
from lzsc.metrics.chen_blum import normalize255


def smooth_image(
    rng: np.random.Generator, shape: tuple[int, int], lo: float = 0.0, hi: float = 255.0
) -> np.ndarray:
    """Integer-valued test image: blurred noise plus a bright rectangle (edges of all orientations)."""
    noise = rng.random((shape[0] + 8, shape[1] + 8))
    blurred = sliding_window_view(noise, (9, 9)).mean(axis=(-2, -1))
    img = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    h, w = shape
    img[h // 4 : h // 2, w // 3 : (2 * w) // 3] += 0.8
    img = img / img.max()
    return np.round(lo + (hi - lo) * img)


@pytest.fixture
def triplet() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = smooth_image(rng, (64, 72))
    b = smooth_image(rng, (64, 72), 10.0, 240.0)
    return np.round((a + b) / 2), a, b


def test_sf_and_ag_match_brute_force_loops() -> None:
    img = smooth_image(np.random.default_rng(1), (9, 11))
    h, w = img.shape
    rf = sum((img[i, j] - img[i, j - 1]) ** 2 for i in range(h) for j in range(1, w)) / (h * (w - 1))
    cf = sum((img[i, j] - img[i - 1, j]) ** 2 for i in range(1, h) for j in range(w)) / ((h - 1) * w)
    assert sf(img) == pytest.approx(math.sqrt(rf + cf), rel=1e-12)

    def diff(line: np.ndarray, k: int) -> float:
        if k == 0:
            return line[1] - line[0]
        if k == len(line) - 1:
            return line[-1] - line[-2]
        return (line[k + 1] - line[k - 1]) / 2

    total = sum(
        math.sqrt((diff(img[i], j) ** 2 + diff(img[:, j], i) ** 2) / 2) for i in range(h) for j in range(w)
    )
    assert ag(img) == pytest.approx(total / (h * w), rel=1e-12)


def test_mi_matches_scikit_learn(triplet) -> None:
    from sklearn.metrics import mutual_info_score

    f, a, b = triplet
    expected = mutual_info_score(f.ravel(), a.ravel()) + mutual_info_score(f.ravel(), b.ravel())
    assert mi(f, a, b) == pytest.approx(expected, rel=1e-10)
    assert mi(f, a, b) == pytest.approx(mi(f, b, a), rel=1e-12)


@pytest.mark.parametrize("data_range", [255.0, 2.0])
def test_ssim_matches_scikit_image(triplet, data_range: float) -> None:
    from skimage.metrics import structural_similarity

    f, a, b = triplet
    kwargs = {
        "win_size": 7,
        "data_range": data_range,
        "gaussian_weights": False,
        "use_sample_covariance": True,
    }
    expected = structural_similarity(f, a, **kwargs) + structural_similarity(f, b, **kwargs)
    assert ssim(f, a, b, data_range=data_range) == pytest.approx(expected, rel=1e-10)


def brute_vif(ref: np.ndarray, dist: np.ndarray) -> float:
    """CDDFuse's compare_viff with windows as 2-D MATLAB fspecial and sliding-window sums."""

    def filt(x: np.ndarray, win: np.ndarray) -> np.ndarray:
        return np.einsum("ijuv,uv->ij", sliding_window_view(x, win.shape), win)

    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        r = (n - 1) / 2
        y, x = np.ogrid[-r : r + 1, -r : r + 1]
        h = np.exp(-(x * x + y * y) / (2 * (n / 5) ** 2))
        h[h < np.finfo(float).eps * h.max()] = 0
        win = h / h.sum()
        if scale > 1:
            ref, dist = filt(ref, win)[::2, ::2], filt(dist, win)[::2, ::2]
        mu1, mu2 = filt(ref, win), filt(dist, win)
        s1 = np.maximum(filt(ref * ref, win) - mu1**2, 0)
        s2 = np.maximum(filt(dist * dist, win) - mu2**2, 0)
        s12 = filt(ref * dist, win) - mu1 * mu2
        g = s12 / (s1 + 1e-10)
        sv = s2 - g * s12
        g[s1 < 1e-10], sv[s1 < 1e-10], s1[s1 < 1e-10] = 0, s2[s1 < 1e-10], 0
        g[s2 < 1e-10], sv[s2 < 1e-10] = 0, 0
        sv[g < 0], g[g < 0] = s2[g < 0], 0
        sv[sv <= 1e-10] = 1e-10
        num += np.sum(np.log10(1 + g * g * s1 / (sv + 2)))
        den += np.sum(np.log10(1 + s1 / 2))
    return 1.0 if np.isnan(num / den) else num / den


def test_vif_matches_brute_force_transcription(triplet) -> None:
    f, a, b = triplet
    assert vif(f, a, b) == pytest.approx(brute_vif(a, f) + brute_vif(b, f), rel=1e-9)


def brute_qabf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Xydeas-Petrovic Qabf with explicit loops for the Sobel 'same' convolution."""
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
    ky = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=float)

    def conv_same(img: np.ndarray, k: np.ndarray) -> np.ndarray:
        h, w = img.shape
        out = np.zeros_like(img)
        for i in range(h):
            for j in range(w):
                for u in range(3):
                    for v in range(3):
                        y, x = i + 1 - u, j + 1 - v  # convolution: flipped kernel
                        if 0 <= y < h and 0 <= x < w:
                            out[i, j] += k[u, v] * img[y, x]
        return out

    def edges(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sx, sy = conv_same(img, kx), conv_same(img, ky)
        ang = np.where(sx == 0, math.pi / 2, np.arctan(sy / np.where(sx == 0, 1, sx)))
        return np.hypot(sx, sy), ang

    (ga, aa), (gb, ab), (gf, af) = edges(a), edges(b), edges(f)

    def q(gx: np.ndarray, ax: np.ndarray) -> np.ndarray:
        out = np.zeros_like(gx)
        for idx in np.ndindex(gx.shape):
            x, y = gx[idx], gf[idx]
            g = y if x == y else min(x, y) / max(x, y)
            al = 1 - abs(ax[idx] - af[idx]) / (math.pi / 2)
            out[idx] = 0.9994 / (1 + math.exp(-15 * (g - 0.5))) * 0.9879 / (1 + math.exp(-22 * (al - 0.8)))
        return out

    return float(np.sum(q(ga, aa) * ga + q(gb, ab) * gb) / np.sum(ga + gb))


def test_qabf_matches_brute_force_and_is_symmetric() -> None:
    rng = np.random.default_rng(3)
    a, b = smooth_image(rng, (10, 13)), smooth_image(rng, (10, 13))
    f = np.round(0.7 * a + 0.3 * b)
    assert qabf(f, a, b) == pytest.approx(brute_qabf(f, a, b), rel=1e-12)
    assert qabf(f, a, b) == pytest.approx(qabf(f, b, a), rel=1e-12)
    assert 0.0 < qabf(f, a, b) < 1.0


def brute_qcb(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """VIFB's metricsQcb.m with numpy's FFT and full 31 x 31 sliding-window correlation."""
    yy, xx = np.mgrid[-15:16, -15:16]

    def contrast(img: np.ndarray) -> np.ndarray:
        x = normalize255(img)
        h, w = x.shape
        fu, fv = (np.arange(w) - w // 2) * (2 / w), (np.arange(h) - h // 2) * (2 / h)
        u, v = np.meshgrid(w / 30 * fu, h / 30 * fv)
        r = np.sqrt(u**2 + v**2)
        s = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))
        xc = np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(x)) * s))
        xp = np.pad(xc, 15)
        win = sliding_window_view(xp, (31, 31))
        g1 = np.exp(-(xx**2 + yy**2) / 8) / (8 * np.pi)
        g2 = np.exp(-(xx**2 + yy**2) / 32) / (32 * np.pi)
        c = np.abs(np.einsum("ijuv,uv->ij", win, g1) / np.einsum("ijuv,uv->ij", win, g2) - 1)
        return c**3 / (c**2 + 1e-4)

    ca, cb, cf = contrast(a), contrast(b), contrast(f)
    qa = np.where(ca < cf, ca / cf, cf / ca)
    qb = np.where(cb < cf, cb / cf, cf / cb)
    return float(np.mean((ca**2 * qa + cb**2 * qb) / (ca**2 + cb**2)))


def test_qcb_matches_brute_force_transcription(triplet) -> None:
    f, a, b = triplet
    assert qcb(f, a, b) == pytest.approx(brute_qcb(f, a, b), rel=1e-9)


def test_to_gray_u8_is_opencv_fixed_point() -> None:
    import cv2

    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    np.testing.assert_array_equal(to_gray_u8(rgb), (9798 * r + 19235 * g + 3735 * b + 16384) >> 15)
    # OpenCV's weights since at least 4.5.5 (checked on all 2^24 colours with 4.5.5, 4.8, 4.10-4.12, 5.1;
    # tests/test_readers.py): the 14-bit 4899 / 9617 / 1868 often quoted differ on 0.26 % of colours.
    opencv = cv2.cvtColor(np.ascontiguousarray(rgb[..., ::-1]), cv2.COLOR_BGR2GRAY).astype(np.float64)
    np.testing.assert_array_equal(to_gray_u8(rgb), opencv)
    grey = np.repeat(rng.integers(0, 256, (32, 32, 1), dtype=np.uint8), 3, axis=2)
    np.testing.assert_array_equal(to_gray_u8(grey), cv2.cvtColor(grey, cv2.COLOR_BGR2GRAY))
    with pytest.raises(ValueError, match="uint8"):
        to_gray_u8(rgb.astype(np.float32))
    with pytest.raises(ValueError, match="alpha"):
        to_gray_u8(np.zeros((4, 4, 4), np.uint8))
