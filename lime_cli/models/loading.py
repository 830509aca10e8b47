"""Find out what a model file is and load it.

Formats: joblib and pickle files (``.joblib``, ``.pkl``, ``.pickle``), skops
files (``.skops``) and ONNX files (``.onnx``); an unknown extension is sniffed
from the file's first bytes. A model can also be a Python callable
(``module:function`` or ``file.py:function``, see ``callable_adapter``) or an
endpoint (``http(s)://...``, see ``http_adapter``): those are recognised from
the spec string before any file is looked at.
"""

from __future__ import annotations

import os
from typing import Any

from lime_cli.errors import InputError, ModelError, UsageError

EXTENSIONS = {
    ".joblib": "joblib",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".skops": "skops",
    ".onnx": "onnx",
}

#: The HTTP adapter's options (see ``lime_cli.run.settings.served_model_options``).
HTTP_OPTIONS = ("protocol", "concurrency", "timeout", "request_size")

#: What a file's first bytes say it is: kind -> (description, the format to name).
KINDS: dict[str, tuple[str, str | None]] = {
    "onnx": ("an ONNX model", "onnx"),
    "zip": ("a zip archive (skops files are zip archives)", "skops"),
    "pickle": ("a pickle", "pickle"),
    "compressed": ("a compressed file, as joblib writes", "joblib"),
    "npy": ("a NumPy .npy array, not a model", None),
    "hdf5": ("an HDF5 file (such as a Keras model), not a scikit-learn model", None),
    "text": ("a text file, not a model", None),
}

#: The kinds of content each format can hold; None = not recognised.
ACCEPTED_KINDS: dict[str, tuple[str | None, ...]] = {
    "joblib": ("pickle", "compressed", None),
    "pickle": ("pickle", "compressed", None),
    "skops": ("zip",),
    "onnx": ("onnx", None),
}

_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"\x93NUMPY", "npy"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"\x1f\x8b", "compressed"),  # gzip
    (b"BZh", "compressed"),
    (b"\xfd7zXZ\x00", "compressed"),  # xz
    (b"\x5d\x00\x00", "compressed"),  # lzma
    (b"ZF", "compressed"),  # joblib < 0.10
)


def sniff_kind(path: str) -> str | None:
    """What the file's first bytes say it is (a key of KINDS), or None if unclear."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:1] == b"\x78" and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        return "compressed"  # zlib, joblib's default compressor
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if head[:1] == b"\x08" and head[1:2] and head[1] < 0x80:
        return "onnx"  # protobuf field 1 (ir_version), a small integer
    if _looks_like_text(head) and last != b".":  # protocol-0 pickles are text ending in "."
        return "text"
    return None


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end
            return False
        text = head[: exc.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\n\r\f" for c in text)


def model_source(spec: str) -> str | None:
    """``"http"`` for an http(s) URL, ``"callable"`` for ``module:name`` or
    ``file.py:name``, ``None`` for a model file."""
    if spec.lower().startswith(("http://", "https://")):
        return "http"
    from lime_cli.models.callable_adapter import is_callable_spec

    return "callable" if is_callable_spec(spec) else None


def detect_format(path: str) -> str:
    """The model format from the extension, or from the file's first bytes
    (``"callable"`` or ``"http"`` for those specs)."""
    source = model_source(path)
    if source:
        return source
    ext = os.path.splitext(path)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    kind = sniff_kind(path)
    named = KINDS[kind][1] if kind else None
    if named == "pickle":
        return "joblib"  # joblib's reader reads plain pickles too
    if named:
        return named
    if kind:
        raise ModelError(f"{path}: is {KINDS[kind][0]}")
    raise ModelError(f"{path}: cannot tell the model format; name it with --model-format")


def check_kind(path: str, fmt: str) -> None:
    """Refuse, before loading, a file whose bytes say it is not a ``fmt`` file."""
    kind = sniff_kind(path)
    if kind in ACCEPTED_KINDS.get(fmt, (kind,)):
        return
    if kind is None:
        raise ModelError(f"{path}: not {_a(fmt)} file ({fmt} files are zip archives)")
    description, named = KINDS[kind]
    if named is None:
        raise ModelError(f"{path}: not {_a(fmt)} model: this is {description}")
    raise ModelError(
        f"{path}: not {_a(fmt)} model: this is {description}; "
        f"pass --model-format {'joblib' if named == 'pickle' else named} if that is right"
    )


def check_model_path(path: str) -> None:
    """Missing, directory or empty model files are input problems (exit 3).

    Callables and URLs are not files: they are checked when loaded.
    """
    if model_source(path):
        return
    if not os.path.exists(path):
        raise InputError(f"{path}: model file not found")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a model file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: model file is empty")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: model file is not readable (permission denied)")


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
    """Load ``path`` and wrap it in the adapter its format needs.

    ``onnx_options`` are the ONNX adapter's options, or the HTTP adapter's
    (``protocol``, ``concurrency``, ``timeout``, ``request_size``) for a URL.
    """
    source = model_source(path)
    if source is not None:
        from lime_cli.models.callable_adapter import check_usage

        check_usage(fmt if fmt != source else None, "a URL" if source == "http" else "callables")
        if source == "callable":
            from lime_cli.models.callable_adapter import CallableModel

            return CallableModel(path, mode=mode, class_names=class_names)
        from lime_cli.models.http_adapter import HttpModel

        served = {k: v for k, v in onnx_options.items() if k in HTTP_OPTIONS}
        return HttpModel.connect(path, mode=mode, class_names=class_names, **served)
    # A file compared with a served model shares the served model's options: not its own.
    onnx_options = {k: v for k, v in onnx_options.items() if k not in HTTP_OPTIONS}
    check_model_path(path)
    fmt = fmt or detect_format(path)
    check_kind(path, fmt)
    if fmt == "onnx":
        from lime_cli.models.onnx_adapter import OnnxModel

        if mode == "regression":
            raise UsageError(
                f"{path}: ONNX models are explained as classifiers (class scores); "
                "--mode regression is supported for scikit-learn models"
            )
        return OnnxModel.load(path, class_names=class_names, **onnx_options)
    from lime_cli.models.sklearn_adapter import SklearnModel

    estimator = load_estimator(path, fmt, trust_model=trust_model, trusted_modules=trusted_modules)
    return SklearnModel(estimator, path=path, fmt=fmt, mode=mode, class_names=class_names)


def load_estimator(
    path: str, fmt: str, *, trust_model: bool = False, trusted_modules: tuple[str, ...] = ()
) -> Any:
    """The Python object stored in a joblib, pickle or skops file.

    Without ``trust_model`` only what :mod:`lime_cli.models.trust` admits is
    loaded; either way, decision trees are checked before anything predicts.
    """
    check_model_path(path)
    check_kind(path, fmt)
    if fmt == "skops":
        from lime_cli.models.skops_loader import load_skops

        estimator = load_skops(path, trust_model=trust_model, trusted_modules=trusted_modules)
    else:
        from lime_cli.models.safe_pickle import load_pickle

        estimator = load_pickle(path, trust_model=trust_model, trusted_modules=trusted_modules)
    from lime_cli.models.trust import structural_problem

    try:
        problem = structural_problem(estimator)
    except Exception as exc:  # a malformed object graph
        problem = f"its structure cannot be checked ({type(exc).__name__})"
    if problem:
        raise ModelError(f"{path}: the model is damaged or crafted: {problem}")
    return estimator


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"
