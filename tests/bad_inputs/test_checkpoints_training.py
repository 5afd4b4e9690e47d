"""Bad inputs to checkpoints, ``lzsc train``, atomic writes and ``lzsc notebooks run`` (issue 19, part A).

Each case: the exit code (or the exception), a message naming the problem without a traceback, and no
input or earlier output changed. Everything trains a tiny model (K = 4, 3x3, 2 iterations, 16x16
patches, batch 2) on synthetic pairs or a few small PNGs; the case on the released weights skips
without ``LZSC_DATA``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import stat
import time
from pathlib import Path

import nbformat
import pytest
import torch
from catalogue import Snapshot, expect_failure, write_grey

from lzsc.atomic import STALE_SECONDS, append_csv, atomic_open, remove_stale_temporaries, write_text_atomic
from lzsc.checkpoints import CheckpointError, load_fnet, load_official_fnet, read_checkpoint, save_atomic
from lzsc.data import SyntheticMCSC
from lzsc.notebooks import KERNELSPEC, check_parameters, notebook_parameters
from lzsc.training import profile, train
from lzsc.training.stage import StageRun
from lzsc.training.trainer import DivergenceError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(n_filters=4, kernel_size=3, n_iter=2, patch=16, batch_size=2, data="synthetic", device="cpu")
TINY_ARGS = [
    "--profile",
    "quick",
    "--no-progress",
    "--device",
    "cpu",
    *(f"--set={k}={v}" for k, v in TINY.items() if k not in ("data", "device")),
]


def tiny(stage: int = 1, **overrides) -> object:
    values = {**TINY, "steps": 2, "checkpoint_every": 100, "log_every": 1, **overrides}
    return profile("quick", stage=stage, **values)


@pytest.fixture
def train_cli(cli):
    """``lzsc train --stage 1 --data synthetic <tiny> --steps 2 ARGS...``."""
    return lambda *argv: cli("train", "--stage", "1", "--data", "synthetic", *TINY_ARGS, "--steps", 2, *argv)


@pytest.fixture(scope="module")
def run1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-step stage-I run: checkpoint.pt, stage1.pt, log.csv."""
    out = tmp_path_factory.mktemp("run1")
    train(tiny(), SyntheticMCSC(size=16, kind="image", seed=0), out, progress=False)
    return out


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def corrupt(state: dict[str, torch.Tensor], key: str, nan: int = 0, inf: int = 0) -> None:
    tensor = state[key].contiguous()  # the weights may be channels_last
    flat = tensor.view(-1)
    flat[:nan] = float("nan")
    flat[nan : nan + inf] = float("inf")
    state[key] = tensor


# --- 1. non-finite weights -------------------------------------------------------------------------


def test_nan_weights_in_an_lzsc_result_are_refused_by_fuse(cli, run1, tmp_path):
    """Before: the NaN model fused to a black image with exit 0."""
    saved = read_checkpoint(run1 / "stage1.pt")
    corrupt(saved["ema"], "D_u1", nan=3, inf=2)
    bad = save_atomic(saved, tmp_path / "nan.pt")
    a, b = write_grey(tmp_path / "a.png"), write_grey(tmp_path / "b.png", seed=1)
    snap = Snapshot(tmp_path)
    outcome = cli("fuse", a, b, "-o", tmp_path / "f.png", "--checkpoint", bad)
    expect_failure(
        outcome, 2, "nan.pt holds non-finite weights", "D_u1 (3 NaN, 2 Inf of", "earlier checkpoint"
    )
    snap.unchanged()


def test_nan_init_for_stage2_is_refused(train_cli, cli, run1, tmp_path):
    saved = read_checkpoint(run1 / "stage1.pt")
    corrupt(saved["ema"], "lzsc_c.W_e.0", inf=1)
    bad = save_atomic(saved, tmp_path / "inf.pt")
    snap = Snapshot(tmp_path)
    outcome = cli(
        "train", "--stage", "2", "--data", "synthetic", *TINY_ARGS, "--out", tmp_path / "s2", "--init", bad
    )
    expect_failure(outcome, 2, "non-finite weights", "lzsc_c.W_e.0 (0 NaN, 1 Inf")
    snap.unchanged()


def test_nan_in_a_resumed_checkpoint_is_refused(train_cli, run1, tmp_path):
    run = copy_run(run1, tmp_path / "run")
    saved = read_checkpoint(run / "checkpoint.pt")
    first = next(iter(saved["optimizer"]["state"].values()))
    first["exp_avg"] = torch.full_like(first["exp_avg"], float("nan"))
    save_atomic(saved, run / "checkpoint.pt")
    snap = Snapshot(run)
    expect_failure(train_cli("--out", run, "--resume", "--steps", 4), 2, "non-finite", "optimizer.state.")
    snap.unchanged()


def test_inf_in_the_released_weights_is_refused(official_path, tmp_path):
    state = torch.load(official_path, map_location="cpu", weights_only=True)
    state["conv_u.weight"] = state["conv_u.weight"].clone()
    state["conv_u.weight"].view(-1)[0] = float("inf")
    bad = save_atomic(state, tmp_path / "official_inf.pth")
    with pytest.raises(CheckpointError, match=r"D_u1 \(0 NaN, 1 Inf"):
        load_official_fnet(bad)
    with pytest.raises(CheckpointError, match="non-finite"):
        load_fnet(bad)


# --- 2. files that hold something else --------------------------------------------------------------


def _bad_config(run: Path) -> dict:
    saved = read_checkpoint(run / "stage1.pt")
    saved["fnet_config"] = {"block": {"n_filters": 4, "bogus": 1}, "block_kind": "lzsc"}
    return saved


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (lambda run: torch.zeros(3), "holds a bare tensor of shape (3,)"),
        (lambda run: [1, 2], "holds a list of 2 items"),
        (lambda run: {"foo": 1}, "holds a dict with keys 'foo'"),
        (lambda run: {"model": [1, 2]}, "holds a list of 2 items, not a state_dict"),
        (lambda run: {"step": torch.ones(2)}, "does not fit FNet"),
        (_bad_config, "FNet configuration this version of lzsc cannot build"),
        (lambda run: {"ema": {}, "model": {}, "fnet_config": None}, "does not fit FNet"),
    ],
    ids=["tensor", "list", "dict", "model-list", "wrong-keys", "unknown-config", "empty"],
)
def test_a_file_without_fnet_weights_is_explained(cli, run1, tmp_path, content, fragment):
    """Before: tensor / list / unknown config gave a RuntimeError / AttributeError / TypeError traceback."""
    path = save_atomic(content(run1), tmp_path / "weird.pt")
    a, b = write_grey(tmp_path / "a.png"), write_grey(tmp_path / "b.png", seed=1)
    snap = Snapshot(tmp_path)
    outcome = cli("fuse", a, b, "-o", tmp_path / "f.png", "--checkpoint", path)
    expect_failure(outcome, 2, "weird.pt", fragment)
    snap.unchanged()


class _Payload:
    """Pickles to a call that would create a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_code_executing_pickle_is_never_run(train_cli, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"model": _Payload(marker)}, protocol=2))
    snap = Snapshot(tmp_path)
    outcome = train_cli("--out", tmp_path / "o", "--stage", "2", "--init", path)
    expect_failure(outcome, 2, "evil.pt is not a readable PyTorch checkpoint")
    assert not marker.exists()
    snap.unchanged()


def test_a_truncated_checkpoint_is_refused_on_resume(train_cli, run1, tmp_path):
    run = copy_run(run1, tmp_path / "run")
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    snap = Snapshot(run)
    expect_failure(train_cli("--out", run, "--resume", "--steps", 4), 2, "not a readable PyTorch checkpoint")
    snap.unchanged()


# --- 3. the wrong kind of checkpoint where a resumable one is expected ------------------------------


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("result", ("an lzsc stage-1 result (stage 1, step 2", "not a resumable", "--init")),
        ("official", ("release's format", "not a resumable", "--init")),
        ("tensor", ("a bare tensor", "not a resumable")),
        ("partial", ("an lzsc training checkpoint", "not a resumable")),
    ],
)
def test_resume_from_a_file_that_is_not_a_training_checkpoint(train_cli, run1, tmp_path, content, fragments):
    """Before: a stage-I result as checkpoint.pt gave KeyError: 'optimizer' (a traceback)."""
    run = copy_run(run1, tmp_path / "run")
    if content == "result":
        shutil.copy(run / "stage1.pt", run / "checkpoint.pt")
    elif content == "official":
        save_atomic({"net_u.x0_block.conv_in.weight": torch.zeros(1)}, run / "checkpoint.pt")
    elif content == "tensor":
        save_atomic(torch.zeros(2), run / "checkpoint.pt")
    else:
        saved = read_checkpoint(run / "checkpoint.pt")
        del saved["rng"]
        save_atomic(saved, run / "checkpoint.pt")
    snap = Snapshot(run)
    expect_failure(train_cli("--out", run, "--resume", "--steps", 4), 2, "checkpoint.pt is", *fragments)
    snap.unchanged()


# --- 4. --resume without a checkpoint -------------------------------------------------------------


def test_resume_without_a_checkpoint_says_it_starts_from_scratch(train_cli, tmp_path):
    """Before: silent start from step 0. Now a notice on stderr (and the run goes on, documented)."""
    outcome = train_cli("--out", tmp_path / "new", "--resume")
    assert outcome.code == 0, outcome.text
    assert "resume: no checkpoint" in outcome.err
    assert "starting stage 1 from step 0" in outcome.err
    assert (tmp_path / "new" / "stage1.pt").is_file()


# --- 5. the whole data set is checked before the first step ---------------------------------------


def test_bad_training_pairs_are_all_listed_before_any_step(cli, tmp_path):
    """Before: the too-small pair failed only when first sampled, and only the first bad pair was named."""
    data = tmp_path / "pairs"
    for i in range(4):
        shape = (12, 40) if i == 1 else (24, 32)
        write_grey(data / "ir" / f"p{i}.png", shape, seed=i)
        write_grey(data / "vi" / f"p{i}.png", shape, seed=10 + i)
    (data / "vi" / "p3.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    snap = Snapshot(data)
    outcome = cli("train", "--stage", "1", "--data", data, *TINY_ARGS, "--out", out, "--steps", 50)
    expect_failure(outcome, 2, "2 of 4 training pair(s) cannot be used", "p1.png", "p3.png", "smaller than")
    snap.unchanged()
    assert not out.exists()


# --- 6. diverging runs and invalid numbers ------------------------------------------------------------


def test_divergence_without_a_checkpoint_and_the_advice_works(train_cli, tmp_path):
    """Before: exit 1 advising `--resume --set lr=...`, which resume then refused (lr not resumable)."""
    out = tmp_path / "run"
    outcome = train_cli("--out", out, "--steps", 3, "--set", "lr=1e6")
    expect_failure(outcome, 1, "stage 1 diverged at step", "No checkpoint was written yet", "--set lr=")
    assert not (out / "checkpoint.pt").exists()
    outcome = train_cli("--out", out, "--steps", 3, "--set", "lr=1e-3")  # the advice: run again, lower lr
    assert outcome.code == 0, outcome.text


def test_divergence_keeps_the_last_checkpoint_and_resume_with_a_lower_lr_works(train_cli, run1, tmp_path):
    run = copy_run(run1, tmp_path / "run")
    snap = Snapshot(run / "checkpoint.pt", run / "stage1.pt")
    outcome = train_cli("--out", run, "--resume", "--steps", 6, "--set", "lr=1e6")
    expect_failure(outcome, 1, "diverged", "checkpoint.pt (step 2) is kept", "--resume --set lr=")
    snap.unchanged()
    outcome = train_cli("--out", run, "--resume", "--steps", 6, "--set", "lr=1e-4")  # the advice
    assert outcome.code == 0, outcome.text
    saved = read_checkpoint(run / "checkpoint.pt")
    assert saved["step"] == 6
    assert saved["config"]["lr"] == 1e-4
    assert saved["optimizer"]["param_groups"][0]["lr"] == 1e-4


class _Exploding:
    """Synthetic pairs scaled by 1e8 from the third batch on: the loss explodes but stays finite."""

    def __init__(self) -> None:
        self.inner, self.calls = SyntheticMCSC(size=16, kind="image", seed=0), 0

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        self.calls += 1
        batch = self.inner.sample_batch(batch_size, generator)
        scale = 1e8 if self.calls >= 3 else 1.0
        return {"a": batch["a"] * scale, "b": batch["b"] * scale}


def test_an_exploding_loss_stops_training(tmp_path):
    with pytest.raises(DivergenceError, match=r"more than 1e\+06 times its first value"):
        train(tiny(steps=6), _Exploding(), tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_non_finite_weights_are_never_saved(tmp_path, monkeypatch):
    """A bad update that slipped past the loss test still cannot overwrite the last good checkpoint."""
    data = SyntheticMCSC(size=16, kind="image", seed=0)
    train(tiny(steps=2), data, tmp_path, progress=False)
    snap = Snapshot(tmp_path / "checkpoint.pt")
    step = StageRun.step

    def poisoned(self, stop=False):
        out = step(self, stop)
        with torch.no_grad():
            for p in self.fnet.parameters():
                p.fill_(float("nan"))
        return out

    monkeypatch.setattr(StageRun, "_check_loss", lambda self, value, index, applied: None)
    monkeypatch.setattr(StageRun, "step", poisoned)
    with pytest.raises(DivergenceError, match=r"at step 4: non-finite weights.*\(step 2\) is kept"):
        train(tiny(steps=4, checkpoint_every=4), data, tmp_path, resume=True, progress=False)
    snap.unchanged()


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("lr=inf", "lr must be a finite number, got inf"),
        ("lr=nan", "lr must be a finite number, got nan"),
        ("lr=0", "lr must be > 0"),
        ("lr=-1e-3", "lr must be > 0"),
        ("w_ssim=nan", "w_ssim must be a finite number"),
        ("ema_decay=inf", "ema_decay must be a finite number"),
        ("alpha=inf", "alpha must be a finite number"),
        ("init_theta=nan,1", "init_theta must be a finite number"),
        ("lr=fast", "bad value for lr: expects a number"),
    ],
)
def test_invalid_numbers_are_refused_up_front(train_cli, tmp_path, setting, fragment):
    """Before: lr=inf trained into a NaN loss (exit 1); w_ssim=nan trained silently (exit 0)."""
    out = tmp_path / "run"
    expect_failure(train_cli("--out", out, "--set", setting), 2, fragment)
    assert not out.exists()


# --- 7. orphaned temporary files ----------------------------------------------------------------------


def _orphan(folder: Path, name: str, age: float) -> Path:
    path = folder / name
    path.write_bytes(b"half")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_orphaned_temporaries_are_removed_after_the_next_write(tmp_path):
    old = _orphan(tmp_path, ".checkpoint.pt.k1ll3d_x.tmp", STALE_SECONDS + 60)
    live = _orphan(tmp_path, ".checkpoint.pt.wr1t1ng_.tmp", 5)  # a concurrent writer's file
    other = _orphan(tmp_path, ".log.csv.abcdefgh.tmp", STALE_SECONDS + 60)
    similar = _orphan(
        tmp_path, ".checkpoint.pt.x.abcdefgh.tmp", STALE_SECONDS + 60
    )  # target "checkpoint.pt.x"
    mine = _orphan(tmp_path, "notes.tmp", STALE_SECONDS + 60)
    save_atomic({"x": torch.ones(1)}, tmp_path / "checkpoint.pt")
    assert not old.exists()
    assert all(p.exists() for p in (live, other, similar, mine))
    assert sorted(p.name for p in remove_stale_temporaries(tmp_path)) == [similar.name, other.name]
    assert all(p.exists() for p in (live, mine))


def test_a_run_folder_is_cleaned_when_training_opens_it(train_cli, run1, tmp_path):
    run = copy_run(run1, tmp_path / "run")
    old = _orphan(run, ".stage1.pt.abcdefgh.tmp", STALE_SECONDS + 60)
    assert train_cli("--out", run, "--resume", "--steps", 3).code == 0
    assert not old.exists()


# --- 8. permissions follow the umask ------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o027, 0o077])
def test_outputs_honour_the_umask_set_after_import(train_cli, tmp_path, umask):
    """Before: the umask was read once at import, so 0o644 files under a later umask 0o027."""
    previous = os.umask(umask)
    try:
        assert train_cli("--out", tmp_path / "run").code == 0
        write_text_atomic(tmp_path / "run" / "note.txt", "x")
        append_csv(tmp_path / "run" / "rows.csv", [{"a": 1}])
        with atomic_open(tmp_path / "run" / "raw.bin") as fh:
            fh.write(b"x")
    finally:
        os.umask(previous)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert {"checkpoint.pt", "stage1.pt", "log.csv", "note.txt", "rows.csv"} <= {p.name for p in files}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {
        p.name: oct(0o666 & ~umask) for p in files
    }


# --- 9. notebook parameters ---------------------------------------------------------------------------


def _notebooks(folder: Path) -> Path:
    folder.mkdir()
    for name, source in (("00_a.ipynb", "n_trials = 3\nn, m = 4, 5"), ("01_b.ipynb", "seed: int = 0")):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = ["parameters"]
        nb.cells += [cell, nbformat.v4.new_code_cell("print(1)")]
        nbformat.write(nb, folder / name)
    return folder


def test_a_mistyped_notebook_parameter_fails_before_anything_runs(cli, tmp_path):
    """Before: papermill warned 'Passed unknown parameter: n_trails', the run reported ok, exit 0."""
    folder = _notebooks(tmp_path / "nbs")
    snap = Snapshot(folder)
    outcome = cli("notebooks", "run", "--dir", folder, "--out", tmp_path / "out", "-p", "n_trails", "50")
    expect_failure(outcome, 2, "unknown notebook parameter(s) 'n_trails'", "nothing was run", "n_trials")
    snap.unchanged()
    assert not (tmp_path / "out").exists()


def test_notebook_parameters_are_those_of_the_parameters_cell(tmp_path):
    folder = _notebooks(tmp_path / "nbs")
    paths = sorted(folder.iterdir())
    assert notebook_parameters(paths[0]) == ["n_trials", "n", "m"]
    check_parameters(paths, {"n": 1, "seed": 2})  # each declared by one of the notebooks: valid
    with pytest.raises(ValueError, match="'seed'"):
        check_parameters(paths[:1], {"seed": 2})


# --- 10. other user mistakes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (("--steps", "-5"), "steps must be >= 1, got -5"),
        (("--steps", "0"), "steps must be >= 1, got 0"),
        (("--set", "batch_size=0"), "batch_size must be >= 1, got 0"),
        (("--set", "patch=0"), "patch must be >= 1"),
        (("--set", "threads=0"), "threads must be None or >= 1"),
        (("--set", "checkpoint_every=0"), "checkpoint_every must be >= 1"),
        (("--set", "n_iterations=3"), "unknown training setting 'n_iterations'"),
        (("--set", "lr"), "--set expects KEY=VALUE"),
        (("--data", "no/such/folder"), "is neither a training set"),
        (("--init", "x.pt"), "--init is the stage-I result"),
    ],
)
def test_bad_training_arguments(train_cli, tmp_path, argv, fragment):
    out = tmp_path / "run"
    expect_failure(train_cli("--out", out, *argv), 2, fragment)
    assert not out.exists()


def test_an_output_folder_that_is_a_file_or_below_one(train_cli, tmp_path):
    """Before: `--out FILE` printed '[Errno 17] File exists'; below a file: NotADirectoryError traceback."""
    afile = tmp_path / "afile"
    afile.write_text("mine")
    snap = Snapshot(tmp_path)
    expect_failure(train_cli("--out", afile), 2, "output folder", "is a file", "choose another --out")
    expect_failure(train_cli("--out", afile / "run"), 2, "cannot create the output folder", "writable --out")
    snap.unchanged()


def test_a_missing_init_file(cli, tmp_path):
    argv = ["--stage", "2", "--data", "synthetic", *TINY_ARGS, "--out", tmp_path / "s2"]
    outcome = cli("train", *argv, "--init", tmp_path / "nope.pt")
    expect_failure(outcome, 2, "nope.pt does not exist")


def test_resume_with_another_configuration(train_cli, run1, tmp_path):
    run = copy_run(run1, tmp_path / "run")
    snap = Snapshot(run)
    outcome = train_cli("--out", run, "--resume", "--steps", 4, "--set", "w_rec_grad=2")
    expect_failure(outcome, 2, "cannot resume", "w_rec_grad: 1.0 -> 2.0")
    snap.unchanged()


def test_a_finished_run_without_resume_is_not_overwritten(train_cli, run1, tmp_path):
    run = copy_run(run1, tmp_path / "run")
    snap = Snapshot(run)
    expect_failure(train_cli("--out", run), 2, "exists: pass resume=True (--resume)")
    snap.unchanged()


def test_an_lzsc_config_dict_in_the_checkpoint_names_the_file(run1, tmp_path):
    saved = read_checkpoint(run1 / "stage1.pt")
    saved["fnet_config"] = {"block": dataclasses.asdict(tiny().fnet_config().block), "block_kind": "unknown"}
    path = save_atomic(saved, tmp_path / "kind.pt")
    with pytest.raises(CheckpointError, match=r"kind\.pt"):
        load_fnet(path)
