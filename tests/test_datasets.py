"""The data-set registry ``lzsc.datasets``: one place for folders, paper names and colour modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lzsc import reference
from lzsc.datasets import (
    EXTRA_SETS,
    FNET_TEST_SETS,
    REGISTRY,
    DataSet,
    Registry,
    dataset_dirs,
    lookup,
    register_extra_sets,
)
from lzsc.io import pair_files


def make_set(root: Path, spec: DataSet, names: tuple[str, ...] = ("1.png", "2.png")) -> None:
    for sub in (spec.a_dir, spec.b_dir):
        folder = spec.folder(root) / sub
        folder.mkdir(parents=True)
        for name in names:
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / name)


def test_builtin_sets() -> None:
    assert FNET_TEST_SETS == ("TNO", "RoadScene", "MRI_CT", "MRI_PET", "MRI_SPECT")
    assert REGISTRY.names("test") == (*FNET_TEST_SETS, "TNO40", "FLIR", "NIR_Country")
    assert REGISTRY.names("train") == ("MSRS", "RoadScene", "FLIR")
    assert [s.name for s in REGISTRY if s.color] == ["MRI_CT", "MRI_PET", "MRI_SPECT"]
    assert (REGISTRY.get("MRI_PET").a_dir, REGISTRY.get("MRI_PET").b_dir) == ("MRI", "PET")
    assert REGISTRY.by_paper_name("VIS-IR (Road-Scene)").name == "RoadScene"
    assert REGISTRY.by_paper_name("TNO", paper="CSC").name == "TNO40"


def test_training_sets_name_the_test_pairs_they_hold() -> None:
    assert REGISTRY.test_set_inside("RoadScene").name == "RoadScene"
    assert REGISTRY.test_set_inside("MSRS") is None
    assert REGISTRY.test_set_inside("FLIR") is None  # same file names as the FLIR test set, other images
    assert REGISTRY.test_set_inside("TNO").name == "TNO"  # a folder named like a test set
    assert REGISTRY.test_set_inside("elsewhere") is None


def test_unknown_names_and_missing_folders_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"unknown test set 'Nope'; known: TNO, RoadScene(.|\n)*register"):
        dataset_dirs("Nope", root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"test set TNO needs .*test/TNO/\{ir,vi\}"):
        dataset_dirs("TNO", root=tmp_path)
    make_set(tmp_path, REGISTRY.get("MRI_CT"))
    a, b, spec = dataset_dirs("MRI_CT", root=tmp_path)
    assert (a, b) == (tmp_path / "test" / "MRI_CT" / "MRI", tmp_path / "test" / "MRI_CT" / "CT")
    assert spec.color


def test_data_set_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        DataSet("X", "val", "a", "b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="different folders"):
        DataSet("X", "test", "a", "a")
    with pytest.raises(ValueError, match="give both paper and paper_name"):
        DataSet("X", "test", "a", "b", paper="FNet")
    with pytest.raises(ValueError, match="only a training set"):
        DataSet("X", "test", "a", "b", excludes="TNO")


def test_register_is_idempotent_and_refuses_a_different_set_under_a_taken_name() -> None:
    registry = Registry()
    spec = DataSet("KAIST", "test", "ir", "vi")
    assert registry.register(spec) is spec
    registry.register(DataSet("KAIST", "test", "ir", "vi"))  # the same set again: fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register(DataSet("KAIST", "test", "lwir", "visible"))
    assert registry.unregister("KAIST") == spec
    assert registry.names() == ()


def test_register_extra_sets_fills_only_the_given_registry(tmp_path: Path) -> None:
    make_set(tmp_path, EXTRA_SETS["KAIST"])
    registry = Registry()
    status = register_extra_sets(tmp_path, registry)
    assert status["KAIST"].startswith("found at")
    assert status["CATS"].startswith("not available (expected")
    assert "CATS/{ir,vi}" in status["CATS"]
    assert registry.names() == ("KAIST",)
    assert REGISTRY.find("KAIST") is None  # nothing else changed
    assert "not available" in register_extra_sets(None, Registry())["KAIST"]


def test_extra_sets_have_their_table_i_names_without_registering() -> None:
    assert lookup("RGB-NIR").paper_name == "VIS-NIR (RGB-NIR Scene)"
    assert lookup("RGB-NIR").color
    assert reference.table1_name("KAIST") == "VIS-IR (KAIST)"
    assert reference.table1_name("TNO") == "VIS-IR (TNO)"
    assert reference.table1_name("TNO40") is None  # a CSC set: not in FNet's Table I
    assert reference.table1_name("VIS-IR (TNO)") == "VIS-IR (TNO)"


@pytest.mark.data
def test_every_registered_set_of_the_shared_data_pairs_up(lzsc_data: Path) -> None:
    for spec in REGISTRY:
        a_dir, b_dir = spec.dirs(lzsc_data)
        pairs, problems = pair_files(a_dir, b_dir)
        assert pairs, spec
        assert not problems, (spec.name, problems[:3])
