"""Load joblib and pickle files without running code they were not meant to hold.

joblib's own unpickler (which also reads plain pickles and joblib's
compressed files) is subclassed so that every global the file names is checked
against :mod:`lime_cli.models.trust` before it is imported or called.
"""

from __future__ import annotations

import pickle
from typing import Any

from lime_cli.errors import ModelError
from lime_cli.models.trust import is_allowed, refusal_message


class RefusedGlobal(pickle.UnpicklingError):
    """Raised by the unpickler for a global outside the allow-list."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module = module
        self.name = name


def load_pickle(
    path: str, *, trust_model: bool = False, trusted_modules: tuple[str, ...] = ()
) -> Any:
    """The object in a joblib or pickle file; refuses unknown globals unless trusted."""
    from joblib.numpy_pickle import NumpyUnpickler
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    class _Restricted(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            # Resolve with the standard machinery, then check the result: the
            # import of an allowed library is harmless; the call is what is gated.
            if not trust_model and module.split(".")[0] not in _importable_roots(trusted_modules):
                raise RefusedGlobal(module, name)
            obj = super().find_class(module, name)
            if not trust_model and not is_allowed(module, name, obj, trusted_modules):
                raise RefusedGlobal(module, name)
            return obj

    try:
        with open(path, "rb") as fh:
            with _validate_fileobject_and_memmap(fh, path, None) as (fobj, _):
                if isinstance(fobj, str):
                    raise ModelError(f"{path}: written by joblib < 0.10, which is not supported")
                return _Restricted(path, fobj, True, mmap_mode=None).load()
    except RefusedGlobal as exc:
        raise ModelError(refusal_message(path, f"'{exc.module}.{exc.name}'")) from None
    except ModelError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path}: not a readable joblib or pickle model file ({exc})") from None
    except (ImportError, IndexError, KeyError, OSError, MemoryError) as exc:
        raise ModelError(f"{path}: cannot load the model ({type(exc).__name__}: {exc})") from None


def _importable_roots(trusted_modules: tuple[str, ...]) -> set[str]:
    """Top-level packages that may be imported at all while unpickling."""
    roots = {"sklearn", "numpy", "scipy", "joblib", "copyreg", "_codecs", "collections", "builtins"}
    roots.update(m.split(".")[0] for m in trusted_modules)
    return roots
