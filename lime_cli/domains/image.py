"""Images as superpixels, lime's way: segment, hide superpixels, map 0/1 rows to pixels.

A feature is one superpixel of the picture the model sees (after resizing
and cropping). A 0 in a sample row hides that superpixel: its pixels take the
fill (each superpixel's own mean colour, a constant colour, or a blurred copy
of the image). Samples are built a batch at a time, directly in the model's
input layout, so perturbed copies never all exist at once.
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

_ALL_BITS = np.uint32(0xFFFFFFFF)


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


def segment(
    image: np.ndarray, method: str, params: dict[str, float | int], seed: int
) -> np.ndarray:
    """Superpixel labels (H, W), numbered 0..n-1, from a scikit-image segmenter.

    quickshift breaks ties with seeded noise (``seed``); slic and felzenszwalb
    are deterministic. Labels are renumbered so that every label in 0..n-1 is
    used, whatever the segmenter's own numbering starts at.
    """
    from skimage import segmentation

    try:
        if method == "quickshift":
            labels = segmentation.quickshift(image, rng=seed, **params)
        elif method == "slic":
            labels = segmentation.slic(image, start_label=0, **params)
        elif method == "felzenszwalb":
            labels = segmentation.felzenszwalb(image, **params)
        else:
            raise UsageError(f"unknown segmenter {method!r}; use {', '.join(SEGMENTERS)}")
    except (ValueError, ZeroDivisionError) as exc:
        raise InputError(f"{method} could not segment the image ({exc})") from None
    return normalise_labels(labels)


def normalise_labels(labels: np.ndarray) -> np.ndarray:
    """Renumber any integer label map to consecutive labels 0..n-1 (order preserved)."""
    _, inverse = np.unique(np.asarray(labels), return_inverse=True)
    return inverse.reshape(np.shape(labels)).astype(np.int32)


def fill_image(image: np.ndarray, segments: np.ndarray, hide: Hide) -> np.ndarray:
    """What hidden pixels become, as a float32 (H, W, 3) image."""
    pixels = np.asarray(image, dtype=np.float32)
    if hide.mode == "mean":
        flat = segments.ravel()
        d = int(flat.max()) + 1
        counts = np.bincount(flat, minlength=d).astype(np.float64)
        means = (
            np.stack(
                [np.bincount(flat, weights=pixels[..., c].ravel(), minlength=d) for c in range(3)],
                axis=1,
            )
            / np.maximum(counts, 1)[:, None]
        )
        return means.astype(np.float32)[segments]
    if hide.mode == "color":
        return np.broadcast_to(np.array(hide.color, dtype=np.float32), pixels.shape).copy()
    from scipy.ndimage import gaussian_filter

    sigma = hide.sigma or blur_sigma(pixels.shape)
    return gaussian_filter(pixels, sigma=(sigma, sigma, 0), mode="nearest").astype(np.float32)


def blur_sigma(shape: tuple[int, ...]) -> float:
    """The default blur: 5% of the longer side, in pixels."""
    return max(0.5, BLUR_FRACTION * max(shape[0], shape[1]))


class ImageDomain:
    """The superpixels of one image and how 0/1 rows become model inputs.

    ``encoder`` (a :class:`lime_cli.models.image_preprocess.PixelEncoder`)
    turns 0..255 RGB pixels into the model's tensor; without one, model
    inputs are float32 (n, H, W, 3) pixel arrays. Because the encoding is a
    per-pixel map, the original and the fill are encoded once, and a sample
    picks each pixel from one or the other by its superpixel's bit.
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
        self.num_features = int(self.segments.max()) + 1
        self.feature_names = [f"superpixel {j}" for j in range(self.num_features)]
        self.fill = fill_image(image, self.segments, self.hide)
        self._boxes, self._counts = _boxes_and_counts(self.segments, self.num_features)
        self._flat_segments = self.segments.ravel().astype(np.intp)
        base = self._encode(image[None])
        fill = self._encode(self.fill[None])
        self._fill_bits = fill.view(np.uint32)
        self._diff_bits = base.view(np.uint32) ^ self._fill_bits
        self._channel_axis = encoder.channel_axis if encoder is not None else 3

    def _encode(self, pixels: np.ndarray) -> np.ndarray:
        if self.encoder is None:
            return np.ascontiguousarray(pixels, dtype=np.float32)
        return self.encoder.encode4(pixels)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """0/1 rows (uint8): each superpixel kept with probability 0.5; row 0 all ones."""
        z = rng.integers(0, 2, size=(n, self.num_features), dtype=np.uint8)
        z[0] = 1
        return z

    def to_model_input(self, z: np.ndarray) -> np.ndarray:
        """The model's input for a block of rows: each pixel from the image or the fill.

        Selection is exact and branch-free on the float32 bit patterns:
        ``fill ^ ((image ^ fill) & mask)`` with an all-ones mask where the
        pixel's superpixel is kept.
        """
        rows = np.asarray(z) != 0
        n = rows.shape[0]
        table = np.where(rows, _ALL_BITS, np.uint32(0))
        height, width = self.segments.shape
        mask = np.take(table, self._flat_segments, axis=1).reshape(n, height, width)
        mask = np.expand_dims(mask, self._channel_axis)
        out = np.empty((n,) + self._diff_bits.shape[1:], dtype=np.float32)
        bits = out.view(np.uint32)
        np.bitwise_and(mask, self._diff_bits, out=bits)
        np.bitwise_xor(bits, self._fill_bits, out=bits)
        return self.encoder.finish(out) if self.encoder is not None else out

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
        return out


def _boxes_and_counts(segments: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Per label: (left, top, right, bottom) with exclusive right/bottom, and pixel counts."""
    from scipy.ndimage import find_objects

    boxes = np.zeros((d, 4), dtype=np.int64)
    for j, found in enumerate(find_objects(segments + 1, max_label=d)):
        if found is not None:
            rows, cols = found
            boxes[j] = (cols.start, rows.start, cols.stop, rows.stop)
    counts = np.bincount(segments.ravel(), minlength=d)
    return boxes, counts
