"""``lzsc reproduce``: both training stages, Table I's evaluation and the comparison with the release.

Examples::

    lzsc reproduce --profile quick                        # CPU, minutes: runs/quick, table in runs/quick
    lzsc reproduce --profile paper                        # one GPU: runs/paper, table in results/
    lzsc reproduce --profile paper --nproc 4              # DDP over 4 GPUs (torchrun)
    lzsc reproduce --profile quick --set steps=50 --pairs 1

Run the same command again to resume it (:mod:`lzsc.reproduce`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..profiles import PROFILES
from . import int_at_least


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="train both stages, evaluate on Table I's sets, compare with the released weights and the paper",
        description="Stage I and stage II of FNet's training (resuming where a previous run stopped), then "
        "the paper protocol's metrics of the trained and the released weights on FNet's five test sets, "
        "and a table of both next to the paper's Table I (CSV and markdown).",
    )
    p.add_argument("--profile", choices=PROFILES, default="quick", help="settings preset (default quick)")
    p.add_argument("--out", type=Path, help="working folder (default runs/PROFILE)")
    p.add_argument(
        "--nproc",
        type=int_at_least(1, "processes"),
        default=1,
        help="train on N processes with torchrun (DDP)",
    )
    p.add_argument(
        "--results",
        type=Path,
        help="folder of the comparison table (default: results/ for paper, else --out)",
    )
    p.add_argument(
        "--pairs",
        type=int_at_least(1, "pairs"),
        help="first N pairs of each test set (default: 2 for quick, every pair for paper)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training setting, as lzsc train --set (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..reproduce import reproduce

    result = reproduce(
        args.profile,
        out=args.out,
        nproc=args.nproc,
        results=args.results,
        pairs="default" if args.pairs is None else args.pairs,
        overrides=args.overrides,
        progress=not args.no_progress,
    )
    print(result.table_md.read_text())
    print(f"comparison: {result.table_csv} and {result.table_md}; trained weights: {result.trained}")
    return 0
