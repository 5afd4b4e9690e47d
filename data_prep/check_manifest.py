"""Re-verify a folder written by prepare_pairs.py: checksums, sizes and modes against its manifest.

    python data_prep/check_manifest.py OUT [--sources]

Exit status 0 when every file matches, 1 when a problem was found (each one is printed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lzsc.data import check_manifest, read_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="folder holding manifest.csv")
    parser.add_argument("--sources", action="store_true", help="also re-hash the source files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        n_rows = len(read_manifest(args.out))
        problems = check_manifest(args.out, sources=args.sources, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"{args.out}: {n_rows} pairs, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
