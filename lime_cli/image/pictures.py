"""Image explanations as pictures: the masked image and the weight heatmap (PNG).

What they are drawn on (a :class:`Canvas`):

- the user's photo (the default, :func:`photo_canvas`): the photo at its own
  size (as stored in the JSON, see :mod:`lime_cli.image.photo`), every photo
  pixel showing the superpixel of the model pixel it became (nearest
  neighbour through the resize and crop, :mod:`lime_cli.image.geometry`);
  parts of the photo the model never saw (cut by a centre crop) are darkened;
- the model's picture (``--draw-on model``, or an explanation without a photo,
  :func:`model_canvas`): the image the model saw, after resizing and cropping.

Either is scaled up by a whole factor with nearest-neighbour sampling so
that the shorter side is at least ``MIN_SIDE`` pixels (a 224x224 input stays
224x224; an 8x8 one becomes 224x224), unless that would exceed
``MAX_UPSCALED_PIXELS``; each pixel becomes a square block, so superpixel
shapes are kept exactly. Outlines, dashes, numbers and the legend grow with
the canvas (:func:`line_width`, :func:`draw_numbers`, :func:`with_legend`), so
they read the same on a 224-pixel picture and on a 4000-pixel photo.

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

All are drawn a strip of rows at a time, so a picture of tens of megapixels
needs its output (uint8) and a few megabytes, not several float64 copies.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lime_cli.image.geometry import Geometry

MIN_SIDE = 224
#: Upscaling stops short of pictures larger than this (16.8 megapixels).
MAX_UPSCALED_PIXELS = 1 << 24
OUTLINE = np.array([255, 214, 0], dtype=np.float64)
TOWARDS = np.array([33, 102, 172], dtype=np.float64)
AGAINST = np.array([178, 24, 43], dtype=np.float64)
GREY_LEVEL = 128.0
HEAT_ALPHA = 0.75
#: Photo pixels the model never saw: grey, at this share of their brightness,
#: over a dark level (darker than the greyed-out superpixels, so the two differ).
UNSEEN_SHARE = 0.35
UNSEEN_LEVEL = 30.0
#: The line along the edge of the model's view, on the unseen side.
VIEW_EDGE = np.array([235, 235, 235], dtype=np.float64)
#: Pixels of a dash along an "against" outline on the model's picture, and of the gap after it.
DASH = 4

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
STRIP_PIXELS = 1 << 18


@dataclass(frozen=True)
class Canvas:
    """Where an explanation is drawn, and which superpixel each output pixel shows.

    ``image`` (h, w, 3 uint8: the photo, or the model's picture) is drawn ``k``
    times larger by nearest neighbour. Output row r shows row ``label_rows[r]``
    of the superpixel map and output column c its column ``label_cols[c]``;
    -1 where the model saw nothing there (outside its crop). ``line`` is the
    outline width and ``dash`` the dash length, in output pixels.
    ``geometry`` (photo canvases) says where the model's picture lies, in the
    image's pixels.
    """

    image: np.ndarray
    k: int
    label_rows: np.ndarray
    label_cols: np.ndarray
    line: int
    dash: int
    geometry: Geometry | None = None

    @property
    def height(self) -> int:
        return int(self.image.shape[0]) * self.k

    @property
    def width(self) -> int:
        return int(self.image.shape[1]) * self.k

    @property
    def crops(self) -> bool:
        """True when some of the picture was never seen by the model (it is darkened)."""
        return bool((self.label_rows < 0).any() or (self.label_cols < 0).any())

    def point(self, row: int, col: int) -> tuple[int, int]:
        """(row, column) in the output of the centre of superpixel-map pixel (row, col)."""
        if self.geometry is None:
            return (row * self.k + self.k // 2, col * self.k + self.k // 2)
        y, x = self.geometry.point(row, col, (self.width, self.height))
        return (min(self.height - 1, int(y)), min(self.width - 1, int(x)))


def line_width(height: int, width: int) -> int:
    """Outline width in pixels for a canvas: 1/200 of its shorter side, at least 2
    (224x224: 2; a 4000x3000 photo: 15), so outlines keep their look when a large
    photo is shown scaled down to a screen."""
    return max(2, round(min(height, width) / 200))


def model_canvas(image: np.ndarray, segments: np.ndarray) -> Canvas:
    """The model's picture, scaled up by :func:`scale_factor` (as before photos were drawn)."""
    height, width = segments.shape
    k = scale_factor(height, width)
    rows = np.arange(height * k) // k
    cols = np.arange(width * k) // k
    return Canvas(np.asarray(image), k, rows, cols, line=2, dash=DASH * max(1, k // 2))


def photo_canvas(photo: np.ndarray, geometry: Geometry) -> Canvas:
    """The photo (H, W, 3 uint8) at its own size (scaled up by :func:`scale_factor`
    when it is small), showing superpixels through ``geometry`` (in its pixels)."""
    height, width = photo.shape[:2]
    k = scale_factor(height, width)
    rows, cols = geometry.index_maps((width * k, height * k))
    line = line_width(height * k, width * k)
    return Canvas(photo, k, rows, cols, line=line, dash=max(DASH, 2 * line), geometry=geometry)


def canvas_labels(canvas: Canvas, segments: np.ndarray) -> np.ndarray:
    """The superpixel map as the canvas shows it (int32, output size), -1 where unseen.

    For pictures of screen size (the HTML report's overlays); the PNGs are drawn
    a strip at a time by :func:`_draw_in_strips` instead.
    """
    extended, rows, cols = _extended(canvas, segments, unseen=-1)
    return extended[rows[:, None], cols[None, :]]


def _extended(
    canvas: Canvas, segments: np.ndarray, unseen: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The map with one more row and column holding ``unseen``, and the canvas's
    indices into it (-1 pointing at that row or column)."""
    height, width = segments.shape
    extended = np.full((height + 1, width + 1), unseen, dtype=np.int32)
    extended[:height, :width] = segments
    rows = np.where(canvas.label_rows < 0, height, canvas.label_rows)
    cols = np.where(canvas.label_cols < 0, width, canvas.label_cols)
    return extended, rows, cols


def masked_image(
    image: np.ndarray,
    segments: np.ndarray,
    weights: Weights,
    num_features: int,
    canvas: Canvas | None = None,
) -> np.ndarray:
    """The picture with only the strongest positive superpixels in colour (uint8 RGB)."""
    canvas = canvas or model_canvas(image, segments)
    shown = [j for j, w in sorted(weights, key=lambda jw: -jw[1]) if w > 0][:num_features]
    d = int(segments.max()) + 1
    is_shown = np.zeros(d + 1, dtype=bool)  # [d]: outside the model's view
    is_shown[shown] = True
    thin = max(1, canvas.line // 2)

    def draw(pixels: np.ndarray, context: np.ndarray, inner: slice, top: int) -> np.ndarray:
        labels = context[inner]
        keep = is_shown[labels]
        grey = _luma(pixels)[..., None]
        faded = 0.5 * grey + 0.5 * GREY_LEVEL
        out = np.where(keep[..., None], pixels, faded)
        outline = _outline(np.where(is_shown[context], context, -1), thin)[inner]
        out[outline & keep] = OUTLINE
        _darken_unseen(out, grey, canvas, top, thin)
        return out

    return _draw_in_strips(canvas, segments, draw)


def heatmap(
    image: np.ndarray, segments: np.ndarray, weights: Weights, canvas: Canvas | None = None
) -> np.ndarray:
    """The greyscale picture tinted by every superpixel's weight (uint8 RGB)."""
    canvas = canvas or model_canvas(image, segments)
    d = int(segments.max()) + 1
    per_segment = np.zeros(d + 1)  # [d]: outside the model's view
    for j, w in weights:
        per_segment[j] = w
    top = float(np.abs(per_segment).max())
    strength = per_segment / top if top > 0 else per_segment
    thin = max(1, canvas.line // 2)

    def draw(pixels: np.ndarray, context: np.ndarray, inner: slice, top: int) -> np.ndarray:
        labels = context[inner]
        luma = _luma(pixels)[..., None]
        grey = np.repeat(luma, 3, axis=2)
        s = strength[labels][..., None]
        colour = np.where(s >= 0, TOWARDS, AGAINST)
        alpha = HEAT_ALPHA * np.abs(s)
        out = (1.0 - alpha) * grey + alpha * colour
        edges = _outline(context, thin)[inner]
        out[edges] = 0.5 * out[edges] + 0.5 * GREY_LEVEL
        _darken_unseen(out, luma, canvas, top, thin)
        return out

    return _draw_in_strips(canvas, segments, draw)


def _darken_unseen(out: np.ndarray, luma: np.ndarray, canvas: Canvas, top: int, width: int) -> None:
    """Photo pixels the model never saw become dark grey, in place, with a light line
    ``width`` pixels wide along the edge of the model's view (on the unseen side).

    The view is a rectangle of output rows and columns, so both are found from
    the canvas's per-row and per-column maps, without a full-size search.
    """
    if not canvas.crops:
        return
    n = out.shape[0]
    row_seen = canvas.label_rows[top : top + n] >= 0
    col_seen = canvas.label_cols >= 0
    unseen = ~(row_seen[:, None] & col_seen[None, :])
    if not unseen.any():
        return
    dark = UNSEEN_SHARE * luma[unseen] + (1 - UNSEEN_SHARE) * UNSEEN_LEVEL
    out[unseen] = dark
    near_rows = _near(canvas.label_rows >= 0, width)[top : top + n]
    near_cols = _near(col_seen, width)
    edge = (row_seen[:, None] & near_cols[None, :]) | (near_rows[:, None] & col_seen[None, :])
    out[edge & unseen] = VIEW_EDGE


def _near(seen: np.ndarray, width: int) -> np.ndarray:
    """True within ``width`` places of a True in the 1-D ``seen``."""
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(seen.astype(np.uint8), 2 * width + 1, mode="constant") > 0


def _draw_in_strips(canvas: Canvas, segments: np.ndarray, draw: Any) -> np.ndarray:
    """The canvas drawn by ``draw`` a strip of output rows at a time.

    ``draw(pixels, context, inner, top)`` gets the strip's float64 pixels and
    the superpixel labels of the strip with ``canvas.line`` more rows above and
    below where the picture has them (so outlines at the strip's edges come
    out right); ``context[inner]`` are the strip's own labels, ``top`` the
    strip's first row in the output. Pixels the model never saw have the
    label ``segments.max() + 1``.
    """
    d = int(segments.max()) + 1
    extended, rows, cols = _extended(canvas, segments, unseen=d)
    big_height, big_width = canvas.height, canvas.width
    out = np.empty((big_height, big_width, 3), dtype=np.uint8)
    step = max(1, STRIP_PIXELS // big_width)
    margin = max(1, canvas.line)
    for top in range(0, big_height, step):
        bottom = min(big_height, top + step)
        above, below = max(0, top - margin), min(big_height, bottom + margin)
        pixels = _upscaled_rows(canvas.image, canvas.k, top, bottom).astype(np.float64)
        context = extended[rows[above:below, None], cols[None, :]]
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


def _outline(labels: np.ndarray, width: int) -> np.ndarray:
    """Pixels within ``width`` of their region's inside edge: another label lies at
    most ``width`` pixels away along the row or the column (``width`` 1: as
    :func:`_inner_outline`). Minimum and maximum filters: the cost does not grow
    with the width."""
    if width <= 1:
        return _inner_outline(labels)
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    size = 2 * width + 1
    edge = np.zeros(labels.shape, dtype=bool)
    for axis in (0, 1):
        high = maximum_filter1d(labels, size, axis=axis, mode="nearest")
        low = minimum_filter1d(labels, size, axis=axis, mode="nearest")
        edge |= high != low
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


def png_bytes_rgba(pixels: np.ndarray) -> bytes:
    """An RGBA uint8 array as PNG file contents."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="RGBA").save(
        buffer, format="PNG", optimize=True
    )
    return buffer.getvalue()


def _per_label(labels: np.ndarray, pairs: Weights, count: int | None) -> tuple[np.ndarray, int]:
    """Weights per label as an array with one more entry (0) for unseen pixels (-1 in
    ``labels``), and that entry's index; ``count`` labels (default: the map's)."""
    d = count if count is not None else (int(labels.max()) + 1 if labels.size else 0)
    d = max(d, 0)
    values = np.zeros(d + 1)
    for j, w in pairs:
        if 0 <= j < d:
            values[j] = w
    return values, d


def outline_masks(
    segments: np.ndarray,
    marked: Weights,
    *,
    line: int = 2,
    dash: int = DASH,
    count: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the outlines of superpixels towards (solid) and against
    (dashed) the label; ``marked`` are (superpixel index, weight) pairs; -1 in
    ``segments``: not seen by the model. Outlines are ``line`` pixels wide (two
    by default: a one-pixel dashed line is lost on a busy photo)."""
    values, d = _per_label(segments, marked, count)
    index = np.where(segments < 0, d, segments)
    per_pixel = np.sign(values)[index]
    edges = _outline(np.where(per_pixel != 0, index, -1), line) & (per_pixel != 0)
    rows, cols = np.indices(segments.shape)
    dashes = ((rows + cols) // dash) % 2 == 0
    return edges & (per_pixel > 0), edges & (per_pixel < 0) & dashes


#: The veil over superpixels that are not outlined: half-transparent grey; and
#: over the parts of a photo the model never saw: darker.
VEIL = (128, 128, 128, 120)
UNSEEN_VEIL = (15, 15, 15, 200)


def outline_overlay(
    segments: np.ndarray,
    marked: Weights,
    *,
    line: int = 2,
    dash: int = DASH,
    count: int | None = None,
) -> np.ndarray:
    """(H, W, 4) uint8: towards outlines solid blue, against outlines dashed red,
    the marked superpixels clear, the rest veiled in grey and what the model never
    saw (-1 in ``segments``) veiled darker."""
    towards, against = outline_masks(segments, marked, line=line, dash=dash, count=count)
    out = np.zeros((*segments.shape, 4), dtype=np.uint8)
    values, d = _per_label(segments, [(j, 1.0) for j, w in marked if w != 0], count)
    out[values[np.where(segments < 0, d, segments)] == 0] = VEIL
    _veil_unseen(out, segments, max(1, line // 2))
    out[towards] = (*TOWARDS.astype(np.uint8), 255)
    out[against] = (*AGAINST.astype(np.uint8), 255)
    return out


def heat_overlay(
    segments: np.ndarray, weights: Weights, *, line: int = 2, count: int | None = None
) -> np.ndarray:
    """(H, W, 4) uint8: each superpixel tinted by its weight (alpha grows with
    |weight|, scaled by the largest), to lay over the greyscale picture; what the
    model never saw (-1 in ``segments``) veiled dark, edged by a line half ``line``
    wide."""
    values, d = _per_label(segments, weights, count)
    top = float(np.abs(values).max()) if d else 0.0
    strength = values / top if top > 0 else values
    s = strength[np.where(segments < 0, d, segments)]
    out = np.zeros((*segments.shape, 4), dtype=np.uint8)
    out[..., :3] = np.where((s >= 0)[..., None], TOWARDS, AGAINST).astype(np.uint8)
    out[..., 3] = _to_uint8(255 * HEAT_ALPHA * np.abs(s))
    _veil_unseen(out, segments, max(1, line // 2))
    return out


def _veil_unseen(out: np.ndarray, segments: np.ndarray, width: int) -> None:
    """What the model never saw (-1) veiled dark, with a light line ``width`` pixels
    wide along the edge of its view, in place."""
    unseen = segments < 0
    if unseen.any():
        out[unseen] = UNSEEN_VEIL
        out[_outline(unseen.astype(np.int8), width) & unseen] = (*VIEW_EDGE.astype(np.uint8), 255)


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
    image: np.ndarray,
    segments: np.ndarray,
    weights: Weights,
    num_features: int,
    canvas: Canvas | None = None,
) -> tuple[np.ndarray, list[tuple[int, float, tuple[int, int]]]]:
    """The picture with the ``num_features`` superpixels of largest |weight| in colour
    (the rest faded to grey), towards the label outlined solid blue, against it dashed
    red; drawn on ``canvas`` (default: the model's picture, upscaled as
    :func:`masked_image`). Also returns (superpixel, weight, (row, column) for its
    number in the output) in rank order, for the numbers.
    """
    canvas = canvas or model_canvas(image, segments)
    ranked = [(j, w) for j, w in sorted(weights, key=lambda jw: -abs(jw[1])) if w != 0]
    shown = ranked[:num_features]
    d = int(segments.max()) + 1
    sign = np.zeros(d + 1, dtype=np.int8)  # [d]: outside the model's view
    for j, w in shown:
        sign[j] = 1 if w > 0 else -1

    def draw(pixels: np.ndarray, context: np.ndarray, inner: slice, top: int) -> np.ndarray:
        labels = context[inner]
        keep = sign[labels] != 0
        luma = _luma(pixels)[..., None]
        faded = 0.5 * luma + 0.5 * GREY_LEVEL
        out = np.where(keep[..., None], pixels, faded)
        marked = np.where(sign[context] != 0, context, -1)
        edges = _outline(marked, canvas.line)[inner] & keep
        rows = np.arange(pixels.shape[0])[:, None] + top
        cols = np.arange(pixels.shape[1])[None, :]
        dash = ((rows + cols) // canvas.dash) % 2 == 0
        per = sign[labels]
        out[edges & (per > 0)] = TOWARDS
        out[edges & (per < 0) & dash] = AGAINST
        _darken_unseen(out, luma, canvas, top, max(1, canvas.line // 2))
        return out

    pixels = _draw_in_strips(canvas, segments, draw)
    points = label_points(segments, [j for j, _ in shown])
    placed = [(j, w, canvas.point(*points[j])) for j, w in shown]
    return pixels, placed


def draw_numbers(pixels: np.ndarray, placed: Sequence[tuple[int, float, tuple[int, int]]]) -> None:
    """Numbers 1, 2, ... in discs (blue towards, red against) at the given points, in place.

    The text is 1/18 of the picture's shorter side (at least 9 pixels), so numbers
    read the same on a 224-pixel picture and on a 4000-pixel photo. Each number is
    drawn on a patch around it, not on a copy of the whole picture.
    """
    from PIL import Image, ImageDraw

    height, width = pixels.shape[:2]
    size = max(9, min(height, width) // 18)
    font = _font(size)
    radius = size * 0.75
    for rank, (_, w, (row, col)) in enumerate(placed, start=1):
        text = str(rank)
        reach = int(math.ceil(max(radius, font.getlength(text) / 2, size))) + 2
        top, left = max(0, row - reach), max(0, col - reach)
        bottom, right = min(height, row + reach + 1), min(width, col + reach + 1)
        if top >= bottom or left >= right:
            continue
        patch = Image.fromarray(np.ascontiguousarray(pixels[top:bottom, left:right]))
        pen = ImageDraw.Draw(patch)
        y, x = row - top, col - left
        fill = tuple(int(c) for c in (TOWARDS if w > 0 else AGAINST))
        pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill,
                    outline=(255, 255, 255))  # fmt: skip
        pen.text((x, y), text, fill=(255, 255, 255), font=font, anchor="mm")
        pixels[top:bottom, left:right] = np.asarray(patch)


def with_legend(pixels: np.ndarray, lines: Sequence[str], scale: float | None = None) -> np.ndarray:
    """The picture with a white band below it: a colour scale from -scale (against)
    to +scale (towards) when ``scale`` is given, then the text ``lines``."""
    from PIL import Image, ImageDraw

    height, width = pixels.shape[:2]
    # 10-16 pixels up to 960 wide, then growing with the picture (a 4000-pixel-wide
    # photo: 66), so the legend reads the same when a large photo is shown scaled down.
    size = max(10, min(16, width // 28), width // 60)
    font = _font(size)
    margin = max(4, width // 40)
    lines = [part for line in lines for part in _wrap(line, font, width - 2 * margin)]
    bar = size if scale is not None else 0
    band = 6 + (bar + size + 10 if scale is not None else 0) + len(lines) * (size + 5) + 4
    canvas = Image.new("RGB", (width, band), (255, 255, 255))  # the band only
    pen = ImageDraw.Draw(canvas)
    y = 6
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
    out = np.empty((height + band, width, 3), dtype=np.uint8)
    out[:height] = pixels
    out[height:] = np.asarray(canvas)
    return out


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
