"""Output formats: the one place that says what lime-explain can write, and where.

A format has a name (for ``--format`` on stdout) and file extensions (for
``--out PATH``); it names its functions as ``"module:function"`` strings so
nothing is imported until a format is used (``--help`` stays fast). The
options' choices, their help text and the validation of ``--out`` are all
derived from here, so a new output is one new module plus one
:func:`register` call (or one entry in a modality's ``formats``).

Function contracts (``Explanation`` is :class:`lime_cli.explanation.Explanation`):

- ``writer(path: str, explanations: list[Explanation]) -> None`` writes one
  file (or one file per explanation/label, named from ``path``) atomically.
- ``stream(explanation: Explanation, quiet: bool) -> None`` prints one finished
  explanation on stdout as soon as it is done (``quiet`` asks for no
  decoration; a machine format prints anyway).
- ``report_writer(path: str, report: dict) -> None`` writes a whole-run report
  (``pick``, ``compare``).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lime_cli.errors import UsageError


@dataclass(frozen=True)
class OutputFormat:
    """One output format; see the module docstring for the functions' contracts."""

    name: str
    summary: str
    extensions: tuple[str, ...] = ()
    writer: str | None = None
    stream: str | None = None
    report_writer: str | None = None
    #: Its stream is for people: ``--quiet`` prints nothing of it (a machine
    #: format prints anyway), so a quiet run's stdout needs no explanations.
    for_people: bool = False

    def load(self, role: str) -> Callable[..., Any]:
        """The function for ``role`` ("writer", "stream" or "report_writer"), imported now."""
        target = getattr(self, role)
        if target is None:
            raise UsageError(f"the {self.name} format has no {role.replace('_', ' ')}")
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)


#: Every format by name, in the order help texts list them.
FORMATS: dict[str, OutputFormat] = {}


def register(fmt: OutputFormat) -> OutputFormat:
    """Add (or replace) a format; returns it so modules can keep a reference."""
    FORMATS[fmt.name] = fmt
    return fmt


register(
    OutputFormat(
        "table",
        "rich tables on a terminal, plain text when piped",
        stream="lime_cli.render.terminal:stream",
        for_people=True,
    )
)
register(
    OutputFormat(
        "json",
        "the explanation (one indented object, or JSON Lines for several inputs)",
        extensions=(".json",),
        writer="lime_cli.render.json:write_json",
        stream="lime_cli.render.json:stream",
        report_writer="lime_cli.render.json:write_report",
    )
)
register(
    OutputFormat(
        "jsonl",
        "JSON Lines: one explanation per line",
        extensions=(".jsonl",),
        writer="lime_cli.render.json:write_json_lines",
    )
)

register(
    OutputFormat(
        "html",
        "one self-contained page: a section per input and label, the JSON embedded",
        extensions=(".html", ".htm"),
        writer="lime_cli.render.html:write_html",
        report_writer="lime_cli.render.html:write_report_html",
    )
)

register(
    OutputFormat(
        "markdown",
        "a compact table per explanation, for pull-request comments and CI job summaries",
        extensions=(".md",),
        writer="lime_cli.render.markdown:write_markdown",
        stream="lime_cli.render.markdown:stream",
        report_writer="lime_cli.render.markdown:write_report_markdown",
    )
)

register(
    OutputFormat(
        "chart",
        "a bar chart of the weights per input and label (an image's .png is its picture)",
        extensions=(".png", ".svg"),
        writer="lime_cli.render.charts:write_chart",
    )
)


def _all(extra: Iterable[OutputFormat]) -> list[OutputFormat]:
    merged = dict(FORMATS)
    for fmt in extra:
        merged[fmt.name] = fmt
    return list(merged.values())


def file_formats(
    extra: Iterable[OutputFormat] = (), *, role: str = "writer"
) -> dict[str, OutputFormat]:
    """Extension -> format for ``--out``; ``extra`` (a modality's own) win over shared ones."""
    shared = {e: f for f in FORMATS.values() if getattr(f, role) for e in f.extensions}
    own = {e: f for f in extra if getattr(f, role) for e in f.extensions}
    return {**shared, **own}


def stream_formats(extra: Iterable[OutputFormat] = ()) -> list[str]:
    """Names usable with ``--format`` (printed on stdout)."""
    return [f.name for f in _all(extra) if f.stream]


def extensions_text(extra: Iterable[OutputFormat] = (), *, role: str = "writer") -> str:
    """``".json, .jsonl, .png"``: for help texts."""
    return ", ".join(file_formats(extra, role=role))


def resolve_out(
    value: str, extra: Iterable[OutputFormat] = (), *, role: str = "writer"
) -> tuple[str, OutputFormat]:
    """``--out VALUE`` as (path, format): ``NAME:PATH`` names the format (any format
    with that role, e.g. ``heatmap:h.png``), else the extension picks it."""
    name, sep, rest = value.partition(":")
    if sep and rest and len(name) > 1:  # "C:\..." is a path, not a format name
        named = {f.name: f for f in _all(extra) if getattr(f, role)}
        if name in named:
            return rest, named[name]
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
            # A format name this command does not write (heatmap: for text), not a
            # file called "heatmap:x.png": say so rather than write something else.
            raise UsageError(
                f"--out {value}: no format named {name!r} here; use one of "
                f"{', '.join(sorted(named))} (or ./{value} for a file of that name)"
            )
    return value, format_for_path(value, extra, role=role)


def format_for_path(
    path: str, extra: Iterable[OutputFormat] = (), *, role: str = "writer"
) -> OutputFormat:
    """The format ``--out path`` writes, by extension (case-insensitive); exit 2 if none."""
    formats = file_formats(extra, role=role)
    ext = os.path.splitext(path)[1].lower()
    if ext not in formats:
        known = ", ".join(sorted(formats))
        raise UsageError(f"--out {path}: unknown extension {ext or '(none)'!r}; use {known}")
    return formats[ext]
