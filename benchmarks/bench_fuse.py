"""Whole-process fusion time: ``lzsc fuse ir/ vi/ -o out/`` against the authors' released test script.

    python benchmarks/bench_fuse.py --release DIR [--pairs 3] [--repeats 3] [--threads 2]
                                    [--data DIR] [--weights PATH] [--csv PATH] [--no-warmup] [--keep]
    python benchmarks/bench_fuse.py --lzsc-only [...]     # lzsc's two processes only, no release

Getting the release (keep it outside this repository and never copy its code in: the release has
no licence file, and project policy keeps its code out)::

    git clone https://github.com/gargi884/FNet-MMIF /tmp/fnet_release   # tested at commit 8bf2b85
    LZSC_DATA=/path/to/data python benchmarks/bench_fuse.py --release /tmp/fnet_release

(From a bare mirror: ``git --git-dir=MIRROR archive HEAD -- . ':!figs' | tar -x -C /tmp/fnet_release``;
a mirror without the large ``figs/demo.gif`` makes git report that blob, and the rest is extracted.)
The checkout is only read: every process runs in a temporary folder, ``PYTHONDONTWRITEBYTECODE=1``.

What runs, on the first N pairs (sorted by name) of ``--data`` (default ``$LZSC_DATA/test/TNO``,
folders ``ir/`` and ``vi/``), copied to a temporary folder ``in/TNO/{ir,vi}``:

- ``lzsc_auto``: ``python -m lzsc fuse in/TNO/ir in/TNO/vi -o OUT --checkpoint W`` (the default
  backend, "auto": the CPU engine);
- ``lzsc_reference``: the same with ``--backend reference`` (eq. 20 one convolution at a time: what
  ``lzsc fuse`` computed before execution backends; the row is skipped, and the CSV says so, when
  this ``lzsc fuse`` has no ``--backend``);
- ``release``: ``python DIR/test.py --model_path W --root_path in --dataset TNO --A_dir ir --B_dir vi
  --save_dir OUT`` (the release's inference script; it writes ``OUT/TNO/<name>``). W is the same
  weights file (default ``$LZSC_DATA/checkpoints/fnet_official.pth``, byte-identical to the release's
  ``checkpoints/FNet.pth``), also linked as ``checkpoints/FNet.pth`` in the temporary folder, the
  script's default relative path.

Running the release here needs no change to its code. It reads the device from
``torch.cuda.is_available()`` and its checkpoint holds CPU tensors, so it runs on CPU as is. Its
imports that inference never uses are stubbed when they are not installed: ``torchprofile``
(``models/network_fnet.py`` imports ``profile_macs``, used only in commented-out code),
``torchvision`` (``utils/utils_image.py`` imports ``make_grid``, used only for 4-D tensors) and ``cgi``
(``test.py`` has ``from cgi import test``, removed from Python 3.13). The stubs go in a temporary
folder on ``PYTHONPATH``; the ``release_shims`` column lists those used. It also loads images through a
``DataLoader`` with one worker process and ``pin_memory=True`` (a warning on CPU), kept as they are.

Every process: ``OMP_NUM_THREADS`` = ``MKL_NUM_THREADS`` = ``--threads`` (torch's thread count
follows it), ``CUDA_VISIBLE_DEVICES=""`` (a CPU comparison: the release would take a GPU if one were
visible), the same interpreter (``sys.executable``). A warm-up round (one pair, untimed) runs first
unless ``--no-warmup``. Then ``--repeats`` rounds run every process once each, interleaved (in order,
then reversed: ABBA). Wall time is the whole process (start-up, model load, reading, fusing,
writing), and CPU time (user + system of the process and its children) is reported beside it.

Rows (one per process) are appended to ``benchmarks/results/fuse.csv`` with the median / min / max
wall time, the paired ratio release / this process per round (median, min, max), the same for
lzsc reference / this process, and the 8-bit comparison of the outputs of the last round: the largest
grey-level difference and the fraction of differing pixels against the release, lzsc auto and lzsc
reference, over all pairs. Take the figures in one run on an otherwise idle machine; compare ratios,
not times across runs. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib.util
import io
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import lzsc
from lzsc.atomic import append_csv
from lzsc.paths import official_checkpoint, require_data_root

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "benchmarks" / "results" / "fuse.csv"
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
DATASET = "TNO"

SHIMS = {
    "torchprofile": {
        "torchprofile.py": "def profile_macs(*args, **kwargs):\n"
        "    raise NotImplementedError('bench_fuse stub: torchprofile is not installed')\n"
    },
    "torchvision": {
        "torchvision/__init__.py": "",
        "torchvision/utils.py": "def make_grid(*args, **kwargs):\n"
        "    raise NotImplementedError('bench_fuse stub: torchvision is not installed')\n",
    },
    "cgi": {"cgi.py": "test = None\n"},
}
"""Stubs of modules the release imports but never calls in inference, written when not installed."""


@dataclass
class Process:
    """One command line (with :func:`render`'s placeholders) timed as a whole process."""

    name: str
    tool: str
    backend: str
    argv: list[str]
    env: dict[str, str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, float]:
    """Run to completion; returns (wall seconds, CPU seconds). Output goes to ``log``; failure raises."""
    cpu0 = _children_cpu()
    with open(log, "w") as fh:
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
        wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{tail}")
    return wall, cpu


def pick_pairs(data: Path, n: int) -> list[str]:
    """The first ``n`` file names (sorted) present in both ``data/ir`` and ``data/vi``."""
    for sub in ("ir", "vi"):
        if not (data / sub).is_dir():
            raise FileNotFoundError(f"{data / sub} is not a folder (--data needs ir/ and vi/)")
    names = sorted(
        p.name
        for p in (data / "ir").iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and (data / "vi" / p.name).is_file()
    )
    if len(names) < n:
        raise ValueError(f"{data} holds {len(names)} pair(s) with the same name in ir/ and vi/, {n} asked")
    return names[:n]


def stage_inputs(data: Path, names: list[str], root: Path) -> Path:
    """Copy the pairs to ``root/TNO/{ir,vi}`` (the release's ``--root_path/--dataset/--A_dir`` layout)."""
    for sub in ("ir", "vi"):
        (root / DATASET / sub).mkdir(parents=True)
        for name in names:
            shutil.copyfile(data / sub / name, root / DATASET / sub / name)
    return root


def write_shims(folder: Path) -> list[str]:
    """Write the stubs of :data:`SHIMS` whose module is not importable here; returns their names."""
    used = []
    for module, files in SHIMS.items():
        if importlib.util.find_spec(module) is not None:
            continue
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        used.append(module)
    return used


def lzsc_has_backend_flag() -> bool:
    """Whether this ``lzsc fuse`` accepts ``--backend`` (parsed in-process, nothing run)."""
    from lzsc.cli import build_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(["fuse", "a", "b", "-o", "c", "--backend", "reference"])
    except SystemExit:
        return False
    return True


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_u8(folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The fused images of ``names`` in ``folder`` (PNG under the source's stem), as uint8 grey."""
    out = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            path = folder / f"{Path(name).stem}.png"
        if not path.is_file():
            raise FileNotFoundError(f"no fused image for {name} in {folder}")
        out[name] = np.asarray(Image.open(path).convert("L"), dtype=np.uint8)
    return out


def compare(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> tuple[int, float]:
    """Largest grey-level difference and fraction of differing pixels over all images."""
    worst, differ, total = 0, 0, 0
    for name, img in x.items():
        other = y[name]
        if img.shape != other.shape:
            raise ValueError(f"{name}: fused images of different sizes {img.shape} and {other.shape}")
        d = np.abs(img.astype(np.int16) - other.astype(np.int16))
        worst, differ, total = max(worst, int(d.max())), differ + int((d > 0).sum()), total + d.size
    return worst, differ / total


def git_commit(folder: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return ""


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def build_processes(
    args: argparse.Namespace, tmp: Path, weights: Path, backend_flag: bool, env: dict[str, str]
) -> tuple[list[Process], list[str], list[str]]:
    """The processes to time, the notes on skipped ones and the stubs written for the release.

    Command lines hold placeholders filled by :func:`render`: ``{root}`` (the folder holding ``TNO/``),
    ``{ir}``, ``{vi}`` (its two source folders) and ``{out}`` (the output folder of the run).
    """
    lzsc = [sys.executable, "-m", "lzsc", "fuse", "{ir}", "{vi}", "-o", "{out}", "--checkpoint", str(weights)]
    procs = [Process("lzsc_auto", "lzsc", "auto", lzsc, env)]
    skipped: list[str] = []
    shims: list[str] = []
    if backend_flag:
        procs.append(Process("lzsc_reference", "lzsc", "reference", [*lzsc, "--backend", "reference"], env))
    else:
        skipped.append("lzsc_reference: this lzsc fuse has no --backend")
    if not args.lzsc_only:
        (tmp / "checkpoints").mkdir()
        (tmp / "checkpoints" / "FNet.pth").symlink_to(weights)
        (tmp / "shims").mkdir()
        shims = write_shims(tmp / "shims")
        path = os.pathsep.join(p for p in (str(tmp / "shims"), env.get("PYTHONPATH", "")) if p)
        argv = [
            sys.executable,
            str(args.release / "test.py"),
            "--model_path",
            str(tmp / "checkpoints" / "FNet.pth"),
            "--root_path",
            "{root}",
            "--dataset",
            DATASET,
            "--A_dir",
            "ir",
            "--B_dir",
            "vi",
            "--save_dir",
            "{out}",
        ]
        procs.append(Process("release", "release", "", argv, {**env, "PYTHONPATH": path}))
    return procs, skipped, shims


def render(proc: Process, root: Path, out: Path) -> list[str]:
    """``proc``'s command line for the pairs under ``root/TNO`` and output folder ``out``."""
    names = {"{root}": root, "{ir}": root / DATASET / "ir", "{vi}": root / DATASET / "vi", "{out}": out}
    return [str(names[a]) if a in names else a for a in proc.argv]


def output_folder(proc: Process, out: Path) -> Path:
    """Where ``proc`` writes its images when given ``out`` (the release adds the data set's name)."""
    return out / DATASET if proc.tool == "release" else out


def run_round(procs: list[Process], tmp: Path, root: Path, tag: str, reverse: bool) -> None:
    """Run every process once (reversed order when ``reverse``); record the times unless warm-up."""
    for proc in procs[::-1] if reverse else procs:
        argv = render(proc, root, tmp / "out" / proc.name / tag)
        wall, cpu = run_process(argv, proc.env, tmp, tmp / "logs" / f"{proc.name}_{tag}.log")
        if tag != "warmup":
            proc.wall.append(wall)
            proc.cpu.append(cpu)
        print(f"  {tag:8s} {proc.name:15s} {wall:9.2f} s wall {cpu:9.2f} s CPU", flush=True)


def make_rows(
    procs: list[Process], images: dict[str, dict[str, np.ndarray]], common: dict, tmp: Path
) -> list[dict]:
    """One CSV row per process: times, paired ratios and the 8-bit comparison of its outputs."""
    by_name = {p.name: p for p in procs}
    rows = []
    for proc in procs:
        med, lo, hi = spread(proc.wall)
        row = {
            **common,
            "process": proc.name,
            "tool": proc.tool,
            "backend": proc.backend,
            "command": " ".join(_display(a, tmp) for a in proc.argv),
            "median_s": med,
            "min_s": lo,
            "max_s": hi,
            "per_pair_s": med / common["pairs"],
            "cpu_median_s": statistics.median(proc.cpu),
        }
        for key, base in (("ratio", "release"), ("ratio_reference", "lzsc_reference")):
            if base in by_name:
                r = [b / t for b, t in zip(by_name[base].wall, proc.wall, strict=True)]
                row[key], row[f"{key}_min"], row[f"{key}_max"] = spread(r)
        for other in ("release", "lzsc_auto", "lzsc_reference"):
            if other in images:
                key = other.removeprefix("lzsc_")
                worst, frac = compare(images[proc.name], images[other])
                row[f"u8_max_diff_vs_{key}"], row[f"u8_frac_diff_vs_{key}"] = worst, frac
        rows.append(row)
    return rows


def print_rows(rows: list[dict]) -> None:
    def ratio(row: dict, key: str) -> str:
        if key not in row:
            return "-"
        return f"{row[key]:.2f} [{row[key + '_min']:.2f}, {row[key + '_max']:.2f}]"

    print(
        f"{'process':15s} {'median s':>9s} {'min':>8s} {'max':>8s} {'s/pair':>8s} {'CPU s':>8s} "
        f"{'release/this':>20s} {'reference/this':>20s} {'u8 vs release':>13s} {'vs auto':>7s} "
        f"{'vs ref':>6s}"
    )
    for r in rows:
        print(
            f"{r['process']:15s} {r['median_s']:9.2f} {r['min_s']:8.2f} {r['max_s']:8.2f} "
            f"{r['per_pair_s']:8.2f} {r['cpu_median_s']:8.2f} {ratio(r, 'ratio'):>20s} "
            f"{ratio(r, 'ratio_reference'):>20s} {r.get('u8_max_diff_vs_release', '-'):>13} "
            f"{r.get('u8_max_diff_vs_auto', '-'):>7} {r.get('u8_max_diff_vs_reference', '-'):>6}"
        )


def check_release(parser: argparse.ArgumentParser, release: Path | None) -> Path:
    if release is None:
        parser.error("--release DIR (a checkout of the release) is required, or pass --lzsc-only")
    release = release.resolve()
    if not (release / "test.py").is_file() or not (release / "models" / "network_fnet.py").is_file():
        parser.error(f"{release} is not a checkout of the release (no test.py, models/network_fnet.py)")
    if release == ROOT or ROOT in release.parents:
        parser.error("keep the release outside this repository")
    return release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", type=Path, help="a checkout of github.com/gargi884/FNet-MMIF")
    parser.add_argument("--lzsc-only", action="store_true", help="time lzsc's processes only (no release)")
    parser.add_argument("--data", type=Path, help="folder with ir/ and vi/ (default $LZSC_DATA/test/TNO)")
    parser.add_argument("--weights", type=Path, help="released weights (default: lzsc's official ones)")
    parser.add_argument("--pairs", type=int, default=3, help="first N pairs by name (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="OMP/MKL threads of every process (2)")
    parser.add_argument(
        "--warmup", action=argparse.BooleanOptionalAction, default=True, help="untimed round on one pair"
    )
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help=f"rows appended here ({DEFAULT_CSV})")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (prints its path)")
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.repeats < 1 or args.threads < 1:
        parser.error("--pairs, --repeats and --threads must be >= 1")
    if not args.lzsc_only:
        args.release = check_release(parser, args.release)
    data = (args.data or require_data_root() / "test" / DATASET).resolve()
    weights = (args.weights or official_checkpoint()).resolve()
    names = pick_pairs(data, args.pairs)
    threads = str(args.threads)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
    }
    load_start = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench_fuse_"))
    try:
        root = stage_inputs(data, names, tmp / "in")
        (tmp / "logs").mkdir()
        procs, skipped, shims = build_processes(args, tmp, weights, lzsc_has_backend_flag(), env)
        print(
            f"{len(names)} pair(s) of {data} ({', '.join(names)}), {args.threads} threads, "
            f"{args.repeats} round(s), load {load_start:.2f}; temporary folder {tmp}"
        )
        for note in skipped:
            print(f"  skipped {note}")
        if args.warmup:
            run_round(procs, tmp, stage_inputs(data, names[:1], tmp / "warm"), "warmup", reverse=False)
        for i in range(args.repeats):
            run_round(procs, tmp, root, f"r{i}", reverse=i % 2 == 1)
        last = f"r{args.repeats - 1}"
        images = {p.name: read_u8(output_folder(p, tmp / "out" / p.name / last), names) for p in procs}
        common = {
            "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": git_commit(ROOT),
            "device": "cpu",
            "device_name": cpu_name(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "load_avg_start": f"{load_start:.2f}",
            "load_avg_end": f"{os.getloadavg()[0]:.2f}",
            "python": platform.python_version(),
            "torch": torch.__version__,
            "lzsc": lzsc.__version__,
            "pairs": len(names),
            "pair_names": " ".join(names),
            "data": str(data),
            "repeats": args.repeats,
            "warmup": args.warmup,
            "weights_sha256": sha256(weights)[:16],
            "release_commit": "" if args.lzsc_only else git_commit(args.release),
            "release_weights_same": "" if args.lzsc_only else release_weights_same(args.release, weights),
            "release_shims": " ".join(shims),
            "lzsc_only": args.lzsc_only,
            "skipped": "; ".join(skipped),
        }
        rows = make_rows(procs, images, common, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_rows(rows)
    append_csv(args.csv, rows)
    print(f"appended {len(rows)} rows to {args.csv}")
    return 0


def _display(arg: str, tmp: Path) -> str:
    """A command-line argument as the CSV shows it: the temporary folder as ``$TMP``."""
    return arg.replace(str(tmp), "$TMP").replace(sys.executable, "python")


def release_weights_same(release: Path, weights: Path) -> str:
    """Whether the release's own ``checkpoints/FNet.pth`` is byte-identical to ``weights``."""
    own = release / "checkpoints" / "FNet.pth"
    return str(sha256(own) == sha256(weights)) if own.is_file() else "absent"


if __name__ == "__main__":
    sys.exit(main())
