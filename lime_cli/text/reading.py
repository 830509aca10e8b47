"""Reading documents: whole files, or (``--lines``) each line of a file of any size.

``--lines`` reads a file (or stdin) ``CHUNK_BYTES`` at a time, decodes each
piece with an incremental decoder and hands its lines out as they come, so
memory is bounded by the chunk and the longest line (at most
``--max-characters``), not by the file: a file of gigabytes of lines is
explained as it is read, like ``tabular --all``'s rows.

What a file's problems do is what reading it whole did, as far as a stream
allows: an empty file, a NUL byte (a binary file) or a byte the encoding
cannot decode (with ``--errors strict``) anywhere in the first chunk fails
the whole file, with the byte's offset in the file; found in a later chunk,
the lines before it have been explained already and the rest of the file
fails with the same message (an :class:`~lime_cli.errors.UnreadInputError`:
the run is not finished, so a JSON Lines output keeps its ledger and
``--resume`` explains the rest once the file is fixed). A line longer than
``--max-characters`` fails alone (its text is not kept) and the lines after
it go on.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lime_cli.errors import InputError, UnreadInputError

#: Bytes read (and decoded) at a time by ``--lines``: the memory of a chunk.
CHUNK_BYTES = 1 << 20

#: The remedy named when a document cannot be decoded.
DECODE_HINT = "; --encoding NAME reads another encoding, --errors replace replaces such bytes"


@dataclass(frozen=True)
class Document:
    """One text to explain: where it came from, and its content or the error reading it."""

    name: str
    text: str | None
    error: InputError | None = None


def read_documents(
    sources: list[str],
    max_characters: int | None = None,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
) -> list[Document]:
    """Every source as one document; a source that cannot be read becomes a failed one.

    A file too large to hold ``max_characters`` (UTF-8 takes at most 4 bytes
    a character) is refused before it is read; each document's length is
    checked by the domain.
    """
    from lime_cli.inputs import display_name, read_text

    max_bytes = 4 * max_characters if max_characters else None
    documents: list[Document] = []
    for source in sources:
        name = "stdin" if source == "-" else display_name(source)
        try:
            content = read_text(
                source,
                max_bytes=max_bytes,
                limit_name="--max-characters",
                encoding=encoding,
                errors=errors,
                hint=DECODE_HINT,
            )
        except InputError as exc:
            documents.append(Document(name, None, exc))
            continue
        documents.append(Document(name, content))
    return documents


def line_documents(
    sources: list[str],
    max_characters: int | None = None,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    chunk_bytes: int | None = None,
) -> Iterator[Document]:
    """Each non-blank line of each source as a document named ``SOURCE:LINE``, read
    lazily: a source is opened when the lines before it are taken, and read a
    chunk at a time (see the module's docstring). A source that cannot be read,
    or whose rest cannot, becomes a failed document named by the source."""
    from lime_cli.inputs import display_name, open_input

    for source in sources:
        name = "stdin" if source == "-" else display_name(source)
        try:
            with open_input(source) as handle:
                yield from lines_of(
                    handle,
                    name,
                    max_characters,
                    encoding=encoding,
                    errors=errors,
                    chunk_bytes=chunk_bytes or CHUNK_BYTES,
                )
        except InputError as exc:
            yield Document(name, None, exc)


def lines_of(
    handle: BinaryIO,
    name: str,
    max_characters: int | None = None,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[Document]:
    """The non-blank lines of ``handle`` as documents, read ``chunk_bytes`` at a time.

    Lines end at "\\n" (a "\\r" before it is dropped) and nowhere else, as
    line-oriented tools count them: ``str.splitlines`` would also split at form
    feeds, U+0085, U+2028 and the like, which belong inside a document. Raises
    :class:`InputError` for an empty, binary or undecodable input: at once if the
    problem is in the first chunk, else after yielding every line ended before it.
    """
    from lime_cli.inputs import is_bytewise

    codec = codecs.lookup(encoding).name
    bytewise = is_bytewise(codec)
    decoder = codecs.getincrementaldecoder(codec)(errors)
    line = _Line(name, max_characters)
    fed = 0  # bytes given to the decoder so far
    content = False  # anything but white space seen
    started = False  # the first character decoded (a BOM there is dropped)
    # read1: what a pipe has (up to a chunk) rather than waiting for a whole chunk.
    read = getattr(handle, "read1", handle.read)
    while True:
        try:
            chunk = read(chunk_bytes)
        except OSError as exc:
            failed = UnreadInputError if fed else InputError
            raise failed(f"{name}: cannot read ({exc.strerror or exc})") from None
        text, problem = _decode(decoder, chunk, name, codec, bytewise, fed)
        if problem is not None and not fed:
            raise problem  # in the first chunk: the whole file fails, as read whole
        if problem is not None:  # the rest of the file is never read (see UnreadInputError)
            problem = UnreadInputError(problem.message)
        fed += len(chunk)
        if text and not started:
            text, started = text.removeprefix("\ufeff"), True
        content = content or bool(chunk.strip() if bytewise else text.strip())
        pieces = text.split("\n")
        for piece in pieces[:-1]:
            line.add(piece)
            if (document := line.end()) is not None:
                yield document
        if problem is not None:
            raise problem  # after the lines before it; the line it is in fails with the rest
        line.add(pieces[-1])
        if not chunk:
            break
    if (document := line.end(last=True)) is not None:
        yield document
    if not content:
        raise InputError(f"{name}: the input is empty")


def _decode(
    decoder: codecs.IncrementalDecoder,
    chunk: bytes,
    name: str,
    codec: str,
    bytewise: bool,
    fed: int,
) -> tuple[str, InputError | None]:
    """``chunk`` decoded (the last, empty, one ends the input), or, if it holds a NUL
    byte, a byte ``codec`` cannot decode or a NUL character, the text before the first
    of them and the error for the input's rest (``fed``: the bytes decoded before).

    The text before the problem is kept, not only the error, so that the lines of a
    later chunk before a bad byte are explained like those of the chunks before: the
    module's promise. The message is the one reading the file whole gives (NUL bytes
    first, then a byte that cannot be decoded, then NUL characters).
    """
    from lime_cli.inputs import undecodable

    state = decoder.getstate()  # to decode again the bytes before a bad one
    held = len(state[0]) if isinstance(state[0], bytes) else 0  # a character cut by a chunk
    problem: InputError | None = None
    nul = chunk.find(b"\x00") if bytewise else -1
    if nul >= 0:
        problem = InputError(f"{name}: contains NUL bytes; this looks like a binary file, not text")
    try:
        text = decoder.decode(chunk if nul < 0 else chunk[:nul], final=not chunk)
    except UnicodeDecodeError as exc:  # exc.object: the bytes held back, then the chunk's
        offset = fed - held + exc.start
        byte = exc.object[exc.start]
        problem = problem or undecodable(name, codec, byte, offset, DECODE_HINT)
        decoder.setstate(state)
        try:  # the bytes before the bad one (none if it began in the bytes held back)
            text = decoder.decode(chunk[: max(exc.start - held, 0)])
        except UnicodeError:  # a codec that does not say where it fails: no lines kept
            text = ""
    except UnicodeError as exc:  # a codec that decodes nothing ("undefined")
        raise InputError(f"{name}: cannot decode as {codec} ({exc})") from None
    if not bytewise and (nul := text.find("\x00")) >= 0:
        problem = problem or InputError(
            f"{name}: contains NUL characters; this looks like a binary file"
        )
        text = text[:nul]
    return text, problem


class _Line:
    """The line being read: its pieces, or only its length once it is too long to keep."""

    def __init__(self, name: str, max_characters: int | None) -> None:
        self.name = name
        self.max_characters = max_characters
        self.number = 0
        self.pieces: list[str] = []
        self.length = 0
        self.blank = True
        self.last = ""

    def add(self, piece: str) -> None:
        if not piece:
            return
        self.length += len(piece)
        self.last = piece[-1]
        self.blank = self.blank and not piece.strip()
        if self.max_characters is not None and self.length > self.max_characters + 1:
            self.pieces = []  # too long: only its length is kept (+1: a "\r" to drop)
        else:
            self.pieces.append(piece)

    def end(self, last: bool = False) -> Document | None:
        """The line just ended as a document (None if blank); the next one begins."""
        if last and self.length == 0:
            return None
        self.number += 1
        length = self.length - (self.last == "\r")
        text = "".join(self.pieces).removesuffix("\r")
        blank = self.blank
        self.pieces, self.length, self.blank, self.last = [], 0, True, ""
        if blank:
            return None
        label = f"{self.name}:{self.number}"
        if self.max_characters is not None and length > self.max_characters:
            return Document(label, None, _too_long(label, length, self.max_characters))
        return Document(label, text)


def _too_long(label: str, length: int, limit: int) -> InputError:
    """The domain's message for a document over --max-characters (its text was not kept)."""
    return InputError(
        f"{label}: {length} characters exceed --max-characters {limit}; "
        "raise the limit if this machine has the memory (up to about 80 bytes a character)"
    )
