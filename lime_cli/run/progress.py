"""A progress bar on stderr, only when a person is watching."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

#: Progress callback: (units done so far, total units or None when not known yet).
Progress = Callable[[int, int | None], None]

#: Moves to the start of the line and erases it: the bar is one line, and the
#: cursor waits at its end between redraws.
_ERASE_LINE = "\r\x1b[2K"


class TerminalBar:
    """A live rich bar and a way to print under it.

    Call it with (done, total) to move the bar. Lines written to stdout or
    stderr while the bar is drawn must go through :meth:`printing`: the bar
    is redrawn ten times a second by rich's own thread, and a line written
    between two redraws would otherwise start right after the bar, on its
    line (rich's redirection of stdout does not see click's writes, and would
    send stdout's lines to stderr if it did; its redirection of stderr is kept,
    for a library's warnings).
    """

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress = progress
        self._task = task

    def __call__(self, done: int, total: int | None) -> None:
        self._progress.update(self._task, completed=done, total=total)

    @contextmanager
    def printing(self) -> Iterator[None]:
        """Erase the bar, let the caller write whole lines, flush them and draw the
        bar again below them (at once: waiting for the next redraw would leave
        the bar hidden most of the time when lines come many times a second)."""
        live = self._progress.live
        # The terminal itself, not rich's stand-in for sys.stderr (which holds text
        # back until a newline).
        stderr = getattr(sys.stderr, "rich_proxied_file", sys.stderr)
        with live._lock:  # what rich's refresh thread holds while it draws (reentrant)
            stderr.write(_ERASE_LINE)
            stderr.flush()
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                live.refresh()


@contextmanager
def progress_bar(description: str, enabled: bool) -> Iterator[TerminalBar | None]:
    """A rich progress bar on stderr, or ``None`` when stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        _count_column(),
        TaskProgressColumn(),
        _rate_column(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        # stdout's lines must stay on stdout (rich would print them on its stderr
        # console); stderr's (a library's warnings) go above the bar.
        redirect_stdout=False,
    ) as progress:
        yield TerminalBar(progress, progress.add_task(description, total=None))


def _count_column() -> Any:
    """``120/5000`` when the total is known, ``120 done`` when it is not (inputs read
    as the run goes: ``tabular --all``, ``text --lines``), where a bar alone shows
    nothing but motion."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class CountColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            done = int(task.completed)
            shown = f"{done} done" if task.total is None else f"{done}/{int(task.total)}"
            return Text(shown, style="progress.download")

    return CountColumn()


def _rate_column() -> Any:
    """Units a second over rich's recent window (``85.3/s``); blank until measured."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f}/s" if speed else "", style="progress.data.speed")

    return RateColumn()


def printing(bar: TerminalBar | None) -> AbstractContextManager[None]:
    """Where lines are written while ``bar`` may be drawn (nothing to do without one)."""
    return bar.printing() if bar is not None else nullcontext()
