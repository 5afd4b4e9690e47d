"""What every pair fusion method costs, as ratios to FNet measured in one run (CPU).

    python benchmarks/bench_methods.py [--quick] [--threads N] [--repeats N] [--size N] [--csv PATH]
                                       [--dae-checkpoint PATH] [--assumed-tflops T] [--no-train]

Rows (column ``row``), one per network, for the pair methods of ``lzsc.methods.registry``
(``PAIR_METHODS``):

- ``fnet``: ``load_method("fnet", "official")``, the released weights, on the default backend ("auto":
  the CPU engine; column ``backend``);
- ``csc-ivfn``: ``load_method("csc-ivfn", "official")``, the released weights (with the release's
  fusion rules: saliency weights, guided filter, 8-bit truncation);
- ``dae-fuse``: ``DAEFuse(DAEFuseConfig())``, the paper-size default network, random weights in eval
  mode (DAE-Fuse has no released weights; its cost does not depend on them);
- ``dae-fuse (quick size)``: ``DAEFuse(QUICK.model)``, the network of ``lzsc train --method dae-fuse
  --profile quick`` (16 channels), random weights; replaced by ``dae-fuse (checkpoint)``, the network
  of ``--dae-checkpoint PATH`` (``load_method("dae-fuse", PATH)``), when that is given;
- ``mean``: F = (A + B) / 2, the baseline.

Without the released weights (``LZSC_DATA`` unset, or the files absent), ``fnet`` and ``csc-ivfn`` are
seeded random networks of the released sizes (``FNet()``, ``CSCIVFNFusion(CSCIVFN())``): column
``weights`` says ``random``, and ``note`` why.

Per row: parameters; MACs of one ``--size`` x ``--size`` pair (default 320):
:func:`lzsc.cost.count_macs` on the ``meta`` device (FlopCounterMode FLOPs / 2, FNet on its reference
backend), or on the CPU for a model whose forward reads values (CSC-IVFN's histograms); NaN with the
reason in ``note`` if it fails. Then the wall time of one fusion,
:func:`lzsc.fusion.fuse` (inference mode), on the first TNO test pair resized to the size (seeded noise
without ``LZSC_DATA``): every network runs once untimed at the run's thread count, then ``--repeats``
rounds run every network once each, interleaved (in order, then reversed: ABBA). Each row gives the
median / min / max wall time, the median CPU time of the process, and the paired ratio this network's
time / FNet's time per round (median, min, max), beside params / FNet's and MACs / FNet's.

One more row (``kind`` training) gives the training cost of DAE-Fuse's ``paper`` profile
(``lzsc.training.dae_fuse_config.PAPER``: batch 8 of 128 x 128 crops, the paper-size network): the
FLOPs of one Phase-I step and one Phase-II step (step index 0 and ``phase1_steps`` of
``lzsc.training.dae_fuse._Run.step``: the discriminator update, then the generator update, forward and
backward of generator and both discriminators, on a stand-in batch of uniform noise), counted with
``torch.utils.flop_counter.FlopCounterMode`` while the step runs on the CPU, and the wall time the
whole profile (4,000 + 8,000 steps) would take at ``--assumed-tflops`` sustained (default 100 TFLOP/s,
about 10% of an H200's dense bf16 peak: an assumption, stated in the row, not a measurement).
``--quick`` counts the same network on batch 1 of 16 x 16 crops.

The counter is :func:`lzsc.flops.flop_counter`, torch's with two formulas replaced (column
``counter_fixes``, checked on tiny cases at start): the weight gradient of a grouped (e.g. depthwise)
convolution, which torch counts ``groups`` times over (pytorch/pytorch PR 183405), and CPU attention
(``_scaled_dot_product_flash_attention_for_cpu`` and its backward), which torch does not count at all.
Elementwise work (norms, activations, losses, Adam) is not counted. Everything runs on the CPU
(``--threads``), CUDA or not.

Rows are appended to ``benchmarks/results/methods.csv`` with the machine, versions, thread count and
load average. Take figures in one run on an otherwise idle machine and compare ratios, not times
across runs. ``--quick`` (64 x 64, 1 round) only checks that the script works. See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import lzsc
from lzsc.atomic import append_csv
from lzsc.cost import count_macs
from lzsc.flops import fixes, flop_counter
from lzsc.fusion import fuse
from lzsc.methods.registry import PAIR_METHODS, load_method
from lzsc.paths import data_root

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "methods.csv"
BASE = "fnet"


# --- the FLOP counter ------------------------------------------------------------------------------


def check_counter() -> str:
    """Check :func:`flop_counter` on tiny cases against the arithmetic; returns the fixes, for the CSV.

    A depthwise 3 x 3 convolution's forward and backward: forward F, input gradient F, weight gradient
    F (3 F in all). Attention on the CPU: its forward counts what the ``meta`` device's math path
    counts (two batched products of one size), forward and backward seven (torch's formula for the
    flash backward: it recomputes the scores, then four products).
    """
    x = torch.rand(2, 8, 6, 6, requires_grad=True)
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=8)
    forward = 2 * 2 * 8 * 9 * 36
    with flop_counter() as counter:
        conv(x).sum().backward()
    if counter.get_total_flops() != 3 * forward:
        raise RuntimeError(
            f"depthwise conv counted {counter.get_total_flops()} FLOPs, expected {3 * forward}"
        )
    q, k, v = (torch.rand(1, 2, 16, 8, requires_grad=True) for _ in range(3))
    math_forward = 2 * (2 * 1 * 2 * 16 * 16 * 8)  # QK^T and PV
    with flop_counter() as forward_only:
        F.scaled_dot_product_attention(q, k, v)
    with flop_counter() as counter:
        F.scaled_dot_product_attention(q, k, v).sum().backward()
    if (forward_only.get_total_flops(), counter.get_total_flops()) != (math_forward, 7 * math_forward // 2):
        raise RuntimeError(
            f"CPU attention counted {forward_only.get_total_flops()} FLOPs forward, "
            f"{counter.get_total_flops()} with the backward; expected {math_forward}, {7 * math_forward // 2}"
        )
    return "grouped conv weight-grad / groups; CPU sdpa counted" + (
        "" if len(fixes()) == 3 else " (torch already counts it)"
    )


# --- the networks ----------------------------------------------------------------------------------


@dataclass
class Entry:
    """One network to time: its row label, registry method, model and how its weights came about."""

    row: str
    method: str
    model: nn.Module
    weights: str
    network: str
    notes: list[str] = field(default_factory=list)
    macs: float = math.nan
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    backend: str = ""
    checkpoint: str = ""


def _released(name: str, random: Any) -> tuple[nn.Module, str, str]:
    """``load_method(name, "official")``, else ``random()`` (seeded) with the reason."""
    try:
        return load_method(name, "official"), "official", ""
    except FileNotFoundError as err:
        torch.manual_seed(0)
        reason = str(err).split(". ")[0].split("; ")[0]
        return random().eval(), "random", f"released weights unavailable ({reason}): random init"


def build_entries(dae_checkpoint: Path | None) -> list[Entry]:
    from lzsc.methods.csc_ivfn import CSCIVFN, CSCIVFNFusion
    from lzsc.methods.dae_fuse import DAEFuse, DAEFuseConfig
    from lzsc.models import FNet
    from lzsc.training.dae_fuse_config import QUICK

    entries = []
    model, weights, note = _released("fnet", FNet)
    entries.append(Entry("fnet", "fnet", model, weights, "released size", [note] if note else []))
    model, weights, note = _released("csc-ivfn", lambda: CSCIVFNFusion(CSCIVFN()))
    entries.append(Entry("csc-ivfn", "csc-ivfn", model, weights, "released size", [note] if note else []))
    torch.manual_seed(0)
    entries.append(
        Entry(
            "dae-fuse",
            "dae-fuse",
            DAEFuse(DAEFuseConfig()).eval(),
            "random",
            "paper size (DAEFuseConfig())",
            ["no released weights: random init (cost does not depend on the weights)"],
        )
    )
    if dae_checkpoint is not None:
        model = load_method("dae-fuse", dae_checkpoint)
        channels = model.config.channels if hasattr(model, "config") else "?"
        entries.append(
            Entry(
                "dae-fuse (checkpoint)",
                "dae-fuse",
                model,
                "checkpoint",
                f"checkpoint (channels={channels})",
                checkpoint=str(dae_checkpoint),
            )
        )
    else:
        torch.manual_seed(0)
        entries.append(
            Entry(
                "dae-fuse (quick size)",
                "dae-fuse",
                DAEFuse(QUICK.model).eval(),
                "random",
                "quick profile size (QUICK.model)",
                ["random init (cost does not depend on the weights)"],
            )
        )
    entries.append(Entry("mean", "mean", load_method("mean"), "none", "no parameters"))
    missing = set(PAIR_METHODS) - {e.method for e in entries}
    if missing:
        raise RuntimeError(f"bench_methods does not know the pair method(s) {sorted(missing)}; add them")
    return entries


def load_pair(size: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The first TNO test pair resized to size x size when LZSC_DATA holds it, else seeded noise."""
    root = data_root()
    if root is not None:
        ir, vi = (root / "test" / "TNO" / d / "01.png" for d in ("ir", "vi"))
        if ir.is_file() and vi.is_file():
            from lzsc.io import read_pair

            a, b = (
                F.interpolate(t, (size, size), mode="bilinear", align_corners=False).clamp(0, 1)
                for t in read_pair(ir, vi)
            )
            return a, b, "TNO/01"
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.rand(1, 1, size, size, generator=gen) for _ in range(2))
    return a, b, "noise"


def _reason(err: BaseException) -> str:
    """``Type: message`` and where in lzsc it was raised (the innermost frame under lzsc/)."""
    where = ""
    for frame in traceback.extract_tb(err.__traceback__):
        if "/lzsc/" in frame.filename.replace(os.sep, "/"):
            path = Path(frame.filename)
            where = f" at {path.parent.name}/{path.name}:{frame.lineno}"
    message = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {message}{where}"


def warm_up(entry: Entry, a: torch.Tensor, b: torch.Tensor, size: int) -> None:
    """MACs (:func:`lzsc.cost.count_macs`: on ``meta``, or on the CPU for a model that reads values)
    and one untimed fusion."""
    try:
        entry.macs = float(count_macs(entry.model, size))
    except Exception as err:  # count_macs runs arbitrary model code
        entry.notes.append(f"count_macs failed: {_reason(err)}: MACs NaN")
    fuse(entry.model, a, b)


def time_entries(entries: list[Entry], a: torch.Tensor, b: torch.Tensor, repeats: int) -> None:
    """``repeats`` rounds, every network once per round, in order then reversed (ABBA)."""
    for i in range(repeats):
        for entry in entries if i % 2 == 0 else entries[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            fuse(entry.model, a, b)
            entry.times.append(time.perf_counter() - t0)
            entry.cpu.append(time.process_time() - c0)
            entry.backend = getattr(entry.model, "last_backend", None) or ""
            print(f"  round {i + 1}/{repeats} {entry.row:24s} {entry.times[-1]:9.3f} s", flush=True)


def _ratio(x: float, base: float) -> float:
    return x / base if base else math.nan


def inference_rows(entries: list[Entry], size: int, repeats: int) -> list[dict[str, Any]]:
    base = next(e for e in entries if e.row == BASE)
    base_params = sum(p.numel() for p in base.model.parameters())
    rows = []
    for e in entries:
        params = sum(p.numel() for p in e.model.parameters())
        med = statistics.median(e.times)
        ratios = [t / b for t, b in zip(e.times, base.times, strict=True)]
        rows.append(
            {
                "kind": "inference",
                "row": e.row,
                "method": e.method,
                "weights": e.weights,
                "checkpoint": e.checkpoint,
                "network": e.network,
                "backend": e.backend,
                "height": size,
                "width": size,
                "repeats": repeats,
                "params": params,
                "macs": e.macs,
                "gmacs": e.macs / 1e9,
                "median_s": med,
                "min_s": min(e.times),
                "max_s": max(e.times),
                "cpu_median_s": statistics.median(e.cpu),
                "ratio_fnet": statistics.median(ratios),
                "ratio_fnet_min": min(ratios),
                "ratio_fnet_max": max(ratios),
                "params_vs_fnet": _ratio(params, base_params),
                "macs_vs_fnet": _ratio(e.macs, base.macs),
                "achieved_gflops": 2 * e.macs / med / 1e9,
                "note": "; ".join(e.notes),
            }
        )
    return rows


# --- DAE-Fuse's training cost -----------------------------------------------------------------------


class NoisePairs:
    """A stand-in for the training data: ``sample_batch`` returns uniform noise of the right shape
    (the FLOPs of a step do not depend on the pixels)."""

    def __init__(self, patch: int) -> None:
        self.patch = patch

    def sample_batch(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        shape = (batch_size, 1, self.patch, self.patch)
        return {"a": torch.rand(shape, generator=generator), "b": torch.rand(shape, generator=generator)}


def training_row(quick: bool, assumed_tflops: float) -> dict[str, Any]:
    """FLOPs of one Phase-I and one Phase-II step of DAE-Fuse's paper profile (module docstring)."""
    from lzsc.training.dae_fuse import _Run
    from lzsc.training.dae_fuse_config import PAPER

    config = replace(PAPER, batch_size=1, patch=16) if quick else PAPER
    run = _Run(config, torch.device("cpu"))
    data = NoisePairs(config.patch)
    flops, seconds = {}, {}
    for phase, step in ((1, 0), (2, config.phase1_steps)):
        t0 = time.perf_counter()
        with flop_counter() as counter:
            run.step(step, data)
        seconds[phase] = time.perf_counter() - t0
        flops[phase] = counter.get_total_flops()
        print(
            f"  training phase {phase}: {flops[phase] / 1e12:.3f} TFLOP ({seconds[phase]:.1f} s)", flush=True
        )
    total = PAPER.phase1_steps * flops[1] + PAPER.phase2_steps * flops[2]
    implied = total / (assumed_tflops * 1e12)
    return {
        "kind": "training",
        "row": "dae-fuse (paper training)",
        "method": "dae-fuse",
        "weights": "random",
        "network": "paper size (DAEFuseConfig())",
        "params": sum(p.numel() for p in run.model.parameters()),
        "disc_params": sum(p.numel() for p in run.disc.parameters()),
        "train_batch": config.batch_size,
        "train_patch": config.patch,
        "steps_phase1": PAPER.phase1_steps,
        "steps_phase2": PAPER.phase2_steps,
        "flops_step_phase1": flops[1],
        "flops_step_phase2": flops[2],
        "flops_total": total,
        "assumed_tflops": assumed_tflops,
        "implied_train_s": implied,
        "cpu_step_s_phase1": seconds[1],
        "cpu_step_s_phase2": seconds[2],
        "note": ("quick: batch 1 x 16 x 16, not the paper's 8 x 128 x 128; " if quick else "")
        + "FLOPs of _Run.step (D update + G update, fwd + bwd of G and both Ds) on noise batches; "
        + f"implied time = (steps x FLOPs) / {assumed_tflops:g} TFLOP/s assumed, not measured; "
        + "cpu_step_s measured with the counter on",
    }


# --- the run ---------------------------------------------------------------------------------------


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return ""


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def _num(x: float, fmt: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def print_table(rows: list[dict[str, Any]]) -> None:
    inference = [r for r in rows if r["kind"] == "inference"]
    print(
        f"\n{'row':24s} {'weights':10s} {'params':>9s} {'GMACs':>8s} {'median s':>9s} "
        f"{'min':>8s} {'max':>8s} {'CPU s':>8s} {'time / FNet':>22s} {'MACs / FNet':>11s}"
    )
    for r in inference:
        ratio = f"{r['ratio_fnet']:.2f} [{r['ratio_fnet_min']:.2f}, {r['ratio_fnet_max']:.2f}]"
        print(
            f"{r['row']:24s} {r['weights'][:10]:10s} {r['params']:9d} {_num(r['gmacs'], '8.2f'):>8s} "
            f"{r['median_s']:9.4f} {r['min_s']:8.4f} {r['max_s']:8.4f} "
            f"{r['cpu_median_s']:8.4f} {ratio:>22s} {_num(r['macs_vs_fnet'], '11.2f'):>11s}"
        )
    for r in inference:
        if r["note"]:
            print(f"  {r['row']}: {r['note']}")
    for r in rows:
        if r["kind"] == "training":
            print(
                f"\nDAE-Fuse paper-profile training (batch {r['train_batch']} x {r['train_patch']}^2, "
                f"generator {r['params']:,} + discriminators {r['disc_params']:,} parameters):\n"
                f"  Phase I  step {r['flops_step_phase1'] / 1e12:8.3f} TFLOP x {r['steps_phase1']:,} steps\n"
                f"  Phase II step {r['flops_step_phase2'] / 1e12:8.3f} TFLOP x {r['steps_phase2']:,} steps\n"
                f"  total {r['flops_total'] / 1e15:.2f} PFLOP -> {r['implied_train_s']:.0f} s "
                f"({r['implied_train_s'] / 60:.1f} min) at an assumed {r['assumed_tflops']:g} TFLOP/s"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 x 64, 1 round, tiny training step (CI)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--repeats", type=int, help="timed rounds (default 5; quick 1)")
    parser.add_argument("--size", type=int, help="side of the square pair (default 320; quick 64)")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help=f"rows appended here ({DEFAULT_CSV})")
    parser.add_argument(
        "--dae-checkpoint", type=Path, help="a DAE-Fuse file of lzsc's training (replaces the quick-size row)"
    )
    parser.add_argument(
        "--assumed-tflops",
        type=float,
        default=100.0,
        help="sustained TFLOP/s for the implied training time (default 100: ~10%% of an H200's bf16 peak)",
    )
    parser.add_argument(
        "--train", action=argparse.BooleanOptionalAction, default=True, help="the DAE-Fuse training row"
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    size = args.size or (64 if args.quick else 320)
    if repeats < 1 or size < 16 or (args.threads is not None and args.threads < 1):
        parser.error("--repeats and --threads must be >= 1, --size >= 16")
    if not (math.isfinite(args.assumed_tflops) and args.assumed_tflops > 0):
        parser.error("--assumed-tflops must be a positive number")
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    counter_fixes = check_counter()
    load_start = _load()
    a, b, source = load_pair(size)
    entries = build_entries(args.dae_checkpoint)
    print(
        f"{cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads, load {load_start:.2f}; {size} x {size} pair ({source}), {repeats} round(s)"
    )
    for entry in entries:
        t0 = time.perf_counter()
        warm_up(entry, a, b, size)
        print(f"  warm-up {entry.row:24s} {time.perf_counter() - t0:9.3f} s", flush=True)
    time_entries(entries, a, b, repeats)
    rows = inference_rows(entries, size, repeats)
    if args.train:
        rows.append(training_row(args.quick, args.assumed_tflops))
    common = {
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "device": "cpu",
        "device_name": cpu_name(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_avg_start": f"{load_start:.2f}",
        "load_avg_end": f"{_load():.2f}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lzsc": lzsc.__version__,
        "quick": args.quick,
        "pair_source": source,
        "counter_fixes": counter_fixes,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    rows = [{**common, **r} for r in rows]
    print_table(rows)
    append_csv(args.csv, rows)
    print(f"appended {len(rows)} rows to {args.csv} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
