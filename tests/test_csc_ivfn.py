"""CSC-IVFN: the network, its fusion rules (with the guided filter proved against kornia and OpenCV),
the released weights, and the release's outputs on a real pair."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from lzsc.checkpoints import CheckpointError, read_checkpoint
from lzsc.methods.csc_ivfn import (
    CSCIVFN,
    OFFICIAL_FILES,
    CSCIVFNConfig,
    fuse_csc_ivfn,
    fuse_csc_ivfn_u8,
    load_csc_ivfn,
    to_uint8_release,
)
from lzsc.methods.csc_rules import (
    box_mean,
    guided_filter,
    histogram_saliency,
    l1_norm_rule,
    l1_norm_weights,
    minmax_normalise,
    saliency_rule,
    saliency_weights,
)

SMALL = CSCIVFNConfig(n_filters=8, n_iter=2)


def _symmetric(x: torch.Tensor, pad: int) -> torch.Tensor:
    """OpenCV's BORDER_REFLECT padding, by numpy's 'symmetric' mode."""
    widths = [(0, 0)] * (x.ndim - 2) + [(pad, pad), (pad, pad)]
    return torch.from_numpy(np.pad(x.numpy(), widths, mode="symmetric"))


def _release_state(model: CSCIVFN) -> dict[str, dict[str, torch.Tensor]]:
    """The model's weights under the release's names, one dict per released file (an independent inverse
    of ``official_to_lzsc_csc``, written from the release's module structure)."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for part in ("encoder_base", "encoder_detail"):
        stack, state = getattr(model, part), {}
        units = [("convLayer0", stack.first)] + [(f"convLayer.{j}", u) for j, u in enumerate(stack.units)]
        for prefix, unit in units:
            unused = torch.zeros(1, unit.config.n_filters, 3, 3)  # the first unit's Conv0, never applied
            conv0 = unit.conv0.weight if hasattr(unit, "conv0") else unused
            state[f"{prefix}.conv.conv_decoder.de_conv0.conv2d.weight"] = conv0
            state[f"{prefix}.conv.conv_encoder.en_conv0.conv2d.weight"] = unit.conv1.weight
            state.update({f"{prefix}.norm.{k}": v for k, v in unit.bn.state_dict().items()})
            if part == "encoder_base":
                state[f"{prefix}.activation.weight"] = unit.prelu.weight
            else:
                state[f"{prefix}.activation.theta"] = unit.theta.view(1, -1, 1, 1)
        parts[part] = {k: v.detach().clone() for k, v in state.items()}
    layers = dict(zip("124578", range(6), strict=True))
    parts["decoder"] = {
        f"decode_last.{i}.{name}": v.detach().clone()
        for i, j in layers.items()
        for name, v in model.decoder[j].state_dict().items()
    }
    return parts


def _write(folder, parts) -> None:
    folder.mkdir(exist_ok=True)
    for part, name in OFFICIAL_FILES.items():
        torch.save(parts[part], folder / name)


class TestNetwork:
    def test_shapes(self):
        model = CSCIVFN(SMALL).eval()
        x = torch.rand(2, 1, 20, 24)
        z_b, z_d = model.encode(x)
        assert z_b.shape == z_d.shape == (2, 8, 20, 24)
        out = model(x)
        assert out.shape == x.shape
        assert ((out > 0) & (out < 1)).all()
        assert len(model.encoder_base.units) == 2
        assert model.encoder_base.config.activation == "prelu"
        assert model.encoder_detail.config.activation == "sst"

    def test_release_sizes(self):
        model = CSCIVFN()
        assert len(model.encoder_detail.units) == 7
        assert model.encoder_detail.config.n_filters == 64
        assert torch.equal(model.encoder_detail.first.theta, torch.full((64,), 1e-2))
        assert [m.weight.shape[:2] for m in model.decoder[::2]] == [(32, 64), (16, 32), (1, 16)]
        # the release's 44,786 less the first units' two unused Conv0 (2 x 576)
        assert sum(p.numel() for p in model.parameters()) == 43_634

    def test_box_blur_split(self):
        x = torch.rand(1, 1, 17, 23, dtype=torch.float64)
        base, detail = CSCIVFN(SMALL).split(x)
        expected = F.avg_pool2d(F.pad(x, (5, 5, 5, 5), mode="reflect"), 11, stride=1)
        torch.testing.assert_close(base, expected, rtol=0, atol=1e-12)
        assert torch.equal(detail, x - base)
        with pytest.raises(ValueError, match=r"H and W > 5"):
            CSCIVFN(SMALL).split(torch.rand(1, 1, 5, 40))
        with pytest.raises(ValueError, match=r"grey images \(B, 1, H, W\)"):
            CSCIVFN(SMALL)(torch.rand(1, 3, 16, 16))

    def test_first_unit_sees_the_layer_later_ones_the_raw_image(self):
        torch.manual_seed(0)
        model = CSCIVFN(SMALL).eval()
        x = torch.rand(1, 1, 16, 16)
        base, detail = model.split(x)
        with torch.no_grad():
            z = model.encoder_detail.first(detail)
            for unit in model.encoder_detail.units:
                z = unit(x, z)
            assert torch.equal(model.encode(x)[1], z)
            z_b = model.encoder_base(x, first_input=base)
            assert torch.equal(model.encode(x)[0], z_b)


class TestFusionRules:
    def test_l1_norm_rule_by_hand(self):
        """z1 = 0.5 in two channels (activity 1 per pixel), z2 = a spike of activity 9 at the centre."""
        z1 = torch.full((1, 2, 3, 3), 0.5)
        z2 = torch.zeros(1, 2, 3, 3)
        z2[0, :, 1, 1] = torch.tensor([4.0, -5.0])
        w1, w2 = l1_norm_weights(z1, z2)
        # A1: 3x3 zero-padded mean of ones = 4/9 at corners, 6/9 at edges, 1 at the centre; A2 = 1 everywhere
        a1 = torch.tensor([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9
        torch.testing.assert_close(w1[0, 0], a1 / (a1 + 1))
        torch.testing.assert_close(w1 + w2, torch.ones_like(w1))
        torch.testing.assert_close(l1_norm_rule(z1, z2), w1 * z1 + w2 * z2)
        assert float(w1[0, 0, 1, 1]) == 0.5

    def test_l1_norm_rule_keeps_the_release_nan(self):
        w1, _ = l1_norm_weights(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
        assert torch.isnan(w1).all()

    def test_histogram_saliency_by_hand(self):
        q = torch.tensor([[[0, 0], [0, 10]]])
        # h(0) = 3/4, h(10) = 1/4: s(0) = 10/4, s(10) = 30/4
        assert histogram_saliency(q).tolist() == [[[2.5, 2.5], [2.5, 7.5]]]
        q = torch.tensor([[[0, 255], [255, 0]]])
        assert (histogram_saliency(q) == 127.5).all()
        with pytest.raises(ValueError, match="int64 levels"):
            histogram_saliency(torch.tensor([[[0, 256]]]))

    def test_minmax_normalise(self):
        z = torch.tensor([[[[1.0, 3.0], [2.0, 5.0]], [[7.0, 7.0], [7.0, 7.0]]]])
        out = minmax_normalise(z)
        assert out[0, 0].tolist() == [[0.0, 0.5], [0.25, 1.0]]
        assert out[0, 1].eq(0).all()  # constant channel: 0 (the release divides by zero there)

    def test_box_mean_is_opencv_border_reflect(self):
        x = torch.rand(2, 5, 7, dtype=torch.float64)
        for radius in (1, 3, 9):  # 9 > the image: several reflections, as OpenCV's borderInterpolate
            size = 2 * radius + 1
            expected = F.avg_pool2d(_symmetric(x[:, None], radius), size, stride=1)[:, 0]
            torch.testing.assert_close(box_mean(x, radius), expected, rtol=0, atol=1e-12)

    def test_guided_filter_constant_guide(self):
        """var(I) = 0 gives a = 0, b = mean(p): the output is the box mean of the box mean of p."""
        p = torch.rand(1, 9, 11, dtype=torch.float64)
        out = guided_filter(torch.full_like(p, 0.3), p, 2, 0.01)
        torch.testing.assert_close(out, box_mean(box_mean(p, 2), 2), rtol=0, atol=1e-12)

    @pytest.mark.parametrize(("radius", "eps"), [(2, 0.01), (5, 1e-3)])
    def test_guided_filter_is_kornia_on_a_symmetric_padded_image(self, radius, eps):
        """Proof of the border convention: kornia's guided_blur ('reflect' = BORDER_REFLECT_101) on the
        image padded by 2r with BORDER_REFLECT, cropped, equals ours (BORDER_REFLECT inside); without that
        padding they agree only farther than 2r from the edges."""
        import kornia

        g = torch.Generator().manual_seed(0)
        guide = torch.rand(2, 1, 33, 29, generator=g, dtype=torch.float64)
        src = torch.rand(2, 1, 33, 29, generator=g, dtype=torch.float64)
        ours = guided_filter(guide, src, radius, eps)
        pad = 2 * radius
        theirs = kornia.filters.guided_blur(_symmetric(guide, pad), _symmetric(src, pad), 2 * radius + 1, eps)
        theirs = theirs[..., pad:-pad, pad:-pad]
        assert (ours - theirs).abs().max() <= 1e-10
        plain = kornia.filters.guided_blur(guide, src, 2 * radius + 1, eps)
        inner = (..., slice(pad, -pad), slice(pad, -pad))
        assert (ours - plain)[inner].abs().max() <= 1e-10
        assert (ours - plain).abs().max() > 1e-4

    def test_guided_filter_is_opencv(self):
        """Against the release's own ``cv2.ximgproc.guidedFilter`` (float32 there), where installed."""
        ximgproc = pytest.importorskip("cv2.ximgproc", reason="opencv-contrib is not installed")
        g = np.random.default_rng(0)
        guide, src = g.random((60, 70), dtype=np.float32), g.random((60, 70), dtype=np.float32)
        expected = ximgproc.guidedFilter(guide, src, 45, 0.01)
        ours = guided_filter(torch.from_numpy(guide), torch.from_numpy(src), 45, 0.01).numpy()
        assert np.abs(ours - expected).max() < 1e-5

    def test_saliency_rule(self):
        g = torch.Generator().manual_seed(0)
        z1, z2 = torch.randn(1, 3, 12, 14, generator=g), torch.randn(1, 3, 12, 14, generator=g)
        w1, w2 = saliency_weights(z1, z2, radius=4)
        assert w1.shape == z1.shape
        assert w1.dtype == torch.float32
        torch.testing.assert_close(w1 + w2, torch.ones_like(w1))
        torch.testing.assert_close(saliency_rule(z1, z2, radius=4), z1 * w1 + z2 * w2)
        same1, same2 = saliency_weights(z1, z1.clone(), radius=4)
        assert (same1 == 0.5).all()
        assert (same2 == 0.5).all()
        with pytest.raises(ValueError, match="codes differ in shape"):
            saliency_rule(z1, z2[..., :-1])

    def test_to_uint8_truncates_like_the_release(self):
        f = torch.tensor([[0.0, 0.5, 0.999, 1.0], [1 / 255, 0.0039, float("nan"), 0.7]])
        release = (255 * np.nan_to_num(f.numpy())).astype(np.uint8)
        assert np.array_equal(to_uint8_release(f), release)
        assert to_uint8_release(f).tolist()[0] == [0, 127, 254, 255]
        assert to_uint8_release(f, "round").tolist()[0] == [0, 128, 255, 255]
        with pytest.raises(ValueError, match="rounding must be"):
            to_uint8_release(f, "floor")

    def test_fuse_contract(self):
        model = CSCIVFN(SMALL).eval()
        a, b = torch.rand(1, 1, 16, 18), torch.rand(1, 1, 16, 18)
        out = fuse_csc_ivfn(model, a, b)
        assert out.shape == a.shape
        assert out.dtype == torch.float32
        assert torch.equal(out, fuse_csc_ivfn(model, b, a))  # both rules are symmetric, bit for bit
        with pytest.raises(ValueError, match="values in"):
            fuse_csc_ivfn(model, a * 255, b)
        u8 = fuse_csc_ivfn_u8(model, (a[0, 0] * 255).byte().numpy(), (b[0, 0] * 255).byte().numpy())
        assert u8.shape == (16, 18)
        assert u8.dtype == np.uint8
        with pytest.raises(ValueError, match="uint8"):
            fuse_csc_ivfn_u8(model, a[0, 0].numpy(), b[0, 0].numpy())


class TestWeightsFiles:
    def test_round_trip_through_the_release_format(self, tmp_path):
        torch.manual_seed(0)
        model = CSCIVFN()
        _write(tmp_path / "w", _release_state(model))
        loaded = load_csc_ivfn(tmp_path / "w")
        assert not loaded.training
        theirs = loaded.state_dict()
        for name, mine in model.state_dict().items():
            assert torch.equal(mine, theirs[name]), name

    def test_missing_unexpected_and_misshapen_keys(self, tmp_path):
        parts = _release_state(CSCIVFN())
        del parts["decoder"]["decode_last.4.weight"]
        parts["encoder_detail"]["convLayer.2.activation.theta"] = torch.zeros(1, 32, 1, 1)
        parts["encoder_base"]["convLayer.7.norm.weight"] = torch.zeros(64)
        _write(tmp_path / "w", parts)
        with pytest.raises(CheckpointError) as err:
            load_csc_ivfn(tmp_path / "w")
        message = str(err.value)
        assert "missing keys (1): decoder.2.weight" in message
        assert "unexpected keys (1): encoder_base.units.7.bn.weight" in message
        assert "encoder_detail.units.2.theta: checkpoint (32,) vs model (64,)" in message

    def test_nonfinite_weights_are_refused(self, tmp_path):
        parts = _release_state(CSCIVFN())
        parts["encoder_base"]["convLayer.3.norm.running_var"][5] = float("nan")
        _write(tmp_path / "w", parts)
        with pytest.raises(CheckpointError, match=r"encoder_base\.units\.3\.bn\.running_var"):
            load_csc_ivfn(tmp_path / "w")

    def test_unknown_release_key(self, tmp_path):
        parts = _release_state(CSCIVFN())
        parts["decoder"]["decode_last.3.weight"] = torch.zeros(3)
        _write(tmp_path / "w", parts)
        with pytest.raises(CheckpointError, match=r"LISTA_Decoder\.model: decode_last\.3\.weight"):
            load_csc_ivfn(tmp_path / "w")

    def test_pickled_code_is_refused_not_run(self, tmp_path):
        class Payload:
            def __reduce__(self):
                return (exec, ("raise SystemExit('executed')",))

        _write(tmp_path / "w", _release_state(CSCIVFN()))
        (tmp_path / "w" / OFFICIAL_FILES["decoder"]).write_bytes(pickle.dumps({"x": Payload()}, protocol=2))
        with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
            load_csc_ivfn(tmp_path / "w")

    def test_missing_folder_and_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="is not a folder"):
            load_csc_ivfn(tmp_path / "nowhere")
        (tmp_path / "w").mkdir()
        with pytest.raises(FileNotFoundError, match="does not exist"):
            load_csc_ivfn(tmp_path / "w")


@pytest.fixture(scope="module")
def released(lzsc_data):
    folder = lzsc_data / "checkpoints" / "csc_ivfn"
    if not all((folder / name).is_file() for name in OFFICIAL_FILES.values()):
        pytest.skip(f"the released CSC-IVFN weights are not under {folder}")
    return load_csc_ivfn("official")


def _source(root, dataset, sub, name, crop=None) -> np.ndarray:
    img = np.asarray(Image.open(root / "test" / dataset / sub / name))
    return img if crop is None else img[crop]


@pytest.mark.data
class TestReleasedWeights:
    def test_values_and_quirks(self, released, lzsc_data):
        raw = read_checkpoint(lzsc_data / "checkpoints" / "csc_ivfn" / OFFICIAL_FILES["encoder_detail"])
        theta = raw["convLayer.6.activation.theta"]
        assert theta.shape == (1, 64, 1, 1)
        assert torch.equal(released.encoder_detail.units[6].theta, theta.reshape(-1))
        assert (released.encoder_detail.first.theta < 0).any()  # the release's unconstrained SST
        assert not released.training

    def test_autoencoder_reconstructs(self, released, lzsc_data):
        """The trained autoencoder gives back its input: a wrong key mapping or data-term wiring does not."""
        crop = (slice(200, 296), slice(300, 428))
        x = torch.from_numpy(_source(lzsc_data, "TNO40", "vi", "001.png", crop).astype(np.float32) / 255)
        with torch.inference_mode():
            out = released(x[None, None])[0, 0]
        assert (out - x).abs().mean() < 0.02

    def test_fusion_invariants_on_a_real_pair(self, released, lzsc_data):
        crop = (slice(200, 264), slice(300, 396))
        a, b = (_source(lzsc_data, "TNO40", sub, "001.png", crop) for sub in ("ir", "vi"))
        u8 = fuse_csc_ivfn_u8(released, a, b)
        assert np.array_equal(u8, fuse_csc_ivfn_u8(released, b, a))
        assert 40 < u8.mean() < 215
        assert u8.std() > 5
        x = torch.from_numpy(a.astype(np.float32) / 255)[None, None]
        with torch.inference_mode():
            z_b, z_d = released.encode(x)
            torch.testing.assert_close(fuse_csc_ivfn(released, x, x), released.decode(2 * z_b, 2 * z_d))

    @pytest.mark.slow
    def test_release_output_on_flir_001(self, released, lzsc_data):
        """Values of the release's own float output for FLIR pair 001 (``R.mat`` of its ``Test.py``, run by
        ``benchmarks/compare_csc_release.py``): the mean and six pixels, corners included (borders)."""
        a, b = (_source(lzsc_data, "FLIR", sub, "001.jpg") for sub in ("ir", "vi"))
        to = lambda img: torch.from_numpy(img.astype(np.float32) / 255)[None, None]  # noqa: E731
        out = fuse_csc_ivfn(released, to(a), to(b))[0, 0].double()
        assert abs(float(out.mean()) - 0.5647821087681999) < 1e-6
        pixels = {
            (0, 0): 0.6322404742240906,
            (0, 504): 0.8363274931907654,
            (350, 0): 0.8791326284408569,
            (350, 504): 0.6851328015327454,
            (175, 252): 0.6844075918197632,
            (20, 30): 0.6651211977005005,
        }
        for (y, x), value in pixels.items():
            assert abs(float(out[y, x]) - value) < 1e-5, (y, x)
