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
    :func:`read_bytes`: it exists, is not a directory, a device or a socket (nor a
    named pipe a folder held, see :class:`FolderEntry`), and (a regular file with
    ``max_bytes``) is not larger than that. Reading it in pieces is up to the
    caller (``text --lines`` streams a file of any size)."""
    if source == STDIN:
        yield sys.stdin.buffer
        return
    name = display_name(source)
    if not os.path.exists(source):
        raise _missing(source, name)
    if os.path.isdir(source):
        raise InputError(f"{name}: is a directory, not a file")
    try:
        mode = os.stat(source).st_mode
        _refuse_special(source, name, mode)
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


def _missing(source: str, name: str) -> InputError:
    """The error for a path that leads to no file, saying so when it is a link whose
    target is missing: a DVC or git-annex folder's links stay broken until their
    data is pulled, and "no such file" alone would point at the link itself."""
    try:
        target = display_name(os.readlink(source))
    except OSError:  # not a link
        return InputError(f"{name}: no such file")
    try:
        os.stat(source)
    except FileNotFoundError:
        return InputError(f"{name}: no such file (a link to a missing file: {target})")
    except OSError as exc:  # a loop of links, a path through a file, a folder out of reach
        return InputError(f"{name}: cannot follow the link to {target} ({exc.strerror or exc})")
    return InputError(f"{name}: no such file")  # the target appeared since


def _refuse_special(source: str, name: str, mode: int) -> None:
    """Refuse what is not read as a file: devices (``/dev/zero`` never ends), sockets,
    and a named pipe found in a folder, which would wait for a writer nobody
    started (a pipe named on the command line is read: ``<(...)`` gives one)."""
    if stat.S_ISFIFO(mode) and isinstance(source, FolderEntry):
        raise InputError(
            f"{name}: is a named pipe, not a regular file (a folder's pipes are not read: "
            "reading one waits for a writer; name it on the command line to read it)"
        )
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise InputError(f"{name}: not a regular file (a device or a socket)")


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


class FolderEntry(str):
    """A path found by listing a folder, not one the user named.

    The type is the mark :func:`open_input` goes by: a named pipe the user
    names is read (process substitution gives one), one a folder holds is not.
    A ``str`` so every function that takes a path takes it unchanged; it
    pickles as itself, so ``--jobs``' workers see the mark too. A path built
    from it (``os.path.join``) is a plain ``str`` again, without the mark.
    """

    __slots__ = ()


def expand_sources(sources: Sequence[str], *, suffixes: tuple[str, ...] = ()) -> list[str]:
    """Files as given; a directory stands for its entries (see :func:`folder_entries`)."""
    out: list[str] = []
    for source in sources:
        if source != STDIN and os.path.isdir(source):
            out.extend(folder_entries(source, suffixes))
        else:
            out.append(source)
    return out


def folder_entries(folder: str, suffixes: tuple[str, ...] = ()) -> list[FolderEntry]:
    """The inputs a folder gives: its entries whose extension is one of
    ``suffixes`` (case-insensitive; every entry when there are none), sorted,
    so a run's inputs and ``--resume``'s order are the same each time.

    An entry so named is an input whatever it is: a broken link, a named pipe,
    a folder named ``x.txt`` fails as one, with its own line and exit 3, rather
    than vanishing from the run unsaid (links in DVC and git-annex folders are
    broken until their data is pulled). A folder whose name has no extension is
    not one (``old/`` beside the documents): folders are not searched.
    """
    return [
        FolderEntry(os.path.join(folder, name))
        for name in folder_names(folder)
        if _named_as_input(folder, name, suffixes)
    ]


def folder_names(folder: str) -> list[str]:
    """A folder's entries' names, sorted, hidden (dot) ones left out: the names
    :func:`folder_entries` picks from, and a warning about the others names."""
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


def _named_as_input(folder: str, name: str, suffixes: tuple[str, ...]) -> bool:
    """Whether entry ``name`` of ``folder`` is an input by its name (see
    :func:`folder_entries`); only a folder without an extension is looked at."""
    extension = os.path.splitext(name)[1].lower()
    if suffixes and extension not in suffixes:
        return False
    return bool(extension) or not os.path.isdir(os.path.join(folder, name))
