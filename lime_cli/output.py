"""Writing result files whole or not at all."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from lime_cli.errors import OutputError


def check_folder(path: str) -> str:
    """The folder ``path`` would be written in; exit 3 if there is no such folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"{path}: cannot write: {_missing_folder(folder)}")
    return folder


def check_writable(path: str) -> str:
    """The folder ``path`` would be written in, once a file has been created there.

    Called for every output before any work, so that a missing or read-only
    folder is exit 3 at once, not after hours of explaining. The test is the
    write itself (a temporary file, removed at once), since permissions, read-only
    mounts and file systems that take no new files (``/proc``) all refuse it.
    """
    folder = check_folder(path)
    if os.path.isdir(path):
        raise OutputError(f"{path}: cannot write: it is a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".lime-explain-", dir=folder)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {folder}: {_reason(exc)}") from None
    os.close(fd)
    os.unlink(probe)
    return folder


def _missing_folder(folder: str) -> str:
    """Why ``folder`` is not a folder: it does not exist, or a part of it is a file."""
    part = folder
    while not os.path.exists(part) and os.path.dirname(part) != part:
        part = os.path.dirname(part)
    if os.path.exists(part) and not os.path.isdir(part):
        return f"{part} is a file, not a folder"
    return f"the folder {folder} does not exist"


def _reason(exc: OSError) -> str:
    """An OSError as a short reason: 'read-only file system', 'permission denied'."""
    if exc.errno == errno.ENOENT:  # the folder exists, so the file system takes no new files
        return "files cannot be created there"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` that replaces it only if the block succeeds."""
    folder = check_folder(path)
    if os.path.isdir(path):
        raise OutputError(f"{path}: cannot write: it is a directory")
    fd, tmp = tempfile.mkstemp(
        prefix=".lime-explain-", suffix=os.path.splitext(path)[1], dir=folder
    )
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would ignore the user's umask
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    A file name that is not valid UTF-8 reaches Python as lone surrogates
    (``\udcff``), which UTF-8 cannot encode; they are written as that escape,
    which JSON reads back as the same string and XML shows as text.
    """
    data = text.encode("utf-8", errors="backslashreplace")
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write(path: str, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write`` with a binary file that becomes ``path`` only if it succeeds."""
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
    except OSError as exc:  # permission denied, read-only file system, disk full...
        raise OutputError(f"{path}: cannot write: {_reason(exc)}") from None
