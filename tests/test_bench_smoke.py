"""Smoke runs of the benchmarks (not timed: they check that the scripts run and write their CSV).

``benchmarks/bench_fnet.py --quick`` on CPU, the lzsc-only part of ``benchmarks/bench_fuse.py``
on one tiny pair with random weights (its comparison with the authors' release needs a checkout of
the release, so it is not run here), ``benchmarks/bench_methods.py --quick``, and
``benchmarks/gpu_check.py``, whose CUDA parts are skipped on a CPU machine (CI).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
CASES = {"fuse_320", "fuse_640x480", "batch16", "train_stage1", "train_stage2"}


def _run(args: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_bench_fnet_quick(tmp_path: Path) -> None:
    out = tmp_path / "fnet.csv"
    args = ["--quick", "--device", "cpu", "--threads", "1", "--repeats", "1", "--csv", str(out)]
    proc = _run([str(BENCH / "bench_fnet.py"), *args])
    rows = _rows(out)
    assert {(r["case"], r["path"]) for r in rows} == {(c, p) for c in CASES for p in ("reference", "auto")}
    for row in rows:
        assert float(row["median_s"]) > 0
        assert float(row["ratio"]) > 0
        assert float(row["gmacs"]) > 0
        assert row["device"] == "cpu"
        assert row["precision"] == "fp32"
        if row["path"] == "reference":
            assert row["backend"] == "reference"
        elif row["case"].startswith("train"):
            assert row["backend"] == "fused"  # training on CPU: the differentiable backend
        else:
            assert row["backend"] == "engine"  # CPU inference
            assert float(row["u8_max_diff"]) <= 1
    assert "appended 10 rows" in proc.stdout


def test_bench_fuse_lzsc_only(tmp_path: Path) -> None:
    from lzsc.models import FNet

    gen = np.random.default_rng(0)
    for sub in ("ir", "vi"):
        (tmp_path / "data" / sub).mkdir(parents=True)
        Image.fromarray(gen.integers(0, 256, (20, 24), dtype=np.uint8)).save(
            tmp_path / "data" / sub / "01.png"
        )
    torch.manual_seed(0)
    torch.save(FNet().state_dict(), tmp_path / "weights.pth")
    out = tmp_path / "fuse.csv"
    args = ["--lzsc-only", "--data", str(tmp_path / "data"), "--weights", str(tmp_path / "weights.pth")]
    args += ["--pairs", "1", "--repeats", "1", "--threads", "1", "--no-warmup", "--csv", str(out)]
    proc = _run([str(BENCH / "bench_fuse.py"), *args])
    rows = _rows(out)
    assert {r["process"] for r in rows} == {"lzsc_auto", "lzsc_reference"}
    for row in rows:
        assert float(row["median_s"]) > 0
        assert float(row["ratio_reference"]) > 0
        assert not row.get("ratio")  # no release in this run
        assert int(row["u8_max_diff_vs_reference"]) <= 1
        assert row["lzsc_only"] == "True"
    assert "appended 2 rows" in proc.stdout


def test_bench_methods_quick(tmp_path: Path) -> None:
    from lzsc.methods.registry import PAIR_METHODS

    out = tmp_path / "methods.csv"
    proc = _run([str(BENCH / "bench_methods.py"), "--quick", "--threads", "1", "--csv", str(out)])
    rows = _rows(out)
    inference = {r["row"]: r for r in rows if r["kind"] == "inference"}
    assert set(inference) == {"fnet", "csc-ivfn", "dae-fuse", "dae-fuse (quick size)", "mean"}
    assert {r["method"] for r in inference.values()} == set(PAIR_METHODS)
    for row in inference.values():
        assert float(row["median_s"]) > 0
        assert float(row["ratio_fnet"]) >= 0
        assert (row["threads"], row["quick"]) == ("1", "True")
        assert row["load_avg_start"]
        assert row["weights"] in {"official", "random", "none"}
    assert float(inference["fnet"]["ratio_fnet"]) == 1.0
    assert float(inference["fnet"]["macs"]) > 0
    assert float(inference["mean"]["macs"]) == 0
    for name in ("csc-ivfn", "dae-fuse", "dae-fuse (quick size)"):  # counted, or NaN with the reason
        row = inference[name]
        assert float(row["macs"]) > 0
    assert int(inference["dae-fuse"]["params"]) > int(inference["dae-fuse (quick size)"]["params"])
    (train,) = (r for r in rows if r["kind"] == "training")
    assert min(float(train["flops_step_phase1"]), float(train["flops_step_phase2"])) > 0
    assert float(train["implied_train_s"]) > 0
    assert float(train["assumed_tflops"]) == 100
    assert (train["steps_phase1"], train["steps_phase2"]) == ("4000", "8000")
    assert "appended 6 rows" in proc.stdout


def test_gpu_check_runs_on_cpu_with_the_cuda_parts_skipped(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.csv"
    proc = _run([str(BENCH / "gpu_check.py"), "--out", str(out), "--steps", "4", "--repeats", "1"])
    rows = {r["check"]: r for r in _rows(out)}
    flops = [float(rows[f"flops_step_stage{s}"]["value"]) for s in (1, 2)]
    assert 0.5 < flops[0] < 1.5  # TFLOP per paper step: FNet + IFNet (stage I) ...
    assert 0.3 < flops[1] < flops[0]  # ... more than FNet alone (stage II)
    total = float(rows["flops_paper_training"]["value"]) * 1e15
    assert abs(total / (20_000e12 * sum(flops)) - 1) < 1e-3
    if torch.cuda.is_available():
        assert rows["forward_fp32_max_abs"]["status"] == "pass"
    else:
        assert "no CUDA" in proc.stdout
        for check in ("forward_fp32_max_abs", "fuse_320", "step_stage1", "paper_training_estimate"):
            assert rows[check]["status"] == "skipped"
            assert rows[check]["note"] == "no CUDA on this machine"
        assert float(rows["train_stage1_steps_per_s"]["value"]) > 0
        assert float(rows["train_stage2_peak_mem"]["value"]) > 0


def test_gpu_check_cuda_parts_run_on_cpu_with_cuda_calls_stubbed(tmp_path: Path, monkeypatch) -> None:
    """The CUDA-only functions of gpu_check.py, run on the CPU at tiny sizes (their CUDA calls stubbed),
    so that their own code is exercised before a GPU ever runs it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", BENCH / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", lambda *a: None)
    report = gpu_check.Report("cpu")
    source, label = gpu_check.pair_source(tmp_path)
    tiny = {"n_filters": 4, "kernel_size": 3, "n_iter": 1, "batch_size": 4, "patch": 32, "bf16": False}
    gpu_check.loader_rows(report, torch.device("cpu"), source, **tiny)
    gpu_check.step_rows(report, torch.device("cpu"), source, label, 1, **tiny)
    rows = {r["check"]: r for r in report.rows}
    assert rows["device_crops_equal_host"]["status"] == "pass"
    assert rows["no_host_sync_per_step"]["status"] == "pass"
    assert float(rows["step_stage1"]["value"]) > 0
    assert "loader device" in rows["step_stage2"]["note"]
