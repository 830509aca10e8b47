"""Load joblib and pickle files without running code they were not meant to hold.

joblib's unpickler (which also reads plain pickles and joblib's compressed
files) is subclassed so that every global the file names passes
:class:`lime_cli.models.trust.TrustPolicy` before it is imported or called.
Three more doors are closed here rather than trusted to joblib:

- arrays of Python objects are stored as a nested pickle; joblib 1.5 reads
  it with the unrestricted ``pickle.load``, so this module reads it itself,
  through the same checks, whatever the joblib version;
- ``BUILD`` may set the state only of objects the file made, never of a class
  or function it named (that would patch library code for the whole process);
- joblib's records for files older than joblib 0.10 read companion files
  named by the pickle with ``allow_pickle=True``; they are refused.
"""

from __future__ import annotations

import copyreg
import inspect
import pickle
import sys
from typing import Any

import numpy as np
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from joblib.numpy_pickle_compat import NDArrayWrapper
from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

from lime_cli.errors import ModelError
from lime_cli.models.trust import (
    AUDITED_CLASSES,
    MissingModule,
    Refused,
    TrustPolicy,
    refusal_message,
)

#: Encodings ``_codecs.encode`` may be asked for: protocol 2 stores bytes as
#: Latin-1 text. Other codecs import modules by name.
_LATIN1 = frozenset({"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1"})

#: joblib has changed NumpyUnpickler's constructor before; pass what it takes.
_UNPICKLER_PARAMS = frozenset(inspect.signature(NumpyUnpickler.__init__).parameters)


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` narrowed to what pickles use it for."""
    if encoding.lower() not in _LATIN1 or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not used by pickles")
    return text.encode("latin-1", errors)


class RestrictedUnpickler(NumpyUnpickler):
    """joblib's unpickler, asking ``policy`` about every global."""

    dispatch = NumpyUnpickler.dispatch.copy()

    def __init__(self, filename: str, file_handle: Any, policy: TrustPolicy) -> None:
        kwargs: dict[str, Any] = {"mmap_mode": None}
        if "ensure_native_byte_order" in _UNPICKLER_PARAMS:
            kwargs["ensure_native_byte_order"] = True
        super().__init__(filename, file_handle, **kwargs)
        self.ensure_native_byte_order = True
        self.policy = policy
        # Objects handed out by find_class, kept alive so their ids stay theirs.
        self._named: dict[int, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and self.fix_imports:
            module, name = _python2_names(module, name)
        self.policy.check_name(module, name)
        sys.audit("pickle.find_class", module, name)
        self.policy.import_module(module)
        obj: Any = sys.modules[module]
        parts = name.split(".") if self.proto >= 4 else [name]
        for part in parts:
            obj = getattr(obj, part)
        self.policy.check_object(module, name, obj)
        if f"{module}.{name}" == "_codecs.encode" and not self.policy.trust_all:
            obj = _latin1_encode
        self._named[id(obj)] = obj
        return obj

    def load_build(self) -> None:
        target = self.stack[-2]
        if not self.policy.trust_all and self._named.get(id(target)) is target:
            raise Refused(
                _qualified(target),
                "the file tries to change it, and a model file may set the state only "
                "of objects it creates",
            )
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        built = self.stack[-1]
        if isinstance(built, NumpyArrayWrapper):
            self.stack[-1] = self._read_array(built)
        elif isinstance(built, NDArrayWrapper):  # joblib < 0.10; only with --trust-model
            self.compat_mode = True
            self.stack[-1] = built.read(self)

    dispatch[pickle.BUILD[0]] = load_build

    def load_reduce(self) -> None:
        """Refuse calling an audited gradient-boosting class (see ``trust.AUDITED_CLASSES``).

        They may be rebuilt from their saved state only: ``Booster(model_file=...)``
        reads any path the file names.
        """
        if not self.policy.trust_all:
            func, args = self.stack[-2], self.stack[-1]
            called = [func]
            rebuild = getattr(copyreg, "_reconstructor", None)
            if func is rebuild and isinstance(args, tuple) and len(args) > 1:
                called = [args[1]] if args[1] is not object else []
            for target in called:
                if isinstance(target, type) and _qualified(target) in AUDITED_CLASSES:
                    raise Refused(
                        _qualified(target),
                        "the file calls it with arguments it chooses; it may only be rebuilt "
                        "from its saved state",
                    )
        pickle._Unpickler.load_reduce(self)  # type: ignore[attr-defined]

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _read_array(self, record: NumpyArrayWrapper) -> np.ndarray:
        """The array a joblib record stands for, read from the stream that follows it."""
        dtype, shape, order = (getattr(record, a, None) for a in ("dtype", "shape", "order"))
        if not (
            isinstance(dtype, np.dtype)
            and isinstance(shape, tuple)
            and all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape)
            and order in ("C", "F")
        ):
            raise pickle.UnpicklingError("corrupted array record")
        if dtype.hasobject:
            # A nested pickle: read it with the same checks.
            nested = RestrictedUnpickler(self.filename, self.file_handle, self.policy)
            array = nested.load()
            if not isinstance(array, np.ndarray):
                raise pickle.UnpicklingError("corrupted object array")
            return array
        return record.read(self, self.ensure_native_byte_order)


def load_pickle(
    path: str, *, trust_model: bool = False, trusted_modules: tuple[str, ...] = ()
) -> Any:
    """The object in a joblib or pickle file; refuses unknown globals unless trusted."""
    policy = TrustPolicy(trust_model, tuple(trusted_modules))
    try:
        with open(path, "rb") as fh:
            with _validate_fileobject_and_memmap(fh, path, None) as (fobj, _):
                if isinstance(fobj, str) and trust_model:
                    from joblib.numpy_pickle_compat import load_compatibility

                    return load_compatibility(fobj)
                if isinstance(fobj, str):
                    raise ModelError(
                        f"{path}: written by joblib older than 0.10, whose arrays live in "
                        "separate files that the pickle names; load it only with --trust-model"
                    )
                return RestrictedUnpickler(path, fobj, policy).load()
    except Refused as exc:
        raise ModelError(refusal_message(path, exc)) from None
    except MissingModule as exc:
        raise ModelError(f"{path}: {exc}") from None
    except ModelError:
        raise
    except MemoryError:
        raise ModelError(f"{path}: not enough memory to load the model") from None
    except Exception as exc:  # anything a damaged or foreign file makes the unpickler raise
        raise ModelError(
            f"{path}: not a readable joblib or pickle model file ({one_line(exc)})"
        ) from None


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as a short single line."""
    text = " ".join(str(exc).split()) or "no details"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def _python2_names(module: str, name: str) -> tuple[str, str]:
    """The Python 3 names for a Python 2 pickle's globals (as pickle maps them)."""
    import _compat_pickle

    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def _qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"
