"""Where explanations go: one format on stdout, files by extension, checks' JUnit."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lime_cli.errors import UsageError
from lime_cli.explanation import Explanation
from lime_cli.render.registry import FORMATS, OutputFormat, resolve_out

#: Option names the output plan consumes.
OUTPUT_KEYS = ("fmt", "outs", "junit_path", "annotations")


@dataclass(frozen=True)
class OutputPlan:
    """The outputs of one run: validated before any work, written after it.

    ``files`` pairs each ``--out`` path (and a modality's own outputs, such
    as an image's ``--heatmap``) with the writer that makes it.
    """

    stream: OutputFormat
    files: tuple[tuple[str, OutputFormat, str], ...] = ()
    quiet: bool = False
    junit: str | None = None
    #: Explanations are printed as they finish; pick and compare print a report instead.
    show: bool = True
    #: ``--annotations``: failed checks also as CI annotations of this style on stderr.
    annotations: str | None = None

    @classmethod
    def build(
        cls,
        options: dict[str, Any],
        formats: Sequence[OutputFormat] = (),
        *,
        role: str = "writer",
    ) -> OutputPlan:
        """From the output options (taken out of ``options``); exit 2/3 before any work.

        ``formats`` are the modality's own formats, which win over the shared
        ones for the same extension; ``role`` is ``"report_writer"`` for
        commands that write a report (pick, compare).
        """
        o = {key: options.pop(key, None) for key in OUTPUT_KEYS}
        name = o["fmt"] or "table"
        merged = {**FORMATS, **{f.name: f for f in formats}}
        if name not in merged or merged[name].stream is None:
            raise UsageError(f"--format {name}: not a format for stdout")
        junit = o["junit_path"]
        if junit and not junit.lower().endswith(".xml"):
            raise UsageError(f"--junit {junit}: the file name must end in .xml")
        files = tuple((*resolve_out(value, formats, role=role), role) for value in o["outs"] or ())
        plan = cls(merged[name], files, bool(options.get("quiet")), junit,
                   annotations=o["annotations"])  # fmt: skip
        plan.check_locations()
        return plan

    def check_locations(self) -> None:
        """Exit 3 now, not after hours of work, if an output cannot be written
        (missing or read-only folder, a file where a folder should be)."""
        from lime_cli.output import check_writable

        seen: dict[str, str] = {}
        for path in self.paths():
            check_writable(path)
            # Two names of one file (a.jsonl and ./a.jsonl, or a link to it): the run
            # would write it twice over (a JSON Lines output's lock refused itself).
            real = os.path.realpath(path)
            if real in seen:
                raise UsageError(f"{seen[real]} and {path} are the same file: give it once")
            seen[real] = path

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.files] + ([self.junit] if self.junit else [])

    def adding(self, path: str, fmt: OutputFormat, role: str = "writer") -> OutputPlan:
        """The plan with one more output file (a modality's own option, say)."""
        from dataclasses import replace

        plan = replace(self, files=(*self.files, (path, fmt, role)))
        plan.check_locations()
        return plan

    def emit(self, explanation: Explanation) -> None:
        """Show one finished explanation on stdout at once."""
        if self.show:
            self.stream.load("stream")(explanation, self.quiet)

    @property
    def prints(self) -> bool:
        """Whether :meth:`emit` prints anything: explanations shown, in a format
        ``--quiet`` does not silence."""
        return self.show and not (self.quiet and self.stream.for_people)

    def streamed(self) -> list[str]:
        """The JSON Lines files: written a line at a time as explanations arrive (so a
        stopped run keeps what it did and ``--resume`` goes on from there)."""
        return [path for path, fmt, role in self.files if role == "writer" and fmt.name == "jsonl"]

    def written_at_end(self) -> list[str]:
        """The files written whole once every input is done (``.json``, pictures...)."""
        streamed = set(self.streamed())
        return [p for p, _, role in self.files if role == "writer" and p not in streamed]

    def write_files(self, explanations: list[Explanation]) -> None:
        """Every file but the streamed ones, whole, from the explanations that succeeded."""
        streamed = set(self.streamed())
        for path, fmt, role in self.files:
            if role == "writer" and path not in streamed:
                fmt.load("writer")(path, explanations)

    def write_report(self, report: dict[str, Any], renderable: Any) -> None:
        """A whole-run report (pick, compare): to its files and to stdout."""
        for path, fmt, role in self.files:
            if role == "report_writer":
                fmt.load("report_writer")(path, report)
        if self.stream.name == "json":
            import click

            from lime_cli.render.json import report_text

            click.echo(report_text(report))
        elif not self.quiet:
            from lime_cli.render.terminal import stdout_console

            stdout_console().print(renderable())


@dataclass
class RunResult:
    """What a run produced: the explanations that succeeded, the inputs that failed."""

    explanations: list[Explanation] = field(default_factory=list)
    failures: list[tuple[str, Any]] = field(default_factory=list)
    code: int = 0
