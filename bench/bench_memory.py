"""Peak memory of the scale cases (issue 6), each run in a fresh process.

- text: a 100,000-word document with 20,000 distinct words, default settings
  (5000 samples, 10 features, auto selection), explained in-process with a
  cheap word-counting model so the figure is lime-explain's own memory.
- image: an 8000 x 6000 photo-like JPEG (48 megapixels) explained by the
  image command itself (read, segment, sample, predict, fit, write the JSON)
  with a small fully-convolutional ONNX model of dynamic height and width,
  so the model sees every pixel of every perturbed copy. Superpixels: slic
  with 100 segments. Not quickshift: its superpixels have a size in pixels
  (kernel_size 4, max_dist 200), not a count, so at 48 megapixels it would
  cut the picture into hundreds of thousands of tiny superpixels (as many
  features, for 1000 samples) after minutes of work per image.

  The model is a 4x4 convolution with stride 4 (each pixel enters exactly one
  patch) with eight colour-detecting filters, ReLU, global average pooling and
  a 3-class Gemm ("red", "green", "blue"). A stride-1 3x3 convolution would
  measure onnxruntime rather than lime-explain: at 48 megapixels its im2col
  buffer and activations alone take about 4.5 GB per image.

Prints each case's wall-clock time and peak resident memory (ru_maxrss of the
child process). The image files are built by the parent process, so building
them is not counted. Run:

    .venv/bin/python bench/bench_memory.py [--case text] [--case image] [--image-samples N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = ("text", "image")
#: Width and height of the image case.
IMAGE_SIZE = (8000, 6000)
IMAGE_CLASSES = ("red", "green", "blue")


class WordCountModel:
    """P(pos) grows with the counts of two known words; about as cheap as a model can be."""

    classes = ["neg", "pos"]
    mode = "classification"

    def predict(self, docs: list[str]) -> np.ndarray:
        p = np.array([(d.count("w00001 ") + d.count("w00007 ")) / 4000.0 for d in docs])
        p = p.clip(0, 1)
        return np.column_stack([1 - p, p])

    def describe(self) -> dict:
        return {"path": "word-count", "format": "python", "mode": "classification"}


def long_document(words: int = 100_000, distinct: int = 20_000, seed: int = 0) -> str:
    """Every vocabulary word once, the rest drawn with Zipf-like frequencies."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i:05d}" for i in range(distinct)])
    p = 1.0 / np.arange(1, distinct + 1)
    tokens = np.concatenate([vocab, rng.choice(vocab, size=words - distinct, p=p / p.sum())])
    rng.shuffle(tokens)
    return " ".join(tokens.tolist())


def run_text(_: argparse.Namespace) -> dict:
    from lime_cli.engine import LabelRequest, LimeParams, explain
    from lime_cli.text.domain import TextDomain

    text = long_document()
    t0 = time.perf_counter()
    domain = TextDomain(text)
    exp = explain(domain, WordCountModel(), LabelRequest(), LimeParams(seed=0),
                  np.random.default_rng(0))  # fmt: skip
    top = [f.feature for f in exp.explanations[0].features[:2]]
    return {
        "case": "text: 100,000 words, 20,000 distinct, 5000 samples",
        "seconds": time.perf_counter() - t0,
        "features": domain.num_features,
        "top": top,
    }


# -- image case ----------------------------------------------------------------
def colour_model(path: str) -> None:
    """A tiny fully-convolutional ONNX classifier of any height and width (see above).

    Inputs are 0..1 RGB (the JSON beside the model sets scale 1/255). The
    filters measure how much a patch's red, green or blue exceeds the other
    two channels, in both signs; the Gemm turns the pooled responses into
    logits of the three colours.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dominance = np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5], [-0.5, -0.5, 1.0]])
    filters = np.zeros((8, 3, 4, 4), dtype=np.float32)
    filters[:3] = dominance[:, :, None, None] / 16.0
    filters[3:6] = -dominance[:, :, None, None] / 16.0
    filters[6] = 1.0 / 48.0  # brightness
    filters[7, :, :2] = 1.0 / 24.0  # a texture-ish filter: top half of the patch
    filters[7, :, 2:] = -1.0 / 24.0
    gemm = np.zeros((3, 8), dtype=np.float32)
    gemm[:, :3] = 12.0 * np.eye(3)
    gemm[:, 3:6] = -4.0 * np.eye(3)
    nodes = [
        helper.make_node("Conv", ["x", "filters"], ["conv"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "gemm", "bias"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "colours",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        initializer=[
            numpy_helper.from_array(filters, "filters"),
            numpy_helper.from_array(gemm, "gemm"),
            numpy_helper.from_array(np.zeros(3, dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    stem = os.path.splitext(path)[0]
    with open(stem + ".txt", "w", encoding="utf-8") as fh:
        fh.write("\n".join(IMAGE_CLASSES) + "\n")
    with open(stem + ".json", "w", encoding="utf-8") as fh:
        json.dump(
            {
                "scale": 1 / 255,
                "output": "logits",
                "class_names_file": os.path.basename(stem) + ".txt",
            },
            fh,
        )


def landscape(path: str, size: tuple[int, int] = IMAGE_SIZE) -> None:
    """A photo-like JPEG: sky and ground gradients, a red sun, a green field, a house."""
    from PIL import Image, ImageDraw

    width, height = size
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    horizon = height * 3 // 5
    t = np.linspace(0.0, 1.0, horizon)[:, None]
    for c, (top, bottom) in enumerate([(70, 170), (120, 200), (200, 235)]):
        pixels[:horizon, :, c] = np.rint(top + (bottom - top) * t).astype(np.uint8)
    u = np.linspace(0.0, 1.0, height - horizon)[:, None]
    for c, (top, bottom) in enumerate([(110, 80), (95, 70), (70, 50)]):
        pixels[horizon:, :, c] = np.rint(top + (bottom - top) * u).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    del pixels
    draw = ImageDraw.Draw(image)
    s = width / 8000
    draw.ellipse([5600 * s, 500 * s, 7100 * s, 2000 * s], fill=(230, 40, 30))
    draw.rectangle([0, horizon + 300 * s, 4200 * s, height], fill=(40, 160, 50))
    draw.rectangle([4800 * s, horizon - 900 * s, 6200 * s, horizon + 400 * s], fill=(180, 170, 150))
    roof = [(4600 * s, horizon - 900 * s), (5500 * s, horizon - 1700 * s)]
    draw.polygon(roof + [(6400 * s, horizon - 900 * s)], fill=(120, 50, 40))
    image.save(path, quality=90)


def run_image(args: argparse.Namespace) -> dict:
    from lime_cli.cli import cli

    folder = args.folder
    out = os.path.join(folder, "explanation.json")
    argv = [
        "image", "--model", os.path.join(folder, "colours.onnx"),
        os.path.join(folder, "landscape.jpg"), "--segmenter", "slic", "--segments", "100",
        "--num-samples", str(args.image_samples), "--seed", "0", "--quiet", "--out", out,
    ]  # fmt: skip
    t0 = time.perf_counter()
    try:
        cli.main(args=argv, prog_name="lime-explain", standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"lime-explain image exited with {code}")
    with open(out, encoding="utf-8") as fh:
        data = json.load(fh)
    label = data["explanations"][0]
    first = label["features"][0]
    width, height = IMAGE_SIZE
    return {
        "case": (
            f"image: {width} x {height} ({width * height / 1e6:.0f} MP), slic 100 segments, "
            f"{args.image_samples} samples"
        ),
        "seconds": seconds,
        "features": data["input"]["num_superpixels"],
        "batch_size": data["params"]["batch_size"],
        "top": [
            f"class {label['label']}",
            f"{first['feature']} (bbox {first['bbox']}, weight {first['weight']:+.3f})",
        ],
    }


def prepare_image(folder: str) -> None:
    colour_model(os.path.join(folder, "colours.onnx"))
    landscape(os.path.join(folder, "landscape.jpg"))


# -- driver --------------------------------------------------------------------
def child(case: str, args: argparse.Namespace) -> None:
    result = {"text": run_text, "image": run_image}[case](args)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, action="append")
    parser.add_argument(
        "--image-samples",
        type=int,
        default=1000,
        help="samples of the image case (default: the image command's default, 1000)",
    )
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    with tempfile.TemporaryDirectory(prefix="lime-bench-memory-") as folder:
        for case in args.case or CASES:
            if case == "image":
                prepare_image(folder)
            command = [sys.executable, __file__, "--child", case, "--folder", folder,
                       "--image-samples", str(args.image_samples)]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{case}: failed\n{out.stderr}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            extra = f", batch size {result['batch_size']}" if "batch_size" in result else ""
            print(
                f"{result['case']}: {result['seconds']:.1f} s, peak resident memory "
                f"{result['peak_mb']:.0f} MB{extra} (top: {', '.join(result['top'])})"
            )


if __name__ == "__main__":
    main()
