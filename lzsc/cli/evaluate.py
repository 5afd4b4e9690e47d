"""``lzsc evaluate``: fuse a test set (or read fused images) and compare every metric with the paper.

Two files per run, side by side: the per-pair CSV (``--out``, a name ending in ``.csv``) and the
summary with the command that made it (the same name with ``.json``). By default they go under
``runs/eval/`` (not tracked), so exploratory runs never touch the committed tables under ``results/``;
write there by naming the file. Neither file is overwritten when it is not one of ours, unless
``--force``; a limited run keeps the other pairs' rows, and never replaces a complete data set's
summary with its partial one.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
from pathlib import Path

from ..datasets import FNET_TEST_SETS, REGISTRY
from ..methods.registry import PAIR_METHODS
from ..protocols import PROTOCOLS
from . import add_method_options, int_at_least, load_model

DEFAULT_DIR = Path("runs") / "eval"
#: ``--dataset`` names of groups of test sets: FNet's Table I sets, and the CSC paper's Table II sets.
GROUPS = {
    "all": FNET_TEST_SETS,
    "csc": tuple(s.name for s in REGISTRY if s.split == "test" and s.paper == "CSC"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="compute the fusion metrics on the paper's test sets, next to the paper's Table I",
        description="Fuse a test set under $LZSC_DATA/test (or read fused images with --fused), compute "
        "EN SD SF AG MI CE SCD VIF Qabf Qcb SSIM per pair, and print per-dataset means next to the paper. "
        "Writes two files: the per-pair rows (--out NAME.csv) and the summary with the command that made "
        "it (NAME.json beside it).",
    )
    p.add_argument(
        "--dataset",
        required=True,
        choices=(*REGISTRY.names("test"), *GROUPS),
        help="a test set, 'all' (FNet's Table I sets: " + ", ".join(GROUPS["all"]) + ") or 'csc' (the CSC "
        "paper's Table II sets: " + ", ".join(GROUPS["csc"]) + ")",
    )
    p.add_argument(
        "--fused",
        type=Path,
        help="folder of already fused images of the set, or a root holding DIR/<dataset>/ for each set",
    )
    p.add_argument(
        "--out",
        type=Path,
        help=f"per-pair CSV, a name ending in .csv (default {DEFAULT_DIR}/"
        "eval_[<method>_]<checkpoint>_<protocol>.csv, the method named unless fnet); "
        "the summary goes to the same name with .json. Rows of other runs in the file are kept",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an --out CSV or summary JSON that is not an evaluation file (refused otherwise)",
    )
    p.add_argument("--protocol", choices=tuple(PROTOCOLS), default="default", help="see lzsc.protocols")
    p.add_argument(
        "--limit", type=int_at_least(1, "pairs"), help="first N pairs of each set, sorted by name (N >= 1)"
    )
    p.add_argument("--cache", type=Path, default=Path("runs") / "fused", help="fused-image cache folder")
    add_method_options(p, PAIR_METHODS)
    p.set_defaults(func=run)


def _summary_file(path: Path, force: bool) -> dict:
    """The summary already in ``path`` (``{}`` if none); FileExistsError if it is not one of ours."""
    if not path.exists():
        return {}
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        summary = None
    if isinstance(summary, dict) and isinstance(summary.get("datasets"), dict):
        return summary
    if force:
        return {}
    raise FileExistsError(
        f"{path} exists and is not an evaluation summary; refusing to overwrite it: choose another --out, "
        "or pass --force to replace it"
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from ..atomic import write_text_atomic
    from ..evaluation import check_rows_file, evaluate
    from ..fusion import prepare_output_dir

    stem = Path(str(args.checkpoint)).stem if args.fused is None else f"fused_{args.fused.name}"
    prefix = "" if args.method == "fnet" else f"{args.method}_"
    out = args.out or DEFAULT_DIR / f"eval_{prefix}{stem}_{args.protocol}.csv"
    if out.suffix.lower() != ".csv":
        raise ValueError(
            f"--out {out}: give the per-pair CSV, a name ending in .csv (the summary is written beside it "
            "with .json)"
        )
    meta_path = out.with_suffix(".json")
    check_rows_file(out, args.force)
    previous = _summary_file(meta_path, args.force)
    prepare_output_dir(out.parent, ())
    model = None if args.fused is not None else load_model(args)
    command = "lzsc " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    datasets = GROUPS.get(args.dataset, (args.dataset,))
    summary = dict(previous.get("datasets", {}))
    for name in datasets:
        result = evaluate(
            name,
            model=model,
            protocol=args.protocol,
            fused_dir=args.fused,
            out_csv=out,
            limit=args.limit,
            cache_dir=args.cache,
            scale="" if args.limit is None else f"first {args.limit} pairs only",
            force=args.force,
            method=args.method,
        )
        print(result, end="\n\n")
        old = summary.get(name)
        if not result.complete and old and old.get("complete", old.get("pairs", 0) >= result.pairs_in_set):
            print(f"kept the summary of the complete {name} run in {meta_path}; this run's rows are in {out}")
            continue
        summary[name] = {
            "pairs": len(result.rows),
            "complete": result.complete,
            "protocol": args.protocol,
            "method": args.method,
            "model": result.model,
            "command": command,
            "means": result.means(),
            "stds": result.stds(),
        }
    meta = {
        "command": command,
        "protocol": args.protocol,
        "protocol_meaning": PROTOCOLS[args.protocol].describe(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "datasets": summary,
    }
    write_text_atomic(meta_path, json.dumps(meta, indent=2))
    print(f"per-pair rows: {out}\nsummary and command: {meta_path}")
    return 0
