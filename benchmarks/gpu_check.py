"""Is the paper-scale training fast and right on this GPU? One script, under 5 minutes, one CSV.

On a machine with CUDA it:

1. counts the FLOPs of one stage-I and one stage-II step of the ``paper`` profile (``lzsc.flops``,
   counted at batch 1 on the CPU and scaled by the batch: every operation of a step is per sample);
2. checks that FNet's CUDA forward equals the CPU float32 reference on a few 128 x 128 crops:
   float32 (TF32 off) within 1e-4, and bfloat16 autocast (the profile's setting) within a mean of
   2e-3 and a maximum of 3e-2 (half a grey level and about 8 grey levels) — the stated tolerances;
3. times fusion of one 320 x 320 pair (float32 and bfloat16) and one training step of each stage;
4. runs ``--steps`` (default 500) real training steps of stage I and ``--steps`` / 2 of stage II through
   ``lzsc.training.train`` (device loader, no host synchronisation between log steps, checkpoints and
   log included) and extrapolates the ``paper`` profile's wall time (2 x 20,000 steps) from them.

Without CUDA the CUDA parts are written as ``skipped`` rows with the reason, and the rest runs on the
CPU at tiny sizes (so CI runs the script). The released weights are used when ``$LZSC_DATA`` holds
them, MSRS for the training steps when it holds it; otherwise a seeded random FNet and synthetic
pairs. Every row records the device, the torch version and the commit.

    python benchmarks/gpu_check.py                     # writes benchmarks/results/gpu_check.csv
    python benchmarks/gpu_check.py --steps 100 --out /tmp/gpu_check.csv
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from lzsc.atomic import append_csv
from lzsc.checkpoints import CheckpointError, load_official_fnet
from lzsc.data import DevicePairs, SyntheticMCSC, training_dataset
from lzsc.flops import flop_counter
from lzsc.fusion import fuse
from lzsc.models import FNet
from lzsc.paths import data_root
from lzsc.training import profile, train
from lzsc.training.distributed import Distributed
from lzsc.training.stage import StageRun

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu_check.csv"
FP32_TOL = 1e-4
BF16_MEAN_TOL, BF16_MAX_TOL = 2e-3, 3e-2
PAPER_STEPS = profile("paper").steps


def commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return ""
    return done.stdout.strip()


class Report:
    """Rows of (check, value, unit, status, note), printed as they come and written at the end."""

    def __init__(self, device: str) -> None:
        self.rows: list[dict[str, Any]] = []
        self.common = {
            "device": device,
            "torch": torch.__version__,
            "commit": commit(),
            "host": platform.node(),
        }

    def add(
        self, check: str, value: float | str, unit: str = "", status: str = "measured", note: str = ""
    ) -> None:
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"  {check:<28} {shown:>12} {unit:<10} {status:<10} {note}", flush=True)
        self.rows.append(
            {"check": check, "value": value, "unit": unit, "status": status, "note": note, **self.common}
        )

    def skip(self, check: str, why: str) -> None:
        self.add(check, "", "", "skipped", why)


def fnet_for(device: torch.device) -> tuple[FNet, str]:
    """The released FNet when $LZSC_DATA holds it, else a seeded random paper-size FNet."""
    try:
        return load_official_fnet().to(device).eval(), "released weights"
    except (FileNotFoundError, OSError, ValueError, CheckpointError):
        torch.manual_seed(0)
        return FNet(profile("paper").fnet_config()).to(device).eval(), "random weights (no $LZSC_DATA)"


def crops(count: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = SyntheticMCSC(size=size, kind="image", seed=3)
    batch = data.sample_batch(count, torch.Generator().manual_seed(3))
    return batch["a"], batch["b"]


def flops_rows(report: Report) -> dict[int, float]:
    """FLOPs of one paper-profile step per stage (batch 1 on CPU, times the batch)."""
    flops = {}
    for stage in (1, 2):
        config = profile("paper", stage=stage, batch_size=1, device="cpu", bf16=False, data="synthetic")
        run = StageRun(
            config, SyntheticMCSC(size=config.patch, kind="image"), torch.device("cpu"), None, Distributed()
        )
        with flop_counter() as counter:
            run.step()
        flops[stage] = counter.get_total_flops() * profile("paper").batch_size
        report.add(
            f"flops_step_stage{stage}", flops[stage] / 1e12, "TFLOP", note="paper profile, batch 16 x 128^2"
        )
    total = PAPER_STEPS * (flops[1] + flops[2])
    report.add("flops_paper_training", total / 1e15, "PFLOP", note=f"2 x {PAPER_STEPS} steps")
    report.add(
        "tflops_needed_for_12_min", total / 720 / 1e12, "TFLOP/s", note="sustained, to train in 12 min"
    )
    return flops


def timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn`` after two warm-up calls (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def equality_rows(report: Report, device: torch.device) -> None:
    cpu_net, source = fnet_for(torch.device("cpu"))
    a, b = crops(4, 128)
    with torch.no_grad():
        reference = cpu_net(a, b)
    gpu_net = cpu_net.to(device)  # moves the module itself: the reference is already computed
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad():
            fp32 = gpu_net(a.to(device), b.to(device)).cpu()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                bf16 = gpu_net(a.to(device), b.to(device)).float().cpu()
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    err32 = (fp32 - reference).abs().max().item()
    err16 = (bf16 - reference).abs()
    report.add(
        "forward_fp32_max_abs",
        err32,
        "",
        "pass" if err32 <= FP32_TOL else "FAIL",
        f"{source}; tol {FP32_TOL:g}",
    )
    mean16, max16 = err16.mean().item(), err16.max().item()
    ok = mean16 <= BF16_MEAN_TOL and max16 <= BF16_MAX_TOL
    report.add("forward_bf16_mean_abs", mean16, "", "pass" if ok else "FAIL", f"tol {BF16_MEAN_TOL:g}")
    report.add("forward_bf16_max_abs", max16, "", "pass" if ok else "FAIL", f"tol {BF16_MAX_TOL:g}")


def fusion_rows(report: Report, device: torch.device, size: int, repeats: int) -> None:
    net, source = fnet_for(device)
    a, b = (t[:1].to(device) for t in crops(1, size))
    for precision in ("fp32", "bf16"):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            seconds = timed(lambda: fuse(net, a, b), device, repeats)
        report.add(f"fuse_{size}_{precision}", seconds * 1e3, "ms", note=source)


def pair_source(folder: Path) -> tuple[str, str]:
    """Training pairs for the timings: MSRS when $LZSC_DATA holds it, else 64 synthetic 320x320 pairs
    written as PNGs into ``folder`` (so that the device loader runs either way). (name or path, label)."""
    root = data_root()
    if root is not None and (root / "train" / "MSRS").is_dir():
        return "MSRS", "MSRS"
    batch = SyntheticMCSC(size=320, kind="image", seed=5).sample_batch(64, torch.Generator().manual_seed(5))
    for sub, key in (("ir", "a"), ("vi", "b")):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(batch[key]):
            grey = (image[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
            Image.fromarray(grey).save(folder / sub / f"{i:03d}.png")
    return str(folder), "64 synthetic 320x320 pairs"


def loader_rows(report: Report, device: torch.device, source: str, **changes: Any) -> None:
    """The device loader cuts the host loader's crops, bitwise; steps between log steps never sync."""
    config = profile("paper", stage=2, device=str(device), log_every=1000, checkpoint_every=1000, **changes)
    pairs = training_dataset(source, patch=config.patch)
    host = pairs.sample_batch(16, torch.Generator().manual_seed(1))
    dev = DevicePairs(pairs, device).sample_batch(16, torch.Generator().manual_seed(1))
    same = torch.equal(host["a"], dev["a"].cpu()) and torch.equal(host["b"], dev["b"].cpu())
    crops = f"16 crops of {config.patch}^2"
    report.add("device_crops_equal_host", str(same), "", "pass" if same else "FAIL", crops)
    run = StageRun(config, pairs, device, None, Distributed())
    run.step()  # the first chunk of crop rows, cuDNN's autotuning
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(20):
            run.step()
        status, note = "pass", "20 stage-II steps under torch.cuda.set_sync_debug_mode('error')"
    except RuntimeError as err:
        status, note = "FAIL", f"a step synchronised: {str(err).splitlines()[0]}"
    finally:
        torch.cuda.set_sync_debug_mode(0)
    report.add("no_host_sync_per_step", "yes" if status == "pass" else "no", "", status, note)


def step_rows(
    report: Report, device: torch.device, source: str, label: str, repeats: int, **changes: Any
) -> None:
    for stage in (1, 2):
        config = profile("paper", stage=stage, device=str(device), **changes)
        pairs = training_dataset(source, patch=config.patch)
        run = StageRun(config, pairs, device, None, Distributed())
        seconds = timed(run.step, device, repeats)
        note = f"batch {config.batch_size} x {config.patch}^2 from {label}, loader {config.loader}"
        report.add(f"step_stage{stage}", seconds * 1e3, "ms", note=note)


def training_rows(
    report: Report,
    device: torch.device,
    steps: int,
    flops: dict[int, float],
    source: tuple[str, str],
    **changes: Any,
) -> None:
    """Real training through ``train``: stage I ``steps`` steps, stage II ``steps // 2`` from it."""
    data, label = source
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        init = None
        for stage, count in ((1, steps), (2, max(steps // 2, 1))):
            config = profile("paper", stage=stage, steps=count, device=str(device), data=data, **changes)
            t0 = time.perf_counter()
            result = train(config, None, Path(tmp) / f"stage{stage}", init=init, progress=False)
            wall = time.perf_counter() - t0
            init = result.result_path
            rates[stage] = result.steps_per_s
            size = f"{config.batch_size} x {config.patch}^2"
            note = f"{count} steps on {label}, {size}; {wall:.1f} s with start-up"
            report.add(f"train_stage{stage}_steps_per_s", result.steps_per_s, "steps/s", note=note)
            report.add(f"train_stage{stage}_peak_mem", result.peak_mem_mb, "MiB")
            if device.type == "cuda":
                report.add(f"train_stage{stage}_tflops", flops[stage] * result.steps_per_s / 1e12, "TFLOP/s")
    if device.type == "cuda":
        estimate = PAPER_STEPS / rates[1] + PAPER_STEPS / rates[2]
        report.add(
            "paper_training_estimate",
            estimate / 60,
            "min",
            note=f"2 x {PAPER_STEPS} steps at the rates above",
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV to append the rows to")
    parser.add_argument(
        "--steps", type=int, default=500, help="stage-I training steps to run (stage II: half)"
    )
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats of fusion and of one step")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    name = torch.cuda.get_device_name(0) if cuda else f"CPU ({platform.machine()}, no CUDA)"
    print(f"gpu_check on {name}", flush=True)
    report = Report(name)
    t0 = time.perf_counter()
    flops = flops_rows(report)
    with tempfile.TemporaryDirectory() as tmp:
        source = pair_source(Path(tmp))
        if cuda:
            equality_rows(report, device)
            loader_rows(report, device, source[0])
            fusion_rows(report, device, 320, args.repeats)
            step_rows(report, device, *source, args.repeats)
            training_rows(report, device, args.steps, flops, source)
        else:
            why = "no CUDA on this machine"
            skipped = ("forward_fp32_max_abs", "forward_bf16_max_abs", "device_crops_equal_host")
            for check in (*skipped, "no_host_sync_per_step", "fuse_320", "step_stage1", "step_stage2"):
                report.skip(check, why)
            report.skip("paper_training_estimate", why)
            print("  CPU smoke run of the same code at tiny sizes (times mean nothing):", flush=True)
            fusion_rows(report, device, 64, 2)
            tiny = {
                "n_filters": 4,
                "kernel_size": 3,
                "n_iter": 1,
                "batch_size": 4,
                "patch": 32,
                "bf16": False,
            }
            training_rows(report, device, min(args.steps, 6), flops, source, **tiny)
    report.add("gpu_check_seconds", time.perf_counter() - t0, "s")
    append_csv(args.out, report.rows)
    print(f"wrote {len(report.rows)} rows to {args.out}")
    return 1 if any(row["status"] == "FAIL" for row in report.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
