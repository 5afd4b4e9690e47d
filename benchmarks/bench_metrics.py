"""Time ``lzsc.metrics.compute_all`` against the eleven individual metric calls on one triplet.

Usage::

    python benchmarks/bench_metrics.py [--repeats N] [--csv PATH] [--quick]

The triplet is the first MSRS training pair (640 x 480; A = infrared, B = visible, F = their rounded
pixel mean) when ``LZSC_DATA`` points at the data, else a synthetic 640 x 480 triplet. ``--quick``
uses a 320 x 240 crop and 2 repeats, a smoke test of a few seconds. Prints the median and spread of
each timing, the ratio (individual calls / compute_all), the machine and the library versions, and
appends one row to the CSV (default ``benchmarks/results/metrics.csv``). CPU time (all threads of the
process) is reported beside wall-clock time: on a shared, overloaded machine the wall-clock time mostly
measures the other processes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import lzsc.metrics as m
from lzsc.atomic import append_csv

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "metrics.csv"
SHAPE = (480, 640)


def load_triplet(quick: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """F, A, B as float64 grey images and a description of where they came from."""
    source = "synthetic"
    data = os.environ.get("LZSC_DATA")
    ir_dir = Path(data) / "train" / "MSRS" / "ir" if data else None
    a = b = None
    if ir_dir is not None and ir_dir.is_dir():
        from PIL import Image

        name = sorted(ir_dir.iterdir())[0].name
        a = m.to_gray_u8(np.asarray(Image.open(ir_dir / name).convert("RGB")))
        b = m.to_gray_u8(np.asarray(Image.open(ir_dir.parent / "vi" / name).convert("RGB")))
        if a.shape == SHAPE and b.shape == SHAPE:
            source = f"MSRS {name}"
        else:
            a = b = None
    if a is None or b is None:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
        a = np.round(127.5 + 60 * np.sin(xx / 23.0) * np.cos(yy / 17.0) + rng.normal(0, 20, SHAPE)).clip(
            0, 255
        )
        b = np.round(127.5 + 80 * np.sign(np.sin(xx / 40.0 + yy / 55.0)) + rng.normal(0, 10, SHAPE)).clip(
            0, 255
        )
    if quick:
        a, b = a[120:360, 160:480], b[120:360, 160:480]
    return np.round((a + b) / 2), a, b, source


def individual_calls(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    return {
        "EN": m.en(f),
        "SD": m.sd(f),
        "SF": m.sf(f),
        "AG": m.ag(f),
        "MI": m.mi(f, a, b),
        "CE": m.ce(f, a, b),
        "SCD": m.scd(f, a, b),
        "VIF": m.vif(f, a, b),
        "Qabf": m.qabf(f, a, b),
        "Qcb": m.qcb(f, a, b),
        "SSIM": m.ssim(f, a, b),
    }


def time_runs(fn: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (all threads of this process) seconds of each of ``repeats`` calls."""
    fn()  # warm-up: imports, allocator, BLAS threads
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each variant (default 10)")
    parser.add_argument(
        "--csv", type=Path, default=DEFAULT_CSV, help=f"CSV to append to (default {DEFAULT_CSV})"
    )
    parser.add_argument("--quick", action="store_true", help="320 x 240 crop and 2 repeats: a smoke test")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    if repeats < 1:
        parser.error("--repeats must be at least 1")

    f, a, b, source = load_triplet(args.quick)
    all_times, all_cpu = time_runs(lambda: m.compute_all(f, a, b), repeats)
    single_times, single_cpu = time_runs(lambda: individual_calls(f, a, b), repeats)
    values = m.compute_all(f, a, b)
    singles = individual_calls(f, a, b)
    worst = max(abs(values[k] - singles[k]) for k in m.METRIC_NAMES)

    med_all, med_single = statistics.median(all_times), statistics.median(single_times)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    row = {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": f"{platform.machine()} {platform.processor() or platform.node()}",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_1min": f"{load:.2f}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "image": f"{source} {f.shape[1]}x{f.shape[0]}",
        "repeats": repeats,
        "compute_all_median_s": f"{med_all:.4f}",
        "compute_all_min_s": f"{min(all_times):.4f}",
        "compute_all_max_s": f"{max(all_times):.4f}",
        "individual_median_s": f"{med_single:.4f}",
        "individual_min_s": f"{min(single_times):.4f}",
        "individual_max_s": f"{max(single_times):.4f}",
        "ratio_individual_over_all": f"{med_single / med_all:.2f}",
        "compute_all_cpu_median_s": f"{statistics.median(all_cpu):.4f}",
        "individual_cpu_median_s": f"{statistics.median(single_cpu):.4f}",
    }
    print(
        f"device: CPU, {row['machine']}, {row['cpu_count']} cores, torch threads {row['torch_threads']}, "
        f"1-min load {row['load_1min']}"
    )
    print(f"versions: python {row['python']}, numpy {row['numpy']}, torch {row['torch']}")
    print(f"image: {row['image']}, {repeats} repeats after one warm-up")
    print(f"compute_all        median {med_all:.3f} s  (min {min(all_times):.3f}, max {max(all_times):.3f})")
    spread = f"min {min(single_times):.3f}, max {max(single_times):.3f}"
    print(f"11 separate calls  median {med_single:.3f} s  ({spread})")
    print(
        f"CPU time (all threads): compute_all median {statistics.median(all_cpu):.3f} s, "
        f"separate calls median {statistics.median(single_cpu):.3f} s"
    )
    print(f"ratio separate / compute_all: {med_single / med_all:.2f}; largest value difference {worst:.1e}")
    print("values: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))

    append_csv(args.csv, [row])
    print(f"appended to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
