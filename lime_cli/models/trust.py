"""What a model file may name without ``--trust-model``.

Loading a pickle runs the callables it names, with arguments its author
chose. A scikit-learn model needs only classes of scikit-learn, NumPy and
SciPy, NumPy ufuncs and a few reconstruction helpers, so everything else is
refused before it is imported or called. Every name is checked twice: before
its module is imported (the import itself runs code) and after it resolves,
against the object it really is, so that re-exports (``sklearn.x.joblib``)
and dotted names (``numpy.m.ctypes.CDLL``) cannot smuggle in outside code.

Classes of the three libraries are still callables an attacker can call with
any arguments, so the ones with side effects found by auditing them are
refused too: they open, truncate or delete files, load shared libraries or
``exec`` strings taken from their state (``numpy.memmap``,
``numpy.lib``'s ``DataSource`` and ``NpzFile``, ``scipy.odr``, ``scipy.io``,
SciPy's distribution objects, ctypes helpers), as are test and build modules.
``--trust-module NAME`` admits one more package of the user's own.

Gradient boosting (the audit of ``AUDITED_CLASSES``): XGBoost's and
LightGBM's scikit-learn wrappers are admitted by exact name, nothing else of
either package. Their pickles hold the wrapper (plain attributes: numbers,
strings, arrays, a scikit-learn ``LabelEncoder``) and a ``Booster`` whose
``__setstate__`` hands the model bytes (XGBoost: a ``bytearray``; LightGBM: the
model text) to the library's own parser, the parser that reads its native
files: no file, network or code is reached. What the audit found unsafe, and
is refused without ``--trust-model``:

- calling the classes (``REDUCE``): ``Booster(model_file=...)`` reads any
  path, ``lightgbm.Booster(params=...)`` can join a training network
  (``machines``); so they may only be rebuilt from their state, as pickle
  itself writes them (``NEWOBJ``, or ``copyreg._reconstructor`` with
  ``object`` as base);
- a ``Booster`` state whose model is not bytes/text, or LightGBM
  ``params``/attributes naming files or machines (checked after loading by
  :func:`structural_problem`);
- any other class of the packages (callbacks, data iterators, Dask and Spark
  wrappers, plotting, training entry points).

The libraries' native parsers remain trusted code, as when their own files
are opened.
"""

from __future__ import annotations

import builtins
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Top-level packages whose classes make up ordinary models.
MODEL_PACKAGES = ("sklearn", "numpy", "scipy")

#: The parts of SciPy that fitted scikit-learn models hold objects from.
SCIPY_SUBPACKAGES = (
    "scipy.sparse",
    "scipy.special",
    "scipy.stats",
    "scipy.interpolate",
    "scipy.spatial",
    "scipy.linalg",
    "scipy.optimize",
    "scipy._lib",  # private bases of the classes above (e.g. sparse arrays)
)

#: Functions (and joblib's array record) that pickles of models call to rebuild
#: arrays, random states and plain containers. Each was read: none reaches
#: files or code beyond the allow-list. ``_codecs.encode`` is narrowed to
#: Latin-1 by the unpickler (protocol 2 writes bytes that way).
PICKLE_HELPERS = frozenset(
    {
        "copyreg._reconstructor",
        "_codecs.encode",
        "collections.OrderedDict",
        "collections.defaultdict",
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
    }
)

#: Built-in types that pickles of plain data name; none has side effects.
SAFE_BUILTINS = frozenset(
    {
        "object", "set", "frozenset", "list", "dict", "tuple", "slice", "range",
        "complex", "bytearray", "bytes", "str", "int", "float", "bool",
    }
)  # fmt: skip

#: Parts of the model packages that touch files, load native code, run
#: strings as code or exist for tests and builds.
DENIED_PREFIXES = (
    "numpy.memmap",
    "numpy._core.memmap",
    "numpy.core.memmap",
    "numpy._core._internal",  # ctypes helpers
    "numpy.core._internal",
    "numpy.ctypeslib",
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.lib.format",
    "numpy.lib._format_impl",
    "numpy.lib._datasource",
    "numpy.lib._utils_impl",
    "numpy.distutils",
    "numpy.f2py",
    "numpy.random._examples",
    "scipy.io",
    "scipy.odr",  # ODR(..., overwrite=True) deletes the files it is given
    "scipy.datasets",
    "scipy.misc",
    "scipy._lib._ccallback",  # LowLevelCallable wraps raw function pointers
    "scipy._lib._uarray",
    "scipy._lib.decorator",
    "scipy._lib.array_api_compat",
    "scipy._lib.array_api_extra",
    "scipy.optimize._highspy",
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn.experimental",
    "sklearn.callback",  # progress threads and inter-process listeners
    "sklearn.utils.parallel",  # joblib.Parallel
    "sklearn.utils.estimator_checks",
    "sklearn.utils._show_versions",
    "sklearn._build_utils",
)

#: Module name parts that mark tests, scripts and build helpers: importing
#: them runs code (``__main__`` modules run their program on import).
_NON_LIBRARY_PART = re.compile(
    r"^(_?tests?|test_.*|.*_tests?|conftest|__main__|setup|_pyinstaller|"
    r"benchmarks?|_precompute|_build_utils|.*testing|.*testutils|.*pytest.*|_examples)$"
)

#: Classes refused with all their subclasses, wherever they are re-exported:
#: (defining module, class name). ``rv_generic.__setstate__`` runs
#: ``exec`` on a string of its state; ``DataSource.__del__`` deletes a folder
#: of its state; ``memmap`` and ``NpzFile`` open, create or truncate files.
DENIED_CLASSES = (
    ("numpy", "memmap"),
    ("numpy.lib._datasource", "DataSource"),
    ("numpy.lib._npyio_impl", "NpzFile"),
    ("numpy.lib.npyio", "NpzFile"),
    ("scipy.stats._distn_infrastructure", "rv_generic"),
    ("scipy.stats._distn_infrastructure", "rv_frozen"),
)

#: Modules whose classes may appear among the bases of an admitted class.
#: A base from anywhere else (``joblib.Parallel``, ``threading.Thread``,
#: ``io`` streams, ctypes, pybind11) brings behaviour from outside the policy.
SAFE_BASE_MODULES = frozenset(
    {
        "builtins", "abc", "_abc", "enum", "numbers", "typing", "typing_extensions",
        "collections", "_collections_abc", "contextlib", "dataclasses",
    }
)  # fmt: skip

#: Classes of the gradient-boosting libraries admitted by exact name (see the
#: audit above); each may be rebuilt from its state, never called.
AUDITED_CLASSES = frozenset(
    {
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "xgboost.sklearn.XGBRFClassifier",
        "xgboost.sklearn.XGBRFRegressor",
        "xgboost.core.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.basic.Booster",
    }
)

#: LightGBM parameters that name files or machines; a Booster or wrapper whose
#: parameters hold one is refused after loading.
LIGHTGBM_REACHING_PARAMS = frozenset(
    {
        "machines", "machine_list_filename", "machine_list_file", "mlist", "output_model",
        "model_output", "model_out", "input_model", "model_input", "model_in", "output_result",
        "predict_result", "prediction_result", "predict_name", "prediction_name", "pred_name",
        "name_prediction", "convert_model", "convert_model_file", "save_binary",
        "forcedsplits_filename", "forcedbins_filename", "initscore_filename", "data",
        "valid", "local_listen_port", "num_machines", "task",
    }
)  # fmt: skip

OUTSIDE = "it is not part of scikit-learn, NumPy or SciPy"
UNSAFE = "it can reach files, native code or other programs"
FUNCTION = "it is a function, and model files may name only classes and ufuncs"
DOTTED = "its dotted name reaches through another object"
PRIVATE = "it is a private attribute"


class MissingModule(Exception):
    """A module the model file needs, and that the user trusts, cannot be found."""


class Refused(Exception):
    """A name in a model file that the policy does not admit."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class TrustPolicy:
    """Which globals a model file may name.

    ``trust_all`` is ``--trust-model``; ``trusted_modules`` are the
    ``--trust-module`` packages, admitted with their submodules.
    """

    trust_all: bool = False
    trusted_modules: tuple[str, ...] = ()

    def check_name(self, module: str, name: str) -> None:
        """Raise :class:`Refused` unless ``module`` may be imported for ``name``.

        Runs before the import, because importing a module runs its code.
        """
        if self.trust_all:
            return
        full = f"{module}.{name}"
        if full in PICKLE_HELPERS:
            return
        parts = name.split(".")
        if not all(p.isidentifier() for p in parts + module.split(".")):
            raise Refused(full, "it is not a valid name")
        if any(p.startswith("__") for p in parts) and not _is_cython_unpickler(name):
            raise Refused(full, PRIVATE)
        if self._trusted(module):
            return
        if full in AUDITED_CLASSES:
            return
        if module == "builtins":
            if name not in SAFE_BUILTINS:
                raise Refused(full, "it is a built-in that can run code or reach the system")
            return
        if not _in_model_packages(module):
            raise Refused(full, OUTSIDE)
        if any(_NON_LIBRARY_PART.match(p) for p in module.split(".")):
            raise Refused(full, "it is part of a test or build module, not of a library")
        if _denied(module) or _denied(full):
            raise Refused(full, UNSAFE)

    def check_object(self, module: str, name: str, obj: Any) -> None:
        """Raise :class:`Refused` unless the resolved ``obj`` is admitted."""
        if self.trust_all:
            return
        full = f"{module}.{name}"
        if full in PICKLE_HELPERS:
            return
        if self._trusted(module):
            home = getattr(obj, "__module__", None)
            if not (isinstance(home, str) and self._trusted(home)):
                raise Refused(
                    full, f"it is defined in {home or 'an unknown module'}, not in {module}"
                )
            return
        if full in AUDITED_CLASSES:
            if not (
                isinstance(obj, type) and obj.__module__ == module and obj.__qualname__ == name
            ):
                raise Refused(full, "it is not the audited class it names")
            return
        if module == "builtins":
            if getattr(builtins, name, None) is not obj:
                raise Refused(full, "it is not the built-in it names")
            return
        if "." in name and not (
            isinstance(obj, type) and obj.__module__ == module and obj.__qualname__ == name
        ):
            raise Refused(full, DOTTED)
        if _is_cython_unpickler(name):
            # Cython's ``__pyx_unpickle_C`` rebuilds an instance of class C
            # of the same module: admitted exactly when C is.
            owner = getattr(sys.modules.get(module), name[len("__pyx_unpickle_") :], None)
            if getattr(obj, "__module__", None) != module or not isinstance(owner, type):
                raise Refused(full, FUNCTION)
            _check_class(full, owner)
            return
        if isinstance(obj, np.ufunc):
            return
        if not isinstance(obj, type):
            raise Refused(full, FUNCTION)
        _check_class(full, obj)

    def import_module(self, module: str) -> None:
        """Import ``module``, which :meth:`check_name` admitted.

        A trusted module (``--trust-module``, or any with ``--trust-model``) is
        also looked for in the working directory, as ``python -m`` would: the
        installed ``lime-explain`` script does not put it on ``sys.path``, so
        ``mytext.py`` beside the user would not be found. The folder is added
        after the installed packages, and only while the trusted module is
        imported. A trusted module that is missing raises :class:`MissingModule`.
        """
        trusted = self.trust_all or self._trusted(module)
        try:
            with _working_directory_importable(trusted):
                __import__(module, level=0)
        except ModuleNotFoundError as exc:
            if not trusted:
                raise
            raise MissingModule(self._missing(module, exc.name or module)) from None

    def _missing(self, module: str, missing: str) -> str:
        """What is missing and the remedy: where the module must be, or what to install."""
        root = module.split(".")[0]
        option = "--trust-model" if self.trust_all else f"--trust-module {root}"
        if _under(module, missing):  # the trusted module itself (or its package)
            return (
                f"{option}: no module named {missing!r} (run from the folder that holds "
                f"{missing.split('.')[0]}.py, or add that folder to PYTHONPATH)"
            )
        return f"{option}: {module} needs the module {missing!r}, which is not installed"

    def check_type_name(self, type_name: str) -> None:
        """Check a fully qualified ``module.Name`` (as skops lists them)."""
        if self.trust_all:
            return
        module, _, name = type_name.rpartition(".")
        self.check_name(module, name)
        try:
            self.import_module(module)
            obj = getattr(sys.modules[module], name)
        except MissingModule:
            raise
        except Exception:
            raise Refused(type_name, "it cannot be imported here") from None
        self.check_object(module, name, obj)

    def _trusted(self, module: str) -> bool:
        return any(_under(module, m) for m in self.trusted_modules)


@contextmanager
def _working_directory_importable(active: bool) -> Iterator[None]:
    """The working directory at the end of ``sys.path`` for the block, when ``active``."""
    try:
        folder = os.getcwd() if active else None
    except OSError:  # the working directory was removed
        folder = None
    if folder is None or folder in sys.path or "" in sys.path:
        yield
        return
    sys.path.append(folder)
    try:
        yield
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def _check_class(full: str, cls: type) -> None:
    home = getattr(cls, "__module__", None) or ""
    if not _in_model_packages(home):
        raise Refused(
            full,
            f"it is really {home}.{cls.__qualname__}, which is not part of "
            "scikit-learn, NumPy or SciPy",
        )
    if _denied(home) or _denied(f"{home}.{cls.__qualname__}") or _is_denied_class(cls):
        raise Refused(full, UNSAFE)
    for base in cls.__mro__[1:]:
        base_home = getattr(base, "__module__", None) or ""
        if not (_in_model_packages(base_home) or base_home.split(".")[0] in SAFE_BASE_MODULES):
            raise Refused(
                full,
                f"it is built on {base_home}.{base.__qualname__}, from outside "
                "scikit-learn, NumPy and SciPy",
            )
        if _is_denied_class(base):
            raise Refused(full, UNSAFE)


def _is_denied_class(cls: type) -> bool:
    for module, name in DENIED_CLASSES:
        # A class can only derive from one whose module is already imported.
        denied = getattr(sys.modules.get(module), name, None)
        if isinstance(denied, type) and issubclass(cls, denied):
            return True
    return False


def _is_cython_unpickler(name: str) -> bool:
    return name.startswith("__pyx_unpickle_") and "." not in name


def _in_model_packages(module: str) -> bool:
    root = module.split(".")[0]
    if root not in MODEL_PACKAGES:
        return False
    return root != "scipy" or any(_under(module, p) for p in SCIPY_SUBPACKAGES)


def _denied(name: str) -> bool:
    return any(_under(name, p) for p in DENIED_PREFIXES)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def refusal_message(path: str, refused: Refused) -> str:
    """One line: what was refused, why, and how to proceed."""
    root = refused.name.split(".")[0]
    own_package = (
        root not in MODEL_PACKAGES
        and root not in sys.stdlib_module_names
        and root not in ("builtins", "__main__")
        and root.isidentifier()
    )
    trust_module = (
        f", or --trust-module {root} to admit only that package"
        if own_package
        else " (or --trust-module NAME to admit a package of your own)"
    )
    return (
        f"{path}: refused to load '{refused.name}': {refused.reason}. Loading a model file "
        f"runs the code it names; if you trust this file, pass --trust-model{trust_module}"
    )


def structural_problem(model: Any) -> str | None:
    """Why a loaded model's decision trees would make predict read outside memory, if so.

    scikit-learn's compiled trees trust the node arrays they are given: a
    child index out of range crashes the process (or reads memory) when the
    model predicts. Trees are rebuilt from those arrays for pickles and skops
    files alike, so they are checked here, whatever the file's format.
    """
    booster = _booster_problem(model)
    if booster:
        return booster
    tree_module = sys.modules.get("sklearn.tree._tree")
    hgb_module = sys.modules.get("sklearn.ensemble._hist_gradient_boosting.predictor")
    tree_cls = getattr(tree_module, "Tree", None)
    predictor_cls = getattr(hgb_module, "TreePredictor", None)
    if tree_cls is None and predictor_cls is None:
        return None  # no tree can have been loaded
    for obj, pending, seen in _reachable(model):
        if tree_cls is not None and isinstance(obj, tree_cls):
            problem = _tree_problem(obj)
        elif predictor_cls is not None and isinstance(obj, predictor_cls):
            problem = _predictor_problem(obj, None)
        elif predictor_cls is not None and hasattr(obj, "_predictors"):
            # A histogram gradient-boosting model knows how many features its
            # trees may split on; check them with that bound.
            n_features = getattr(obj, "n_features_in_", None)
            predictors = [p for row in obj._predictors for p in row]
            seen.update(id(p) for p in predictors if isinstance(p, predictor_cls))
            problem = next(
                filter(None, (_predictor_problem(p, n_features) for p in predictors)), None
            )
            pending.extend(_children(obj))
        else:
            problem = None
            pending.extend(_children(obj))
        if problem:
            return problem
    return None


def _booster_problem(model: Any) -> str | None:
    """What in a loaded XGBoost/LightGBM object the audit refuses, if anything.

    Boosters must hold a native handle (their model parsed by the library);
    LightGBM parameters must not name files or machines
    (:data:`LIGHTGBM_REACHING_PARAMS`), nor may a network be attached.
    """
    if "xgboost" not in sys.modules and "lightgbm" not in sys.modules:
        return None
    import ctypes

    for obj, pending, _ in _reachable(model):
        home = type(obj).__module__.split(".")[0]
        state = getattr(obj, "__dict__", None)
        if home in ("xgboost", "lightgbm") and isinstance(state, dict):
            name = type(obj).__qualname__
            if name == "Booster":
                handle = state.get("handle" if home == "xgboost" else "_handle")
                if not isinstance(handle, ctypes.c_void_p):
                    return f"its {home} Booster holds no model the library parsed"
            if home == "lightgbm":
                if state.get("_network"):
                    return "its LightGBM Booster is attached to a training network"
                for key in ("params", "_other_params"):
                    params = state.get(key)
                    if isinstance(params, dict):
                        named = sorted(set(map(str, params)) & LIGHTGBM_REACHING_PARAMS)
                        if named:
                            return f"its LightGBM parameters name files or machines ({named[0]})"
        pending.extend(_children(obj))
    return None


def _reachable(model: Any) -> Iterator[tuple[Any, list[Any], set[int]]]:
    """Each object reachable from ``model`` once (plain values skipped), depth first.

    Yields ``(obj, pending, seen)``: the caller adds what to visit next to
    ``pending`` (usually ``_children(obj)``) and may mark objects it handled
    itself as ``seen``.
    """
    seen: set[int] = set()
    pending: list[Any] = [model]
    while pending:
        obj = pending.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, type)):
            continue
        seen.add(id(obj))
        yield obj, pending, seen


def _children(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, np.ndarray):
        return obj.ravel().tolist() if obj.dtype.hasobject else []
    state = getattr(obj, "__dict__", None)
    return list(state.values()) if isinstance(state, dict) else []


def _tree_problem(tree: Any) -> str | None:
    n = int(tree.node_count)
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    if not (left.shape == right.shape == feature.shape == (n,)):
        return "a decision tree's node arrays disagree in length"
    return _nodes_problem(left, right, left == -1, feature, int(tree.n_features), n)


def _predictor_problem(predictor: Any, n_features: int | None) -> str | None:
    nodes = getattr(predictor, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or nodes.dtype.names is None:
        return "a gradient-boosting tree has no node array"
    problem = _nodes_problem(
        nodes["left"].astype(np.int64),
        nodes["right"].astype(np.int64),
        nodes["is_leaf"].astype(bool),
        nodes["feature_idx"].astype(np.int64),
        n_features if isinstance(n_features, (int, np.integer)) else None,
        len(nodes),
    )
    if problem:
        return problem
    split = ~nodes["is_leaf"].astype(bool) & nodes["is_categorical"].astype(bool)
    bitsets = np.asarray(getattr(predictor, "raw_left_cat_bitsets", np.empty((0, 8))))
    if np.any(nodes["bitset_idx"][split].astype(np.int64) >= len(bitsets)):
        return "a gradient-boosting tree's category index is out of range"
    return None


def _nodes_problem(
    left: np.ndarray,
    right: np.ndarray,
    is_leaf: np.ndarray,
    feature: np.ndarray,
    n_features: int | None,
    n: int,
) -> str | None:
    """Children must come after their parent (so walks end) and stay in range."""
    split = ~is_leaf
    index = np.arange(n)
    for child in (left, right):
        if np.any(child[split] <= index[split]) or np.any(child[split] >= n):
            return "a decision tree's child index is out of range"
    if n_features is not None and np.any(feature[split] >= n_features):
        return "a decision tree splits on a feature it does not have"
    if np.any(feature[split] < 0):
        return "a decision tree splits on a negative feature index"
    return None
