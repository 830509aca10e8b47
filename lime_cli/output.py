"""Writing result files whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from lime_cli.errors import InputError


def check_folder(path: str) -> str:
    """The folder ``path`` would be written in; exit 3 if it does not exist."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"{path}: the folder {folder} does not exist")
    return folder


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` that replaces it only if the block succeeds."""
    folder = check_folder(path)
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory")
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
    except PermissionError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
