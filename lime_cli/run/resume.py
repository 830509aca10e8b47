"""JSON Lines written as results arrive, and ``--resume`` to finish a run that stopped.

What a resumable output looks like: ``OUT.jsonl`` holds one explanation per
line, in input order, exactly as an uninterrupted run writes it (nothing is
added to the lines, so ``--format json`` and the file stay the same bytes).
Beside it, while the run is under way, ``OUT.jsonl.resume`` (the *ledger*)
holds a header line ``{"lime_explain_resume": 1, "settings": KEY, "seed": N}``
and then one line ``{"input": ID}`` per explanation written, in the same
order. ``KEY`` is a hash of everything that shapes an explanation (model
file, options, seed); ``ID`` is the input's name (``rows.csv row 17``,
``notes.txt:3``). The ledger is removed when the run ends; one left behind
means the run was stopped and can be resumed.

``--resume`` keeps the lines the ledger vouches for (a half-written last
line, or a line written just before the ledger's, is cut off), refuses a
ledger of other settings, takes the seed from it when ``--seed`` is not
given, and explains only the inputs not yet in the file. Since each input's
random stream depends on the seed and the input alone, the finished file is
byte for byte the file of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import IO, Any

from lime_cli.errors import OutputError, UsageError

#: The ledger's name: the output's path plus this.
LEDGER_SUFFIX = ".resume"
#: The ledger format's version (its header's ``lime_explain_resume``).
LEDGER_VERSION = 1


def ledger_path(path: str) -> str:
    return path + LEDGER_SUFFIX


def settings_key(modality: str, settings: Any, options: dict[str, Any]) -> str:
    """A hash of what shapes the explanations: modality, model (and its file's size and
    time), LIME settings with the seed, labels, checks, and the modality's options.

    ``jobs``, ``quiet``, ``debug`` and where the results go are left out: they
    do not change an explanation.
    """
    spec = settings.spec
    try:
        stat = os.stat(spec.path)
        model_file: tuple[Any, ...] = (stat.st_size, stat.st_mtime_ns)
    except OSError:  # a URL, say
        model_file = ()
    skipped = {"debug", "quiet", "resume", "scheduler", "jobs"}
    rest = sorted((k, repr(v)) for k, v in options.items() if k not in skipped)
    text = repr(
        (modality, spec, model_file, settings.params, settings.labels, settings.rules, rest)
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def saved_seed(path: str) -> int | None:
    """The seed recorded in ``path``'s ledger, if a stopped run left one."""
    header = _header(ledger_path(path))
    seed = header.get("seed") if header else None
    return seed if isinstance(seed, int) else None


@dataclass(frozen=True)
class Progress:
    """Where a run stands: the inputs already in the output (by name)."""

    done: frozenset[str]
    #: True when the output exists without a ledger: a run that finished.
    finished: bool = False


def continue_from(path: str, key: str) -> Progress:
    """Make ``path`` and its ledger agree and return the inputs they hold.

    Exit 2 if the ledger was written with other settings. Without an output
    the run starts afresh; an output without a ledger is a finished run.
    """
    ledger = ledger_path(path)
    if not os.path.exists(ledger):
        return Progress(frozenset(), finished=os.path.exists(path))
    header = _header(ledger)
    if header is None or header.get("lime_explain_resume") != LEDGER_VERSION:
        raise UsageError(f"{ledger} is not a lime-explain ledger; remove it to start over")
    if header.get("settings") != key:
        raise UsageError(
            f"{path} was written with other settings (model, options, inputs or seed); "
            "give the same ones, or remove it and its .resume file to start over"
        )
    names, ledger_ends = _records(ledger)
    line_ends = _line_ends(path) if os.path.exists(path) else []
    kept = min(len(names) - 1, len(line_ends))  # the ledger's first line is its header
    try:
        if os.path.exists(path):
            with open(path, "ab") as out:
                out.truncate(line_ends[kept - 1] if kept else 0)
        with open(ledger, "ab") as book:
            book.truncate(ledger_ends[kept])
    except OSError as exc:
        raise OutputError(f"{path}: cannot resume: {exc.strerror or exc}") from None
    done = frozenset(json.loads(line)["input"] for line in names[1 : kept + 1])
    return Progress(done)


def _header(ledger: str) -> dict[str, Any] | None:
    try:
        with open(ledger, encoding="utf-8") as book:
            first = book.readline()
        header = json.loads(first)
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) else None


def _records(ledger: str) -> tuple[list[str], list[int]]:
    """The ledger's complete lines and the byte offset after each."""
    lines: list[str] = []
    ends: list[int] = []
    offset = 0
    with open(ledger, "rb") as book:
        for raw in book:
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
            except ValueError:
                break
            if lines and not (isinstance(record, dict) and isinstance(record.get("input"), str)):
                break
            offset += len(raw)
            lines.append(raw.decode("utf-8"))
            ends.append(offset)
    return lines, ends


def _line_ends(path: str) -> list[int]:
    """Byte offsets after each complete line of ``path`` (a last line without its
    newline is half-written)."""
    ends: list[int] = []
    offset = 0
    with open(path, "rb") as out:
        for raw in out:
            if not raw.endswith(b"\n"):
                break
            offset += len(raw)
            ends.append(offset)
    return ends


class LineWriter:
    """Writes one explanation per line to ``path`` as each arrives, with its ledger.

    The files are opened at the first explanation (a run that explains
    nothing leaves no file); ``append`` continues a resumed file. Each line
    is flushed before its ledger record, so the ledger never vouches for a
    line that is not there. ``key`` None: no ledger (not resumable).
    """

    def __init__(self, path: str, key: str | None, seed: int | None, append: bool) -> None:
        self.path = path
        self.key = key
        self.seed = seed
        self.append = append
        self._out: IO[str] | None = None
        self._ledger: IO[str] | None = None

    def write(self, line: str, name: str) -> None:
        if self._out is None:
            self._open()
        assert self._out is not None
        self._out.write(line + "\n")
        self._out.flush()
        if self._ledger is not None:
            self._ledger.write(json.dumps({"input": name}, ensure_ascii=False) + "\n")
            self._ledger.flush()

    def _open(self) -> None:
        mode = "a" if self.append else "w"
        try:
            self._out = open(self.path, mode, encoding="utf-8", newline="\n")
            if self.key is not None:
                self._ledger = open(ledger_path(self.path), mode, encoding="utf-8", newline="\n")
                if not self.append:
                    header = {
                        "lime_explain_resume": LEDGER_VERSION,
                        "settings": self.key,
                        "seed": self.seed,
                    }
                    self._ledger.write(json.dumps(header) + "\n")
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write: {exc.strerror or exc}") from None

    def close(self, finished: bool) -> None:
        """Close the files; a finished run's ledger is removed (nothing to resume)."""
        for handle in (self._out, self._ledger):
            if handle is not None:
                handle.close()
        if finished and self._ledger is not None:
            os.unlink(ledger_path(self.path))
        elif finished and self.key is not None and self.append:
            # resumed with nothing left to write: the ledger is done with too
            try:
                os.unlink(ledger_path(self.path))
            except FileNotFoundError:
                pass
