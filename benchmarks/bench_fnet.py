"""FNet speed: the "reference" backend (every command's path before backends) against "auto" (now).

    python benchmarks/bench_fnet.py [--quick] [--device cpu|cuda] [--csv PATH] [--threads N]
                                    [--repeats N] [--only CASE ...] [--extras | --no-extras]
                                    [--channels-last default|on|off] [--tf32]

Paths (column ``path``), both set with ``model.set_backend(...)``:

- ``reference``: eq. 20 as written, one convolution at a time (what the trainer, ``lzsc fuse`` and
  every other command computed before execution backends existed);
- ``auto``: what every command uses now (CPU inference -> "engine"; training or CUDA -> "fused",
  channels_last on CUDA).

Column ``backend`` names the backend that actually ran (``model.last_backend``). Extras (``--extras``,
the default on CUDA): "auto" under bfloat16 autocast (``precision`` bf16) in every case, and "auto"
with ``compile=True`` (``compile`` True: the fused backend through ``torch.compile``) in ``fuse_320``.

Cases (``--quick``: tiny sizes, for CI):

- ``fuse_320`` / ``fuse_640x480``: one pair, batch 1, :func:`lzsc.fusion.fuse` (inference mode);
- ``batch16``: images/s at batch 16, 320 x 320 on CUDA; on CPU shrunk to 128 x 128 (column
  ``size_note`` says so);
- ``train_stage1``: one trainer step (``lzsc.training.stage.StageRun.step``: batch sampling, FNet +
  IFNet forward, eq.-25 loss, backward, Adam, EMA) with the ``paper`` profile (K = 64 filters of
  9 x 9, 4 iterations), batch 16 x 128 x 128, from random weights;
- ``train_stage2``: the same for stage II (FNet alone, eq.-26 loss), starting from the loaded FNet.

The training batches come from a small in-memory pool of synthetic image pairs
(:class:`lzsc.data.SyntheticMCSC`, ``kind="image"``), so the step time is the model's, not a loader's.
On CPU the step is the same (batch 16 x 128^2) in full mode; expect minutes.

Each case runs all its variants interleaved (repeat i in order, repeat i + 1 reversed: ABBA for two)
after one untimed run that counts the true MAC count (FlopCounterMode, MACs = FLOPs / 2) and measures
peak memory (CUDA: max_memory_allocated; CPU: peak RSS above the start, sampled). A timing is wall
time around the step with ``torch.cuda.synchronize`` before and after on CUDA. Each row gives the
median, min and max time, the paired ratio reference-fp32 / this variant (median, min, max over
repeats), GMACs, the achieved fraction of the device's measured matmul peak (at the row's precision),
peak memory, and for inference the output difference to the reference path (max abs, relative, and
max grey-level difference after the release's clip-x255-round). Rows are appended to the CSV with the
device, versions, thread count and load average. CUDA runs use true float32 unless ``--tf32``.
See ``benchmarks/README.md``.
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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import lzsc
from lzsc.atomic import append_csv
from lzsc.checkpoints import load_official_fnet
from lzsc.data import SyntheticMCSC
from lzsc.fusion import fuse
from lzsc.models import FNet
from lzsc.paths import data_root
from lzsc.training import TrainConfig, profile
from lzsc.training.distributed import Distributed
from lzsc.training.stage import StageRun

ROOT = Path(__file__).resolve().parent
DEFAULT_CSV = ROOT / "results" / "fnet.csv"
CHANNELS_LAST = {"default": None, "on": True, "off": False}


@dataclass(frozen=True)
class Variant:
    """One way to run a case: ``path`` ("reference" or "auto"), bf16 autocast, torch.compile."""

    path: str
    bf16: bool = False
    compile: bool = False

    @property
    def label(self) -> str:
        return self.path + ("+bf16" if self.bf16 else "") + ("+compile" if self.compile else "")


BASE = Variant("reference")
"""The baseline of every case (first variant; ratios are its time over each variant's)."""

Runner = tuple[Callable[[], object], Callable[[], str | None]]
"""A zero-argument step and a function returning the backend the last step used."""


@dataclass
class Case:
    """One comparison: ``make(variant)`` returns a :data:`Runner` for that variant."""

    name: str
    batch: int
    height: int
    width: int
    make: Callable[[Variant], Runner]
    variants: list[Variant]
    inference: bool = True
    size_note: str = ""
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
        step()
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


def matmul_peak(device: torch.device, n: int, dtype: torch.dtype, repeats: int = 5) -> float:
    """Best FLOP/s of an n x n matmul in ``dtype``: the device's measured peak at that precision."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best = min(timed(lambda: a @ b, device)[0] for _ in range(repeats + 1))
    return 2 * n**3 / best


def autocast(device: torch.device, bf16: bool) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def tno_pair() -> tuple[Path, Path] | None:
    """The first TNO test pair (infrared, visible) when LZSC_DATA holds it."""
    root = data_root()
    if root is None:
        return None
    ir, vi = (root / "test" / "TNO" / d / "01.png" for d in ("ir", "vi"))
    return (ir, vi) if ir.is_file() and vi.is_file() else None


def load_pair(
    height: int, width: int, batch: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The first TNO pair (resized) when LZSC_DATA holds it, else seeded noise; (batch, 1, H, W) each."""
    pair = tno_pair()
    if pair is not None:
        from lzsc.io import read_pair

        ir, vi = pair
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


class PairPool:
    """A small in-memory pool of synthetic image pairs served as training batches (the trainer's
    ``sample_batch(batch_size, generator)`` interface), so that sampling costs next to nothing."""

    def __init__(self, size: int, n: int = 64) -> None:
        batch = SyntheticMCSC(size=size, kind="image", seed=0).sample_batch(
            n, torch.Generator().manual_seed(0)
        )
        self.a, self.b = batch["a"].contiguous(), batch["b"].contiguous()

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        idx = torch.randint(len(self.a), (batch_size,), generator=generator)
        return {"a": self.a[idx], "b": self.b[idx]}


def fusion_case(
    name: str,
    fnet: FNet,
    batch: int,
    h: int,
    w: int,
    device: torch.device,
    variants: list[Variant],
    channels_last: bool | None,
    size_note: str = "",
) -> Case:
    a, b, _ = load_pair(h, w, batch, device)

    def make(v: Variant) -> Runner:
        model = copy.deepcopy(fnet).set_backend(v.path, channels_last=channels_last, compile=v.compile)

        def step() -> torch.Tensor:
            with autocast(device, v.bf16):
                return fuse(model, a, b)

        return step, lambda: model.last_backend

    return Case(name, batch, h, w, make, variants, size_note=size_note)


def stage_config(stage: int, batch: int, size: int, device: torch.device, v: Variant, cl: bool | None):
    """The ``paper`` profile at this batch and patch, on ``device``, for variant ``v``."""
    own = {f.name for f in fields(TrainConfig)}
    overrides = {
        "stage": stage,
        "batch_size": batch,
        "patch": size,
        "device": str(device),
        "data": "synthetic",
        "backend": v.path,
        "bf16": v.bf16,
        "channels_last": bool(cl),
    }
    missing = sorted(k for k in ("backend", "bf16", "channels_last") if k not in own)
    if v.bf16 and "bf16" in missing:
        raise RuntimeError("TrainConfig has no bf16 field: the bf16 training rows need it")
    return profile("paper", **{k: val for k, val in overrides.items() if k not in missing})


def train_case(
    name: str,
    fnet: FNet,
    stage: int,
    batch: int,
    size: int,
    device: torch.device,
    variants: list[Variant],
    channels_last: bool | None,
) -> Case:
    """One trainer step of ``stage``; stage II starts from ``fnet``, stage I from random weights."""
    data = PairPool(size)

    def make(v: Variant) -> Runner:
        config = stage_config(stage, batch, size, device, v, channels_last)
        run = StageRun(config, data, device, fnet if stage == 2 else None, Distributed())
        for net in run.nets:  # whether or not the config carries the backend: set it here too
            net.set_backend(v.path, channels_last=channels_last, compile=v.compile)
        return run.step, lambda: run.fnet.last_backend

    return Case(name, batch, size, size, make, variants, inference=False)


def _diffs(ref: torch.Tensor, out: torch.Tensor) -> dict[str, float]:
    ref, out = ref.float().cpu(), out.float().cpu()
    to_u8 = lambda t: (t.clamp(0, 1) * 255).round()  # noqa: E731
    err = (ref - out).abs().max().item()
    return {
        "max_abs_diff": err,
        "rel_diff": err / ref.abs().max().item(),
        "u8_max_diff": (to_u8(ref) - to_u8(out)).abs().max().item(),
    }


def run_case(case: Case, device: torch.device, repeats: int, peaks: dict[str, float]) -> None:
    runners = {v: case.make(v) for v in case.variants}
    macs: dict[Variant, int | None] = {}
    outs: dict[Variant, object] = {}
    mem: dict[Variant, int | None] = {}
    backend: dict[Variant, str | None] = {}
    for v, (step, used) in runners.items():
        res: dict[str, object] = {}
        if v.compile:  # compile on a first call; same arithmetic as the uncompiled variant
            step()
            mem[v] = peak_memory(lambda step=step, res=res: res.update(out=step()), device)
            macs[v], outs[v] = macs.get(replace(v, compile=False)), res["out"]
        else:
            mem[v] = peak_memory(lambda step=step, res=res: res.update(r=count_macs(step)), device)
            macs[v], outs[v] = res["r"]
        backend[v] = used()
    order = list(case.variants)
    times: dict[Variant, list[float]] = {v: [] for v in order}
    for i in range(repeats):
        for v in order if i % 2 == 0 else order[::-1]:
            times[v].append(timed(runners[v][0], device)[0])
    for v in order:
        med = statistics.median(times[v])
        ratios = [r / t for r, t in zip(times[BASE], times[v], strict=True)]
        peak = peaks["bf16" if v.bf16 else "fp32"]
        n = macs[v]
        case.rows.append(
            {
                "case": case.name,
                "batch": case.batch,
                "height": case.height,
                "width": case.width,
                "size_note": case.size_note,
                "path": v.path,
                "backend": backend[v] or "",
                "precision": "bf16" if v.bf16 else "fp32",
                "compile": v.compile,
                "repeats": repeats,
                "median_s": med,
                "min_s": min(times[v]),
                "max_s": max(times[v]),
                "images_per_s": case.batch / med,
                "ratio": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "gmacs": n / 1e9 if n is not None else "",
                "achieved_gflops": 2 * n / med / 1e9 if n is not None else "",
                "peak_gflops": peak / 1e9,
                "frac_peak": 2 * n / med / peak if n is not None else "",
                "peak_mem_mb": mem[v] / 2**20 if mem[v] is not None else "",
                **(_diffs(outs[BASE], outs[v]) if case.inference and v != BASE else {}),
            }
        )


def environment(device: torch.device, args: argparse.Namespace, weights: str, source: str) -> dict:
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
        "lzsc": lzsc.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_avg": f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "",
        "quick": args.quick,
        "weights": weights,
        "pair_source": source,
        "channels_last": args.channels_last,
        "tf32": args.tf32,
    }


def build_cases(args: argparse.Namespace, device: torch.device, fnet: FNet) -> list[Case]:
    gpu = device.type == "cuda"
    extras = args.extras if args.extras is not None else gpu
    cl = CHANNELS_LAST[args.channels_last]
    base = [BASE, Variant("auto")]
    more = [*base, Variant("auto", bf16=True)] if extras else base
    fuse_320 = [*more, Variant("auto", compile=True)] if extras else base
    if args.quick:
        cases = [
            fusion_case("fuse_320", fnet, 1, 32, 32, device, fuse_320, cl),
            fusion_case("fuse_640x480", fnet, 1, 48, 64, device, more, cl),
            fusion_case("batch16", fnet, 4, 16, 16, device, more, cl),
            train_case("train_stage1", fnet, 1, 2, 24, device, more, cl),
            train_case("train_stage2", fnet, 2, 2, 24, device, more, cl),
        ]
    else:
        side = 320 if gpu else 128
        note = "" if gpu else "CPU: 128x128 instead of 320x320"
        cases = [
            fusion_case("fuse_320", fnet, 1, 320, 320, device, fuse_320, cl),
            fusion_case("fuse_640x480", fnet, 1, 480, 640, device, more, cl),
            fusion_case("batch16", fnet, 16, side, side, device, more, cl, size_note=note),
            train_case("train_stage1", fnet, 1, 16, 128, device, more, cl),
            train_case("train_stage2", fnet, 2, 16, 128, device, more, cl),
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
    parser.add_argument("--repeats", type=int, help="timed repeats per variant (default 5, quick 2)")
    parser.add_argument(
        "--only", nargs="+", help="run only these cases (fuse_320 fuse_640x480 batch16 train_stage1 ...)"
    )
    parser.add_argument(
        "--extras",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add the bf16-autocast rows and fuse_320's compile=True row (default: on CUDA only)",
    )
    parser.add_argument(
        "--channels-last",
        choices=tuple(CHANNELS_LAST),
        default="default",
        help="channels_last of the fused backend (default: the backend's choice, i.e. on CUDA only)",
    )
    parser.add_argument("--tf32", action="store_true", help="allow TF32 on CUDA (default: true float32)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            f"bench_fnet: --device cuda, but CUDA is not available here (torch {torch.__version__}); "
            "use --device cpu",
            file=sys.stderr,
        )
        return 2
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = args.tf32
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = args.repeats or (2 if args.quick else 5)
    fnet, weights = load_fnet()
    fnet = fnet.to(device)
    cases = build_cases(args, device, fnet)
    n = 256 if args.quick else (8192 if device.type == "cuda" else 2048)
    peaks = {"fp32": matmul_peak(device, n, torch.float32)}
    bf16 = any(v.bf16 for c in cases for v in c.variants)
    peaks["bf16"] = matmul_peak(device, n, torch.bfloat16) if bf16 else float("nan")
    env = environment(device, args, weights, "TNO/01" if tno_pair() else "noise")
    print(
        f"{env['device_name']} ({device.type}), torch {env['torch']}, {env['threads']} threads, "
        f"load {env['load_avg']}, weights {weights}; matmul peak fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s"
        + (f", bf16 {peaks['bf16'] / 1e9:.1f}" if bf16 else "")
    )
    rows = []
    print(
        f"{'case':14s} {'size':>12s} {'path':14s} {'backend':9s} {'median':>9s} {'min':>9s} {'max':>9s} "
        f"{'ratio':>18s} {'GMAC':>8s} {'%peak':>6s} {'mem MB':>8s} {'u8 diff':>7s}"
    )
    for case in cases:
        run_case(case, device, repeats, peaks)
        for r in case.rows:
            size = f"{r['batch']}x{r['height']}x{r['width']}"
            label = Variant(r["path"], r["precision"] == "bf16", r["compile"]).label
            ratio = f"{r['ratio']:.2f} [{r['ratio_min']:.2f}, {r['ratio_max']:.2f}]"
            gmac = f"{r['gmacs']:8.2f}" if r["gmacs"] != "" else f"{'-':>8s}"
            frac = f"{100 * r['frac_peak']:5.1f}%" if r["frac_peak"] != "" else f"{'-':>6s}"
            mem = f"{r['peak_mem_mb']:.0f}" if r["peak_mem_mb"] != "" else "-"
            print(
                f"{r['case']:14s} {size:>12s} {label:14s} {r['backend']:9s} {r['median_s']:9.4f} "
                f"{r['min_s']:9.4f} {r['max_s']:9.4f} {ratio:>18s} {gmac} {frac} {mem:>8s} "
                f"{r.get('u8_max_diff', '-'):>7}"
            )
            rows.append({**env, **r})
    append_csv(args.csv, rows)
    print(f"appended {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
