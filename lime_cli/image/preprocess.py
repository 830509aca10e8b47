"""How a picture becomes a model's input tensor: geometry once, pixel encoding per batch.

Why it is split in two: resizing and cropping happen once per image and decide
which picture is explained (the one the model sees); the per-pixel encoding
(scale, mean, std, channel order, layout) is applied to every perturbed copy,
so it is a pure per-pixel map that the image domain can apply to the original
and to the hidden-superpixel fill once, and then select between them.

Settings come from a JSON file (beside an ONNX model, or ``--preprocess``)
and from flags, which win. Keys::

    resize            shorter side in pixels (int), or exact "WxH"
    crop              centre crop: side (int) or "WxH"
    interpolation     nearest | box | bilinear | hamming | bicubic | lanczos
    scale             multiplies the 0..255 pixel values
    mean, std         per channel, in the model's channel order: x = (p * scale - mean) / std
    channels          rgb | bgr | grey
    layout            nchw | nhwc | flat (flattened height x width x channels)
    output            probabilities | logits | auto (softmax is applied to logits)
    class_names_file  one name per line, or a JSON list (relative to the JSON file)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lime_cli.engine.protocols import InputSpec
from lime_cli.errors import InputError, UsageError
from lime_cli.image import choices as _choices
from lime_cli.image.geometry import Geometry

KEYS = (
    "resize",
    "crop",
    "interpolation",
    "scale",
    "mean",
    "std",
    "channels",
    "layout",
    "output",
    "class_names_file",
)
INTERPOLATIONS = _choices.INTERPOLATIONS
CHANNELS = ("rgb", "bgr", "grey")
LAYOUTS = ("nchw", "nhwc", "flat")
OUTPUTS = ("probabilities", "logits", "auto")

#: ITU-R 601 luma weights, as Pillow's conversion to greyscale uses.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

Size = tuple[int, int]  # (width, height)


@dataclass(frozen=True)
class Preprocessing:
    """Preprocessing settings; ``None`` means "decide from the model"."""

    resize: int | Size | None = None
    crop: Size | None = None
    interpolation: str = _choices.INTERPOLATION
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    channels: str | None = None
    layout: str | None = None
    output: str = "auto"
    class_names_file: str | None = None
    source: str | None = None

    # -- building -----------------------------------------------------------
    @classmethod
    def from_settings(
        cls, file_path: str | None, flags: dict[str, Any], *, source_note: str | None = None
    ) -> Preprocessing:
        """Settings from a JSON file (optional) overridden by the flags that were given."""
        settings: dict[str, Any] = {}
        base_dir = ""
        if file_path is not None:
            settings.update(read_settings_file(file_path))
            base_dir = os.path.dirname(file_path)
        names_file = settings.get("class_names_file")
        if names_file is not None:
            settings["class_names_file"] = os.path.join(base_dir, str(names_file))
        settings.update({k: v for k, v in flags.items() if v is not None})
        return cls._parse(settings, source=source_note or file_path)

    @classmethod
    def _parse(cls, raw: dict[str, Any], source: str | None) -> Preprocessing:
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise UsageError(
                f"unknown preprocessing key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
            )
        values: dict[str, Any] = {"source": source}
        if raw.get("resize") is not None:
            values["resize"] = _parse_size(raw["resize"], "resize", allow_side=True)
        if raw.get("crop") is not None:
            values["crop"] = _parse_size(raw["crop"], "crop", allow_side=False)
        if raw.get("interpolation") is not None:
            values["interpolation"] = _choice(raw["interpolation"], "interpolation", INTERPOLATIONS)
        if raw.get("scale") is not None:
            values["scale"] = _positive_float(raw["scale"], "scale")
        if raw.get("mean") is not None:
            values["mean"] = _floats(raw["mean"], "mean")
        if raw.get("std") is not None:
            values["std"] = _floats(raw["std"], "std")
            if any(not s > 0 for s in values["std"]):
                raise UsageError("preprocessing 'std' values must be positive")
        if raw.get("channels") is not None:
            name = str(raw["channels"]).lower()
            name = {"gray": "grey", "l": "grey"}.get(name, name)
            values["channels"] = _choice(name, "channels", CHANNELS)
        if raw.get("layout") is not None:
            values["layout"] = _choice(raw["layout"], "layout", LAYOUTS)
        if raw.get("output") is not None:
            values["output"] = _choice(raw["output"], "output", OUTPUTS)
        if raw.get("class_names_file") is not None:
            values["class_names_file"] = str(raw["class_names_file"])
        return cls(**values)

    # -- fitting to a model -------------------------------------------------
    def resolve(self, model_input: InputSpec) -> Preprocessing:
        """Fill in layout, channels and default sizes from what the model file says."""
        shape = model_input.shape or ()
        if model_input.rank == 4:
            layout = self.layout or _guess_layout(shape)
            if layout == "flat":
                raise UsageError("--layout flat does not fit a model whose input has rank 4")
            axis = 1 if layout == "nchw" else 3
            count = shape[axis]
            channels = self.channels
            if count is not None:
                if count not in (1, 3):
                    raise UsageError(
                        f"the model's input has {count} channels on the {layout} channel axis; "
                        "only 1 (grey) or 3 (colour) are supported (check --layout)"
                    )
                if channels is None:
                    channels = "grey" if count == 1 else "rgb"
                elif (channels == "grey") != (count == 1):
                    raise UsageError(
                        f"--channels {channels} does not fit the model's {count}-channel input"
                    )
            fixed = _fixed_size(shape, layout)
        elif model_input.rank == 2:
            layout = self.layout or "flat"
            if layout != "flat":
                raise UsageError(
                    f"--layout {layout} does not fit a model that takes flat pixel vectors"
                )
            channels = self.channels
            fixed = None
            n = shape[1]
            if self.resize is None and self.crop is None and n is not None:
                side = _square_side(n, channels)
                if side is not None:
                    return replace(self, layout=layout, resize=side, crop=(side, side))
        else:
            raise UsageError(f"cannot feed images to a model input of rank {model_input.rank}")
        resolved = replace(self, layout=layout, channels=channels)
        if fixed is not None and self.crop is None:
            if self.resize is None:
                resolved = replace(resolved, resize=max(fixed), crop=fixed)
            elif isinstance(self.resize, int):
                resolved = replace(resolved, crop=fixed)
        return resolved

    def encoder_for(self, size: Size, model_input: InputSpec, name: str) -> PixelEncoder:
        """The pixel encoding for an image of ``size`` after geometry, checked against the model."""
        width, height = size
        channels = self.channels
        layout = self.layout or "nchw"
        shape = model_input.shape or (None, None)
        if layout == "flat":
            n = shape[1] if model_input.rank == 2 else None
            if channels is None:
                if n is None or n == 3 * width * height:
                    channels = "rgb"
                elif n == width * height:
                    channels = "grey"
            expected = width * height * (1 if channels == "grey" else 3)
            if channels is None or (n is not None and n != expected):
                raise InputError(
                    f"{name}: the model takes {n} values, but the image is {width}x{height} "
                    f"after preprocessing ({width * height} pixels, or {3 * width * height} "
                    "with colour); set --resize and --crop to the size the model was trained on"
                )
        else:
            fixed = _fixed_size(shape, layout) if model_input.rank == 4 else None
            if fixed is not None and fixed != (width, height):
                raise InputError(
                    f"{name}: the model takes {fixed[0]}x{fixed[1]} images, but this one is "
                    f"{width}x{height} after preprocessing; set --resize/--crop"
                )
            channels = channels or "rgb"
        count = 1 if channels == "grey" else 3
        mean = _per_channel(self.mean, count, "mean")
        std = _per_channel(self.std, count, "std")
        return PixelEncoder(channels, layout, float(self.scale), mean, std)

    def describe(self, encoder: PixelEncoder | None = None) -> dict[str, Any]:
        """What was used, for the JSON ``model`` object."""
        out: dict[str, Any] = {
            "source": self.source,
            "resize": _size_text(self.resize),
            "crop": _size_text(self.crop),
            "interpolation": self.interpolation,
            "scale": self.scale,
            "mean": list(encoder.mean.tolist() if encoder else self.mean),
            "std": list(encoder.std.tolist() if encoder else self.std),
            "channels": encoder.channels if encoder else self.channels,
            "layout": encoder.layout if encoder else self.layout,
            "output": self.output,
        }
        if self.class_names_file:
            out["class_names_file"] = self.class_names_file
        return out


@dataclass(frozen=True)
class PixelEncoder:
    """The per-pixel map from 0..255 RGB values to the model's tensor.

    ``encode4`` gives a 4-D array (n, C, H, W) or (n, H, W, C) with the
    channel axis ``channel_axis``; ``finish`` turns it into the model's shape
    (a view: the flat layout is the (n, H, W, C) array reshaped).
    """

    channels: str
    layout: str
    scale: float
    mean: np.ndarray
    std: np.ndarray

    @property
    def channel_axis(self) -> int:
        return 1 if self.layout == "nchw" else 3

    def encode4(self, pixels: np.ndarray) -> np.ndarray:
        """(n, H, W, 3) RGB values in 0..255 -> float32 working array with channels."""
        x = np.asarray(pixels, dtype=np.float32)
        if self.channels == "grey":
            x = (x @ LUMA)[..., None]
        elif self.channels == "bgr":
            x = x[..., ::-1]
        x = (x * np.float32(self.scale) - self.mean.astype(np.float32)) / self.std.astype(
            np.float32
        )
        if self.layout == "nchw":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)

    def finish(self, working: np.ndarray) -> np.ndarray:
        if self.layout == "flat":
            return working.reshape(working.shape[0], -1)
        return working

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """(n, H, W, 3) RGB values in 0..255 -> the model's input tensor (float32)."""
        return self.finish(self.encode4(pixels))


def apply_geometry(image: Any, spec: Preprocessing, name: str) -> Any:
    """Resize (shorter side, or exact size) and centre-crop a PIL image, as ``spec`` says.

    The shorter side goes to ``resize`` and the longer one to
    ``int(resize * long / short)``; the crop box starts at
    ``((width - crop_w) // 2, (height - crop_h) // 2)``. :func:`geometry_of`
    says where the result lies in the original.
    """
    from PIL import Image

    method = getattr(Image.Resampling, spec.interpolation.upper())
    size = resized_size(image.size, spec)
    if size != image.size:
        image = image.resize(size, method)
    box = crop_box(image.size, spec, name)
    if box is not None:
        image = image.crop(box)
    return image


def resized_size(size: Size, spec: Preprocessing) -> Size:
    """(width, height) after ``spec``'s resize of a picture of ``size``."""
    if spec.resize is None:
        return size
    if isinstance(spec.resize, tuple):
        return spec.resize
    width, height = size
    if width <= height:
        return (spec.resize, max(1, int(spec.resize * height / width)))
    return (max(1, int(spec.resize * width / height)), spec.resize)


def crop_box(size: Size, spec: Preprocessing, name: str) -> tuple[int, int, int, int] | None:
    """The centre crop (left, top, right, bottom) of a resized picture of ``size``."""
    if spec.crop is None:
        return None
    cw, ch = spec.crop
    width, height = size
    if cw > width or ch > height:
        raise InputError(
            f"{name}: cannot crop {cw}x{ch} from an image of {width}x{height} "
            "(after --resize); resize it larger or crop smaller"
        )
    left, top = (width - cw) // 2, (height - ch) // 2
    return (left, top, left + cw, top + ch)


def geometry_of(size: Size, spec: Preprocessing, name: str = "-") -> Geometry:
    """Where :func:`apply_geometry`'s picture lies in a photo of ``size`` (width, height).

    The crop box, in resized pixels, scaled back by the resize's factor on
    each axis (see :mod:`lime_cli.image.geometry`).
    """
    resized = resized_size(size, spec)
    box = crop_box(resized, spec, name) or (0, 0, resized[0], resized[1])
    sx, sy = size[0] / resized[0], size[1] / resized[1]
    left, top, right, bottom = box
    return Geometry(
        size, (left * sx, top * sy, right * sx, bottom * sy), (right - left, bottom - top)
    )


def read_settings_file(path: str) -> dict[str, Any]:
    """The JSON object of a preprocessing file."""
    from lime_cli.inputs import read_text

    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a preprocessing file must hold a JSON object")
    return data


def read_class_names(path: str) -> list[str]:
    """Class names from a file: a JSON list, or one name per line."""
    from lime_cli.inputs import read_text

    text = read_text(path)
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not a valid JSON list of class names ({exc})") from None
        if not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names):
            raise InputError(f"{path}: a class names file must be a JSON list of names")
        return [str(n) for n in names]
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names or not all(names):
        raise InputError(f"{path}: expected one non-empty class name per line")
    return names


def beside(model_path: str) -> str | None:
    """``model.json`` next to ``model.onnx``, if it exists."""
    candidate = os.path.splitext(model_path)[0] + ".json"
    return candidate if os.path.isfile(candidate) else None


# -- parsing helpers ---------------------------------------------------------
def _parse_size(value: Any, key: str, *, allow_side: bool) -> int | Size:
    if isinstance(value, str):
        parts = value.lower().replace(" ", "").split("x")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise UsageError(f"preprocessing {key!r} must be N or WxH, not {value!r}") from None
    elif isinstance(value, bool):
        raise UsageError(f"preprocessing {key!r} must be N or WxH, not {value!r}")
    elif isinstance(value, int):
        numbers = [value]
    elif isinstance(value, list) and all(isinstance(v, int) for v in value):
        numbers = list(value)
    else:
        raise UsageError(f"preprocessing {key!r} must be N or WxH, not {value!r}")
    if len(numbers) not in (1, 2) or any(n < 1 for n in numbers):
        raise UsageError(f"preprocessing {key!r} must be positive: N or WxH, not {value!r}")
    if len(numbers) == 1:
        return numbers[0] if allow_side else (numbers[0], numbers[0])
    return (numbers[0], numbers[1])


def _choice(value: Any, key: str, choices: tuple[str, ...]) -> str:
    text = str(value).lower()
    if text not in choices:
        raise UsageError(
            f"preprocessing {key!r} must be one of {', '.join(choices)}, not {value!r}"
        )
    return text


def _positive_float(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"preprocessing {key!r} must be a number, not {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise UsageError(f"preprocessing {key!r} must be a positive number, not {value!r}")
    return number


def _floats(value: Any, key: str) -> tuple[float, ...]:
    if isinstance(value, str):
        items: list[Any] = [v for v in value.split(",")]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        raise UsageError(f"preprocessing {key!r} must be a number or a list of numbers")
    try:
        numbers = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise UsageError(f"preprocessing {key!r} must be numbers, not {value!r}") from None
    if len(numbers) not in (1, 3) or not all(math.isfinite(n) for n in numbers):
        raise UsageError(f"preprocessing {key!r} takes one value or three (one per channel)")
    return numbers


def _per_channel(values: tuple[float, ...], count: int, key: str) -> np.ndarray:
    if len(values) == count:
        return np.array(values, dtype=np.float64)
    if len(values) == 1:
        return np.full(count, values[0], dtype=np.float64)
    if count == 1 and len(set(values)) == 1:
        return np.array(values[:1], dtype=np.float64)
    raise UsageError(f"preprocessing {key!r} has {len(values)} values for a {count}-channel input")


def _guess_layout(shape: tuple[int | None, ...]) -> str:
    """NCHW unless the last axis, and only it, looks like channels."""
    if shape[3] in (1, 3) and shape[1] not in (1, 3):
        return "nhwc"
    return "nchw"


def _fixed_size(shape: tuple[int | None, ...], layout: str) -> Size | None:
    height, width = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    if height is None or width is None:
        return None
    return (width, height)


def _square_side(n: int, channels: str | None) -> int | None:
    """The side s of a square image when ``n`` values are s*s grey or s*s*3 colour pixels."""
    for count, name in ((1, "grey"), (3, "rgb")):
        if channels is not None and (channels == "grey") != (name == "grey"):
            continue
        if n % count:
            continue
        side = math.isqrt(n // count)
        if side * side * count == n:
            return side
    return None


def _size_text(size: int | Size | None) -> Any:
    if size is None or isinstance(size, int):
        return size
    return f"{size[0]}x{size[1]}"
