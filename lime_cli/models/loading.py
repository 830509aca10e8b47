"""Find out what a model file is and load it.

Formats: joblib and pickle files (``.joblib``, ``.pkl``, ``.pickle``), skops
files (``.skops``), ONNX files (``.onnx``: image tensors, text with a tokenizer,
converted scikit-learn text and table pipelines), XGBoost models (``.ubj``, or
XGBoost's ``.json``) and LightGBM text model files; an unknown extension is
sniffed from the file's first bytes. PyTorch, TensorFlow and Keras files are
recognised and refused in one line (export them to ONNX). A model can also be a
Python callable (``module:function`` or ``file.py:function``, see
``callable_adapter``) or an endpoint (``http(s)://...``, see ``http_adapter``):
those are recognised from the spec string before any file is looked at.
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
    ".ubj": "xgboost",
}

#: The HTTP adapter's options (see ``lime_cli.run.settings.served_model_options``).
HTTP_OPTIONS = ("protocol", "concurrency", "timeout", "request_size")

#: Files of frameworks lime-explain does not run, by extension: what they are.
FOREIGN_EXTENSIONS = {
    ".pt": "a PyTorch file",
    ".pth": "a PyTorch file",
    ".ckpt": "a PyTorch/TensorFlow checkpoint",
    ".safetensors": "a safetensors weights file (weights without the network)",
    ".keras": "a Keras model",
    ".h5": "a Keras/HDF5 model",
    ".hdf5": "a Keras/HDF5 model",
    ".pb": "a TensorFlow graph",
    ".tflite": "a TensorFlow Lite model",
}
EXPORT_HINT = "export it to ONNX (or use a Python callable model, --model file.py:function)"


#: What a file's first bytes say it is: kind -> (description, the format to name).
KINDS: dict[str, tuple[str, str | None]] = {
    "onnx": ("an ONNX model", "onnx"),
    "zip": ("a zip archive (skops files are zip archives)", "skops"),
    "pickle": ("a pickle", "pickle"),
    "compressed": ("a compressed file, as joblib writes", "joblib"),
    "npy": ("a NumPy .npy array, not a model", None),
    "hdf5": ("an HDF5 file (such as a Keras model), not a scikit-learn model", None),
    "text": ("a text file, not a model", None),
    "xgboost": ("an XGBoost model", "xgboost"),
    "lightgbm": ("a LightGBM model", "lightgbm"),
    "pytorch": ("a PyTorch file", None),
    "keras": ("a Keras model", None),
    "safetensors": ("a safetensors weights file", None),
}
#: Kinds that are another framework's files: refused with EXPORT_HINT.
FOREIGN_KINDS = ("pytorch", "keras", "safetensors", "hdf5")

#: The kinds of content each format can hold; None = not recognised.
ACCEPTED_KINDS: dict[str, tuple[str | None, ...]] = {
    "joblib": ("pickle", "compressed", None),
    "pickle": ("pickle", "compressed", None),
    "skops": ("zip",),
    "onnx": ("onnx", None),
    "xgboost": ("xgboost", None),
    "lightgbm": ("lightgbm", "text", None),
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
            return _zip_kind(path) if kind == "zip" else kind
    if head.startswith(b"tree\nversion=") or head.startswith(b"tree\r\nversion="):
        return "lightgbm"
    if head[:1] == b"{" and b"learner" in head[:200]:
        return "xgboost"  # XGBoost's JSON or UBJSON: {"learner": ...} at the top
    if len(head) > 10 and head[8:10] == b'{"' and b"dtype" in head[:4096]:
        return "safetensors"  # 8-byte header length, then a JSON header
    if head[:1] == b"\x78" and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        return "compressed"  # zlib, joblib's default compressor
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if head[:1] == b"\x08" and head[1:2] and head[1] < 0x80:
        return "onnx"  # protobuf field 1 (ir_version), a small integer
    if _looks_like_text(head) and last != b".":  # protocol-0 pickles are text ending in "."
        return "text"
    return None


def _zip_kind(path: str) -> str:
    """A zip archive: skops (the default), a PyTorch checkpoint or a Keras model."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()[:200]
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "pytorch"  # torch.save's archive: <name>/data.pkl, <name>/data/0...
    if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
        return "keras"
    return "zip"


def refuse_foreign(path: str) -> None:
    """Refuse PyTorch, TensorFlow and Keras files in one line: they need exporting.

    Recognised by extension (``.pt``, ``.pth``, ``.keras``, ``.h5``, ``.pb``...) or
    by bytes (torch.save's zip archive, a Keras zip, safetensors, HDF5), so a
    checkpoint is not reported as a broken skops or pickle file.
    """
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ModelError(f"{path}: a TensorFlow SavedModel; {EXPORT_HINT}")
        return
    ext = os.path.splitext(path)[1].lower()
    what = FOREIGN_EXTENSIONS.get(ext)
    if what is None and os.path.isfile(path) and os.path.getsize(path) > 0:
        kind = sniff_kind(path)
        what = KINDS[kind][0] if kind in FOREIGN_KINDS else None
        if kind == "hdf5":
            what = "an HDF5 file (such as a Keras model)"
    if what is not None:
        raise ModelError(f"{path}: {what}; {EXPORT_HINT}")


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
    if ext == ".json" and kind != "xgboost":
        raise ModelError(
            f"{path}: a JSON file that is not an XGBoost model "
            "(XGBoost's JSON has a 'learner' object)"
        )
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
        refuse_foreign(path)  # a TensorFlow SavedModel is a directory
        raise InputError(f"{path}: is a directory, not a model file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: model file is empty")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: model file is not readable (permission denied)")
    refuse_foreign(path)


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

    ``onnx_options`` (ONNX only): ``purpose`` (``"text"``, ``"table"``, or
    None for image tensors: which adapter a file that could be either gets),
    ``output``, ``threads``, and for text ``tokenizer``, ``max_length``,
    ``batch_size``, ``class_names_file``; for a URL, the HTTP adapter's
    (``protocol``, ``concurrency``, ``timeout``, ``request_size``).
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
        if mode == "regression":
            raise UsageError(
                f"{path}: ONNX models are explained as classifiers (class scores); "
                "--mode regression is supported for scikit-learn models"
            )
        return load_onnx(path, class_names=class_names, **onnx_options)
    if fmt in ("xgboost", "lightgbm"):
        from lime_cli.models.boosters import load_booster

        return load_booster(path, fmt, mode=mode, class_names=class_names)
    from lime_cli.models.sklearn_adapter import SklearnModel

    estimator = load_estimator(path, fmt, trust_model=trust_model, trusted_modules=trusted_modules)
    return SklearnModel(estimator, path=path, fmt=fmt, mode=mode, class_names=class_names)


def load_onnx(
    path: str,
    *,
    class_names: list[str] | None = None,
    purpose: str | None = None,
    threads: int | None = None,
    **options: Any,
) -> Any:
    """The adapter for an ONNX file: text, table or image tensor, by its inputs.

    A model that reads text is refused by the image and tabular commands
    (``purpose`` other than ``"text"``) in one line naming the text command;
    otherwise a table-shaped model is read as a table only for ``"table"``
    and as an image tensor (or refused by the command) for the others.
    """
    from lime_cli.models.onnx_adapter import OnnxModel, open_session
    from lime_cli.models.onnx_table import OnnxTableModel, is_table_session
    from lime_cli.models.onnx_text import OnnxTextModel, is_text_session

    session = open_session(path, threads)
    names = ", ".join(i.name for i in session.get_inputs())
    if is_text_session(session):
        if purpose != "text":
            raise ModelError(
                f"{path}: a text classifier (it takes {names}); explain it with lime-explain text"
            )
        return OnnxTextModel.load(path, session=session, class_names=class_names, **options)
    output = options.get("output") or "auto"
    if purpose in ("text", "table") and is_table_session(session):
        return OnnxTableModel(session, path=path, class_names=class_names, output=output)
    return OnnxModel(session, path=path, class_names=class_names, output=output)


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
