"""FNet speed: the straightforward path (lzsc.models) against lzsc.fast, on the device present.

    python benchmarks/bench_fnet.py [--quick] [--device cpu|cuda] [--csv PATH] [--threads N]

Cases (``--quick``: tiny sizes, for CI; CPU full mode shrinks the batch-16 throughput case):

- ``fuse_320`` / ``fuse_640x480``: one pair, batch 1, inference (``torch.inference_mode``);
- ``batch16``: images/s at batch 16 (320 x 320 on GPU, 128 x 128 on CPU);
- ``train_stage1``: FNet + IFNet, L1 + gradient loss, forward + backward + Adam, batch 16 x 128 x 128;
- ``train_stage2``: FNet alone, same loss and size.

Each case runs both paths interleaved (ABBA order) after a warm-up; a row per path gives the median,
min and max time, the paired ratio straightforward / fast (median, min, max over repeats), the true
MAC count (FlopCounterMode, MACs = FLOPs / 2, counted on the warm-up), the achieved fraction of the
device's measured matmul peak, peak memory (CUDA: max_memory_allocated; CPU: peak RSS above the
start, sampled), and for inference the output difference to the straightforward path. Rows are
appended to the CSV with the device, versions, thread count and load average.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from kornia.filters import spatial_gradient
from torch.utils.flop_counter import FlopCounterMode

from lzsc.atomic import append_csv
from lzsc.checkpoints import load_official_fnet
from lzsc.fast import fast_fnet, fast_ifnet
from lzsc.models import FNet, IFNet
from lzsc.paths import data_root

ROOT = Path(__file__).resolve().parent
DEFAULT_CSV = ROOT / "results" / "fnet.csv"


@dataclass
class Case:
    """One comparison: ``make(path)`` returns a zero-argument step for path "ref" or "fast"."""

    name: str
    batch: int
    height: int
    width: int
    make: Callable[[str], Callable[[], object]]
    inference: bool = True
    rows: list[dict] = field(default_factory=list)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step: Callable[[], object], device: torch.device) -> tuple[float, object]:
    sync(device)
    t0 = time.perf_counter()
    out = step()
    sync(device)
    return time.perf_counter() - t0, out


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_memory(step: Callable[[], object], device: torch.device) -> int | None:
    """Peak bytes above the start while ``step`` runs (CUDA allocator, or sampled RSS on Linux)."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        sync(device)
        return torch.cuda.max_memory_allocated(device) - base
    if not Path("/proc/self/statm").exists():
        return None
    base, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        step()
    finally:
        done.set()
        sampler.join()
    return max(peak[0], _rss()) - base


def count_macs(step: Callable[[], object]) -> tuple[int, object]:
    """MACs of one run; single-threaded, since the counting mode does not follow the engine's workers."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with FlopCounterMode(display=False) as counter:
            out = step()
    finally:
        torch.set_num_threads(threads)
    return counter.get_total_flops() // 2, out


def matmul_peak(device: torch.device, n: int, repeats: int = 5) -> float:
    """Best FLOP/s of an n x n float32 matmul: the device's measured peak."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = min(timed(lambda: a @ b, device)[0] for _ in range(repeats + 1))
    return 2 * n**3 / best


def load_pair(
    height: int, width: int, batch: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """A TNO pair (resized) when LZSC_DATA holds it, else seeded noise; (batch, 1, H, W) each."""
    root = data_root()
    ir, vi = (root / "test" / "TNO" / d / "01.png" for d in ("ir", "vi")) if root else (None, None)
    if ir is not None and ir.is_file() and vi.is_file():
        from lzsc.io import read_pair

        a, b = (
            F.interpolate(t, (height, width), mode="bilinear", align_corners=False) for t in read_pair(ir, vi)
        )
        source = "TNO/01"
    else:
        gen = torch.Generator().manual_seed(0)
        a, b = (torch.rand(1, 1, height, width, generator=gen) for _ in range(2))
        source = "noise"
    return a.repeat(batch, 1, 1, 1).to(device), b.repeat(batch, 1, 1, 1).to(device), source


def load_fnet() -> tuple[FNet, str]:
    """The released FNet when LZSC_DATA holds it, else a seeded random one."""
    try:
        return load_official_fnet(), "official"
    except FileNotFoundError:
        torch.manual_seed(0)
        return FNet().eval(), "random"


def rec_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 + L1 of the spatial gradient (the stage-I loss shape; enough for timing)."""
    return F.l1_loss(pred, target) + F.l1_loss(spatial_gradient(pred), spatial_gradient(target))


def fusion_case(name: str, fnet: FNet, batch: int, h: int, w: int, device: torch.device, opts: dict) -> Case:
    a, b, _ = load_pair(h, w, batch, device)
    nets = {"ref": fnet, "fast": fast_fnet(fnet, **opts)}

    def make(path: str) -> Callable[[], object]:
        def step() -> torch.Tensor:
            with torch.inference_mode():
                return nets[path](a, b)

        return step

    return Case(name, batch, h, w, make)


def train_case(
    name: str, fnet: FNet, stage: int, batch: int, size: int, device: torch.device, opts: dict
) -> Case:
    a, b, _ = load_pair(size, size, batch, device)
    models = {}
    torch.manual_seed(0)
    ifnet = IFNet().to(device) if stage == 1 else None
    for path in ("ref", "fast"):
        net = copy.deepcopy(fnet).train().requires_grad_(True)
        inv = copy.deepcopy(ifnet).train() if ifnet is not None else None
        if path == "fast":
            net, inv = fast_fnet(net, **opts), (fast_ifnet(inv, **opts) if inv is not None else None)
        params = list(net.parameters()) + (list(inv.parameters()) if inv is not None else [])
        models[path] = (net, inv, torch.optim.Adam(params, lr=1e-4))

    def make(path: str) -> Callable[[], object]:
        net, inv, opt = models[path]

        def step() -> float:
            opt.zero_grad(set_to_none=True)
            fused = net(a, b)
            if inv is not None:
                rec_a, rec_b = inv(fused)
                loss = rec_loss(rec_a, a) + rec_loss(rec_b, b)
            else:
                loss = rec_loss(fused, torch.maximum(a, b))
            loss.backward()
            opt.step()
            return loss.detach()

        return step

    return Case(name, batch, size, size, make, inference=False)


def run_case(case: Case, device: torch.device, repeats: int, peak: float) -> None:
    steps = {path: case.make(path) for path in ("ref", "fast")}
    macs, outs, mem = {}, {}, {}
    for path, step in steps.items():
        mem[path] = peak_memory(lambda step=step, path=path: outs.update({path: count_macs(step)}), device)
        macs[path], outs[path] = outs[path]
    times: dict[str, list[float]] = {"ref": [], "fast": []}
    for i in range(repeats):
        for path in ("ref", "fast") if i % 2 == 0 else ("fast", "ref"):
            times[path].append(timed(steps[path], device)[0])
    ratios = [r / f for r, f in zip(times["ref"], times["fast"], strict=True)]
    diff = {}
    if case.inference:
        ref, fast = outs["ref"].float(), outs["fast"].float()
        to_u8 = lambda t: (t.clamp(0, 1) * 255).round()  # noqa: E731
        diff = {
            "max_abs_diff": (ref - fast).abs().max().item(),
            "rel_diff": (ref - fast).abs().max().item() / ref.abs().max().item(),
            "u8_max_diff": (to_u8(ref) - to_u8(fast)).abs().max().item(),
        }
    for path in ("ref", "fast"):
        med = statistics.median(times[path])
        own = [1.0] if path == "ref" else ratios
        case.rows.append(
            {
                "case": case.name,
                "batch": case.batch,
                "height": case.height,
                "width": case.width,
                "path": path,
                "repeats": repeats,
                "median_s": med,
                "min_s": min(times[path]),
                "max_s": max(times[path]),
                "images_per_s": case.batch / med,
                "ratio": statistics.median(own),
                "ratio_min": min(own),
                "ratio_max": max(own),
                "gmacs": macs[path] / 1e9,
                "achieved_gflops": 2 * macs[path] / med / 1e9,
                "frac_peak": 2 * macs[path] / med / peak,
                "peak_mem_mb": mem[path] / 2**20 if mem[path] is not None else "",
                **(diff if path == "fast" else {}),
            }
        )


def environment(device: torch.device, args: argparse.Namespace, weights: str) -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (platform.processor() or platform.machine())
    )
    return {
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "device": device.type,
        "device_name": name,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_avg": f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "",
        "quick": args.quick,
        "weights": weights,
        "channels_last": args.channels_last,
        "tf32": args.tf32,
    }


def build_cases(args: argparse.Namespace, device: torch.device, fnet: FNet) -> list[Case]:
    opts = {"memory_format": torch.channels_last} if args.channels_last else {}
    gpu = device.type == "cuda"
    if args.quick:
        return [
            fusion_case("fuse_320", fnet, 1, 32, 32, device, opts),
            fusion_case("fuse_640x480", fnet, 1, 48, 64, device, opts),
            fusion_case("batch16", fnet, 4, 16, 16, device, opts),
            train_case("train_stage1", fnet, 1, 2, 24, device, opts),
            train_case("train_stage2", fnet, 2, 2, 24, device, opts),
        ]
    cases = [
        fusion_case("fuse_320", fnet, 1, 320, 320, device, opts),
        fusion_case("fuse_640x480", fnet, 1, 480, 640, device, opts),
        fusion_case("batch16", fnet, 16, 320 if gpu else 128, 320 if gpu else 128, device, opts),
        train_case("train_stage1", fnet, 1, 16, 128, device, opts),
        train_case("train_stage2", fnet, 2, 16, 128, device, opts),
    ]
    return [c for c in cases if not args.only or c.name in args.only]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, a few seconds on a CPU (CI smoke run)"
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument(
        "--csv", type=Path, default=DEFAULT_CSV, help=f"results appended here ({DEFAULT_CSV})"
    )
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    parser.add_argument("--repeats", type=int, help="timed repeats per path (default 5, quick 2)")
    parser.add_argument("--only", nargs="+", help="run only these cases (fuse_320 fuse_640x480 batch16 ...)")
    parser.add_argument(
        "--channels-last", action="store_true", help="channels_last convolutions (fused path)"
    )
    parser.add_argument("--tf32", action="store_true", help="allow TF32 on CUDA (default: true float32)")
    args = parser.parse_args(argv)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.tf32
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = args.repeats or (2 if args.quick else 5)
    fnet, weights = load_fnet()
    fnet = fnet.to(device)
    peak = matmul_peak(device, 256 if args.quick else (8192 if device.type == "cuda" else 2048))
    env = environment(device, args, weights)
    print(
        f"{env['device_name']} ({device.type}), torch {env['torch']}, {env['threads']} threads, "
        f"load {env['load_avg']}, weights {weights}; matmul peak {peak / 1e9:.1f} GFLOP/s"
    )
    rows = []
    print(
        f"{'case':14s} {'size':>14s} {'path':5s} {'median':>9s} {'min':>9s} {'max':>9s} {'ratio':>18s} "
        f"{'GMAC':>8s} {'%peak':>6s} {'mem MB':>8s} {'diff':>9s}"
    )
    for case in build_cases(args, device, fnet):
        run_case(case, device, repeats, peak)
        for r in case.rows:
            size = f"{r['batch']}x{r['height']}x{r['width']}"
            ratio = f"{r['ratio']:.2f} [{r['ratio_min']:.2f}, {r['ratio_max']:.2f}]"
            mem = f"{r['peak_mem_mb']:.0f}" if r["peak_mem_mb"] != "" else "-"
            print(
                f"{r['case']:14s} {size:>14s} {r['path']:5s} {r['median_s']:9.4f} {r['min_s']:9.4f} "
                f"{r['max_s']:9.4f} {ratio:>18s} {r['gmacs']:8.2f} {100 * r['frac_peak']:5.1f}% {mem:>8s} "
                f"{r.get('rel_diff', float('nan')):9.2e}"
            )
            rows.append({**env, "peak_gflops": peak / 1e9, **r})
    append_csv(args.csv, rows)
    print(f"appended {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
