"""Fusion metrics: defining properties, the all-in-one call, protocols and input checks.

Agreement with independent references is in test_metrics_reference.py, real-data tests are in
test_metrics_data.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from lzsc.metrics import (
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    PROTOCOLS,
    ag,
    ce,
    ce_pair,
    compute_all,
    en,
    mi,
    mi_pair,
    qabf,
    qcb,
    scd,
    sd,
    sf,
    ssim,
    ssim_pair,
    vif,
    vif_pair,
)
from lzsc.metrics.chen_blum import csf_filter
from lzsc.metrics.visual_fidelity import gaussian_window


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


# --- single-image metrics ------------------------------------------------------------------------


def test_en_of_uniform_histogram_is_8_bits_and_constant_is_0() -> None:
    img = np.tile(np.arange(256.0), (16, 1))
    assert en(img) == pytest.approx(8.0, abs=1e-12)
    assert en(np.full((8, 8), 17.0)) == 0.0


def test_sd_is_population_std(triplet) -> None:
    f = triplet[0]
    assert sd(f) == pytest.approx(math.sqrt(((f - f.mean()) ** 2).mean()), rel=1e-12)


# --- histogram metrics ---------------------------------------------------------------------------


def test_mi_of_image_with_itself_is_its_entropy_in_nats(triplet) -> None:
    a = triplet[1]
    assert mi_pair(a, a) == pytest.approx(en(a) * math.log(2), rel=1e-12)


def test_ce_definition_and_reductions(triplet) -> None:
    f, a, b = triplet
    assert ce_pair(a, a) == 0.0
    assert ce(a, a, a) == 0.0

    def brute(x: np.ndarray, y: np.ndarray) -> float:  # VIFB's loop over the 256 bins
        total = 0.0
        for k in range(256):
            p, q = np.mean(x == k), np.mean(y == k)
            if p > 0 and q > 0:
                total += p * math.log2(p / q)
        return total

    assert ce_pair(a, f) == pytest.approx(brute(a, f), rel=1e-12)
    assert ce(f, a, b) == pytest.approx((brute(a, f) + brute(b, f)) / 2, rel=1e-12)
    assert ce(f, a, b, reduction="sum") == pytest.approx(2 * ce(f, a, b), rel=1e-12)
    assert ce(f, a, b) == pytest.approx(ce(f, b, a), rel=1e-12)


# --- SSIM and SCD --------------------------------------------------------------------------------


def test_ssim_of_identical_images_is_one_per_source(triplet) -> None:
    f, a, b = triplet
    assert ssim_pair(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, a, a) == pytest.approx(2.0, abs=1e-12)
    assert ssim(a, a, b) == pytest.approx(1.0 + ssim_pair(a, b), abs=1e-12)
    assert ssim(f, a, b) == pytest.approx(ssim(f, b, a), rel=1e-12)


def test_scd_reaches_2_when_differences_are_the_sources() -> None:
    rng = np.random.default_rng(2)
    a, b = smooth_image(rng, (40, 40), 0, 127), smooth_image(rng, (40, 40), 0, 127)
    assert scd(a + b, a, b) == pytest.approx(2.0, abs=1e-12)


def test_scd_for_fused_equal_to_one_source(triplet) -> None:
    _, a, b = triplet
    # F = A: corr(B, F - A) is a correlation with the zero image, defined as 0.
    assert scd(a, a, b) == pytest.approx(np.corrcoef(a.ravel(), (a - b).ravel())[0, 1], rel=1e-12)
    assert scd(b, a, b) == pytest.approx(np.corrcoef(b.ravel(), (b - a).ravel())[0, 1], rel=1e-12)
    f = triplet[0]
    assert scd(f, a, b) == pytest.approx(scd(f, b, a), rel=1e-12)


# --- VIF -----------------------------------------------------------------------------------------


def test_vif_window_is_matlab_gaussian_and_separable() -> None:
    for n in (17, 9, 5, 3):
        r = (n - 1) / 2
        y, x = np.ogrid[-r : r + 1, -r : r + 1]
        h = np.exp(-(x * x + y * y) / (2 * (n / 5) ** 2))
        assert h.min() > np.finfo(float).eps * h.max()  # MATLAB's cut never applies
        g = gaussian_window(n)
        np.testing.assert_allclose(np.outer(g, g), h / h.sum(), rtol=1e-14)


def test_vif_identity_attenuation_and_degenerate_cases(triplet) -> None:
    _, a, b = triplet
    assert vif_pair(a, a) == pytest.approx(1.0, abs=1e-9)
    assert vif(a, a, b) == pytest.approx(1.0 + vif_pair(b, a), abs=1e-9)
    assert vif(b, a, b) == pytest.approx(vif_pair(a, b) + 1.0, abs=1e-9)
    assert vif_pair(a, a / 2) < 1.0
    assert vif_pair(a, np.full_like(a, 100.0)) == 0.0  # nothing of A left
    with pytest.warns(RuntimeWarning, match="ref is constant"):  # 0 / 0: the reference code says 1
        assert math.isnan(vif_pair(np.full_like(a, 100.0), a))


# --- Qabf ----------------------------------------------------------------------------------------


def test_qabf_without_source_edges_is_nan() -> None:
    black = np.zeros((8, 8))  # a constant non-zero image has edges at the zero-padded border
    with pytest.warns(RuntimeWarning, match="Qabf"):
        assert math.isnan(qabf(black, black, black))


# --- Qcb -----------------------------------------------------------------------------------------


def test_qcb_csf_grid_is_matlab_freqspace() -> None:
    s = csf_filter((4, 6))
    # freqspace: f = ((0:n-1) - floor(n/2)) * 2/n, so the DC (S = 1 - 0.7622) sits at (2, 3)
    assert s[2, 3] == pytest.approx(1 - 0.7622, abs=1e-15)
    assert np.unravel_index(np.argmin(s), s.shape) == (2, 3)


def test_qcb_identity_symmetry_and_zero_guards(triplet) -> None:
    f, a, b = triplet
    assert qcb(a, a, a) == pytest.approx(1.0, abs=1e-12)
    assert qcb(f, a, b) == pytest.approx(qcb(f, b, a), rel=1e-10)
    assert 0.0 < qcb(f, a, b) < 1.0
    # constant sources: no contrast anywhere (0 / 0 everywhere in MATLAB), nothing to preserve -> NaN
    flat, zero = np.full_like(a, 80.0), np.zeros_like(a)
    with pytest.warns(RuntimeWarning, match="Qcb"):
        assert math.isnan(qcb(flat, flat, zero))
    # F without contrast where the sources have some -> 0 there, never NaN
    value = qcb(zero, a, b)
    assert 0.0 <= value < 0.01


# --- all-in-one, protocols, inputs ---------------------------------------------------------------


def test_compute_all_equals_individual_functions(triplet) -> None:
    rng = np.random.default_rng(4)
    a, b = smooth_image(rng, (48, 56)), smooth_image(rng, (48, 56), 20, 200)
    f = np.round(0.6 * a + 0.4 * b)
    expected = {
        "EN": en(f),
        "SD": sd(f),
        "SF": sf(f),
        "AG": ag(f),
        "MI": mi(f, a, b),
        "SCD": scd(f, a, b),
        "VIF": vif(f, a, b),
        "Qabf": qabf(f, a, b),
        "Qcb": qcb(f, a, b),
    }
    for protocol, data_range, reduction in (("default", 255.0, "mean"), ("paper", 2.0, "sum")):
        got = compute_all(f, a, b, protocol=protocol)
        assert tuple(got) == METRIC_NAMES
        assert all(isinstance(v, float) for v in got.values())
        want = {**expected, "CE": ce(f, a, b, reduction=reduction), "SSIM": ssim(f, a, b, data_range)}
        for name in METRIC_NAMES:
            assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-14), name


def test_metric_tables() -> None:
    assert len(METRIC_NAMES) == 11
    assert set(HIGHER_IS_BETTER) == set(METRIC_NAMES)
    assert [n for n, up in HIGHER_IS_BETTER.items() if not up] == ["CE"]
    assert set(PROTOCOLS) == {"default", "paper"}
    assert all(isinstance(v, str) and v for v in PROTOCOLS.values())


def test_dtypes_and_tensors_agree(triplet) -> None:
    f, a, b = triplet
    reference = compute_all(f, a, b)
    for convert in (
        lambda x: x.astype(np.float32),
        lambda x: x.astype(np.uint8),
        torch.from_numpy,
        lambda x: torch.from_numpy(x).float(),
        lambda x: torch.from_numpy(x).to(torch.bfloat16),
    ):
        got = compute_all(convert(f), convert(a), convert(b))
        for name in METRIC_NAMES:
            assert got[name] == pytest.approx(reference[name], rel=1e-12, abs=1e-14), name


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ((np.zeros((50, 50)), np.zeros((50, 50)), np.zeros((50, 51))), "same shape"),
        ((np.zeros((50, 50, 3)), np.zeros((50, 50, 3)), np.zeros((50, 50, 3))), "2-D"),
        ((np.full((50, 50), np.nan), np.zeros((50, 50)), np.zeros((50, 50))), "NaN"),
        ((np.zeros((50, 50)), np.full((50, 50), np.inf), np.zeros((50, 50))), "infinite"),
        ((np.full((50, 50), -1.0), np.zeros((50, 50)), np.zeros((50, 50))), "0..255"),
        ((np.zeros((50, 50)), np.full((50, 50), 256.0), np.zeros((50, 50))), "multiply by 255"),
        ((torch.zeros(50, 50, dtype=torch.bool), np.zeros((50, 50)), np.zeros((50, 50))), "dtype"),
        ((np.zeros((50, 50), complex), np.zeros((50, 50)), np.zeros((50, 50))), "dtype"),
        ((np.zeros((30, 30)), np.zeros((30, 30)), np.zeros((30, 30))), "at least 41"),
    ],
)
def test_bad_inputs_raise_with_a_message(images, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_all(*images)


def test_bad_options_and_types_raise() -> None:
    img = np.zeros((50, 50))
    with pytest.raises(ValueError, match="protocol"):
        compute_all(img, img, img, protocol="cddfuse")
    with pytest.raises(ValueError, match="reduction"):
        ce(img, img, img, reduction="max")
    with pytest.raises(ValueError, match="data_range"):
        ssim(img, img, img, data_range=0)
    with pytest.raises(TypeError, match="numpy array"):
        en([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="2-D"):
        en(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="same shape"):
        mi_pair(np.zeros((4, 4)), np.zeros((4, 5)))
