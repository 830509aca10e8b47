"""Images as superpixels, lime's way: segment, hide superpixels, map 0/1 rows to pixels.

A feature is one superpixel of the picture the model sees (after resizing
and cropping). A 0 in a sample row hides that superpixel: its pixels take the
fill (each superpixel's own mean colour, a constant colour, or a blurred copy
of the image). Samples are built a batch at a time, directly in the model's
input layout, so perturbed copies never all exist at once.

Large pictures (tens of megapixels) stay within bounded memory: the picture is
encoded, and each batch built, a strip of rows at a time (no full-size
temporaries besides the batch itself); the mean and colour fills are a small
table per superpixel, not a second full-size picture; and pictures above
``SEGMENT_MAX_PIXELS`` are segmented on a reduced copy (see :func:`segment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lime_cli.engine.kernels import binary_cosine_distance_to_ones
from lime_cli.errors import InputError, UsageError

#: lime's image kernel width, over the cosine distance of the 0/1 rows.
IMAGE_KERNEL_WIDTH = 0.25

#: Each segmenter's parameters and defaults (quickshift: lime's; others: scikit-image's).
SEGMENTERS: dict[str, dict[str, float | int]] = {
    "quickshift": {"kernel_size": 4.0, "max_dist": 200.0, "ratio": 0.2, "sigma": 0.0},
    "slic": {"n_segments": 100, "compactness": 10.0, "sigma": 0.0, "max_num_iter": 10},
    "felzenszwalb": {"scale": 1.0, "sigma": 0.8, "min_size": 20},
}

#: Pixels of model input per batch by default: 16 images of 224 x 224. A
#: convolutional network's activations dwarf its input, so memory grows with
#: the batch (EfficientNet-Lite0: peak RSS about 330 MB at 16, 520 MB at 32)
#: while its time per image stays the same; small images go in one call
#: (their per-call costs dominate).
BATCH_PIXELS = 16 * 224 * 224

#: Default Gaussian blur for ``--hide blur``, as a fraction of the longer side.
BLUR_FRACTION = 0.05

#: Pixels handled at once when encoding the picture and building a batch: the
#: temporaries stay a few megabytes whatever the picture's size.
STRIP_PIXELS = 1 << 20

_ALL_BITS = np.uint32(0xFFFFFFFF)

#: Pictures with more pixels are segmented on a copy reduced to about this
#: many (box filter), and the superpixel map is scaled back up (nearest
#: neighbour). scikit-image's segmenters work in float64 with several
#: full-size temporaries (slic on 48 megapixels: about 5.8 GB and 50 s); at
#: 4 megapixels a superpixel of a 100-segment map still has some 40,000
#: pixels, so only its outline is coarser (by the reduction factor).
SEGMENT_MAX_PIXELS = 1 << 22


@dataclass(frozen=True)
class Hide:
    """How a hidden superpixel is filled: ``mean``, a constant ``color`` or ``blur``."""

    mode: str
    color: tuple[float, float, float] | None = None
    sigma: float | None = None

    @classmethod
    def parse(cls, text: str) -> Hide:
        """``mean``, ``blur``, ``blur:SIGMA``, or a colour.

        Colours: ``R,G,B`` (0..255), ``#rrggbb``, a name, or one grey level.
        """
        value = text.strip().lower()
        if value == "mean":
            return cls("mean")
        if value == "blur" or value.startswith("blur:"):
            sigma = None
            if value.startswith("blur:"):
                try:
                    sigma = float(value[5:])
                except ValueError:
                    sigma = -1.0
                if not sigma > 0:
                    raise UsageError(f"--hide {text}: the blur sigma must be a positive number")
            return cls("blur", sigma=sigma)
        return cls("color", color=_parse_color(text))

    def describe(self) -> str:
        if self.mode == "color" and self.color is not None:
            return "color(" + ",".join(f"{c:g}" for c in self.color) + ")"
        if self.mode == "blur" and self.sigma is not None:
            return f"blur({self.sigma:g})"
        return self.mode


def _parse_color(text: str) -> tuple[float, float, float]:
    from PIL import ImageColor

    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) == 3:
            rgb = tuple(float(p) for p in parts)
        elif len(parts) == 1 and parts[0].replace(".", "", 1).isdigit():
            rgb = (float(parts[0]),) * 3
        else:
            rgb = tuple(float(c) for c in ImageColor.getrgb(text.strip())[:3])
    except ValueError:
        raise UsageError(
            f"--hide {text!r}: use mean, blur, blur:SIGMA, or a colour "
            "(R,G,B in 0..255, #rrggbb, a colour name, or one grey level)"
        ) from None
    if not all(0 <= c <= 255 for c in rgb):
        raise UsageError(f"--hide {text!r}: colour values must be in 0..255")
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def segmenter_params(method: str, overrides: dict[str, str]) -> dict[str, float | int]:
    """The segmenter's parameters: defaults, then ``NAME=VALUE`` overrides (validated)."""
    if method not in SEGMENTERS:
        raise UsageError(f"unknown segmenter {method!r}; use {', '.join(SEGMENTERS)}")
    params = dict(SEGMENTERS[method])
    for key, raw in overrides.items():
        if key not in params:
            known = ", ".join(SEGMENTERS[method])
            raise UsageError(f"{method} has no parameter {key!r}; its parameters: {known}")
        kind = type(params[key])
        try:
            value = kind(float(raw)) if kind is float else int(raw)
        except ValueError:
            raise UsageError(f"{method} parameter {key}={raw!r} must be a number") from None
        if value < 0 or (value == 0 and key in ("kernel_size", "n_segments", "scale")):
            raise UsageError(f"{method} parameter {key}={raw!r} is out of range")
        params[key] = value
    return params


#: Pictures smaller than this on a side get slic by default: quickshift with
#: lime's parameters cuts them into one or two superpixels (an 8x8 digit: one).
SMALL_PICTURE = 32
#: Pixels per superpixel slic is asked for on a small picture, and the most superpixels.
SMALL_PIXELS_PER_SEGMENT = 4
SMALL_MAX_SEGMENTS = 50
#: The remedy named when a picture has too few superpixels.
FINER = "--segmenter slic --segments 16"


def default_segmenter(width: int, height: int) -> tuple[str, dict[str, float | int], str | None]:
    """The segmenter used when none is chosen: (name, parameters, why, if not the usual).

    quickshift with lime's parameters, but slic for a picture under
    ``SMALL_PICTURE`` pixels on a side, asked for about one superpixel per
    ``SMALL_PIXELS_PER_SEGMENT`` pixels (an 8x8 picture: 16; at most
    ``SMALL_MAX_SEGMENTS``).
    """
    if min(width, height) >= SMALL_PICTURE:
        return "quickshift", dict(SEGMENTERS["quickshift"]), None
    count = max(2, min(SMALL_MAX_SEGMENTS, width * height // SMALL_PIXELS_PER_SEGMENT))
    why = f"the picture is under {SMALL_PICTURE} pixels on a side"
    return "slic", {**SEGMENTERS["slic"], "n_segments": count}, why


def segmentation_warning(superpixels: int, wanted: int) -> str | None:
    """Why an explanation over ``superpixels`` cannot show ``wanted`` regions, with the remedy."""
    if superpixels < 2:
        return (
            f"the picture was cut into {superpixels} superpixel: hiding it hides everything, so "
            f"the explanation cannot tell which part of the picture mattered; cut it finer "
            f"(for example {FINER})"
        )
    if superpixels < wanted:
        return (
            f"the picture was cut into only {superpixels} superpixels, fewer than the {wanted} "
            f"asked for by --num-features; cut it finer (for example {FINER})"
        )
    return None


def segment(
    image: np.ndarray, method: str, params: dict[str, float | int], seed: int
) -> np.ndarray:
    """Superpixel labels (H, W), numbered 0..n-1, from a scikit-image segmenter.

    quickshift breaks ties with seeded noise (``seed``); slic and felzenszwalb
    are deterministic. Labels are renumbered so that every label in 0..n-1 is
    used, whatever the segmenter's own numbering starts at. A picture with
    more than ``SEGMENT_MAX_PIXELS`` pixels is segmented at
    :func:`segmentation_size` (so the segmenter's parameters in pixels refer
    to that size) and the map is scaled back to the picture's size.
    """
    from skimage import segmentation

    height, width = image.shape[:2]
    size = segmentation_size(width, height)
    work = image if size == (width, height) else _reduced(image, size)
    try:
        if method == "quickshift":
            labels = segmentation.quickshift(work, rng=seed, **params)
        elif method == "slic":
            labels = segmentation.slic(work, start_label=0, **params)
        elif method == "felzenszwalb":
            labels = segmentation.felzenszwalb(work, **params)
        else:
            raise UsageError(f"unknown segmenter {method!r}; use {', '.join(SEGMENTERS)}")
    except (ValueError, ZeroDivisionError) as exc:
        raise InputError(f"{method} could not segment the image ({exc})") from None
    labels = normalise_labels(labels)
    if work is not image:
        labels = _enlarged(labels, height, width)
    return labels


def segmentation_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) the segmenter works at: the picture's, or reduced to the budget."""
    if width * height <= SEGMENT_MAX_PIXELS:
        return (width, height)
    factor = (width * height / SEGMENT_MAX_PIXELS) ** 0.5
    return (max(1, int(width / factor)), max(1, int(height / factor)))


def _reduced(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The picture shrunk to ``size`` (width, height) with a box filter, as uint8 RGB."""
    from PIL import Image

    pixels = np.ascontiguousarray(np.clip(image, 0, 255), dtype=np.uint8)
    reduced = Image.fromarray(pixels, "RGB").resize(size, Image.Resampling.BOX)
    return np.asarray(reduced)


def _enlarged(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """A label map scaled up to (height, width) by nearest neighbour (pixel centres)."""
    h, w = labels.shape
    rows = ((2 * np.arange(height) + 1) * h) // (2 * height)
    cols = ((2 * np.arange(width) + 1) * w) // (2 * width)
    return labels[rows[:, None], cols[None, :]]


def normalise_labels(labels: np.ndarray) -> np.ndarray:
    """Renumber any integer label map to consecutive labels 0..n-1 (order preserved).

    An int32 map that is already numbered so is returned as it is (no copy);
    others are renumbered a strip at a time, without full-size int64
    temporaries, when their labels are small non-negative integers.
    """
    labels = np.asarray(labels)
    if labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        _, inverse = np.unique(labels, return_inverse=True)
        return inverse.reshape(np.shape(labels)).astype(np.int32)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= max(2 * labels.size, 1 << 16):
        _, inverse = np.unique(labels, return_inverse=True)
        return inverse.reshape(labels.shape).astype(np.int32)
    flat = labels.reshape(-1)
    counts = np.zeros(high + 1, dtype=np.int64)
    for part in _parts(flat.size):
        counts += np.bincount(flat[part], minlength=high + 1)
    lookup = (np.cumsum(counts > 0) - 1).astype(np.int32)
    if labels.dtype == np.int32 and lookup[-1] == high:
        return labels  # already 0..n-1 with every label used
    out = np.empty(flat.size, dtype=np.int32)
    for part in _parts(flat.size):
        out[part] = lookup[flat[part]]
    return out.reshape(labels.shape)


def _parts(size: int, step: int = STRIP_PIXELS) -> list[slice]:
    return [slice(start, min(size, start + step)) for start in range(0, size, step)]


def segment_means(image: np.ndarray, segments: np.ndarray, d: int) -> np.ndarray:
    """Each superpixel's mean colour (d, 3), float64, summed a strip at a time.

    The sums of 8-bit values are exact in float64, so the order of summation
    does not change the result.
    """
    flat_segments = segments.reshape(-1)
    pixels = np.asarray(image).reshape(-1, 3)
    sums = np.zeros((d, 3), dtype=np.float64)
    for part in _parts(flat_segments.size):
        seg = flat_segments[part]
        for c in range(3):
            sums[:, c] += np.bincount(seg, weights=pixels[part, c], minlength=d)
    counts = np.bincount(flat_segments, minlength=d).astype(np.float64)
    return sums / np.maximum(counts, 1)[:, None]


def fill_image(image: np.ndarray, segments: np.ndarray, hide: Hide) -> np.ndarray:
    """What hidden pixels become, as a float32 (H, W, 3) image."""
    if hide.mode == "mean":
        d = int(segments.max()) + 1
        return segment_means(image, segments, d).astype(np.float32)[segments]
    if hide.mode == "color":
        return np.broadcast_to(np.array(hide.color, dtype=np.float32), image.shape).copy()
    return blurred(image, hide.sigma)


def blurred(image: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """The picture under a Gaussian blur, float32 (H, W, 3); default sigma: see blur_sigma."""
    from scipy.ndimage import gaussian_filter

    pixels = np.asarray(image, dtype=np.float32)
    sigma = sigma or blur_sigma(pixels.shape)
    return gaussian_filter(pixels, sigma=(sigma, sigma, 0), mode="nearest").astype(np.float32)


def blur_sigma(shape: tuple[int, ...]) -> float:
    """The default blur: 5% of the longer side, in pixels."""
    return max(0.5, BLUR_FRACTION * max(shape[0], shape[1]))


class ImageDomain:
    """The superpixels of one image and how 0/1 rows become model inputs.

    ``photo`` (optional) is the user's photo as the JSON ``input.photo``
    object (:func:`lime_cli.image.photo.encode_photo`), carried into the
    explanation so its pictures can be drawn on the photo; the model never
    sees it.

    ``encoder`` (a :class:`lime_cli.image.preprocess.PixelEncoder`)
    turns 0..255 RGB pixels into the model's tensor; without one, model
    inputs are float32 (n, H, W, 3) pixel arrays. Because the encoding is a
    per-pixel map, the original and the fill are encoded once, and a sample
    picks each pixel from one or the other by its superpixel's bit. Memory:
    the picture (uint8), the segment map (int32) and two encoded float32
    copies (the fill, and its bitwise difference from the picture), built a
    strip of rows at a time, plus one batch.
    """

    modality = "image"
    default_kernel_width = IMAGE_KERNEL_WIDTH

    def __init__(
        self,
        image: np.ndarray,
        segments: np.ndarray,
        hide: Hide | None = None,
        encoder: Any = None,
        *,
        name: str = "-",
        details: dict[str, Any] | None = None,
        photo: dict[str, Any] | None = None,
    ) -> None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
            raise InputError(f"{name}: expected an RGB image, got an array of shape {image.shape}")
        if np.shape(segments) != image.shape[:2]:
            raise ValueError("the segment map must have the image's height and width")
        self.image = image
        self.segments = normalise_labels(segments)
        self.hide = hide or Hide("mean")
        self.encoder = encoder
        self.name = name
        self.details = dict(details or {})
        self.photo = photo
        self.num_features = int(self.segments.max()) + 1
        self.feature_names = [f"superpixel {j}" for j in range(self.num_features)]
        self._boxes, self._counts = _boxes_and_counts(self.segments, self.num_features)
        self._channel_axis = encoder.channel_axis if encoder is not None else 3
        base = self._encode_picture(image)
        if self.hide.mode == "blur":
            fill = self._encode_picture(blurred(image, self.hide.sigma))
        else:
            if self.hide.mode == "mean":
                colours = segment_means(image, self.segments, self.num_features)
            else:
                colours = np.array([self.hide.color], dtype=np.float64)
            fill = self._fill_from_table(self._encode_colours(colours.astype(np.float32)))
        self._fill_bits = fill.view(np.uint32)
        # The picture's encoding becomes its difference from the fill, in place.
        self._diff_bits = np.bitwise_xor(
            base.view(np.uint32), self._fill_bits, out=base.view(np.uint32)
        )

    @property
    def fill(self) -> np.ndarray:
        """The fill as a float32 (H, W, 3) picture in 0..255 RGB (built on demand)."""
        return fill_image(self.image, self.segments, self.hide)

    def _encode4(self, pixels: np.ndarray) -> np.ndarray:
        """(n, H, W, 3) 0..255 RGB -> the float32 working array (channels on their axis)."""
        if self.encoder is None:
            return np.asarray(pixels, dtype=np.float32)
        return self.encoder.encode4(pixels)

    def _encode_picture(self, picture: np.ndarray) -> np.ndarray:
        """The whole picture encoded as a (1, ...) working array, a strip of rows at a time."""
        height = picture.shape[0]
        out: np.ndarray | None = None
        for top, bottom in self._strips():
            part = self._encode4(picture[None, top:bottom])
            if out is None:
                shape = list(part.shape)
                shape[2 if self._channel_axis == 1 else 1] = height
                out = np.empty(shape, dtype=np.float32)
            self._rows_of(out, top, bottom)[...] = part
        assert out is not None
        return out

    def _encode_colours(self, colours: np.ndarray) -> np.ndarray:
        """(m, 3) 0..255 RGB colours -> their encodings (m, channels)."""
        encoded = self._encode4(colours[None, None])  # a 1 x m picture
        if self._channel_axis == 1:
            return np.ascontiguousarray(encoded[0, :, 0, :].T)
        return np.ascontiguousarray(encoded[0, 0])

    def _strips(self) -> list[tuple[int, int]]:
        """(top, bottom) row ranges of about ``STRIP_PIXELS`` pixels each."""
        height, width = self.segments.shape
        step = max(1, STRIP_PIXELS // max(1, width))
        return [(top, min(height, top + step)) for top in range(0, height, step)]

    def _rows_of(self, working: np.ndarray, top: int, bottom: int) -> np.ndarray:
        """Rows top:bottom of a 4-D working array, whichever axis holds the channels."""
        if self._channel_axis == 1:
            return working[:, :, top:bottom]
        return working[:, top:bottom]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """0/1 rows (uint8): each superpixel kept with probability 0.5; row 0 all ones."""
        z = rng.integers(0, 2, size=(n, self.num_features), dtype=np.uint8)
        z[0] = 1
        return z

    def to_model_input(self, z: np.ndarray) -> np.ndarray:
        """The model's input for a block of rows: each pixel from the image or the fill.

        Built a strip of rows at a time. Selection is exact and branch-free on
        the float32 bit patterns: ``fill ^ ((image ^ fill) & mask)`` with an
        all-ones mask where the pixel's superpixel is kept.
        """
        rows = np.asarray(z) != 0
        n = rows.shape[0]
        table = np.where(rows, _ALL_BITS, np.uint32(0))
        out = np.empty((n,) + self._diff_bits.shape[1:], dtype=np.float32)
        for top, bottom in self._strips():
            # np.take gives a C-ordered mask (fancy indexing would not: slow below).
            mask = np.take(table, self.segments[top:bottom], axis=1)
            mask = np.expand_dims(mask, self._channel_axis)
            bits = self._rows_of(out, top, bottom).view(np.uint32)
            np.bitwise_and(mask, self._rows_of(self._diff_bits, top, bottom), out=bits)
            np.bitwise_xor(bits, self._rows_of(self._fill_bits, top, bottom), out=bits)
        return self.encoder.finish(out) if self.encoder is not None else out

    def _fill_from_table(self, table: np.ndarray) -> np.ndarray:
        """The encoded fill picture from encoded colours: one per superpixel, or one in all."""
        height, width = self.segments.shape
        channels = table.shape[1]
        if self._channel_axis == 1:
            fill = np.empty((1, channels, height, width), dtype=np.float32)
        else:
            fill = np.empty((1, height, width, channels), dtype=np.float32)
        if table.shape[0] == 1:
            fill[...] = table[0].reshape(1, channels, 1, 1) if self._channel_axis == 1 else table[0]
            return fill
        for top, bottom in self._strips():
            seg = self.segments[top:bottom]
            rows = self._rows_of(fill, top, bottom)
            if self._channel_axis == 1:
                for c in range(channels):  # one contiguous gather per channel plane
                    np.take(np.ascontiguousarray(table[:, c]), seg, out=rows[0, c], mode="clip")
            else:
                np.take(table, seg, axis=0, out=rows[0], mode="clip")
        return fill

    def pixels(self, z_row: np.ndarray) -> np.ndarray:
        """The perturbed picture (H, W, 3) float32 for one 0/1 row, in 0..255 RGB."""
        keep = (np.asarray(z_row) != 0)[self.segments]
        return np.where(keep[..., None], self.image.astype(np.float32), self.fill)

    def preferred_batch_size(self, n: int) -> int:
        """Samples per model call: as many as fit in ``BATCH_PIXELS`` pixels."""
        height, width = self.segments.shape
        return max(1, min(n, BATCH_PIXELS // (height * width)))

    def distances(self, z: np.ndarray) -> np.ndarray:
        """Cosine distance of each row to the all-ones row, as lime's image explainer."""
        return binary_cosine_distance_to_ones(z)

    def feature_info(self, j: int) -> dict[str, Any]:
        """The superpixel's bounding box [left, top, right, bottom) and pixel count."""
        return {"bbox": [int(v) for v in self._boxes[j]], "pixels": int(self._counts[j])}

    def describe(self) -> dict[str, Any]:
        height, width = self.segments.shape
        out = {"name": self.name, "width": int(width), "height": int(height)}
        out.update(self.details)
        out["num_superpixels"] = self.num_features
        out["hide"] = self.hide.describe()
        # The picture and its superpixels, so a saved explanation can be drawn again.
        from lime_cli.image.pictures import encode_picture, encode_segments

        out["picture"] = encode_picture(self.image)
        out["segment_map"] = encode_segments(self.segments)
        if self.photo is not None:  # the user's photo, to draw on (lime_cli.image.photo)
            out["photo"] = self.photo
        return out


def _boxes_and_counts(segments: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Per label: (left, top, right, bottom) with exclusive right/bottom, and pixel counts."""
    from scipy.ndimage import find_objects

    boxes = np.zeros((d, 4), dtype=np.int64)
    for j, found in enumerate(find_objects(segments + 1, max_label=d)):
        if found is not None:
            rows, cols = found
            boxes[j] = (cols.start, rows.start, cols.stop, rows.stop)
    flat = segments.reshape(-1)
    counts = np.zeros(d, dtype=np.int64)
    for part in _parts(flat.size):
        counts += np.bincount(flat[part], minlength=d)
    return boxes, counts
