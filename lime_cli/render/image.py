"""Image explanations as pictures: the masked image and the weight heatmap (PNG).

Both pictures show the image the model saw (after resizing and cropping),
scaled up by a whole factor with nearest-neighbour sampling so that the
shorter side is at least ``MIN_SIDE`` pixels (a 224x224 input stays
224x224; an 8x8 one becomes 224x224). Each input pixel becomes a square block,
so superpixel shapes are kept exactly.

- Masked image: the ``num_features`` superpixels with the largest positive
  weights keep their colours, with their outlines drawn in yellow; the rest of
  the picture is greyed out.
- Heatmap: the greyscale image tinted per superpixel by its weight, blue for
  towards the label, red for against it, stronger for larger |weight|
  (scaled by the largest |weight|), with every superpixel's outline in grey.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

MIN_SIDE = 224
OUTLINE = np.array([255, 214, 0], dtype=np.float64)
TOWARDS = np.array([33, 102, 172], dtype=np.float64)
AGAINST = np.array([178, 24, 43], dtype=np.float64)
GREY_LEVEL = 128.0
HEAT_ALPHA = 0.75

Weights = Sequence[tuple[int, float]]  # (superpixel index, weight)


def scale_factor(height: int, width: int, min_side: int = MIN_SIDE) -> int:
    """The whole factor that brings the shorter side to at least ``min_side``."""
    shorter = max(1, min(height, width))
    return max(1, -(-min_side // shorter))


def output_size(height: int, width: int) -> tuple[int, int]:
    """(width, height) of the PNGs for an explained image of ``height`` x ``width``."""
    k = scale_factor(height, width)
    return width * k, height * k


def masked_image(
    image: np.ndarray, segments: np.ndarray, weights: Weights, num_features: int
) -> np.ndarray:
    """The picture with only the strongest positive superpixels in colour (uint8 RGB)."""
    shown = [j for j, w in sorted(weights, key=lambda jw: -jw[1]) if w > 0][:num_features]
    big_image, big_segments = _upscale(image, segments)
    keep = np.isin(big_segments, shown)
    pixels = big_image.astype(np.float64)
    grey = _luma(pixels)[..., None]
    faded = 0.5 * grey + 0.5 * GREY_LEVEL
    out = np.where(keep[..., None], pixels, faded)
    labels = np.where(keep, big_segments, -1)
    out[_inner_outline(labels) & keep] = OUTLINE
    return _to_uint8(out)


def heatmap(image: np.ndarray, segments: np.ndarray, weights: Weights) -> np.ndarray:
    """The greyscale picture tinted by every superpixel's weight (uint8 RGB)."""
    d = int(segments.max()) + 1
    per_segment = np.zeros(d)
    for j, w in weights:
        per_segment[j] = w
    top = float(np.abs(per_segment).max())
    strength = per_segment / top if top > 0 else per_segment
    big_image, big_segments = _upscale(image, segments)
    grey = np.repeat(_luma(big_image.astype(np.float64))[..., None], 3, axis=2)
    s = strength[big_segments][..., None]
    colour = np.where(s >= 0, TOWARDS, AGAINST)
    alpha = HEAT_ALPHA * np.abs(s)
    out = (1.0 - alpha) * grey + alpha * colour
    edges = _inner_outline(big_segments)
    out[edges] = 0.5 * out[edges] + 0.5 * GREY_LEVEL
    return _to_uint8(out)


def png_bytes(pixels: np.ndarray) -> bytes:
    """An RGB uint8 array as PNG file contents."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="RGB").save(
        buffer, format="PNG", optimize=False
    )
    return buffer.getvalue()


def _upscale(image: np.ndarray, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = scale_factor(*segments.shape)
    if k == 1:
        return np.asarray(image), segments
    big = np.repeat(np.repeat(image, k, axis=0), k, axis=1)
    return big, np.repeat(np.repeat(segments, k, axis=0), k, axis=1)


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
