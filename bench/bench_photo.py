"""Photo benchmark: what drawing on the user's photo costs, in time, memory and JSON.

A large photo is made of the sample photos side by side at their own
resolution (real photographic detail, not noise or flat colour): 6000x4000
pixels (24 MP) by default. Measured:

- storing it in the JSON (``encode_photo``: downscale to 1 MP, JPEG): time and
  the base64 size of ``input.photo``;
- drawing the PNG (strongest superpixels, numbered, legend) and the heatmap
  from the JSON, as ``lime-explain render`` does: time per picture, best of
  ``--rounds``;
- drawing at the photo's full resolution (no cap; what the strip drawing would
  cost if the cap were lifted): time and peak traced memory;
- ``lime-explain image`` with EfficientNet-Lite0 on the photo (``--num-samples
  50``), ``--draw-on photo`` against ``--draw-on model``: the whole command's
  wall time and the JSON line's size (best of ``--rounds``).

    .venv/bin/python bench/bench_photo.py [--rounds 3] [--size 6000x4000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from lime_cli.explanation import Explanation  # noqa: E402
from lime_cli.image import pictures  # noqa: E402
from lime_cli.image.photo import encode_photo  # noqa: E402
from lime_cli.image.preprocess import Preprocessing, geometry_of  # noqa: E402
from lime_cli.image.writers import canvas_for, draw_picture  # noqa: E402

MODEL = ROOT / "sample_models" / "efficientnet_lite0.onnx"
PHOTOS = ("coffee", "chelsea", "rocket")


def large_photo(width: int, height: int):
    """The sample photos tiled at 600x400 (their own scale) to fill width x height."""
    from PIL import Image

    folder = ROOT / "sample_data" / "images"
    tiles = [Image.open(folder / f"{n}.jpg").convert("RGB").resize((600, 400)) for n in PHOTOS]
    photo = Image.new("RGB", (width, height))
    for row in range(0, height, 400):
        for col in range(0, width, 600):
            photo.paste(tiles[(row // 400 + col // 600) % 3], (col, row))
    return photo


def explanation_on(photo, stored: dict) -> Explanation:
    """A 224x224 explanation of 49 superpixels (a 7x7 grid) over ``photo``'s centre."""
    from report_samples import image_explanation

    from lime_cli.explanation import FeatureWeight
    from lime_cli.image.pictures import encode_picture, encode_segments

    e = image_explanation(size=48)
    rng = np.random.default_rng(0)
    segments = (np.arange(224)[:, None] // 32) * 7 + np.arange(224)[None, :] // 32
    picture = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    geometry = geometry_of(photo.size, Preprocessing(resize=256, crop=(224, 224)))
    e.input.update(picture=encode_picture(picture), segment_map=encode_segments(segments),
                   geometry=geometry.to_dict(), photo=stored, width=224, height=224)  # fmt: skip
    weights = rng.normal(size=49)
    features = [FeatureWeight(f"superpixel {j}", float(weights[j]), j) for j in range(49)]
    e.explanations[0].features = sorted(features, key=lambda f: -abs(f.weight))
    e.params["num_features_shown"] = 5
    return Explanation.from_dict(json.loads(json.dumps(e.to_dict())))


def best(rounds: int, work) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def run_cli(photo_path: Path, out: Path, draw_on: str) -> None:
    command = [sys.executable, "-m", "lime_cli", "image", "--model", str(MODEL), str(photo_path),
               "--num-samples", "50", "--seed", "1", "--draw-on", draw_on, "--out", str(out),
               "--quiet"]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="6000x4000")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    photo = large_photo(width, height)
    print(f"photo: {width}x{height} ({width * height / 1e6:.1f} MP), the sample photos tiled")

    stored = encode_photo(photo)
    t_store = best(args.rounds, lambda: encode_photo(photo))
    print(f"storing it (downscale + JPEG): {t_store * 1000:.0f} ms; input.photo "
          f"{stored['width']}x{stored['height']} {stored['format']}, "
          f"{len(stored['data']) / 1e6:.2f} MB of base64")  # fmt: skip

    e = explanation_on(photo, stored)
    label = e.explanations[0]
    image, segments = pictures.picture_of(e)
    for kind in ("masked", "heatmap"):

        def draw(kind: str = kind) -> bytes:
            canvas = canvas_for(e, image, segments)
            return pictures.png_bytes(draw_picture(e, label, image, segments, kind, canvas))

        t = best(args.rounds, draw)
        print(f"drawing the {kind} PNG from the JSON (decode, draw, encode): {t * 1000:.0f} ms")

    full = np.asarray(photo)
    geometry = geometry_of(photo.size, Preprocessing(resize=256, crop=(224, 224)))
    weights = [(f.index, f.weight) for f in label.features]
    tracemalloc.start()
    start = time.perf_counter()
    canvas = pictures.photo_canvas(full, geometry)
    drawn, placed = pictures.strongest_image(image, segments, weights, 5, canvas)
    pictures.draw_numbers(drawn, placed)
    legend = pictures.with_legend(drawn, ["legend"])
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    output = legend.nbytes + drawn.nbytes
    print(f"drawing at full size ({width}x{height}, uncapped): {elapsed:.2f} s, peak traced "
          f"{peak / 1e6:.0f} MB, of which {output / 1e6:.0f} MB the output and its copy "
          "with the legend")  # fmt: skip

    if not MODEL.exists():
        print("(the EfficientNet sample model is missing: command timings skipped)")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo.jpg"
        photo.save(path, quality=92)
        for draw_on in ("photo", "model"):
            out = Path(folder) / f"{draw_on}.json"
            t = best(args.rounds, lambda o=out, d=draw_on: run_cli(path, o, d))
            size = out.stat().st_size
            print(f"lime-explain image --draw-on {draw_on} (50 samples, writing the JSON): "
                  f"{t:.2f} s, JSON {size / 1e6:.2f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
