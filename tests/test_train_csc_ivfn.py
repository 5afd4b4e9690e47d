"""CSC-IVFN training (lzsc.training.csc_ivfn): loss, crops, schedule, learning, bitwise resume, Ctrl-C,
divergence, bad data, the CLI and the result file.

Everything runs a tiny CSC-IVFN (4 filters, 1 unit after the first, 16 x 16 crops, batch 4) on a folder
of six small synthetic PNGs (three "ir", three "vi"): two steps per epoch (4 + 2 images), three epochs.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_same_state
from PIL import Image

from lzsc.checkpoints import CheckpointError, find_nonfinite, read_checkpoint, save_atomic
from lzsc.cli import main
from lzsc.methods.csc_ivfn import CSCIVFN, fuse_csc_ivfn, load_csc_ivfn, load_csc_ivfn_trained
from lzsc.training import csc_ivfn as trainer
from lzsc.training.csc_ivfn import (
    CSCTrainConfig,
    apply_csc_overrides,
    csc_profile,
    train_csc_ivfn,
)
from lzsc.training.csc_ivfn_data import (
    ImageCrops,
    batch_plan,
    csc_ivfn_loss,
    image_folders,
    random_resized_box,
)
from lzsc.training.trainer import DivergenceError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(n_filters=4, n_iter=1, crop=16, batch_size=4, epochs=3, lr_decay_epoch=2, device="cpu")
TINY_SET = [f"--set={k}={v}" for k, v in TINY.items() if k != "device"]


def _write_images(folder: Path, sizes=((20, 24), (22, 22), (24, 20))) -> None:
    """Three smooth random grey images (H, W) per source: blobs plus a gradient, like a small photo."""
    rng = np.random.default_rng(0)
    for sub in ("ir", "vi"):
        (folder / sub).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            noise = torch.from_numpy(rng.random((1, 1, h // 4 + 1, w // 4 + 1), dtype=np.float32))
            smooth = F.interpolate(noise, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
            ramp = np.linspace(0, 0.3, w, dtype=np.float32)[None]
            img = np.clip(255 * (0.6 * smooth + ramp), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(folder / sub / f"{i:02d}.png")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images")
    _write_images(root)
    return root


def tiny(folder: Path, **overrides) -> CSCTrainConfig:
    values = {**TINY, "data": str(folder), "checkpoint_every": 100, "log_every": 1, **overrides}
    return csc_profile("quick", **values).with_overrides(threads=None)


def rows(out: Path) -> list[dict[str, float]]:
    with open(out / "log.csv", newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def compare_runs(a: Path, b: Path) -> None:
    ca, cb = read_checkpoint(a / "checkpoint.pt"), read_checkpoint(b / "checkpoint.pt")
    for key in ("step", "epoch", "model", "optimizer", "scheduler", "rng"):
        assert_same_state(ca[key], cb[key], key)
    assert_same_state(
        read_checkpoint(a / "csc_ivfn.pt")["model"], read_checkpoint(b / "csc_ivfn.pt")["model"]
    )


@pytest.fixture(scope="module")
def straight(tmp_path_factory, folder) -> Path:
    """An uninterrupted 6-step run (3 epochs of 2 steps; lr 1e-2, then 1e-3 in epoch 3)."""
    out = tmp_path_factory.mktemp("straight")
    train_csc_ivfn(tiny(folder), out, progress=False)
    return out


def _ssim_by_hand(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM map with a 3-tap Gaussian (sigma 1.5) window, reflect border, C1 = 0.01^2, C2 = 0.03^2."""
    g = torch.exp(-(torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64) ** 2) / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]

    def blur(t):
        return F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), window)

    x, y = x.double(), y.double()
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


class TestLossAndData:
    def test_loss_on_a_hand_case(self):
        x_hat, x = torch.full((2, 1, 8, 8), 0.25), torch.full((2, 1, 8, 8), 0.5)
        out = csc_ivfn_loss(x_hat, x).as_floats()
        c1 = 0.01**2
        ssim = (2 * 0.5 * 0.25 + c1) / (0.5**2 + 0.25**2 + c1)  # flat images: the contrast term is 1
        assert out["mse"] == pytest.approx(0.0625, rel=1e-6)
        assert out["ssim"] == pytest.approx((1 - ssim) / 2, rel=1e-5)
        assert out["loss"] == pytest.approx(0.0625 + 5 * (1 - ssim) / 2, rel=1e-5)

    def test_loss_equals_an_independent_computation(self):
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(3, 1, 12, 10, generator=gen)
        x_hat = (x + 0.2 * torch.rand(3, 1, 12, 10, generator=gen)).clamp(0, 1)
        out = csc_ivfn_loss(x_hat, x)
        dssim = ((1 - _ssim_by_hand(x_hat, x)) / 2).clamp(0, 1).mean()
        mse = ((x_hat.double() - x.double()) ** 2).mean()
        assert out.parts["ssim"].item() == pytest.approx(dssim.item(), abs=1e-6)
        assert out.total.item() == pytest.approx((mse + 5 * dssim).item(), abs=1e-6)
        assert out.total.requires_grad is False  # inputs without grad: nothing to differentiate
        assert csc_ivfn_loss(x_hat, x, w_ssim=0.0).total.item() == pytest.approx(mse.item(), abs=1e-7)

    def test_random_resized_box_follows_torchvisions_rule(self):
        gen = torch.Generator().manual_seed(1)
        for _ in range(200):
            top, left, h, w = random_resized_box(60, 90, generator=gen)
            assert 0 <= top <= 60 - h
            assert 0 <= left <= 90 - w
            assert h >= 1
            assert w >= 1
            assert 0.08 * 5400 * 0.8 <= h * w <= 5400
            assert 3 / 4 * 0.8 <= w / h <= 4 / 3 * 1.25
        # No box of 90-100% of a 10 x 100 strip has a ratio in [3/4, 4/3]: the central crop, ratio clamped.
        assert random_resized_box(10, 100, (0.9, 1.0), generator=gen) == (0, 43, 10, 13)
        assert random_resized_box(100, 10, (0.9, 1.0), generator=gen) == (43, 0, 13, 10)
        assert random_resized_box(10, 11, (1.0, 1.0), generator=gen) == (0, 0, 10, 11)

    def test_epochs_visit_every_image_once_with_a_smaller_last_batch(self):
        seen = [batch_plan(step, 10, 4, seed=3) for step in range(6)]
        assert [e for e, _ in seen] == [0, 0, 0, 1, 1, 1]
        assert [len(i) for _, i in seen] == [4, 4, 2, 4, 4, 2]
        for epoch in (0, 1):
            assert sorted(i for e, idx in seen if e == epoch for i in idx) == list(range(10))
        assert [i for _, idx in seen[:3] for i in idx] != [i for _, idx in seen[3:] for i in idx]
        assert batch_plan(4, 10, 4, seed=3) == seen[4]  # a pure function of the step: resumable

    def test_crops_are_seeded_8_bit_and_cover_both_sources(self, folder):
        data = ImageCrops(image_folders(folder), crop=16)
        assert len(data) == 6
        assert {p.parent.name for p in data.files} == {"ir", "vi"}
        a = data.batch([0, 5, 2], torch.Generator().manual_seed(7))
        b = data.batch([0, 5, 2], torch.Generator().manual_seed(7))
        assert a.shape == (3, 1, 16, 16)
        assert a.dtype == torch.float32
        assert torch.equal(a, b)
        assert a.min() >= 0
        assert a.max() <= 1
        assert torch.equal(a * 255, (a * 255).round())

    def test_overrides(self):
        cfg = apply_csc_overrides(csc_profile("paper"), ["lr_decay_epoch=none", "scale=0.5,1", "crop=32"])
        assert (cfg.lr_decay_epoch, cfg.scale, cfg.crop) == (None, (0.5, 1.0), 32)
        assert cfg.lr_at(59) == 1e-2
        assert csc_profile("paper").lr_at(29) == 1e-2
        assert csc_profile("paper").lr_at(30) == pytest.approx(1e-3)
        assert csc_profile("paper").total_steps(360) == 60 * 23
        with pytest.raises(ValueError, match="unknown CSC-IVFN training setting 'stage'"):
            apply_csc_overrides(cfg, ["stage=1"])
        with pytest.raises(ValueError, match="bad value for crop"):
            apply_csc_overrides(cfg, ["crop=big"])
        with pytest.raises(ValueError, match="multiple of 4"):
            cfg.with_overrides(n_filters=6)


class TestTraining:
    def test_steps_lower_the_loss_and_log_every_part(self, folder, tmp_path):
        result = train_csc_ivfn(tiny(folder, epochs=6, lr_decay_epoch=None), tmp_path, progress=False)
        log = rows(tmp_path)
        assert [r["step"] for r in log] == list(range(1, 13))
        assert list(log[0]) == ["step", "loss", "mse", "ssim", "lr", "epoch"]
        for r in log:
            assert r["loss"] == pytest.approx(r["mse"] + 5 * r["ssim"], rel=1e-5)
        first, last = np.mean([r["loss"] for r in log[:2]]), np.mean([r["loss"] for r in log[-2:]])
        assert last < 0.6 * first, (first, last)
        assert result.step == result.total_steps == 12
        assert not result.model.training

    def test_lr_schedule_and_result_file(self, straight, folder):
        log = rows(straight)
        assert [r["lr"] for r in log] == [1e-2] * 4 + [pytest.approx(1e-3)] * 2
        assert [r["epoch"] for r in log] == [1, 1, 2, 2, 3, 3]
        saved = read_checkpoint(straight / "csc_ivfn.pt")
        assert saved["model_config"]["n_filters"] == 4
        assert saved["step"] == 6
        assert "optimizer" not in saved
        for spec in (straight / "csc_ivfn.pt", str(straight / "checkpoint.pt")):
            model = load_csc_ivfn(spec)
            assert isinstance(model, CSCIVFN)
            assert not model.training
            assert_same_state(model.state_dict(), saved["model"])
        model = load_csc_ivfn_trained(straight / "csc_ivfn.pt")
        a, b = torch.rand(1, 1, 20, 24), torch.rand(1, 1, 20, 24)
        fused = fuse_csc_ivfn(model, a, b)
        assert fused.shape == (1, 1, 20, 24)
        assert torch.isfinite(fused).all()
        assert fused.min() >= 0
        assert fused.max() <= 1

    def test_loader_refuses_other_files(self, tmp_path):
        save_atomic({"model": {}, "ema": {}}, tmp_path / "fnet.pt")
        with pytest.raises(CheckpointError, match="not a CSC-IVFN file of lzsc's training"):
            load_csc_ivfn_trained(tmp_path / "fnet.pt")
        net = CSCIVFN(csc_profile("quick").model_config())
        state = {k: v.clone() for k, v in net.state_dict().items()}
        state["decoder.0.weight"][0, 0, 0, 0] = math.nan
        bad = {
            "format": trainer.TRAINED_FORMAT,
            "model_config": {"n_filters": 16, "n_iter": 3},
            "model": state,
        }
        save_atomic(bad, tmp_path / "nan.pt")
        with pytest.raises(CheckpointError, match="non-finite"):
            load_csc_ivfn(tmp_path / "nan.pt")


class TestResume:
    def test_stop_and_resume_is_bitwise_identical(self, folder, straight, tmp_path):
        train_csc_ivfn(tiny(folder, steps=3), tmp_path, progress=False)  # stops mid-epoch 2
        assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 3
        train_csc_ivfn(tiny(folder), tmp_path, resume=True, progress=False)
        compare_runs(straight, tmp_path)
        assert [r["step"] for r in rows(tmp_path)] == [1, 2, 3, 4, 5, 6]

    def test_ctrl_c_saves_and_resume_finishes_identically(self, folder, straight, tmp_path):
        def stop(step, values):
            if step == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train_csc_ivfn(tiny(folder), tmp_path, progress=False, callback=stop)
        assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2
        assert not (tmp_path / "csc_ivfn.pt").exists()
        train_csc_ivfn(tiny(folder), tmp_path, resume=True, progress=False)
        compare_runs(straight, tmp_path)

    def test_refuses_to_overwrite_or_to_resume_another_configuration(self, folder, straight):
        with pytest.raises(FileExistsError, match="resume"):
            train_csc_ivfn(tiny(folder), straight, progress=False)
        with pytest.raises(ValueError, match="crop: 16 -> 20"):
            train_csc_ivfn(tiny(folder, crop=20), straight, resume=True, progress=False)
        with pytest.raises(ValueError, match="beyond"):
            train_csc_ivfn(tiny(folder, steps=2), straight, resume=True, progress=False)


class TestFailures:
    def test_nan_loss_stops_before_the_update_and_keeps_the_last_checkpoint(
        self, folder, tmp_path, monkeypatch
    ):
        calls = []

        def nan_at_step_4(x_hat, x, w_ssim, window):
            out = csc_ivfn_loss(x_hat, x, w_ssim, window)
            calls.append(1)
            if len(calls) == 4:
                out.total = out.total * math.nan
            return out

        monkeypatch.setattr(trainer, "csc_ivfn_loss", nan_at_step_4)
        with pytest.raises(DivergenceError, match="diverged at step 4: the loss is nan") as err:
            train_csc_ivfn(tiny(folder, checkpoint_every=2), tmp_path, progress=False)
        assert "--resume --set lr=0.001" in str(err.value)
        saved = read_checkpoint(tmp_path / "checkpoint.pt")
        assert saved["step"] == 2
        assert not find_nonfinite(saved)
        assert not (tmp_path / "csc_ivfn.pt").exists()

    def test_non_finite_weights_are_never_saved(self, folder, tmp_path, monkeypatch):
        made = []

        class Recorded(CSCIVFN):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                made.append(self)

        def poison(step, values):  # a NaN running mean leaves the train-mode loss finite
            made[0].decoder[1].running_mean.fill_(math.nan)

        monkeypatch.setattr(trainer, "CSCIVFN", Recorded)
        with pytest.raises(DivergenceError, match=r"non-finite weights.*No checkpoint was written yet"):
            train_csc_ivfn(tiny(folder, checkpoint_every=2), tmp_path, progress=False, callback=poison)
        assert not (tmp_path / "checkpoint.pt").exists()

    def test_bad_data_is_explained_before_training(self, folder, tmp_path):
        with pytest.raises(FileNotFoundError, match="neither a training set"):
            train_csc_ivfn(tiny(tmp_path / "nowhere"), tmp_path / "out", progress=False)
        (tmp_path / "empty").mkdir()
        with pytest.raises(ValueError, match="no images"):
            train_csc_ivfn(tiny(tmp_path / "empty"), tmp_path / "out", progress=False)
        bad = tmp_path / "bad"
        _write_images(bad)
        Image.fromarray(np.zeros((12, 30), np.uint8)).save(bad / "vi" / "small.png")
        (bad / "ir" / "broken.png").write_bytes(b"not a png")
        with pytest.raises(ValueError, match="2 of 8 training image") as err:
            train_csc_ivfn(tiny(bad), tmp_path / "out", progress=False)
        assert "broken.png" in str(err.value)
        assert "small.png is 30x12, smaller than the 16x16 crop" in str(err.value)
        assert not (tmp_path / "out").exists()


class TestCLI:
    def test_train_then_fuse_with_the_result(self, folder, tmp_path, capsys):
        out = tmp_path / "run"
        argv = ["train", "--method", "csc-ivfn", "--data", str(folder), "--out", str(out), "--no-progress"]
        assert main([*argv, *TINY_SET, "--epochs", "1"]) == 0
        printed = capsys.readouterr().out
        assert "csc-ivfn: step 2 of 2" in printed
        assert str(out / "csc_ivfn.pt") in printed
        assert main([*argv, *TINY_SET, "--epochs", "2", "--resume"]) == 0
        assert "csc-ivfn: step 4 of 4 (2 run" in capsys.readouterr().out
        model = load_csc_ivfn(out / "csc_ivfn.pt")
        fused = fuse_csc_ivfn(model, torch.rand(1, 1, 16, 18), torch.rand(1, 1, 16, 18))
        assert fused.shape == (1, 1, 16, 18)

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--stage", "1"], "--stage is an option of FNet's"),
            (["--init", "x.pt", "--backend", "engine"], "--init, --backend are options of FNet's"),
        ],
    )
    def test_fnet_options_are_refused(self, folder, tmp_path, capsys, extra, message):
        argv = ["train", "--method", "csc-ivfn", "--data", str(folder), "--out", str(tmp_path / "o")]
        assert main([*argv, *extra]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "o").exists()

    def test_epochs_is_refused_for_fnet_and_default_out(self, tmp_path, capsys, monkeypatch):
        assert main(["train", "--epochs", "2", "--data", "synthetic", "--out", str(tmp_path)]) == 2
        assert "--epochs is for --method csc-ivfn" in capsys.readouterr().err
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("LZSC_DATA", str(tmp_path / "missing"))
        assert main(["train", "--method", "csc-ivfn", "--no-progress"]) == 2
        assert "LZSC_DATA" in capsys.readouterr().err
        assert not (tmp_path / "runs").exists()
