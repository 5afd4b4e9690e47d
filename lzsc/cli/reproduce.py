"""``lzsc reproduce``: both training stages, Table I's evaluation, the comparison with the release and
the paper (:mod:`lzsc.reproduce`).

Examples::

    lzsc reproduce --profile quick                  # CPU, minutes: runs/quick, table in runs/quick
    lzsc reproduce --profile paper                  # one GPU: runs/paper, table in results/
    lzsc reproduce --profile paper --nproc 4        # stages trained by DDP over 4 GPUs (torchrun)
    lzsc reproduce --profile quick --set steps=50 --pairs 1

Running the same command again continues an interrupted run (stage, step, evaluation rows).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..profiles import PROFILES
from . import add_set_option, int_at_least

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="train both stages, evaluate on Table I's sets, compare with the released weights and the paper",
        description="FNet's stage I (eq. 25) and stage II (eq. 26), resumed where a previous run stopped; "
        "then the paper protocol's metrics of the trained and the released weights on FNet's Table I test "
        "sets; then a table of both next to the paper's Table I (reproduce_PROFILE.csv and .md).",
    )
    p.add_argument("--profile", choices=PROFILES, default="quick", help="settings preset (default quick)")
    p.add_argument(
        "--out",
        type=Path,
        help="working folder: training, evaluation rows, fused images (default runs/PROFILE)",
    )
    p.add_argument(
        "--nproc",
        type=int_at_least(1, "processes"),
        default=1,
        help="train on N processes launched by torchrun (DDP; default 1: in this process)",
    )
    p.add_argument(
        "--results",
        type=Path,
        help="folder of the comparison table (default: the repository's results/ for the paper profile "
        "without --pairs and --set, else --out)",
    )
    p.add_argument(
        "--pairs",
        type=int_at_least(1, "pairs"),
        help="first N pairs of each test set (default: 2 for quick, every pair for paper)",
    )
    add_set_option(
        p,
        "override a training setting, as `lzsc train --set` (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..reproduce import ReproduceError, reproduce

    try:
        result = reproduce(
            args.profile,
            out=args.out,
            nproc=args.nproc,
            results=args.results,
            pairs=args.pairs,
            overrides=args.overrides,
            progress=not args.no_progress,
        )
    except (ReproduceError, FloatingPointError) as err:  # FloatingPointError: a diverging training
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(result.table_md.read_text())
    trained = "trained" if result.trained_now else "already trained, not run again"
    print(
        f"comparison table: {result.table_md} and {result.table_csv}; weights ({trained}): {result.weights} "
        f"({result.seconds:.0f} s)"
    )
    return 0
