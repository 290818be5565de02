"""Photos in every mode decode to the same `(H, W, 3) uint8` sRGB array; broken files are named."""

import numpy as np
import pytest
from PIL import Image

from faceparse.datasets import read_image
from faceparse.errors import FaceparseDataError


def test_grayscale_becomes_three_equal_channels(tmp_path):
    Image.fromarray(np.array([[0, 128], [200, 255]], np.uint8), mode="L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert out[1, 0].tolist() == [200, 200, 200]


def test_sixteen_bit_is_scaled_to_eight(tmp_path):
    arr = np.array([[0, 65535], [32896, 257]], np.uint16)  # 32896 = 128 * 257, 257 = 1 * 257
    Image.fromarray(arr).save(tmp_path / "d.png")
    out = read_image(tmp_path / "d.png")
    assert out[..., 0].tolist() == [[0, 255], [128, 1]]


def test_palette_image_keeps_its_colours(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    im.putpixel((0, 0), 0)
    im.putpixel((1, 0), 1)
    im.save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").tolist() == [[[10, 20, 30], [200, 100, 50]]]


def test_cmyk_is_converted(tmp_path):
    # pure cyan in CMYK (255, 0, 0, 0) is (0, 255, 255) in RGB by PIL's naive conversion
    Image.new("CMYK", (3, 2), (255, 0, 0, 0)).save(tmp_path / "c.jpg", quality=100)
    out = read_image(tmp_path / "c.jpg")
    assert out.shape == (2, 3, 3)
    assert np.abs(out.astype(int) - [0, 255, 255]).max() <= 3


def test_alpha_is_composited_on_white(tmp_path):
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png").tolist() == [[[255, 255, 255]]]


def test_exif_rotation_is_applied(tmp_path):
    arr = np.zeros((16, 32, 3), np.uint8)
    arr[:8, :8] = (255, 0, 0)  # red top-left block
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    Image.fromarray(arr).save(tmp_path / "r.png", exif=exif)
    out = read_image(tmp_path / "r.png")
    assert out.shape == (32, 16, 3)
    assert out[2, 13].tolist() == [255, 0, 0]  # the red corner is now top-right
    assert out[2, 2].tolist() == [0, 0, 0]


def test_truncated_and_missing_files_are_named(tmp_path):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FaceparseDataError, match="t.png"):
        read_image(tmp_path / "t.png")
    with pytest.raises(FaceparseDataError, match="nothere.png: file not found"):
        read_image(tmp_path / "nothere.png")
    (tmp_path / "x.jpg").write_text("not an image")
    with pytest.raises(FaceparseDataError, match="x.jpg: cannot decode"):
        read_image(tmp_path / "x.jpg")


def _photo_like(height: int, width: int) -> np.ndarray:
    """Smooth gradients with grain and a sharp-edged block: the detail JPEG's IDCT and chroma
    upsampling round differently when they differ."""
    y, x = np.mgrid[:height, :width]
    rng = np.random.default_rng(height * 1000 + width)
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + 60], -1)
    base[height // 3: height // 2, width // 4: width // 2] = (230, 40, 90)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _jpeg_variants(tmp_path) -> list:
    """JPEGs as cameras and tools write them: each chroma subsampling (4:4:4, 4:2:2, 4:2:0, 4:1:1,
    4:4:0), progressive scans, optimised tables, restart markers, odd sizes, an EXIF block."""
    import cv2

    paths = []
    for h, w in ((37, 53), (131, 257)):
        pixels = _photo_like(h, w)
        image = Image.fromarray(pixels)
        for subsampling in (0, 1, 2):
            for progressive in (False, True):
                paths.append(tmp_path / f"pil_{h}_{subsampling}_{int(progressive)}.jpg")
                image.save(paths[-1], quality=90, subsampling=subsampling, progressive=progressive)
        paths.append(tmp_path / f"pil_{h}_optimised.jpg")
        image.save(paths[-1], quality=100, optimize=True)
        exif = Image.Exif()
        exif[0x0112] = 1  # upright, said so
        paths.append(tmp_path / f"pil_{h}_exif.jpg")
        image.save(paths[-1], exif=exif)
        for name, factor in (("411", cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411),
                             ("422", cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422),
                             ("440", cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440)):
            ok, data = cv2.imencode(".jpg", pixels[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 75,
                                                                cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor,
                                                                cv2.IMWRITE_JPEG_RST_INTERVAL, 2])
            assert ok
            paths.append(tmp_path / f"cv_{h}_{name}.jpg")
            paths[-1].write_bytes(data.tobytes())
    return paths


def test_a_colour_jpeg_decodes_to_pillows_pixels(tmp_path, monkeypatch):
    # read_image decodes upright colour JPEGs by OpenCV: its pixels must be those Pillow decodes.
    from faceparse.datasets import base

    decoded = []
    original = base._decode_jpeg
    monkeypatch.setattr(base, "_decode_jpeg", lambda *args: decoded.append(original(*args)) or decoded[-1])
    for path in _jpeg_variants(tmp_path):
        with Image.open(path) as im:
            expected = np.asarray(im.convert("RGB"))
        out = read_image(path)
        assert decoded[-1] is out, path.name  # OpenCV's decode was the one returned
        assert out.dtype == np.uint8 and not out.flags.writeable
        np.testing.assert_array_equal(out, expected, err_msg=path.name)


def test_a_rotated_grey_or_broken_jpeg_goes_to_pillow(tmp_path, monkeypatch):
    from faceparse.datasets import base

    calls = []
    original = base._decode_jpeg
    monkeypatch.setattr(base, "_decode_jpeg", lambda *args: calls.append(args[0].name) or original(*args))
    pixels = _photo_like(16, 32)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    assert read_image(tmp_path / "rotated.jpg").shape == (32, 16, 3)
    Image.fromarray(pixels[..., 0]).save(tmp_path / "grey.jpg")
    grey = read_image(tmp_path / "grey.jpg")
    assert grey.shape == (16, 32, 3) and (grey[..., 0] == grey[..., 2]).all()
    assert calls == []  # neither reached OpenCV
    Image.fromarray(_photo_like(64, 64)).save(tmp_path / "cut.jpg")
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(FaceparseDataError, match="cut.jpg: cannot decode as an image .*truncated"):
        read_image(tmp_path / "cut.jpg")
    assert calls == ["cut.jpg"]  # OpenCV refused it, and Pillow said why
