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


def test_a_jpeg_damaged_in_its_middle_is_refused(tmp_path):
    # A stray marker in the scan: libjpeg greys out the rows after it, then stops with an error once
    # the last row is done. A decoder that ignores that late error (OpenCV's imdecode does) returns
    # a photo two-thirds grey; read_image must refuse the file instead.
    y, x = np.mgrid[:96, :128]
    pixels = np.stack([x * 2, y * 2, (x + y) % 256], -1).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "whole.jpg", quality=90)
    data = bytearray((tmp_path / "whole.jpg").read_bytes())
    scan = data.index(b"\xff\xda")
    middle = scan + (len(data) - scan) // 3
    data[middle:middle + 2] = b"\xff\xc4"  # a Huffman-table marker where coded pixels belong
    (tmp_path / "damaged.jpg").write_bytes(bytes(data))
    assert read_image(tmp_path / "whole.jpg").shape == (96, 128, 3)
    with pytest.raises(FaceparseDataError, match="damaged.jpg: cannot decode as an image"):
        read_image(tmp_path / "damaged.jpg")
