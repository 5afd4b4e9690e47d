"""``lzsc evaluate``: fuse a test set (or read fused images) and compare every metric with the paper."""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
from pathlib import Path

from ..datasets import FNET_TEST_SETS
from ..protocols import PROTOCOLS
from . import add_backend_option, load_model


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="compute the fusion metrics on the paper's test sets, next to the paper's Table I",
        description="Fuse a test set under $LZSC_DATA/test (or read fused images with --fused), compute "
        "EN SD SF AG MI CE SCD VIF Qabf Qcb SSIM per pair, and print per-dataset means next to the paper.",
    )
    p.add_argument("--dataset", required=True, choices=(*FNET_TEST_SETS, "all"))
    p.add_argument("--checkpoint", default="official", help="'official' or a checkpoint path")
    p.add_argument(
        "--fused",
        type=Path,
        help="folder of already fused images of the set, or a root holding DIR/<dataset>/ for each set",
    )
    p.add_argument("--out", type=Path, help="per-pair CSV (default results/eval_<checkpoint>_<protocol>.csv)")
    p.add_argument("--protocol", choices=tuple(PROTOCOLS), default="default", help="see lzsc.protocols")
    p.add_argument("--limit", type=int, help="first N pairs of each set, sorted by name")
    p.add_argument("--cache", type=Path, default=Path("runs") / "fused", help="fused-image cache folder")
    p.add_argument("--device", default="cpu")
    add_backend_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..atomic import write_text_atomic
    from ..evaluation import evaluate

    model = None if args.fused is not None else load_model(args.checkpoint, args.device, args.backend)
    stem = Path(str(args.checkpoint)).stem if args.fused is None else f"fused_{args.fused.name}"
    out = args.out or Path("results") / f"eval_{stem}_{args.protocol}.csv"
    datasets = FNET_TEST_SETS if args.dataset == "all" else (args.dataset,)
    summary = {}
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
        )
        print(result, end="\n\n")
        summary[name] = {"pairs": len(result.rows), "means": result.means(), "stds": result.stds()}
    meta = {
        "command": "lzsc " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "protocol": args.protocol,
        "protocol_meaning": PROTOCOLS[args.protocol].describe(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "datasets": summary,
    }
    meta_path = out.with_suffix(".json")
    write_text_atomic(meta_path, json.dumps(meta, indent=2))
    print(f"per-pair rows: {out}\nsummary and command: {meta_path}")
    return 0
