"""Training losses: stage I (eq. 25) and stage II (eq. 26), checked against hand computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kornia.filters import spatial_gradient
from kornia.metrics import ssim as kornia_ssim

from lzsc.training.losses import (
    FusionLoss,
    ReconstructionLoss,
    fusion_loss,
    gaussian_window,
    gradient_weights,
    reconstruction_loss,
    sobel_magnitude,
    ssim,
    ssim_map,
)


def images(n: int = 2, size: int = 12, seed: int = 0, dtype=torch.float32) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 1, size, size, generator=g, dtype=dtype) for _ in range(3)]


class TestSobel:
    def test_matches_hand_convolution_with_zero_padding(self):
        x = images()[0]
        kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        padded = F.pad(x, (1, 1, 1, 1))
        gx = sum(kx[i, j] * padded[..., i : i + 12, j : j + 12] for i in range(3) for j in range(3))
        gy = sum(kx.t()[i, j] * padded[..., i : i + 12, j : j + 12] for i in range(3) for j in range(3))
        torch.testing.assert_close(sobel_magnitude(x), gx.abs() + gy.abs())

    def test_kornia_agrees_inside_but_pads_by_replication(self):
        x = images()[0]
        g = spatial_gradient(x, normalized=False)
        ref = g[:, :, 0].abs() + g[:, :, 1].abs()
        ours = sobel_magnitude(x)
        torch.testing.assert_close(ours[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1])
        assert not torch.allclose(ours[..., 0, :], ref[..., 0, :])

    def test_ramp_value(self):
        x = torch.arange(5.0).repeat(5, 1).view(1, 1, 5, 5)  # slope 1 along x
        assert sobel_magnitude(x)[0, 0, 2, 2] == 8.0


class TestSSIM:
    def test_identical_images_score_one(self):
        x = images()[0]
        torch.testing.assert_close(ssim(x, x), torch.tensor(1.0))

    def test_window_is_normalised_gaussian(self):
        g = gaussian_window(11, 1.5, dtype=torch.float64)
        assert g.shape == (11,)
        torch.testing.assert_close(g.sum(), torch.tensor(1.0, dtype=torch.float64))
        assert g[5] == g.max()
        assert torch.equal(g, g.flip(0))

    def test_kornia_agrees_inside_but_pads_by_reflection(self):
        x, y, _ = images(size=32, dtype=torch.float64)
        ours = ssim_map(x, y)
        ref = kornia_ssim(x, y, 11, eps=0.0)
        torch.testing.assert_close(ours[..., 5:-5, 5:-5], ref[..., 5:-5, 5:-5])
        assert not torch.allclose(ours[..., 0, :], ref[..., 0, :])

    def test_hand_value_of_constant_images(self):
        # constant images: sigma terms vanish inside, SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
        x = torch.full((1, 1, 23, 23), 0.2, dtype=torch.float64)
        y = torch.full((1, 1, 23, 23), 0.6, dtype=torch.float64)
        expect = (2 * 0.2 * 0.6 + 1e-4) / (0.2**2 + 0.6**2 + 1e-4)
        torch.testing.assert_close(ssim_map(x, y)[0, 0, 11, 11].item(), expect)

    def test_identical_constant_images_score_one_at_the_border_too(self):
        x = torch.full((1, 1, 23, 23), 0.5)
        m = ssim_map(x, x * 0 + 0.5)
        torch.testing.assert_close(m, torch.ones_like(m))


class TestGradientWeights:
    def test_sum_to_one_and_are_scalars(self):
        a, b, _ = images()
        w_a, w_b = gradient_weights(a, b)
        assert w_a.shape == ()
        assert w_b.shape == ()
        torch.testing.assert_close(w_a + w_b, torch.tensor(1.0))

    def test_hand_value(self):
        a, b, _ = images()
        sa, sb = sobel_magnitude(a).mean(), sobel_magnitude(b).mean()
        torch.testing.assert_close(gradient_weights(a, b)[0], sa / (sa + sb))
        torch.testing.assert_close(gradient_weights(a, torch.zeros_like(b))[0], torch.tensor(1.0))

    def test_flat_images_split_evenly(self):
        z = torch.full((1, 1, 8, 8), 0.3)
        assert gradient_weights(z, z)[0].item() == 0.5


class TestFusionLoss:
    def test_hand_values_on_tiny_tensors(self):
        a = torch.zeros(1, 1, 3, 3)
        b = torch.zeros(1, 1, 3, 3)
        a[0, 0, 1, 1] = 1.0
        f = torch.zeros(1, 1, 3, 3)
        out = fusion_loss(f, a, b, w_int=1.0, w_grad=0.0, w_ssim=0.0)
        torch.testing.assert_close(out.parts["int"], torch.tensor(1 / 9))
        # S(a) of a centred impulse: the taps of |Sobel_x| + |Sobel_y|, [[2, 2, 2], [2, 0, 2], [2, 2, 2]];
        # mean 16/9
        out = fusion_loss(f, a, b, w_int=0.0, w_grad=1.0, w_ssim=0.0)
        torch.testing.assert_close(out.parts["grad"], torch.tensor(16 / 9))
        torch.testing.assert_close(out.total, torch.tensor(16 / 9))
        assert out.parts["w_a"].item() == 1.0

    def test_total_is_the_weighted_sum(self):
        f, a, b = images()
        out = fusion_loss(f, a, b)
        p = out.parts
        torch.testing.assert_close(out.total, 20 * p["int"] + 20 * p["grad"] + 15 * (1 - p["ssim_w"]))
        ssim_w = p["w_a"] * ssim(a, f) + (1 - p["w_a"]) * ssim(b, f)
        torch.testing.assert_close(p["ssim_w"], ssim_w)

    def test_zero_terms_when_fused_is_the_max_of_identical_sources(self):
        a = images()[0]
        out = fusion_loss(a.clone(), a, a)
        assert out.parts["int"] == 0
        assert out.parts["grad"] == 0
        torch.testing.assert_close(out.total, torch.tensor(0.0), atol=1e-6, rtol=0)

    @pytest.mark.parametrize("drop", ["w_int", "w_grad", "w_ssim"])
    def test_ablation_weights_drop_a_term(self, drop):
        f, a, b = images()
        weights = {"w_int": 20.0, "w_grad": 20.0, "w_ssim": 15.0, drop: 0.0}
        out = fusion_loss(f, a, b, **weights)
        p = out.parts
        terms = {"w_int": p["int"], "w_grad": p["grad"], "w_ssim": 1 - p["ssim_w"]}
        torch.testing.assert_close(out.total, sum(weights[k] * terms[k] for k in terms))
        assert FusionLoss(**weights)(f, a, b).total == out.total

    def test_gradcheck_float64(self):
        f, a, b = images(n=1, size=6, dtype=torch.float64)
        f.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda t: fusion_loss(t, a, b).total, (f,), fast_mode=True)

    def test_bad_inputs(self):
        f, a, b = images()
        with pytest.raises(ValueError, match="equal shapes"):
            fusion_loss(f, a, b[..., :-1])
        with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
            fusion_loss(f[:, 0], a, b)
        with pytest.raises(ValueError, match="weight"):
            fusion_loss(f, a, b, w_int=-1.0)


class TestReconstructionLoss:
    def test_zero_when_reconstructions_are_exact(self):
        _, a, b = images()
        out = reconstruction_loss(a.clone(), b.clone(), a, b)
        assert out.total == 0
        assert all(v == 0 for v in out.parts.values())

    def test_hand_value_with_normalised_sobel(self):
        a = torch.zeros(1, 1, 3, 3)
        b = torch.zeros(1, 1, 3, 3)
        a_rec = torch.zeros(1, 1, 3, 3)
        a_rec[0, 0, 1, 1] = 1.0
        out = reconstruction_loss(a_rec, b, a, b)
        torch.testing.assert_close(out.parts["int_a"], torch.tensor(1 / 9))
        # normalised Sobel of a centred impulse: the |taps| (1/8, 2/8, 1/8 twice) sum to 1 per direction,
        # over 2 x 9 values
        torch.testing.assert_close(out.parts["grad_a"], torch.tensor(2 / 18))
        torch.testing.assert_close(out.total, torch.tensor(1 / 9 + 2 / 18))
        assert out.parts["int_b"] == 0
        assert out.parts["grad_b"] == 0

    def test_weights_and_module(self):
        x, a, b = images()
        out = ReconstructionLoss(w_int=2.0, w_grad=0.5)(x, x, a, b)
        p = out.parts
        torch.testing.assert_close(
            out.total, 2.0 * (p["int_a"] + p["int_b"]) + 0.5 * (p["grad_a"] + p["grad_b"])
        )
        assert set(out.as_floats()) == {"loss", "int_a", "grad_a", "int_b", "grad_b"}

    def test_gradcheck_float64(self):
        x, a, b = images(n=1, size=5, dtype=torch.float64)
        y = x.flip(-1).clone().requires_grad_(True)
        x.requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda p, q: reconstruction_loss(p, q, a, b).total, (x, y), fast_mode=True
        )


class TestKernelsBuiltOnce:
    """Stage I's gradient is kornia's, bitwise, with its kernel built once per device and dtype (a kernel
    built from Python numbers at every step would synchronise every GPU step)."""

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_spatial_gradient_is_kornias(self, dtype):
        import kornia

        from lzsc.training.losses import spatial_gradient

        x = torch.rand(3, 2, 17, 23, dtype=dtype)
        assert torch.equal(spatial_gradient(x), kornia.filters.spatial_gradient(x, "sobel", normalized=True))

    def test_kernels_are_reused(self):
        from lzsc.training.losses import _kernels, sobel_magnitude, spatial_gradient

        x = torch.rand(2, 1, 9, 9)
        sobel_magnitude(x)
        spatial_gradient(x)
        before = _kernels.cache_info()
        sobel_magnitude(x)
        spatial_gradient(x)
        after = _kernels.cache_info()
        assert after.misses == before.misses
        assert after.hits == before.hits + 2
        assert not any(k.requires_grad for k in _kernels(x.device, x.dtype))
