"""``lime-explain image``: which superpixels made an image classifier decide."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Any

import click

from lime_cli.commands.common import (
    Job,
    ModelSpec,
    OutputPlan,
    Settings,
    Writer,
    expand_sources,
    guarded,
    json_writers,
    progress_bar,
    rng_for,
    run_job,
    settings_from,
)
from lime_cli.commands.options import (
    F,
    check_options,
    jobs_option,
    lime_options,
    model_options,
    output_options,
)
from lime_cli.errors import InputError, UsageError
from lime_cli.inputs import DEFAULT_MAX_PIXELS

DEFAULT_NUM_SAMPLES = 1000
#: Superpixels shown in the PNG and the terminal table (lime's get_image_and_mask default).
DEFAULT_SHOWN = 5
#: Files taken from a directory argument.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

EPILOG = """\b
Examples:
  lime-explain image --model sample_models/efficientnet_lite0.onnx \\
      sample_data/images/coffee.jpg --out coffee_expl.png
  lime-explain image --model net.onnx photos/ --format json --top-labels 3

\b
scikit-learn's digits are 8x8 pictures with values 0-16: save one as a PNG
scaled to 0-255, and give the model its scale back with --scale (16/255):
  python -c "import joblib; from PIL import Image; \\
  from sklearn.datasets import load_digits; \\
  from sklearn.linear_model import LogisticRegression; d = load_digits(); \\
  m = LogisticRegression(C=0.001, max_iter=1000).fit(d.data, d.target); \\
  joblib.dump(m, 'digits.joblib'); \\
  Image.fromarray((d.images[0] * 255 / 16).round().astype('uint8')).save('d.png')"
  lime-explain image --model digits.joblib --scale 0.0627451 d.png
Pictures under 32 pixels on a side are cut by slic (quickshift, the default,
would make one superpixel of an 8x8 digit).

\b
What is explained: the picture the model sees, after --resize and --crop
(for the sample model: shorter side 256, centre crop 224x224). Superpixels,
bounding boxes, the segment map and the PNGs all refer to that picture.

\b
Outputs (--out, repeatable; the extension picks the format):
  .json/.jsonl  the explanation; every superpixel with its weight, bounding
                box [left, top, right, bottom) and pixel count
  .png          the picture with the --num-features superpixels that speak
                most for the label in colour, outlined, the rest greyed out
  .npy          the segment map (int32, height x width, superpixel ids as in
                the JSON), so anyone can recompute masks
  --heatmap P   every superpixel's weight as a tint (blue: towards the
                label, red: against)
Several images or labels give one file each, the image's name and/or the
label added to PATH (PATH-<image>-<label>.png, PATH-<image>.npy). PNGs
have the explained picture's size, scaled up by a whole factor (nearest
neighbour) so that the shorter side is at least 224 pixels: 224x224 for the
sample model.

\b
Preprocessing (ONNX: from MODEL.json beside the model, or --preprocess FILE;
flags win): x = (pixel * scale - mean) / std on 0..255 values, mean and std in
the model's channel order. Input name, rank, layout and fixed size are read
from the model; a fixed-size model gets 'shorter side to its size, centre
crop' unless told otherwise. scikit-learn models take flattened pixels
(height x width x channels); a model with s*s or 3*s*s inputs gets
--resize s --crop s (grey or colour) by default.
"""


def image_inputs(func: F) -> F:
    """The images, how they are cut into superpixels, and how the model wants them."""
    options = [
        click.argument("files", nargs=-1, metavar="IMAGE|DIR|-..."),
        click.option("--segmenter", type=click.Choice(["quickshift", "slic", "felzenszwalb"]),
                     help="How the image is cut into superpixels (scikit-image). Default: "
                          "quickshift (lime's); for a picture under 32 pixels on a side, slic "
                          "with a superpixel per 4 pixels or so (at most 50)."),
        click.option("--segments", type=click.IntRange(min=1), metavar="N",
                     help="slic: about how many superpixels (default 100)."),
        click.option("--segment-param", "segment_params", multiple=True, metavar="NAME=VALUE",
                     help="A segmenter parameter (repeatable). quickshift: kernel_size=4, "
                          "max_dist=200, ratio=0.2, sigma=0 (lime's defaults); slic: "
                          "n_segments=100, compactness=10, sigma=0, max_num_iter=10; "
                          "felzenszwalb: scale=1, sigma=0.8, min_size=20."),
        click.option("--hide", default="mean", show_default=True, metavar="MODE",
                     help="What a hidden superpixel becomes: mean (its own mean colour, "
                          "lime's default), a colour (R,G,B, #rrggbb, a name, or one grey "
                          "level), or blur[:SIGMA] (Gaussian; default sigma 5% of the longer "
                          "side)."),
        click.option("--preprocess", "preprocess_file", metavar="FILE",
                     help="Preprocessing JSON (ONNX default: MODEL.json beside the model)."),
        click.option("--resize", metavar="N|WxH",
                     help="Resize the shorter side to N, or exactly to WxH."),
        click.option("--crop", metavar="N|WxH", help="Centre crop after resizing."),
        click.option("--interpolation",
                     type=click.Choice(["nearest", "box", "bilinear", "hamming", "bicubic",
                                        "lanczos"]),
                     help="Resampling filter for --resize (default bicubic)."),
        click.option("--scale", type=float, metavar="F", help="Multiplies 0..255 pixel values."),
        click.option("--mean", metavar="M|A,B,C", help="Subtracted after --scale."),
        click.option("--std", metavar="S|A,B,C", help="Divides after --mean."),
        click.option("--channels", type=click.Choice(["rgb", "bgr", "grey"]),
                     help="Channels the model expects (default: rgb; grey for 1 channel)."),
        click.option("--layout", type=click.Choice(["nchw", "nhwc", "flat"]),
                     help="Tensor layout (default: from the model's input shape)."),
        click.option("--output", "output_kind",
                     type=click.Choice(["probabilities", "logits", "auto"]),
                     help="ONNX output: probabilities, or logits (softmax applied); auto "
                          "decides from the values (default)."),
        click.option("--class-names-file", metavar="FILE",
                     help="Class names: one per line, or a JSON list."),
        click.option("--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS,
                     show_default=True,
                     help="Refuse images with more pixels, from their header, before decoding "
                          "(a decompression-bomb guard); files over 8 bytes a pixel are not read."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


#: lime's image defaults, also used by ``pick image`` and ``compare image``.
LIME_DEFAULTS = {"num_samples": DEFAULT_NUM_SAMPLES, "num_features": DEFAULT_SHOWN}


@click.command(epilog=EPILOG)
@image_inputs
@model_options
@lime_options(**LIME_DEFAULTS)
@click.option(
    "--heatmap",
    "heatmaps",
    multiple=True,
    metavar="PATH.png",
    help="Also write the weight heatmap as a PNG (repeatable).",
)
@jobs_option
@check_options
@output_options([".json", ".jsonl", ".png", ".npy"])
def image(**options: Any) -> None:
    """Explain an image classifier's prediction for each image.

    The image is cut into superpixels; samples hide some of them, the model
    is asked about each sample, and a weighted linear model over all
    superpixels (as lime's image explainer) shows which pushed the prediction
    towards (positive) or away from (negative) each class. Models: ONNX
    (onnxruntime) and scikit-learn models on flattened pixels.
    """

    def body() -> int:
        from lime_cli.output import check_writable

        heatmaps = tuple(options.pop("heatmaps") or ())
        for path in heatmaps:
            if os.path.splitext(path)[1].lower() != ".png":
                raise UsageError(f"--heatmap {path}: the heatmap is a PNG; name it *.png")
        settings = settings_from(options, image_writers())
        for path in heatmaps:
            check_writable(path)  # as settings_from checks --out: before any work
        settings.plan = ImageOutputPlan.extending(settings.plan, heatmaps)
        return run_job(settings, prepare_image(settings, options))

    guarded(bool(options.get("debug")), body)


# Say what --num-features and --batch-size mean for images in --help.
for _param in image.params:
    if _param.name == "num_features" and isinstance(_param, click.Option):
        _param.help = (
            "Superpixels shown in the PNG and the terminal table; the JSON lists every "
            "superpixel (like lime, all of them enter the surrogate)."
        )
    elif _param.name == "batch_size" and isinstance(_param, click.Option):
        _param.help = (
            "Perturbed images per model call (default: 16 at 224x224, more for smaller "
            "images). Memory grows with it (EfficientNet-Lite0: peak about 330 MB at 16, "
            "520 MB at 32); the time per image stays the same."
        )


@dataclass(frozen=True)
class ImageSource:
    """One image to explain: its name, and its bytes when it came from stdin."""

    name: str
    path: str | None
    data: bytes | None = None
    error: InputError | None = None


def prepare_image(settings: Settings, options: dict[str, Any]) -> Job:
    """Check the options, load the model once, and build the task that explains one image.

    Sets ``settings.spec`` to the model spec the task uses (class names from the
    preprocessing file, ONNX output handling).
    """
    from lime_cli.domains.image import Hide, segmenter_params
    from lime_cli.models.image_preprocess import Preprocessing, beside, read_class_names
    from lime_cli.models.loading import check_model_path, detect_format

    sources = expand_sources(list(options["files"]), suffixes=IMAGE_SUFFIXES)
    if not sources:
        raise UsageError("no image given: pass IMAGE paths, a directory, or - for stdin")
    if sources.count("-") > 1:
        raise UsageError("stdin ('-') can be read only once")
    overrides = _parse_params(options["segment_params"])
    if options["segments"] is not None:
        if options["segmenter"] != "slic":
            raise UsageError("--segments applies to --segmenter slic")
        overrides["n_segments"] = str(options["segments"])
    # No segmenter named: chosen per picture by its size (see default_segmenter).
    segmenter = options["segmenter"] or ("quickshift" if overrides else None)
    seg_params = segmenter_params(segmenter or "quickshift", overrides)
    hide = Hide.parse(options["hide"])

    spec = settings.spec
    check_model_path(spec.path)
    fmt = spec.fmt or detect_format(spec.path)
    if fmt == "onnx" and spec.mode == "regression":
        raise UsageError("ONNX models are explained as classifiers; --mode regression is not")
    if fmt != "onnx" and options["output_kind"]:
        raise UsageError("--output applies to ONNX models only")
    settings_file = options["preprocess_file"]
    if settings_file is None and fmt == "onnx":
        settings_file = beside(spec.path)
    flags = {key: options[flag] for key, flag in _FLAGS.items()}
    preprocessing = Preprocessing.from_settings(settings_file, flags)
    if spec.class_names is None and preprocessing.class_names_file:
        spec = dataclasses.replace(
            spec, class_names=tuple(read_class_names(preprocessing.class_names_file))
        )
    if fmt == "onnx":
        onnx_options: dict[str, Any] = {"output": preprocessing.output}
        if settings.jobs > 1:
            onnx_options["threads"] = 1  # one thread per worker: the workers share the cores
        spec = dataclasses.replace(spec, fmt=fmt, options=tuple(sorted(onnx_options.items())))
    # pick and compare read the spec back after this (model B is model A's spec with
    # another path), so the class names and ONNX options must live in it.
    settings.spec = spec
    preprocessing.resolve(model_input_of(spec.load()))  # exit 2 or 4 before any image is read
    task = ImageTask(
        model=spec,
        labels=settings.labels,
        params=settings.params,
        preprocessing=preprocessing,
        segmenter=segmenter,
        segmenter_params=tuple(seg_params.items()),
        hide=hide,
        max_pixels=options["max_pixels"],
        show_progress=not settings.quiet and len(sources) == 1,
    )
    items = [_source(s, options["max_pixels"]) for s in sources]
    return Job(items, task, name_of=lambda item: item.name)


#: Preprocessing key -> the option that sets it.
_FLAGS = {
    "resize": "resize",
    "crop": "crop",
    "interpolation": "interpolation",
    "scale": "scale",
    "mean": "mean",
    "std": "std",
    "channels": "channels",
    "layout": "layout",
    "output": "output_kind",
    "class_names_file": "class_names_file",
}


def _source(source: str, max_pixels: int) -> ImageSource:
    from lime_cli.images import max_file_bytes
    from lime_cli.inputs import display_name, read_bytes

    if source != "-":
        return ImageSource(display_name(source), source)

    try:
        data = read_bytes("-", max_bytes=max_file_bytes(max_pixels), limit_name="--max-pixels")
    except InputError as exc:
        return ImageSource("stdin", None, error=exc)
    return ImageSource("stdin", None, data)


def _parse_params(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"--segment-param {item!r}: use NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def model_input_of(model: Any) -> Any:
    """What the loaded model says about its input (rank and fixed sizes)."""
    from lime_cli.models.image_preprocess import ModelInput

    if hasattr(model, "input_shape"):
        return ModelInput(model.input_rank, model.input_shape)
    n = getattr(getattr(model, "estimator", None), "n_features_in_", None)
    return ModelInput(2, (None, int(n) if n is not None else None))


@dataclass(frozen=True)
class ImageTask:
    """Explains one image; picklable so --jobs can run it in worker processes."""

    model: ModelSpec
    labels: Any
    params: Any
    preprocessing: Any
    segmenter: str | None  # None: chosen by the picture's size
    segmenter_params: tuple[tuple[str, Any], ...]
    hide: Any
    max_pixels: int = DEFAULT_MAX_PIXELS
    show_progress: bool = False

    def __call__(self, source: ImageSource) -> Any:
        import numpy as np

        from lime_cli.domains.image import segmentation_warning
        from lime_cli.engine import explain

        model = self.model.load()
        preprocessing = self.preprocessing.resolve(model_input_of(model))
        domain, rng = self.domain_for(source, model, preprocessing)
        if not model.classes:  # an ONNX model whose output size is dynamic
            model.predict(domain.to_model_input(np.ones((1, domain.num_features), np.uint8)))
        params = dataclasses.replace(self.params, num_features=domain.num_features)
        with progress_bar(f"explaining {domain.name}", self.show_progress) as progress:
            explanation = explain(domain, model, self.labels, params, rng, progress)
        domain.release_encodings()  # explanations are kept until the files are written
        explanation.model["preprocessing"] = preprocessing.describe(domain.encoder)
        explanation.params["num_features_shown"] = self.params.num_features
        warning = segmentation_warning(domain.num_features, self.params.num_features)
        if warning:
            explanation.warnings.append(warning)
        return explanation

    def domain_for(self, source: ImageSource, model: Any, preprocessing: Any) -> tuple[Any, Any]:
        """Read, resize and segment the image: its domain and its random stream."""
        import numpy as np

        from lime_cli.domains.image import (
            ImageDomain,
            default_segmenter,
            segment,
            segmentation_size,
        )
        from lime_cli.images import read_image, read_image_bytes
        from lime_cli.models.image_preprocess import LUMA, apply_geometry

        if source.error is not None:
            raise source.error
        if source.data is not None:
            loaded = read_image_bytes(source.data, source.name, max_pixels=self.max_pixels)
        else:
            loaded = read_image(source.path or source.name, max_pixels=self.max_pixels)
        picture = apply_geometry(loaded.image, preprocessing, loaded.name)
        encoder = preprocessing.encoder_for(picture.size, model_input_of(model), loaded.name)
        pixels = np.asarray(picture, dtype=np.uint8)
        if encoder.channels == "grey":
            # The model sees grey: segment, fill and draw the grey picture it sees.
            grey = np.clip(np.rint(pixels.astype(np.float32) @ LUMA), 0, 255).astype(np.uint8)
            pixels = np.repeat(grey[..., None], 3, axis=2)
        rng = rng_for(self.params.seed, loaded.data)
        method, seg_params, why = self.segmenter, dict(self.segmenter_params), None
        if method is None:
            method, seg_params, why = default_segmenter(*picture.size)
        seg_seed = int(rng.integers(0, 2**31 - 1))
        segments = segment(pixels, method, seg_params, seg_seed)
        details = {
            "original": {k: v for k, v in loaded.describe().items() if k != "name"},
            "segmenter": {"name": method, **seg_params, "seed": seg_seed},
        }
        if why:
            details["segmenter"]["chosen_because"] = why
        size = segmentation_size(picture.size[0], picture.size[1])
        if size != picture.size:  # a large picture: segmented on a reduced copy
            details["segmenter"]["segmented_at"] = f"{size[0]}x{size[1]}"
        domain = ImageDomain(
            pixels, segments, self.hide, encoder, name=loaded.name, details=details
        )
        return domain, rng


# -- outputs -----------------------------------------------------------------
@dataclass
class ImageOutputPlan(OutputPlan):
    """The shared plan, plus heatmaps and a terminal table cut to the shown superpixels."""

    heatmaps: tuple[str, ...] = ()

    @classmethod
    def extending(cls, plan: OutputPlan, heatmaps: tuple[str, ...]) -> ImageOutputPlan:
        fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
        return cls(**fields, heatmaps=heatmaps)

    def emit(self, explanation: Any) -> None:
        if self.sink is not None or self.fmt == "json" or self.quiet:
            super().emit(explanation)
            return
        shown = _shown(explanation)
        total = len(explanation.explanations[0].features) if explanation.explanations else 0
        super().emit(_first_features(explanation, shown))
        if total > shown:
            click.echo(
                f"(the {shown} strongest of {total} superpixels per label; "
                "--num-features shows more, --format json lists all)"
            )

    def write_files(self, explanations: list[Any]) -> None:
        super().write_files(explanations)
        if self.sink is None:
            for path in self.heatmaps:
                write_pictures(path, explanations, "heatmap")


def image_writers() -> dict[str, Writer]:
    """Writers for .json, .jsonl, .png (masked picture) and .npy (segment map)."""
    writers = json_writers()
    writers[".png"] = lambda path, explanations: write_pictures(path, explanations, "masked")
    writers[".npy"] = write_segment_maps
    return writers


def write_pictures(path: str, explanations: list[Any], kind: str) -> None:
    """One PNG per (image, label): the masked picture or the heatmap."""
    from lime_cli.output import atomic_write
    from lime_cli.render.image import heatmap, masked_image, png_bytes

    for target, explanation, label in _label_paths(path, explanations):
        domain = _source_of(explanation)
        weights = [(f.index, f.weight) for f in label.features]
        if kind == "heatmap":
            pixels = heatmap(domain.image, domain.segments, weights)
        else:
            pixels = masked_image(domain.image, domain.segments, weights, _shown(explanation))
        data = png_bytes(pixels)
        atomic_write(target, lambda fh, data=data: fh.write(data))


def write_segment_maps(path: str, explanations: list[Any]) -> None:
    """One .npy per image: the int32 superpixel map of the explained picture."""
    import numpy as np

    from lime_cli.output import atomic_write

    for explanation, part in zip(explanations, _image_parts(explanations)):
        segments = np.ascontiguousarray(_source_of(explanation).segments, dtype=np.int32)
        target = _with_suffix(path, [part] if part else [])
        atomic_write(target, lambda fh, s=segments: np.save(fh, s, allow_pickle=False))


def _source_of(explanation: Any) -> Any:
    domain = explanation.source
    if domain is None or not hasattr(domain, "segments"):
        raise InputError(
            f"{explanation.input.get('name', '?')}: no image to draw (explanation read from JSON?)"
        )
    return domain


def _shown(explanation: Any) -> int:
    return int(explanation.params.get("num_features_shown", DEFAULT_SHOWN))


def _first_features(explanation: Any, k: int) -> Any:
    labels = [
        dataclasses.replace(label, features=label.features[:k])
        for label in explanation.explanations
    ]
    return dataclasses.replace(explanation, explanations=labels)


def _label_paths(path: str, explanations: list[Any]) -> list[tuple[str, Any, Any]]:
    """One file per (image, label); PATH itself when there is only one."""
    several_labels = any(len(e.explanations) > 1 for e in explanations)
    out = []
    for explanation, image_part in zip(explanations, _image_parts(explanations)):
        for label in explanation.explanations:
            parts = [image_part] if image_part else []
            if several_labels:
                parts.append(_slug(label.label))
            out.append((_with_suffix(path, parts), explanation, label))
    return out


def _image_parts(explanations: list[Any]) -> list[str]:
    """A file-name part per image (its stem, numbered if stems repeat); '' for one image."""
    if len(explanations) <= 1:
        return [""] * len(explanations)
    stems = [
        _slug(os.path.splitext(os.path.basename(str(e.input.get("name", ""))))[0])
        for e in explanations
    ]
    if len(set(stems)) < len(stems):
        stems = [f"{i}-{stem}" for i, stem in enumerate(stems, start=1)]
    return stems


def _with_suffix(path: str, parts: list[str]) -> str:
    if not parts:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}-{'-'.join(parts)}{ext}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "_", text).strip("_.") or "image"
