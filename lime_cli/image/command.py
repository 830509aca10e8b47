"""``lime-explain image``: which superpixels made an image classifier decide."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import click

from lime_cli.errors import InputError, LimeCliError, ModelError, UsageError
from lime_cli.image import choices
from lime_cli.inputs import DEFAULT_MAX_PIXELS, expand_sources
from lime_cli.render.registry import OutputFormat
from lime_cli.run.executor import PerItemTask
from lime_cli.run.loop import Job
from lime_cli.run.modality import Modality, is_onnx
from lime_cli.run.options import F, FiniteFloat
from lime_cli.run.progress import progress_bar
from lime_cli.run.settings import ModelSpec, Settings

DEFAULT_NUM_SAMPLES = choices.NUM_SAMPLES
#: Superpixels shown in the PNG and the terminal table (lime's get_image_and_mask default).
DEFAULT_SHOWN = choices.NUM_SHOWN
#: Files taken from a directory argument.
IMAGE_SUFFIXES = choices.SUFFIXES

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
bounding boxes and the segment map refer to that picture; the PNGs, the
heatmap and the report are drawn on your photo at its own size (the
superpixels mapped back through the resize and crop, the parts the model
never saw darkened), or on the model's picture with --draw-on model.

\b
Outputs (--out, repeatable; the extension picks the format):
  .json/.jsonl  the explanation; every superpixel with its weight, bounding
                box [left, top, right, bottom) and pixel count
  .png          the picture with the --num-features superpixels of largest
                |weight| in colour, numbered as in the table, outlined solid
                blue (towards the label) or dashed red (against it), the rest
                greyed out, and a legend (--positive-only: only those towards
                it, outlined in yellow, as lime's get_image_and_mask)
  .html         a page with the picture, numbered outlines, the heatmap, its
                colour scale and the table
  .md / .svg    a Markdown table / a bar chart of the strongest weights
  .npy          the segment map (int32, height x width, superpixel ids as in
                the JSON), so anyone can recompute masks
  --heatmap P   every superpixel's weight as a tint (blue: towards the
                label, red: against), with a colour scale
Several images or labels give one file each, the image's name and/or the
label added to PATH (PATH-<image>-<label>.png, PATH-<image>.npy). PNGs
have the photo's size (photos over 1 megapixel are stored in the JSON, and
drawn, downscaled to it) or, with --draw-on model, the model's picture's
(224x224 for the sample model); a picture under 224 pixels on its shorter
side is scaled up by a whole factor (nearest neighbour). A legend band is
below.

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
        click.option("--segmenter", type=click.Choice(choices.SEGMENTERS),
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
                     type=click.Choice(choices.INTERPOLATIONS),
                     help="Resampling filter for --resize (default bicubic)."),
        click.option("--scale", type=FiniteFloat(), metavar="F",
                     help="Multiplies 0..255 pixel values."),
        click.option("--mean", metavar="M|A,B,C", help="Subtracted after --scale."),
        click.option("--std", metavar="S|A,B,C", help="Divides after --mean."),
        click.option("--channels", type=click.Choice(choices.CHANNELS),
                     help="Channels the model expects (default: rgb; grey for 1 channel)."),
        click.option("--layout", type=click.Choice(choices.LAYOUTS),
                     help="Tensor layout (default: from the model's input shape)."),
        click.option("--output", "output_kind",
                     type=click.Choice(choices.OUTPUT_KINDS),
                     help="ONNX output: probabilities, or logits (softmax applied); auto "
                          "decides from the values (default)."),
        click.option("--class-names-file", metavar="FILE",
                     help="Class names: one per line, or a JSON list."),
        click.option("--heatmap", "heatmaps", multiple=True, metavar="PATH.png",
                     help="Also write the weight heatmap as a PNG (repeatable)."),
        click.option("--positive-only", is_flag=True,
                     help="The PNG shows only superpixels towards the label, outlined in "
                          "yellow (lime's get_image_and_mask), not the strongest of either "
                          "sign."),
        click.option("--draw-on", type=click.Choice(choices.DRAW_ON),
                     default=choices.DRAW_ON_DEFAULT, show_default=True,
                     help="What the PNG, the heatmap and the report's pictures are drawn on: "
                          "the photo at its own size (superpixels mapped back through the "
                          "resize and crop; the photo is stored in the JSON, downscaled past "
                          "1 megapixel), or the model's input picture (the photo is then left "
                          "out of the JSON)."),
        click.option("--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS,
                     show_default=True,
                     help="Refuse images with more pixels, from their header, before decoding "
                          "(a decompression-bomb guard); files over 8 bytes a pixel are not read."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


@dataclass(frozen=True)
class ImageSource:
    """One image to explain: its name, and its bytes when it came from stdin."""

    name: str
    path: str | None
    data: bytes | None = None
    error: InputError | None = None


def prepare_image(settings: Settings, options: dict[str, Any]) -> Job:
    """Check the options, load the model once, and build the task that explains one image.

    The task's model spec adds what the preprocessing file says (class
    names) and how ONNX outputs are read.
    """
    from lime_cli.image.domain import Hide, segmenter_params
    from lime_cli.image.preprocess import Preprocessing, beside, read_class_names
    from lime_cli.models.loading import check_model_path, detect_format

    heatmaps = list(options.get("heatmaps") or ())
    for path in heatmaps:
        if os.path.splitext(path)[1].lower() != ".png":
            raise UsageError(f"--heatmap {path}: the heatmap is a PNG; name it *.png")
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
    _refuse_other_models(spec)  # before the sidecar is read: it may be a text model's
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
        # The session keeps its own threads whatever --jobs says: a picture's network
        # spreads each call over the cores by itself (EfficientNet-Lite0: 2.1 s an
        # image with two threads, 3.7 s with one), so the executor keeps such a
        # model in this process; one thread per process made --jobs 2 take 12 s
        # over three photos against 6.5 s (bench/bench_scale.py --case image).
        onnx_options: dict[str, Any] = {"output": preprocessing.output}
        spec = dataclasses.replace(spec, fmt=fmt, options=tuple(sorted(onnx_options.items())))
    preprocessing.resolve(spec.load().input_spec)  # exit 2 or 4 before any image is read
    task = ImageTask(
        model=spec,
        labels=settings.labels,
        params=dataclasses.replace(settings.params, reference_samples=choices.NUM_SAMPLES)
        if settings.params.reference_samples
        else settings.params,
        preprocessing=preprocessing,
        segmenter=segmenter,
        segmenter_params=tuple(seg_params.items()),
        hide=hide,
        max_pixels=options["max_pixels"],
        show_progress=not settings.quiet and len(sources) == 1,
        positive_only=bool(options.get("positive_only")),
        draw_on=options.get("draw_on") or choices.DRAW_ON_DEFAULT,
    )
    items = [_source(s, options["max_pixels"]) for s in sources]
    extra = [(path, HEATMAP) for path in heatmaps]
    return Job(
        items, task, name_of=lambda item: item.name, content_of=image_content, extra_files=extra
    )


def image_content(source: ImageSource) -> bytes | None:
    """An image's file bytes (read again: a picture is a few MB at most, once per
    image), for the ``--resume`` ledger's digest; None when it cannot be read."""
    if source.data is not None:
        return source.data
    if source.path is None:
        return None
    from lime_cli.inputs import read_bytes

    try:  # with the inputs' own checks: a named pipe a folder holds is never opened
        return read_bytes(source.path)
    except (OSError, InputError):
        return None


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
    from lime_cli.image.reading import max_file_bytes
    from lime_cli.inputs import display_name, read_bytes

    if source != "-":
        return ImageSource(display_name(source), source)

    try:
        data = read_bytes("-", max_bytes=max_file_bytes(max_pixels), limit_name="--max-pixels")
    except InputError as exc:
        return ImageSource("stdin", None, error=exc)
    return ImageSource("stdin", None, data)


def _refuse_other_models(spec: Any) -> None:
    """A text model or one fitted on named columns cannot take pictures: one line.

    Loads the model as given (the run loop loads that spec anyway); ONNX text
    models are refused by the loader itself.
    """
    kind = spec.load().input_spec.kind
    if kind == "text":
        raise ModelError(
            f"{spec.path}: a text model: it takes documents, not images; "
            "explain it with lime-explain text"
        )
    if kind == "table":
        raise ModelError(
            f"{spec.path}: a tabular model: it takes rows of named columns, not images; "
            "explain it with lime-explain tabular"
        )


def _parse_params(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"--segment-param {item!r}: use NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class ImageTask(PerItemTask):
    """Explains one image at a time; picklable so --jobs can run it in worker processes."""

    preprocessing: Any
    segmenter: str | None  # None: chosen by the picture's size
    segmenter_params: tuple[tuple[str, Any], ...]
    hide: Any
    max_pixels: int = DEFAULT_MAX_PIXELS
    show_progress: bool = False
    positive_only: bool = False
    draw_on: str = choices.DRAW_ON_DEFAULT

    def explain_one(self, source: ImageSource) -> Any:
        import numpy as np

        from lime_cli.engine import explain
        from lime_cli.image.domain import segmentation_warning

        model = self.model.load()
        preprocessing = self.preprocessing.resolve(model.input_spec)
        domain, rng = self.domain_for(source, model, preprocessing)
        if not model.classes:  # an ONNX model whose output size is dynamic
            model.predict(domain.to_model_input(np.ones((1, domain.num_features), np.uint8)))
        # Every superpixel enters the fit (as lime); stability is about the K shown.
        params = dataclasses.replace(
            self.params, num_features=domain.num_features, stability_k=self.params.num_features
        )
        with progress_bar(f"explaining {domain.name}", self.show_progress) as progress:
            explanation = explain(domain, model, self.labels, params, rng, progress)
        explanation.model["preprocessing"] = preprocessing.describe(domain.encoder)
        explanation.params["num_features_shown"] = self.params.num_features
        if self.positive_only:
            explanation.params["positive_only"] = True
        explanation.params["draw_on"] = self.draw_on
        warning = segmentation_warning(domain.num_features, self.params.num_features)
        if warning:
            explanation.warnings.append(warning)
        return explanation

    def domain_for(self, source: ImageSource, model: Any, preprocessing: Any) -> tuple[Any, Any]:
        """Read, resize and segment the image: its domain and its random stream."""
        import numpy as np

        from lime_cli.image.domain import (
            ImageDomain,
            default_segmenter,
            segment,
            segmentation_size,
        )
        from lime_cli.image.photo import encode_photo
        from lime_cli.image.preprocess import LUMA, apply_geometry, geometry_of
        from lime_cli.image.reading import max_file_bytes, read_image_bytes
        from lime_cli.inputs import display_name, read_bytes

        if source.error is not None:
            raise source.error
        if source.data is not None:
            data = source.data
        else:
            # From the client's folder on a Dask worker (the model's spec says where);
            # named as given, wherever it is read.
            given = source.path or source.name
            path = self.model.located(given)
            try:
                data = read_bytes(path, max_bytes=max_file_bytes(self.max_pixels),
                                  limit_name="--max-pixels")  # fmt: skip
            except InputError as exc:  # named as given, not as the worker found it
                if path == given:
                    raise
                message = exc.message.replace(display_name(path), display_name(given), 1)
                raise type(exc)(message) from None
        loaded = read_image_bytes(data, source.name, max_pixels=self.max_pixels)
        picture = apply_geometry(loaded.image, preprocessing, loaded.name)
        encoder = preprocessing.encoder_for(picture.size, model.input_spec, loaded.name)
        pixels = np.asarray(picture, dtype=np.uint8)
        if encoder.channels == "grey":
            # The model sees grey: segment, fill and draw the grey picture it sees.
            grey = np.clip(np.rint(pixels.astype(np.float32) @ LUMA), 0, 255).astype(np.uint8)
            pixels = np.repeat(grey[..., None], 3, axis=2)
        rng = self.rng(loaded.data)
        method, seg_params, why = self.segmenter, dict(self.segmenter_params), None
        if method is None:
            method, seg_params, why = default_segmenter(*picture.size)
        seg_seed = int(rng.integers(0, 2**31 - 1))
        segments = segment(pixels, method, seg_params, seg_seed)
        details = {
            "original": {k: v for k, v in loaded.describe().items() if k != "name"},
            "segmenter": {"name": method, **seg_params, "seed": seg_seed},
            # Where the picture lies in the photo, to draw on the photo (geometry.py).
            "geometry": geometry_of(loaded.image.size, preprocessing, loaded.name).to_dict(),
        }
        if why:
            details["segmenter"]["chosen_because"] = why
        size = segmentation_size(picture.size[0], picture.size[1])
        if size != picture.size:  # a large picture: segmented on a reduced copy
            details["segmenter"]["segmented_at"] = f"{size[0]}x{size[1]}"
        photo = encode_photo(loaded.image) if self.draw_on == "photo" else None
        domain = ImageDomain(
            pixels, segments, self.hide, encoder, name=loaded.name, details=details, photo=photo
        )
        return domain, rng


#: The image's own outputs (the shared registry adds .json and .jsonl).
MASKED = OutputFormat(
    "png",
    "the picture with the strongest superpixels in colour, outlined, the rest greyed out",
    extensions=(".png",),
    writer="lime_cli.image.writers:write_masked",
)
SEGMENT_MAP = OutputFormat(
    "npy",
    "the segment map (int32, height x width, superpixel ids as in the JSON)",
    extensions=(".npy",),
    writer="lime_cli.image.writers:write_segment_maps",
)
HEATMAP = OutputFormat(
    "heatmap",
    "every superpixel's weight as a tint (--heatmap PATH.png)",
    writer="lime_cli.image.writers:write_heatmap",
)


def implied_files(options: dict[str, Any], model: ModelSpec) -> list[str]:
    """The files an image run reads without being named: an ONNX model's
    preprocessing JSON beside it (``MODEL.json``) and the class names file a
    preprocessing JSON names (relative to it), unless class names are given.
    Unreadable ones are left to the run to report."""
    from lime_cli.image.preprocess import beside, read_settings_file

    found: list[str] = []
    settings_file = options.get("preprocess_file")
    if settings_file is None and is_onnx(model):
        settings_file = beside(model.path)
        if settings_file is not None:
            found.append(settings_file)
    if settings_file and model.class_names is None:
        try:
            names = read_settings_file(settings_file).get("class_names_file")
        except LimeCliError:
            names = None
        if isinstance(names, str):
            found.append(os.path.join(os.path.dirname(settings_file), names))
    return found


MODALITY = Modality(
    name="image",
    help="""Explain an image classifier's prediction for each image.

    The image is cut into superpixels; samples hide some of them, the model
    is asked about each sample, and a weighted linear model over all
    superpixels (as lime's image explainer) shows which pushed the prediction
    towards (positive) or away from (negative) each class. Models: ONNX
    (onnxruntime) and scikit-learn models on flattened pixels.
    """,
    epilog=EPILOG,
    inputs=image_inputs,
    prepare=prepare_image,
    shaping_files=("preprocess_file", "class_names_file"),
    implied_files=implied_files,
    num_samples=DEFAULT_NUM_SAMPLES,
    min_samples=choices.MIN_SAMPLES,
    max_samples=choices.MAX_SAMPLES,
    num_features=DEFAULT_SHOWN,
    formats=(MASKED, SEGMENT_MAP, HEATMAP),
    option_help={
        "num_features": "Superpixels shown in the PNG and the terminal table; the JSON lists "
        "every superpixel (like lime, all of them enter the surrogate).",
        "batch_size": "Perturbed images per model call (default: 16 at 224x224, more for "
        "smaller images). Memory grows with it (EfficientNet-Lite0: peak about 330 MB at 16, "
        "520 MB at 32); the time per image stays the same.",
    },
)
