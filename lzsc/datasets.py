"""The data-set registry: every named set of image pairs, its A and B folders and its paper name.

A set lives under the data root (:mod:`lzsc.paths`) as ``<root>/<split>/<name>/<a_dir>`` and
``.../<b_dir>``, pairs matched by file name; A is the infrared (or MRI) image, B the visible (or CT /
PET / SPECT) one (``docs/conventions.md``). :data:`REGISTRY` holds

- the FNet paper's Table I test sets of the shared data (:data:`FNET_TEST_SETS`: TNO, RoadScene,
  MRI_CT, MRI_PET, MRI_SPECT; what ``lzsc evaluate --dataset all`` runs);
- the CSC paper's Table II test sets (TNO40, FLIR, NIR_Country);
- the training sets MSRS, RoadScene (its 50 test pairs are excluded from training) and FLIR.

The FNet paper's other three test sets (CATS, KAIST, RGB-NIR) are not in the shared data: they are
described in :data:`EXTRA_SETS`, and :func:`register_extra_sets` registers those whose folders a user
has placed under the data root. Any other set is one :meth:`Registry.register` call away.

:data:`LAYOUTS` names the folders of the data sets' original downloads (e.g. RoadScene's
``cropinfrared``), for :func:`resolve_layout` and ``data_prep/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from .paths import require_data_root

__all__ = [
    "EXTRA_SETS",
    "FNET_TEST_SETS",
    "LAYOUTS",
    "REGISTRY",
    "SPLITS",
    "DataSet",
    "PairLayout",
    "Paper",
    "Registry",
    "Split",
    "dataset_dirs",
    "lookup",
    "register_extra_sets",
    "resolve_layout",
]

Split = Literal["test", "train"]
Paper = Literal["FNet", "CSC", "DAE"]
SPLITS: tuple[Split, ...] = ("test", "train")


@dataclass(frozen=True)
class DataSet:
    """One named set of registered pairs under ``<data root>/<split>/<name>/{<a_dir>,<b_dir>}``.

    ``paper`` / ``paper_name``: the paper whose tables report the set and the set's name there (the
    ``task_dataset`` of the reference CSVs, e.g. "VIS-IR (TNO)"); None when no table reports it.
    ``color``: B is an RGB image that the release fuses in colour mode (studio-swing YCbCr) for the
    paper's numbers; the evaluation protocol decides whether to (:mod:`lzsc.protocols`).
    ``excludes``: for a training set, the test set whose pairs it also holds (matched by file name),
    which training must skip.
    """

    name: str
    split: Split
    a_dir: str
    b_dir: str
    paper: Paper | None = None
    paper_name: str | None = None
    color: bool = False
    excludes: str | None = None

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"data set {self.name!r}: split must be one of {SPLITS}, got {self.split!r}")
        if self.a_dir == self.b_dir:
            raise ValueError(
                f"data set {self.name!r}: A and B need different folders, both are {self.a_dir!r}"
            )
        if (self.paper is None) != (self.paper_name is None):
            raise ValueError(
                f"data set {self.name!r}: give both paper and paper_name (the set's name in that paper's "
                f"tables) or neither; got paper={self.paper!r}, paper_name={self.paper_name!r}"
            )
        if self.excludes is not None and self.split != "train":
            raise ValueError(f"data set {self.name!r}: only a training set excludes a test set's pairs")

    def folder(self, root: Path | str | None = None) -> Path:
        """``<root>/<split>/<name>``; ``root`` defaults to ``$LZSC_DATA``."""
        return (Path(root) if root is not None else require_data_root()) / self.split / self.name

    def dirs(self, root: Path | str | None = None) -> tuple[Path, Path]:
        """The (A, B) folders under ``root`` (default ``$LZSC_DATA``), checked to exist."""
        base = self.folder(root)
        a, b = base / self.a_dir, base / self.b_dir
        for path in (a, b):
            if not path.is_dir():
                raise FileNotFoundError(
                    f"missing folder {path}: the {self.split} set {self.name} needs "
                    f"{base}/{{{self.a_dir},{self.b_dir}}} with pairs of equal file names"
                )
        return a, b

    def present(self, root: Path | str) -> bool:
        """Whether both folders exist under ``root``."""
        base = self.folder(root)
        return (base / self.a_dir).is_dir() and (base / self.b_dir).is_dir()


class Registry:
    """Named data sets per split. :meth:`register` adds one; lookups raise with the known names."""

    def __init__(self, sets: Iterable[DataSet] = ()) -> None:
        self._sets: dict[tuple[str, str], DataSet] = {}
        for spec in sets:
            self.register(spec)

    def register(self, spec: DataSet) -> DataSet:
        """Add ``spec``; registering an identical set again is a no-op, a different one under a taken
        name raises (:meth:`unregister` it first)."""
        key = (spec.split, spec.name)
        known = self._sets.get(key)
        if known is not None and known != spec:
            raise ValueError(
                f"a {spec.split} set named {spec.name!r} is already registered as {known}; "
                "unregister it first or choose another name"
            )
        self._sets[key] = spec
        return spec

    def unregister(self, name: str, split: Split = "test") -> DataSet:
        """Remove and return the set ``name`` of ``split``."""
        spec = self.get(name, split)
        del self._sets[(split, name)]
        return spec

    def find(self, name: str, split: Split = "test") -> DataSet | None:
        """The set ``name`` of ``split``, or None."""
        return self._sets.get((split, name))

    def get(self, name: str, split: Split = "test") -> DataSet:
        """The set ``name`` of ``split``; KeyError listing the known names otherwise."""
        spec = self.find(name, split)
        if spec is None:
            raise KeyError(
                f"unknown {split} set {name!r}; known: {', '.join(self.names(split))} "
                "(register others with lzsc.datasets.REGISTRY.register)"
            )
        return spec

    def names(self, split: Split = "test") -> tuple[str, ...]:
        """Names of the sets of ``split``, in registration order."""
        return tuple(name for (s, name) in self._sets if s == split)

    def __iter__(self) -> Iterator[DataSet]:
        return iter(list(self._sets.values()))

    def by_paper_name(self, paper_name: str, paper: Paper = "FNet") -> DataSet | None:
        """The test set that ``paper``'s tables call ``paper_name``, or None."""
        return next(
            (s for s in self if s.split == "test" and s.paper == paper and s.paper_name == paper_name), None
        )

    def test_set_inside(self, name: str) -> DataSet | None:
        """The test set whose pairs training data ``name`` holds: the training set's ``excludes``, or,
        for a name that is no training set (a folder), the test set of the same name."""
        train = self.find(name, "train")
        if train is not None:
            return None if train.excludes is None else self.get(train.excludes, "test")
        return self.find(name, "test")


_FNET_TEST = (
    DataSet("TNO", "test", "ir", "vi", "FNet", "VIS-IR (TNO)"),
    DataSet("RoadScene", "test", "ir", "vi", "FNet", "VIS-IR (Road-Scene)"),
    DataSet("MRI_CT", "test", "MRI", "CT", "FNet", "CT-MRI (Harvard medical)", color=True),
    DataSet("MRI_PET", "test", "MRI", "PET", "FNet", "PET-MRI (Harvard medical)", color=True),
    DataSet("MRI_SPECT", "test", "MRI", "SPECT", "FNet", "SPECT-MRI (Harvard medical)", color=True),
)
_CSC_TEST = (
    DataSet("TNO40", "test", "ir", "vi", "CSC", "TNO"),
    DataSet("FLIR", "test", "ir", "vi", "CSC", "FLIR"),
    DataSet("NIR_Country", "test", "ir", "vi", "CSC", "NIR_Country"),
)
_TRAIN = (
    DataSet("MSRS", "train", "ir", "vi"),
    DataSet("RoadScene", "train", "ir", "vi", excludes="RoadScene"),
    DataSet("FLIR", "train", "ir", "vi"),
)

#: Every named set of the shared data; :func:`register_extra_sets` and ``REGISTRY.register`` add more.
REGISTRY = Registry((*_FNET_TEST, *_CSC_TEST, *_TRAIN))

#: The FNet paper's Table I test sets in the shared data, in table order: what ``--dataset all`` runs.
FNET_TEST_SETS: tuple[str, ...] = tuple(s.name for s in _FNET_TEST)

#: The FNet paper's Table I test sets that are not part of the shared data. A user adds one by placing
#: pairs of equal file names under ``$LZSC_DATA/test/<name>/<a_dir>`` and ``.../<b_dir>`` and calling
#: :func:`register_extra_sets`.
EXTRA_SETS: Mapping[str, DataSet] = MappingProxyType(
    {
        s.name: s
        for s in (
            DataSet("CATS", "test", "ir", "vi", "FNet", "VIS-IR (CATS)"),
            DataSet("KAIST", "test", "ir", "vi", "FNet", "VIS-IR (KAIST)"),
            DataSet("RGB-NIR", "test", "nir", "rgb", "FNet", "VIS-NIR (RGB-NIR Scene)", color=True),
        )
    }
)


def dataset_dirs(
    name: str, split: Split = "test", root: Path | str | None = None
) -> tuple[Path, Path, DataSet]:
    """The (A, B) folders of registered set ``name`` under ``root`` (default ``$LZSC_DATA``), and the set."""
    spec = REGISTRY.get(name, split)
    return (*spec.dirs(root), spec)


def lookup(name: str) -> DataSet | None:
    """The test set ``name``: the registered one, else the :data:`EXTRA_SETS` entry, else None."""
    return REGISTRY.find(name) or EXTRA_SETS.get(name)


def register_extra_sets(root: Path | str | None, registry: Registry = REGISTRY) -> dict[str, str]:
    """Register each :data:`EXTRA_SETS` entry whose folders exist under ``root/test``.

    Returns ``{name: status line}`` for every extra set, present or not.
    """
    status = {}
    for name, spec in EXTRA_SETS.items():
        if root is not None and spec.present(root):
            registry.register(spec)
            status[name] = f"found at {spec.folder(root)}: registered"
        else:
            where = spec.folder(root) if root is not None else f"$LZSC_DATA/test/{name}"
            status[name] = f"not available (expected {where}/{{{spec.a_dir},{spec.b_dir}}})"
    return status


@dataclass(frozen=True)
class PairLayout:
    """Folder names of a data set's original download.

    ``a_dirs`` / ``b_dirs`` are candidate sub-folder names (the first one present is used);
    ``out_a`` / ``out_b`` the folder names ``data_prep`` writes (None: keep the source's name);
    ``test_set`` the :data:`REGISTRY` test set whose pairs must not be trained on.
    """

    a_dirs: tuple[str, ...]
    b_dirs: tuple[str, ...]
    out_a: str | None = None
    out_b: str | None = None
    test_set: str | None = None


#: Known layouts, in the order :func:`resolve_layout` tries them. MSRS (``train/`` or ``test/`` of the
#: official release) holds ``ir`` and ``vi``, as does every set under ``$LZSC_DATA``; the official
#: RoadScene repository ``cropinfrared`` and ``crop_HR_visible``; the Harvard medical sets ``MRI``
#: and one of ``CT``, ``PET``, ``SPECT``.
LAYOUTS: Mapping[str, PairLayout] = MappingProxyType(
    {
        "msrs": PairLayout(("ir",), ("vi",), "ir", "vi"),
        "roadscene": PairLayout(("cropinfrared", "ir"), ("crop_HR_visible", "vi"), "ir", "vi", "RoadScene"),
        "medical": PairLayout(("MRI",), ("CT", "PET", "SPECT")),
    }
)


def resolve_layout(folder: str | Path, layout: str | None = None) -> tuple[Path, Path, PairLayout]:
    """The (A, B) folders of ``folder`` under ``layout`` (a :data:`LAYOUTS` key), or the first that fits."""
    folder = Path(folder)
    if layout is not None and layout not in LAYOUTS:
        raise KeyError(
            f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)} (or give the A and B folders)"
        )
    candidates = [LAYOUTS[layout]] if layout else list(LAYOUTS.values())
    for spec in candidates:
        a = next((folder / d for d in spec.a_dirs if (folder / d).is_dir()), None)
        b = next((folder / d for d in spec.b_dirs if (folder / d).is_dir()), None)
        if a is not None and b is not None:
            return a, b, spec
    wanted = "; ".join(f"{'|'.join(s.a_dirs)} + {'|'.join(s.b_dirs)}" for s in candidates)
    raise FileNotFoundError(
        f"{folder} does not hold the folders of the {layout or 'known'} layout(s) ({wanted}); "
        "name the A and B folders explicitly"
    )
