"""Reading image files: formats, orientation, modes, and every way a file can be broken."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from lime_cli.errors import InputError
from lime_cli.image.reading import read_image


def colour_picture(width=30, height=20):
    x = np.linspace(0, 255, width)
    y = np.linspace(0, 255, height)
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = x[None, :]
    pixels[..., 1] = y[:, None]
    pixels[..., 2] = 90
    return Image.fromarray(pixels, "RGB")


def save(tmp_path, image, name, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return str(path)


def png_header_only(width, height):
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("ext", ["jpg", "png", "bmp", "tiff", "webp", "gif"])
def test_common_formats_become_rgb_of_the_same_size(tmp_path, ext):
    path = save(tmp_path, colour_picture(), f"pic.{ext}")
    loaded = read_image(path)
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == (30, 20)
    assert loaded.size == (30, 20)
    assert loaded.format is not None


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    loaded = read_image(str(path))
    assert loaded.frames == 2
    r, g, b = np.asarray(loaded.image)[4, 4]
    assert r > 200 and b < 50


def test_exif_orientation_is_applied(tmp_path):
    picture = colour_picture(30, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = save(tmp_path, picture, "turned.jpg", exif=exif.tobytes())
    loaded = read_image(path)
    assert loaded.image.size == (20, 30)


def test_transparency_is_composited_onto_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    loaded = read_image(save(tmp_path, rgba, "alpha.png"))
    pixels = np.asarray(loaded.image)
    assert tuple(pixels[0, 0]) == (255, 255, 255)
    assert tuple(pixels[1, 1]) == (255, 0, 0)


def test_palette_and_greyscale_images_become_rgb(tmp_path):
    palette = colour_picture().convert("P")
    assert read_image(save(tmp_path, palette, "p.png")).image.mode == "RGB"
    grey = Image.new("L", (5, 5), 77)
    pixels = np.asarray(read_image(save(tmp_path, grey, "l.png")).image)
    assert (pixels == 77).all()


def test_sixteen_bit_greyscale_is_scaled_to_eight_bits(tmp_path):
    values = np.array([[0, 257 * 100], [65535, 257 * 7]], dtype=np.uint16)
    path = save(tmp_path, Image.fromarray(values), "deep.png")
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(read_image(path).image)
    np.testing.assert_array_equal(pixels[..., 0], [[0, 100], [255, 7]])
    assert (pixels[..., 0] == pixels[..., 2]).all()


def test_truncated_file_is_an_input_error(tmp_path):
    buffer = io.BytesIO()
    colour_picture(200, 150).save(buffer, "JPEG")
    data = buffer.getvalue()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        read_image(str(path))


def test_corrupted_png_is_an_input_error(tmp_path):
    buffer = io.BytesIO()
    colour_picture(64, 64).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[60:120] = b"\x00" * 60  # scramble the compressed pixel data
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError):
        read_image(str(path))


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello, this is text\n")
    with pytest.raises(InputError, match="not an image"):
        read_image(str(path))


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_image(str(empty))
    with pytest.raises(InputError, match="no such file"):
        read_image(str(tmp_path / "missing.png"))


def test_zero_size_image_is_an_input_error(tmp_path):
    path = tmp_path / "zero.png"
    path.write_bytes(png_header_only(0, 12))
    with pytest.raises(InputError, match="zero size"):
        read_image(str(path))


def test_more_pixels_than_the_limit_is_refused(tmp_path):
    path = save(tmp_path, colour_picture(100, 80), "big.png")
    with pytest.raises(InputError, match="decompression bomb"):
        read_image(path, max_pixels=5000)
    assert read_image(path, max_pixels=8000).size == (100, 80)


def test_pillow_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(30000, 30000))  # 900 million pixels, a few bytes on disk
    with pytest.raises(InputError, match="decompression bomb"):
        read_image(str(path))
