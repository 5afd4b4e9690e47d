"""Pixel-by-pixel check of ``lzsc fuse`` against the release's own test script, per source reader.

    python benchmarks/compare_release.py --release DIR [--sets RoadScene MRI_PET ...] [--pairs 4]
                                         [--color] [--lossless] [--threads 2] [--csv PATH]

For each test set (the registry's A and B folders under ``$LZSC_DATA/test``), the first ``--pairs``
pairs sorted by name are copied to a temporary folder and fused three times, each by a whole process:

- ``release``: the authors' ``test.py`` (``--color`` adds its ``--color``: B fused in colour), run as
  :mod:`benchmarks.bench_fuse` runs it (same stubs for unused imports, same weights file);
- ``lzsc --reader release`` and ``lzsc --reader standard``: ``python -m lzsc fuse A B -o OUT
  --keep-ext [--color]`` (JPEG sources give JPEG outputs, as the release writes them; the grey JPEG
  encoders of PIL and OpenCV give identical bytes at quality 95).

``--lossless`` copies every source, bytes unchanged, under the name ``<stem>.png``: both tools decode
by content, not by name, so they read the same JPEG, but both then write lossless PNG. This separates
the network and the reader from the JPEG encoder, which turns a one-level difference before encoding
into up to two or three levels after it.

Each lzsc output is compared with the release's: the largest grey-level difference (per channel in
colour mode) and the fraction of differing values, over all pairs. Rows are appended to
``benchmarks/results/release_outputs.csv``. Getting the release: see ``bench_fuse.py``. Correctness,
not speed: run it on any machine; it takes about 30 s per RoadScene pair and 13 s per medical pair
for the release's script on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fuse import git_commit, write_shims

from lzsc.atomic import append_csv
from lzsc.datasets import FNET_TEST_SETS, dataset_dirs
from lzsc.io import pair_files
from lzsc.paths import official_checkpoint

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "release_outputs.csv"
READERS = ("release", "standard")


def stage(dataset: str, n: int, root: Path, lossless: bool) -> tuple[list[str], str, str]:
    """Copy the first ``n`` pairs of ``dataset`` to ``root/<dataset>/{A,B}``; (names, A folder, B folder).

    ``lossless``: each copy is named ``<stem>.png`` (its bytes unchanged), so that outputs are PNG.
    """
    a_dir, b_dir, _ = dataset_dirs(dataset, "test")
    pairs, problems = pair_files(a_dir, b_dir)
    if problems:
        raise FileNotFoundError(f"{dataset}: unpaired files: {problems[:3]}")
    names = []
    for name, pa, pb in pairs[:n]:
        names.append(f"{Path(name).stem}.png" if lossless else name)
        for src, sub in ((pa, a_dir.name), (pb, b_dir.name)):
            (root / dataset / sub).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, root / dataset / sub / names[-1])
    return names, a_dir.name, b_dir.name


def run(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )


def load(folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    return {name: np.asarray(Image.open(folder / name)).astype(np.int16) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--release", type=Path, required=True, help="a checkout of gargi884/FNet-MMIF")
    parser.add_argument("--sets", nargs="+", default=list(FNET_TEST_SETS), choices=FNET_TEST_SETS)
    parser.add_argument("--pairs", type=int, default=4, help="first N pairs of each set, by name")
    parser.add_argument("--color", action="store_true", help="colour mode (B's luma fused, chroma kept)")
    parser.add_argument("--lossless", action="store_true", help="sources renamed <stem>.png: PNG outputs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    if not (args.release / "test.py").is_file():
        parser.error(f"{args.release} is not a checkout of the release (no test.py)")
    weights = official_checkpoint()
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    rows = []
    with tempfile.TemporaryDirectory(prefix="compare_release_") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "shims").mkdir()
        write_shims(tmp / "shims")
        release_env = {
            **env,
            "PYTHONPATH": os.pathsep.join(p for p in (str(tmp / "shims"), env.get("PYTHONPATH", "")) if p),
        }
        for dataset in args.sets:
            names, a_sub, b_sub = stage(dataset, args.pairs, tmp / "in", args.lossless)
            print(f"{dataset}: {len(names)} pair(s), release test.py ...", flush=True)
            run(
                [
                    sys.executable,
                    str(args.release / "test.py"),
                    "--model_path",
                    str(weights),
                    "--root_path",
                    str(tmp / "in"),
                    "--dataset",
                    dataset,
                    "--A_dir",
                    a_sub,
                    "--B_dir",
                    b_sub,
                    "--save_dir",
                    str(tmp / "release"),
                    *(["--color"] if args.color else []),
                ],
                release_env,
                tmp,
            )
            reference = load(tmp / "release" / dataset, names)
            for reader in READERS:
                out = tmp / f"lzsc_{reader}" / dataset
                run(
                    [
                        sys.executable,
                        "-m",
                        "lzsc",
                        "fuse",
                        str(tmp / "in" / dataset / a_sub),
                        str(tmp / "in" / dataset / b_sub),
                        "-o",
                        str(out),
                        "--checkpoint",
                        str(weights),
                        "--keep-ext",
                        "--reader",
                        reader,
                        *(["--color"] if args.color else []),
                    ],
                    env,
                    tmp,
                )
                ours = load(out, names)
                diffs = [np.abs(ours[n] - reference[n]) for n in names]
                worst = max(int(d.max()) for d in diffs)
                frac = sum(int((d > 0).sum()) for d in diffs) / sum(d.size for d in diffs)
                pairs_over_1 = sum(int(d.max()) > 1 for d in diffs)
                row = {
                    "date": datetime.date.today().isoformat(),
                    "commit": git_commit(ROOT),
                    "release_commit": git_commit(args.release),
                    "dataset": dataset,
                    "mode": "colour" if args.color else "grey",
                    "outputs": "png" if args.lossless else "as release",
                    "pairs": len(names),
                    "reader": reader,
                    "max_grey_diff": worst,
                    "frac_pixels_differing": f"{frac:.6f}",
                    "pairs_over_1": pairs_over_1,
                }
                rows.append(row)
                print(
                    f"  lzsc --reader {reader:<8}: max |diff| {worst}, {frac:.4%} of values differ, "
                    f"{pairs_over_1} pair(s) over 1 grey level",
                    flush=True,
                )
    append_csv(args.csv, rows)
    print(f"appended {len(rows)} row(s) to {args.csv}")


if __name__ == "__main__":
    main()
