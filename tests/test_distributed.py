"""Data-parallel training through torchrun (gloo on CPU, world size 2) is the single-process run.

Each test launches ``python -m torch.distributed.run --standalone --nproc_per_node 2 -m lzsc train``
as a user would, on a small folder of pairs, and compares the checkpoint with an in-process run of
the same global batch and seed (float32 tolerance: the all-reduce sums the two halves' gradients in
another order than one process does).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from PIL import Image

from lzsc.checkpoints import read_checkpoint
from lzsc.training import profile, train, train_both
from lzsc.training.distributed import Distributed, context

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="this torch has no gloo backend"
)

SETTINGS = {
    "batch_size": 4,
    "patch": 16,
    "n_filters": 4,
    "kernel_size": 3,
    "n_iter": 1,
    "checkpoint_every": 3,
    "log_every": 2,
    "threads": 1,
    "lr": 1e-3,
}
TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pairs whose contrast differs from pair to pair, with B independent of A: stage II's SSIM weight
    w_A (a mean over the whole batch) then differs between the ranks' halves, so a run that used each
    half's own w_A instead of the global one would not match."""
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    for sub in ("ir", "vi"):
        (root / sub).mkdir()
    for i in range(5):
        a = rng.integers(0, 30 + 55 * i, size=(30, 37), dtype=np.uint8)
        b = rng.integers(0, 255 - 50 * i, size=(30, 37), dtype=np.uint8)
        Image.fromarray(a).save(root / "ir" / f"{i}.png")
        Image.fromarray(b).save(root / "vi" / f"{i}.png")
    return root


def config(data_dir: Path, **changes):
    return profile("quick", data=str(data_dir), device="cpu", **{**SETTINGS, **changes})


def torchrun(out: Path, data_dir: Path, steps: int, stage: str = "both", **changes) -> list[str]:
    given = {**SETTINGS, **changes}
    settings = [part for key, value in given.items() for part in ("--set", f"{key}={value}")]
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "lzsc", "train", "--stage", stage, "--profile", "quick", "--device", "cpu",
        "--data", str(data_dir), "--out", str(out), "--steps", str(steps), "--no-progress", *settings,
    ]  # fmt: skip


def run(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, f"torchrun failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (torchrun starts its workers in sessions of their own,
    so killing torchrun's process group leaves them running)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun and its workers at once, as a machine failure would."""
    for pid in [*children(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def assert_close_states(x: dict, y: dict, where: str) -> None:
    assert x.keys() == y.keys(), where
    for key in x:
        torch.testing.assert_close(x[key], y[key], **TOLERANCE, msg=lambda m, k=key: f"{where}.{k}: {m}")


def test_two_processes_train_the_single_process_run(tmp_path: Path, data_dir: Path) -> None:
    done = run(torchrun(tmp_path / "ddp", data_dir, steps=6))
    assert done.stdout.count("stage 1: step 6") == 1, "rank 0 alone reports"
    first, second = train_both(config(data_dir, steps=6), out_dir=tmp_path / "one", progress=False)
    assert first is not None
    for stage, single in ((1, first), (2, second)):
        ddp = read_checkpoint(tmp_path / "ddp" / f"stage{stage}" / "checkpoint.pt")
        ref = read_checkpoint(single.checkpoint_path)
        assert ddp["step"] == ref["step"] == 6
        assert_close_states(ddp["model"], ref["model"], f"stage {stage} model")
        assert_close_states(ddp["ema"], ref["ema"], f"stage {stage} ema")
        assert torch.equal(ddp["rng"]["data"], ref["rng"]["data"]), "the crop generator is the global one"
        ddp_log = (tmp_path / "ddp" / f"stage{stage}" / "log.csv").read_text().splitlines()
        assert len(ddp_log) == 7, "one header and one row per step, written once"
    moved = read_checkpoint(tmp_path / "ddp" / "stage2" / "checkpoint.pt")["model"]
    start = read_checkpoint(tmp_path / "ddp" / "stage1" / "stage1.pt")["ema"]
    assert any(not torch.equal(moved[k], start[k]) for k in start), "stage II trained"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc to find the workers")
def test_a_killed_run_resumes_in_one_process(tmp_path: Path, data_dir: Path) -> None:
    """SIGKILL a run of two processes right after its first checkpoint; one process continues it.

    The kill lands a few steps after that checkpoint; drift between the data-parallel and the
    single-process rounding grows with the steps, so the first checkpoint is the one compared."""
    out = tmp_path / "ddp"
    slower = {"patch": 24, "batch_size": 8, "n_filters": 8, "kernel_size": 5}  # steps of ~0.1 s
    command = torchrun(out, data_dir, steps=100_000, stage="1", **slower)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    checkpoint, deadline = out / "checkpoint.pt", time.monotonic() + 300
    try:
        while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert checkpoint.exists(), "the data-parallel run wrote no checkpoint"
    finally:
        kill_tree(proc)
    killed_at = read_checkpoint(checkpoint)["step"]
    assert killed_at % SETTINGS["checkpoint_every"] == 0
    total = killed_at + 4
    same = config(data_dir, stage=1, steps=total, **slower)
    resumed = train(same, out_dir=out, resume=True, progress=False)
    reference = train(same, out_dir=tmp_path / "one", progress=False)
    assert resumed.steps_run == 4
    a, b = read_checkpoint(resumed.checkpoint_path), read_checkpoint(reference.checkpoint_path)
    assert_close_states(a["model"], b["model"], "model")
    assert_close_states(a["ifnet"], b["ifnet"], "ifnet")
    assert torch.equal(a["rng"]["data"], b["rng"]["data"])


class TestDistributedContext:
    def test_single_process_by_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
        ctx = context()
        assert ctx == Distributed()
        assert ctx.main
        assert ctx.shard(16) is None
        assert ctx.local_batch(16) == 16

    def test_shards_split_the_batch(self) -> None:
        parts = [Distributed(rank, 4).shard(16) for rank in range(4)]
        assert [(p.start, p.stop) for p in parts] == [(0, 4), (4, 8), (8, 12), (12, 16)]
        assert Distributed(1, 4, 1).device(torch.device("cuda")) == torch.device("cuda", 1)
        assert Distributed(1, 4).device(torch.device("cpu")) == torch.device("cpu")

    def test_a_batch_that_does_not_split_is_refused(self) -> None:
        with pytest.raises(ValueError, match="batch_size 6 cannot be split evenly over 4 processes"):
            Distributed(0, 4).shard(6)
