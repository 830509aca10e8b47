"""The masked picture and the heatmap: valid PNGs of the documented size."""

import io

import numpy as np
import pytest
from PIL import Image

from lime_cli.image.pictures import (
    MIN_SIDE,
    heatmap,
    masked_image,
    png_bytes,
    scale_factor,
)


def picture(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def quadrants(height, width):
    seg = np.zeros((height, width), dtype=np.int32)
    seg[: height // 2, width // 2 :] = 1
    seg[height // 2 :, : width // 2] = 2
    seg[height // 2 :, width // 2 :] = 3
    return seg


@pytest.mark.parametrize(
    "height, width, expected",
    [(224, 224, (224, 224)), (8, 8, (224, 224)), (20, 30, (360, 240)), (300, 500, (500, 300))],
)
def test_png_has_the_documented_size(height, width, expected):
    weights = [(0, 0.5), (1, -0.2), (2, 0.1), (3, 0.0)]
    for pixels in (
        masked_image(picture(height, width), quadrants(height, width), weights, 2),
        heatmap(picture(height, width), quadrants(height, width), weights),
    ):
        decoded = Image.open(io.BytesIO(png_bytes(pixels)))
        assert decoded.format == "PNG"
        assert decoded.mode == "RGB"
        assert decoded.size == expected
        assert min(decoded.size) >= MIN_SIDE
        decoded.load()


def test_scale_factor_is_whole_and_never_shrinks():
    assert scale_factor(224, 224) == 1
    assert scale_factor(1000, 3000) == 1
    assert scale_factor(7, 100) == 32  # 7 * 32 = 224


def test_masked_image_keeps_only_the_strongest_positive_superpixels():
    img = picture(224, 224)
    seg = quadrants(224, 224)
    weights = [(0, 0.4), (1, 0.3), (2, -0.9), (3, 0.1)]
    out = masked_image(img, seg, weights, num_features=2)
    inner = np.zeros(seg.shape, dtype=bool)
    inner[5:-5, 5:-5] = True
    for j in (0, 1):  # shown: original colours away from the outline
        region = (seg == j) & inner
        region[105:119, :] = False
        region[:, 105:119] = False
        np.testing.assert_array_equal(out[region], img[region])
    for j in (2, 3):  # negative, and positive but beyond num_features: greyed out
        region = seg == j
        assert (out[region][:, 0] == out[region][:, 1]).all()
        assert (out[region][:, 1] == out[region][:, 2]).all()


def test_heatmap_tints_by_sign():
    img = np.full((40, 40, 3), 128, dtype=np.uint8)
    seg = quadrants(40, 40)
    out = heatmap(img, seg, [(0, 1.0), (3, -1.0)]).astype(int)
    k = scale_factor(40, 40)
    towards = out[5 * k, 5 * k]
    against = out[35 * k, 35 * k]
    neutral = out[5 * k, 35 * k]
    assert towards[2] > towards[0]
    assert against[0] > against[2]
    assert neutral[0] == neutral[1] == neutral[2]
