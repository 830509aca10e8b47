"""Skip import-time work of libraries that a command-line run never uses.

SciPy 1.17's ``xp_capabilities`` decorator parses, with numpydoc's parser, the
docstring of each function it marks, to append a table of the array backends
the function supports to its Notes. Loading a scikit-learn model imports
``scipy.stats``, which brings in ndimage, fft, interpolate and spatial: 474
docstrings parsed before the first input is explained, about 0.15-0.2 s of
the 1.0 s that importing the GradientBoosting pipeline's modules takes on a
2-core machine (``import sklearn.pipeline, sklearn.ensemble``: 0.94-1.06 s,
0.80-0.93 s without the parsing, three runs each). On a run of 200 table rows
that is a sixth of the whole run; nobody reads those docstrings from a
terminal.

:func:`install` swaps the decorator's parser for one that keeps each docstring
as it is. Everything else the decorator does (its registry of each function's
capabilities) is unchanged; only the appended note is missing. It is called by
the console entry point and by local workers, never on importing the package,
so a program that imports :mod:`lime_cli` keeps SciPy's docstrings whole. The
swap is made only for SciPy versions whose decorator was read and tested
(:data:`CHECKED_SCIPY`); any other version is left alone.
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

#: SciPy versions (prefixes of ``scipy.__version__``) whose ``xp_capabilities``
#: only calls ``FunctionDoc(f)``, appends to ``doc["Notes"]`` and takes
#: ``str(doc)`` without its first line: what :class:`KeptDoc` stands in for.
CHECKED_SCIPY = ("1.17.",)
#: The module that holds the decorator and the name of the parser it calls.
TARGET = "scipy._lib._array_api"


class KeptDoc:
    """Stands in for numpydoc's ``FunctionDoc`` in the decorator: no parsing.

    Sections asked for are empty lists (what is appended to them is dropped);
    ``str`` gives a first line (the decorator removes it: numpydoc's
    signature) and then the function's docstring unchanged.
    """

    def __init__(self, function: Any, *args: Any, **kwargs: Any) -> None:
        self._doc = getattr(function, "__doc__", None) or ""
        self._sections: dict[str, list[str]] = {}

    def __getitem__(self, section: str) -> list[str]:
        return self._sections.setdefault(section, [])

    def __str__(self) -> str:
        return "\n" + self._doc


def swap_parser(module: ModuleType, version: str) -> bool:
    """Give ``module`` (SciPy's ``_array_api``) the :class:`KeptDoc` parser when
    SciPy ``version`` is one of :data:`CHECKED_SCIPY` and the module has the
    decorator and the parser. Returns whether it did."""
    if not version.startswith(CHECKED_SCIPY):
        return False
    if getattr(module, "FunctionDoc", None) is None or not callable(
        getattr(module, "xp_capabilities", None)
    ):
        return False
    module.FunctionDoc = KeptDoc  # type: ignore[attr-defined]
    return True


def _scipy_version() -> str:
    scipy = sys.modules.get("scipy")
    return str(getattr(scipy, "__version__", ""))


class _SwapOnImport:
    """An import finder (the one method of ``importlib.abc.MetaPathFinder``, whose
    module takes 5 ms to import) that finds nothing itself: when :data:`TARGET`
    is imported, it has the usual finder find it and swaps the parser once the
    module has run, before any other SciPy module uses the decorator. Removes
    itself after that one use."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = getattr(spec, "loader", None)
        run = getattr(loader, "exec_module", None)
        if spec is None or run is None:
            return spec  # an unusual installation: imported as it comes

        def exec_module(module: ModuleType) -> None:
            run(module)
            swap_parser(module, _scipy_version())

        loader.exec_module = exec_module  # type: ignore[union-attr]
        return spec


def install() -> None:
    """Skip SciPy's docstring parsing in this process from now on (see the module's
    docstring). Imports nothing: when SciPy is never imported, this costs nothing."""
    loaded = sys.modules.get(TARGET)
    if loaded is not None:
        swap_parser(loaded, _scipy_version())
        return
    if not any(isinstance(finder, _SwapOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SwapOnImport())
