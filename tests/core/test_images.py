"""The upload loader on every kind of bad or awkward file a user can throw at it."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from advdemo.core import images
from advdemo.core.errors import InputError
from advdemo.core.images import MAX_PIXELS, load_image, to_pil, to_tensor


def _png_with_declared_size(path: Path, width: int, height: int) -> Path:
    """A tiny valid PNG whose header then claims width × height (a decompression bomb)."""
    Image.new("RGB", (32, 32), "red").save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length + b"IHDR"
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def photo() -> Image.Image:
    return load_image(images.asset("chelsea.png"))


def test_sample_photo_loads_as_rgb(photo):
    assert photo.mode == "RGB" and photo.size == (451, 300)


# (file maker, expected message fragment) — each bad file must be refused with a clear message
def _truncated(tmp: Path, photo: Image.Image) -> Path:
    full = tmp / "full.png"
    photo.save(full)
    cut = tmp / "truncated.png"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return cut


def _zero(tmp: Path, photo: Image.Image) -> Path:
    (tmp / "zero.png").write_bytes(b"")
    return tmp / "zero.png"


def _one_pixel(tmp: Path, photo: Image.Image) -> Path:
    Image.new("RGB", (1, 1)).save(tmp / "one.png")
    return tmp / "one.png"


def _bomb(tmp: Path, photo: Image.Image) -> Path:
    return _png_with_declared_size(tmp / "bomb.png", 60_000, 60_000)


def _too_wide(tmp: Path, photo: Image.Image) -> Path:
    return _png_with_declared_size(tmp / "wide.png", 20_000, 100)


def _text(tmp: Path, photo: Image.Image) -> Path:
    (tmp / "notes.png").write_text("this is not an image, only text with a .png name\n")
    return tmp / "notes.png"


BAD_FILES = {
    "truncated": (_truncated, "truncated or corrupt"),
    "zero-byte": (_zero, "empty"),
    "1x1": (_one_pixel, "at least 16 pixels"),
    "decompression bomb": (_bomb, "megapixels"),
    "huge side": (_too_wide, "limit"),
    "text named .png": (_text, "not an image"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_files_are_refused_with_a_clear_message(kind, tmp_path, photo):
    make, fragment = BAD_FILES[kind]
    path = make(tmp_path, photo)
    with pytest.raises(InputError, match=fragment):
        load_image(path)
    with pytest.raises(InputError):
        load_image(str(path))  # the same through a str path, as Gradio passes it


def test_a_dict_with_a_path_is_not_opened(tmp_path, photo):
    """A FileData-like dict from the API carries an unchecked path: refused, never opened."""
    path = tmp_path / "server.png"
    photo.save(path)
    with pytest.raises(InputError, match="Expected an image, got dict"):
        load_image({"path": str(path)})


def test_confined_accepts_only_files_inside_the_roots(tmp_path, photo):
    root, outside = tmp_path / "uploads", tmp_path / "elsewhere"
    (root / "abc").mkdir(parents=True)
    outside.mkdir()
    inside = root / "abc" / "photo.png"
    photo.save(inside)
    secret = outside / "secret.png"
    photo.save(secret)
    (root / "abc" / "link.png").symlink_to(secret)
    (root / "abc" / "dir").mkdir()
    assert images.confined(str(inside), [root]) == inside.resolve()
    assert images.confined(inside, [outside, root]) == inside.resolve()
    refused = [
        secret,  # outside every root
        root / "abc" / "link.png",  # a link that leads out
        root / ".." / "elsewhere" / "secret.png",  # climbing out
        root / "abc" / "missing.png",
        root / "abc" / "dir",  # not a file
        "",
        "bad\x00name",
        None,
        42,
    ]
    for path in refused:
        with pytest.raises(InputError) as caught:
            images.confined(path, [root])
        assert str(caught.value) == images.NOT_AN_UPLOAD, path


def test_uploads_leave_the_process_wide_warning_filters_alone(tmp_path, monkeypatch):
    """Uploads load in many request threads at once, and warnings.catch_warnings() swaps the
    process's one filter list (not thread-safe: another thread's filters could stay in place
    for good), so the loader must not touch it: PIL opens every upload under the process's own
    filters. An image in the range PIL only warns about is still refused from its header."""
    seen = []
    real_open = Image.open

    def recording_open(*args, **kwargs):
        seen.append(list(warnings.filters))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Image, "open", recording_open)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", MAX_PIXELS)  # as images.limit_decoding sets
    fine = tmp_path / "fine.png"
    Image.new("RGB", (64, 64), "blue").save(fine)
    warned = _png_with_declared_size(tmp_path / "warned.png", 7_500, 7_000)  # 52.5 Mpixel
    with pytest.warns(Image.DecompressionBombWarning):  # PIL's own, from Image.open
        before = list(warnings.filters)
        load_image(fine)
        with pytest.raises(InputError, match="declares more than 40 megapixels"):
            load_image(warned)
    assert seen == [before, before]


def test_cmyk_jpeg_is_converted(tmp_path, photo):
    path = tmp_path / "cmyk.jpg"
    photo.convert("CMYK").save(path, quality=95)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == photo.size
    assert np.abs(np.asarray(out, float) - np.asarray(photo, float)).mean() < 12


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    out = np.asarray(load_image(path))
    assert out.shape == (64, 64, 3)
    assert out.min() == 0 and out.max() == 255  # the full range survives, not clipped to white


def test_palette_with_alpha_is_flattened_on_white(tmp_path):
    img = Image.new("P", (40, 40), 0)
    img.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    img.paste(1, (20, 0, 40, 40))
    img.info["transparency"] = 0  # the left half (index 0, red) is fully transparent
    path = tmp_path / "palette.png"
    img.save(path, transparency=0)
    out = np.asarray(load_image(path))
    assert tuple(out[5, 5]) == (255, 255, 255)  # transparent -> white background
    assert tuple(out[5, 30]) == (0, 0, 255)


def test_animated_gif_takes_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "lime", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = np.asarray(load_image(path))
    assert out[..., 0].mean() > 200 and out[..., 1].mean() < 50  # red, the first frame


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (60, 30), "white")
    img.paste((0, 0, 0), (0, 0, 10, 30))  # a black stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    out = load_image(path)
    assert out.size == (30, 60)
    assert np.asarray(out)[:10].mean() < 60  # the stripe is now at the top


@pytest.mark.parametrize(
    "array, fragment",
    [
        (np.full((32, 32, 3), np.nan, np.float32), "NaN"),
        (np.zeros((32, 32, 5), np.uint8), "shape"),
        (np.zeros((8, 8, 3), np.uint8), "at least 16"),
    ],
)
def test_bad_arrays(array, fragment):
    with pytest.raises(InputError, match=fragment):
        load_image(array)


@pytest.mark.parametrize("value", [None, 3.5, b"bytes", ["list"]])
def test_non_images(value):
    with pytest.raises(InputError):
        load_image(value)


def test_arrays_of_each_dtype_become_the_same_image():
    base = np.random.default_rng(0).integers(0, 256, (20, 24, 3)).astype(np.uint8)
    as_float = base.astype(np.float32) / 255
    as_u16 = base.astype(np.uint16) * 257
    for variant in (base, as_float, as_u16):
        assert np.array_equal(np.asarray(load_image(variant)), base)
    grey = load_image(base[..., 0])
    assert grey.mode == "RGB"


def test_tensor_round_trip_is_exact_at_8_bits(photo):
    x = to_tensor(photo)
    assert x.shape == (1, 3, 300, 451) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    assert np.array_equal(np.asarray(to_pil(x)), np.asarray(photo))
    assert torch.equal(images.quantize_8bit(x), x)


@pytest.mark.parametrize("size", [(333, 517), (517, 333), (256, 256), (31, 1000)])
@pytest.mark.parametrize("long_side", [256, 512])
def test_resize_to_multiple_keeps_aspect(size, long_side):
    h, w = size
    out = images.resize_to_multiple(torch.rand(1, 3, h, w), long_side)
    oh, ow = out.shape[-2:]
    assert oh % 4 == 0 and ow % 4 == 0
    assert max(oh, ow) == pytest.approx(long_side, abs=4)
    assert ow / oh == pytest.approx(w / h, rel=0.12 if min(h, w) < 64 else 0.02)
