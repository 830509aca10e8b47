"""Image explanations as pictures: the masked image and the weight heatmap (PNG).

Both pictures show the image the model saw (after resizing and cropping),
scaled up by a whole factor with nearest-neighbour sampling so that the
shorter side is at least ``MIN_SIDE`` pixels (a 224x224 input stays
224x224; an 8x8 one becomes 224x224), unless that would exceed
``MAX_UPSCALED_PIXELS``. Each input pixel becomes a square block,
so superpixel shapes are kept exactly.

- Strongest superpixels (the ``.png``, :func:`strongest_image`): the
  ``num_features`` superpixels of largest |weight| keep their colours, outlined
  solid blue (towards the label) or dashed red (against it) and numbered by
  their rank in the table (:func:`draw_numbers`); the rest is greyed out.
- Masked image (``--positive-only``, lime's ``get_image_and_mask``): the
  ``num_features`` superpixels with the largest positive weights keep their
  colours, with their outlines drawn in yellow; the rest is greyed out.
- Heatmap: the greyscale image tinted per superpixel by its weight, blue for
  towards the label, red for against it, stronger for larger |weight|
  (scaled by the largest |weight|), with every superpixel's outline in grey;
  :func:`with_legend` adds its colour scale below.

Both are drawn a strip of rows at a time, so a picture of tens of megapixels
needs its output (uint8) and a few megabytes, not several float64 copies.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

MIN_SIDE = 224
#: Upscaling stops short of pictures larger than this (16.8 megapixels).
MAX_UPSCALED_PIXELS = 1 << 24
OUTLINE = np.array([255, 214, 0], dtype=np.float64)
TOWARDS = np.array([33, 102, 172], dtype=np.float64)
AGAINST = np.array([178, 24, 43], dtype=np.float64)
GREY_LEVEL = 128.0
HEAT_ALPHA = 0.75

Weights = Sequence[tuple[int, float]]  # (superpixel index, weight)


def scale_factor(height: int, width: int, min_side: int = MIN_SIDE) -> int:
    """The whole factor that brings the shorter side to at least ``min_side``.

    Capped so that the upscaled picture has at most ``MAX_UPSCALED_PIXELS``
    pixels: a picture one pixel high and thousands wide would otherwise
    become gigabytes.
    """
    shorter = max(1, min(height, width))
    wanted = -(-min_side // shorter)
    limit = math.isqrt(MAX_UPSCALED_PIXELS // max(1, height * width))
    return max(1, min(wanted, limit))


#: Output pixels drawn at once.
STRIP_PIXELS = 1 << 20


def masked_image(
    image: np.ndarray, segments: np.ndarray, weights: Weights, num_features: int
) -> np.ndarray:
    """The picture with only the strongest positive superpixels in colour (uint8 RGB)."""
    shown = [j for j, w in sorted(weights, key=lambda jw: -jw[1]) if w > 0][:num_features]
    is_shown = np.zeros(int(segments.max()) + 1, dtype=bool)
    is_shown[shown] = True

    def draw(pixels: np.ndarray, context: np.ndarray, inner: slice, top: int) -> np.ndarray:
        keep = is_shown[context[inner]]
        grey = _luma(pixels)[..., None]
        faded = 0.5 * grey + 0.5 * GREY_LEVEL
        out = np.where(keep[..., None], pixels, faded)
        outline = _inner_outline(np.where(is_shown[context], context, -1))[inner]
        out[outline & keep] = OUTLINE
        return out

    return _draw_in_strips(image, segments, draw)


def heatmap(image: np.ndarray, segments: np.ndarray, weights: Weights) -> np.ndarray:
    """The greyscale picture tinted by every superpixel's weight (uint8 RGB)."""
    d = int(segments.max()) + 1
    per_segment = np.zeros(d)
    for j, w in weights:
        per_segment[j] = w
    top = float(np.abs(per_segment).max())
    strength = per_segment / top if top > 0 else per_segment

    def draw(pixels: np.ndarray, context: np.ndarray, inner: slice, top: int) -> np.ndarray:
        grey = np.repeat(_luma(pixels)[..., None], 3, axis=2)
        s = strength[context[inner]][..., None]
        colour = np.where(s >= 0, TOWARDS, AGAINST)
        alpha = HEAT_ALPHA * np.abs(s)
        out = (1.0 - alpha) * grey + alpha * colour
        edges = _inner_outline(context)[inner]
        out[edges] = 0.5 * out[edges] + 0.5 * GREY_LEVEL
        return out

    return _draw_in_strips(image, segments, draw)


def _draw_in_strips(image: np.ndarray, segments: np.ndarray, draw: Any) -> np.ndarray:
    """The upscaled picture drawn by ``draw`` a strip of output rows at a time.

    ``draw(pixels, context, inner, top)`` gets the strip's float64 pixels and
    the labels of the strip with one more row above and below where the
    picture has them (so outlines at the strip's edges come out right);
    ``context[inner]`` are the strip's own labels, ``top`` the strip's first
    row in the output.
    """
    height, width = segments.shape
    k = scale_factor(height, width)
    big_height, big_width = height * k, width * k
    out = np.empty((big_height, big_width, 3), dtype=np.uint8)
    step = max(1, STRIP_PIXELS // big_width)
    for top in range(0, big_height, step):
        bottom = min(big_height, top + step)
        above, below = max(0, top - 1), min(big_height, bottom + 1)
        pixels = _upscaled_rows(np.asarray(image), k, top, bottom).astype(np.float64)
        context = _upscaled_rows(segments, k, above, below)
        inner = slice(top - above, top - above + bottom - top)
        out[top:bottom] = _to_uint8(draw(pixels, context, inner, top))
    return out


def _upscaled_rows(array: np.ndarray, k: int, top: int, bottom: int) -> np.ndarray:
    """Rows top:bottom of ``array`` scaled up k times by nearest neighbour."""
    if k == 1:
        return array[top:bottom]
    return np.repeat(array[np.arange(top, bottom) // k], k, axis=1)


def png_bytes(pixels: np.ndarray) -> bytes:
    """An RGB uint8 array as PNG file contents."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="RGB").save(
        buffer, format="PNG", optimize=False
    )
    return buffer.getvalue()


def _inner_outline(labels: np.ndarray) -> np.ndarray:
    """Pixels on the inside edge of each region (a neighbour has another label)."""
    edge = np.zeros(labels.shape, dtype=bool)
    diff_v = labels[1:, :] != labels[:-1, :]
    diff_h = labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= diff_v
    edge[:-1, :] |= diff_v
    edge[:, 1:] |= diff_h
    edge[:, :-1] |= diff_h
    return edge


def _luma(pixels: np.ndarray) -> np.ndarray:
    return pixels @ np.array([0.299, 0.587, 0.114])


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


# -- the picture and segment map inside an explanation's JSON ---------------------
#
# ``input.picture``: the explained picture (what the model saw, after resizing,
# cropping and grey conversion) as a lossless PNG, base64-encoded.
# ``input.segment_map``: the superpixel ids, row-major, as little-endian
# unsigned integers of ``dtype`` (uint16 when the ids fit, else uint32),
# zlib-compressed and base64-encoded, with the map's ``shape`` [height, width].


def encode_picture(pixels: np.ndarray) -> dict[str, Any]:
    """An (H, W, 3) uint8 picture as the JSON ``input.picture`` object."""
    import base64

    return {"format": "png", "data": base64.b64encode(png_bytes(pixels)).decode("ascii")}


def encode_segments(segments: np.ndarray) -> dict[str, Any]:
    """An (H, W) integer segment map as the JSON ``input.segment_map`` object."""
    import base64
    import zlib

    dtype = "<u2" if segments.size == 0 or int(segments.max()) < 1 << 16 else "<u4"
    raw = np.ascontiguousarray(segments, dtype=dtype).tobytes()
    return {
        "encoding": "zlib+base64",
        "dtype": "uint16" if dtype == "<u2" else "uint32",
        "shape": [int(segments.shape[0]), int(segments.shape[1])],
        "data": base64.b64encode(zlib.compress(raw, 6)).decode("ascii"),
    }


def picture_of(explanation: Any) -> tuple[np.ndarray, np.ndarray]:
    """The explained picture (H, W, 3 uint8) and segment map (H, W int32) of an explanation.

    Raises InputError when the explanation does not carry them (an image
    explanation saved by an older version, or another modality's).
    """
    import base64
    import binascii
    import zlib

    from PIL import Image, UnidentifiedImageError

    from lime_cli.errors import InputError

    name = explanation.input.get("name", "?")
    picture, segment_map = explanation.input.get("picture"), explanation.input.get("segment_map")
    if not isinstance(picture, dict) or not isinstance(segment_map, dict):
        raise InputError(f"{name}: the explanation carries no picture to draw")
    try:
        with Image.open(io.BytesIO(base64.b64decode(picture["data"], validate=True))) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        height, width = (int(v) for v in segment_map["shape"])
        dtype = {"uint16": "<u2", "uint32": "<u4"}[segment_map["dtype"]]
        raw = zlib.decompress(base64.b64decode(segment_map["data"], validate=True))
        segments = np.frombuffer(raw, dtype=dtype).reshape(height, width).astype(np.int32)
    except (KeyError, TypeError, ValueError, binascii.Error, zlib.error, UnidentifiedImageError,
            OSError) as exc:  # fmt: skip
        raise InputError(f"{name}: the explanation's picture cannot be read ({exc})") from None
    if pixels.shape[:2] != segments.shape:
        raise InputError(f"{name}: the explanation's picture and segment map differ in size")
    return pixels, segments


# -- overlays for the HTML report (transparent PNGs over the embedded picture) ------
#
# The report embeds the explained picture once per image and lays these over it:
# they are mostly transparent, so each label costs a few kilobytes, not another
# copy of the photo.

#: Pixels of a dash along an "against" outline, and of the gap after it.
DASH = 4


def png_bytes_rgba(pixels: np.ndarray) -> bytes:
    """An RGBA uint8 array as PNG file contents."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="RGBA").save(
        buffer, format="PNG", optimize=True
    )
    return buffer.getvalue()


def outline_masks(segments: np.ndarray, marked: Weights) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the outlines of superpixels towards (solid) and against
    (dashed) the label; ``marked`` are (superpixel index, weight) pairs."""
    d = int(segments.max()) + 1 if segments.size else 0
    sign = np.zeros(d, dtype=np.int8)
    for j, w in marked:
        if 0 <= j < d and w != 0:
            sign[j] = 1 if w > 0 else -1
    per_pixel = sign[segments]
    edges = _thick_outline(np.where(per_pixel != 0, segments, -1)) & (per_pixel != 0)
    rows, cols = np.indices(segments.shape)
    dash = ((rows + cols) // DASH) % 2 == 0
    return edges & (per_pixel > 0), edges & (per_pixel < 0) & dash


def _thick_outline(labels: np.ndarray) -> np.ndarray:
    """The inside edge of each region, two pixels wide (a one-pixel dashed line is
    lost on a busy photo)."""
    edges = _inner_outline(labels)
    inward = edges.copy()
    same_v = labels[1:, :] == labels[:-1, :]
    same_h = labels[:, 1:] == labels[:, :-1]
    inward[1:, :] |= edges[:-1, :] & same_v
    inward[:-1, :] |= edges[1:, :] & same_v
    inward[:, 1:] |= edges[:, :-1] & same_h
    inward[:, :-1] |= edges[:, 1:] & same_h
    return inward


#: The veil over superpixels that are not outlined: half-transparent grey.
VEIL = (128, 128, 128, 120)


def outline_overlay(segments: np.ndarray, marked: Weights) -> np.ndarray:
    """(H, W, 4) uint8: towards outlines solid blue, against outlines dashed red,
    the marked superpixels clear and the rest veiled in grey."""
    towards, against = outline_masks(segments, marked)
    out = np.zeros((*segments.shape, 4), dtype=np.uint8)
    d = int(segments.max()) + 1 if segments.size else 0
    is_marked = np.zeros(d, dtype=bool)
    for j, w in marked:
        if 0 <= j < d and w != 0:
            is_marked[j] = True
    out[~is_marked[segments]] = VEIL
    out[towards] = (*TOWARDS.astype(np.uint8), 255)
    out[against] = (*AGAINST.astype(np.uint8), 255)
    return out


def heat_overlay(segments: np.ndarray, weights: Weights) -> np.ndarray:
    """(H, W, 4) uint8: each superpixel tinted by its weight (alpha grows with
    |weight|, scaled by the largest), to lay over the greyscale picture."""
    d = int(segments.max()) + 1 if segments.size else 0
    per_segment = np.zeros(d)
    for j, w in weights:
        if 0 <= j < d:
            per_segment[j] = w
    top = float(np.abs(per_segment).max()) if d else 0.0
    strength = per_segment / top if top > 0 else per_segment
    s = strength[segments]
    out = np.zeros((*segments.shape, 4), dtype=np.uint8)
    out[..., :3] = np.where((s >= 0)[..., None], TOWARDS, AGAINST).astype(np.uint8)
    out[..., 3] = _to_uint8(255 * HEAT_ALPHA * np.abs(s))
    return out


def label_points(segments: np.ndarray, indices: Sequence[int]) -> dict[int, tuple[int, int]]:
    """A (row, column) well inside each listed superpixel, for its number: the
    pixel farthest from the superpixel's edge (its centroid may lie outside it)."""
    from scipy import ndimage

    out: dict[int, tuple[int, int]] = {}
    for j in indices:
        mask = segments == j
        if not mask.any():
            out[j] = (0, 0)
            continue
        rows, cols = np.nonzero(mask)
        top, left = rows.min(), cols.min()
        box = np.pad(mask[top : rows.max() + 1, left : cols.max() + 1], 1)
        distance = ndimage.distance_transform_edt(box)
        r, c = np.unravel_index(int(np.argmax(distance)), distance.shape)
        out[j] = (int(top + r - 1), int(left + c - 1))
    return out


# -- the PNG of the strongest superpixels, numbered, with a legend --------------------


def strongest_image(
    image: np.ndarray, segments: np.ndarray, weights: Weights, num_features: int
) -> tuple[np.ndarray, list[tuple[int, float, tuple[int, int]]]]:
    """The picture with the ``num_features`` superpixels of largest |weight| in colour
    (the rest faded to grey), towards the label outlined solid blue, against it dashed
    red; upscaled as :func:`masked_image`. Also returns (superpixel, weight, (row,
    column) for its number in the upscaled picture) in rank order, for the numbers.
    """
    ranked = [(j, w) for j, w in sorted(weights, key=lambda jw: -abs(jw[1])) if w != 0]
    shown = ranked[:num_features]
    d = int(segments.max()) + 1
    sign = np.zeros(d, dtype=np.int8)
    for j, w in shown:
        sign[j] = 1 if w > 0 else -1
    k = scale_factor(*segments.shape)
    width = 2 * max(1, k // 2)  # whole input pixels when upscaled, at least two

    def draw(pixels: np.ndarray, context: np.ndarray, inner: slice, top: int) -> np.ndarray:
        keep = sign[context[inner]] != 0
        faded = 0.5 * _luma(pixels)[..., None] + 0.5 * GREY_LEVEL
        out = np.where(keep[..., None], pixels, faded)
        marked = np.where(sign[context] != 0, context, -1)
        edges = _thick_outline(marked) if width <= 2 else _inner_outline(marked)
        edges = edges[inner] & keep
        rows = np.arange(pixels.shape[0])[:, None] + top
        cols = np.arange(pixels.shape[1])[None, :]
        dash = ((rows + cols) // (DASH * max(1, k // 2))) % 2 == 0
        per = sign[context[inner]]
        out[edges & (per > 0)] = TOWARDS
        out[edges & (per < 0) & dash] = AGAINST
        return out

    pixels = _draw_in_strips(image, segments, draw)
    points = label_points(segments, [j for j, _ in shown])
    placed = [(j, w, (points[j][0] * k + k // 2, points[j][1] * k + k // 2)) for j, w in shown]
    return pixels, placed


def draw_numbers(pixels: np.ndarray, placed: Sequence[tuple[int, float, tuple[int, int]]]) -> None:
    """Numbers 1, 2, ... in discs (blue towards, red against) at the given points, in place."""
    from PIL import Image, ImageDraw

    height, width = pixels.shape[:2]
    size = max(9, min(height, width) // 18)
    canvas = Image.fromarray(pixels)
    pen = ImageDraw.Draw(canvas)
    font = _font(size)
    for rank, (_, w, (row, col)) in enumerate(placed, start=1):
        radius = size * 0.75
        fill = tuple(int(c) for c in (TOWARDS if w > 0 else AGAINST))
        pen.ellipse((col - radius, row - radius, col + radius, row + radius), fill=fill,
                    outline=(255, 255, 255))  # fmt: skip
        pen.text((col, row), str(rank), fill=(255, 255, 255), font=font, anchor="mm")
    pixels[...] = np.asarray(canvas)


def with_legend(pixels: np.ndarray, lines: Sequence[str], scale: float | None = None) -> np.ndarray:
    """The picture with a white band below it: a colour scale from -scale (against)
    to +scale (towards) when ``scale`` is given, then the text ``lines``."""
    from PIL import Image, ImageDraw

    height, width = pixels.shape[:2]
    size = max(10, min(16, width // 28))
    font = _font(size)
    margin = max(4, width // 40)
    lines = [part for line in lines for part in _wrap(line, font, width - 2 * margin)]
    bar = size if scale is not None else 0
    band = 6 + (bar + size + 10 if scale is not None else 0) + len(lines) * (size + 5) + 4
    canvas = Image.new("RGB", (width, height + band), (255, 255, 255))
    canvas.paste(Image.fromarray(pixels), (0, 0))
    pen = ImageDraw.Draw(canvas)
    y = height + 6
    if scale is not None:
        span = max(1, width - 2 * margin)
        t = np.linspace(-1.0, 1.0, span)
        colour = np.where((t >= 0)[:, None], TOWARDS, AGAINST)
        white = np.full(3, 255.0)
        row = (1 - np.abs(t))[:, None] * white + np.abs(t)[:, None] * colour
        strip = np.repeat(_to_uint8(row)[None, :, :], bar, axis=0)
        canvas.paste(Image.fromarray(strip), (margin, y))
        pen.rectangle((margin, y, margin + span - 1, y + bar - 1), outline=(120, 120, 120))
        y += bar + 2
        pen.text((margin, y), f"{-scale:+.3g} against", fill=(0, 0, 0), font=font)
        pen.text((width // 2, y), "0", fill=(0, 0, 0), font=font, anchor="ma")
        pen.text((width - margin, y), f"towards {scale:+.3g}", fill=(0, 0, 0), font=font,
                 anchor="ra")  # fmt: skip
        y += size + 8
    for line in lines:
        pen.text((margin, y), line, fill=(0, 0, 0), font=font)
        y += size + 5
    return np.asarray(canvas)


def _wrap(line: str, font: Any, width: int) -> list[str]:
    """``line`` cut at spaces into pieces no wider than ``width`` pixels."""
    out: list[str] = []
    for word in line.split(" "):
        if out and font.getlength(f"{out[-1]} {word}") <= width:
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    return out


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: one small bitmap font
        return ImageFont.load_default()
