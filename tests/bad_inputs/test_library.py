"""Bad-input catalogue, library boundary: metrics, thresholds and classical solvers.

Each case asserts the exception type and that the message names the problem, or, for a metric on a
degenerate image, the documented value: a finite value, or NaN with a ``RuntimeWarning`` naming the
metric and why (the table in ``docs/conventions.md``, section Metrics).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch

from lzsc.metrics import (
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
from lzsc.operators import ConvDictionary
from lzsc.problems import random_conv_problem, random_sparse_problem
from lzsc.solvers import fista, iht, ista, momentum_iht, niht
from lzsc.thresholds import (
    HardThreshold,
    SigmoidalThreshold,
    SoftThreshold,
    hard_threshold,
    sigmoidal_threshold,
    soft_threshold,
    threshold,
)

SIDE = 48  # above VIF's 41 x 41 minimum


def textured(seed: int, lo: float = 0.0, hi: float = 255.0) -> np.ndarray:
    """An integer-valued image in lo..hi: a gradient plus noise plus a bright square."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    img = (x + y) / (2 * SIDE) + 0.3 * rng.random((SIDE, SIDE))
    img[10:25, 15:30] += 0.7
    img = (img - img.min()) / (img.max() - img.min())
    return np.round(lo + (hi - lo) * img)


A, B = textured(0), textured(1, 10.0, 240.0)
F = np.round((A + B) / 2)


def const(value: float) -> np.ndarray:
    return np.full((SIDE, SIDE), value)


def nan_with_warning(call: Callable[[], float], match: str) -> None:
    """``call()`` is NaN, one of its warnings matches ``match``, and all point at this file (the caller)."""
    with pytest.warns(RuntimeWarning) as record:
        value = call()
    assert math.isnan(value)
    messages = [str(w.message) for w in record]
    assert any(re.search(match, m) for m in messages), messages
    assert all(w.filename == __file__ for w in record), [w.filename for w in record]


# --- 1. metrics on degenerate images -------------------------------------------------------------


@pytest.mark.parametrize("level", [0.0, 128.0, 255.0], ids=["black", "grey", "white"])
def test_constant_fused_image_never_ranks_as_best(level: float) -> None:
    f = const(level)
    # CE was <= 0 (the best score); now NaN with a warning per source
    nan_with_warning(lambda: ce(f, A, B), r"CE\(A, F\) is undefined \(NaN\): F is constant")
    nan_with_warning(lambda: ce_pair(A, f), r"CE\(X, F\).*F is constant")
    with pytest.warns(RuntimeWarning, match="CE"):
        values = compute_all(f, A, B)
    assert math.isnan(values["CE"])
    # the documented finite values: the lowest ones (nothing of the sources kept)
    for name in ("EN", "SD", "SF", "AG", "MI", "VIF"):
        assert values[name] == 0.0, name
        assert math.copysign(1.0, values[name]) == 1.0, name  # +0.0, not -0.0
    assert values["SCD"] == pytest.approx(-2 * np.corrcoef(A.ravel(), B.ravel())[0, 1])
    assert 0.0 <= values["Qcb"] < 0.01
    assert values["Qabf"] < 0.2
    assert 0.0 <= values["SSIM"] < 1.0


def test_constant_source_is_not_perfectly_preserved() -> None:
    flat = const(100.0)
    # VIF(A -> F) was 1 (0 / 0 -> 1), scoring a constant source as perfectly kept
    nan_with_warning(lambda: vif(F, flat, B), r"VIF\(A -> F\) is undefined \(NaN\): A is constant")
    nan_with_warning(lambda: vif_pair(flat, F), r"VIF\(ref -> dist\).*ref is constant")
    # a constant source against a textured F: finite, by formula
    assert mi_pair(flat, F) == 0.0
    assert ce_pair(flat, F) == pytest.approx(-math.log2(np.mean(F == 100.0)))
    assert math.isfinite(qabf(F, flat, B))
    assert math.isfinite(qcb(F, flat, B))
    assert scd(F, flat, B) == pytest.approx(np.corrcoef(B.ravel(), (F - flat).ravel())[0, 1])
    # no shared grey level: CE was 0 (an empty sum); now NaN
    nan_with_warning(lambda: ce_pair(const(3.0), F), "share no grey level")


@pytest.mark.parametrize("level", [0.0, 128.0])
def test_two_constant_sources_leave_nothing_to_preserve(level: float) -> None:
    flat = const(level)
    # Qabf was 0.975 for a constant non-zero F = A = B (zero-padding edges), NaN without a warning for 0
    nan_with_warning(lambda: qabf(flat, flat, flat), "Qabf is undefined .*both sources are constant")
    nan_with_warning(lambda: qabf(F, flat, flat), "Qabf")
    # Qcb was 1 (F flat too) or 0 (F textured)
    nan_with_warning(lambda: qcb(flat, flat, flat), "Qcb is undefined.*neither source has any contrast")
    nan_with_warning(lambda: qcb(F, flat, flat), "Qcb")
    with pytest.warns(RuntimeWarning) as record:
        values = compute_all(flat, flat, flat)
    assert {str(w.message).split(" is undefined")[0] for w in record} == {
        "VIF(A -> F)",
        "VIF(B -> F)",
        "Qabf",
        "Qcb",
    }
    assert all(math.isnan(values[n]) for n in ("VIF", "Qabf", "Qcb"))
    # identical constant images: the formulas' (right) values
    assert values["CE"] == 0.0
    assert values["MI"] == 0.0
    assert values["SCD"] == 0.0
    assert values["SSIM"] == pytest.approx(2.0)


def test_fused_equal_to_a_source_and_normal_images_give_finite_values_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normal = compute_all(F, A, B)
        same = compute_all(A, A, B)
        assert ce_pair(A, A) == 0.0
        assert vif_pair(A, A) == pytest.approx(1.0)
        assert ssim_pair(A, A) == pytest.approx(1.0)
        assert mi_pair(A, A) == pytest.approx(en(A) * math.log(2))
        assert ce(const(7.0), const(7.0), const(7.0)) == 0.0
    assert all(math.isfinite(v) for v in normal.values())
    assert all(math.isfinite(v) for v in same.values())


# --- 2. metrics on inputs outside the contract ---------------------------------------------------

TRIPLET_METRICS: dict[str, Callable[..., float]] = {
    "compute_all": compute_all,
    "mi": mi,
    "ce": ce,
    "scd": scd,
    "vif": vif,
    "qabf": qabf,
    "qcb": qcb,
    "ssim": ssim,
}
PAIR_METRICS: dict[str, Callable[..., float]] = {
    "mi_pair": mi_pair,
    "ce_pair": ce_pair,
    "ssim_pair": ssim_pair,
    "vif_pair": vif_pair,
}
SINGLE_METRICS: dict[str, Callable[..., float]] = {"en": en, "sd": sd, "sf": sf, "ag": ag}
ALL_METRICS = {**TRIPLET_METRICS, **PAIR_METRICS, **SINGLE_METRICS}


def call_metric(name: str, f: object) -> object:
    """The metric ``name`` with ``f`` as F (or X) and the good images as the other arguments."""
    fn = ALL_METRICS[name]
    if name in TRIPLET_METRICS:
        return fn(f, A, B)
    if name in PAIR_METRICS:
        return fn(f, A)
    return fn(f)


BAD_IMAGES = {
    "unit-range": (F / 255.0, r"looks like \[0, 1\] data; multiply by 255"),
    "unit-range-tensor": (torch.from_numpy(F / 255.0).float(), r"looks like \[0, 1\] data"),
    "nan": (np.where(F > 100, np.nan, F), "NaN or infinite"),
    "inf": (np.where(F > 100, np.inf, F), "NaN or infinite"),
    "negative": (F - 128.0, "0..255"),
    "above-255": (F + 128.0, "0..255"),
    "3-d": (np.stack([F, F, F], axis=-1), "2-D grey image"),
    "batched-tensor": (torch.from_numpy(F)[None, None], "2-D grey image"),
    "other-shape": (F[:, :-1], "same shape"),
}


@pytest.mark.parametrize("metric", list(ALL_METRICS))
@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_metrics_refuse_inputs_outside_their_contract(metric: str, case: str) -> None:
    image, message = BAD_IMAGES[case]
    if metric in SINGLE_METRICS and case == "other-shape":
        image, message = F[None], "2-D grey image"  # one image: no shape to compare, a wrong rank
    with pytest.raises(ValueError, match=message):
        call_metric(metric, image)


def test_dark_8bit_images_are_not_taken_for_unit_range_data() -> None:
    dark = (A > 128).astype(np.float64)  # levels 0 and 1 only: a legitimate (if dark) 8-bit image
    assert en(dark) == pytest.approx(en(np.where(dark > 0, 255.0, 0.0)))
    assert math.isfinite(mi(dark, A, B))
    assert en(torch.from_numpy(dark).to(torch.uint8)) == en(dark)


# --- 3. thresholds -------------------------------------------------------------------------------

X = torch.linspace(-2, 2, 41)
THRESHOLDS: dict[str, Callable[[torch.Tensor, object], torch.Tensor]] = {
    "hard": hard_threshold,
    "soft": soft_threshold,
    "sigmoidal": sigmoidal_threshold,
    "threshold(sigmoidal)": lambda x, theta: threshold("sigmoidal", x, theta),
}


@pytest.mark.parametrize("fn", list(THRESHOLDS))
@pytest.mark.parametrize("theta", [math.nan, math.inf, -0.5])
@pytest.mark.parametrize("as_tensor", [False, True], ids=["number", "cpu-tensor"])
def test_thresholds_refuse_bad_cutoffs(fn: str, theta: float, as_tensor: bool) -> None:
    value = torch.tensor([0.1, theta]) if as_tensor else theta
    with pytest.raises(ValueError, match=r"theta is a cut-off on \|x\| and must be (a )?finite"):
        THRESHOLDS[fn](X, value)


@pytest.mark.parametrize("module", [HardThreshold, SoftThreshold, SigmoidalThreshold])
@pytest.mark.parametrize("theta", [math.nan, math.inf, -0.5])
def test_threshold_modules_refuse_bad_cutoffs(module: type, theta: float) -> None:
    with pytest.raises(ValueError, match="theta is a cut-off"):
        module(theta=theta)


@pytest.mark.parametrize("gamma", [math.nan, math.inf, 0.0])
def test_sigmoidal_threshold_refuses_bad_gamma(gamma: float) -> None:
    for call in (
        lambda: sigmoidal_threshold(X, 0.1, 0.1, gamma),
        lambda: threshold("sigmoidal", X, 0.1, 0.1, gamma),
        lambda: SigmoidalThreshold(0.1, 0.1, gamma),
    ):
        with pytest.raises(ValueError, match=r"gamma .* must be a finite number > 0"):
            call()
    with pytest.raises(ValueError, match="alpha must lie in"):
        threshold("sigmoidal", X, 0.1, alpha=2.0)  # was accepted silently through threshold()


def test_learned_theta_is_not_inspected_in_the_hot_path() -> None:
    # a theta that requires grad (or lives on an accelerator) is never read back to the host
    theta = torch.tensor([math.nan], requires_grad=True)
    assert torch.isnan(soft_threshold(X, theta)).any()
    with pytest.raises(TypeError, match="number or a tensor"):
        hard_threshold(X, "0.1")


# --- 4. classical solvers ------------------------------------------------------------------------

D_GOOD, _, X_GOOD = random_sparse_problem(8, 16, 2, batch=2)
SOLVERS: dict[str, Callable[..., object]] = {
    "iht": lambda D, x, **kw: iht(D, x, 0.05, 3, **kw),
    "niht": lambda D, x, **kw: niht(D, x, sparsity=2, n_iter=3, **kw),
    "momentum_iht": lambda D, x, **kw: momentum_iht(D, x, 0.05, 3, **kw),
    "ista": lambda D, x, **kw: ista(D, x, 0.05, 3, **kw),
    "fista": lambda D, x, **kw: fista(D, x, 0.05, 3, **kw),
}
FIXED_STEP = ["iht", "momentum_iht", "ista", "fista"]


@pytest.mark.parametrize("solver", FIXED_STEP)
@pytest.mark.parametrize("step", [math.inf, math.nan, 0.0, -1.0])
def test_solvers_refuse_bad_steps(solver: str, step: float) -> None:
    # step=inf used to run and return NaN codes
    with pytest.raises(ValueError, match="step must be a finite number > 0"):
        SOLVERS[solver](D_GOOD, X_GOOD, step=step)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_solvers_refuse_a_zero_dictionary(solver: str) -> None:
    # the default step raised ZeroDivisionError; NIHT returned z = 0 silently
    with pytest.raises(ValueError, match="D is all zeros"):
        SOLVERS[solver](torch.zeros(8, 16, dtype=torch.float64), X_GOOD)
    conv = ConvDictionary(torch.zeros(1, 2, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="D is all zeros"):
        SOLVERS[solver](conv, torch.ones(1, 1, 6, 6, dtype=torch.float64))


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_solvers_refuse_non_finite_inputs(solver: str) -> None:
    bad_d = D_GOOD.weight.clone()
    bad_d[0, 0] = math.nan
    with pytest.raises(ValueError, match="D has 1 NaN or infinite"):
        SOLVERS[solver](bad_d, X_GOOD)
    bad_x = X_GOOD.clone()
    bad_x[1, 2] = math.inf
    with pytest.raises(ValueError, match="x has 1 NaN or infinite"):
        SOLVERS[solver](D_GOOD, bad_x)
    with pytest.raises(ValueError, match="z0 has 32 NaN or infinite"):
        SOLVERS[solver](D_GOOD, X_GOOD, z0=torch.full((2, 16), math.nan, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"z0 must be a torch\.Tensor"):
        SOLVERS[solver](D_GOOD, X_GOOD, z0=[0.0] * 16)


def test_solvers_refuse_bad_weights_and_schedules() -> None:
    for lam in (math.nan, math.inf, -1.0):
        for solver in (iht, ista, fista):
            with pytest.raises(ValueError, match="lam is a regularisation weight"):
                solver(D_GOOD, X_GOOD, lam, 3)
    with pytest.raises(ValueError, match=r"rho\(0\) = nan"):
        fista(D_GOOD, X_GOOD, 0.05, 3, rho=lambda k: math.nan)
    with pytest.raises(ValueError, match="finite kappa"):
        niht(D_GOOD, X_GOOD, sparsity=2, kappa=math.inf)
    with pytest.raises(TypeError, match="step must be a number or None"):
        iht(D_GOOD, X_GOOD, 0.05, 3, step="0.1")
    with pytest.raises(ValueError, match=r"estimate of \|\|D\|\|\^2"):
        iht(D_GOOD.weight * 1e160, X_GOOD, 0.05, 3)  # ||D||^2 overflows: the step would be 0


@pytest.mark.parametrize("noise", [math.nan, math.inf, -0.1])
def test_problem_generators_refuse_bad_noise(noise: float) -> None:
    # a NaN noise level used to give an all-NaN signal
    with pytest.raises(ValueError, match="noise is a standard deviation"):
        random_sparse_problem(8, 16, 2, noise=noise)
    with pytest.raises(ValueError, match="noise is a standard deviation"):
        random_conv_problem(size=16, noise=noise)
