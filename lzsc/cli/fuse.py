"""``lzsc fuse``: fuse with any method of ``lzsc.methods.registry``.

Examples::

    lzsc fuse ir.png vi.png -o fused.png                          # FNet, released weights
    lzsc fuse --method csc-ivfn IR_DIR VI_DIR -o OUT_DIR          # pairs matched by file name
    lzsc fuse --method mean ir.png vi.png -o mean.png             # the baseline
    lzsc fuse --method csc-mefn SCENE_DIR -o fused.png            # one scene's exposures
    lzsc fuse --method csc-mefn SCENES_DIR -o OUT_DIR             # a folder of scene folders
    lzsc fuse --method csc-mmfn scene.npz -o sr.npy               # arrays lr_ms and rgb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..methods.registry import METHODS
from . import READERS, add_method_options, int_at_least, load_model

#: The options that only pair methods take, with their defaults (refused for the other methods).
_PAIR_ONLY = {"color": False, "ycbcr": "matlab", "keep_ext": False, "reader": "standard", "tile": 1024}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fuse",
        help="fuse a pair of images (or two folders of pairs), an exposure stack or a multispectral scene",
        description="Pair methods (fnet, csc-ivfn, mean): fuse A (infrared / MRI) with B (visible / CT / "
        "PET / SPECT); files in, file out; folders in (pairs matched by file name), folder out. "
        "csc-mefn: SOURCE is one scene's folder of exposures (out: a .png) or a folder of such folders "
        "(out: a folder). csc-mmfn: SOURCE is an .npz with arrays lr_ms and rgb (out: a .npy) or a "
        "folder of them (out: a folder).",
    )
    p.add_argument("a", type=Path, help="source A (image file or folder), or the scene(s) of csc-mefn/mmfn")
    p.add_argument("b", type=Path, nargs="?", help="source B: an image file or a folder (pair methods)")
    p.add_argument(
        "-o", "--out", type=Path, required=True, help="output file (one input) or folder (folders)"
    )
    add_method_options(p, tuple(METHODS))
    p.add_argument("--color", action="store_true", help="fuse B's luma and keep its chroma (RGB B)")
    p.add_argument(
        "--ycbcr",
        choices=("matlab", "kornia"),
        default="matlab",
        help="colour conversion: the release's studio-swing YCbCr (default) or kornia's full range",
    )
    p.add_argument(
        "--keep-ext",
        action="store_true",
        help="folder mode: save under the source's name and format as the release does (.jpg -> JPEG)",
    )
    p.add_argument(
        "--reader",
        choices=READERS,
        default="standard",
        help="how sources become grey: 'standard' (RGB decode + OpenCV BGR->GRAY, what the metrics "
        "read; default) or 'release' (OpenCV's grey-mode decode, as the release's test code reads)",
    )
    p.add_argument(
        "--tile",
        type=int_at_least(128, "pixels"),
        default=1024,
        help="largest image side fused in one piece (default 1024, about 1.3 GB for the released FNet on a "
        "CPU); larger images are fused in overlapping tiles within 1 grey level of one-piece fusion. "
        "Lower it if memory runs short, raise it to fuse larger images in one piece",
    )
    p.set_defaults(func=run)


def _fuse_scenes(args: argparse.Namespace, kind: str) -> int:
    given = [f"--{k.replace('_', '-')}" for k, default in _PAIR_ONLY.items() if getattr(args, k) != default]
    if args.b is not None or given:
        extra = ", ".join(([f"second source ({args.b})"] if args.b is not None else []) + given)
        raise ValueError(f"--method {args.method} fuses one {kind} input and does not take: {extra}")
    from ..methods.scenes import fuse_scenes

    report = fuse_scenes(load_model(args), kind, args.a, args.out)
    single = len(report.written) == 1 and not report.failed
    print(f"wrote {report.written[0]}" if single else report.summary())
    return 0 if report.ok else 1


def run(args: argparse.Namespace) -> int:
    from ..fusion import check_output_file, fuse_files, fuse_folder
    from ..io import ImageError, save_image
    from ..methods.registry import get_method

    kind = get_method(args.method).inputs
    if kind != "pair":
        return _fuse_scenes(args, kind)
    if args.b is None:
        raise ValueError(
            f"--method {args.method} fuses pairs: give the two sources A and B (files or folders)"
        )
    if args.a.is_dir() != args.b.is_dir():
        print("error: give two files or two folders, not one of each", file=sys.stderr)
        return 2
    if not args.a.is_dir():
        check_output_file(args.out, (args.a, args.b))
    model = load_model(args)
    if args.a.is_dir():
        report = fuse_folder(
            model,
            args.a,
            args.b,
            args.out,
            args.color,
            args.ycbcr,
            args.keep_ext,
            reader=args.reader,
            tile=args.tile,
        )
        print(report.summary())
        return 0 if report.ok else 1
    try:
        fused = fuse_files(
            model, args.a, args.b, color=args.color, ycbcr=args.ycbcr, reader=args.reader, tile=args.tile
        )
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {save_image(args.out, fused)}")
    return 0
