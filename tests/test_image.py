"""Tests for stylelab.image: reading every kind of file, resizing, saving."""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import image
from stylelab.errors import ImageError, SettingsError


def _rgb(width: int = 32, height: int = 24, seed: int = 0) -> Image.Image:
    """A small random RGB test picture."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _save(im: Image.Image, path: Path, **options) -> Path:
    im.save(path, **options)
    return path


def _jpeg_bytes(im: Image.Image, **options) -> bytes:
    import io

    buffer = io.BytesIO()
    im.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def _check_image_tensor(t: torch.Tensor, height: int, width: int) -> None:
    assert t.shape == (1, 3, height, width)
    assert t.dtype == torch.float32
    assert t.device.type == "cpu"
    assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0


# --------------------------------------------------------------------------- modes


def test_rgb_png_loads_exactly(tmp_path):
    pil = _rgb()
    t = image.load_image(_save(pil, tmp_path / "a.png"))
    _check_image_tensor(t, 24, 32)
    expected = torch.from_numpy(np.array(pil)).permute(2, 0, 1).float() / 255
    assert torch.equal(t[0], expected)


def test_greyscale_l(tmp_path):
    pil = Image.new("L", (8, 6), 200)
    t = image.load_image(_save(pil, tmp_path / "l.png"))
    _check_image_tensor(t, 6, 8)
    assert torch.allclose(t, torch.full_like(t, 200 / 255))


@pytest.mark.parametrize("mode,colour", [("RGBA", (255, 0, 0, 0)), ("LA", (0, 0))])
def test_fully_transparent_pixels_become_white(tmp_path, mode, colour):
    pil = Image.new(mode, (5, 4), colour)
    t = image.load_image(_save(pil, tmp_path / f"{mode}.png"))
    assert torch.equal(t, torch.ones(1, 3, 4, 5))


def test_half_transparent_rgba_is_composited_over_white(tmp_path):
    pil = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    t = image.load_image(_save(pil, tmp_path / "half.png"))
    # black at alpha 128/255 over white: 255 * (1 - 128/255) = 127
    assert torch.allclose(t, torch.full_like(t, 127 / 255), atol=1.5 / 255)


def test_opaque_rgba_keeps_its_colour(tmp_path):
    pil = Image.new("RGBA", (4, 4), (10, 20, 30, 255))
    t = image.load_image(_save(pil, tmp_path / "opaque.png"))
    assert torch.allclose(t[0, :, 0, 0], torch.tensor([10, 20, 30]) / 255)


def test_palette_with_transparency(tmp_path):
    pil = Image.new("P", (6, 2), 0)
    pil.putpalette([255, 0, 0] + [0, 0, 255] + [0, 0, 0] * 254)
    pil.putpixel((0, 0), 1)  # blue, opaque; everything else is red = transparent index 0
    file = _save(pil, tmp_path / "p.png", transparency=0)
    with Image.open(file) as opened:
        assert opened.mode == "P"
    t = image.load_image(file)
    assert torch.equal(t[0, :, 0, 0], torch.tensor([0.0, 0.0, 1.0]))  # the blue pixel
    assert torch.equal(t[0, :, 1, 5], torch.ones(3))  # transparent red -> white


def test_gif_palette_with_transparency(tmp_path):
    pil = Image.new("P", (4, 4), 0)
    pil.putpalette([0, 255, 0] * 256)
    file = _save(pil, tmp_path / "t.gif", transparency=0)
    assert torch.equal(image.load_image(file), torch.ones(1, 3, 4, 4))


def test_cmyk_jpeg(tmp_path):
    pil = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    file = _save(pil, tmp_path / "cmyk.jpg", quality=95)
    with Image.open(file) as opened:
        assert opened.mode == "CMYK"
    t = image.load_image(file)
    _check_image_tensor(t, 8, 8)
    r, g, b = t[0, :, 4, 4].tolist()
    assert r > 0.9 and g < 0.1 and b < 0.1


def test_16_bit_png_is_rescaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 64 * 4).round().astype(np.uint16).reshape(4, 64)
    file = _save(Image.fromarray(values), tmp_path / "g16.png")
    with Image.open(file) as opened:
        assert opened.mode.startswith("I;16")
    t = image.load_image(file)
    _check_image_tensor(t, 4, 64)
    assert t[0, :, 0, 0].tolist() == [0.0, 0.0, 0.0]
    assert t[0, :, -1, -1].tolist() == [1.0, 1.0, 1.0]
    # mid-grey stays mid-grey (Pillow's own convert would clip it to white)
    middle = values[2, 0] / 65535
    assert abs(float(t[0, 0, 2, 0]) - middle) <= 1 / 255
    assert torch.all(t[0, 0].flatten().diff() >= 0)  # monotone ramp


def test_32_bit_int_and_float_greyscale(tmp_path):
    ints = Image.fromarray(np.array([[0, 1 << 20], [1 << 19, 1 << 18]], dtype=np.int32))
    t = image.load_image(_save(ints, tmp_path / "i32.tif"))
    assert float(t[0, 0, 0, 0]) == 0.0 and float(t[0, 0, 0, 1]) == 1.0  # stretched min..max

    floats = Image.fromarray(np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32))
    t = image.load_image(_save(floats, tmp_path / "f.tif"))
    assert t[0, 0].flatten().tolist() == pytest.approx([0, 1, 128 / 255, 64 / 255])


def test_one_bit(tmp_path):
    pil = Image.new("1", (10, 3), 0)
    pil.putpixel((9, 2), 1)
    t = image.load_image(_save(pil, tmp_path / "bw.png"))
    _check_image_tensor(t, 3, 10)
    assert float(t.sum()) == 3.0  # one white pixel, three channels


def test_to_tensor_accepts_any_mode():
    _check_image_tensor(image.to_tensor(Image.new("RGBA", (3, 2))), 2, 3)
    _check_image_tensor(image.to_tensor(Image.new("I;16", (3, 2))), 2, 3)


def test_exif_orientation_is_applied(tmp_path):
    pil = Image.new("RGB", (40, 20), (0, 0, 0))
    pil.paste((255, 255, 255), (0, 0, 10, 20))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    file = _save(pil, tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    t = image.load_image(file)
    _check_image_tensor(t, 40, 20)  # H and W swapped
    assert float(t[0, :, :10, :].mean()) > 0.9  # the left band is now at the top
    assert float(t[0, :, -10:, :].mean()) < 0.1
    assert image.load_pil(file).size == (20, 40)


# --------------------------------------------------------------------------- resizing


def test_load_image_size_sets_longest_side(tmp_path):
    file = _save(_rgb(40, 20), tmp_path / "wide.png")
    _check_image_tensor(image.load_image(file, size=10), 5, 10)
    _check_image_tensor(image.load_image(file, size=80), 40, 80)  # upscales too
    tall = _save(_rgb(20, 40), tmp_path / "tall.png")
    _check_image_tensor(image.load_image(tall, size=10), 10, 5)


def test_load_image_max_size_downscales_with_a_warning(tmp_path):
    file = _save(_rgb(40, 20), tmp_path / "big.png")
    with pytest.warns(image.ImageDownscaledWarning, match="big.png is 40x20"):
        t = image.load_image(file, max_size=16)
    _check_image_tensor(t, 8, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_image_tensor(image.load_image(file, max_size=None), 20, 40)
        _check_image_tensor(image.load_image(file, size=30, max_size=16), 15, 30)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "512", True])
def test_bad_size_is_refused(tmp_path, bad):
    file = _save(_rgb(), tmp_path / "a.png")
    with pytest.raises(SettingsError, match="size must be a positive"):
        image.load_image(file, size=bad)
    with pytest.raises(SettingsError):
        image.load_image(file, max_size=bad)
    with pytest.raises(SettingsError):
        image.resize(image.to_tensor(_rgb()), bad)


def test_resize_tensors():
    t = image.to_tensor(_rgb(40, 20))
    assert image.resize(t, 10).shape == (1, 3, 5, 10)
    assert image.resize(t[0], 80).shape == (3, 40, 80)  # keeps a 3-D input 3-D
    out = image.resize_to(t, (7, 9))
    assert out.shape == (1, 3, 7, 9) and out.dtype == torch.float32
    assert 0 <= float(out.min()) and float(out.max()) <= 1  # bicubic overshoot clamped
    assert image.resize_to(t, (7, 9), mode="bilinear").shape == (1, 3, 7, 9)
    assert torch.equal(image.resize_to(t, (20, 40)), t)
    flat = torch.full((1, 3, 50, 50), 0.25)
    assert torch.allclose(image.resize(flat, 7), torch.full((1, 3, 7, 7), 0.25))
    with pytest.raises(ImageError, match="shape"):
        image.resize(torch.zeros(2, 3, 4, 4), 2)
    with pytest.raises(SettingsError):
        image.resize_to(t, (0, 5))


# --------------------------------------------------------------------------- tensors <-> PIL


def test_png_round_trip_is_exact_within_one_level(tmp_path):
    t = torch.rand(1, 3, 17, 23)
    saved = image.save_image(t, tmp_path / "round.png")
    back = image.load_image(saved)
    assert back.shape == t.shape
    assert float((back - t).abs().max()) <= 0.5 / 255 + 1e-6


def test_to_pil_accepts_3d_and_4d_and_clamps():
    t = torch.tensor([-1.0, 0.5, 2.0]).view(3, 1, 1).expand(3, 2, 2)
    for tensor in (t, t.unsqueeze(0)):
        pil = image.to_pil(tensor)
        assert pil.mode == "RGB" and pil.size == (2, 2)
        assert pil.getpixel((0, 0)) == (0, 128, 255)
    with pytest.raises(ImageError, match="shape"):
        image.to_pil(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ImageError, match="NaN"):
        image.to_pil(torch.full((3, 2, 2), float("nan")))


def test_image_to_numpy():
    t = torch.rand(1, 3, 5, 7)
    array = image.image_to_numpy(t)
    assert array.shape == (5, 7, 3) and array.dtype == np.float32
    assert np.allclose(array, t[0].permute(1, 2, 0).numpy())
    assert image.image_to_numpy(_rgb(7, 5)).shape == (5, 7, 3)


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("name", ["out.jpg", "OUT.JPEG", "photo.Jpg"])
def test_jpeg_saving(tmp_path, name):
    t = torch.full((1, 3, 16, 16), 0.5)
    saved = image.save_image(t, tmp_path / name, quality=90)
    assert saved == tmp_path / name
    with Image.open(saved) as pil:
        assert pil.format == "JPEG"
    assert torch.allclose(image.load_image(saved), t, atol=3 / 255)


def test_save_accepts_pil_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "c.png"
    assert image.save_image(Image.new("RGBA", (3, 3), (0, 0, 0, 0)), target) == target
    assert torch.equal(image.load_image(target), torch.ones(1, 3, 3, 3))


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "result.png"
    image.save_image(torch.zeros(1, 3, 4, 4), target)
    image.save_image(torch.ones(1, 3, 4, 4), target)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.png"]
    assert torch.equal(image.load_image(target), torch.ones(1, 3, 4, 4))


def test_failed_save_keeps_the_old_file_and_removes_the_temp(tmp_path, monkeypatch):
    target = tmp_path / "result.png"
    image.save_image(torch.zeros(1, 3, 4, 4), target)

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageError, match="cannot write .*result.png: No space left"):
        image.save_image(torch.ones(1, 3, 4, 4), target)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.png"]
    assert torch.equal(image.load_image(target), torch.zeros(1, 3, 4, 4))


def test_protect_refuses_to_overwrite_an_input(tmp_path, monkeypatch):
    source = _save(_rgb(), tmp_path / "content.png")
    before = source.read_bytes()
    t = torch.zeros(1, 3, 4, 4)
    with pytest.raises(ImageError, match="refusing to overwrite"):
        image.save_image(t, source, protect=[source])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(ImageError, match="refusing to overwrite"):
        image.save_image(t, "sub/../content.png", protect=[str(source)])
    link = tmp_path / "link.png"
    os.link(source, link)  # a hard link: another name for the same file
    with pytest.raises(ImageError, match="refusing to overwrite"):
        image.save_image(t, link, protect=[source])
    assert source.read_bytes() == before
    # other outputs are fine
    assert image.save_image(t, tmp_path / "out.png", protect=[source]).exists()


def test_unknown_output_suffix(tmp_path):
    with pytest.raises(ImageError, match=r"'\.bmp'.*\.png, \.jpg, \.jpeg"):
        image.save_image(torch.zeros(1, 3, 2, 2), tmp_path / "out.bmp")
    with pytest.raises(ImageError, match="unknown suffix ''"):
        image.save_image(torch.zeros(1, 3, 2, 2), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_bad_quality_and_folder_target(tmp_path):
    with pytest.raises(SettingsError, match="quality"):
        image.save_image(torch.zeros(1, 3, 2, 2), tmp_path / "a.jpg", quality=0)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match="folder"):
        image.save_image(torch.zeros(1, 3, 2, 2), tmp_path / "dir.png")


# --------------------------------------------------------------------------- bad input files


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file: .*nothere.jpg"):
        image.load_image(tmp_path / "nothere.jpg")


def test_directory(tmp_path):
    with pytest.raises(ImageError, match="is a folder"):
        image.load_pil(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty.png is empty \(0 bytes\)"):
        image.load_image(tmp_path / "empty.png")


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("<html>404 Not Found</html>\n")
    with pytest.raises(ImageError, match="notes.jpg is not an image file Pillow can read"):
        image.load_image(tmp_path / "notes.jpg")


def test_truncated_jpeg(tmp_path):
    data = _jpeg_bytes(_rgb(64, 64), quality=95)
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="half.jpg is truncated or corrupt"):
        image.load_image(tmp_path / "half.jpg")
    assert not getattr(__import__("PIL.ImageFile").ImageFile, "LOAD_TRUNCATED_IMAGES")


def test_truncated_png(tmp_path):
    file = _save(_rgb(64, 64), tmp_path / "full.png")
    data = file.read_bytes()
    (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="half.png is truncated or corrupt"):
        image.load_image(tmp_path / "half.png")


def test_corrupt_bytes(tmp_path):
    data = bytearray(_save(_rgb(64, 64), tmp_path / "ok.png").read_bytes())
    data[100:400] = os.urandom(300)  # garble the compressed pixel data
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(ImageError, match="bad.png"):
        image.load_image(tmp_path / "bad.png")
    (tmp_path / "noise.jpg").write_bytes(os.urandom(2000))
    with pytest.raises(ImageError, match="noise.jpg is not an image file"):
        image.load_image(tmp_path / "noise.jpg")


def _png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` (its pixel data is far too short)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def test_more_than_a_billion_pixels_is_refused(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_png_claiming_size(40_000, 40_000))
    limit_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="bomb.png is 40000x40000 pixels, more than"):
        image.load_image(tmp_path / "bomb.png")
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_huge_jpeg_is_downscaled_quickly(tmp_path):
    # 108 Mpx: above Pillow's decompression-bomb warning threshold (89 Mpx).
    file = _save(Image.new("L", (12000, 9000), 128), tmp_path / "huge.jpg", quality=50)
    limit_before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = image.load_image(file, max_size=1000)
    assert [w.category for w in caught] == [image.ImageDownscaledWarning]
    assert "huge.jpg is 12000x9000" in str(caught[0].message)
    _check_image_tensor(t, 750, 1000)
    assert torch.allclose(t, torch.full_like(t, 128 / 255), atol=2 / 255)
    assert Image.MAX_IMAGE_PIXELS == limit_before
    # draft mode: the JPEG was decoded at 1/8 scale, not at full size
    assert image.load_pil(file, draft_size=1000).size == (1500, 1125)
    _check_image_tensor(image.load_image(file, size=300), 225, 300)
