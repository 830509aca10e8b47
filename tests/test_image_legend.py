"""The image PNGs people read: the strongest superpixels of either sign, numbered as
in the table, distinct outlines, a legend; the heatmap's colour scale;
``--positive-only`` for lime's picture."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from report_samples import image_explanation
from test_image_command import corner_args, corner_model, corner_picture, run  # noqa: F401

from lime_cli.image.pictures import (
    AGAINST,
    TOWARDS,
    heatmap,
    masked_image,
    picture_of,
    strongest_image,
)
from lime_cli.image.writers import draw_picture

BLUE, RED = tuple(TOWARDS.astype(int)), tuple(AGAINST.astype(int))
WEIGHTS = [(3, 0.4), (1, -0.3), (0, 0.1), (2, 0.0)]


def colours(pixels) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in p) for p in pixels.reshape(-1, 3)}


def test_strongest_of_either_sign_are_kept_and_outlined_by_sign():
    e = image_explanation(size=48)
    image, segments = picture_of(e)
    pixels, placed = strongest_image(image, segments, WEIGHTS, 2)
    assert [(j, w) for j, w, _ in placed] == [(3, 0.4), (1, -0.3)]
    k = pixels.shape[0] // 48
    big = np.kron(segments, np.ones((k, k), dtype=int))
    # Superpixel 3 (towards) has a solid blue outline, 1 (against) a dashed red one.
    assert BLUE in colours(pixels[big == 3]) and RED not in colours(pixels[big == 3])
    against = pixels[big == 1]
    red = np.all(against == RED, axis=1).sum()
    assert red > 0 and BLUE not in colours(against)
    # Superpixels 0 and 2 (not shown) are grey: R == G == B.
    faded = pixels[(big == 0) | (big == 2)]
    assert np.all(faded[:, 0] == faded[:, 1]) and np.all(faded[:, 1] == faded[:, 2])
    # Each number sits inside its superpixel.
    for j, _, (row, col) in placed:
        assert big[row, col] == j


def test_dashed_outline_has_gaps():
    e = image_explanation(size=48)
    image, segments = picture_of(e)
    pixels, _ = strongest_image(image, segments, [(1, -0.3)], 1)
    k = pixels.shape[0] // 48
    big = np.kron(segments, np.ones((k, k), dtype=int))
    edge = pixels[:, big.shape[1] // 2][big[:, big.shape[1] // 2] == 1]  # its left edge
    is_red = np.all(edge == RED, axis=1)
    assert is_red.any() and not is_red.all()


def test_png_has_numbers_and_a_legend_below_the_picture():
    e = image_explanation(size=48)
    image, segments = picture_of(e)
    label = e.explanations[0]
    drawn = draw_picture(e, label, image, segments, "masked")
    plain, _ = strongest_image(image, segments, [(f.index, f.weight) for f in label.features], 3)
    height = plain.shape[0]
    assert drawn.shape[0] > height and drawn.shape[1] == plain.shape[1]
    assert not np.array_equal(drawn[:height], plain)  # the numbers are drawn on it
    band = drawn[height:]
    assert (band == 255).mean() > 0.8 and (band < 100).any()  # white with black text


def test_heatmap_has_a_colour_scale_from_against_to_towards():
    e = image_explanation(size=48)
    image, segments = picture_of(e)
    drawn = draw_picture(e, e.explanations[0], image, segments, "heatmap")
    height = heatmap(image, segments, WEIGHTS).shape[0]
    scale_row = drawn[height + 10]
    left, right = scale_row[12].astype(int), scale_row[-13].astype(int)
    assert left[0] > left[2] + 80  # red end on the left
    assert right[2] > right[0] + 80  # blue end on the right


def test_positive_only_is_lime_picture():
    e = image_explanation(size=48)
    e.params["positive_only"] = True
    image, segments = picture_of(e)
    label = e.explanations[0]
    drawn = draw_picture(e, label, image, segments, "masked")
    weights = [(f.index, f.weight) for f in label.features]
    lime_like = masked_image(image, segments, weights, 3)
    assert np.array_equal(drawn[: lime_like.shape[0]], lime_like)
    assert RED not in colours(drawn)


@pytest.mark.parametrize("flag", [[], ["--positive-only"]])
def test_positive_only_option_is_saved_and_drawn(tmp_path, corner_model, flag):  # noqa: F811
    picture = corner_picture(tmp_path / "c.png")
    out, saved = tmp_path / "x.png", tmp_path / "x.json"
    result = run(corner_args(corner_model, picture, "--out", out, "--out", saved, *flag))
    assert result.exit_code == 0, result.output
    import json

    params = json.loads(saved.read_text())["params"]
    assert params.get("positive_only", False) == bool(flag)
    with Image.open(io.BytesIO(out.read_bytes())) as image:
        assert image.height > image.width  # the legend band under the square picture
