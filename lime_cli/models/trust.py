"""What a model file may reference without ``--trust-model``.

Loading a pickle runs whatever callables it names. A scikit-learn model is
made only of classes from scikit-learn, NumPy and SciPy plus a handful of
reconstruction helpers, so everything else is refused before it runs. Classes
of those libraries that touch files (``numpy.memmap``) or exist for testing
are refused too. ``--trust-module NAME`` admits a user's own package.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

#: Top-level packages whose classes make up ordinary models.
MODEL_PACKAGES = ("sklearn", "numpy", "scipy")

#: Functions (not classes) that ordinary model pickles call to rebuild arrays.
ALLOWED_FUNCTIONS = frozenset(
    {
        "copyreg._reconstructor",
        "_codecs.encode",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        "collections.OrderedDict",
        "collections.defaultdict",
    }
)

#: Harmless built-in types that pickles of plain data name.
ALLOWED_BUILTINS = frozenset(
    {
        "object", "set", "frozenset", "list", "dict", "tuple", "slice", "range",
        "complex", "bytearray", "bytes", "str", "int", "float", "bool", "type(None)",
    }
)  # fmt: skip

#: Parts of the model packages that can touch files or exist only for tests.
DENIED_PREFIXES = (
    "numpy.memmap",
    "numpy.testing",
    "numpy.distutils",
    "numpy.f2py",
    "numpy.ctypeslib",
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.lib.format",
    "numpy.lib._datasource",
    "scipy.io",
    "scipy._lib._testutils",
    "sklearn.utils._testing",
    "sklearn.datasets",
    "sklearn.externals",
)


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def is_allowed(module: str, name: str, obj: Any, trusted_modules: tuple[str, ...] = ()) -> bool:
    """Whether the global ``module.name`` (already resolved to ``obj``) may be used."""
    full = f"{module}.{name}"
    if any(_matches(module, m) for m in trusted_modules):
        return True
    if full in ALLOWED_FUNCTIONS:
        return True
    if module == "builtins":
        return name in ALLOWED_BUILTINS and getattr(builtins, name, None) is obj
    if any(_matches(full, p) or _matches(module, p) for p in DENIED_PREFIXES):
        return False
    if module.split(".")[0] not in MODEL_PACKAGES:
        return False
    # Within the model packages: classes (instantiated, then given their
    # state) and NumPy ufuncs (pure arithmetic) - never arbitrary functions.
    return isinstance(obj, type) or isinstance(obj, np.ufunc)


def refusal_message(path: str, what: str) -> str:
    """One line saying what was refused and how to proceed."""
    return (
        f"{path}: refused to load {what}: it is not part of a scikit-learn, NumPy or SciPy "
        "model, and loading a model file runs what it names. If you trust this file, pass "
        "--trust-model (or --trust-module PACKAGE for your own package)"
    )
