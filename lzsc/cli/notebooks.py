"""``lzsc notebooks``: run the notebook suite with papermill, list it, normalise notebooks for committing.

    lzsc notebooks run [--profile NAME] [-p KEY VALUE ...] [--only 01,02] [--out runs/NAME]
    lzsc notebooks list
    lzsc notebooks normalise notebooks/*.ipynb

The logic lives in :mod:`lzsc.notebooks`; introduced in ``notebooks/00_overview.ipynb``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import notebooks as nb
from ..profiles import PROFILES

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "notebooks", help="run the notebook suite (papermill), list it, or normalise notebooks"
    )
    sub = parser.add_subparsers(dest="notebooks_command", metavar="ACTION", required=True)

    run = sub.add_parser("run", help="execute the numbered notebooks in order and write a summary")
    run.add_argument(
        "--profile", choices=PROFILES, help="profile passed to every notebook (lzsc.profiles; default quick)"
    )
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help="a papermill parameter; VALUE is a Python literal or else a string (repeatable)",
    )
    run.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 01,02")
    run.add_argument(
        "--out", type=Path, help="folder for executed copies and summary (default runs/notebooks-PROFILE)"
    )
    run.add_argument(
        "--dir", type=Path, help="folder holding NN_*.ipynb (default: the repository's notebooks/)"
    )
    run.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    run.add_argument("--timeout", type=int, help="per-cell time limit in seconds")
    run.add_argument("--keep-going", action="store_true", help="run the remaining notebooks after a failure")
    run.add_argument("--no-progress", action="store_true", help="no progress bar over the cells")
    run.set_defaults(func=_run)

    listing = sub.add_parser("list", help="list the notebooks the runner would execute")
    listing.add_argument("--dir", type=Path, help="folder holding NN_*.ipynb")
    listing.set_defaults(func=_list)

    norm = sub.add_parser("normalise", help="strip volatile metadata and normalise the kernelspec, in place")
    norm.add_argument("paths", nargs="+", type=Path)
    norm.set_defaults(func=_normalise)


def _run(args: argparse.Namespace) -> int:
    paths = nb.select(nb.discover(args.dir), args.only.split(",") if args.only else None)
    if not paths:
        print("error: no notebooks to run", file=sys.stderr)
        return 2
    params = {key: nb.parse_value(value) for key, value in args.parameter}
    if args.profile:
        params["profile"] = args.profile
    out = args.out or Path("runs") / f"notebooks-{args.profile or 'default'}"
    summary = nb.run_notebooks(
        paths, out, params, args.kernel, args.keep_going, args.timeout, progress=not args.no_progress
    )
    print()
    print(summary.table())
    print(f"executed notebooks and summary.json / summary.csv in {out}")
    failure = summary.first_failure
    if failure is not None:
        print(f"FAILED: {failure.describe_failure()} (executed copy: {failure.output})", file=sys.stderr)
        return 1
    return 0


def _list(args: argparse.Namespace) -> int:
    for path in nb.discover(args.dir):
        print(path.name)
    return 0


def _normalise(args: argparse.Namespace) -> int:
    for path in args.paths:
        print(f"{path}: {'normalised' if nb.normalise(path) else 'unchanged'}")
    return 0
