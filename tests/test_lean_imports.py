"""SciPy's import-time docstring parsing skipped by the command, nothing else changed.

Each check runs in a fresh interpreter: which modules are imported, and how,
is the point.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import scipy

from lime_cli import lean_imports

ROOT = Path(__file__).resolve().parents[1]

#: Prints, as JSON, what importing scipy.stats left: the decorator's parser, how
#: many functions its registry holds, whether one decorated function's docstring
#: has the backends note, and what that function computes.
PROBE = """
import json, sys
{prelude}
import numpy as np
import scipy.stats
import scipy._lib._array_api as api
doc = scipy.stats.ttest_ind.__doc__
print(json.dumps({{
    "parser": api.FunctionDoc.__module__ + "." + api.FunctionDoc.__name__,
    "registered": len(api.xp_capabilities_table),
    "note": "Array API Standard Support" in doc,
    "summary": doc.strip().splitlines()[0],
    "statistic": float(scipy.stats.ttest_ind(np.arange(10.0), np.arange(10.0) + 3).statistic),
    "hooks": [getattr(f, "__name__", type(f).__name__) for f in sys.meta_path],
}}))
"""


def python(script: str) -> str:
    """What ``script`` prints, run by a fresh interpreter from the checkout."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return done.stdout


def probe(prelude: str) -> dict:
    return json.loads(python(PROBE.format(prelude=prelude)))


def installed_decorator_is_known() -> bool:
    import scipy._lib._array_api as api

    return lean_imports.decorator_code(api) == lean_imports.KNOWN_DECORATOR


INSTALL = "from lime_cli import lean_imports; lean_imports.install()"


def test_install_skips_parsing_and_keeps_the_functions() -> None:
    plain = probe("")
    lean = probe(INSTALL)
    assert plain["parser"] != "lime_cli.lean_imports.KeptDoc"
    if installed_decorator_is_known():
        assert lean["parser"] == "lime_cli.lean_imports.KeptDoc"
        assert plain["note"] and not lean["note"]
    else:  # a SciPy whose decorator nobody read: left exactly as SciPy makes it
        assert lean["parser"] == plain["parser"]
        assert lean["note"] == plain["note"]
    assert lean["registered"] == plain["registered"] > 0
    assert lean["summary"] == plain["summary"]
    assert lean["statistic"] == plain["statistic"]


def test_the_installed_scipy_is_the_one_read() -> None:
    """If this fails, SciPy's decorator changed: read it, and update KNOWN_DECORATOR
    (or KeptDoc) to what it now does; until then the command starts slower."""
    assert installed_decorator_is_known(), scipy.__version__


def test_an_unknown_decorator_is_left_alone_on_import() -> None:
    changed = probe(
        "from lime_cli import lean_imports\n"
        "lean_imports.KNOWN_DECORATOR = (frozenset(), frozenset())\n"
        "lean_imports.install()"
    )
    assert changed["parser"] != "lime_cli.lean_imports.KeptDoc"
    assert changed["note"] == probe("")["note"]


def test_install_after_scipy_is_imported_swaps_at_once() -> None:
    late = probe("import scipy._lib._array_api\n" + INSTALL)
    assert (late["parser"] == "lime_cli.lean_imports.KeptDoc") == installed_decorator_is_known()


def test_install_twice_adds_one_finder_before_the_path_finder() -> None:
    placed = probe(INSTALL + "\nlean_imports.install()")
    hooks = placed["hooks"]
    assert hooks.count("_SwapOnImport") == 1
    assert hooks.index("_SwapOnImport") == hooks.index("PathFinder") - 1


def test_finders_after_it_still_find_what_the_path_finder_does_not() -> None:
    """The finder does nothing for modules it does not swap, nor once used: an
    import served by a finder after it still works (it once removed itself from
    the list being looped over, and the import skipped the next finder)."""
    script = (
        "import importlib.abc, importlib.util, sys\n"
        "from lime_cli import lean_imports\n"
        "class Serves(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'served':\n"
        "            return importlib.util.spec_from_loader(name, self)\n"
        "    def exec_module(self, module):\n"
        "        module.ok = True\n"
        "lean_imports.TARGET = 'served'\n"  # what the path finder cannot find
        "lean_imports.install()\n"
        "place = [type(f).__name__ for f in sys.meta_path].index('_SwapOnImport')\n"
        "sys.meta_path.insert(place + 1, Serves())\n"
        "import served\n"
        "print(served.ok)\n"
    )
    assert python(script).strip() == "True"


def test_importing_the_package_changes_nothing() -> None:
    """Only the command installs it: a program importing lime_cli keeps SciPy's docstrings."""
    imported = probe("import lime_cli.cli, lime_cli.engine")
    assert imported["parser"] != "lime_cli.lean_imports.KeptDoc"
    assert "_SwapOnImport" not in imported["hooks"]


def test_other_decorators_and_modules_without_one_are_left_alone() -> None:
    def module(decorator: object) -> types.ModuleType:
        made = types.ModuleType("fake_array_api")
        made.FunctionDoc = object  # type: ignore[attr-defined]
        made.xp_capabilities = decorator  # type: ignore[attr-defined]
        return made

    def other(**kwargs: object) -> object:
        def decorator(f: object) -> object:
            print(kwargs, f)
            return f

        return decorator

    for unknown in (module(other), module(None)):
        assert not lean_imports.swap_parser(unknown)
        assert unknown.FunctionDoc is object
    import scipy._lib._array_api as api

    same = module(api.xp_capabilities)
    assert lean_imports.swap_parser(same) == installed_decorator_is_known()


def test_kept_doc_gives_the_docstring_back_as_the_decorator_reads_it() -> None:
    def function() -> None:
        """First line.

        More.
        """

    doc = lean_imports.KeptDoc(function)
    doc["Notes"].append("a note")
    assert str(doc).split("\n", 1)[1].lstrip(" \n") == function.__doc__
    assert str(lean_imports.KeptDoc(lambda: None)).split("\n", 1)[1] == ""


def test_the_command_and_local_workers_start_with_it() -> None:
    """The console entry point installs it before any command's imports, so the
    docstrings SciPy decorates during the command lack the note; a local worker
    installs it before it imports the engine."""
    script = (
        "import sys\n"
        "from lime_cli import cli\n"
        "def command(*args, **kwargs):\n"
        "    import scipy.stats, scipy._lib._array_api as api\n"
        "    note = 'Array API Standard Support' in scipy.stats.ttest_ind.__doc__\n"
        "    print(api.FunctionDoc.__name__, note)\n"
        "cli.cli = command\n"
        "cli.main()\n"
    )
    assert python(script).split() == (
        ["KeptDoc", "False"] if installed_decorator_is_known() else ["FunctionDoc", "True"]
    )
    worker = (
        "import sys\n"
        "from lime_cli.run import executor\n"
        "class Broken:\n"
        "    def load(self):\n"
        "        raise OSError('no model')\n"
        "print(executor._warm(Broken()))\n"
        "print([type(f).__name__ for f in sys.meta_path].count('_SwapOnImport'))\n"
    )
    assert python(worker).split() == ["False", "1"]


def test_a_failing_swap_does_not_fail_the_import() -> None:
    broken = probe(
        "from lime_cli import lean_imports\n"
        "def swap(module):\n"
        "    raise RuntimeError('a bug in the speed-up')\n"
        "lean_imports.swap_parser = swap\n"
        "lean_imports.install()"
    )
    assert broken["parser"] != "lime_cli.lean_imports.KeptDoc"
    assert broken["registered"] == probe("")["registered"]
