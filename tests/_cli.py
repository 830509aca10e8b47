"""Running the CLI in tests and checking a one-line failure (shared by the format tests)."""

from __future__ import annotations

from click.testing import CliRunner

from lime_cli.cli import cli


def run(*args: object):
    """The CLI in-process, every argument as a string."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_error_line(result, code: int, max_length: int | None = None) -> str:
    """The single stderr line of a failure with exit ``code`` (no traceback)."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lime-explain: "), result.stderr
    if max_length is not None:
        assert len(lines[0]) < max_length
    return lines[0]
