"""Check a folder of image pairs and write 8-bit PNGs of A (grey) and B's Y channel plus a manifest.

Examples::

    python data_prep/prepare_pairs.py --src MSRS/train --layout msrs --out $LZSC_DATA/train/MSRS
    python data_prep/prepare_pairs.py --src road-scene-infrared-visible-images --layout roadscene \\
        --out $LZSC_DATA/train/RoadScene --exclude-test $LZSC_DATA
    python data_prep/prepare_pairs.py --a-dir scans/MRI --b-dir scans/CT --out prepared/MRI_CT

Every problem (unmatched, unreadable, 16-bit, alpha, size mismatch) is reported per file; the other
pairs are still written and the exit status is 1. See data_prep/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lzsc.data import LAYOUTS, LUMA_MODES, prepare_pairs, resolve_layout, test_names
from lzsc.datasets import REGISTRY, PairLayout
from lzsc.io import pair_files


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--src", type=Path, help="folder holding the A and B folders of a known --layout")
    parser.add_argument("--a-dir", type=Path, help="folder of source A (infrared / MRI); overrides --src")
    parser.add_argument("--b-dir", type=Path, help="folder of source B (visible / CT / PET / SPECT)")
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder (gets A/, B/ and manifest.csv)"
    )
    parser.add_argument(
        "--layout",
        choices=[*LAYOUTS, "custom"],
        help="folder names of the source (default: detected from --src; 'custom' needs --a-dir/--b-dir)",
    )
    parser.add_argument("--a-name", help="output folder name for A (default: the layout's, e.g. ir)")
    parser.add_argument("--b-name", help="output folder name for B (default: the layout's, e.g. vi)")
    parser.add_argument(
        "--exclude-test",
        type=Path,
        metavar="ROOT",
        help="drop the pairs of a test set: a data root holding test/<NAME>, or that test set's folder",
    )
    parser.add_argument(
        "--test-set",
        help="NAME of the test set to exclude (default: the layout's, else the test set that the data "
        "named like the source folder holds, lzsc.datasets.REGISTRY.test_set_inside: RoadScene's pairs "
        "for RoadScene, none for MSRS or FLIR)",
    )
    parser.add_argument("--luma", choices=LUMA_MODES, default="kornia", help="how an RGB B becomes grey")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if (args.a_dir is None) != (args.b_dir is None):
        parser.error("give both --a-dir and --b-dir, or neither (then --src)")
    if args.a_dir is None and args.src is None:
        parser.error("give --src (with a --layout) or --a-dir and --b-dir")
    if args.layout == "custom" and args.a_dir is None:
        parser.error("--layout custom needs --a-dir and --b-dir")
    return args


def source_test_set(args: argparse.Namespace, layout: PairLayout | None, a_dir: Path) -> str | None:
    """The test set whose pairs the source holds: ``--test-set``, else the layout's, else
    :meth:`~lzsc.datasets.Registry.test_set_inside` of the source folder's name (None: no test set's).

    A name alone does not say that the pairs are a test set's: FLIR's training and test pairs share file
    names but are different images, so only a training set registered as holding a test set's pairs
    (RoadScene) excludes them.
    """
    if args.test_set:
        return args.test_set
    if layout is not None and layout.test_set is not None:
        return layout.test_set
    inside = REGISTRY.test_set_inside((args.src or a_dir.parent).name)
    return None if inside is None else inside.name


def excluded_names(root: Path, name: str | None) -> list[str]:
    """Pair names of test set ``name`` under data root ``root``, or of the test pairs in folder ``root``."""
    if name and (root / "test" / name).is_dir():
        return test_names(name, root)
    a_dir, b_dir, _ = resolve_layout(root)
    return [pair_name for pair_name, _, _ in pair_files(a_dir, b_dir)[0]]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    layout = LAYOUTS.get(args.layout) if args.layout else None
    if args.a_dir is not None:
        a_dir, b_dir = args.a_dir, args.b_dir
    else:
        a_dir, b_dir, layout = resolve_layout(args.src, args.layout)
    out_a = args.a_name or (layout.out_a if layout else None)
    out_b = args.b_name or (layout.out_b if layout else None)
    exclude: list[str] = []
    if args.exclude_test is not None:
        test_set = source_test_set(args, layout, a_dir)
        if test_set is None and (args.exclude_test / "test").is_dir():
            source = (args.src or a_dir.parent).name
            print(f"{source} holds no test set's pairs (lzsc.datasets.REGISTRY): nothing to exclude")
        else:
            exclude = excluded_names(args.exclude_test, test_set)
            if not exclude:
                print(f"error: found no test pairs to exclude under {args.exclude_test}", file=sys.stderr)
                return 2
    report = prepare_pairs(
        a_dir,
        b_dir,
        args.out,
        out_a=out_a,
        out_b=out_b,
        exclude=exclude,
        luma=args.luma,
        progress=not args.no_progress,
    )
    print(f"wrote {len(report.rows)} pairs to {args.out} (manifest {report.manifest})")
    print(f"excluded {len(report.excluded)} test pair(s)")
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
    if report.problems:
        print(f"{len(report.problems)} problem(s): fix or remove those files and run again", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
