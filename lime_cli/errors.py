"""User-facing errors, each carrying the exit code the README documents.

Commands raise these; the CLI turns them into one line on stderr and the exit
code, so the math and the loaders never print or exit themselves.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_MODEL = 4
EXIT_INTERNAL = 5


class LimeCliError(Exception):
    """Base class: a message for the user and an exit code."""

    exit_code = EXIT_INTERNAL
    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(LimeCliError):
    """The command line asks for something impossible (exit 2)."""

    exit_code = EXIT_USAGE
    kind = "usage error"


class InputError(LimeCliError):
    """An input is missing, unreadable, empty or malformed (exit 3)."""

    exit_code = EXIT_INPUT
    kind = "input error"


class UnreadInputError(InputError):
    """A source failed part way through (exit 3): the inputs after the failure were
    never read, so a run is not finished by it: a JSON Lines output keeps its ledger,
    and ``--resume`` explains the rest once the source is fixed."""


class OutputError(InputError):
    """An output file cannot be written: no such folder, read-only, disk full (exit 3)."""

    kind = "output error"


class ModelError(LimeCliError):
    """The model cannot be loaded or misbehaves when asked (exit 4)."""

    exit_code = EXIT_MODEL
    kind = "model error"


class InternalError(LimeCliError):
    """Something went wrong that is not the user's input or model (exit 5)."""

    exit_code = EXIT_INTERNAL
    kind = "internal error"


def worst_exit_code(codes: list[int]) -> int:
    """Combine per-input exit codes: errors (3, 4, 5) win over a failed check (1)."""
    return max(codes, default=EXIT_OK)
