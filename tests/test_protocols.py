"""The evaluation protocols ``lzsc.protocols``: one place for fusion mode, file names and metric settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lzsc.datasets import REGISTRY
from lzsc.metrics import ce, compute_all, ssim
from lzsc.protocols import PROTOCOLS, get_protocol


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_metric_settings_are_those_compute_all_uses(name: str) -> None:
    rules = get_protocol(name)
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (48, 48)).astype(np.float64) for _ in range(2))
    f = np.round((a + b) / 2)
    values = compute_all(f, a, b, protocol=name)
    assert values["SSIM"] == pytest.approx(ssim(f, a, b, data_range=rules.ssim_data_range))
    assert values["CE"] == pytest.approx(ce(f, a, b, reduction=rules.ce_reduction))


def test_fusion_and_naming() -> None:
    default, paper = PROTOCOLS["default"], PROTOCOLS["paper"]
    ct, road = REGISTRY.get("MRI_CT"), REGISTRY.get("RoadScene")
    assert (default.color(ct), paper.color(ct), paper.color(road)) == (False, True, False)
    assert default.fused_name("FLIR_00211.jpg") == "FLIR_00211.png"
    assert paper.fused_name("FLIR_00211.jpg") == "FLIR_00211.jpg"  # the release's name: JPEG
    assert paper.fused_name("01.png") == default.fused_name("01.png") == "01.png"
    assert paper.cache_folder("c", "abc", "TNO") == Path("c") / "abc" / "paper-release" / "TNO"


def test_find_fused_prefers_the_protocols_name(tmp_path: Path) -> None:
    paper = PROTOCOLS["paper"]
    assert paper.find_fused(tmp_path, "x.jpg") is None
    (tmp_path / "x.png").write_bytes(b"")
    assert paper.find_fused(tmp_path, "x.jpg") == tmp_path / "x.png"
    (tmp_path / "x.jpg").write_bytes(b"")
    assert paper.find_fused(tmp_path, "x.jpg") == tmp_path / "x.jpg"


def test_descriptions_and_unknown_names() -> None:
    assert PROTOCOLS["default"].describe() == (
        "grey fusion, sources read by the standard reader, lossless PNG outputs; metrics on images "
        "read by the standard reader, SSIM with data_range 255, CE as VIFB's mean (CE(A,F) + CE(B,F)) / 2"
    )
    paper = PROTOCOLS["paper"].describe()
    assert "colour (studio-swing YCbCr) fusion for MRI_CT/MRI_PET/MRI_SPECT" in paper
    assert "JPEG outputs for RoadScene" in paper
    assert "data_range 2 " in paper
    assert "CE as the sum" in paper
    assert "sources read by the release reader" in paper
    assert "metrics on images read by the standard reader" in paper
    assert (PROTOCOLS["paper"].readers, PROTOCOLS["default"].readers) == (
        "release/standard",
        "standard/standard",
    )
    with pytest.raises(ValueError, match=r"unknown protocol 'best'; choose one of \('default', 'paper'\)"):
        get_protocol("best")
