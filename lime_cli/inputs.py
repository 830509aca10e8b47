"""Reading input files (or stdin) with clear errors for the ways they go wrong."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import BinaryIO

from lime_cli.errors import InputError

#: Pillow's decompression-bomb threshold (width x height), the default image limit.
#: Defined here, not in image/reading.py, so ``image --help`` need not import NumPy.
DEFAULT_MAX_PIXELS = 89_478_485

STDIN = "-"


def display_name(path: str) -> str:
    """The path as text any output can carry: bytes that are not UTF-8 become U+FFFD.

    Python hands file names with such bytes over as lone surrogates, which a
    UTF-8 terminal, JSON file or XML report cannot encode.
    """
    try:
        raw = path.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        raw = path.encode("utf-8", errors="replace")
    return raw.decode("utf-8", errors="replace")


def read_bytes(source: str, *, max_bytes: int | None = None, limit_name: str = "") -> bytes:
    """The bytes of a file, or of stdin for ``-``.

    Regular files and pipes are read; devices (``/dev/zero`` never ends) and
    sockets are refused. With ``max_bytes``, at most that many bytes are
    read: a larger input is refused before it fills the memory.
    ``limit_name`` names the option that sets the limit, for the message.
    """
    name = "stdin" if source == STDIN else display_name(source)
    with open_input(source, max_bytes=max_bytes, limit_name=limit_name) as fh:
        try:
            return _read_limited(fh, name, max_bytes, limit_name)
        except OSError as exc:
            raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None


@contextmanager
def open_input(
    source: str, *, max_bytes: int | None = None, limit_name: str = ""
) -> Iterator[BinaryIO]:
    """A file (or stdin for ``-``) open for reading bytes, after the checks of
    :func:`read_bytes`: it exists, is not a directory, a device or a socket, and
    (a regular file with ``max_bytes``) is not larger than that. Reading it in
    pieces is up to the caller (``text --lines`` streams a file of any size)."""
    if source == STDIN:
        yield sys.stdin.buffer
        return
    name = display_name(source)
    if not os.path.exists(source):
        raise InputError(f"{name}: no such file")
    if os.path.isdir(source):
        raise InputError(f"{name}: is a directory, not a file")
    try:
        mode = os.stat(source).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise InputError(f"{name}: not a regular file (a device or a socket)")
        if stat.S_ISREG(mode) and max_bytes is not None:
            size = os.path.getsize(source)
            if size > max_bytes:
                raise _too_large(name, size, max_bytes, limit_name)
        handle = open(source, "rb")
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    with handle:
        yield handle


def _read_limited(fh: BinaryIO, name: str, max_bytes: int | None, limit_name: str) -> bytes:
    if max_bytes is None:
        return fh.read()
    data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(name, None, max_bytes, limit_name)
    return data


def _too_large(name: str, size: int | None, max_bytes: int, limit_name: str) -> InputError:
    what = f"{size} bytes is" if size is not None else "the input is"
    by = f" set by {limit_name}" if limit_name else ""
    return InputError(f"{name}: {what} larger than the limit of {max_bytes} bytes{by}")


def read_text(
    source: str,
    *,
    max_bytes: int | None = None,
    limit_name: str = "",
    encoding: str = "utf-8",
    errors: str = "strict",
    hint: str = "",
) -> str:
    """Text of a file or stdin; empty, binary and undecodable input is refused.

    ``errors="replace"`` turns undecodable bytes into U+FFFD instead;
    ``hint`` is added to the message for undecodable input (the remedy).
    """
    data = read_bytes(source, max_bytes=max_bytes, limit_name=limit_name)
    name = "stdin" if source == STDIN else display_name(source)
    return decode_text(data, name, encoding=encoding, errors=errors, hint=hint)


def decode_utf8(data: bytes, name: str, *, what: str = "input", kind: str = "text") -> str:
    """Bytes as UTF-8 text (a BOM dropped); empty, binary and undecodable data is refused.

    ``what`` and ``kind`` name the input in the messages ("the CSV file is
    empty", "not CSV").
    """
    return decode_text(data, name, what=what, kind=kind)


def decode_text(
    data: bytes,
    name: str,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    what: str = "input",
    kind: str = "text",
    hint: str = "",
) -> str:
    """Bytes as text in ``encoding`` (a BOM dropped); empty and binary data is refused.

    Undecodable bytes are refused, naming the first one's offset, or with
    ``errors="replace"`` become U+FFFD.
    """
    import codecs

    codec = codecs.lookup(encoding).name
    # NUL bytes mark binary files, except in encodings that write them (UTF-16, UTF-32):
    # those are checked once decoded.
    bytewise = is_bytewise(codec)
    if not data.strip():
        raise InputError(f"{name}: the {what} is empty")
    if bytewise and b"\x00" in data:
        raise InputError(f"{name}: contains NUL bytes; this looks like a binary file, not {kind}")
    try:
        text = data.decode(codec, errors)
    except UnicodeDecodeError as exc:
        raise undecodable(name, codec, data[exc.start], exc.start, hint) from None
    except UnicodeError as exc:  # a codec that decodes nothing ("undefined")
        raise InputError(f"{name}: cannot decode as {codec} ({exc})") from None
    text = text.removeprefix("\ufeff")
    if not bytewise and "\x00" in text:
        raise InputError(f"{name}: contains NUL characters; this looks like a binary file")
    if not bytewise and not text.strip():
        raise InputError(f"{name}: the {what} is empty")
    return text


def undecodable(name: str, codec: str, byte: int, offset: int, hint: str = "") -> InputError:
    """The error for a byte ``codec`` cannot decode, at ``offset`` bytes into the input."""
    label = "UTF-8" if codec == "utf-8" else codec
    return InputError(f"{name}: not valid {label} (byte 0x{byte:02x} at offset {offset})" + hint)


def is_bytewise(codec: str) -> bool:
    """Whether ``codec`` writes NUL as one zero byte (UTF-8, Latin-1; not UTF-16), so a
    zero byte in the data marks a binary file rather than text."""
    try:
        return "\x00".encode(codec) == b"\x00"
    except UnicodeError:
        return False


def expand_sources(sources: Sequence[str], *, suffixes: tuple[str, ...] = ()) -> list[str]:
    """Files as given; a directory stands for its files (sorted, hidden ones skipped).

    ``suffixes`` filters a directory's files by extension (case-insensitive).
    """
    out: list[str] = []
    for source in sources:
        if source != "-" and os.path.isdir(source):
            names = sorted(n for n in os.listdir(source) if not n.startswith("."))
            for name in names:
                path = os.path.join(source, name)
                if os.path.isfile(path) and (
                    not suffixes or os.path.splitext(name)[1].lower() in suffixes
                ):
                    out.append(path)
        else:
            out.append(source)
    return out
