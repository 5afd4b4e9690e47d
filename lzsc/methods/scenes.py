"""Fusing the inputs of the methods that do not fuse pairs: exposure stacks and multispectral scenes.

- ``exposures`` (CSC-MEFN): a *scene* is a folder of one scene's exposures (image files, sorted by
  name, all one size); the result is one 8-bit RGB image (``<scene folder name>.png``).
- ``multispectral`` (CSC-MMFN): a scene is an ``.npz`` file with arrays ``lr_ms`` (C, h, w) and
  ``rgb`` (3, 2h, 2w) as in ``$LZSC_DATA/test/MMF_synthetic``; the result is the float32 (C, 2h, 2w)
  cube saved as ``.npy``.

:func:`fuse_scenes` takes one scene (then ``out`` is the output file) or a folder of scenes (then
``out`` is a folder, one output per scene, and a failing scene is reported without stopping the
others), as ``lzsc fuse --method csc-mefn|csc-mmfn`` does. Outputs are written atomically and never
over an input. Introduced in ``notebooks/11_csc_networks.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from ..atomic import atomic_open
from ..fusion import FolderReport, check_output_file, prepare_output_dir
from ..io import IMAGE_SUFFIXES, save_image
from .registry import InputKind

__all__ = ["OUTPUT_SUFFIX", "find_scenes", "fuse_scenes", "is_scene"]

#: The file type each kind writes.
OUTPUT_SUFFIX: dict[str, str] = {"exposures": ".png", "multispectral": ".npy"}


def is_scene(kind: InputKind, path: Path) -> bool:
    """Whether ``path`` is one scene of ``kind``: a folder holding image files, or an ``.npz`` file."""
    if kind == "multispectral":
        return path.is_file() and path.suffix.lower() == ".npz"
    return path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir() if p.is_file())


def find_scenes(kind: InputKind, folder: Path) -> list[Path]:
    """The scenes of ``kind`` directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if is_scene(kind, p))


def _fuser(kind: InputKind, model: nn.Module) -> Callable[[Path], np.ndarray]:
    if kind == "exposures":
        from .csc_mefn import fuse_exposure_folder

        return lambda path: fuse_exposure_folder(model, path)
    if kind == "multispectral":
        from .csc_mmfn import fuse_npz

        return lambda path: fuse_npz(model, path)
    raise ValueError(f"kind must be 'exposures' or 'multispectral', got {kind!r}")


def _save(kind: InputKind, path: Path, result: np.ndarray) -> Path:
    if kind == "exposures":
        return save_image(path, result)
    with atomic_open(path, "wb") as fh:
        np.save(fh, result, allow_pickle=False)
    return path


def fuse_scenes(
    model: nn.Module, kind: InputKind, source: str | Path, out: str | Path, progress: bool = True
) -> FolderReport:
    """Fuse one scene of ``kind`` into the file ``out``, or every scene in the folder ``source`` into
    the folder ``out`` (``<scene name>.png`` / ``.npy``); see the module docstring."""
    source, out = Path(source), Path(out)
    fuse_one = _fuser(kind, model)
    what = "a folder of exposure images" if kind == "exposures" else "an .npz file with lr_ms and rgb"
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist; give {what}, or a folder of them")
    report = FolderReport(unit="scene")
    if is_scene(kind, source):
        suffix = OUTPUT_SUFFIX[kind]
        if out.suffix.lower() != suffix:
            raise ValueError(
                f"output {out}: one {kind} scene is written as a {suffix} file; name it *{suffix}"
            )
        check_output_file(out, (source, *(source.iterdir() if source.is_dir() else ())))
        report.written.append(_save(kind, out, fuse_one(source)))
        return report
    scenes = find_scenes(kind, source) if source.is_dir() else []
    if not scenes:
        raise FileNotFoundError(f"{source} is neither {what} nor a folder holding such scenes")
    suffix = OUTPUT_SUFFIX[kind]
    names = {scene: f"{scene.name if scene.is_dir() else scene.stem}{suffix}" for scene in scenes}
    taken = sorted(n for n in set(names.values()) if list(names.values()).count(n) > 1)
    if taken:
        raise ValueError(f"scenes of {source} would write the same output name(s) {taken}; rename them")
    out = prepare_output_dir(out, (source, *scenes))
    for scene in tqdm(scenes, desc=f"fusing ({kind})", unit="scene", disable=not progress):
        try:
            report.written.append(_save(kind, out / names[scene], fuse_one(scene)))
        except (ValueError, OSError) as err:
            report.failed[scene.name] = str(err)
    return report
