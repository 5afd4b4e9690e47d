"""``lzsc fuse A B -o OUT``: fuse one pair of files, or two folders of pairs matched by file name."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import READERS, add_backend_option, int_at_least, load_model


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fuse",
        help="fuse a pair of images (or two folders of pairs) with FNet",
        description="Fuse A (infrared / MRI) with B (visible / CT / PET / SPECT). Files in, file out; "
        "folders in (pairs matched by file name), folder out.",
    )
    p.add_argument("a", type=Path, help="source A: an image file or a folder")
    p.add_argument("b", type=Path, help="source B: an image file or a folder")
    p.add_argument("-o", "--out", type=Path, required=True, help="output file (pair) or folder (folders)")
    p.add_argument(
        "--checkpoint",
        default="official",
        help="'official' (the released weights under $LZSC_DATA/checkpoints) or a checkpoint path",
    )
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
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    add_backend_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..fusion import check_output_file, fuse_files, fuse_folder
    from ..io import ImageError, save_image

    if args.a.is_dir() != args.b.is_dir():
        print("error: give two files or two folders, not one of each", file=sys.stderr)
        return 2
    if not args.a.is_dir():
        check_output_file(args.out, (args.a, args.b))
    model = load_model(args.checkpoint, args.device, args.backend)
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
