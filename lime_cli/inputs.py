"""Reading input files (or stdin) with clear errors for the ways they go wrong."""

from __future__ import annotations

import os
import sys

from lime_cli.errors import InputError

STDIN = "-"


def read_bytes(source: str, *, max_bytes: int | None = None) -> bytes:
    """The bytes of a file, or of stdin for ``-``."""
    if source == STDIN:
        data = sys.stdin.buffer.read()
    else:
        if not os.path.exists(source):
            raise InputError(f"{source}: no such file")
        if os.path.isdir(source):
            raise InputError(f"{source}: is a directory, not a file")
        try:
            size = os.path.getsize(source)
            if max_bytes is not None and size > max_bytes:
                raise InputError(f"{source}: {size} bytes is larger than the limit of {max_bytes}")
            with open(source, "rb") as fh:
                data = fh.read()
        except PermissionError:
            raise InputError(f"{source}: permission denied") from None
        except OSError as exc:
            raise InputError(f"{source}: cannot read ({exc.strerror or exc})") from None
    return data


def read_text(source: str, *, max_bytes: int | None = None) -> str:
    """UTF-8 text of a file or stdin; empty, binary and undecodable input is refused."""
    data = read_bytes(source, max_bytes=max_bytes)
    name = "stdin" if source == STDIN else source
    if not data.strip():
        raise InputError(f"{name}: the input is empty")
    if b"\x00" in data:
        raise InputError(f"{name}: contains NUL bytes; this looks like a binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return text.removeprefix("\ufeff")
