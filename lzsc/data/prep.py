"""Preparing a folder of pairs for training, with a checksummed manifest (used by ``data_prep/``).

:func:`prepare_pairs` reads every pair (A as OpenCV grey, B as kornia's Y channel, via
:func:`lzsc.data.pairs.load_pair_u8`), writes them as 8-bit PNGs ``OUT/<out_a>/<stem>.png`` and
``OUT/<out_b>/<stem>.png`` (atomically, :func:`lzsc.io.save_image`) and records
``OUT/manifest.csv``: name, width, height, the written files and the sources with their SHA-256.
Problems (unmatched, unreadable, 16-bit, alpha, size mismatch, name clashes) are collected per
file and preparation goes on. :func:`check_manifest` re-verifies an output folder.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import atomic_open
from ..io import IMAGE_SUFFIXES, ImageError, pair_files, read_image, save_image
from .pairs import LUMA_MODES, load_pair_u8, split_excluded

__all__ = [
    "MANIFEST_FIELDS",
    "MANIFEST_NAME",
    "PrepReport",
    "check_manifest",
    "prepare_pairs",
    "read_manifest",
    "sha256_file",
]

MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = (
    "name",
    "width",
    "height",
    "a_file",
    "b_file",
    "a_sha256",
    "b_sha256",
    "src_a",
    "src_b",
    "src_a_sha256",
    "src_b_sha256",
)


@dataclass
class PrepReport:
    """Outcome of :func:`prepare_pairs`: manifest rows written, per-file problems, excluded names."""

    manifest: Path
    rows: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def prepare_pairs(
    a_dir: str | Path,
    b_dir: str | Path,
    out: str | Path,
    *,
    out_a: str | None = None,
    out_b: str | None = None,
    exclude: Iterable[str | Path] = (),
    luma: str = "kornia",
    progress: bool = True,
) -> PrepReport:
    """Check and convert the pairs of ``a_dir`` / ``b_dir`` into ``out``; see the module docstring.

    ``out_a`` / ``out_b`` name the output folders (default: the source folders' names);
    ``exclude`` drops pairs by file name or stem (e.g. a test set's names). Never raises for a bad
    file: every problem is listed in the report, and the manifest holds the pairs that succeeded.
    """
    if luma not in LUMA_MODES:
        raise ValueError(f"unknown luma {luma!r}; choose one of {LUMA_MODES}")
    a_dir, b_dir, out = Path(a_dir), Path(b_dir), Path(out)
    out_a, out_b = out_a or a_dir.name, out_b or b_dir.name
    if out_a == out_b:
        raise ValueError(
            f"A and B would be written to the same folder {out / out_a}; pass distinct out_a / out_b"
        )
    out.mkdir(parents=True, exist_ok=True)
    report = PrepReport(manifest=out / MANIFEST_NAME)
    matched, report.problems = pair_files(a_dir, b_dir)
    pairs, report.excluded = split_excluded(matched, exclude)
    seen: dict[str, str] = {}
    for name, path_a, path_b in tqdm(
        pairs, desc=f"preparing {a_dir.parent.name or a_dir}", disable=not progress
    ):
        stem_png = Path(name).stem + ".png"
        if stem_png in seen:
            report.problems.append(
                f"{path_a}: writes {stem_png}, as does {seen[stem_png]}; rename one of them"
            )
            continue
        seen[stem_png] = name
        try:
            a, b = load_pair_u8(path_a, path_b, luma)
        except ImageError as err:
            report.problems.append(str(err))
            continue
        written_a = save_image(out / out_a / stem_png, a)
        written_b = save_image(out / out_b / stem_png, b)
        report.rows.append(
            {
                "name": stem_png,
                "width": str(a.shape[1]),
                "height": str(a.shape[0]),
                "a_file": f"{out_a}/{stem_png}",
                "b_file": f"{out_b}/{stem_png}",
                "a_sha256": sha256_file(written_a),
                "b_sha256": sha256_file(written_b),
                "src_a": str(path_a.resolve()),
                "src_b": str(path_b.resolve()),
                "src_a_sha256": sha256_file(path_a),
                "src_b_sha256": sha256_file(path_b),
            }
        )
    _write_manifest(report.manifest, report.rows)
    return report


def read_manifest(out: str | Path) -> list[dict[str, str]]:
    """Rows of ``out/manifest.csv``; ``FileNotFoundError`` / ``ValueError`` if it is missing / malformed."""
    path = Path(out) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run data_prep/prepare_pairs.py first")
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(MANIFEST_FIELDS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{path} lacks column(s) {', '.join(sorted(missing))}; re-create it with prepare_pairs"
            )
        return list(reader)


def check_manifest(out: str | Path, *, sources: bool = False, progress: bool = True) -> list[str]:
    """Re-verify ``out`` against its manifest; returns the problems (empty when all is well).

    Checks every written file's SHA-256, readability, 8-bit grey mode and size, reports image
    files in the output folders that the manifest does not list, and with ``sources=True`` also
    the sources' SHA-256.
    """
    out = Path(out)
    rows = read_manifest(out)
    problems: list[str] = []
    listed: set[Path] = set()
    for row in tqdm(rows, desc=f"checking {out.name}", disable=not progress):
        size = (int(row["height"]), int(row["width"]))
        for side in ("a", "b"):
            path = out / row[f"{side}_file"]
            listed.add(path.resolve())
            if not path.is_file():
                problems.append(f"{path}: listed in the manifest but missing")
                continue
            if sha256_file(path) != row[f"{side}_sha256"]:
                problems.append(f"{path}: checksum differs from the manifest (file changed or corrupted)")
            try:
                image = read_image(path)
            except ImageError as err:
                problems.append(str(err))
                continue
            if image.ndim != 2 or image.shape != size:
                problems.append(
                    f"{path}: expected an 8-bit grey {size[1]}x{size[0]} image, got shape {image.shape}"
                )
        if sources:
            for side in ("a", "b"):
                src = Path(row[f"src_{side}"])
                if not src.is_file():
                    problems.append(f"{src}: source missing")
                elif sha256_file(src) != row[f"src_{side}_sha256"]:
                    problems.append(f"{src}: source changed since the manifest was written")
    folders = {(out / row[f"{side}_file"]).parent for row in rows for side in ("a", "b")}
    for folder in sorted(folders):
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            if path.suffix.lower() in IMAGE_SUFFIXES and path.resolve() not in listed:
                problems.append(
                    f"{path}: image not listed in the manifest (stale? remove it or re-run prepare)"
                )
    return problems
