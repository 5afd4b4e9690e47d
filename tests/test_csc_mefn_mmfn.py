"""CSC-MEFN and CSC-MMFN: the DCU options they need, the colour transform, the stretch and the guided
filter against independent computations, the key renaming, bad inputs, and the released weights
against numbers computed by running the release's own ``test.py`` files."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from lzsc.checkpoints import CheckpointError, read_checkpoint
from lzsc.methods.csc_mefn import (
    CSCMEFN,
    chroma_weights,
    fuse_exposure_folder,
    fuse_exposures,
    load_csc_mefn,
    official_to_lzsc_mefn,
    rgb_to_ycbcr,
    stretch_release,
    ycbcr_to_rgb,
)
from lzsc.methods.csc_mmfn import (
    CSCMMFN,
    CSCMMFNConfig,
    box_sum,
    fast_guided_filter,
    fuse_multispectral,
    fuse_npz,
    load_csc_mmfn,
    official_to_lzsc_mmfn,
)
from lzsc.unrolled.dcu import DCU, DCUConfig, DCUStack

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL_MMF = CSCMMFNConfig(ms_channels=5, n_filters=8, n_iter=1)


def _exposures(seed: int, k: int = 3, shape: tuple[int, int] = (17, 23)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(k)]


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Random BN statistics and thetas of both signs, in eval mode (a fresh model's BN is the identity)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point() and not name.endswith("weight"):
                t.copy_(0.05 * torch.randn(t.shape, generator=gen) + (1.0 if "running_var" in name else 0.0))
    return model.eval()


# --- the DCU options ------------------------------------------------------------------------------------


class TestDCUOptions:
    def test_first_unit_options(self):
        stack = DCUStack(DCUConfig(n_filters=4, n_iter=1, first_batch_norm=False, first_shared_theta=True))
        assert stack.first.bn is None
        assert stack.units[0].bn is not None
        assert stack.first.theta.shape == (1,)
        assert stack.units[0].theta.shape == (4,)
        plain = DCUStack(DCUConfig(n_filters=4, n_iter=1))
        assert plain.first.bn is not None
        assert plain.first.theta.shape == (4,)

    def test_nonnegative_theta_clamps_in_forward(self):
        v = torch.linspace(-1, 1, 9).reshape(1, 1, 3, 3).expand(1, 2, 3, 3)
        for clamp, want in ((True, v), (False, v + 0.2 * torch.sign(v))):
            unit = DCU(DCUConfig(n_filters=2, nonnegative_theta=clamp, init=-0.2))
            torch.testing.assert_close(unit.activation(v), want)

    def test_options_need_sst(self):
        with pytest.raises(ValueError, match="concern the SST"):
            DCUConfig(activation="prelu", first_shared_theta=True)


# --- CSC-MEFN: colour, weights, stretch -----------------------------------------------------------------


def test_ycbcr_matches_bt601_full_range():
    """BT.601 full range: Y = Kr R + (1 - Kr - Kb) G + Kb B, Cb = 1/2 + (B - Y) / (2 - 2 Kb),
    Cr = 1/2 + (R - Y) / (2 - 2 Kr)."""
    rgb = torch.rand(2, 3, 5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    r, g, b = rgb.unbind(1)
    kr, kb = 0.299, 0.114
    y = kr * r + (1 - kr - kb) * g + kb * b
    want = (y, 0.5 + (b - y) / (2 * (1 - kb)), 0.5 + (r - y) / (2 * (1 - kr)))
    for got, ref in zip(rgb_to_ycbcr(rgb), want, strict=True):
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(ycbcr_to_rgb(*want), rgb, atol=2e-6, rtol=0)


def test_chroma_weights():
    cb = torch.tensor([0.5, 0.3, 0.9]).reshape(1, 3, 1, 1)
    w = chroma_weights(cb)
    torch.testing.assert_close(w.sum(1), torch.ones(1, 1, 1))
    torch.testing.assert_close(w.flatten(), torch.tensor([1e-8, 0.2, 0.4]) / (0.6 + 3e-8))


def test_stretch_release_against_numpy():
    values = torch.rand(31, 29, 3, generator=torch.Generator().manual_seed(3)) * 255
    flat = np.sort(values.numpy().ravel())
    lo, hi = flat[int(flat.size * 0.005)], flat[int(flat.size * 0.995)]
    clipped = np.clip(values.numpy(), lo, hi)
    want = (np.float32(255) * (clipped - lo) / (hi - lo)).astype(np.uint8)
    got = stretch_release(values)
    assert got.dtype == np.uint8
    assert np.array_equal(got, want)
    assert got.min() == 0
    assert got.max() >= 254
    assert not stretch_release(torch.full((4, 4, 3), 7.0)).any()  # flat: zeros, not NaN


class TestCSCMEFN:
    def test_smoke_and_shapes(self):
        model = _randomised(CSCMEFN())
        out = fuse_exposures(model, _exposures(0))
        assert out.shape == (17, 23, 3)
        assert out.dtype == np.uint8
        with torch.inference_mode():
            assert model(torch.rand(2, 4, 3, 9, 8)).shape == (2, 3, 9, 8)

    def test_identical_exposures_give_the_exposure_back(self):
        x = torch.rand(1, 3, 9, 11, generator=torch.Generator().manual_seed(2))
        with torch.inference_mode():
            fused = _randomised(CSCMEFN())(x[:, None].expand(1, 3, 3, 9, 11))
        torch.testing.assert_close(fused, x, atol=2e-6, rtol=0)

    def test_order_of_exposures_does_not_matter(self):
        model, images = _randomised(CSCMEFN()), _exposures(1)
        stack = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)[None].float() / 255
        with torch.inference_mode():
            torch.testing.assert_close(model(stack), model(stack.flip(1)), atol=1e-6, rtol=0)

    def test_bad_inputs(self):
        model, (a, b, _) = CSCMEFN().eval(), _exposures(0)
        for images, message in (
            ([a], "at least 2"),
            (np.stack([a, b]), "at least 2"),
            ([a, b[..., 0]], r"uint8 of shape \(H, W, 3\)"),
            ([a, b.astype(np.float32)], "uint8"),
            ([a, b[:-1]], "differ in size"),
            ([a[:1], b[:1]], "at least 2 x 2"),
        ):
            with pytest.raises(ValueError, match=message):
                fuse_exposures(model, images)
        with pytest.raises(ValueError, match=r"\(N, K, 3, H, W\)"):
            model(torch.rand(1, 3, 8, 8))

    def test_folder(self, tmp_path):
        model, images = _randomised(CSCMEFN()), _exposures(4)
        for i, img in enumerate(images):
            Image.fromarray(img).save(tmp_path / f"{2 - i}.png")
        (tmp_path / "notes.txt").write_text("not an exposure")
        assert np.array_equal(fuse_exposure_folder(model, tmp_path), fuse_exposures(model, images[::-1]))
        with pytest.raises(FileNotFoundError, match="is not a folder"):
            fuse_exposure_folder(model, tmp_path / "nowhere")
        Image.fromarray(images[0][:-1]).save(tmp_path / "3.png")
        with pytest.raises(ValueError, match="must have one size"):
            fuse_exposure_folder(model, tmp_path)
        Image.fromarray(images[0][..., 0]).save(tmp_path / "3.png")
        with pytest.raises(ValueError, match="grey image"):
            fuse_exposure_folder(model, tmp_path)
        single = tmp_path / "single"
        single.mkdir()
        Image.fromarray(images[0]).save(single / "1.png")
        with pytest.raises(ValueError, match="at least 2 exposures"):
            fuse_exposure_folder(model, single)


# --- CSC-MMFN: box sums, guided filter, network ---------------------------------------------------------


def test_box_sum_is_the_clipped_window_sum():
    x = torch.rand(2, 3, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for radius in (1, 2, 4):
        ones = torch.ones(3, 1, 2 * radius + 1, 2 * radius + 1, dtype=torch.float64)
        want = F.conv2d(x, ones, padding=radius, groups=3)  # zero padding: the window clipped to the image
        torch.testing.assert_close(box_sum(x, radius), want, atol=1e-12, rtol=0)


def _bilinear_corners(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resizing with align_corners=True, pixel by pixel."""
    (h, w), (big_h, big_w) = a.shape[-2:], size
    out = np.empty((*a.shape[:-2], big_h, big_w))
    for i in range(big_h):
        for j in range(big_w):
            y, x = i * (h - 1) / (big_h - 1), j * (w - 1) / (big_w - 1)
            y0, x0 = min(int(y), h - 2), min(int(x), w - 2)
            fy, fx = y - y0, x - x0
            top = (1 - fx) * a[..., y0, x0] + fx * a[..., y0, x0 + 1]
            bottom = (1 - fx) * a[..., y0 + 1, x0] + fx * a[..., y0 + 1, x0 + 1]
            out[..., i, j] = (1 - fy) * top + fy * bottom
    return out


def test_fast_guided_filter_against_loops():
    gen = torch.Generator().manual_seed(5)
    low_x, low_y = (torch.rand(1, 2, 5, 6, dtype=torch.float64, generator=gen) for _ in range(2))
    guide = torch.rand(1, 2, 10, 12, dtype=torch.float64, generator=gen)
    radius, eps = 1, 1e-2
    x, y = low_x[0].numpy(), low_y[0].numpy()
    a, b = np.empty_like(x), np.empty_like(x)
    for i in range(5):
        for j in range(6):
            win = (
                slice(None),
                slice(max(i - radius, 0), i + radius + 1),
                slice(max(j - radius, 0), j + radius + 1),
            )
            mx, my = x[win].mean((1, 2)), y[win].mean((1, 2))
            cov, var = (x[win] * y[win]).mean((1, 2)) - mx * my, (x[win] ** 2).mean((1, 2)) - mx**2
            a[:, i, j] = cov / (var + eps)
            b[:, i, j] = my - a[:, i, j] * mx
    want = _bilinear_corners(a, (10, 12)) * guide[0].numpy() + _bilinear_corners(b, (10, 12))
    got = fast_guided_filter(low_x, low_y, guide, radius, eps)[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="must exceed 3 pixels"):
        fast_guided_filter(low_x[..., :3, :], low_y[..., :3, :], guide, radius, eps)


class TestCSCMMFN:
    def test_smoke_and_shapes(self):
        model = _randomised(CSCMMFN(SMALL_MMF))
        lr_ms, rgb = (
            np.random.default_rng(0).random((5, 6, 7), dtype=np.float32),
            np.zeros((3, 12, 14), np.float32),
        )
        out = fuse_multispectral(model, lr_ms, rgb)  # non-square: (H, W), not the release's (H, H)
        assert out.shape == (5, 12, 14)
        assert out.dtype == np.float32
        assert 0 <= out.min() <= out.max() <= 1
        assert model.encoder_ms.first.bn is None
        assert model.encoder_ms.first.theta.shape == (8,)

    def test_residual_path_is_bilinear(self):
        model = CSCMMFN(SMALL_MMF).eval()
        torch.nn.init.zeros_(model.decoder.weight)
        lr = torch.rand(1, 5, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            out = model.double()(lr, torch.rand(1, 3, 12, 12, dtype=torch.float64))
        np.testing.assert_allclose(out[0].numpy(), _bilinear_corners(lr[0].numpy(), (12, 12)), atol=1e-12)

    def test_bad_inputs(self, tmp_path):
        model = CSCMMFN(SMALL_MMF).eval()
        lr, rgb = np.zeros((5, 6, 6), np.float32), np.zeros((3, 12, 12), np.float32)
        for args, message in (
            ((lr[:4], rgb), r"lr_ms must be a channel-first float array \(5, H, W\)"),
            ((lr, rgb[0]), r"rgb must be .* \(3, H, W\)"),
            ((lr.astype(np.uint8), rgb), "dtype uint8"),
            ((lr * np.nan, rgb), "NaN"),
            ((lr[:, :3], rgb), "must exceed 3 pixels"),
            ((lr, rgb[:, :4, :4]), "at least as large"),
        ):
            with pytest.raises(ValueError, match=message):
                fuse_multispectral(model, *args)
        with pytest.raises(FileNotFoundError, match="does not exist"):
            fuse_npz(model, tmp_path / "none.npz")
        np.savez(tmp_path / "a.npz", lr_ms=lr)
        with pytest.raises(ValueError, match=r"lacks array\(s\) rgb \(it holds: lr_ms\)"):
            fuse_npz(model, tmp_path / "a.npz")
        np.savez(tmp_path / "b.npz", lr_ms=lr, rgb=np.array([{"x": 1}], dtype=object))
        with pytest.raises(ValueError, match="pickled objects"):
            fuse_npz(model, tmp_path / "b.npz")
        (tmp_path / "c.npz").write_bytes(b"not a zip")
        with pytest.raises(ValueError, match=r"is not an \.npz file"):
            fuse_npz(model, tmp_path / "c.npz")
        np.savez(tmp_path / "d.npz", lr_ms=lr, rgb=rgb)
        assert fuse_npz(model, tmp_path / "d.npz").shape == (5, 12, 12)


# --- key renaming ---------------------------------------------------------------------------------------

_UNIT_KEYS = {
    "conv0.weight": "conv.conv_decoder.de_conv0.conv2d.weight",
    "conv1.weight": "conv.conv_encoder.en_conv0.conv2d.weight",
    "theta": "activation.theta",
}


def _unit_key(rest: str) -> str:
    return _UNIT_KEYS.get(rest) or re.sub(r"^bn\.", "norm.", rest)


def _to_release_mefn(state: dict[str, torch.Tensor], n_iter: int) -> dict[str, torch.Tensor]:
    """lzsc -> the release's ``CSC_Fusion_MEF`` names and shapes, written from the release's layout."""
    out = {}
    for key, value in state.items():
        if key == "encoder.first.conv1.weight":
            name = "main.0.conv2d.weight"
        elif key.startswith("encoder.first.bn."):
            name = "main.1." + key.removeprefix("encoder.first.bn.")
        elif key == "encoder.first.theta":
            name = "main.2.theta"
        elif key == "head.weight":
            name = f"main.{3 + n_iter}.conv2d.weight"
        else:
            j, rest = re.fullmatch(r"encoder\.units\.(\d+)\.(.+)", key).groups()
            name = f"main.{3 + int(j)}.{_unit_key(rest)}"
        out[name] = value.reshape(1, -1, 1, 1) if name.endswith("theta") else value
    return out


def _to_release_mmfn(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """lzsc -> the release's ``ModelA`` names and shapes."""
    out = {}
    for key, value in state.items():
        part = (
            key.split(".")[0].replace("encoder_guide", "backbone_guide").replace("encoder_ms", "backbone_lr")
        )
        if key == "decoder.weight":
            name = "decoder.conv0.weight"
        elif ".first." in key:
            name = f"{part}.{'conv0.weight' if key.endswith('conv1.weight') else 'relu0.theta'}"
        else:
            j, rest = re.fullmatch(r"\w+\.units\.(\d+)\.(.+)", key).groups()
            name = f"{part}.csc{int(j) + 1}.{_unit_key(rest)}"
        out[name] = value.reshape(1, -1, 1, 1) if name.endswith("theta") else value
    return out


class TestRenaming:
    def test_round_trip_mefn(self, tmp_path):
        model = _randomised(CSCMEFN())
        release = _to_release_mefn(model.state_dict(), 2)
        renamed = official_to_lzsc_mefn(release)
        assert renamed.keys() == model.state_dict().keys()
        torch.save(release, tmp_path / "best_net.pth")
        loaded = load_csc_mefn(tmp_path)
        assert not loaded.training
        for key, value in loaded.state_dict().items():
            assert torch.equal(value, model.state_dict()[key]), key

    def test_round_trip_mmfn(self, tmp_path):
        model = _randomised(CSCMMFN(SMALL_MMF))
        release = _to_release_mmfn(model.state_dict())
        assert official_to_lzsc_mmfn(release).keys() == model.state_dict().keys()
        torch.save(release, tmp_path / "w.pth")
        loaded = load_csc_mmfn(tmp_path / "w.pth", SMALL_MMF)
        for key, value in loaded.state_dict().items():
            assert torch.equal(value, model.state_dict()[key]), key

    def test_errors(self, tmp_path):
        t = torch.zeros(1)
        with pytest.raises(CheckpointError, match=r"CSC-MEFN weights \(2\): main\.7\.foo; bar"):
            official_to_lzsc_mefn({"main.0.conv2d.weight": t, "main.7.foo": t, "bar": t})
        with pytest.raises(CheckpointError, match=r"backbone_lr\.csc0\.norm\.weight"):
            official_to_lzsc_mmfn({"backbone_lr.csc0.norm.weight": t})
        release = _to_release_mefn(CSCMEFN().state_dict(), 2)
        del release["main.4.norm.bias"]
        torch.save(release, tmp_path / "best_net.pth")
        with pytest.raises(CheckpointError, match=r"missing keys \(1\): encoder\.units\.1\.bn\.bias"):
            load_csc_mefn(tmp_path / "best_net.pth")
        with pytest.raises(FileNotFoundError, match="does not exist"):
            load_csc_mmfn(tmp_path / "nowhere.pth")
        torch.save([t], tmp_path / "list.pth")
        with pytest.raises(CheckpointError, match="not a state_dict"):
            load_csc_mmfn(tmp_path / "list.pth")


# --- the released weights and the release's outputs -------------------------------------------------------


@pytest.fixture(scope="module")
def weights(lzsc_data):
    paths = {n: lzsc_data / "checkpoints" / n / "best_net.pth" for n in ("csc_mefn", "csc_mmfn")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        pytest.skip(f"the released CSC-MEFN / CSC-MMFN weights are missing: {', '.join(missing)}")
    return paths


@pytest.mark.data
class TestReleasedWeights:
    def test_mefn_every_key_used(self, weights):
        raw = read_checkpoint(weights["csc_mefn"])
        model = load_csc_mefn("official")
        assert not model.training
        assert model.encoder.first.theta.shape == (1,)
        assert raw.keys() == _to_release_mefn(model.state_dict(), 2).keys()
        assert official_to_lzsc_mefn(raw).keys() == model.state_dict().keys()
        assert (model.encoder.units[0].theta < 0).any()  # unconstrained, as released

    def test_mmfn_every_key_used(self, weights):
        raw = read_checkpoint(weights["csc_mmfn"])
        model = load_csc_mmfn("official")
        assert raw.keys() == _to_release_mmfn(model.state_dict()).keys()
        assert official_to_lzsc_mmfn(raw).keys() == model.state_dict().keys()
        assert (model.encoder_ms.first.theta < 0).float().mean() > 0.5  # clamped to 0 in the forward

    def test_mefn_matches_the_release(self, weights, lzsc_data):
        """Reference: the release's CSC-MEF/test.py on FLIR_00211, run by
        ``python benchmarks/compare_csc_mef_mmf_release.py --release /tmp/csc_release
        --release-site SITE --scenes FLIR_00211 --cubes FLIR_04688``; its glob listed 3.png, 2.png, 1.png."""
        scene = lzsc_data / "test" / "MEF_synthetic" / "FLIR_00211"
        model = load_csc_mefn("official")
        out = fuse_exposures(model, [np.asarray(Image.open(scene / f"{k}.png")) for k in (3, 2, 1)])
        for (r, c), want in (
            ((0, 0), [202, 229, 246]),
            ((100, 200), [204, 242, 241]),
            ((255, 319), [167, 170, 169]),
        ):
            assert np.abs(out[r, c].astype(int) - want).max() <= 1, (r, c)
        assert out.mean() == pytest.approx(169.989469, abs=2e-4)
        by_name = fuse_exposure_folder(model, scene)  # 1, 2, 3: other float sums, a few pixels off by 1
        assert np.abs(by_name.astype(int) - out).max() <= 1
        assert (by_name != out).any(-1).mean() < 1e-3

    def test_mmfn_matches_the_release(self, weights, lzsc_data):
        """Reference: the release's CSC-MSF/test.py on FLIR_04688 (same command as above)."""
        out = fuse_npz(load_csc_mmfn("official"), lzsc_data / "test" / "MMF_synthetic" / "FLIR_04688.npz")
        samples = {(0, 0, 0): 0.21460260450839996, (15, 48, 48): 0.5598903894424438}
        samples |= {(30, 95, 95): 0.16486455500125885, (7, 13, 77): 0.5063835382461548}
        for index, want in samples.items():
            assert out[index] == pytest.approx(want, abs=1e-5), index
        assert out.astype(np.float64).mean() == pytest.approx(0.49933565, abs=1e-6)
