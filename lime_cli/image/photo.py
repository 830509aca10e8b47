"""The user's photo inside an explanation's JSON (``input.photo``), size-capped.

The pictures (``--out x.png``, the heatmap, the HTML report) are drawn on the
photo the user gave, not only on the model's crop, and they must be drawable
from the JSON alone (``lime-explain render``). So the JSON carries the photo
beside the model's picture (``input.picture``, lossless, what the model saw):

    "photo": {"format": "jpeg" | "png", "width": w, "height": h, "data": base64,
              "downscaled_from": [W, H]}        (only when it was downscaled)

Why capped, and why JPEG: a photo is there to be looked at, and one JSON line
per photo must stay small enough to keep thousands of them (JSON Lines) and to
embed in an HTML page (which carries the JSON too). Photos over
:data:`PHOTO_MAX_PIXELS` (one megapixel: 1182x886 for a 4:3 photo, a
laptop screen's worth) are stored downscaled to it, keeping their aspect ratio
(``downscaled_from`` says so, and the pictures' legends say it too): a detailed
photo then takes about 0.3 MB of base64 (noise, the worst case, 0.7 MB), and a
page of the HTML report with one image stays under 1 MB. Pictures up to
:data:`LOSSLESS_MAX_PIXELS` (256x256: digits, icons, thumbnails, where JPEG's
artefacts would show and PNG is small anyway) are stored as PNG, larger ones as
JPEG at quality :data:`JPEG_QUALITY` (a PNG of a photo is 5-7 times larger and
keeps nothing a person can see under the outlines). The model's own input stays
a lossless PNG in ``input.picture``: the superpixels and weights refer to it.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np

from lime_cli.image.choices import PHOTO_MAX_PIXELS
from lime_cli.image.geometry import Geometry

#: Photos with at most this many pixels (as stored) are PNG, larger ones JPEG.
LOSSLESS_MAX_PIXELS = 1 << 16
JPEG_QUALITY = 85
#: JPEG cannot hold a side longer than this: such a picture (a long strip) is stored as PNG.
JPEG_MAX_SIDE = 65_500


def stored_size(width: int, height: int, max_pixels: int = PHOTO_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) the photo is stored at: its own, or scaled to fit ``max_pixels``."""
    if width * height <= max_pixels:
        return (width, height)
    factor = math.sqrt(max_pixels / (width * height))
    return (max(1, int(width * factor)), max(1, int(height * factor)))


def encode_photo(image: Any, max_pixels: int = PHOTO_MAX_PIXELS) -> dict[str, Any]:
    """A PIL RGB photo as the JSON ``input.photo`` object (see the module's notes)."""
    from PIL import Image

    size = stored_size(image.width, image.height, max_pixels)
    stored = image
    if size != image.size:
        # reducing_gap: a fast box reduction first, then Lanczos (a 24 MP photo: ~0.2 s).
        stored = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    if size[0] * size[1] <= LOSSLESS_MAX_PIXELS or max(size) > JPEG_MAX_SIDE:
        fmt = "png"
        stored.save(buffer, format="PNG", optimize=False)
    else:
        fmt = "jpeg"
        stored.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    out: dict[str, Any] = {"format": fmt, "width": size[0], "height": size[1]}
    if size != image.size:
        out["downscaled_from"] = [image.width, image.height]
    out["data"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    return out


def photo_of(explanation: Any) -> tuple[np.ndarray, Geometry] | None:
    """The stored photo (H, W, 3 uint8) and the geometry in its pixels, or None.

    None when the explanation carries no photo (saved by an older version, or
    with ``--draw-on model``): it is then drawn on the model's picture.
    Raises InputError when the photo or geometry is there but broken.
    """
    import binascii

    from PIL import Image, UnidentifiedImageError

    from lime_cli.errors import InputError

    photo, geometry = explanation.input.get("photo"), explanation.input.get("geometry")
    if not isinstance(photo, dict) or geometry is None:
        return None
    name = explanation.input.get("name", "?")
    try:
        where = Geometry.from_dict(geometry)
        data = base64.b64decode(photo["data"], validate=True)
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (KeyError, TypeError, ValueError, binascii.Error, UnidentifiedImageError,
            OSError) as exc:  # fmt: skip
        raise InputError(f"{name}: the explanation's photo cannot be read ({exc})") from None
    height, width = pixels.shape[:2]
    if (photo.get("width"), photo.get("height")) != (width, height):
        raise InputError(f"{name}: the explanation's photo is not the size it says")
    return pixels, where.scaled_to((width, height))


def crop_words(explanation: Any, times: str = "x") -> str:
    """What the model saw of the photo, in words: "a 224x224 crop of the photo after
    resizing" (without "after resizing" when it was cut from the photo as it is)."""
    geometry = Geometry.from_dict(explanation.input.get("geometry"))
    width, height = geometry.model
    after = " after resizing" if geometry.resized else ""
    return f"a {width}{times}{height} crop of the photo{after}"


def photo_note(explanation: Any) -> str | None:
    """A legend line when the photo was stored downscaled, else None."""
    photo = explanation.input.get("photo")
    if not isinstance(photo, dict) or not photo.get("downscaled_from"):
        return None
    width, height = photo["downscaled_from"]
    return (
        f"The photo is {width}x{height}; shown at {photo.get('width')}x{photo.get('height')} "
        "(stored downscaled)."
    )
