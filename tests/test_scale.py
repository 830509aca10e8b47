"""Scale guards and bounded memory, in small and fast versions.

- ``--max-features``, ``--max-characters`` and ``--max-pixels`` refuse
  inputs beyond them with exit 3 and one line, before the work (and the
  memory) that the input would take; files far too large are not even read.
- A single 10 MB line is explained with few samples, in a child process whose
  peak memory is measured: documents go to the model a few at a time.
- Long texts: the words a model counts are found among thousands.
- Large pictures: batches are built a strip of rows at a time, pictures over
  the segmentation budget are segmented on a reduced copy, PNGs are drawn in
  strips and never upscaled past a bound; each gives what the direct way gives.

The full-size cases (100,000 words; 8000 x 6000 pixels) are in bench/bench_memory.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lime_cli.cli import cli
from lime_cli.image import domain as image_domain
from lime_cli.image import pictures as render
from lime_cli.image.domain import Hide, ImageDomain, segment, segmenter_params
from lime_cli.image.preprocess import PixelEncoder

TESTS = Path(__file__).resolve().parent
TRUST = ["--trust-module", "test_scale"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


class WordCount:
    """P(up) rises with each 'alpha' and falls with each 'omega'; cheap on any length."""

    classes_ = np.array(["down", "up"])

    def predict(self, docs: Any) -> np.ndarray:
        return (self.predict_proba(docs)[:, 1] > 0.5).astype(int)

    def predict_proba(self, docs: Any) -> np.ndarray:
        score = np.array([d.count("alpha") - d.count("omega") for d in docs], dtype=float)
        p = 1.0 / (1.0 + np.exp(-np.clip(score, -50, 50) / 4.0))
        return np.column_stack([1.0 - p, p])


def invoke(*args: Any, input: bytes | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=CLEAN_ENV)


def assert_refused(result, folder: Path, *words: str) -> str:
    """Exit 3 with one line naming ``words``, and no file but the inputs in ``folder``."""
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    (line,) = result.stderr.splitlines()
    assert line.startswith("lime-explain: input error:")
    for word in words:
        assert word in line, line
    assert not [n for n in os.listdir(folder) if n.startswith(("out", ".lime"))]
    return line


def words(count: int, distinct: int, seed: int = 0, extra: tuple[str, ...] = ()) -> str:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i:05d}" for i in range(distinct)])
    tokens = np.concatenate([vocab, rng.choice(vocab, size=count - distinct), list(extra)])
    rng.shuffle(tokens)
    return " ".join(tokens.tolist())


@pytest.fixture(scope="module")
def word_count(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("model") / "word_count.joblib"
    joblib.dump(WordCount(), path)
    return str(path)


# -- text guards ------------------------------------------------------------------


def test_max_features_refuses_a_document_with_more_distinct_words(word_count, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(words(300, 60), encoding="utf-8")
    base = ["text", "--model", word_count, *TRUST, doc, "--num-samples", 20, "--seed", 0]
    refused = invoke(*base, "--max-features", 59, "--out", tmp_path / "out.json")
    assert_refused(refused, tmp_path, "60 distinct features", "--max-features 59")
    assert invoke(*base, "--max-features", 60).exit_code == 0


def test_max_characters_refuses_a_long_document_and_a_long_line(word_count, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("alpha " * 500, encoding="utf-8")  # 3000 characters
    base = ["text", "--model", word_count, *TRUST, "--num-samples", 20, "--seed", 0]
    result = invoke(*base, doc, "--max-characters", 1000, "--out", tmp_path / "out.json")
    assert_refused(result, tmp_path, "3000 characters", "--max-characters 1000")
    lines = tmp_path / "lines.txt"
    lines.write_text("alpha omega alpha\n" + "omega " * 300 + "\nalpha beta\n", encoding="utf-8")
    result = invoke(*base, "--lines", lines, "--max-characters", 1000, "--format", "json")
    assert result.exit_code == 3 and f"{lines}:2:" in result.stderr
    assert [json.loads(x)["input"]["name"] for x in result.stdout.splitlines()] == [
        f"{lines}:1",
        f"{lines}:3",
    ]


def test_a_file_far_too_large_is_refused_without_being_read(word_count, tmp_path):
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as fh:  # a sparse file: no disk space, nothing worth reading
        fh.truncate(3 * 1024**3)
    result = invoke("text", "--model", word_count, *TRUST, huge, "--out", tmp_path / "out.json")
    assert_refused(result, tmp_path, "3221225472 bytes", "--max-characters")


def test_a_stream_too_large_is_refused_once_past_the_limit(word_count, tmp_path):
    data = ("alpha " * 1000).encode()
    args = ["text", "--model", word_count, *TRUST, "-", "--max-characters", 1000]
    assert_refused(invoke(*args, input=data), tmp_path, "stdin", "--max-characters")


def test_a_few_thousand_words_the_counted_ones_come_first(word_count, tmp_path):
    doc = tmp_path / "long.txt"
    doc.write_text(words(4000, 1500, extra=("alpha",) * 3 + ("omega",) * 3), encoding="utf-8")
    result = invoke("text", "--model", word_count, *TRUST, doc, "--num-samples", 400,
                    "--seed", 1, "--num-features", 4, "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["input"]["num_features"] == 1502
    features = data["explanations"][0]["features"]
    signs = {f["feature"]: np.sign(f["weight"]) for f in features[:2]}
    assert set(signs) == {"alpha", "omega"}
    label = data["explanations"][0]["label"]
    assert signs["alpha"] == (1 if label == "up" else -1)
    assert signs["omega"] == -signs["alpha"]


#: lime-explain as ``python -m lime_cli`` runs it, reporting its peak memory at exit
#: (from an exit handler: the program ends the process itself, see lime_cli.cli.leave).
CHILD = """
import atexit, json, runpy, sys
sys.argv = ["lime-explain"] + sys.argv[1:]
def report():
    # VmHWM is this program's own peak: ru_maxrss survives exec, so a child of a
    # big pytest process would report the parent's size.
    with open("/proc/self/status", encoding="ascii") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"peak_mb": peak / 1024}), flush=True)
atexit.register(report)
runpy.run_module("lime_cli", run_name="__main__")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_a_single_10_mb_line_is_explained_in_bounded_memory(word_count, tmp_path):
    """Decided: explained, not refused. The model sees a few 10 MB documents per call."""
    rng = np.random.default_rng(3)
    vocab = np.array([f"word{i}" for i in range(1000)] + ["alpha"] * 5)
    line = " ".join(rng.choice(vocab, size=1_450_000).tolist())
    assert len(line) > 10_000_000 and "\n" not in line
    doc = tmp_path / "line.txt"
    doc.write_text(line, encoding="utf-8")
    out = tmp_path / "explanation.json"
    command = [sys.executable, "-c", CHILD, "text", "--model", word_count, *TRUST, str(doc),
               "--num-samples", "8", "--seed", "0", "--quiet", "--out", str(out)]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["input"]["characters"] == len(line)
    batch = data["params"]["batch_size"]  # documents per model call: about 32 M characters
    assert 1 <= batch == (32 * 2**20) // len(line) < 8
    assert data["prediction"]["predicted"] == "up" and data["explanations"][0]["features"]
    # The text, its tokens and three perturbed copies: a few hundred MB, not gigabytes.
    assert report["peak_mb"] < 1200, report


# -- image guards -----------------------------------------------------------------


@pytest.fixture(scope="module")
def brightness(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A scikit-learn-style model on flattened pixels of any size (see Brightness)."""
    path = tmp_path_factory.mktemp("model") / "brightness.joblib"
    joblib.dump(Brightness(), path)
    return str(path)


class Brightness:
    classes_ = np.array(["dark", "bright"])

    def predict(self, x: Any) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] > 0.5).astype(int)

    def predict_proba(self, x: Any) -> np.ndarray:
        p = np.clip(np.asarray(x, dtype=float).mean(axis=1) / 255.0, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])


def test_max_pixels_refuses_a_picture_before_decoding_it(brightness, tmp_path):
    picture = tmp_path / "photo.png"
    Image.new("RGB", (100, 100), (200, 10, 10)).save(picture)
    base = ["image", "--model", brightness, *TRUST, picture, "--num-samples", 10,
            "--segmenter", "slic", "--segments", 4]  # fmt: skip
    refused = invoke(*base, "--max-pixels", 9_999, "--out", tmp_path / "out.png")
    assert_refused(refused, tmp_path, "10000 pixels", "9999", "--max-pixels")
    assert invoke(*base, "--max-pixels", 10_000).exit_code == 0


def test_an_image_file_far_too_large_is_refused_without_being_read(brightness, tmp_path):
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.truncate(4 * 1024**3)  # sparse
    result = invoke("image", "--model", brightness, *TRUST, huge, "--out", tmp_path / "out.png")
    assert_refused(result, tmp_path, "4294967296 bytes", "--max-pixels")


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.zeros((height, width, 3), dtype=np.int16)
    base[: height // 2, : width // 2] = (220, 40, 40)
    base[: height // 2, width // 2 :] = (40, 200, 60)
    base[height // 2 :] = (30, 60, 210)
    return np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)


def grid(height: int, width: int, rows: int, cols: int) -> np.ndarray:
    r = np.arange(height)[:, None] * rows // height
    c = np.arange(width)[None, :] * cols // width
    return (r * cols + c).astype(np.int32)


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "flat"])
@pytest.mark.parametrize("hide", ["mean", "7,8,9", "blur:1.5"])
def test_batches_built_in_strips_equal_each_picture_encoded_whole(monkeypatch, layout, hide):
    picture, seg = textured(37, 29), grid(37, 29, 4, 3)
    encoder = PixelEncoder("bgr", layout, 1 / 255, np.array([0.1, 0.2, 0.3]), np.array([2.0]))
    z = np.random.default_rng(5).integers(0, 2, (6, 12)).astype(np.uint8)
    whole = ImageDomain(picture, seg, Hide.parse(hide), encoder).to_model_input(z)
    monkeypatch.setattr(image_domain, "STRIP_PIXELS", 50)  # strips of one row
    domain = ImageDomain(picture, seg, Hide.parse(hide), encoder)
    assert len(domain._strips()) == 37
    strips = domain.to_model_input(z)
    np.testing.assert_array_equal(strips, whole)
    reference = encoder.encode(np.stack([domain.pixels(row) for row in z]))
    np.testing.assert_allclose(strips, reference, rtol=1e-6, atol=1e-6)


def test_a_large_picture_goes_to_the_model_one_at_a_time_and_exactly():
    picture, seg = textured(1100, 1000), grid(1100, 1000, 10, 10)
    encoder = PixelEncoder("rgb", "nchw", 1 / 255, np.zeros(3), np.ones(3))
    domain = ImageDomain(picture, seg, Hide("mean"), encoder)
    assert len(domain._strips()) > 1
    assert domain.preferred_batch_size(1000) == 1
    z = np.random.default_rng(1).integers(0, 2, (2, 100)).astype(np.uint8)
    batch = domain.to_model_input(z)
    reference = encoder.encode(np.stack([domain.pixels(row) for row in z]))
    np.testing.assert_allclose(batch, reference, rtol=1e-6, atol=1e-6)


def test_a_picture_over_the_budget_is_segmented_on_a_reduced_copy(monkeypatch):
    monkeypatch.setattr(image_domain, "SEGMENT_MAX_PIXELS", 1200)
    picture = textured(90, 120)
    assert image_domain.segmentation_size(120, 90) == (40, 30)
    labels = segment(picture, "slic", segmenter_params("slic", {"n_segments": "6"}), seed=0)
    assert labels.shape == (90, 120) and labels.dtype == np.int32
    assert set(np.unique(labels)) == set(range(int(labels.max()) + 1))
    # Nearest-neighbour enlargement: every 3 x 3 block of pixels has one label.
    blocks = labels.reshape(30, 3, 40, 3)
    assert (blocks == blocks[:, :1, :, :1]).all()


def test_the_json_says_when_a_picture_was_segmented_reduced(monkeypatch, brightness, tmp_path):
    monkeypatch.setattr(image_domain, "SEGMENT_MAX_PIXELS", 1200)
    picture = tmp_path / "photo.png"
    Image.fromarray(textured(90, 120)).save(picture)
    result = invoke("image", "--model", brightness, *TRUST, picture, "--num-samples", 20,
                    "--segmenter", "slic", "--segments", 6, "--format", "json",
                    "--out", tmp_path / "segments.npy")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["input"]["segmenter"]["segmented_at"] == "40x30"
    assert np.load(tmp_path / "segments.npy").shape == (90, 120)


@pytest.mark.parametrize("size", [(9, 13), (300, 200)])
def test_pictures_drawn_in_strips_equal_pictures_drawn_at_once(monkeypatch, size):
    height, width = size
    picture, seg = textured(height, width), grid(height, width, 3, 4)
    weights = [(j, float(w)) for j, w in enumerate(np.linspace(-1, 1, 12))]
    at_once = (render.masked_image(picture, seg, weights, 3), render.heatmap(picture, seg, weights))
    monkeypatch.setattr(render, "STRIP_PIXELS", 1)  # one output row per strip
    in_strips = (
        render.masked_image(picture, seg, weights, 3),
        render.heatmap(picture, seg, weights),
    )
    for a, b in zip(at_once, in_strips):
        np.testing.assert_array_equal(a, b)
    assert min(at_once[0].shape[:2]) >= render.MIN_SIDE


@pytest.mark.parametrize("size", [(1, 100_000), (3, 60_000), (1, 1), (224, 224), (8, 8)])
def test_upscaled_pictures_stay_within_the_bound(size):
    height, width = size
    k = render.scale_factor(height, width)
    out_width, out_height = width * k, height * k
    assert out_width * out_height <= max(render.MAX_UPSCALED_PIXELS, height * width)
    assert out_width % width == 0 and out_height % height == 0
    if height * width * (render.MIN_SIDE // min(size)) ** 2 <= render.MAX_UPSCALED_PIXELS:
        assert min(out_width, out_height) >= render.MIN_SIDE
