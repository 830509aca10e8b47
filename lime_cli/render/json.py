"""Explanations as JSON (one object) and JSON Lines (one object per input)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from lime_cli.explanation import Explanation

#: Characters that JSON leaves raw inside strings but that line-splitting tools
#: (Python's str.splitlines, some editors) treat as line ends; escaped so that
#: one JSON Lines record stays one line for every reader.
_LINE_BREAKERS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def dumps(document: Any, *, indent: int | None = None) -> str:
    """JSON text (UTF-8 characters kept, NaN refused, line-breaking characters escaped)."""
    text = json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False)
    for raw, escaped in _LINE_BREAKERS.items():
        text = text.replace(raw, escaped)
    return text


def to_json(explanation: Explanation, *, indent: int | None = None) -> str:
    """One explanation as a JSON document (compact by default)."""
    return dumps(explanation.to_dict(), indent=indent)


def to_json_file_text(explanations: Iterable[Explanation], *, lines: bool) -> str:
    """The contents of a ``.json``/``.jsonl`` file.

    A single explanation in a ``.json`` file is an indented object; several
    explanations (or any ``.jsonl`` file) are JSON Lines.
    """
    items = list(explanations)
    if len(items) == 1 and not lines:
        return to_json(items[0], indent=2) + "\n"
    return "".join(to_json(e) + "\n" for e in items)


def write_json(path: str, explanations: list[Explanation]) -> None:
    """``--out FILE.json``: one indented object, or JSON Lines for several explanations."""
    from lime_cli.output import atomic_write_text

    atomic_write_text(path, to_json_file_text(explanations, lines=False))


def write_json_lines(path: str, explanations: list[Explanation]) -> None:
    """``--out FILE.jsonl``: one explanation per line."""
    from lime_cli.output import atomic_write_text

    atomic_write_text(path, to_json_file_text(explanations, lines=True))


def stream(explanation: Explanation, quiet: bool) -> None:
    """``--format json``: one line per explanation on stdout, even with ``--quiet``."""
    import click

    # color=True: no ANSI to strip from JSON (it escapes control characters), and
    # click would otherwise ask the terminal driver whether stdout is one for
    # every line (a system call: 0.2 s over 20,000 rows).
    click.echo(to_json(explanation), color=True)


def report_text(report: dict[str, Any]) -> str:
    """A whole-run report (pick, compare) as one JSON line."""
    return dumps(report)


def write_report(path: str, report: dict[str, Any]) -> None:
    """``pick``/``compare --out FILE.json``: the report as one JSON document."""
    from lime_cli.output import atomic_write_text

    atomic_write_text(path, report_text(report) + "\n")
