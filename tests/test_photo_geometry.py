"""The geometry of the preprocessing: a map at the model's resolution carried back onto
the photo lands where it came from, for every way the preprocessing resizes and crops."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from lime_cli.image.geometry import Geometry
from lime_cli.image.preprocess import Preprocessing, apply_geometry, geometry_of

RED = (220, 30, 30)


def photo_with_square(width, height, box):
    """A grey photo with a red rectangle [left, top, right, bottom) off its centre."""
    pixels = np.full((height, width, 3), 90, dtype=np.uint8)
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = RED
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return Image.fromarray(pixels, "RGB"), mask


def segments_of(picture):
    """Superpixel 1 where the model's picture is red, 0 elsewhere."""
    pixels = np.asarray(picture).astype(int)
    return ((pixels[..., 0] > 155) & (pixels[..., 1] < 100)).astype(np.int32)


def mapped_back(segments, geometry, size=None):
    """The segment map on the photo (nearest neighbour), -1 where the model saw nothing."""
    rows, cols = geometry.index_maps(size)
    out = segments[np.clip(rows, 0, None)[:, None], np.clip(cols, 0, None)[None, :]]
    out[(rows < 0)[:, None] | (cols < 0)[None, :]] = -1
    return out


CASES = {
    # name: (photo size, square, preprocessing)
    "shorter side + centre crop, landscape": ((600, 400), (330, 150, 420, 260),
                                              dict(resize=256, crop=(224, 224))),
    "shorter side + centre crop, portrait": ((300, 530), (90, 300, 200, 380),
                                             dict(resize=224, crop=(224, 224))),
    "shorter side, no crop": ((500, 320), (60, 40, 150, 120), dict(resize=100)),
    "exact size (aspect changes)": ((640, 360), (400, 60, 520, 200), dict(resize=(96, 128))),
    "exact size + crop": ((640, 360), (250, 120, 330, 230), dict(resize=(160, 120),
                                                                 crop=(100, 100))),
    "crop only": ((300, 200), (140, 80, 180, 130), dict(crop=(120, 90))),
    "no resize, no crop": ((90, 70), (10, 20, 40, 50), {}),
    "enlarged (small photo)": ((40, 30), (22, 6, 31, 15), dict(resize=120, crop=(120, 120))),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_the_square_maps_back_onto_the_square(name):
    size, square, settings = CASES[name]
    photo, truth = photo_with_square(*size, square)
    spec = Preprocessing(**settings)
    picture = apply_geometry(photo, spec, "photo")
    geometry = geometry_of(photo.size, spec)
    assert geometry.model == picture.size
    segments = segments_of(picture)
    assert segments.any()  # the square is in the model's view
    back = mapped_back(segments, geometry)
    assert back.shape == truth.shape
    # Away from the square's edge (by more than one model pixel in photo pixels and
    # the interpolation's reach), every seen photo pixel is labelled right.
    left, top, right, bottom = geometry.box
    reach = 2.5 * max((right - left) / geometry.model[0], (bottom - top) / geometry.model[1], 1)
    inside = ndimage.distance_transform_edt(truth)
    outside = ndimage.distance_transform_edt(~truth)
    sure = np.where(truth, inside, outside) > reach
    seen = back >= 0
    assert np.array_equal(back[sure & seen] == 1, truth[sure & seen])
    # Photo pixels the model never saw are exactly those outside the box.
    ys, xs = np.indices(truth.shape) + 0.5
    in_box = (xs >= left) & (xs < right) & (ys >= top) & (ys < bottom)
    assert np.array_equal(seen, in_box)


def test_centre_crop_box_in_photo_coordinates():
    # 600x400 -> shorter side 256: 384x256, centre crop 224: left 80, top 16 (resized),
    # so in the photo: x from 80 * 600/384 = 125 to 304 * 600/384 = 475, y 25 to 375.
    geometry = geometry_of((600, 400), Preprocessing(resize=256, crop=(224, 224)))
    assert geometry.box == pytest.approx((125.0, 25.0, 475.0, 375.0))
    assert not geometry.covers_photo
    assert geometry_of((600, 400), Preprocessing(resize=(224, 224))).covers_photo


def test_geometry_round_trips_through_json_and_scales_with_a_downscaled_photo():
    geometry = geometry_of((4000, 3000), Preprocessing(resize=256, crop=(224, 224)))
    again = Geometry.from_dict(geometry.to_dict())
    assert again.photo == geometry.photo and again.model == geometry.model
    assert again.box == pytest.approx(geometry.box, abs=1e-6)
    small = again.scaled_to((1000, 750))
    assert small.box == pytest.approx(tuple(v / 4 for v in geometry.box))
    # The downscaled photo's map is the full-size photo's map drawn at that size.
    for ours, theirs in zip(small.index_maps(), geometry.index_maps((1000, 750))):
        assert np.array_equal(ours, theirs)
    rows, cols = small.index_maps()
    # 4000x3000 -> 341x256, crop rows 16..240 = photo rows 187.5..2812.5 = 46.875..703.125
    # at 750 high: 47 rows above the box and 47 below.
    assert rows.max() == cols.max() == 223 and (rows == -1).sum() == 94


@pytest.mark.parametrize("bad", [None, {}, {"photo_size": [0, 3], "box": [0, 0, 1, 1],
                                             "model_size": [1, 1]},
                                 {"photo_size": [3, 3], "box": [2, 0, 1, 1],
                                  "model_size": [1, 1]}])  # fmt: skip
def test_broken_geometry_is_refused(bad):
    with pytest.raises(ValueError):
        Geometry.from_dict(bad)
