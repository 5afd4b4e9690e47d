"""FNet / IFNet (eqs. 22-24) and the released weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lzsc.checkpoints import (
    CheckpointError,
    load_fnet,
    load_official_fnet,
    load_state_dict_strict,
    official_to_lzsc,
    read_checkpoint,
    save_atomic,
)
from lzsc.io import read_pair
from lzsc.models import FNet, FNetConfig, IFNet, IFNetConfig
from lzsc.unrolled import LZSCConfig

SMALL = FNetConfig(block=LZSCConfig(n_filters=4, kernel_size=3, n_iter=2))


def release_forward(sd: dict, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """An independent transcription of the released FNet, written from docs/conventions.md and
    operating on the raw released state_dict (its own key names, its own threshold formula)."""

    def c(x, w):
        return F.conv2d(x, w, padding=4)

    def t(x, th):
        return torch.sign(x) * (x.abs() - 0.1 * th) / (1 + torch.exp(-100 * (x.abs() - th)))

    def block(p, e):
        g = {k[len(p) + 1 :]: v for k, v in sd.items() if k.startswith(p + ".")}
        sp = F.softplus
        wt, bt, wr, br = g["w_theta"], g["b_theta"], g["w_ro"], g["b_ro"]

        def rho(k):
            return (sp(wr * k + br) - sp(br)) / sp(wr * k + br)

        def branch(x, name):
            return x - c(c(x, g[name + ".ch_down.weight"]), g[name + ".ch_up.weight"])

        x0 = t(c(e, g["x0_block.conv_in.weight"]), sp(bt))
        x1 = t(
            (1 + rho(1)) * branch(x0, "x1_block.basic_layer") + c(e, g["x1_block.conv_in.weight"]),
            sp(wt + bt),
        )
        prev, cur = x0, x1
        for j in range(3):
            k = j + 2
            pre = (
                (1 + rho(k)) * branch(cur, f"IM.{j}.basic_layer1")
                - rho(k) * branch(prev, f"IM.{j}.basic_layer2")
                + c(e, g[f"IM.{j}.conv_in.weight"])
            )
            prev, cur = cur, t(pre, sp(wt * k + bt))
        return cur

    u = block("net_u", a)
    v = block("net_v", b)
    z = block("net_z", torch.cat((a - c(u, sd["conv_u.weight"]), b - c(v, sd["conv_v.weight"])), 1))
    return (
        c(u, sd["decoder.conv_1.weight"])
        + c(z, sd["decoder.conv_2.weight"])
        + c(v, sd["decoder.conv_3.weight"])
    )


class TestFNet:
    def test_parameter_count_default(self):
        assert sum(p.numel() for p in FNet().parameters()) == 419_916

    def test_parts_sum_to_fused(self):
        torch.manual_seed(0)
        net = FNet(SMALL)
        a, b = torch.rand(2, 1, 10, 10), torch.rand(2, 1, 10, 10)
        with torch.no_grad():
            out = net(a, b, return_parts=True)
            assert torch.allclose(out.fused, out.rec_u1 + out.rec_c + out.rec_u2)
            assert torch.allclose(out.fused, net(a, b))
            assert torch.allclose(out.residual_a, a - F.conv2d(out.u1, net.D_u1, padding=1))
            assert out.c.shape == (2, 4, 10, 10)

    @pytest.mark.parametrize(
        ("a_shape", "b_shape", "match"),
        [((1, 1, 8, 8), (1, 1, 8, 9), "differ in shape"), ((1, 3, 8, 8), (1, 3, 8, 8), r"\(N, 1, H, W\)")],
    )
    def test_bad_input(self, a_shape, b_shape, match):
        with pytest.raises(ValueError, match=match):
            FNet(SMALL)(torch.rand(a_shape), torch.rand(b_shape))


class TestIFNet:
    def test_separate_decoders_as_in_the_paper(self):
        torch.manual_seed(0)
        net = IFNet(IFNetConfig(block=SMALL.block)).set_backend("reference")
        f = torch.rand(1, 1, 8, 8)
        with torch.no_grad():
            _, i2 = net(f)
            z2 = net.lzsc_x2(f)
            assert torch.allclose(i2, F.conv2d(z2, net.D_x2, padding=1))

    def test_shared_decoder_reproduces_release(self):
        torch.manual_seed(0)
        net = IFNet(IFNetConfig(block=SMALL.block, shared_decoder=True)).set_backend("reference")
        f = torch.rand(1, 1, 8, 8)
        with torch.no_grad():
            _, i2 = net(f)
            assert torch.allclose(i2, F.conv2d(net.lzsc_x2(f), net.D_x1, padding=1))

    def test_bad_input(self):
        with pytest.raises(ValueError, match="fused image"):
            IFNet(IFNetConfig(block=SMALL.block))(torch.rand(1, 2, 8, 8))


class TestCheckpoints:
    def test_mismatch_names_keys_and_shapes(self):
        net = FNet(SMALL)
        state = dict(net.state_dict())
        state.pop("G_c")
        state["extra.weight"] = torch.zeros(1)
        state["D_u1"] = torch.zeros(1, 4, 5, 5)
        with pytest.raises(CheckpointError) as err:
            load_state_dict_strict(net, state, "test.pth")
        msg = str(err.value)
        assert "missing keys (1): G_c" in msg
        assert "unexpected keys (1): extra.weight" in msg
        assert "shape mismatches (1): D_u1: checkpoint (1, 4, 5, 5) vs model (1, 4, 3, 3)" in msg

    def test_corrupt_file(self, tmp_path):
        bad = tmp_path / "bad.pth"
        bad.write_bytes(b"not a checkpoint")
        with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
            read_checkpoint(bad)

    def test_released_weights_into_a_wrong_config(self, official_path):
        with pytest.raises(
            CheckpointError, match=r"(?s)unexpected keys \(30\).*D_u1: checkpoint \(1, 64, 9, 9\)"
        ):
            load_state_dict_strict(FNet(SMALL), official_to_lzsc(read_checkpoint(official_path)))

    def test_lzsc_checkpoint_roundtrip(self, tmp_path):
        import dataclasses

        net = FNet(SMALL)
        cfg = {"block": dataclasses.asdict(SMALL.block), "block_kind": "lzsc"}
        path = save_atomic(
            {"model": net.state_dict(), "ema": net.state_dict(), "fnet_config": cfg}, tmp_path / "c.pt"
        )
        loaded = load_fnet(path)
        assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in net.state_dict().items())
        assert not list(tmp_path.glob(".*.tmp"))


class TestReleasedWeights:
    def test_load_counts(self, official_path):
        net = load_official_fnet(official_path)
        assert sum(p.numel() for p in net.parameters()) == 419_916
        assert len(read_checkpoint(official_path)) == 74

    def test_equals_independent_transcription_on_real_crops(self, official_path, lzsc_data):
        net = load_official_fnet(official_path)
        sd = read_checkpoint(official_path)
        for ds, a_dir, b_dir, name in [
            ("TNO", "ir", "vi", "01.png"),
            ("RoadScene", "ir", "vi", "FLIR_00211.jpg"),
            ("MRI_PET", "MRI", "PET", "11.png"),
        ]:
            a, b = read_pair(lzsc_data / "test" / ds / a_dir / name, lzsc_data / "test" / ds / b_dir / name)
            a, b = a[..., 40:88, 60:124], b[..., 40:88, 60:124]
            with torch.no_grad():
                ours, ref = net(a, b), release_forward(sd, a, b)
            assert (ours - ref).abs().max() < 2e-4, ds
            assert ((ours.clamp(0, 1) * 255).round() - (ref.clamp(0, 1) * 255).round()).abs().max() <= 1, ds
            mean_src = ((a + b) / 2).flatten()
            assert torch.corrcoef(torch.stack([ours.flatten(), mean_src]))[0, 1] > 0.5, ds

    def test_thresholds_decrease_and_rhos_increase(self, official_fnet):
        for block in (official_fnet.lzsc_u1, official_fnet.lzsc_u2, official_fnet.lzsc_c):
            with torch.no_grad():
                assert torch.all(block.thetas().diff() < 0)
                assert torch.all(block.rhos().diff() > 0)
