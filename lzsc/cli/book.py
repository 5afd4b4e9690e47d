"""``lzsc book``: build the static site of the executed notebooks, errata, results, claims and API.

The notebooks are not executed again (the committed ones are); the build fails on a broken link, a
missing image or a Sphinx warning (:mod:`lzsc.book`). Open ``<out>/_build/html/index.html`` in a browser.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "book",
        help="build the book: executed notebooks, errata, results, claims ledger and API as a static site",
        description="Stage the book's sources (the committed notebooks, README sections, the errata of the "
        "notebooks, results/claims.csv as a page, the API from the docstrings) under OUT/src and build them "
        "with Jupyter Book to OUT/_build/html, warnings as errors. Needs the 'book' extra and LZSC_DATA "
        "(for the papers' tables).",
    )
    p.add_argument(
        "--out", type=Path, default=Path("runs") / "book", help="output folder (default runs/book)"
    )
    p.add_argument("--no-api", action="store_true", help="leave out the API reference (a faster build)")
    p.add_argument("--verbose", action="store_true", help="show Jupyter Book's output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..book import build

    try:
        index = build(args.out, api=not args.no_api, quiet=not args.verbose)
    except RuntimeError as err:
        print(f"error: {err}")
        return 1
    print(f"built {index}: open it in a browser (file://{index.resolve()})")
    return 0
