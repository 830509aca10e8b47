"""Find out what a model file is and load it.

Formats: joblib and pickle files (``.joblib``, ``.pkl``, ``.pickle``), skops
files (``.skops``) and ONNX files (``.onnx``); an unknown extension is sniffed
from the file's first bytes.
"""

from __future__ import annotations

import os
from typing import Any

from lime_cli.errors import InputError, ModelError

EXTENSIONS = {
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".skops": "skops",
    ".onnx": "onnx",
}
FORMATS = ("joblib", "pickle", "skops", "onnx")


def detect_format(path: str) -> str:
    """The model format from the extension, or from the file's magic bytes."""
    ext = os.path.splitext(path)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "skops"
    if head[:1] == b"\x80" or head[:2] in (b"\x78\x9c", b"\x78\x01", b"\x78\xda", b"\x1f\x8b"):
        return "joblib"
    if head[:1] == b"\x08":
        return "onnx"
    raise ModelError(f"{path}: cannot tell the model format; name it with --model-format")


def check_model_path(path: str) -> None:
    """Missing, directory or empty model files are input problems (exit 3)."""
    if not os.path.exists(path):
        raise InputError(f"{path}: model file not found")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a model file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: model file is empty")


def load_model(
    path: str,
    *,
    fmt: str | None = None,
    mode: str | None = None,
    class_names: list[str] | None = None,
    trust_model: bool = False,
    trusted_modules: tuple[str, ...] = (),
    **onnx_options: Any,
) -> Any:
    """Load ``path`` and wrap it in the adapter its format needs."""
    check_model_path(path)
    fmt = fmt or detect_format(path)
    if fmt == "onnx":
        from lime_cli.models.onnx_adapter import OnnxModel

        return OnnxModel.load(path, class_names=class_names, **onnx_options)
    from lime_cli.models.sklearn_adapter import SklearnModel

    estimator = load_estimator(path, fmt, trust_model=trust_model, trusted_modules=trusted_modules)
    return SklearnModel(estimator, path=path, fmt=fmt, mode=mode, class_names=class_names)


def load_estimator(
    path: str, fmt: str, *, trust_model: bool = False, trusted_modules: tuple[str, ...] = ()
) -> Any:
    """The Python object stored in a joblib, pickle or skops file."""
    if fmt == "skops":
        from lime_cli.models.skops_loader import load_skops

        return load_skops(path, trust_model=trust_model, trusted_modules=trusted_modules)
    from lime_cli.models.safe_pickle import load_pickle

    return load_pickle(path, trust_model=trust_model, trusted_modules=trusted_modules)
