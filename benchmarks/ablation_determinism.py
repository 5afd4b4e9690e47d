"""Why does one ablation run give other numbers on another machine? The CPU kernels, measured.

    python benchmarks/ablation_determinism.py [--name FNet] [--scale ci] [--seed 0] [--csv PATH]

A run of :func:`lzsc.ablations.run_ablation` is deterministic on one machine (two processes, same seed:
identical metrics), yet a clean clone on another machine of the same kind gave other numbers. The
suspect is the choice of floating-point kernels, which depends on the CPU: PyTorch dispatches its own
vectorised kernels by the instruction set it detects (``ATEN_CPU_CAPABILITY``: default / avx2 /
avx512), and oneDNN, which runs the convolutions, picks its kernels by ISA too
(``ONEDNN_MAX_CPU_ISA``). Both can be capped by environment variables, which lets one machine play the
part of an older one.

The script trains and evaluates the same configuration (``reuse=False``, fresh folder) in a fresh
process per setting: as is, twice (the same-machine control), then with each cap and both, and writes
one row per (setting, data set, metric) with the relative difference to the first run to
``benchmarks/results/ablation_determinism.csv``. Needs ``LZSC_DATA`` (else synthetic pairs are used).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lzsc.atomic import append_csv

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "ablation_determinism.csv"
SETTINGS: dict[str, dict[str, str]] = {
    "as is": {},
    "as is (again)": {},
    "ATEN_CPU_CAPABILITY=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "ONEDNN_MAX_CPU_ISA=AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "both capped at AVX2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
CHILD = """
import json, sys, torch
from lzsc.ablations import run_ablation
name, scale, out, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
run = run_ablation(name, scale, out_dir=out, reuse=False, threads=1, seed=seed)
print(json.dumps({"metrics": run.metrics, "capability": torch.backends.cpu.get_cpu_capability()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="FNet")
    parser.add_argument("--scale", default="ci")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    results: dict[str, dict] = {}
    for label, env in SETTINGS.items():
        with tempfile.TemporaryDirectory(prefix="ablation_isa_") as tmp:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, args.name, args.scale, tmp, str(args.seed)],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            )
        results[label] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{label}: ATen kernels {results[label]['capability']}", flush=True)
    first = results["as is"]["metrics"]
    rows = []
    for label, res in results.items():
        diffs = []
        for dataset, values in res["metrics"].items():
            for metric, value in values.items():
                ref = first[dataset][metric]
                rel = abs(value - ref) / abs(ref) if ref else abs(value - ref)
                diffs.append(rel)
                rows.append(
                    {
                        "setting": label,
                        "aten": res["capability"],
                        "name": args.name,
                        "scale": args.scale,
                        "seed": args.seed,
                        "dataset": dataset,
                        "metric": metric,
                        "value": f"{value:.6f}",
                        "rel_diff_vs_first": f"{rel:.3g}",
                    }
                )
        print(
            f"  {label:<28} cells differing from the first run: {sum(d > 0 for d in diffs)}/{len(diffs)}, "
            f"median relative difference {sorted(diffs)[len(diffs) // 2]:.3g}, max {max(diffs):.3g}"
        )
    append_csv(args.csv, rows)
    print(f"appended {len(rows)} rows to {args.csv}")


if __name__ == "__main__":
    main()
