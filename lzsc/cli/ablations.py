"""``lzsc ablations``: the multi-seed ablation study (Table III) at a named scale, into a CSV.

Examples::

    lzsc ablations --scale ci --seeds 0 1 2 --workers 2 --out results/ablations_ci.csv
    lzsc ablations --scale ci --seeds 0 1 2 --names AE1 AE2        # the baseline is always included

Every configuration is trained under every seed (finished runs under ``--runs`` are reused), the
per-run metrics are written one row per (configuration, seed, data set, metric) to ``--out`` with a
JSON beside it (the command, the scale, the machine), and the verdicts of
:class:`lzsc.ablations.AblationStudy` are printed. Introduced in ``notebooks/10_ablations.ipynb``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

#: ``lzsc.ablations.SCALES``, spelt out so that building the parser does not import torch.
SCALE_NAMES: tuple[str, ...] = ("ci", "cpu", "paper")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ablations",
        help="train the ablations of Table III under several seeds and judge them against the noise",
        description="Train the full FNet and the ablations AE1-AE15 under each seed at a named scale, write "
        "the metrics to a CSV and print, per ablation, whether it supports, contradicts or cannot resolve "
        "the paper's direction (lzsc.ablations.study).",
    )
    p.add_argument("--scale", choices=SCALE_NAMES, default="ci", help="lzsc.ablations.SCALES")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of every configuration")
    p.add_argument("--names", nargs="+", help="ablations to run (default: all of AE1-AE15)")
    p.add_argument("--workers", type=int, default=1, help="parallel training processes (one thread each)")
    p.add_argument("--runs", type=Path, default=Path("runs") / "ablations", help="folder of the runs")
    p.add_argument(
        "--out",
        type=Path,
        help="per-run CSV (default <runs>/study_<scale>.csv); a .json is written beside it",
    )
    p.add_argument("--device", help="torch device of the trainings (default: the scale's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import platform

    import torch

    from ..ablations import SCALES, run_study
    from ..atomic import write_text_atomic

    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if any(s < 0 for s in args.seeds):
        raise ValueError(f"--seeds must be non-negative integers, got {args.seeds}")
    out = args.out or args.runs / f"study_{args.scale}.csv"
    if out.suffix.lower() != ".csv":
        raise ValueError(f"--out {out}: give a name ending in .csv (the JSON is written beside it)")
    overrides = {"device": args.device} if args.device else {}
    study = run_study(args.names, args.scale, args.seeds, args.runs, workers=args.workers, **overrides)
    study.write_csv(out)
    meta = {
        "command": "lzsc " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "scale": study.scale,
        "scale_settings": {k: str(v) for k, v in SCALES[args.scale].train.items()},
        "seeds": study.seeds,
        "configs": study.configs,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    write_text_atomic(out.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    print(study.summary())
    print(f"\nper-run rows: {out}\nscale and command: {out.with_suffix('.json')}")
    return 0
