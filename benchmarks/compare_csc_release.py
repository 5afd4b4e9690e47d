"""Pixel-by-pixel check of lzsc's CSC-IVFN fusion against the release's own ``CSC-IVF/Test.py``.

    python benchmarks/compare_csc_release.py --release DIR/CSC-IVF --opencv-contrib SITE
                                             [--sets TNO40 FLIR NIR_Country] [--pairs 3] [--threads 2]
                                             [--csv PATH]

For each test set (the registry's ir / vi folders under ``$LZSC_DATA/test``) the first ``--pairs``
pairs sorted by name are fused twice, with the released weights (``$LZSC_DATA/checkpoints/csc_ivfn``):

- ``release``: the release's ``Test.py``, unmodified, in a whole process. It hard-codes Windows paths
  and CUDA, so the pairs are staged under the literal file names it opens (``.\\Test_data_FLIR\\\\IR1.jpg``
  ...: one name each on POSIX file systems; PIL reads PNG content under a ``.jpg`` name, so every set
  goes through its FLIR branch), its weights are linked as ``Train_result\\LISTA_*.model``, and a
  run-time shim sends ``.cuda()`` / ``.to("cuda")`` to the CPU and makes ``torch.load`` map to the
  CPU with ``weights_only=True``. Its ``fusion_layer`` imports ``cv2.ximgproc``: ``--opencv-contrib``
  is a folder made by ``pip install --target SITE opencv-contrib-python-headless``, put first on the
  release's ``PYTHONPATH`` only (it would shadow lzsc's ``opencv-python-headless``).
- ``lzsc``: :func:`lzsc.methods.csc_ivfn.fuse_csc_ivfn` and ``to_uint8_release`` in this process (what
  ``fuse_csc_ivfn_u8`` does), sources read by PIL as the release reads them.

Compared: the 8-bit outputs (largest grey-level difference, number and fraction of differing pixels,
pairs over 1 level) and the float outputs the release saves in ``R.mat`` (largest absolute difference).
Rows are appended to ``benchmarks/results/csc_release_outputs.csv``. Correctness, not speed: about 20 s
per FLIR pair and 60 s per TNO pair for each side on 2 busy CPU cores. The release's code never enters
lzsc.
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
import scipy.io
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fuse import git_commit

from lzsc.atomic import append_csv
from lzsc.datasets import dataset_dirs
from lzsc.io import pair_files
from lzsc.methods.csc_ivfn import OFFICIAL_FILES, fuse_csc_ivfn, load_csc_ivfn, to_uint8_release
from lzsc.paths import require_data_root

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "csc_release_outputs.csv"
SETS = ("TNO40", "FLIR", "NIR_Country")

SHIM = '''"""Run the release's Test.py on the CPU: argv = release folder, staged folder."""
import os, runpy, sys
import torch
from torch import nn

release, work = (os.path.abspath(p) for p in sys.argv[1:3])
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))


def _cpu(args, kwargs):
    args = tuple("cpu" if isinstance(x, str) and x.startswith("cuda") else x for x in args)
    if isinstance(kwargs.get("device"), str) and kwargs["device"].startswith("cuda"):
        kwargs["device"] = "cpu"
    return args, kwargs


def _on_cpu(method):
    def moved(self, *a, **k):
        a, k = _cpu(a, k)
        return method(self, *a, **k)

    return moved


_load = torch.load
torch.Tensor.to, nn.Module.to = _on_cpu(torch.Tensor.to), _on_cpu(nn.Module.to)
torch.Tensor.cuda = lambda self, *a, **k: self
torch.load = lambda f, *a, **k: _load(f, *a, **{"map_location": "cpu", "weights_only": True, **k})
sys.path.insert(0, release)
os.chdir(work)
runpy.run_path(os.path.join(release, "Test.py"), run_name="__main__")
'''


def stage(dataset: str, n: int, work: Path, weights: Path) -> list[tuple[Path, Path]]:
    """Stage the first ``n`` pairs of ``dataset`` in ``work`` under the release's literal names."""
    a_dir, b_dir, _ = dataset_dirs(dataset, "test")
    pairs, problems = pair_files(a_dir, b_dir)
    if problems:
        raise FileNotFoundError(f"{dataset}: unpaired files: {problems[:3]}")
    work.mkdir(parents=True)
    for name in OFFICIAL_FILES.values():
        (work / f"Train_result\\{name}").symlink_to(weights / name)
    listing = work / ".\\Test_data_FLIR\\"  # Test.py counts the pairs as half this folder's entries
    listing.mkdir()
    for i, (_, pa, pb) in enumerate(pairs[:n], 1):
        for src, tag in ((pa, "IR"), (pb, "VIS")):
            shutil.copyfile(src, work / f".\\Test_data_FLIR\\\\{tag}{i}.jpg")
            (listing / f"{tag}{i}").touch()
    return [(pa, pb) for _, pa, pb in pairs[:n]]


def read_u8(path: Path) -> np.ndarray:
    """A source as the release reads it: ``np.array(Image.open(path))``, which must be grey."""
    img = np.asarray(Image.open(path))
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"{path}: the release fuses 8-bit grey files only, got {img.dtype} {img.shape}")
    return img


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--release", type=Path, required=True, help="the release's CSC-IVF folder")
    parser.add_argument("--opencv-contrib", type=Path, required=True, help="folder with cv2 + ximgproc")
    parser.add_argument("--sets", nargs="+", default=["TNO40", "FLIR"], choices=SETS)
    parser.add_argument("--pairs", type=int, default=3, help="first N pairs of each set, by name")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    if not (args.release / "Test.py").is_file():
        parser.error(f"{args.release} is not the release's CSC-IVF folder (no Test.py)")
    if not (args.opencv_contrib / "cv2" / "__init__.py").is_file():
        parser.error(f"{args.opencv_contrib} holds no cv2 package (pip install --target it)")
    weights = require_data_root() / "checkpoints" / "csc_ivfn"
    torch.set_num_threads(args.threads)
    model = load_csc_ivfn("official")
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "CUDA_VISIBLE_DEVICES": ""}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(args.opencv_contrib.resolve()))
    rows = []
    with tempfile.TemporaryDirectory(prefix="compare_csc_release_") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "shim.py").write_text(SHIM)
        for dataset in args.sets:
            work = tmp / dataset
            pairs = stage(dataset, args.pairs, work, weights)
            print(f"{dataset}: {len(pairs)} pair(s), release Test.py ...", flush=True)
            proc = subprocess.run(
                [sys.executable, str(tmp / "shim.py"), str(args.release.resolve()), str(work)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(
                    f"the release's Test.py failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
                )
            floats = scipy.io.loadmat(work / "Test_result\\R.mat")
            grey: list[np.ndarray] = []
            flt: list[float] = []
            for i, (pa, pb) in enumerate(pairs, 1):
                reference = np.asarray(Image.open(work / f".\\Test_result\\F{i}.png"), dtype=np.int16)
                a, b = (torch.from_numpy(read_u8(p).astype(np.float32) / 255)[None, None] for p in (pa, pb))
                fused = fuse_csc_ivfn(model, a, b)
                grey.append(np.abs(to_uint8_release(fused).astype(np.int16) - reference))
                flt.append(float(np.abs(fused[0, 0].numpy() - floats[f"F{i}"]).max()))
                print(f"  {pa.name}: max |diff| {int(grey[-1].max())}, float {flt[-1]:.2e}", flush=True)
            differing, pixels = sum(int((d > 0).sum()) for d in grey), sum(d.size for d in grey)
            row = {
                "date": datetime.date.today().isoformat(),
                "commit": git_commit(ROOT),
                "release_commit": git_commit(args.release),
                "dataset": dataset,
                "pairs": len(pairs),
                "max_grey_diff": max(int(d.max()) for d in grey),
                "pixels": pixels,
                "pixels_differing": differing,
                "frac_pixels_differing": f"{differing / pixels:.2e}",
                "pairs_over_1": sum(int(d.max()) > 1 for d in grey),
                "max_float_diff": f"{max(flt):.3e}",
            }
            rows.append(row)
            print(f"  {dataset}: {row}", flush=True)
    append_csv(args.csv, rows)
    print(f"appended {len(rows)} row(s) to {args.csv}")


if __name__ == "__main__":
    main()
