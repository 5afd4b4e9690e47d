"""The GPU settings of the trainer, checked on CPU: the device loader, host synchronisation at log
steps only, the speed columns of the log, and that none of them changes the run."""

from __future__ import annotations

import math
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from helpers import assert_same_state, write_pairs

from lzsc.checkpoints import read_checkpoint
from lzsc.training import profile, train
from lzsc.training.log import read_log
from lzsc.training.state import DivergenceError
from lzsc.training.trainer import SPEED_COLUMNS, SPEED_NAME

TINY = {
    "n_filters": 4,
    "kernel_size": 3,
    "n_iter": 1,
    "patch": 16,
    "batch_size": 4,
    "device": "cpu",
    "threads": 1,
    "log_every": 4,
    "checkpoint_every": 5,
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    write_pairs(root, [f"{i}.png" for i in range(4)], size=(28, 33))
    return root


def tiny(data_dir: Path, **changes):
    return profile("quick", data=str(data_dir), **{**TINY, **changes})


def weights(result) -> dict:
    saved = read_checkpoint(result.checkpoint_path)
    return {k: saved[k] for k in ("model", "ifnet", "ema", "optimizer")} | {"rng": saved["rng"]["data"]}


@pytest.mark.parametrize("stage", [1, 2])
def test_device_loader_and_log_sync_train_the_same_run(tmp_path: Path, data_dir: Path, stage: int) -> None:
    init = None
    if stage == 2:
        init = train(tiny(data_dir, steps=2), out_dir=tmp_path / "s1", progress=False).result_path
    runs = {}
    for loader, sync in (("host", "step"), ("device", "log"), ("device", "step")):
        config = tiny(data_dir, stage=stage, steps=9, loader=loader, host_sync=sync)
        runs[loader, sync] = train(config, out_dir=tmp_path / f"{loader}-{sync}", init=init, progress=False)
    reference = weights(runs["host", "step"])
    for key, result in runs.items():
        assert_same_state(weights(result), reference, str(key))
        assert result.last == runs["host", "step"].last
    logs = [read_log(result.log_path) for result in runs.values()]
    losses = [[row["loss"] for row in log] for log in logs]
    assert losses[0] == losses[1] == losses[2]
    assert len(losses[0]) == 9


def test_switching_loader_on_resume_continues_the_run(tmp_path: Path, data_dir: Path) -> None:
    train(tiny(data_dir, steps=5), out_dir=tmp_path / "run", progress=False)
    resumed = train(
        tiny(data_dir, steps=11, loader="device", host_sync="log"),
        out_dir=tmp_path / "run",
        resume=True,
        progress=False,
    )
    straight = train(tiny(data_dir, steps=11), out_dir=tmp_path / "straight", progress=False)
    assert resumed.steps_run == 6
    assert_same_state(weights(resumed), weights(straight))


def test_speed_is_logged_at_log_steps(tmp_path: Path, data_dir: Path) -> None:
    result = train(tiny(data_dir, steps=9, host_sync="log"), out_dir=tmp_path, progress=False)
    assert [int(r["step"]) for r in read_log(result.log_path)] == list(range(1, 10))
    assert set(read_log(result.log_path)[0]) == {"step", *result.last}, "losses only in log.csv"
    speed = read_log(tmp_path / SPEED_NAME)
    assert [int(r["step"]) for r in speed] == [4, 8, 9]
    for row in speed:
        assert set(row) == {"step", *SPEED_COLUMNS}
        assert all(math.isfinite(row[c]) and row[c] > 0 for c in SPEED_COLUMNS)
        assert row["images_per_s"] == pytest.approx(4 * row["steps_per_s"])
    assert speed[0]["peak_mem_mb"] > 10  # the process's peak resident memory on CPU
    assert result.images_per_s == pytest.approx(4 * result.steps_per_s)
    resumed = train(tiny(data_dir, steps=13, host_sync="log"), out_dir=tmp_path, resume=True, progress=False)
    assert [int(r["step"]) for r in read_log(tmp_path / SPEED_NAME)] == [4, 8, 9, 12, 13]
    assert resumed.steps_run == 4


class _Exploding:
    """Pairs that become huge from the sixth batch on (a diverging loss)."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict:
        self.calls += 1
        batch = self.inner.sample_batch(batch_size, generator)
        scale = 1e8 if self.calls >= 6 else 1.0
        return {"a": batch["a"] * scale, "b": batch["b"] * scale}


def test_log_sync_finds_divergence_and_keeps_the_last_good_checkpoint(tmp_path: Path, data_dir: Path) -> None:
    from lzsc.data import training_dataset

    data = _Exploding(training_dataset(str(data_dir), patch=16))
    config = tiny(data_dir, steps=20, host_sync="log", log_every=8, checkpoint_every=5)
    with pytest.raises(DivergenceError, match=r"at step 6: .*after 3 update\(s\) had been applied"):
        train(config, data, tmp_path, progress=False)
    assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 5


def test_ctrl_c_under_log_sync_stops_at_the_next_log_step(tmp_path: Path, data_dir: Path) -> None:
    seen = []

    def ctrl_c(step: int, losses: dict) -> None:
        seen.append(step)
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(tiny(data_dir, steps=30, host_sync="log"), out_dir=tmp_path, progress=False, callback=ctrl_c)
    assert seen == [1, 2, 3, 4], "the callback sees every step read at the log step"
    assert read_checkpoint(tmp_path / "checkpoint.pt")["step"] == 4


@pytest.mark.parametrize(("key", "value"), [("loader", "gpu"), ("host_sync", "never")])
def test_bad_settings_are_refused(data_dir: Path, key: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{key} must be one of"):
        tiny(data_dir, **{key: value})


@pytest.mark.skipif(shutil.which("cc") is None, reason="torch.compile on CPU needs a C compiler")
def test_a_compiled_model_trains_the_same_run(tmp_path: Path, data_dir: Path) -> None:
    plain = train(tiny(data_dir, steps=3), out_dir=tmp_path / "plain", progress=False)
    config = tiny(data_dir, steps=3, compile_model=True)
    compiled = train(config, out_dir=tmp_path / "compiled", progress=False)
    mine, theirs = weights(compiled), weights(plain)
    for key in ("model", "ifnet", "ema"):
        torch.testing.assert_close(mine[key], theirs[key], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("extra", "bf16"), [([], False), (["--set", "bf16=true"], True)])
def test_the_paper_profile_moved_to_cpu_takes_the_cpu_path(
    tmp_path: Path, data_dir: Path, extra: list[str], bf16: bool
) -> None:
    from lzsc.cli import main

    tiny_paper = ["patch=16", "batch_size=2", "n_filters=4", "kernel_size=3", "n_iter=1", "threads=1"]
    args = ["train", "--stage", "1", "--profile", "paper", "--device", "cpu", "--steps", "1", "--no-progress"]
    args += ["--data", str(data_dir), "--out", str(tmp_path), *[x for s in tiny_paper for x in ("--set", s)]]
    assert main(args + extra) == 0
    saved = read_checkpoint(tmp_path / "checkpoint.pt")["config"]
    assert (saved["bf16"], saved["loader"], saved["host_sync"]) == (bf16, "host", "step")
