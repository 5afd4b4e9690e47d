"""Output-by-output check of lzsc's CSC-MEFN and CSC-MMFN against the release's own ``test.py`` files.

    python benchmarks/compare_csc_mef_mmf_release.py --release DIR --release-site SITE
                                                     [--scenes NAME ...] [--cubes NAME ...]
                                                     [--threads 2] [--csv PATH]

``DIR`` holds the release's ``CSC-MEF`` and ``CSC-MSF`` folders. Every scene of
``$LZSC_DATA/test/MEF_synthetic`` and every cube of ``$LZSC_DATA/test/MMF_synthetic`` (or the named
ones) is fused twice, with the released weights (``$LZSC_DATA/checkpoints/csc_{mefn,mmfn}``):

- ``release``: the release's ``test.py``, unmodified, in a whole process per network, on the CPU.
  Its inputs are staged under the relative names it opens (``MEF_data/test/<scene>/`` linked to the
  scene folders; ``MMF_data/scale2/test/<cube>.mat``, HDF5 files with ``LR`` = ``hr_ms``, the
  release's name for its ground truth, and ``Guide`` = ``rgb``: its ``MMSRDataset`` then makes the
  low-resolution input itself, ``F.interpolate(scale_factor=1/2)``, equal to the cube's ``lr_ms``),
  its weights are linked under the log folders it names, and the folders its Windows-only
  ``split('\\\\')`` file names point into on POSIX are created beforehand. A run-time shim
  (:data:`SHIM`) sends ``.cuda()`` / ``.to("cuda")`` to the CPU, makes ``torch.load`` map to the CPU
  with ``weights_only=True``, and works around what keeps the two scripts from running as released:

  - MEF ``test.py`` calls ``test(...)`` without importing it: the shim puts ``utils.test`` in builtins;
  - MSF ``test.py`` builds ``ModelA(out_channels=64)``, but the weights have 256 channels
    (``train.py``'s): the shim builds it with 256;
  - MSF ``test.py`` calls kornia's pre-0.5 ``ssim(img1, img2, window, reduction, max_val)`` (a
    loss, (1 - SSIM) / 2); ``kornia.losses.ssim`` is a module now: the shim maps the call to
    ``kornia.losses.ssim_loss`` (only its metric sheet uses it);
  - the release needs torchvision (``ToTensor``), h5py and xlwt, none of them lzsc's: ``SITE`` is a
    folder made by ``pip install --no-deps --target SITE "torchvision==0.28.*" h5py xlwt``, put
    first on the release's ``PYTHONPATH`` only. PyPI's torchvision is a CUDA build whose ``_C``
    cannot load next to a CPU torch; its ``_meta_registrations`` (fake-tensor kernels of those C
    ops, unused here) would then fail at import, so the shim stubs that one module.

- ``lzsc``: :func:`lzsc.methods.csc_mefn.fuse_exposure_folder` and
  :func:`lzsc.methods.csc_mmfn.fuse_npz`, in this process.

Compared: MEFN's 8-bit outputs (largest grey-level difference, pixels with any channel differing),
both for lzsc's folder reader (exposures sorted by name) and for the exposures in the order the
release's ``glob`` lists them (the directory's order: the softmax and chroma sums then run in the
same order, and the outputs are identical);
MMFN's float32 outputs (mean and largest absolute difference). For the regression numbers of
``tests/test_csc_mefn_mmfn.py`` each release output's mean and its values at :data:`MEF_SAMPLES` /
:data:`MMF_SAMPLES` are printed. Rows are appended to ``benchmarks/results/csc_mef_mmf_release.csv``.
Acceptance: MEFN within 1 grey level; MMFN mean |diff| <= 1e-4 and max <= 0.03. About 5 s per
network and side on 2 busy CPU cores. The release's code never enters lzsc.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
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
from lzsc.io import read_image
from lzsc.methods.csc_mefn import fuse_exposure_folder, fuse_exposures, load_csc_mefn
from lzsc.methods.csc_mmfn import fuse_npz, load_csc_mmfn
from lzsc.paths import require_data_root

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "csc_mef_mmf_release.csv"
MEF_LOG = "05-03-03-17_bs8_epoch50_lr0.000500_lw0.000000"
MMF_LOG = "MMF_logs/05-10-10-47_bs16_epoch100_lr0.00010_nb4_sst_scale2_channels256"
#: (row, col) of the MEFN output and (band, row, col) of the MMFN output printed as reference values.
MEF_SAMPLES = ((0, 0), (100, 200), (255, 319))
MMF_SAMPLES = ((0, 0, 0), (15, 48, 48), (30, 95, 95), (7, 13, 77))
#: The acceptance bounds of the module docstring.
MEF_MAX_GREY, MMF_MEAN, MMF_MAX = 1, 1e-4, 0.03

SHIM = '''"""Run a release test.py on the CPU: argv = mef|mmf, release folder, staged folder, [npz files]."""
import builtins, os, runpy, sys, types
sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
import torch
from torch import nn

mode, release, work = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
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
torch.Tensor.cuda = nn.Module.cuda = lambda self, *a, **k: self
torch.load = lambda f, *a, **k: _load(f, *a, **{"map_location": "cpu", "weights_only": True, **k})
sys.path.insert(0, release)
os.chdir(work)
if mode == "mef":
    import utils
    builtins.test = utils.test  # test.py calls test() without importing it
else:
    import h5py, kornia.losses, numpy as np, networks
    for path in sys.argv[4:]:  # stage the cubes as the HDF5 .mat files MMSRDataset reads
        name = os.path.join("MMF_data/scale2/test", os.path.basename(path)[:-4] + ".mat")
        with np.load(path) as cube, h5py.File(name, "w") as f:
            f["LR"], f["Guide"] = cube["hr_ms"], cube["rgb"]
    _init = networks.ModelA.__init__  # test.py passes out_channels=64; the weights have 256
    networks.ModelA.__init__ = lambda self, *a, **k: _init(self, *a, **{**k, "out_channels": 256})
    kornia.losses.ssim = lambda a, b, window, reduction, max_val: kornia.losses.ssim_loss(
        a, b, window, max_val=max_val, reduction=reduction)  # kornia < 0.5's ssim (a loss)
runpy.run_path(os.path.join(release, "test.py"), run_name="__main__")
'''


def run_release(mode: str, release: Path, work: Path, env: dict, extra: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, str(work.parent / "shim.py"), mode, str(release), str(work), *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"the release's {mode} test.py failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        )


def stage_mef(work: Path, scenes: list[Path], weights: Path) -> Path:
    """Scenes under ``MEF_data/test``, weights under the log folder; returns the output folder."""
    (work / MEF_LOG).mkdir(parents=True)
    (work / MEF_LOG / "best_net.pth").symlink_to(weights)
    (work / "MEF_data" / "test").mkdir(parents=True)
    for scene in scenes:
        (work / "MEF_data" / "test" / scene.name).symlink_to(scene.resolve(), target_is_directory=True)
    out = work / MEF_LOG / "test_HDRPS995" / "MEF_data" / "test"  # its save name on POSIX
    out.mkdir(parents=True)
    return out


def stage_mmf(work: Path, weights: Path) -> Path:
    """Weights under the log folder, the folders its savemat calls write into; returns the output folder."""
    (work / MMF_LOG).mkdir(parents=True)
    (work / MMF_LOG / "best_net.pth").symlink_to(weights)
    (work / "MMF_data" / "scale2" / "test").mkdir(parents=True)
    (work / "MMF_data" / "scale2" / "test_reduced" / "MMF_data" / "scale2" / "test").mkdir(parents=True)
    out = work / MMF_LOG / "MMF_data" / "scale2" / "test"
    out.mkdir(parents=True)
    return out


def compare_mef(release_dir: Path, scenes: list[Path], weights: Path, tmp: Path, env: dict) -> list[dict]:
    work = tmp / "mef"
    out = stage_mef(work, scenes, weights)
    print(f"MEF: {len(scenes)} scene(s), release test.py ...", flush=True)
    run_release("mef", release_dir / "CSC-MEF", work, env, [])
    model = load_csc_mefn("official")
    rows = []
    for scene in scenes:
        reference = np.asarray(Image.open(out / f"{scene.name}.png"))
        diff = np.abs(fuse_exposure_folder(model, scene).astype(np.int16) - reference.astype(np.int16))
        listed = [read_image(p) for p in glob.glob(os.path.join(scene, "*"))]  # the release's order
        same = np.abs(fuse_exposures(model, listed).astype(np.int16) - reference.astype(np.int16))
        samples = {f"{r},{c}": reference[r, c].tolist() for r, c in MEF_SAMPLES}
        print(f"  {scene.name}: release mean {reference.astype(np.float64).mean():.6f}, samples {samples}")
        rows.append(
            {
                "network": "CSC-MEFN",
                "scene": scene.name,
                "shape": "x".join(map(str, reference.shape)),
                "max_grey_diff": int(diff.max()),
                "pixels_differing": int(diff.any(axis=-1).sum()),
                "pixels": int(diff.shape[0] * diff.shape[1]),
                "max_grey_diff_release_order": int(same.max()),
                "pixels_differing_release_order": int(same.any(axis=-1).sum()),
                "ok": bool(diff.max() <= MEF_MAX_GREY),
            }
        )
    return rows


def compare_mmf(release_dir: Path, cubes: list[Path], weights: Path, tmp: Path, env: dict) -> list[dict]:
    work = tmp / "mmf"
    out = stage_mmf(work, weights)
    print(f"MMF: {len(cubes)} cube(s), release test.py ...", flush=True)
    run_release("mmf", release_dir / "CSC-MSF", work, env, [str(c.resolve()) for c in cubes])
    model = load_csc_mmfn("official")
    rows = []
    for cube in cubes:
        reference = scipy.io.loadmat(out / f"{cube.stem}.mat")["HR"]
        reduced = scipy.io.loadmat(
            work / "MMF_data/scale2/test_reduced/MMF_data/scale2/test" / f"{cube.stem}.mat"
        )
        with np.load(cube) as data:
            lr_equal = bool(np.array_equal(reduced["LR"], data["lr_ms"]))
        diff = np.abs(fuse_npz(model, cube).astype(np.float64) - reference)
        samples = {f"{b},{r},{c}": float(reference[b, r, c]) for b, r, c in MMF_SAMPLES}
        print(f"  {cube.stem}: release mean {reference.astype(np.float64).mean():.8f}, samples {samples}")
        rows.append(
            {
                "network": "CSC-MMFN",
                "scene": cube.stem,
                "shape": "x".join(map(str, reference.shape)),
                "mean_abs_diff": f"{diff.mean():.3e}",
                "max_abs_diff": f"{diff.max():.3e}",
                "release_lr_equals_lr_ms": lr_equal,
                "ok": bool(diff.mean() <= MMF_MEAN and diff.max() <= MMF_MAX),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--release", type=Path, required=True, help="folder holding CSC-MEF and CSC-MSF")
    parser.add_argument(
        "--release-site", type=Path, required=True, help="folder with torchvision, h5py, xlwt"
    )
    parser.add_argument("--scenes", nargs="+", help="MEF_synthetic scene names (default: all)")
    parser.add_argument("--cubes", nargs="+", help="MMF_synthetic cube names, no .npz (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    for sub in ("CSC-MEF", "CSC-MSF"):
        if not (args.release / sub / "test.py").is_file():
            parser.error(f"{args.release} is not the release's folder (no {sub}/test.py)")
    if not all((args.release_site / m).is_dir() for m in ("torchvision", "h5py", "xlwt")):
        parser.error(f"{args.release_site} lacks torchvision, h5py or xlwt (pip install --target it)")
    root = require_data_root()
    mef_dir, mmf_dir = root / "test" / "MEF_synthetic", root / "test" / "MMF_synthetic"
    scenes = (
        [mef_dir / s for s in args.scenes]
        if args.scenes
        else sorted(p for p in mef_dir.iterdir() if p.is_dir())
    )
    cubes = [mmf_dir / f"{c}.npz" for c in args.cubes] if args.cubes else sorted(mmf_dir.glob("*.npz"))
    for path in (*scenes, *cubes):
        if not path.exists():
            parser.error(f"{path} does not exist")
    torch.set_num_threads(args.threads)
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "CUDA_VISIBLE_DEVICES": ""}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(args.release_site.resolve()))
    checkpoints = root / "checkpoints"
    with tempfile.TemporaryDirectory(prefix="compare_csc_mef_mmf_") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "shim.py").write_text(SHIM)
        rows = compare_mef(args.release, scenes, checkpoints / "csc_mefn" / "best_net.pth", tmp, env)
        rows += compare_mmf(args.release, cubes, checkpoints / "csc_mmfn" / "best_net.pth", tmp, env)
    stamp = {"date": datetime.date.today().isoformat(), "commit": git_commit(ROOT), "threads": args.threads}
    rows = [{**stamp, **row} for row in rows]
    for row in rows:
        print("  " + ", ".join(f"{k}={v}" for k, v in row.items() if k not in stamp))
    append_csv(args.csv, rows)
    print(f"appended {len(rows)} row(s) to {args.csv}; all within the bounds: {all(r['ok'] for r in rows)}")


if __name__ == "__main__":
    main()
