"""Failed checks as CI annotations (``--annotations github``).

GitHub Actions reads "workflow commands" from a step's output, stdout and
stderr alike; an ``::error file=F,title=T::message`` line marks the run as
having an error and, when F is a file of the repository, shows the message on
that file in the pull request. The lines go to stderr, so stdout keeps only
what ``--format`` asked for (JSON Lines stay parseable).

Where the input is: a document's file (``path``), a line of a ``--lines`` file
(``path:N`` -> ``line=N``), a CSV row (``path row N`` -> ``line=N+2``: the
header is line 1 and rows count from 0; a row whose cells span several lines
moves later rows down, so the line is then approximate).
"""

from __future__ import annotations

import re
from typing import Any

#: Annotation styles ``--annotations`` accepts.
STYLES = ("github",)

_ROW = re.compile(r"^(?P<file>.+) row (?P<row>\d+)$")
_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+)$")
_MODEL = re.compile(r" \[model [AB]: .*\]$")


def github_lines(outcomes: list[Any], errors: list[tuple[str, str]]) -> list[str]:
    """One ``::error`` line per failed check (a CheckOutcome) and per input that
    could not be explained (``errors``: (input, message))."""
    out = []
    for outcome in outcomes:
        if outcome.passed:
            continue
        rule = outcome.rule if outcome.feature is None else f"{outcome.rule} {outcome.feature}"
        out.append(
            _command(
                outcome.input,
                f"lime-explain check failed: {rule}",
                f"{outcome.input}: label {outcome.label!r}: {outcome.message}",
            )
        )
    for name, message in errors:
        out.append(_command(name, "lime-explain could not explain this input", message))
    return out


def emit(style: str, outcomes: list[Any], errors: list[tuple[str, str]]) -> None:
    """Print the annotations of ``style`` on stderr."""
    import click

    if style != "github":  # pragma: no cover - the option's choices stop it earlier
        raise ValueError(f"unknown annotation style {style!r}")
    for line in github_lines(outcomes, errors):
        click.echo(line, err=True)


def _command(input_name: str, title: str, message: str) -> str:
    properties = _location(input_name)
    properties["title"] = title
    props = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties.items())
    return f"::error {props}::{_escape_data(message)}"


def _location(name: str) -> dict[str, Any]:
    name = _MODEL.sub("", name)  # compare names the model after the input
    if name in ("stdin", "-"):
        return {}
    row = _ROW.match(name)
    if row:
        return {"file": row["file"], "line": int(row["row"]) + 2}
    line = _LINE.match(name)
    if line:
        return {"file": line["file"], "line": int(line["line"])}
    return {"file": name}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
