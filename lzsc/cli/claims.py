"""``lzsc claims``: write the claims ledger (``results/claims.csv``) from the committed results.

``--measure-fig10`` first measures Fig. 10's near-zero increases with the released weights (seconds on
a CPU) into ``results/fig10_official.csv``; everything else is read from files already committed
(:mod:`lzsc.claims`).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "claims",
        help="write the claims ledger: every numbered claim of the papers next to lzsc's value",
        description="Build results/claims.csv from the committed "
        "results: FNet's Table I, cost row, Fig. 10 and Table III; the CSC paper's Table II; DAE-Fuse's "
        "Table I. Each claim gets lzsc's value, the protocol and scale, its source file and a status.",
    )
    p.add_argument("--results", type=Path, help="the results folder (default: the repository's results/)")
    p.add_argument(
        "--measure-fig10",
        action="store_true",
        help="first measure Fig. 10 with the released weights (needs LZSC_DATA) into fig10_official.csv",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import csv
    import io
    from collections import Counter

    from ..atomic import write_text_atomic
    from ..claims import measure_fig10, results_dir, write_claims

    folder = args.results or results_dir()
    if args.measure_fig10:
        rows = measure_fig10()
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()} for r in rows)
        write_text_atomic(folder / "fig10_official.csv", out.getvalue())
        print(f"wrote {folder / 'fig10_official.csv'} ({len(rows)} rows)")
    path, claims = write_claims(folder)
    counts = Counter(c.status for c in claims)
    print(f"wrote {path}: {len(claims)} claims; " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0
