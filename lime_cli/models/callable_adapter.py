"""A Python function (or callable object) named on the command line, as a model.

``--model module.path:name`` imports ``module.path`` (the working directory
first, then the installed packages) and takes its attribute ``name`` (dotted
names reach into objects: ``mymodels:pipe.predict_proba``);
``--model path/to/file.py:name`` runs that file as a module. The user names
the code explicitly, so it is imported without ``--trust-model``: importing a
module they chose is what ``python -c "import it"`` would do anyway.

What the callable gets, per call, is a batch of ``n`` inputs:

- text: a ``list`` of ``n`` strings;
- images: an ``(n, H, W, 3)`` ``uint8`` array of RGB pixels;
- tabular: a ``pandas.DataFrame`` when the callable declares its columns
  (a ``feature_names_in_`` or ``columns`` attribute on the function, its
  object, or a bound method's object, as a fitted scikit-learn model has),
  otherwise an ``(n, d)`` array of the CSV's feature columns in order.

Class names: ``--class-names``, else a ``classes_`` or ``classes`` attribute
(on the function, its object, or a bound method's object), else column numbers.

It returns ``(n, k)`` class probabilities (or ``(n,)`` for one positive-class
probability, turned into two columns) or, with ``--mode regression``, ``(n,)``
or ``(n, 1)`` values. Scores that are not probabilities (negative, or rows not
summing to 1) are turned into probabilities with a softmax, decided on the
first call and reported in the JSON ``model.output``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from typing import Any

import numpy as np

from lime_cli.engine.protocols import InputSpec
from lime_cli.errors import InputError, ModelError, UsageError
from lime_cli.models.scores import softmax

_IDENTIFIER = r"[A-Za-z_]\w*"
_MODULE_SPEC = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}(\.{_IDENTIFIER})*$")
_FILE_SPEC = re.compile(rf"^(?P<file>.+\.py):(?P<attr>{_IDENTIFIER}(\.{_IDENTIFIER})*)$")


def is_callable_spec(spec: str) -> bool:
    """``module.path:name`` or ``file.py:name`` (and not an existing file's name)."""
    if os.path.exists(spec):
        return False
    return bool(_MODULE_SPEC.match(spec) or _FILE_SPEC.match(spec))


def _working_directory_importable() -> None:
    """Put the working directory first on ``sys.path``, as ``python -m`` would.

    The installed ``lime-explain`` script runs from its own folder, so a
    module beside the user's files is not importable without this.
    """
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_callable(spec: str) -> Any:
    """The object ``spec`` names; missing modules, files and attributes are one-line errors."""
    file_match = _FILE_SPEC.match(spec)
    if file_match:
        path, attr = file_match.group("file"), file_match.group("attr")
        module = _import_file(path)
    else:
        name, _, attr = spec.partition(":")
        _working_directory_importable()
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing = exc.name or name
            if missing == name or name.startswith(missing + "."):
                raise ModelError(
                    f"{spec}: no module named {missing!r} (looked in the working directory "
                    f"{os.getcwd()} and the installed packages)"
                ) from None
            raise ModelError(
                f"{spec}: importing {name} failed: it needs module {missing!r}, "
                "which is not installed"
            ) from None
        except Exception as exc:  # the user's code: any failure while importing it
            raise ModelError(f"{spec}: importing {name} failed: {_one_line(exc)}") from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            where = getattr(target, "__name__", type(target).__name__)
            raise ModelError(f"{spec}: {where} has no attribute {part!r}")
        target = getattr(target, part)
    return target


def module_name_for(path: str) -> str:
    """The name a user's Python file is imported under: its stem and a digest of its
    absolute path, so that a long-lived process (a Dask worker serving runs from
    several folders) never takes one folder's ``predict.py`` for another's."""
    import hashlib

    where = os.path.abspath(path)
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(where))[0])
    digest = hashlib.sha1(where.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"lime_explain_user_{stem}_{digest}"


def _import_file(path: str) -> Any:
    if not os.path.isfile(path):
        raise InputError(f"{path}: Python file not found")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the file can import its neighbours
    name = module_name_for(path)
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ModelError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        del sys.modules[name]
        raise ModelError(f"{path}: no module named {exc.name!r} (imported by this file)") from None
    except Exception as exc:  # the user's code
        del sys.modules[name]
        raise ModelError(f"{path}: running the file failed: {_one_line(exc)}") from exc
    return module


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _declared(obj: Any, attrs: tuple[str, ...]) -> list[str] | None:
    """Names the callable declares in one of ``attrs``, on itself or a bound method's object
    (scikit-learn's ``feature_names_in_`` and ``classes_`` conventions)."""
    for holder in (obj, getattr(obj, "__self__", None)):
        if holder is None:
            continue
        for attr in attrs:
            names = getattr(holder, attr, None)
            if names is not None and not isinstance(names, (str, bytes)):
                try:
                    return [str(n) for n in names]
                except TypeError:
                    continue
    return None


def _declared_columns(obj: Any) -> tuple[str, ...] | None:
    names = _declared(obj, ("feature_names_in_", "columns"))
    return tuple(names) if names else None


class CallableModel:
    """Adapter around a user's callable: ``predict(batch) -> (n, k)`` floats.

    ``input_kind`` says how the images and tables reach it (see the module
    docstring); text needs no declaration.
    """

    format = "callable"

    def __init__(
        self,
        spec: str,
        *,
        mode: str | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        self.spec = spec
        target = import_callable(spec)
        if isinstance(target, type):
            raise ModelError(
                f"{spec}: names the class {target.__name__}; name a function or an instance"
            )
        if not callable(target):
            method = getattr(target, "predict_proba", None) or getattr(target, "predict", None)
            if not callable(method):
                raise ModelError(
                    f"{spec}: names a {type(target).__name__}, which cannot be called "
                    "(no __call__, predict_proba or predict)"
                )
            target = method
        self.function = target
        self.mode = mode or "classification"
        if class_names is None and self.mode == "classification":
            class_names = _declared(target, ("classes_", "classes"))
        self.classes: list[str] = (
            list(class_names) if class_names else (["value"] if self.mode == "regression" else [])
        )
        self._fixed_classes = class_names is not None
        self.columns = _declared_columns(target)
        self.output: str | None = None  # "probabilities" or "scores (softmax)", on first call

    @property
    def input_spec(self) -> InputSpec:
        """A table with the declared columns, else kind ``"unknown"``: a function
        says nothing of what it takes, so every command may call it with its own
        batch (text: strings; images: the shape here, RGB ``uint8`` (N, H, W, 3);
        tables: a DataFrame, or an array by position without declared columns).
        """
        if self.columns:
            return InputSpec("table", self.columns, (None, len(self.columns)))
        return InputSpec("unknown", ("pixels",), (None, None, None, 3), "uint8")

    def predict(self, batch: Any) -> np.ndarray:
        """Call the function on ``batch``; check and convert its answer to (n, k) floats."""
        n = len(batch)
        if isinstance(batch, np.ndarray) and batch.ndim == 4 and batch.dtype != np.uint8:
            batch = np.clip(np.rint(batch), 0, 255).astype(np.uint8)
        try:
            raw = self.function(batch)
        except (Exception, SystemExit) as exc:  # the user's code: any failure is the model's
            raise ModelError(f"{self.spec} failed to predict: {_one_line(exc)}") from exc
        return self.finish(raw, n)

    def finish(self, raw: Any, n: int) -> np.ndarray:
        """The answer for ``n`` inputs as (n, k) float64, or a one-line model error."""
        return to_outputs(self, raw, n, source=self.spec)

    def describe(self) -> dict[str, Any]:
        name = getattr(self.function, "__qualname__", type(self.function).__name__)
        return {
            "path": self.spec,
            "callable": self.spec,
            "format": self.format,
            "mode": self.mode,
            "classes": list(self.classes),
            "type": str(name),
            "output": self.output or "probabilities",
        }


def to_outputs(model: Any, raw: Any, n: int, *, source: str) -> np.ndarray:
    """Check a model's answer for ``n`` inputs and make it (n, k) probabilities or values.

    Shared by the callable and HTTP adapters. ``model`` has ``mode``,
    ``classes``, ``output`` (set here on the first answer) and
    ``_fixed_classes`` (``--class-names`` given).
    """
    try:
        out = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"{source}: the answer is not numbers ({_one_line(exc)}); "
            "a model must return probabilities or scores"
        ) from None
    if out.ndim == 0 or out.shape[0] != n:
        got = "a single value" if out.ndim == 0 else f"{out.shape[0]} rows"
        raise ModelError(f"{source}: answered {got} for a batch of {n} inputs")
    if model.mode == "regression":
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise ModelError(
                f"{source}: a regressor must answer one value per input; got shape {out.shape}"
            )
        return out[:, None]
    if out.ndim == 1:
        if model.output is None and not (np.all(out >= 0) and np.all(out <= 1)):
            raise ModelError(
                f"{source}: answered one value per input that is not a probability "
                "(labels?); return (n, k) class probabilities or scores, or use --mode regression"
            )
        out = np.column_stack([1.0 - out, out])
    if out.ndim != 2:
        raise ModelError(f"{source}: expected (n, k) probabilities; got shape {out.shape}")
    k = out.shape[1]
    if model.classes and len(model.classes) != k:
        named = "--class-names gives" if model._fixed_classes else "earlier answers had"
        raise ModelError(
            f"{source}: answered {k} scores per input, but {named} {len(model.classes)} classes"
        )
    if not model.classes:
        model.classes = [str(i) for i in range(k)]
    if model.output is None:
        finite = np.isfinite(out).all()
        sums_to_one = bool(np.allclose(out.sum(axis=1), 1.0, atol=1e-3)) if finite else False
        in_range = bool(finite and (out >= 0).all() and (out <= 1).all())
        model.output = "probabilities" if (sums_to_one and in_range) else "scores (softmax)"
    if model.output == "scores (softmax)":
        out = softmax(out)
    return out


def check_usage(fmt: str | None, what: str) -> None:
    """``--model-format`` names file formats; it does not apply to callables or URLs."""
    if fmt is not None:
        raise UsageError(f"--model-format applies to model files, not to {what}")
