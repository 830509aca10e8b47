"""Pictures drawn on the user's photo at its own size: the PNG, the heatmap and the
report, from the JSON alone; the photo stored capped; ``--draw-on model`` for the
model's crop; explanations saved before photos were stored still drawn."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from _cli import one_error_line
from _cli import run as run_cli
from PIL import Image
from report_samples import image_explanation, photo_pixels
from test_image_command import corner_args, corner_model, run  # noqa: F401

from lime_cli.explanation import Explanation
from lime_cli.image import pictures
from lime_cli.image.photo import LOSSLESS_MAX_PIXELS, PHOTO_MAX_PIXELS, encode_photo, photo_of
from lime_cli.image.preprocess import Preprocessing, geometry_of
from lime_cli.image.writers import canvas_for, draw_picture

BLUE = tuple(pictures.TOWARDS.astype(int))


def save_photo(path, width, height):
    Image.fromarray(photo_pixels(width, height), "RGB").save(path)
    return str(path)


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def is_grey(pixels) -> np.ndarray:
    return (pixels[..., 0] == pixels[..., 1]) & (pixels[..., 1] == pixels[..., 2])


def test_png_and_heatmap_have_the_photo_size_and_darken_what_the_model_did_not_see(
    tmp_path,
    corner_model,  # noqa: F811
):
    # The model takes 8x8: the 360x240 photo is resized to 12x8 and cropped to its
    # middle 8x8, which is x 60..300 in the photo; the sides were never seen.
    photo = save_photo(tmp_path / "wide.png", 360, 240)
    out, heat = tmp_path / "x.png", tmp_path / "h.png"
    result = run(corner_args(corner_model, photo, "--out", out, "--heatmap", heat, "--quiet"))
    assert result.exit_code == 0, result.output
    for path in (out, heat):
        width, height = png_size(path)
        assert width == 360 and height > 240  # the photo's size, a legend band below
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB")).astype(int)[:240]
        left, middle = pixels[20:220, 5:50], pixels[20:220, 70:290]
        assert is_grey(left).all() and left.mean() < 90  # darkened, in grey
        assert middle.mean() > left.mean() + 30
    with Image.open(out) as image:
        legend = np.asarray(image.convert("RGB"))[240:]
    assert (legend < 100).any()  # the legend says what the dark parts are (text drawn)


def test_pictures_drawn_again_from_the_json_are_byte_identical(tmp_path, corner_model):  # noqa: F811
    photo = save_photo(tmp_path / "wide.png", 360, 240)
    saved = tmp_path / "e.jsonl"
    first = run(corner_args(corner_model, photo, "--out", tmp_path / "a.png", "--heatmap",
                            tmp_path / "ha.png", "--out", saved, "--top-labels", 2,
                            "--quiet"))  # fmt: skip
    assert first.exit_code == 0, first.output
    again = run_cli("render", saved, "--out", tmp_path / "b.png",
                    "--out", f"heatmap:{tmp_path / 'hb.png'}", "--quiet")  # fmt: skip
    assert again.exit_code == 0, again.output
    made = sorted(p.name for p in tmp_path.glob("a-*.png")) + sorted(
        p.name for p in tmp_path.glob("ha-*.png")
    )
    assert len(made) == 4  # two labels, PNG and heatmap
    for name in made:
        redrawn = name.replace("a-", "b-", 1) if name.startswith("a-") else "hb" + name[2:]
        assert (tmp_path / redrawn).read_bytes() == (tmp_path / name).read_bytes()
        assert png_size(tmp_path / name)[0] == 360


def test_json_without_the_photo_is_still_drawn_on_the_models_picture(tmp_path, corner_model):  # noqa: F811
    photo = save_photo(tmp_path / "wide.png", 360, 240)
    saved = tmp_path / "e.json"
    assert run(corner_args(corner_model, photo, "--out", saved, "--quiet")).exit_code == 0
    data = json.loads(saved.read_text())
    for key in ("photo", "geometry"):
        del data["input"][key]
    del data["params"]["draw_on"]  # as saved before photos were stored
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    result = run_cli("render", old, "--out", tmp_path / "old.png",
                     "--out", f"heatmap:{tmp_path / 'old_heat.png'}", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("old.png", "old_heat.png"):
        width, height = png_size(tmp_path / name)
        assert width == 224 and height > 224  # the 8x8 crop scaled up 28 times


def test_draw_on_model_draws_the_crop_and_leaves_the_photo_out_of_the_json(
    tmp_path,
    corner_model,  # noqa: F811
):
    photo = save_photo(tmp_path / "wide.png", 360, 240)
    saved, out = tmp_path / "e.json", tmp_path / "x.png"
    result = run(corner_args(corner_model, photo, "--draw-on", "model", "--out", saved,
                             "--out", out, "--quiet"))  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(saved.read_text())
    assert data["params"]["draw_on"] == "model"
    assert "photo" not in data["input"]
    assert data["input"]["geometry"]["box"] == [60.0, 0.0, 300.0, 240.0]  # still recorded
    assert png_size(out)[0] == 224
    bad = run(corner_args(corner_model, photo, "--draw-on", "crop"))
    assert bad.exit_code == 2 and "--draw-on" in bad.stderr


def test_a_large_photo_is_stored_downscaled_and_says_so(tmp_path, corner_model):  # noqa: F811
    image = Image.fromarray(photo_pixels(3000, 2000), "RGB")
    stored = encode_photo(image)
    assert stored["format"] == "jpeg" and stored["downscaled_from"] == [3000, 2000]
    width, height = stored["width"], stored["height"]
    assert width * height <= PHOTO_MAX_PIXELS and abs(width / height - 1.5) < 0.01
    with Image.open(io.BytesIO(base64.b64decode(stored["data"]))) as decoded:
        assert decoded.size == (width, height)
    # Through the command: the JSON and the PNG have the stored size.
    big = save_photo(tmp_path / "big.png", 1600, 1000)
    saved, out = tmp_path / "e.json", tmp_path / "x.png"
    result = run(corner_args(corner_model, big, "--out", saved, "--out", out, "--quiet"))
    assert result.exit_code == 0, result.output
    photo = json.loads(saved.read_text())["input"]["photo"]
    assert photo["downscaled_from"] == [1600, 1000] and photo["width"] < 1600
    assert png_size(out)[0] == photo["width"]
    e = Explanation.from_dict(json.loads(saved.read_text()))
    lines = draw_picture(e, e.explanations[0], *pictures.picture_of(e), "masked")
    assert lines.shape[1] == photo["width"]


def test_a_small_photo_is_stored_losslessly():
    pixels = photo_pixels(120, 90)
    assert 120 * 90 <= LOSSLESS_MAX_PIXELS
    stored = encode_photo(Image.fromarray(pixels, "RGB"))
    assert stored["format"] == "png" and "downscaled_from" not in stored
    e = image_explanation(size=48, photo=(120, 90))
    e.input["photo"] = stored
    photo, geometry = photo_of(e)
    assert np.array_equal(photo, pixels)
    assert geometry.photo == (120, 90)


def test_the_legend_says_whether_the_crop_was_cut_after_resizing():
    from lime_cli.image.photo import crop_words

    e = image_explanation(size=48, photo=(150, 100))
    assert crop_words(e) == "a 48x48 crop of the photo after resizing"
    e.input["geometry"] = geometry_of((150, 100), Preprocessing(crop=(48, 48))).to_dict()
    assert crop_words(e, "×") == "a 48×48 crop of the photo"


def test_a_strip_too_long_for_jpeg_is_stored_as_png():
    stored = encode_photo(Image.new("RGB", (70_000, 2), (10, 200, 30)))
    assert stored["format"] == "png" and stored["width"] == 70_000


def test_a_broken_photo_is_one_clear_error(tmp_path):
    e = image_explanation(size=48, photo=(120, 90))
    e.input["photo"]["data"] = "not base64!"
    saved = tmp_path / "e.json"
    saved.write_text(json.dumps(e.to_dict()))
    result = run_cli("render", saved, "--out", tmp_path / "x.png")
    assert "photo cannot be read" in one_error_line(result, 3)
    assert not (tmp_path / "x.png").exists()


def _first_text_line_height(band: np.ndarray) -> int:
    dark = (band < 100).all(axis=2).any(axis=1)
    rows = np.nonzero(dark)[0]
    run_end = rows[0]
    while run_end + 1 < len(dark) and dark[run_end + 1]:
        run_end += 1
    return int(run_end - rows[0] + 1)


@pytest.mark.parametrize("width, height", [(4000, 3000), (32, 24)])
def test_numbers_outlines_and_legend_grow_with_the_photo(width, height):
    """Readable on a 4000-pixel photo shown scaled to a screen, and on a 32-pixel one
    (scaled up by a whole factor, as the model's picture is)."""
    rng = np.random.default_rng(0)
    photo = rng.integers(60, 200, size=(height, width, 3), dtype=np.uint8)
    geometry = geometry_of((width, height), Preprocessing(resize=48, crop=(48, 48)))
    e = image_explanation(size=48)
    image, segments = pictures.picture_of(e)
    canvas = pictures.photo_canvas(photo, geometry)
    weights = [(f.index, f.weight) for f in e.explanations[0].features]
    drawn, placed = pictures.strongest_image(image, segments, weights, 3, canvas)
    assert drawn.shape[:2] == (canvas.height, canvas.width)
    assert canvas.width % width == 0 and min(canvas.height, canvas.width) >= 224
    short = min(canvas.height, canvas.width)
    assert canvas.line >= short // 250  # outlines thicken with the photo
    plain = drawn.copy()
    pictures.draw_numbers(drawn, placed)
    # Number 1's disc is at least 1/15 of the shorter side across.
    row, col = placed[0][2]
    across = (drawn[row] != plain[row]).any(axis=1)
    changed = np.nonzero(across)[0]
    assert changed[0] <= col <= changed[-1] and changed[-1] - changed[0] >= short / 15
    # The legend's text is at least 1/80 of the picture's width high.
    full = pictures.with_legend(drawn, ["Solid blue: towards it. Dashed red: against it."])
    text_height = _first_text_line_height(full[canvas.height :])
    assert text_height >= max(7, canvas.width / 80)


def test_drawing_on_a_photo_in_strips_equals_drawing_at_once(monkeypatch):
    e = image_explanation(size=48, photo=(150, 100))
    image, segments = pictures.picture_of(e)
    canvas = canvas_for(e, image, segments)
    # 150x100 is scaled up 3 times (shorter side at least 224), the sides darkened.
    assert canvas.crops and (canvas.width, canvas.height) == (450, 300)
    weights = [(f.index, f.weight) for f in e.explanations[0].features]

    def draw_all():
        return (
            pictures.strongest_image(image, segments, weights, 3, canvas)[0],
            pictures.heatmap(image, segments, weights, canvas),
            pictures.masked_image(image, segments, weights, 3, canvas),
        )

    at_once = draw_all()
    monkeypatch.setattr(pictures, "STRIP_PIXELS", 1)  # one output row per strip
    for a, b in zip(at_once, draw_all()):
        np.testing.assert_array_equal(a, b)
    # Superpixel 3 (bottom right of the crop, towards) is outlined in blue on the photo.
    labels = pictures.canvas_labels(canvas, segments)
    assert (np.all(at_once[0] == BLUE, axis=2) & (labels == 3)).any()
    assert not (np.all(at_once[0] == BLUE, axis=2) & (labels == -1)).any()
