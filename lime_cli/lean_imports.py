"""Skip import-time work of libraries that a command-line run never uses.

SciPy 1.17's ``xp_capabilities`` decorator parses, with numpydoc's parser, the
docstring of each function it marks, to append a table of the array backends
the function supports to its Notes. Loading a scikit-learn model imports
``scipy.stats``, which brings in ndimage, fft, interpolate and spatial among
others: 474 docstrings parsed before the first input is explained, about
0.15-0.2 s of the 1.0 s that importing the GradientBoosting pipeline's modules
takes on a 2-core machine (``import sklearn.pipeline, sklearn.ensemble``:
0.94-1.06 s, 0.80-0.93 s without the parsing, three runs each). On a run of
200 table rows that is a sixth of the whole run; nobody reads those docstrings
from a terminal.

:func:`install` swaps the decorator's parser for one that keeps each docstring
as it is. Everything else the decorator does (its registry of each function's
capabilities) is unchanged; the docstrings lack the appended note and keep
their source indentation (numpydoc no longer re-indents them). It is called by
the console entry point and by local (loky) workers, never on importing the
package, so a program that imports :mod:`lime_cli` keeps SciPy's docstrings
whole; Dask workers are the user's processes and are left alone. The swap is
made only when the decorator's code is the one read and tested here (its names
and constants, :data:`KNOWN_DECORATOR`); any other SciPy is left alone.
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType
from typing import Any

#: The names and constants of the decorator's inner function in SciPy 1.17.1
#: (``xp_capabilities``' nested ``decorator``; constants other than None): it
#: calls ``FunctionDoc(f)``, appends to ``doc["Notes"]`` and takes ``str(doc)``
#: without its first line, which is all :class:`KeptDoc` stands in for. A
#: decorator whose code names anything else is not given the stand-in.
KNOWN_DECORATOR = (
    frozenset({"_make_capabilities_note", "__name__", "FunctionDoc", "append", "str", "split",
               "lstrip", "__doc__", "AttributeError"}),
    frozenset({"Notes", "\n", 1, " \n"}),
)  # fmt: skip
#: The module that holds the decorator and the parser it calls.
TARGET = "scipy._lib._array_api"


class KeptDoc:
    """Stands in for numpydoc's ``FunctionDoc`` in the decorator: no parsing.

    A section asked for is a new empty list (what is appended to it is
    dropped); ``str`` gives an empty first line (the decorator removes the
    first line: numpydoc's signature) and then the function's docstring
    unchanged.
    """

    def __init__(self, function: Any, *args: Any, **kwargs: Any) -> None:
        self._doc = getattr(function, "__doc__", None) or ""

    def __getitem__(self, section: str) -> list[str]:
        return []

    def __str__(self) -> str:
        return "\n" + self._doc


def decorator_code(module: ModuleType) -> tuple[frozenset[Any], frozenset[Any]] | None:
    """The names and constants (None left out) of ``module.xp_capabilities``' inner
    ``decorator`` function, as :data:`KNOWN_DECORATOR` holds them; None when the
    module has no such decorator."""
    outer = getattr(getattr(module, "xp_capabilities", None), "__code__", None)
    inner = [
        code
        for code in getattr(outer, "co_consts", ())
        if isinstance(code, CodeType) and code.co_name == "decorator"
    ]
    if len(inner) != 1:
        return None
    code = inner[0]
    return frozenset(code.co_names), frozenset(c for c in code.co_consts if c is not None)


def swap_parser(module: ModuleType) -> bool:
    """Give ``module`` (SciPy's ``_array_api``) the :class:`KeptDoc` parser when its
    decorator's code is :data:`KNOWN_DECORATOR` and it has the parser. Returns
    whether it did."""
    if getattr(module, "FunctionDoc", None) is None or decorator_code(module) != KNOWN_DECORATOR:
        return False
    module.FunctionDoc = KeptDoc  # type: ignore[attr-defined]
    return True


class _SwapOnImport:
    """An import finder (the one method of ``importlib.abc.MetaPathFinder``, whose
    module takes 5 ms to import) that finds nothing itself: when :data:`TARGET`
    is imported, it has the path finder find it and swaps the parser once the
    module has run, before any other SciPy module uses the decorator.

    It stays in ``sys.meta_path`` after that one use, doing nothing: removing
    itself while the import system loops over that list would make it skip the
    next finder. It sits just before the path finder, so finders placed earlier
    (an editable install's, a frozen application's) still come first.
    """

    def __init__(self) -> None:
        self.used = False

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if self.used or fullname != TARGET:
            return None
        self.used = True
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = getattr(spec, "loader", None)
        run = getattr(loader, "exec_module", None)
        if spec is None or run is None:
            return None  # for the finders after this one, as if it were not here

        def exec_module(module: ModuleType) -> None:
            run(module)
            try:
                swap_parser(module)
            except Exception:  # noqa: BLE001 - a speed-up must never fail an import
                pass

        loader.exec_module = exec_module  # type: ignore[union-attr]
        return spec


def install() -> None:
    """Skip SciPy's docstring parsing in this process from now on (see the module's
    docstring). Imports nothing: when SciPy is never imported, this costs nothing.
    Calling it again does nothing more."""
    loaded = sys.modules.get(TARGET)
    if loaded is not None:
        swap_parser(loaded)
        return
    if any(isinstance(finder, _SwapOnImport) for finder in sys.meta_path):
        return
    finders = sys.meta_path
    path_finder = importlib.machinery.PathFinder
    place = finders.index(path_finder) if path_finder in finders else len(finders)
    finders.insert(place, _SwapOnImport())
