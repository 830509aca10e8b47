"""Reading image files with Pillow into 8-bit RGB, with clear errors for broken ones.

Why a module of its own: image files fail in many ways (truncated, corrupted,
not an image, zero-sized, decompression bombs, broken EXIF), and every one of
them must become one line and exit code 3 instead of a Pillow traceback.

Conversions, so every model sees the same kind of picture:

- EXIF orientation is applied (a portrait photo taken sideways stands upright).
- Animated GIF, WebP and multi-page TIFF: the first frame.
- Transparency (RGBA, LA, palette with transparency) is composited onto white.
- 16-bit and 32-bit integer greyscale (modes ``I;16*`` and ``I``) are scaled
  from 0..65535 to 0..255; 32-bit float greyscale (mode ``F``) is clipped to
  0..255; everything else goes through Pillow's own conversion to RGB.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from lime_cli.errors import InputError
from lime_cli.inputs import DEFAULT_MAX_PIXELS, STDIN, display_name, read_bytes

__all__ = ["DEFAULT_MAX_PIXELS"]

#: Background that transparent pixels are composited onto.
BACKGROUND = (255, 255, 255)

#: Errors Pillow raises for files it cannot parse (besides its own classes).
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError)


@dataclass
class LoadedImage:
    """An input picture as 8-bit RGB, with what was read from the file."""

    image: Any  # PIL.Image.Image in mode RGB
    name: str
    data: bytes
    format: str | None
    mode: str
    size: tuple[int, int]
    frames: int

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "mode": self.mode,
            "width": self.size[0],
            "height": self.size[1],
            "frames": self.frames,
        }


def read_image(source: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read ``source`` (a path, or ``-`` for stdin) as an upright 8-bit RGB image.

    Raises :class:`InputError` for missing, empty, truncated, corrupted,
    non-image, zero-sized and oversized (more than ``max_pixels``) files.
    """
    name = "stdin" if source == STDIN else display_name(source)
    data = read_bytes(source, max_bytes=max_file_bytes(max_pixels), limit_name="--max-pixels")
    return read_image_bytes(data, name, max_pixels=max_pixels)


def max_file_bytes(max_pixels: int) -> int:
    """The largest image file read for a pixel limit: 8 bytes a pixel and 16 MB more.

    Uncompressed pixels take at most 4 bytes in the modes Pillow reads, so
    this leaves room for metadata and further frames while a huge file (or a
    never-ending stream) is refused before it fills the memory.
    """
    return 8 * max_pixels + (16 << 20)


def read_image_bytes(
    data: bytes, name: str, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """Decode the bytes of an image file (see :func:`read_image`)."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InputError(f"{name}: the file is empty")
    with warnings.catch_warnings(), _pillow_pixel_limit(max_pixels):
        # Pillow warns about broken EXIF blocks, odd palettes and sizes over the
        # limit (checked below): the one line on stderr is the error, if any.
        warnings.simplefilter("ignore")
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            declared = _declared_size(data)
            if declared is not None and 0 in declared:
                raise InputError(
                    f"{name}: the image has zero size ({declared[0]}x{declared[1]})"
                ) from None
            raise InputError(
                f"{name}: not an image Pillow can read (unknown format or a corrupted header)"
            ) from None
        except Image.DecompressionBombError as exc:
            raise _bomb(name, exc, max_pixels) from None
        except _DECODE_ERRORS as exc:
            raise InputError(f"{name}: cannot read the image ({_reason(exc)})") from None
        width, height = im.size
        if width <= 0 or height <= 0:
            raise InputError(f"{name}: the image has zero size ({width}x{height})")
        if width * height > max_pixels:
            raise InputError(
                f"{name}: {width}x{height} = {width * height} pixels exceeds the limit of "
                f"{max_pixels} (a guard against decompression bombs; raise it with --max-pixels)"
            )
        fmt, mode = im.format, im.mode
        try:
            frames = int(getattr(im, "n_frames", 1) or 1)
            im.seek(0)
            im.load()
            rgb = _to_rgb(_upright(im))
        except Image.DecompressionBombError as exc:
            raise _bomb(name, exc, max_pixels) from None
        except MemoryError:
            raise InputError(f"{name}: not enough memory to decode the image") from None
        except _DECODE_ERRORS as exc:
            raise InputError(f"{name}: cannot decode the image ({_reason(exc)})") from None
    if rgb.width <= 0 or rgb.height <= 0:
        raise InputError(f"{name}: the image has zero size ({rgb.width}x{rgb.height})")
    return LoadedImage(rgb, name, data, fmt, mode, (width, height), frames)


@contextmanager
def _pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
    """Pillow's own decompression-bomb limit follows ``max_pixels`` while decoding.

    Pillow refuses images over twice its global limit before lime-explain can
    look at them, so without this a raised ``--max-pixels`` would not be
    honoured (and a lowered one would be checked only after Pillow's).
    """
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _bomb(name: str, exc: BaseException, max_pixels: int) -> InputError:
    """The error for an image Pillow refused as too large."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1))} pixels" if found else "more pixels"
    return InputError(
        f"{name}: its header declares {size}, over the limit of {max_pixels} "
        "(a guard against decompression bombs; raise it with --max-pixels)"
    )


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF or BMP header, which Pillow hides when they are 0."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if "truncated" in text.lower():
        return "the file is truncated"
    return text


def _upright(im: Any) -> Any:
    """Apply the EXIF orientation tag; a broken EXIF block leaves the image as stored."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(im)
    except (SyntaxError, ValueError, TypeError, KeyError, struct.error):
        return im


def _to_rgb(im: Any) -> Any:
    """8-bit RGB, compositing transparency onto white and scaling high bit depths."""
    from PIL import Image

    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        pixels = np.asarray(im, dtype=np.float64) / 257.0
        grey = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "F":
        grey = np.clip(np.rint(np.asarray(im, dtype=np.float64)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, im).convert("RGB")
    if mode == "RGB":
        return im
    return im.convert("RGB")
