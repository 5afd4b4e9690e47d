"""Two-stage training (eqs. 25-26): steps, bitwise resume, Ctrl-C, atomic checkpoints, profiles, CLI.

Everything runs a tiny model (K = 4, 3x3, 2 iterations, 16x16 patches, batch 2) on synthetic pairs.
"""

from __future__ import annotations

import csv
import json
import signal
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from helpers import assert_same_state

from lzsc.checkpoints import load_fnet, read_checkpoint
from lzsc.cli import main
from lzsc.data import SyntheticMCSC
from lzsc.models import FNet, FNetConfig, IFNetConfig
from lzsc.training import EMA, TrainConfig, apply_overrides, profile, train, train_both
from lzsc.training.profiles import MODEL_SETTINGS, RESUMABLE_FIELDS, SETTINGS
from lzsc.training.state import seed_everything
from lzsc.unrolled import LZSCConfig

TINY = dict(n_filters=4, kernel_size=3, n_iter=2, patch=16, batch_size=2, data="synthetic", device="cpu")
TINY_SET = [f"--set={k}={v}" for k, v in TINY.items() if k not in ("data", "device")]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> SyntheticMCSC:
    return SyntheticMCSC(size=16, kind="image", seed=0)


def tiny(stage: int = 1, **overrides) -> TrainConfig:
    values = {**TINY, "steps": 6, "checkpoint_every": 100, "log_every": 2, **overrides}
    return profile("quick", stage=stage, **values)


def log_steps(out: Path) -> list[int]:
    with open(out / "log.csv", newline="") as fh:
        return [int(row["step"]) for row in csv.DictReader(fh)]


def compare_runs(a: Path, b: Path) -> None:
    sa, sb = read_checkpoint(a / "checkpoint.pt"), read_checkpoint(b / "checkpoint.pt")
    for key in ("step", "model", "ifnet", "ema", "optimizer", "rng"):
        assert_same_state(sa[key], sb[key], key)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data) -> Path:
    """An uninterrupted 6-step stage-I run."""
    out = tmp_path_factory.mktemp("straight")
    train(tiny(), data, out, progress=False)
    return out


class TestTrainStep:
    def test_one_step_changes_parameters_and_losses_are_finite(self, tmp_path, data):
        seen = []
        result = train(
            tiny(steps=1), data, tmp_path, progress=False, callback=lambda s, v: seen.append((s, v))
        )
        assert [s for s, _ in seen] == [1]
        assert set(result.last) == {"loss", "int_a", "grad_a", "int_b", "grad_b"}
        assert all(torch.isfinite(torch.tensor(v)) for v in result.last.values())
        seed_everything(0)
        start = FNet(tiny().fnet_config()).state_dict()
        trained = read_checkpoint(tmp_path / "checkpoint.pt")["model"]
        changed = [k for k in start if not torch.equal(start[k], trained[k])]
        assert len(changed) == len(start)
        assert all(torch.isfinite(t).all() for t in trained.values())

    def test_result_file_loads_with_load_fnet_as_the_ema(self, straight):
        model = load_fnet(straight / "stage1.pt")
        ema = read_checkpoint(straight / "stage1.pt")["ema"]
        assert model.config == tiny().fnet_config()
        assert_same_state(model.state_dict(), ema)

    def test_stage2_one_step_and_bf16(self, tmp_path, data):
        cfg = tiny(stage=2, steps=1, skip_stage1=True, bf16=True, channels_last=True)
        result = train(cfg, data, tmp_path, progress=False)
        assert set(result.last) == {"loss", "int", "grad", "ssim_w", "w_a"}
        assert all(torch.isfinite(torch.tensor(v)) for v in result.last.values())

    @pytest.mark.parametrize("backend", ["reference", "fused"])
    def test_bf16_keeps_thresholds_in_float32(self, backend):
        """The bf16 policy lives in the backends: under autocast every backend gives float32 codes."""
        net = FNet(tiny().fnet_config()).set_backend(backend)
        x = torch.rand(1, 1, 8, 8)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert net.lzsc_u1(x).dtype == torch.float32
            assert net(x, x).dtype == torch.float32
        assert net.last_backend == backend

    def test_bad_data_and_stage2_without_init(self, tmp_path, data):
        with pytest.raises(TypeError, match="sample_batch"):
            train(tiny(), object(), tmp_path, progress=False)
        with pytest.raises(ValueError, match="init"):
            train(tiny(stage=2), data, tmp_path / "s2", progress=False)


class TestResume:
    def test_stop_and_resume_is_bitwise_identical(self, tmp_path, straight, data):
        train(tiny(steps=3), data, tmp_path, progress=False)
        train(tiny(steps=6), data, tmp_path, resume=True, progress=False)
        compare_runs(straight, tmp_path)
        assert log_steps(tmp_path) == [1, 2, 3, 4, 5, 6]
        assert_same_state(
            read_checkpoint(straight / "stage1.pt")["ema"], read_checkpoint(tmp_path / "stage1.pt")["ema"]
        )

    def test_stage2_resume_is_bitwise_identical(self, tmp_path, straight, data):
        init = straight / "stage1.pt"
        train(tiny(stage=2, steps=4), data, tmp_path / "a", init=init, progress=False)
        train(tiny(stage=2, steps=2), data, tmp_path / "b", init=init, progress=False)
        train(tiny(stage=2, steps=4), data, tmp_path / "b", resume=True, progress=False)
        compare_runs(tmp_path / "a", tmp_path / "b")

    def test_resume_after_a_crash_drops_log_rows_past_the_checkpoint(self, tmp_path, straight, data):
        def crash(step, values):
            if step == 5:
                raise RuntimeError("simulated crash")

        with pytest.raises(RuntimeError, match="simulated"):
            train(tiny(checkpoint_every=2, log_every=1), data, tmp_path, progress=False, callback=crash)
        assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 4
        train(tiny(checkpoint_every=2, log_every=1), data, tmp_path, resume=True, progress=False)
        assert log_steps(tmp_path) == [1, 2, 3, 4, 5, 6]
        compare_runs(straight, tmp_path)

    def test_refuses_to_overwrite_or_to_resume_another_configuration(self, straight, data):
        with pytest.raises(FileExistsError, match="resume"):
            train(tiny(), data, straight, progress=False)
        with pytest.raises(ValueError, match="n_iter"):
            train(tiny(n_iter=3), data, straight, resume=True, progress=False)
        with pytest.raises(ValueError, match="beyond"):
            train(tiny(steps=2), data, straight, resume=True, progress=False)


class TestInterrupt:
    def test_keyboard_interrupt_saves_and_resume_finishes_identically(self, tmp_path, straight, data):
        def stop(step, values):
            if step == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train(tiny(), data, tmp_path, progress=False, callback=stop)
        assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2
        assert not (tmp_path / "stage1.pt").exists()
        train(tiny(), data, tmp_path, resume=True, progress=False)
        compare_runs(straight, tmp_path)
        assert log_steps(tmp_path) == [1, 2, 3, 4, 5, 6]

    def test_sigint_is_deferred_to_the_end_of_the_step(self, tmp_path, straight, data):
        def ctrl_c(step, values):
            if step == 3:
                signal.raise_signal(signal.SIGINT)

        handler = signal.getsignal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            train(tiny(), data, tmp_path, progress=False, callback=ctrl_c)
        assert signal.getsignal(signal.SIGINT) is handler
        assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 3
        train(tiny(), data, tmp_path, resume=True, progress=False)
        compare_runs(straight, tmp_path)


class TestAtomicCheckpoint:
    def test_failed_write_keeps_the_previous_checkpoint(self, tmp_path, data, monkeypatch):
        real_save, calls = torch.save, []

        def flaky_save(obj, f, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                f.write(b"partial garbage")
                raise OSError("disk full")
            return real_save(obj, f, *args, **kwargs)

        monkeypatch.setattr(torch, "save", flaky_save)
        with pytest.raises(OSError, match="disk full"):
            train(tiny(steps=4, checkpoint_every=2), data, tmp_path, progress=False)
        assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "log.csv", "speed.csv"]


class TestEMAAndProfiles:
    def test_ema_average_and_state_dict(self):
        net = torch.nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            net.weight.fill_(1.0)
        ema = EMA(net, decay=0.75)
        with torch.no_grad():
            net.weight.fill_(5.0)
        ema.update(net)
        assert torch.equal(ema.module.weight, torch.full((1, 2), 2.0))
        other = EMA(net, decay=0.75)
        other.load_state_dict(ema.state_dict())
        assert torch.equal(other.module.weight, ema.module.weight)
        assert not ema.module.weight.requires_grad
        with pytest.raises(ValueError, match="decay"):
            EMA(net, decay=1.0)

    def test_profiles(self):
        paper, quick = profile("paper"), profile("quick")
        assert (paper.steps, paper.batch_size, paper.patch, paper.lr, paper.ema_decay) == (
            20_000,
            16,
            128,
            1e-4,
            0.999,
        )
        assert paper.model == FNetConfig()  # the release's model: the defaults of LZSCConfig, once
        assert (paper.model.n_filters, paper.model.kernel_size, paper.model.block.n_iter) == (64, 9, 4)
        assert (paper.model.block.alpha, paper.model.block.gamma) == (0.1, 100.0)
        assert (paper.w_int, paper.w_grad, paper.w_ssim, paper.w_rec_int, paper.w_rec_grad) == (
            20,
            20,
            15,
            1,
            1,
        )
        assert quick.device == "cpu"
        assert quick.ema_decay < paper.ema_decay
        with pytest.raises(ValueError, match="unknown profile 'full'; choose 'quick' or 'paper'"):
            profile("full")

    def test_overrides_and_ablation_configs(self):
        cfg = apply_overrides(profile("paper"), ["n_iter=2", "ifnet_threshold=soft", "w_ssim=0", "bf16=true"])
        assert (cfg.model.block.n_iter, cfg.w_ssim, cfg.bf16) == (2, 0.0, True)
        assert cfg.fnet_config() is cfg.model
        assert cfg.fnet_config().block.threshold == "sigmoidal"
        assert cfg.ifnet_config().block.threshold == "soft"
        assert cfg.ifnet_config().block.n_iter == 2
        assert apply_overrides(cfg, ["steps=2e4", "ifnet_threshold=none"]).ifnet_threshold is None
        assert cfg.with_overrides(block_kind="lcsc").fnet_config().block_kind == "lcsc"
        assert apply_overrides(cfg, ["stage=2", "device=cuda:1", "init_theta=-1,-3"]).to_dict() == {
            **cfg.to_dict(),
            "stage": 2,
            "device": "cuda:1",
            "init_theta": (-1.0, -3.0),
        }
        with pytest.raises(ValueError, match="unknown training setting"):
            apply_overrides(cfg, ["nope=1"])
        with pytest.raises(ValueError, match="true/false"):
            apply_overrides(cfg, ["bf16=maybe"])
        with pytest.raises(ValueError, match=r"ifnet_threshold: expects one of .* or none"):
            apply_overrides(cfg, ["ifnet_threshold=firm"])
        with pytest.raises(ValueError, match="stage: expects one of 1, 2"):
            apply_overrides(cfg, ["stage=3"])
        with pytest.raises(ValueError, match="momentum"):
            cfg.with_overrides(momentum="adam")
        with pytest.raises(ValueError, match=r"unknown training setting.*'in_channels'"):
            cfg.with_overrides(in_channels=2)  # set per block by FNet, not a setting
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg

    def test_to_dict_names_every_setting_once(self):
        cfg = profile("quick", n_iter=3, threshold="soft", w_int=5.0)
        values = cfg.to_dict()
        assert list(values) == list(SETTINGS)
        assert (values["n_iter"], values["threshold"], values["w_int"]) == (3, "soft", 5.0)
        assert set(SETTINGS) > MODEL_SETTINGS
        assert {"n_filters", "block_kind", "ifnet_threshold"} <= MODEL_SETTINGS
        assert "model" not in values  # flattened: one name per setting
        text = json.dumps(values, sort_keys=True)  # what the ablation runs hash
        assert text == json.dumps(
            profile("quick", w_int=5.0, threshold="soft", n_iter=3).to_dict(), sort_keys=True
        )
        assert TrainConfig.from_dict(json.loads(text)) == cfg  # JSON lists back to tuples
        assert TrainConfig.from_dict({"n_iter": 3}) == TrainConfig().with_overrides(n_iter=3)
        with pytest.raises(ValueError, match="'nope'"):
            TrainConfig.from_dict({"nope": 1})

    def test_setting_names_do_not_collide(self):
        own = {f.name for f in fields(TrainConfig)} - {"model"}
        block = {f.name for f in fields(LZSCConfig)} - {"in_channels"}
        net = {f.name for f in fields(FNetConfig)} - {"block"}
        assert len(own) + len(block) + len(net) == len(SETTINGS)  # no name in two places
        assert set(SETTINGS) == own | block | net

    def test_backend_is_an_execution_detail(self):
        cfg = profile("quick")
        assert cfg.backend == "auto"
        assert "backend" in RESUMABLE_FIELDS
        assert cfg.with_overrides(backend="reference").backend == "reference"
        assert apply_overrides(cfg, ["backend=engine"]).backend == "engine"
        with pytest.raises(ValueError, match="backend must be one of"):
            cfg.with_overrides(backend="fast")
        with pytest.raises(ValueError, match="bad value for backend: expects one of 'auto', 'reference'"):
            apply_overrides(cfg, ["backend=fast"])
        with pytest.raises(TypeError, match="model must be an FNetConfig"):
            TrainConfig(model=IFNetConfig())


class TestCLI:
    def test_train_both_on_synthetic_data(self, tmp_path, capsys):
        argv = ["train", "--stage", "both", "--profile", "quick", "--data", "synthetic", "--steps", "2"]
        assert main([*argv, "--out", str(tmp_path), "--no-progress", *TINY_SET]) == 0
        assert "result" in capsys.readouterr().out
        model = load_fnet(tmp_path / "stage2" / "stage2.pt")
        assert model.config.block.n_filters == 4
        assert main([*argv, "--out", str(tmp_path), "--no-progress", *TINY_SET]) == 2  # exists, no --resume
        assert main([*argv, "--out", str(tmp_path), "--no-progress", "--resume", *TINY_SET]) == 0

    def test_stage2_starts_from_the_stage1_result(self, tmp_path, capsys):
        base = ["train", "--profile", "quick", "--data", "synthetic", "--no-progress", *TINY_SET]
        s1, s2 = tmp_path / "one", tmp_path / "two"
        assert main([*base, "--stage", "1", "--steps", "3", "--out", str(s1)]) == 0
        assert (
            main([*base, "--stage", "2", "--steps", "1", "--out", str(s2), "--init", str(s1 / "stage1.pt")])
            == 0
        )
        start = read_checkpoint(s1 / "stage1.pt")["ema"]
        after = read_checkpoint(s2 / "stage2.pt")["model"]
        lr = profile("quick").lr
        # one Adam step moves every weight by about lr at most
        assert all((after[k] - start[k]).abs().max() <= 1.01 * lr for k in start)
        bad = [
            "--stage",
            "2",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "bad"),
            "--init",
            str(s1 / "stage1.pt"),
        ]
        assert main([*base, *bad, "--set", "n_filters=5"]) == 2
        assert "use the same model settings" in capsys.readouterr().err

    def test_missing_stage1_result_is_explained(self, tmp_path, capsys):
        argv = [
            "train",
            "--stage",
            "2",
            "--profile",
            "quick",
            "--data",
            "synthetic",
            "--out",
            str(tmp_path / "s"),
        ]
        assert main([*argv, "--no-progress", *TINY_SET]) == 2
        assert "--init" in capsys.readouterr().err


def test_train_both_skip_stage1(tmp_path, data):
    first, second = train_both(tiny(steps=1, skip_stage1=True), data, tmp_path, progress=False)
    assert first is None
    assert second.result_path == tmp_path / "stage2" / "stage2.pt"
