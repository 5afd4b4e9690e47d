"""The two source readers of ``lzsc.io`` against OpenCV, bit for bit.

``standard`` must equal ``cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2GRAY)`` (the reference evaluator)
and ``release`` must equal ``cv2.imread(p, cv2.IMREAD_GRAYSCALE)`` (the release's test code), on
synthetic files of every format and colour handling we know of and on every image of the test sets.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, PngImagePlugin
from torch import nn

from lzsc.datasets import FNET_TEST_SETS
from lzsc.fusion import fuse_files
from lzsc.io import READERS, ImageError, read_gray, read_gray_u8, read_pair, release_gray_u8, rgb_to_gray_u8

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (a dev dependency) is the oracle here")


def opencv_standard(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)


def opencv_release(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def colour_image(seed: int = 0, shape: tuple[int, int] = (48, 70)) -> np.ndarray:
    """Random colours, a smooth gradient (JPEG-friendly) and grey rows (R = G = B)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    ramp = np.linspace(0, 255, shape[1]).astype(np.uint8)
    img[: shape[0] // 3] = np.stack([ramp, ramp[::-1], np.full_like(ramp, 90)], -1)
    img[-4:] = img[-4:, :, :1]
    return img


def png_chunks(chunk: str) -> dict:
    if chunk == "none":
        return {}
    if chunk == "icc":
        return {"icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()}
    info = PngImagePlugin.PngInfo()
    if chunk == "srgb":
        info.add(b"sRGB", b"\x00")
    else:
        info.add(b"gAMA", struct.pack(">I", int(chunk)))
    return {"pnginfo": info}


SYNTHETIC = {
    "png": (".png", {}),
    "png_gamma_045455": (".png", {"chunk": "45455"}),
    "png_gamma_05": (".png", {"chunk": "50000"}),
    "png_gamma_098": (".png", {"chunk": "98000"}),
    "png_gamma_22": (".png", {"chunk": "220000"}),
    "png_srgb": (".png", {"chunk": "srgb"}),
    "png_icc": (".png", {"chunk": "icc"}),
    "jpeg_420": (".jpg", {"quality": 90}),
    "jpeg_444": (".jpg", {"quality": 90, "subsampling": 0}),
    "jpeg_rgb_colourspace": (".jpg", {"quality": 95, "keep_rgb": True}),
    "bmp": (".bmp", {}),
    "tiff": (".tif", {}),
    "tiff_lzw": (".tiff", {"compression": "tiff_lzw"}),
}


@pytest.fixture(params=sorted(SYNTHETIC), scope="module")
def synthetic_file(request, tmp_path_factory) -> Path:
    suffix, options = SYNTHETIC[request.param]
    options = dict(options)
    extra = png_chunks(options.pop("chunk", "none"))
    path = tmp_path_factory.mktemp("readers") / f"{request.param}{suffix}"
    Image.fromarray(colour_image(seed=len(request.param))).save(path, **options, **extra)
    return path


class TestStandardReader:
    def test_every_colour_equals_opencv_cvtcolor(self) -> None:
        v = np.arange(256, dtype=np.uint8)
        r, g, b = (c.ravel() for c in np.meshgrid(v, v, v, indexing="ij"))
        rgb = np.stack([r, g, b], -1).reshape(4096, 4096, 3)
        expected = cv2.cvtColor(np.ascontiguousarray(rgb[..., ::-1]), cv2.COLOR_BGR2GRAY)
        np.testing.assert_array_equal(rgb_to_gray_u8(rgb), expected)

    def test_synthetic_files(self, synthetic_file: Path) -> None:
        np.testing.assert_array_equal(
            read_gray_u8(synthetic_file, "standard"), opencv_standard(synthetic_file)
        )

    def test_grey_array_passes_through_and_bad_shape_is_refused(self) -> None:
        grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
        np.testing.assert_array_equal(rgb_to_gray_u8(grey), grey)
        with pytest.raises(ImageError, match=r"expected an \(H, W, 3\) RGB array"):
            rgb_to_gray_u8(np.zeros((3, 4, 4), np.uint8))


class TestReleaseReader:
    def test_synthetic_files(self, synthetic_file: Path) -> None:
        np.testing.assert_array_equal(release_gray_u8(synthetic_file), opencv_release(synthetic_file))

    def test_readers_differ_where_the_tools_differ(self, tmp_path: Path) -> None:
        """The test is only worth having if the two OpenCV paths disagree on such files."""
        for name, kwargs in (("a.jpg", {"quality": 90}), ("a.png", {})):
            path = tmp_path / name
            Image.fromarray(colour_image()).save(path, **kwargs)
            assert (opencv_release(path) != opencv_standard(path)).any(), name
            assert (read_gray_u8(path, "release") != read_gray_u8(path, "standard")).any(), name

    def test_grey_files_read_alike(self, tmp_path: Path) -> None:
        grey = colour_image()[..., 1]
        for suffix in (".png", ".jpg", ".bmp"):
            path = tmp_path / f"g{suffix}"
            Image.fromarray(grey).save(path)
            np.testing.assert_array_equal(read_gray_u8(path, "release"), read_gray_u8(path, "standard"))
            np.testing.assert_array_equal(read_gray_u8(path, "release"), opencv_release(path))

    def test_unknown_colour_format_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "x.webp"
        try:
            Image.fromarray(colour_image()).save(path, lossless=True)
        except (KeyError, OSError):
            pytest.skip("this Pillow has no WebP support")
        with pytest.raises(ImageError, match="knows OpenCV's grey decode of JPEG, PNG, BMP and TIFF"):
            release_gray_u8(path)


class TestReaderChoice:
    def test_unknown_reader(self, tmp_path: Path) -> None:
        path = tmp_path / "g.png"
        Image.fromarray(colour_image()).save(path)
        with pytest.raises(
            ValueError, match=r"unknown reader 'cv2'; choose one of \('standard', 'release'\)"
        ):
            read_gray_u8(path, "cv2")  # type: ignore[arg-type]
        assert READERS == ("standard", "release")

    def test_tensor_readers_follow_the_choice(self, tmp_path: Path) -> None:
        path = tmp_path / "c.jpg"
        Image.fromarray(colour_image()).save(path, quality=90)
        for reader in READERS:
            expected = torch.from_numpy(read_gray_u8(path, reader).astype(np.float32) / 255)[None, None]
            torch.testing.assert_close(read_gray(path, reader), expected, rtol=0, atol=0)
            a, _b = read_pair(path, path, reader)
            torch.testing.assert_close(a, expected, rtol=0, atol=0)

    @pytest.mark.parametrize("color", [False, True])
    def test_fusion_reads_a_with_the_chosen_reader(self, tmp_path: Path, color: bool) -> None:
        """The model sees A exactly as the chosen reader reads it, in grey and in colour mode."""

        class RecordA(nn.Module):
            def forward(self, a, b):
                self.a = a
                return a

        path = tmp_path / "c.jpg"
        Image.fromarray(colour_image()).save(path, quality=90)
        model = RecordA()
        for reader in READERS:
            fused = fuse_files(model, path, path, color=color, reader=reader)
            torch.testing.assert_close(model.a, read_gray(path, reader), rtol=0, atol=0)
            assert fused.shape == colour_image().shape[: 3 if color else 2]
        with pytest.raises(ValueError, match="unknown reader"):
            fuse_files(model, path, path, color=color, reader="cv2")  # type: ignore[arg-type]


@pytest.mark.parametrize("dataset", FNET_TEST_SETS)
def test_every_test_image_equals_opencv(lzsc_data: Path, dataset: str) -> None:
    """Both readers, bit for bit, on every source image of FNet's five test sets."""
    files = sorted(
        p for p in (lzsc_data / "test" / dataset).rglob("*") if p.suffix.lower() in (".png", ".jpg")
    )
    assert files, f"no images under {lzsc_data / 'test' / dataset}"
    for path in files:
        np.testing.assert_array_equal(
            read_gray_u8(path, "standard"), opencv_standard(path), err_msg=str(path)
        )
        np.testing.assert_array_equal(read_gray_u8(path, "release"), opencv_release(path), err_msg=str(path))
