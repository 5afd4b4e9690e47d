"""DAE-Fuse training (lzsc.training.dae_fuse): settings, both phases, learning, bitwise resume across
the phase boundary, Ctrl-C, divergence, bad data, the CLI and the result file.

Everything runs a tiny DAE-Fuse (4 channels, one block each, 16 x 16 crops, batch 2) on synthetic
image-like pairs: 3 Phase-I steps, then 3 Phase-II steps.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_same_state
from PIL import Image

from lzsc.checkpoints import find_nonfinite, read_checkpoint
from lzsc.cli import main
from lzsc.methods.dae_fuse import DAEFuse, load_dae_fuse
from lzsc.methods.registry import load_method
from lzsc.training import dae_fuse as trainer
from lzsc.training.dae_fuse import (
    LOG_COLUMNS,
    DAETrainConfig,
    apply_dae_overrides,
    dae_profile,
    train_dae_fuse,
)
from lzsc.training.log import read_log
from lzsc.training.state import DivergenceError

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = dict(channels=4, heads=1, high_blocks=1, vit_patch=4, vit_depth=1, vit_heads=1, disc_widths=(4,))
TINY = dict(phase1_steps=3, phase2_steps=3, batch_size=2, patch=16, data="synthetic", **MODEL)
TINY_SET = [f"--set={k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in TINY.items()]


def tiny(**overrides) -> DAETrainConfig:
    return dae_profile(
        "quick", **{**TINY, "checkpoint_every": 100, "log_every": 1, **overrides}
    ).with_overrides(threads=None)


def compare_runs(a: Path, b: Path) -> None:
    ca, cb = read_checkpoint(a / "checkpoint.pt"), read_checkpoint(b / "checkpoint.pt")
    for key in ("step", "model", "discriminators", "optimizer", "disc_optimizer", "rng"):
        assert_same_state(ca[key], cb[key], key)
    assert_same_state(
        read_checkpoint(a / "dae_fuse.pt")["model"], read_checkpoint(b / "dae_fuse.pt")["model"]
    )


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """An uninterrupted run: 3 Phase-I steps, then 3 Phase-II steps."""
    out = tmp_path_factory.mktemp("straight")
    train_dae_fuse(tiny(), out, progress=False)
    return out


class TestSettings:
    def test_profiles(self):
        paper, quick = dae_profile("paper"), dae_profile("quick")
        assert (paper.batch_size, paper.patch, paper.lr, paper.clip_grad) == (8, 128, 1e-4, 0.01)
        assert paper.phase2_steps == 2 * paper.phase1_steps  # CDDFuse's 40 : 80 epochs
        assert paper.device == "cuda"
        assert paper.model.channels == 64
        assert paper.w_text == paper.w_int == paper.w_adv2 == 1.0  # the paper's weights, as written
        assert quick.w_adv2 == 0.1  # the quick profile's one stated deviation
        assert quick.device == "cpu"
        assert quick.model.channels < paper.model.channels

    def test_overrides_reach_the_model_and_round_trip(self):
        cfg = apply_dae_overrides(
            dae_profile("quick"), ["channels=8", "disc_widths=4,8", "lr_decay_every=none"]
        )
        assert cfg.model.channels == 8
        assert cfg.model.disc_widths == (4, 8)
        assert cfg.lr_decay_every is None
        assert DAETrainConfig.from_dict(cfg.to_dict()) == cfg
        with pytest.raises(ValueError, match="unknown DAE-Fuse training setting 'stage'"):
            apply_dae_overrides(cfg, ["stage=1"])
        with pytest.raises(ValueError, match="bad value for sigma"):
            apply_dae_overrides(cfg, ["sigma=high"])

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"sigma": 1.5}, "sigma must be in"),
            ({"phase1_steps": 0, "phase2_steps": 0}, "at least one step"),
            ({"lr": 0.0}, "lr must be"),
            ({"patch": 8}, "patch must be"),
            ({"clip_grad": -1.0}, "clip_grad"),
            ({"w_adv2": math.nan}, "w_adv2"),
            ({"device": "tpu"}, "device must be"),
        ],
    )
    def test_bad_settings(self, change, message):
        with pytest.raises(ValueError, match=message):
            tiny(**change)

    def test_schedule(self):
        cfg = tiny(lr_decay_every=2, lr_gamma=0.5)
        assert [cfg.phase_of(k) for k in range(6)] == [1, 1, 1, 2, 2, 2]
        assert [cfg.lr_factor(k) for k in range(5)] == [1, 1, 0.5, 0.5, 0.25]


class TestTraining:
    def test_both_phases_are_logged_with_every_term(self, straight):
        rows = read_log(straight / "log.csv")
        assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
        assert list(rows[0]) == ["step", *LOG_COLUMNS]
        assert [r["phase"] for r in rows] == [1, 1, 1, 2, 2, 2]
        for r in rows[:3]:
            assert all(math.isfinite(r[k]) for k in ("corr", "content", "psnr_a", "adv", "d_loss"))
            assert math.isnan(r["text"])
            assert math.isnan(r["int"])
            assert r["loss"] == pytest.approx(
                0.1 * r["adv"] + (2 / 3) * r["corr"] + (1 / 3) * r["content"], rel=1e-5
            )
        for r in rows[3:]:
            assert math.isnan(r["corr"])
            assert math.isfinite(r["text"])
            assert r["loss"] == pytest.approx(r["text"] + r["int"] + tiny().w_adv2 * r["adv"], rel=1e-5)
            assert 0 < r["d_real"] < 1
            assert 0 < r["d_fake"] < 1

    def test_result_file_loads_as_a_method(self, straight):
        model = load_method("dae-fuse", straight / "dae_fuse.pt")
        assert isinstance(model, DAEFuse)
        assert not model.training
        a, b = torch.rand(1, 1, 21, 19), torch.rand(1, 1, 21, 19)
        with torch.no_grad():
            fused = model(a, b)
        assert fused.shape == (1, 1, 21, 19)
        saved = read_checkpoint(straight / "dae_fuse.pt")
        assert saved["kind"] == "result"
        assert saved["step"] == 6
        assert "discriminators" not in saved

    def test_phase_two_changes_the_fusion_layers_and_phase_one_does_not(self, tmp_path):
        train_dae_fuse(tiny(phase2_steps=0), tmp_path / "p1", progress=False)
        with pytest.warns(UserWarning, match="within Phase I"):
            first = load_dae_fuse(tmp_path / "p1" / "dae_fuse.pt")
        fresh = DAEFuse(tiny().model)
        torch.testing.assert_close(first.merge.weight, fresh.merge.weight)  # no gradient in Phase I
        assert not torch.equal(first.embedding.weight, fresh.embedding.weight)

    def test_learns_to_reconstruct(self, tmp_path):
        cfg = tiny(phase1_steps=30, phase2_steps=0, lr=1e-2, channels=8, heads=2, vit_heads=2)
        result = train_dae_fuse(cfg, tmp_path, progress=False)
        rows = read_log(result.log_path)
        assert np.mean([r["content"] for r in rows[-5:]]) < 0.5 * np.mean([r["content"] for r in rows[:5]])


class TestResume:
    def test_stop_in_phase_one_and_resume_across_the_boundary_is_bitwise_identical(self, straight, tmp_path):
        train_dae_fuse(tiny(phase1_steps=2, phase2_steps=0), tmp_path, progress=False)
        assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2
        train_dae_fuse(tiny(), tmp_path, resume=True, progress=False)  # phase1_steps 2 -> 3: still in Phase I
        compare_runs(straight, tmp_path)
        assert [r["step"] for r in read_log(tmp_path / "log.csv")] == [1, 2, 3, 4, 5, 6]

    def test_ctrl_c_in_phase_two_saves_and_resume_finishes_identically(self, straight, tmp_path):
        def stop(step, values):
            if step == 4:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train_dae_fuse(tiny(), tmp_path, progress=False, callback=stop)
        assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 4
        assert not (tmp_path / "dae_fuse.pt").exists()
        train_dae_fuse(tiny(), tmp_path, resume=True, progress=False)
        compare_runs(straight, tmp_path)

    def test_refusals(self, straight):
        with pytest.raises(FileExistsError, match="resume"):
            train_dae_fuse(tiny(), straight, progress=False)
        with pytest.raises(ValueError, match="patch: 16 -> 32"):
            train_dae_fuse(tiny(patch=32), straight, resume=True, progress=False)
        with pytest.raises(ValueError, match="past the end of Phase I"):
            train_dae_fuse(tiny(phase1_steps=4), straight, resume=True, progress=False)
        with pytest.raises(ValueError, match="beyond"):
            train_dae_fuse(tiny(phase2_steps=1), straight, resume=True, progress=False)


class TestFailures:
    def test_nan_loss_stops_before_the_update_and_keeps_the_last_checkpoint(self, tmp_path, monkeypatch):
        calls = []
        original = trainer.phase2_loss

        def nan_at_second_call(*args, **kwargs):
            out = original(*args, **kwargs)
            calls.append(1)
            if len(calls) == 2:
                out.total = out.total * math.nan
            return out

        monkeypatch.setattr(trainer, "phase2_loss", nan_at_second_call)
        with pytest.raises(DivergenceError, match=r"diverged at step 5 \(phase 2\): the loss is nan") as err:
            train_dae_fuse(tiny(checkpoint_every=2), tmp_path, progress=False)
        assert "--resume --set lr=" in str(err.value)
        saved = read_checkpoint(tmp_path / "checkpoint.pt")
        assert saved["step"] == 4
        assert not find_nonfinite(saved)
        assert not (tmp_path / "dae_fuse.pt").exists()

    def test_bad_data_is_explained_before_training(self, tmp_path):
        pairs = tmp_path / "pairs"
        for sub in ("ir", "vi"):
            (pairs / sub).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((24, 24), 100, np.uint8)).save(pairs / sub / f"{i}.png")
        Image.fromarray(np.zeros((10, 24), np.uint8)).save(pairs / "ir" / "2.png")
        Image.fromarray(np.zeros((10, 24), np.uint8)).save(pairs / "vi" / "2.png")
        with pytest.raises(ValueError, match="1 of 3 training pair") as err:
            train_dae_fuse(tiny(data=str(pairs)), tmp_path / "out", progress=False)
        assert "2.png" in str(err.value)
        assert not (tmp_path / "out").exists()


class TestCLI:
    def test_train_resume_then_fuse(self, tmp_path, capsys):
        out = tmp_path / "run"
        argv = ["train", "--method", "dae-fuse", "--out", str(out), "--no-progress", *TINY_SET]
        assert main([*argv, "--set", "phase2_steps=1"]) == 0
        printed = capsys.readouterr().out
        assert "dae-fuse: step 4 of 4" in printed
        assert str(out / "dae_fuse.pt") in printed
        assert main([*argv, "--resume"]) == 0
        assert "dae-fuse: step 6 of 6 (2 run" in capsys.readouterr().out
        a, b = tmp_path / "a.png", tmp_path / "b.png"
        for path, level in ((a, 40), (b, 200)):
            Image.fromarray(np.full((20, 22), level, np.uint8)).save(path)
        fused = tmp_path / "f.png"
        argv = ["fuse", "--method", "dae-fuse", "--checkpoint", str(out / "dae_fuse.pt"), str(a), str(b)]
        assert main([*argv, "-o", str(fused)]) == 0
        assert np.asarray(Image.open(fused)).shape == (20, 22)

    def test_evaluate_a_trained_dae_fuse(self, straight, tmp_path, monkeypatch, capsys):
        rng = np.random.default_rng(0)
        for sub in ("ir", "vi"):
            folder = tmp_path / "data" / "test" / "TNO" / sub
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (48, 56), dtype=np.uint8)).save(folder / f"{i:02d}.png")
        monkeypatch.setenv("LZSC_DATA", str(tmp_path / "data"))
        out = tmp_path / "r.csv"
        argv = ["evaluate", "--method", "dae-fuse", "--checkpoint", str(straight / "dae_fuse.pt")]
        assert main([*argv, "--dataset", "TNO", "--out", str(out), "--cache", str(tmp_path / "c")]) == 0
        printed = capsys.readouterr().out
        assert "TNO: 2 pairs, dae-fuse" in printed
        assert len(out.read_text().splitlines()) == 3  # header and one row per pair

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--stage", "2"], "--stage is an option of FNet's"),
            (["--steps", "5"], "phase1_steps"),
            (["--epochs", "5"], "phase1_steps"),
        ],
    )
    def test_other_methods_options_are_refused(self, tmp_path, capsys, extra, message):
        assert main(["train", "--method", "dae-fuse", "--out", str(tmp_path / "o"), *extra]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "o").exists()

    def test_paper_profile_needs_cuda_and_fuse_needs_a_checkpoint(self, tmp_path, capsys):
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        assert (
            main(["train", "--method", "dae-fuse", "--profile", "paper", "--out", str(tmp_path / "o")]) == 2
        )
        assert "CUDA is not available" in capsys.readouterr().err
        a = tmp_path / "a.png"
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(a)
        assert main(["fuse", "--method", "dae-fuse", str(a), str(a), "-o", str(tmp_path / "f.png")]) == 2
        assert "no released weights" in capsys.readouterr().err
