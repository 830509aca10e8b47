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
    "hooks": [type(f).__name__ for f in sys.meta_path],
}}))
"""


def probe(prelude: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(prelude=prelude)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(done.stdout)


def test_install_skips_parsing_and_keeps_the_functions() -> None:
    plain = probe("")
    lean = probe("from lime_cli import lean_imports; lean_imports.install()")
    if scipy.__version__.startswith(lean_imports.CHECKED_SCIPY):
        assert lean["parser"] == "lime_cli.lean_imports.KeptDoc"
        assert plain["note"] and not lean["note"]
    else:  # a version nobody checked: left exactly as SciPy makes it
        assert lean["parser"] == plain["parser"]
        assert lean["note"] == plain["note"]
    assert plain["parser"] != "lime_cli.lean_imports.KeptDoc"
    assert lean["registered"] == plain["registered"] > 0
    assert lean["summary"] == plain["summary"]
    assert lean["statistic"] == plain["statistic"]
    # the hook removes itself once used
    assert "_SwapOnImport" not in lean["hooks"]


def test_install_after_scipy_is_imported_swaps_at_once() -> None:
    late = probe(
        "import scipy._lib._array_api\nfrom lime_cli import lean_imports; lean_imports.install()"
    )
    expected = scipy.__version__.startswith(lean_imports.CHECKED_SCIPY)
    assert (late["parser"] == "lime_cli.lean_imports.KeptDoc") == expected


def test_importing_the_package_changes_nothing() -> None:
    """Only the command installs it: a program importing lime_cli keeps SciPy's docstrings."""
    imported = probe("import lime_cli.cli, lime_cli.engine")
    assert imported["parser"] != "lime_cli.lean_imports.KeptDoc"
    assert "_SwapOnImport" not in imported["hooks"]


def test_unchecked_versions_and_other_decorators_are_left_alone() -> None:
    def module() -> types.ModuleType:
        made = types.ModuleType("fake_array_api")
        made.FunctionDoc = object  # type: ignore[attr-defined]
        made.xp_capabilities = lambda **kw: None  # type: ignore[attr-defined]
        return made

    newer = module()
    assert not lean_imports.swap_parser(newer, "1.18.0")
    assert newer.FunctionDoc is object
    without = module()
    del without.xp_capabilities
    assert not lean_imports.swap_parser(without, lean_imports.CHECKED_SCIPY[0] + "1")
    assert without.FunctionDoc is object
    checked = module()
    assert lean_imports.swap_parser(checked, lean_imports.CHECKED_SCIPY[0] + "1")
    assert checked.FunctionDoc is lean_imports.KeptDoc


def test_kept_doc_gives_the_docstring_back_as_the_decorator_reads_it() -> None:
    def function() -> None:
        """First line.

        More.
        """

    doc = lean_imports.KeptDoc(function)
    doc["Notes"].append("a note")
    assert str(doc).split("\n", 1)[1].lstrip(" \n") == function.__doc__
    assert str(lean_imports.KeptDoc(lambda: None)).split("\n", 1)[1] == ""


def test_the_command_starts_with_it(tmp_path: Path) -> None:
    """The console entry point installs the hook before any command's imports."""
    script = (
        "import sys\n"
        "from lime_cli import cli\n"
        "def command(*args, **kwargs):\n"
        "    import scipy._lib._array_api as api\n"
        "    print(api.FunctionDoc.__name__)\n"
        "cli.cli = command\n"
        "cli.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    expected = scipy.__version__.startswith(lean_imports.CHECKED_SCIPY)
    assert (done.stdout.strip() == "KeptDoc") == expected
