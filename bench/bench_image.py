"""Image benchmark: lime-explain against lime 0.2.0.1 on the same photo and ONNX model.

Both explain the same sample photo with the EfficientNet-Lite0 sample model
and 1000 samples, side by side in one run so machine noise hits both:

- lime-explain: the image command's own task (read the file, resize and crop,
  quickshift, sample, build model inputs batch by batch, predict, fit), with
  its default batch size.
- lime: ``LimeImageExplainer().explain_instance`` at its defaults (hide_color
  None, batch_size 10, top_labels 5, the same quickshift parameters) on the
  same 224x224 picture, read and cropped the same way inside the timing, with
  a classifier_fn that applies the same preprocessing.

Both run the same onnxruntime session, loaded (and warmed up for every batch
shape) before timing, after one short untimed run of each tool (imports).
The time inside the model is what ``session.run`` takes; everything else is
overhead. Each figure is the median over --repeat runs, alternating the tools.

    .venv/bin/python bench/bench_image.py [--num-samples 1000] [--repeat 3] [--skip-lime]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # lime's image explainer always shows a progress bar

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lime_cli.engine import LabelRequest, LimeParams  # noqa: E402
from lime_cli.image.command import ImageSource, ImageTask  # noqa: E402
from lime_cli.image.domain import Hide, segment, segmenter_params  # noqa: E402
from lime_cli.image.preprocess import (  # noqa: E402
    Preprocessing,
    apply_geometry,
    beside,
    read_class_names,
)
from lime_cli.image.reading import read_image  # noqa: E402
from lime_cli.run.settings import ModelSpec  # noqa: E402

QUICKSHIFT = segmenter_params("quickshift", {})


class TimedSession:
    """An onnxruntime session that adds up the seconds spent in ``run``."""

    def __init__(self, session) -> None:
        self.session = session
        self.seconds = 0.0

    def run(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.session.run(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0

    def __getattr__(self, name):
        return getattr(self.session, name)


def load(model_path: str):
    """The model adapter (as the command loads it) and its preprocessing."""
    preprocessing = Preprocessing.from_settings(beside(model_path), {})
    names = read_class_names(preprocessing.class_names_file)
    spec = ModelSpec(
        model_path,
        fmt="onnx",
        class_names=tuple(names),
        options=(("output", preprocessing.output),),
    )
    model = spec.load()
    model.session = TimedSession(model.session)
    return spec, model, preprocessing


def warm_up(model, shape: tuple[int, ...], batch_sizes: list[int]) -> None:
    """First calls with a new batch shape are slow in onnxruntime; pay that before timing."""
    for b in sorted(set(batch_sizes)):
        model.predict(np.zeros((b,) + shape, dtype=np.float32))


def run_ours(task: ImageTask, source: ImageSource, model) -> tuple[float, float, object]:
    before = model.session.seconds
    t0 = time.perf_counter()
    explanation = task.explain_one(source)
    wall = time.perf_counter() - t0
    return wall, model.session.seconds - before, explanation


def run_lime(image_path: str, model, preprocessing, num_samples: int, seed: int):
    from lime.lime_image import LimeImageExplainer

    resolved = preprocessing.resolve(model.input_spec)
    before = model.session.seconds
    t0 = time.perf_counter()
    picture = apply_geometry(read_image(image_path).image, resolved, image_path)
    pixels = np.asarray(picture)
    encoder = resolved.encoder_for(picture.size, model.input_spec, image_path)

    def classifier_fn(images):
        return model.predict(encoder.encode(images))

    explanation = LimeImageExplainer(random_state=seed).explain_instance(
        pixels, classifier_fn, num_samples=num_samples
    )
    wall = time.perf_counter() - t0
    return wall, model.session.seconds - before, explanation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(ROOT / "sample_data" / "images" / "chelsea.jpg"))
    parser.add_argument("--model", default=str(ROOT / "sample_models" / "efficientnet_lite0.onnx"))
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool (median shown)")
    parser.add_argument("--batch-size", type=int, help="lime-explain's (default: its own)")
    parser.add_argument("--skip-lime", action="store_true", help="time lime-explain only")
    args = parser.parse_args()

    spec, model, preprocessing = load(args.model)
    resolved = preprocessing.resolve(model.input_spec)
    task = ImageTask(
        model=spec,
        labels=LabelRequest(),
        params=LimeParams(
            num_samples=args.num_samples, num_features=5, batch_size=args.batch_size, seed=1
        ),
        preprocessing=preprocessing,
        segmenter="quickshift",
        segmenter_params=tuple(QUICKSHIFT.items()),
        hide=Hide("mean"),
    )
    source = ImageSource(args.image, args.image)
    domain, _ = task.domain_for(source, model, resolved)
    ours_batch = args.batch_size or domain.preferred_batch_size(args.num_samples)
    sizes = [ours_batch, args.num_samples % ours_batch or ours_batch, 10, 1, args.num_samples % 10]
    warm_up(model, model.input_shape[1:], [s for s in sizes if s])
    t0 = time.perf_counter()
    segment(domain.image, "quickshift", QUICKSHIFT, 0)
    segmentation = time.perf_counter() - t0

    # One short untimed run of each first: imports and first calls are start-up, not work.
    short = dataclasses.replace(task.params, num_samples=min(20, args.num_samples))
    dataclasses.replace(task, params=short).explain_one(source)
    if not args.skip_lime:
        run_lime(args.image, model, preprocessing, 20, seed=0)

    ours, lime = [], []
    for rep in range(args.repeat):
        wall, inside, explanation = run_ours(task, source, model)
        ours.append((wall, inside))
        if not args.skip_lime:
            lime_wall, lime_inside, _ = run_lime(
                args.image, model, preprocessing, args.num_samples, seed=rep
            )
            lime.append((lime_wall, lime_inside))

    height, width = domain.segments.shape
    print(
        f"image {Path(args.image).name} ({width}x{height} as the model sees it), "
        f"{args.num_samples} samples, quickshift(kernel_size=4, max_dist=200, ratio=0.2), "
        f"{Path(args.model).name}; median of {args.repeat} run(s)"
    )
    print(f"predicted: {explanation.prediction['predicted']}, "
          f"{domain.num_features} superpixels")  # fmt: skip
    print(f"{'':<24}{'wall s':>9}{'in model s':>12}{'outside s':>11}{'outside %':>11}{'batch':>7}")
    ours_wall = statistics.median(w for w, _ in ours)
    ours_inside = statistics.median(m for _, m in ours)
    _row("lime-explain", ours_wall, ours_inside, ours_batch)
    if lime:
        lime_wall = statistics.median(w for w, _ in lime)
        _row("lime 0.2.0.1 (defaults)", lime_wall, statistics.median(m for _, m in lime), 10)
        print(f"speed-up, lime / lime-explain wall-clock: {lime_wall / ours_wall:.2f}x "
              "(target: at least 2x)")  # fmt: skip
    outside = ours_wall - ours_inside
    print(f"lime-explain outside the model: {outside:.2f} s = {outside / ours_wall:.1%} of the "
          f"total (target: at most 10%); quickshift alone takes {segmentation:.2f} s")  # fmt: skip


def _row(name: str, wall: float, inside: float, batch: int) -> None:
    outside = wall - inside
    print(f"{name:<24}{wall:>9.2f}{inside:>12.2f}{outside:>11.2f}{outside / wall:>11.1%}{batch:>7}")


if __name__ == "__main__":
    main()
