"""Superpixels, hiding and sample construction of the image domain."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from lime_cli.errors import UsageError
from lime_cli.image.domain import (
    Hide,
    ImageDomain,
    normalise_labels,
    segment,
    segmenter_params,
)
from lime_cli.image.preprocess import PixelEncoder


def textured_image(height=48, width=40, seed=0):
    """Four colour blocks with noise, so every segmenter finds several regions."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), dtype=np.float64)
    img[: height // 2, : width // 2] = (220, 40, 40)
    img[: height // 2, width // 2 :] = (40, 200, 60)
    img[height // 2 :, : width // 2] = (30, 60, 210)
    img[height // 2 :, width // 2 :] = (230, 220, 50)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def hide_only(domain, j):
    z = np.ones((1, domain.num_features), dtype=np.uint8)
    z[0, j] = 0
    return domain.to_model_input(z)[0]


@pytest.mark.parametrize("method", ["quickshift", "slic", "felzenszwalb"])
def test_segmentation_covers_every_pixel_with_consecutive_labels(method):
    img = textured_image()
    seg = segment(img, method, segmenter_params(method, {}), seed=3)
    assert seg.shape == img.shape[:2]
    labels = np.unique(seg)
    assert labels[0] == 0
    np.testing.assert_array_equal(labels, np.arange(len(labels)))
    assert len(labels) >= 2


@pytest.mark.parametrize("method", ["quickshift", "slic", "felzenszwalb"])
def test_segmentation_is_deterministic_for_a_seed(method):
    img = textured_image()
    params = segmenter_params(method, {})
    np.testing.assert_array_equal(segment(img, method, params, 5), segment(img, method, params, 5))


def test_slic_labels_start_at_zero_even_though_scikit_image_starts_at_one():
    from skimage.segmentation import slic

    img = textured_image()
    assert slic(img, n_segments=4).min() == 1  # the trap lime falls into
    seg = segment(img, "slic", segmenter_params("slic", {"n_segments": "4"}), seed=0)
    assert seg.min() == 0


@pytest.mark.parametrize("start", [0, 1, 7])
def test_every_segment_can_be_hidden_whatever_the_first_label(start):
    img = textured_image()
    raw = np.zeros(img.shape[:2], dtype=np.int64)
    raw[:, 20:] = 2
    raw[24:, :] += 5  # labels {0, 2, 5, 7} before the offset: gaps as well
    raw += start
    domain = ImageDomain(img, raw, Hide("color", color=(0.0, 0.0, 0.0)))
    assert domain.num_features == 4
    region_of = normalise_labels(raw)
    for j in range(domain.num_features):
        out = hide_only(domain, j)
        hidden = region_of == j
        assert hidden.any()
        assert (out[hidden] == 0).all(), f"superpixel {j} was not hidden"
        np.testing.assert_array_equal(out[~hidden], img[~hidden].astype(np.float32))


def test_normalise_labels_keeps_order_and_shape():
    raw = np.array([[5, 5, 9], [1, 9, 1]])
    np.testing.assert_array_equal(normalise_labels(raw), [[1, 1, 2], [0, 2, 0]])


def test_hide_mean_uses_each_superpixels_own_mean_colour_exactly():
    img = textured_image()
    seg = segment(img, "slic", segmenter_params("slic", {"n_segments": "6"}), seed=0)
    domain = ImageDomain(img, seg, Hide("mean"))
    z = np.zeros((1, domain.num_features), dtype=np.uint8)
    out = domain.to_model_input(z)[0]
    for j in range(domain.num_features):
        mask = seg == j
        expected = img[mask].astype(np.float64).mean(axis=0).astype(np.float32)
        np.testing.assert_allclose(out[mask], np.broadcast_to(expected, out[mask].shape), rtol=1e-6)
        assert np.ptp(out[mask], axis=0).max() == 0  # one colour per superpixel


def test_hide_colour_is_exact_and_kept_pixels_untouched():
    img = textured_image()
    seg = segment(img, "slic", segmenter_params("slic", {"n_segments": "6"}), seed=0)
    domain = ImageDomain(img, seg, Hide.parse("10,20,30"))
    rng = np.random.default_rng(1)
    z = rng.integers(0, 2, (8, domain.num_features)).astype(np.uint8)
    out = domain.to_model_input(z)
    for i in range(len(z)):
        keep = z[i][seg].astype(bool)
        np.testing.assert_array_equal(out[i][keep], img[keep].astype(np.float32))
        assert (out[i][~keep] == np.array([10, 20, 30], np.float32)).all()


def test_hide_blur_takes_the_blurred_image_exactly():
    img = textured_image()
    seg = segment(img, "slic", segmenter_params("slic", {"n_segments": "6"}), seed=0)
    domain = ImageDomain(img, seg, Hide.parse("blur:2.5"))
    z = np.zeros((1, domain.num_features), dtype=np.uint8)
    z[0, 0] = 1
    out = domain.to_model_input(z)[0]
    blurred = gaussian_filter(img.astype(np.float32), sigma=(2.5, 2.5, 0), mode="nearest")
    hidden = seg != 0
    np.testing.assert_array_equal(out[hidden], blurred[hidden])
    np.testing.assert_array_equal(out[~hidden], img[~hidden].astype(np.float32))
    assert not np.array_equal(blurred, img.astype(np.float32))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mean", Hide("mean")),
        ("blur", Hide("blur")),
        ("blur:3", Hide("blur", sigma=3.0)),
        ("0", Hide("color", color=(0.0, 0.0, 0.0))),
        ("1,2,3", Hide("color", color=(1.0, 2.0, 3.0))),
        ("#ff8000", Hide("color", color=(255.0, 128.0, 0.0))),
        ("grey", Hide("color", color=(128.0, 128.0, 128.0))),
    ],
)
def test_hide_parse(text, expected):
    assert Hide.parse(text) == expected


@pytest.mark.parametrize("text", ["blur:-1", "blur:x", "300,0,0", "notacolour", "1,2"])
def test_hide_parse_rejects_nonsense(text):
    with pytest.raises(UsageError):
        Hide.parse(text)


def test_segmenter_params_validate_names_and_values():
    assert segmenter_params("quickshift", {})["max_dist"] == 200.0
    assert segmenter_params("slic", {"n_segments": "12"})["n_segments"] == 12
    with pytest.raises(UsageError):
        segmenter_params("slic", {"kernel_size": "3"})
    with pytest.raises(UsageError):
        segmenter_params("felzenszwalb", {"min_size": "abc"})


def test_samples_are_zero_one_with_first_row_all_ones():
    img = textured_image()
    seg = segment(img, "slic", segmenter_params("slic", {"n_segments": "6"}), seed=0)
    domain = ImageDomain(img, seg)
    z = domain.sample(2000, np.random.default_rng(0))
    assert z.shape == (2000, domain.num_features)
    assert set(np.unique(z)) == {0, 1}
    assert (z[0] == 1).all()
    assert abs(z[1:].mean() - 0.5) < 0.03
    np.testing.assert_array_equal(z, domain.sample(2000, np.random.default_rng(0)))


def test_distances_are_cosine_distances_to_the_all_ones_row():
    img = textured_image()
    seg = np.repeat(np.arange(4), 480).reshape(48, 40)
    domain = ImageDomain(img, seg)
    z = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=np.uint8)
    expected = [0.0, 1 - 1 / 2, 1.0, 1 - np.sqrt(2 / 4)]
    np.testing.assert_allclose(domain.distances(z), expected)


def test_feature_info_gives_bounding_box_and_pixel_count():
    img = textured_image(10, 12)
    seg = np.zeros((10, 12), dtype=int)
    seg[2:5, 3:9] = 1
    domain = ImageDomain(img, seg)
    assert domain.feature_info(1) == {"bbox": [3, 2, 9, 5], "pixels": 18}
    assert domain.feature_info(0) == {"bbox": [0, 0, 12, 10], "pixels": 120 - 18}
    assert domain.feature_names == ["superpixel 0", "superpixel 1"]


@pytest.mark.parametrize(
    "channels, layout", [("rgb", "nchw"), ("bgr", "nhwc"), ("grey", "nchw"), ("rgb", "flat")]
)
def test_batched_model_input_equals_encoding_each_perturbed_picture(channels, layout):
    img = textured_image()
    seg = segment(img, "slic", segmenter_params("slic", {"n_segments": "6"}), seed=0)
    count = 1 if channels == "grey" else 3
    encoder = PixelEncoder(
        channels, layout, 1 / 255, np.linspace(0.2, 0.4, count), np.linspace(0.5, 0.7, count)
    )
    domain = ImageDomain(img, seg, Hide("mean"), encoder)
    z = np.random.default_rng(2).integers(0, 2, (5, domain.num_features)).astype(np.uint8)
    batch = domain.to_model_input(z)
    reference = encoder.encode(np.stack([domain.pixels(row) for row in z]))
    assert batch.shape == reference.shape
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch, reference, rtol=1e-6, atol=1e-6)


def test_describe_reports_size_superpixels_and_hiding():
    img = textured_image()
    seg = np.repeat(np.arange(4), 480).reshape(48, 40)
    info = ImageDomain(img, seg, Hide.parse("blur:2"), name="x.png").describe()
    assert info["width"] == 40 and info["height"] == 48
    assert info["num_superpixels"] == 4
    assert info["hide"] == "blur(2)"


def test_default_batch_size_bounds_pixels_per_model_call():
    big = ImageDomain(np.zeros((224, 224, 3), np.uint8), np.zeros((224, 224), int))
    assert big.preferred_batch_size(1000) == 16
    small = ImageDomain(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), int))
    assert small.preferred_batch_size(1000) == 1000
    huge = ImageDomain(np.zeros((1200, 1000, 3), np.uint8), np.zeros((1200, 1000), int))
    assert huge.preferred_batch_size(1000) == 1
