"""``lime-explain image`` end to end: scikit-learn and ONNX models, outputs, input errors."""

import io
import json
import os
import re

import joblib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.linear_model import LogisticRegression

from lime_cli.cli import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EFFICIENTNET = os.path.join(ROOT, "sample_models", "efficientnet_lite0.onnx")
PHOTOS = os.path.join(ROOT, "sample_data", "images")


def run(args):
    return CliRunner().invoke(cli, ["image"] + [str(a) for a in args])


@pytest.fixture(scope="module")
def corner_model(tmp_path_factory):
    """A classifier of 8x8 grey images whose class is 'bright' when the top-left 4x4 is bright."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (3000, 8, 8))
    y = np.where(x[:, :4, :4].mean(axis=(1, 2)) > 127.5, "bright", "dark")
    model = LogisticRegression(max_iter=2000).fit(x.reshape(len(x), -1) / 255, y)
    folder = tmp_path_factory.mktemp("corner")
    path = folder / "corner.joblib"
    # The model takes values in 0..1: the command scales pixels with --scale 1/255.
    joblib.dump(model, path)
    return str(path)


def corner_picture(path, seed=0):
    """Bright top-left quadrant, a different texture in each other quadrant."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((8, 8), dtype=np.uint8)
    pixels[:4, :4] = 250
    pixels[:4, 4:] = rng.integers(20, 60, (4, 4))
    pixels[4:, :4] = rng.integers(100, 140, (4, 4))
    pixels[4:, 4:] = rng.integers(180, 220, (4, 4))
    Image.fromarray(pixels, "L").save(path)
    return str(path)


def corner_args(model, picture, *extra, seed=3):
    return [
        "--model", model, picture, "--scale", 1 / 255, "--segmenter", "slic",
        "--segments", 4, "--segment-param", "compactness=100", "--hide", "0",
        "--num-samples", 300, "--seed", seed, *extra,
    ]  # fmt: skip


def test_region_the_model_depends_on_ranks_first(tmp_path, corner_model):
    picture = corner_picture(tmp_path / "corner.png")
    npy = tmp_path / "segments.npy"
    result = run(corner_args(corner_model, picture, "--format", "json", "--out", npy))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["prediction"]["predicted"] == "bright"
    assert data["input"]["width"] == 8 and data["input"]["height"] == 8
    assert data["model"]["preprocessing"]["channels"] == "grey"
    segments = np.load(npy)
    assert segments.shape == (8, 8)
    features = data["explanations"][0]["features"]
    assert len(features) == data["input"]["num_superpixels"] == segments.max() + 1
    top = features[0]
    region = segments == top["index"]
    corner = np.zeros((8, 8), dtype=bool)
    corner[:4, :4] = True
    assert top["weight"] > 0
    assert (region & corner).sum() >= 0.75 * region.sum()  # the top superpixel is the corner
    assert top["pixels"] == int(region.sum())
    rows, cols = np.nonzero(region)
    assert top["bbox"] == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    others = [abs(f["weight"]) for f in features[1:]]
    assert all(w < top["weight"] for w in others)


def test_same_seed_gives_the_same_explanation(tmp_path, corner_model):
    picture = corner_picture(tmp_path / "corner.png")
    first = run(corner_args(corner_model, picture, "--format", "json"))
    second = run(corner_args(corner_model, picture, "--format", "json"))
    assert first.exit_code == 0 and first.stdout == second.stdout
    other = run(corner_args(corner_model, picture, "--format", "json", seed=4))
    assert json.loads(other.stdout)["params"]["seed"] == 4
    assert other.stdout != first.stdout


def test_several_images_give_json_lines_and_one_png_per_image(tmp_path, corner_model):
    a = corner_picture(tmp_path / "a.png", seed=1)
    b = corner_picture(tmp_path / "b.png", seed=2)
    out = tmp_path / "expl.png"
    result = run(corner_args(corner_model, a, b, "--format", "json", "--out", out))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [json.loads(line)["input"]["name"] for line in lines] == [a, b]
    for name in ("expl-a.png", "expl-b.png"):
        with Image.open(tmp_path / name) as png:
            # The picture's size, and a legend band below it.
            assert png.format == "PNG" and png.width == 224 and png.height > 224
    assert not out.exists()


def test_several_labels_give_one_png_each_named_by_label(tmp_path, corner_model):
    picture = corner_picture(tmp_path / "corner.png")
    out = tmp_path / "expl.png"
    heat = tmp_path / "heat.png"
    args = corner_args(corner_model, picture, "--top-labels", 2, "--out", out, "--heatmap", heat)
    result = run(args + ["--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png")
    assert names == [
        "corner.png", "expl-bright.png", "expl-dark.png", "heat-bright.png", "heat-dark.png",
    ]  # fmt: skip


def test_terminal_table_shows_num_features_superpixels(tmp_path, corner_model):
    picture = corner_picture(tmp_path / "corner.png")
    result = run(corner_args(corner_model, picture, "--num-features", 2))
    assert result.exit_code == 0, result.output
    assert "bright" in result.stdout
    rows = re.findall(r"superpixel \d+\s+[+-]\d\.\d{4}", result.stdout)
    assert len(rows) == 2  # table rows; the stability notes below may name others
    assert "2 strongest of" in result.stdout


def test_sklearn_model_with_the_wrong_input_size_is_an_input_error(tmp_path, corner_model):
    picture = corner_picture(tmp_path / "corner.png")
    result = run(corner_args(corner_model, picture, "--resize", "6x6"))
    assert result.exit_code == 3
    assert "takes 64 values" in result.stderr


def broken_files(folder):
    """name -> bytes of files that are not usable images."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 90).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    zero = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x00\x00\x00\x00\x08\x08\x02\x00\x00\x00"
        b"\x00\x00\x00\x00"
    )
    return {
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "corrupted.png": b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50,
        "text.jpg": b"this is not an image\n",
        "empty.png": b"",
        "zero.png": zero,
    }


@pytest.mark.parametrize("name", sorted(broken_files(None)))
def test_broken_images_exit_3_and_write_nothing(tmp_path, corner_model, name):
    path = tmp_path / name
    path.write_bytes(broken_files(tmp_path)[name])
    out_png, out_json = tmp_path / "out.png", tmp_path / "out.json"
    result = run(corner_args(corner_model, path, "--out", out_png, "--out", out_json))
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lime-explain: input error:")
    assert not out_png.exists() and not out_json.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".lime")]


def test_decompression_bomb_limit_exits_3(tmp_path, corner_model):
    picture = tmp_path / "large.png"
    Image.new("L", (300, 300), 100).save(picture)
    result = run(corner_args(corner_model, picture, "--max-pixels", 10_000))
    assert result.exit_code == 3
    assert "decompression bomb" in result.stderr


def test_one_bad_image_among_good_ones_is_reported_and_the_rest_explained(tmp_path, corner_model):
    good = corner_picture(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out = tmp_path / "all.jsonl"
    result = run(corner_args(corner_model, bad, good, "--format", "json", "--out", out))
    assert result.exit_code == 3
    assert "bad.png" in result.stderr
    assert len(out.read_text().strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--segments", 10], "--segmenter slic"),
        (["--segment-param", "bogus=1"], "no parameter"),
        (["--hide", "nocolour"], "--hide"),
        (["--out", "x.gif"], "unknown extension"),
        (["--heatmap", "x.jpg"], "PNG"),
        (["--output", "logits"], "ONNX"),
    ],
)
def test_usage_errors_exit_2(tmp_path, corner_model, args, message):
    picture = corner_picture(tmp_path / "corner.png")
    base = ["--model", corner_model, picture, "--num-samples", 10]
    if args[0] == "--segments":
        base += ["--segmenter", "quickshift"]
    result = run(base + args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.slow
def test_efficientnet_sample_end_to_end(tmp_path):
    out = tmp_path / "coffee.png"
    result = run(
        [
            "--model", EFFICIENTNET, os.path.join(PHOTOS, "coffee.jpg"),
            os.path.join(PHOTOS, "chelsea.jpg"), "--num-samples", 50, "--seed", 0,
            "--format", "json", "--out", out, "--out", tmp_path / "segments.npy",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    coffee, chelsea = (json.loads(line) for line in result.stdout.strip().splitlines())
    assert coffee["prediction"]["predicted"] == "espresso"
    assert coffee["prediction"]["probabilities"]["espresso"] > 0.8
    probs = chelsea["prediction"]["probabilities"]
    assert "tiger cat" in sorted(probs, key=probs.get, reverse=True)[:3]
    assert coffee["input"]["width"] == 224 and coffee["input"]["height"] == 224
    assert coffee["input"]["original"]["width"] == 600
    assert coffee["model"]["preprocessing"]["source"].endswith("efficientnet_lite0.json")
    assert coffee["model"]["output"]["softmax"] is True
    label = coffee["explanations"][0]
    assert label["label"] == "espresso"
    assert len(label["features"]) == coffee["input"]["num_superpixels"]
    # Where the 224x224 crop lies in the 600x400 photo, and the photo itself.
    assert coffee["input"]["geometry"] == {
        "photo_size": [600, 400], "box": [125.0, 25.0, 475.0, 375.0], "model_size": [224, 224]
    }  # fmt: skip
    assert coffee["input"]["photo"]["width"] == 600 and coffee["params"]["draw_on"] == "photo"
    # The pictures are drawn on the photos at their own size, a legend band below.
    for name, (width, height) in (("coffee-coffee.png", (600, 400)),
                                  ("coffee-chelsea.png", (451, 300))):  # fmt: skip
        with Image.open(tmp_path / name) as png:
            assert png.width == width and png.height > height
    assert np.load(tmp_path / "segments-coffee.npy").shape == (224, 224)


def test_jobs_and_input_order_do_not_change_results(tmp_path, corner_model):
    a = corner_picture(tmp_path / "a.png", seed=1)
    b = corner_picture(tmp_path / "b.png", seed=2)
    one = run(corner_args(corner_model, a, b, "--format", "json"))
    two = run(corner_args(corner_model, b, a, "--format", "json", "--jobs", 2))
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    by_name = {json.loads(line)["input"]["name"]: line for line in two.stdout.splitlines()}
    for line in one.stdout.splitlines():
        assert by_name[json.loads(line)["input"]["name"]] == line


def test_directory_and_stdin_inputs(tmp_path, corner_model):
    folder = tmp_path / "pictures"
    folder.mkdir()
    corner_picture(folder / "b.png", seed=2)
    corner_picture(folder / "a.png", seed=1)
    (folder / "notes.txt").write_text("not a picture")
    result = run(corner_args(corner_model, folder, "--format", "json"))
    assert result.exit_code == 0, result.output
    names = [json.loads(line)["input"]["name"] for line in result.stdout.splitlines()]
    assert [os.path.basename(n) for n in names] == ["a.png", "b.png"]
    data = (folder / "a.png").read_bytes()
    piped = CliRunner().invoke(
        cli, ["image"] + [str(a) for a in corner_args(corner_model, "-", "--format", "json")],
        input=data,
    )  # fmt: skip
    assert piped.exit_code == 0, piped.output
    from_stdin = json.loads(piped.stdout)
    from_file = json.loads(result.stdout.splitlines()[0])
    assert from_stdin["input"]["name"] == "stdin"
    assert from_stdin["explanations"] == from_file["explanations"]


def test_pick_and_compare_run_on_images(tmp_path, corner_model):
    a = corner_picture(tmp_path / "a.png", seed=1)
    b = corner_picture(tmp_path / "b.png", seed=2)
    common = corner_args(corner_model, a, b)[2:]
    picked = CliRunner().invoke(
        cli, ["pick", "image", "--model", corner_model, "--budget", "1", "--format", "json"]
        + [str(x) for x in common],
    )  # fmt: skip
    assert picked.exit_code == 0, picked.output
    assert len(json.loads(picked.stdout)["picked"]) == 1
    compared = CliRunner().invoke(
        cli, ["compare", "image", "--model", corner_model, "--model", corner_model,
              "--format", "json"] + [str(x) for x in common],
    )  # fmt: skip
    assert compared.exit_code == 0, compared.output
    report = json.loads(compared.stdout)
    assert len(report["inputs"]) == 2
    assert report["only_a"] == [] and report["only_b"] == []


def test_resume_refuses_a_picture_redrawn_since_it_was_explained(
    tmp_path, corner_model, monkeypatch
):
    """The ledger keeps each picture's digest (its file's bytes): a picture redrawn
    under the same name after it was explained stops --resume with exit 2 and the
    files as they were; put back, the stopped run finishes as an uninterrupted one."""
    from lime_cli.run import executor, loop

    pictures = [corner_picture(tmp_path / f"{name}.png", seed=k) for k, name in enumerate("abc")]
    whole, out = tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    assert run(corner_args(corner_model, *pictures, "-q", "--out", whole)).exit_code == 0
    real = executor.run_pairs

    def stopped_after_one(*a, **k):
        for done, pair in enumerate(real(*a, **k)):
            if done == 1:
                raise KeyboardInterrupt
            yield pair

    monkeypatch.setattr(loop.executor, "run_pairs", stopped_after_one)
    assert run(corner_args(corner_model, *pictures, "-q", "--out", out)).exit_code == 130
    monkeypatch.setattr(loop.executor, "run_pairs", real)
    before = out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()
    kept = (tmp_path / "a.png").read_bytes()
    corner_picture(tmp_path / "a.png", seed=9)  # a, explained, drawn again
    refused = run(corner_args(corner_model, *pictures, "-q", "--out", out, "--resume"))
    assert refused.exit_code == 2
    assert f"{pictures[0]} has changed since {out} explained it" in refused.stderr
    assert (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()) == before
    (tmp_path / "a.png").write_bytes(kept)
    finished = run(corner_args(corner_model, *pictures, "-q", "--out", out, "--resume"))
    assert finished.exit_code == 0, finished.output
    assert out.read_bytes() == whole.read_bytes()


def test_resume_refuses_a_preprocessing_json_or_class_names_changed_beside_the_model(tmp_path):
    """Read without being named, they shape every explanation: their content joins
    the settings' hash (an edited mean used to be resumed, mixing two preprocessings
    in one file), while the same bytes under a new time go on."""
    import shutil

    for name in ("efficientnet_lite0.onnx", "efficientnet_lite0.json", "imagenet_classes.txt"):
        shutil.copy(os.path.join(ROOT, "sample_models", name), tmp_path / name)
    out = tmp_path / "o.jsonl"
    argv = ["--model", tmp_path / "efficientnet_lite0.onnx", os.path.join(PHOTOS, "coffee.jpg"),
            "--num-samples", 10, "--seed", 1, "-q", "--out", out, "--resume"]  # fmt: skip
    assert run(argv).exit_code == 0
    files = out.read_bytes(), (tmp_path / "o.jsonl.resume").read_bytes()
    for name, old, new in [
        ("efficientnet_lite0.json", "127.0", "100.0"),
        ("imagenet_classes.txt", "espresso", "ESPRESSO"),
    ]:
        edited = tmp_path / name
        saved = edited.read_bytes()
        edited.write_bytes(saved.replace(old.encode(), new.encode()))
        refused = run(argv)
        assert refused.exit_code == 2
        assert f"written with other settings (the content of {name} differs)" in refused.stderr
        edited.write_bytes(saved)
        os.utime(edited, ns=(0, 0))
    assert run(argv).exit_code == 0
    assert (out.read_bytes(), (tmp_path / "o.jsonl.resume").read_bytes()) == files
