"""JSON Lines written as results arrive, and ``--resume`` to finish a run that stopped.

What a resumable output looks like: ``OUT.jsonl`` holds one explanation per
line, in input order, exactly as an uninterrupted run writes it (nothing is
added to the lines, so ``--format json`` and the file stay the same bytes).
Beside it, while the run is under way, ``OUT.jsonl.resume`` (the *ledger*)
holds a header line ``{"lime_explain_resume": 4, "settings": KEY, "seed": N}``
and then one line ``{"input": ID, "content": DIGEST}`` per explanation
written, in the same order, and ``{"failed": ID}`` per input that failed
(no line in the output; ``"unread": true`` when the failure was a source's
rest, never read). ``KEY`` is a hash of everything that shapes an
explanation (model file, the modality's shaping files such as ``--train``,
options, seed); ``ID`` is the input's name (``rows.csv row 17``,
``notes.txt:3``) and ``DIGEST`` a hash of the input itself (a row's values,
a document's text, an image file's bytes), so an input edited since is not
taken for the one explained; a resumed run's records start with a line
``{"resumed": true}``. The ledger is removed when the run ends; one left
behind means the run was stopped and can be resumed, or (its last line
``{"ended": true, "failed": N}``) that it ended with inputs that failed, which
``--resume`` tries again, or (``N`` 0) that it was given ``--resume`` and ended:
the next ``--resume`` checks its settings and explains inputs added since
(a run without ``--resume`` overwrites such an output, as it does a finished
run's).
While a run writes, it
holds the ledger locked, so a run still going is never taken for a stopped
one (:func:`refuse_if_running`).

``--resume`` keeps the lines the ledger vouches for (a half-written last
line, or a line written just before the ledger's, is cut off), refuses a
ledger of other settings, takes the seed from it when ``--seed`` is not
given, and explains only the inputs not yet in the file, matching the inputs
against the ledger in order as they are read (see :class:`Done`: memory does
not grow with the inputs done). An input met under a name the ledger holds
but with other content stops the run (:class:`ChangedInputError`): its line
in the file explains what it was, and no run could make the file right by
appending. So does an input the stopped run never met where it had gone past
(:class:`MisplacedInputError`: inputs added, removed or reordered since),
before anything is added; the inputs of a source that failed whole there (a
--lines file that did not read) are the exception: never met, they are tried
again, as failed inputs are. Since each input's random stream depends on the
seed and the input alone, the finished file of a stopped run is byte for byte
the file of an uninterrupted run (inputs that failed and are explained later
come where the run that explains them appends them).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from lime_cli.errors import OutputError, UsageError

try:
    import fcntl
except ImportError:  # not on POSIX: runs are not locked
    fcntl = None  # type: ignore[assignment]

#: The ledger's name: the output's path plus this.
LEDGER_SUFFIX = ".resume"
#: The ledger format's version (its header's ``lime_explain_resume``): 2 added
#: each record's ``content`` (and the settings' hash the training data's stamp),
#: 3 the failed inputs' records (a ledger without them cannot tell an input the
#: stopped run never met from one that failed), 4 files in the settings' hash by
#: their content instead of their size and time.
LEDGER_VERSION = 4
#: Bytes of a record's content digest (BLAKE2b): 64 bits, so an edited input
#: passes for the one explained with odds of 1 in 1.8e19, in 16 characters a
#: record (a ledger of 10 million rows grows by 300 MB, beside an output
#: several times that size).
DIGEST_BYTES = 8


def ledger_path(path: str) -> str:
    """The ledger of output ``path``: beside the file itself. An output given as a
    symlink has its target's ledger (and lock), so a run through a link and a run
    through the file's own name cannot both write it unawares."""
    if os.path.islink(path):
        path = os.path.realpath(path)
    return path + LEDGER_SUFFIX


class SettingsKey(str):
    """The settings' hash (the string a ledger's header keeps and compares), with the
    hash of each part it was made of (:attr:`parts`, by option name), kept in the
    header too, so a refusal names what differs instead of listing what might."""

    parts: dict[str, str]

    def __new__(cls, digest: str, parts: dict[str, str]) -> SettingsKey:
        key = super().__new__(cls, digest)
        key.parts = parts
        return key


def settings_key(
    modality: str,
    settings: Any,
    options: dict[str, Any],
    files: Sequence[str] = (),
    implied: Sequence[str] = (),
) -> SettingsKey:
    """A hash of what shapes the explanations: modality, model (and its file's
    content), LIME settings with the seed, labels, checks, the modality's options,
    and the content of the files the options named in ``files`` give (training
    data, say: the modality's ``shaping_files``) and of the files ``implied``
    (read without being named: a preprocessing JSON beside an ONNX model).

    Files count by content, not by size and time: a fresh checkout of the same
    model (new times) goes on with its run, an edited one does not. Hashing
    costs 1.5-2 ms a megabyte, less than loading the file does.
    ``jobs``, ``quiet``, ``debug`` and where the results go are left out: they
    do not change an explanation.
    """
    spec = settings.spec
    # Where results go and how the run is carried out change no explanation (the
    # seed is in ``settings.params``): a dated --save-stats path must not refuse.
    rest = sorted((k, repr(v)) for k, v in options.items() if k not in _NOT_SETTINGS)
    named = [(name, _file_content(options.get(name))) for name in files]
    # A --rules file's checks shape each explanation's JSON: it counts as such a file
    # (its option is the settings', no longer among ``options``).
    rules_file = _typed_parameters(options).get("rules_file")
    if rules_file:
        named.append(("rules_file", _file_content(rules_file)))
    # By name, not path: the same files in a checkout moved elsewhere are the same.
    besides = sorted((os.path.basename(path), _file_content(path)) for path in implied)
    model = _file_content(spec.path)
    text = repr(
        (modality, spec, model, settings.params, settings.labels, settings.rules, rest, named,
         besides)
    )  # fmt: skip
    # For naming what differs only (the hash above vouches for all of it): the
    # command's parameters as typed (the LIME settings, labels and checks are
    # made from them), the seed as resolved (a resume's, from the ledger), the
    # modality and the files' contents.
    parts = {
        "the modality": modality,
        "the model file's content": _short(repr(model)),
        **{_option(k): _short(repr(v)) for k, v in _typed_parameters(options).items()},
        "--seed": _short(repr(settings.params.seed)),
        **{f"the {_option(k)} file's content": _short(repr(digest)) for k, digest in named},
        **{f"the content of {name}": _short(repr(digest)) for name, digest in besides},
    }  # fmt: skip
    return SettingsKey(hashlib.sha256(text.encode("utf-8")).hexdigest()[:32], parts)


#: Parameters that do not shape an explanation (where the results go, how the
#: run is carried out): never named as a difference.
_NOT_SETTINGS = frozenset({
    "debug", "quiet", "resume", "scheduler", "jobs", "seed", "outs", "fmt", "junit_path",
    "annotations", "save_stats_path",
})  # fmt: skip


def _typed_parameters(options: dict[str, Any]) -> dict[str, Any]:
    """The running command's parameters as typed, those in :data:`_NOT_SETTINGS`
    left out; the modality's ``options`` alone outside a command (a test)."""
    import click

    context = click.get_current_context(silent=True)
    typed = dict(context.params) if context is not None else dict(options)
    return {k: v for k, v in sorted(typed.items()) if k not in _NOT_SETTINGS}


def _option(name: str) -> str:
    """An option's name as typed: the running command's flag for parameter ``name``
    (``train_path`` -> ``--train``), else made from the name (``--fresh-samples``)."""
    import click

    context = click.get_current_context(silent=True)
    for param in context.command.params if context is not None else ():
        if param.name != name:
            continue
        if isinstance(param, click.Argument):  # a positional: the inputs given
            return f"the {param.human_readable_name.strip('[]. ')} argument"
        flags = [opt for opt in param.opts if opt.startswith("--")]
        if flags:
            return flags[0]
    return "--" + name.replace("_", "-")


def _short(text: str) -> str:
    """A part's hash: 8 hex digits (only to tell parts apart, not to vouch for them)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _differences(header: dict[str, Any], key: str) -> str:
    """What differs between a ledger's settings and this command's, by name ("--seed,
    --num-samples"), or what might when the ledger has no parts."""
    theirs, ours = header.get("parts"), getattr(key, "parts", None)
    if isinstance(theirs, dict) and ours is not None:
        names = [n for n in {**theirs, **ours} if theirs.get(n) != ours.get(n)]
        if names:
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            return f"{shown} differ{'s' * (len(names) == 1)}"
    return "model, training data, options, inputs or seed"


def _file_content(path: Any) -> tuple[Any, ...]:
    """A regular file's BLAKE2b digest (see :func:`_digest_of`); a folder's size
    and time; empty for no file (a URL, an option not given)."""
    if not isinstance(path, str):
        return ()
    try:
        stat = os.stat(path)
    except OSError:
        return ()
    if not os.path.isfile(path):
        return (stat.st_size, stat.st_mtime_ns)
    try:
        stamp = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        return ("blake2b", _digest_of(path, *stamp))
    except OSError:
        return ()


@functools.lru_cache(maxsize=32)
def _digest_of(path: str, device: int, inode: int, size: int, mtime: int) -> str:
    """The file's content hash, read in 1 MiB blocks (1.5-2 ms a megabyte); kept for
    the process while the file's stamp is the same (a resume computes its
    settings' hash twice: to check the ledger, then for the run)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_digest(content: bytes | None) -> str | None:
    """The ledger's digest of an input's ``content`` (None: an input without one)."""
    if content is None:
        return None
    return hashlib.blake2b(content, digest_size=DIGEST_BYTES).hexdigest()


class ResumeRefusal(UsageError):
    """An input that stops ``--resume`` (exit 2): no appending would make the output right."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name

    def for_output(self, path: str) -> UsageError:
        """The line the user reads, once ``path``'s files are cut back (nothing added)."""
        raise NotImplementedError


class ChangedInputError(ResumeRefusal):
    """An input met under the name of one in the output, with other content."""

    def __init__(self, name: str) -> None:
        super().__init__(name, f"{name} has changed since it was explained")

    def for_output(self, path: str) -> UsageError:
        return UsageError(
            f"{self.name} has changed since {path} explained it: nothing was added; restore "
            f"the input to resume, or remove {path} and {ledger_path(path)} to start over"
        )


class MisplacedInputError(ResumeRefusal):
    """An input the stopped run never met, where it had gone past: inputs were added,
    removed or reordered since (its lines would not be in input order)."""

    def __init__(self, name: str, expected: str | None = None) -> None:
        super().__init__(name, f"{name} is not where the stopped run met its inputs")
        #: The input the runs met next there (missing now, or moved after ``name``).
        self.expected = expected

    def for_output(self, path: str) -> UsageError:
        where = (
            f"is not the input the runs that wrote {path} met next there ({self.expected})"
            if self.expected
            else f"was not among the inputs the runs that wrote {path} met there"
        )
        return UsageError(
            f"{self.name} {where}: inputs were added, removed or reordered since; nothing was "
            f"added; resume with their inputs, or remove {path} and {ledger_path(path)} to start "
            "over"
        )


def saved_seed(path: str) -> int | None:
    """The seed recorded in ``path``'s ledger, if a stopped run left one."""
    header = _header(ledger_path(path))
    seed = header.get("seed") if header else None
    return seed if isinstance(seed, int) else None


class Done:
    """The inputs a stopped run has in its output, matched against the inputs as they go.

    Each run (the first, and each ``--resume`` of it) writes its records in
    input order, and a resumed run writes only inputs not written before, so
    the ledger is a few *segments* (a ``{"resumed": true}`` record starts
    each resumed run's), each a subsequence of the inputs. Matching the
    inputs in order against the head of every segment tells exactly which
    were written, reading the ledger as the inputs go by: memory is a record
    per segment, not one per input (a stopped run of millions of rows would
    otherwise hold millions of names). Every input a run met is in its
    segment, explained or failed, so an input that matches no head while a
    segment still has heads is one the stopped run never met where it had
    gone past: it is refused (:class:`MisplacedInputError`), since its line
    would come out of input order, unless its source failed whole there (its
    inputs are tried again, as a failed input is).
    """

    def __init__(
        self,
        ledger: str | None = None,
        segments: Sequence[tuple[int, int]] = (),
        count: int = 0,
        *,
        placed: bool = True,
    ) -> None:
        self.count = count
        #: Whether every input the stopped runs met is in the ledger (False when a
        #: source failed part way: its rest was never met, so no input is misplaced).
        self.placed = placed
        #: (name, content digest or None, failed, segment, offset after its record,
        #: segment's end offset) of each segment's next input; segments are numbered
        #: in the ledger's order. One file for all of them: a ledger kept by a CI
        #: job that resumes daily has a segment per day (a file each would run
        #: out of file descriptors after about a thousand).
        self._heads: list[tuple[str, str | None, bool, int, int, int]] = []
        self._book: IO[bytes] | None = None
        if ledger is not None and any(end > start for start, end in segments):
            self._book = open(ledger, "rb")  # noqa: SIM115 - closed by close()
        for segment, (start, end) in enumerate(segments):
            if end > start:
                self._advance(segment, start, end)

    def __len__(self) -> int:
        return self.count

    def skips(self, name: str, content: Callable[[], str | None] | None = None) -> bool:
        """Whether the next input, ``name``, is in the output already (then it is passed).

        ``content`` gives the input's :func:`content_digest`, asked for only when
        the output has ``name``. Raises :class:`ChangedInputError` when the output
        has ``name`` with a digest and the input's is another, or None (it no
        longer reads); records without a digest (a modality whose inputs have
        no content) are not checked. An input that failed in a stopped run is
        not passed (it is tried again; one removed since is passed over), and
        one no head matches while heads are left raises
        :class:`MisplacedInputError`, unless it does not read (it fails with
        its own message, without a line) or its source failed whole where a
        head stands (a failed record of ``lines.txt`` for ``lines.txt:3``: it is
        new, tried again).
        """
        digests: list[str | None] = []  # the content's digest, once asked for

        def digest_now() -> str | None:
            if not digests:
                digests.append(content() if content is not None else None)
            return digests[0]

        matched = [head for head in self._heads if head[0] == name]
        if not matched and self._heads and self.placed:
            if content is not None and digest_now() is None:
                return False
            if any(head[2] and part_of(name, head[0]) for head in self._heads):
                # Its source failed whole there (a --lines file that did not read):
                # its inputs were never met, so they are tried again as a failed
                # input is, appended where this run has got to.
                return False
            # Failed inputs removed since had no line: passing them over loses nothing.
            for head in [head for head in self._heads if head[2]]:
                self._heads.remove(head)
                self._advance(*head[3:], failed_too=False)
            matched = [head for head in self._heads if head[0] == name]
            if not matched and self._heads:
                raise MisplacedInputError(name, self.first_unmet)
        # The same name in several segments: one explained record is this input's
        # (the earliest run's; a name given twice has one in each run that wrote
        # it), and so are the failed ones of the runs before it.
        explained = [head for head in matched if not head[2]]
        first = min(explained, key=lambda head: head[3]) if explained else None
        if first is not None:
            digest = first[1]
            if digest is not None and content is not None and digest_now() != digest:
                raise ChangedInputError(name)
        used = [head for head in matched if head[2] and (first is None or head[3] < first[3])]
        for head in [*used, *([first] if first is not None else [])]:
            self._heads.remove(head)
            self._advance(*head[3:])
        return first is not None

    def _advance(self, segment: int, offset: int, end: int, *, failed_too: bool = True) -> None:
        """Put the segment's next input after ``offset`` at the head (none: the
        segment is used up); ``failed_too=False`` passes over failed inputs' records.
        (A seek within the file's buffer costs no system call.)"""
        book = self._book
        assert book is not None
        book.seek(offset)
        while offset < end:
            raw = book.readline()
            if not raw:
                return
            offset += len(raw)
            record = _parse_record(raw)
            if record is not None and (failed_too or not record[2]):
                self._heads.append((*record, segment, offset, end))
                return

    @property
    def unmatched(self) -> bool:
        """Whether some inputs in the output were not met (inputs changed, or reordered)."""
        return bool(self._heads)

    def unmet_within(self, sources: set[str]) -> bool:
        """Whether every input not met is one of ``sources``' (failed inputs' names):
        a source that no longer reads (``lines.txt``) was never split into its
        inputs (``lines.txt:3``), so those went unmet for that reason alone."""
        return all(any(part_of(name, source) for source in sources) for name, *_ in self._heads)

    @property
    def first_unmet(self) -> str | None:
        """The name of the earliest run's next input not met, if any (for messages)."""
        return min(self._heads, key=lambda head: head[3])[0] if self._heads else None

    def close(self) -> None:
        if self._book is not None:
            self._book.close()
        self._heads = []


def part_of(name: str, source: str) -> bool:
    """Whether the input ``name`` is ``source`` or one of its inputs: a line of a
    --lines file (``notes.txt:3``) or a row of a table (``rows.csv row 17``); the
    number must follow at once (``b:x:1`` is a line of ``b:x``, not of ``b``)."""
    if name == source:
        return True
    for joint in (":", " row "):
        if name.startswith(source + joint) and name[len(source) + len(joint) :].isdigit():
            return True
    return False


@dataclass(frozen=True)
class Progress:
    """Where a run stands: the inputs already in the output."""

    done: Done
    #: True when the output exists without a ledger: a run that finished.
    finished: bool = False
    #: Where the output and its ledger agree (after the last line the ledger vouches
    #: for, and after that line's record): the writer cuts them there when it first
    #: writes, and a resume that meets other inputs cuts back to it. None when
    #: neither file is there yet.
    sizes: tuple[int, int] | None = None
    #: The ledger's records after ``sizes[1]`` (see ``_tail``): put back by ``cut_back``.
    ledger_tail: bytes = b""
    #: The ledger, open and locked for this run from :func:`continue_from` on (None:
    #: no ledger yet); :meth:`release` ends the lock.
    lock: IO[bytes] | None = None

    @property
    def fresh(self) -> bool:
        """Nothing to resume: neither the output nor its ledger is there."""
        return not self.finished and self.sizes is None

    def release(self) -> None:
        """Let other runs at the ledger (the run is over: its files are closed)."""
        if self.lock is not None:
            self.lock.close()

    def cut_back(self, path: str) -> None:
        """Make ``path`` and its ledger what they were before this run wrote to them
        (only a run that wrote cut them: see :class:`LineWriter`)."""
        if self.sizes is None:
            return
        try:
            for name, size in zip((path, ledger_path(path)), self.sizes):
                with open(name, "ab") as handle:
                    handle.truncate(size)
            if self.ledger_tail:  # the records cut off, the ended mark among them
                with open(ledger_path(path), "ab") as book:
                    book.write(self.ledger_tail)
        except OSError as exc:
            raise OutputError(f"{path}: cannot cut back: {exc.strerror or exc}") from None


def refuse_if_running(path: str) -> None:
    """Exit 2 when a lime-explain that is still running writes ``path``.

    A run holds an exclusive lock (``flock``) on its ledger from the moment it
    makes it until it ends (the system drops it when the process dies, however
    it dies), so a second command never takes a live run for a stopped one:
    resuming it, both would write the file (lines twice, a line cut in two).
    """
    try:
        handle = open(ledger_path(path), "rb")  # noqa: SIM115 - closed below
    except OSError:
        return
    with handle:
        if _lock(handle, path, shared=True):
            assert fcntl is not None
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock(ledger: IO[Any], path: str, *, shared: bool = False) -> bool:
    """Lock ``path``'s open ``ledger`` (exclusive: this run's, held until it is
    closed; shared: only to look). Exit 2 when a running lime-explain holds it;
    False where files cannot be locked (not POSIX, a file system without locks)."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(ledger, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(
            f"{path} is being written by a lime-explain that is still running (it holds "
            f"{ledger_path(path)}): wait for it to end, or stop it and then --resume"
        ) from None
    except OSError:
        return False
    return True


def continue_from(path: str, key: str) -> Progress:
    """The inputs ``path`` and its ledger hold, where they agree, with the ledger
    locked for this run (nothing is cut here: see :class:`LineWriter`).

    Exit 2 if the ledger was written with other settings. Without an output
    the run starts afresh; an output without a ledger is a finished run. The
    files are read a line at a time, whatever their size.
    """
    ledger = ledger_path(path)
    for _ in range(3):
        if not os.path.exists(ledger):
            return Progress(Done(), finished=os.path.exists(path))
        try:
            lock = open(ledger, "rb")  # noqa: SIM115 - held by the Progress until release()
        except FileNotFoundError:
            continue  # removed meanwhile (a run that ended): look again
        except OSError as exc:
            raise OutputError(f"{path}: cannot resume: {exc.strerror or exc}") from None
        try:
            # Locked from here to the run's end: a second --resume started meanwhile is
            # refused, not let to read the same ledger and append the same inputs.
            _lock(lock, path)
            if _same_file_as(lock, ledger):
                return _progress(path, ledger, key, lock)
        except BaseException:
            lock.close()
            raise
        lock.close()  # the run that held it ended and removed or replaced it: look again
    raise OutputError(f"{path}: cannot resume: its ledger keeps changing; try again")


def _same_file_as(handle: IO[bytes], path: str) -> bool:
    """Whether ``handle`` is open on the file ``path`` names now."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except OSError:
        return False


def _progress(path: str, ledger: str, key: str, lock: IO[bytes]) -> Progress:
    """:func:`continue_from` once ``ledger`` is locked (``lock``): nothing is cut
    yet (the writer cuts the files when it first writes, so a run that adds
    nothing leaves both as they were)."""
    header = _header(ledger) or {}
    version = _version(header)
    if version is not None and version > LEDGER_VERSION:
        raise UsageError(
            f"{ledger} was written by a newer lime-explain (ledger version {version}): finish "
            f"the run with that version, or remove {path} and {ledger} to start over"
        )
    if version is not None and version < LEDGER_VERSION:
        raise UsageError(
            f"{ledger} was written by an older lime-explain (ledger version {version}): finish "
            f"the run with that version, or remove {path} and {ledger} to start over"
        )
    if version != LEDGER_VERSION:
        raise not_a_ledger(path)
    if header.get("settings") != key:
        raise UsageError(
            f"{path} was written with other settings ({_differences(header, key)}); give the "
            "same ones, or remove it and its .resume file to start over"
        )
    records = _count_records(ledger)
    kept, out_end = _complete_lines(path, records) if os.path.exists(path) else (0, 0)
    segments, ledger_end, placed = _segments(ledger, kept)
    done = Done(ledger, segments, kept, placed=placed)
    if _only_marks_after(ledger, ledger_end):
        # Failed inputs' records and marks after the last line's record are left in
        # place (outside every segment, so never read as this run's): nothing to
        # put back however many there are, and a refusal leaves the ledger as it was.
        return Progress(done, sizes=(out_end, os.path.getsize(ledger)), lock=lock)
    tail = _tail(ledger, ledger_end, path)
    return Progress(done, sizes=(out_end, ledger_end), ledger_tail=tail, lock=lock)


def _only_marks_after(ledger: str, offset: int) -> bool:
    """Whether the ledger holds after ``offset`` only whole lines that vouch for no
    line of the output: failed inputs' records, the marks of resumed and ended runs
    (not a source's unread rest, which would make later resumes check less, nor a
    half-written line, which the next record would join)."""
    with open(ledger, "rb") as book:
        book.seek(offset)
        return all(_kind(raw) in (_FAILED, _MARK, _ENDED) for raw in book)


#: Most bytes of a ledger's records after its last explained input (failed inputs'
#: records, the ended mark) kept in memory to put back if the resume is refused.
_TAIL_KEPT = 1 << 20


def _tail(ledger: str, end: int, path: str) -> bytes:
    """The ledger's bytes from ``end`` on, which the resume cuts off (records of
    inputs after the last explained one: they are met again), for
    :meth:`Progress.cut_back` to put back; when longer than :data:`_TAIL_KEPT`,
    only its ended mark (what tells a run that ended from a stopped one)."""
    with open(ledger, "rb") as book:
        book.seek(end)
        tail = book.read(_TAIL_KEPT + 1)
    if len(tail) <= _TAIL_KEPT:
        return tail
    failed = ended_with_failures(path)
    if failed is None:
        return b""
    return (json.dumps({"ended": True, "failed": failed}) + "\n").encode()


def check_finished(path: str, modality: str, settings: Any, seed_given: bool) -> int:
    """The number of explanations in a finished run's output, after checking that
    its first line was made by this command's modality, model and LIME settings.

    A finished run removes its ledger, so its settings hash is gone; what the
    output says of itself is checked instead (the model's path, the sample count
    or ``auto``, K, the feature selection, and the seed and kernel width when
    given), and exit 2 when it differs: ``--resume`` in a script must not keep
    another run's output. The file is read a line at a time.
    """
    try:
        with open(path, "rb") as out:
            first = out.readline()
            count = int(first.endswith(b"\n")) + sum(1 for raw in out if raw.endswith(b"\n"))
        data = json.loads(first)
        found = {
            "modality": data["modality"],
            "model": data["model"]["path"],
            "--num-samples": data["params"].get("num_samples_requested")
            or data["params"]["num_samples"],
            # an image fits every superpixel and records the K it shows apart
            "--num-features": data["params"].get("num_features_shown")
            or data["params"]["num_features"],
            "--feature-selection": data["params"]["feature_selection"],
            "--seed": data["params"]["seed"],
            "--kernel-width": data["params"]["kernel_width"],
        }
    except OSError as exc:
        raise OutputError(f"{path}: cannot resume: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError):
        raise UsageError(
            f"{path} is not a lime-explain JSON Lines output; remove it to start over"
        ) from None
    params = settings.params
    wanted: dict[str, Any] = {
        "modality": modality,
        "model": settings.spec.path,
        "--num-samples": "auto" if params.adaptive else params.num_samples,
        "--num-features": params.num_features,
        "--feature-selection": params.feature_selection,
    }
    if seed_given:
        wanted["--seed"] = params.seed
    if params.kernel_width is not None:
        wanted["--kernel-width"] = params.kernel_width
    for what, value in wanted.items():
        if found[what] != value and not (what == "model" and _same_file(found[what], value)):
            raise UsageError(
                f"{path} was written with other settings ({what} {found[what]!r} there, "
                f"{value!r} here); give the same ones, or remove it to start over"
            )
    return count


def _same_file(a: Any, b: Any) -> bool:
    try:
        return os.path.samefile(str(a), str(b))
    except OSError:
        return False


def is_ledger(path: str) -> bool:
    """Whether the file beside ``path`` (its ledger) begins as a lime-explain ledger
    of any version does: an empty or foreign file there is no run's."""
    return _version(_header(ledger_path(path)) or {}) is not None


def _version(header: dict[str, Any]) -> int | None:
    """A ledger header's version (1 or more), or None where it has none (JSON true is
    none, though Python's bool is an int)."""
    version = header.get("lime_explain_resume")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return None
    return version


def not_a_ledger(path: str) -> UsageError:
    """The refusal for a file beside ``path`` that is no ledger (an empty one, made
    by hand): the same words whether the command was given --resume or not."""
    ledger = ledger_path(path)
    return UsageError(
        f"{ledger} is not a lime-explain ledger; remove {path} and {ledger} to start over"
    )


def _header(ledger: str) -> dict[str, Any] | None:
    try:
        with open(ledger, encoding="utf-8") as book:
            first = book.readline()
        header = json.loads(first)
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) else None


#: What a ledger line after the header is: an explained input's record (it
#: vouches for a line of the output), a failed input's, a source's unread rest,
#: the mark of a resumed run, or the mark of a run that ended with failed inputs.
_EXPLAINED, _FAILED, _UNREAD, _MARK, _ENDED = "explained", "failed", "unread", "mark", "ended"


def _ledger_lines(ledger: str) -> Iterator[tuple[bytes, str]]:
    """The ledger's complete, readable lines after its header, each with its kind
    (``_EXPLAINED``, ``_FAILED``, ``_UNREAD``, ``_MARK``, ``_ENDED``); stops at the first
    half-written or foreign line."""
    with open(ledger, "rb") as book:
        book.readline()
        for raw in book:
            kind = _kind(raw)
            if kind is None:
                return
            yield raw, kind


def _kind(raw: bytes) -> str | None:
    """What a ledger line is (see :func:`_ledger_lines`); None for a half-written or
    foreign line."""
    if raw.startswith(_RECORD_START) and raw.endswith(_RECORD_END):
        return _EXPLAINED  # as LineWriter writes them: no need to parse millions
    if not raw.endswith(b"\n"):
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if isinstance(record, dict) and isinstance(record.get("input"), str):
        return _EXPLAINED
    if isinstance(record, dict) and isinstance(record.get("failed"), str):
        return _UNREAD if record.get("unread") else _FAILED
    if record == RESUMED:
        return _MARK
    if isinstance(record, dict) and record.get("ended") is True:
        return _ENDED
    return None


#: How every input's record in a ledger starts and ends (json.dumps escapes a '"' in a
#: name), and what comes between its name and its digest of fixed length.
_RECORD_START = b'{"input": "'
_RECORD_END = b'"}\n'
_CONTENT_MARK = b'", "content": "'
_DIGEST_TAIL = len(_CONTENT_MARK) + 2 * DIGEST_BYTES + len(_RECORD_END)


def _parse_record(raw: bytes) -> tuple[str, str | None, bool] | None:
    """An input's (name, content digest or None, whether it failed) from one ledger
    line; None for the mark of a resumed run. Lines as :class:`LineWriter` writes
    them are cut, not parsed (a ledger holds a line per input: millions)."""
    if raw.startswith(_RECORD_START) and raw.endswith(_RECORD_END) and b"\\" not in raw:
        if raw[-_DIGEST_TAIL:].startswith(_CONTENT_MARK):
            name = raw[len(_RECORD_START) : -_DIGEST_TAIL].decode("utf-8")
            digest = raw[-2 * DIGEST_BYTES - len(_RECORD_END) : -len(_RECORD_END)].decode()
            return name, digest, False
        if b'"' not in raw[len(_RECORD_START) : -len(_RECORD_END)]:  # a name without content
            return raw[len(_RECORD_START) : -len(_RECORD_END)].decode("utf-8"), None, False
    record = json.loads(raw)  # escaped characters, a failed input, or the mark of a resumed run
    if isinstance(record.get("failed"), str):
        # A source's unread rest is no input: never a head (Done.placed says so instead).
        return None if record.get("unread") else (record["failed"], None, True)
    name, content = record.get("input"), record.get("content")
    if name is None:
        return None
    return name, content if isinstance(content, str) else None, False


def _count_records(ledger: str) -> int:
    """The explained inputs' records: one per line of the output they vouch for."""
    return sum(1 for _, kind in _ledger_lines(ledger) if kind == _EXPLAINED)


def _segments(ledger: str, kept: int) -> tuple[list[tuple[int, int]], int, bool]:
    """The byte ranges of the ledger's segments holding its first ``kept`` explained
    inputs' records (and the failed inputs' among them), and the offset after the
    ``kept``-th (where the ledger is cut); and whether no source failed part way
    among them (see :attr:`Done.placed`)."""
    with open(ledger, "rb") as book:
        offset = len(book.readline())
    segments = [(offset, offset)]
    count = 0
    placed = True
    if kept:
        for raw, kind in _ledger_lines(ledger):
            placed = placed and kind != _UNREAD
            if kind == _MARK:
                segments.append((offset + len(raw), offset + len(raw)))
            offset += len(raw)
            if kind == _EXPLAINED:
                count += 1
                segments[-1] = (segments[-1][0], offset)
                if count == kept:
                    break
    return [s for s in segments if s[1] > s[0]], offset, placed


def _complete_lines(path: str, most: int) -> tuple[int, int]:
    """How many complete lines ``path`` starts with, up to ``most``, and the offset
    after them (a last line without its newline is half-written)."""
    count = offset = 0
    with open(path, "rb") as out:
        for raw in out:
            if count == most or not raw.endswith(b"\n"):
                break
            offset += len(raw)
            count += 1
    return count, offset


#: Failed inputs held before a run's first explanation opens its files, at most.
_HELD_FAILURES = 10_000
#: The ledger record that starts the records of a resumed run.
RESUMED = {"resumed": True}


def ended_with_failures(path: str) -> int | None:
    """How many inputs failed in the run that wrote ``path``, when it ended and kept
    its ledger for them (the ledger's last line says so); None when its ledger is
    a stopped run's (or there is none). Reads the ledger's last bytes only."""
    try:
        with open(ledger_path(path), "rb") as book:
            book.seek(0, os.SEEK_END)
            book.seek(max(0, book.tell() - 256))
            last = book.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        record = json.loads(last)
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("ended") is True:
        failed = record.get("failed")
        return failed if isinstance(failed, int) else 0
    return None


class LineWriter:
    """Writes one explanation per line to ``path`` as each arrives, with its ledger.

    The files are opened at the first explanation (a run that explains
    nothing leaves no file: one whose failures opened them, see
    :data:`_HELD_FAILURES`, removes them when it finishes); ``append``
    continues a resumed file. Each line is flushed before its ledger record,
    so the ledger never vouches for a line that is not there. ``key`` None: no
    ledger (not resumable). ``keep_ledger`` (the command was given ``--resume``):
    a finished run keeps its ledger too, ended by ``{"ended": true, "failed": 0}``,
    so that a later ``--resume`` checks every setting and explains the inputs
    added since (a CSV that grew) instead of calling the file done.
    """

    def __init__(
        self,
        path: str,
        key: str | None,
        seed: int | None,
        append: bool,
        keep_ledger: bool = False,
        cut: tuple[int, int] | None = None,
        locked: bool = False,
    ) -> None:
        self.path = path
        # A device or a pipe (/dev/full, a named pipe, or a link to one) cannot be
        # resumed: it gets no ledger (which would land beside the device).
        self.key = key if not os.path.exists(path) or os.path.isfile(path) else None
        # Resolved once: a symlinked output's ledger is its target's (see ledger_path),
        # also after the link itself was removed.
        self._ledger_path = ledger_path(path)
        self.seed = seed
        self.append = append
        self.keep_ledger = keep_ledger
        self.cut = cut
        self.locked = locked
        self._out: IO[str] | None = None
        self._ledger: IO[str] | None = None
        self._failed: list[dict[str, Any]] = []  # failed inputs' records, until files open
        self._lines = 0  # explanations this run wrote
        self._broken = False  # a write failed (said once; closing may fail the same way)
        self.failures = 0  # inputs that failed in this run
        self.kept_for_failures = False  # closed finished, its ledger kept for them

    @property
    def opened(self) -> bool:
        """Whether this run opened (and so may have cut and written) the files."""
        return self._out is not None or self._ledger is not None

    @property
    def holds_lines(self) -> bool:
        """Whether the output has explanations (this run's, or a resumed run's)."""
        return bool(self._lines) or (self.append and self.key is not None)

    def write(self, line: str, name: str, content: str | None = None) -> None:
        """Write one explanation's ``line``, then its input's record: ``name`` and
        ``content``, its :func:`content_digest` (None: the record has none)."""
        if self._out is None:
            self._open()
        assert self._out is not None
        try:
            self._out.write(line + "\n")
            self._out.flush()
        except OSError as exc:
            raise self._cannot_write(exc) from None
        self._lines += 1
        self._record({"input": name} if content is None else {"input": name, "content": content})

    def write_failure(self, name: str, unread: bool = False) -> None:
        """Record that input ``name`` failed (no line in the output), so a resume knows
        the run met it; ``unread``: the failure is a source's rest, never read. Held
        until the first explanation opens the files (a run that explains nothing
        leaves none), unless many pile up."""
        record = {"failed": name, "unread": True} if unread else {"failed": name}
        self.failures += 1
        if self._ledger is None and self.key is not None:
            self._failed.append(record)
            if len(self._failed) >= _HELD_FAILURES:
                self._open()  # writes the held names, this one the last
            return
        self._record(record)

    def _record(self, record: dict[str, Any], flush: bool = True) -> None:
        """One ledger line (none without a ledger)."""
        if self._ledger is not None:
            try:
                self._ledger.write(json.dumps(record, ensure_ascii=False) + "\n")
                if flush:
                    self._ledger.flush()
            except OSError as exc:
                raise self._cannot_write(exc, self._ledger_path) from None

    def _cannot_write(self, exc: OSError, path: str | None = None) -> OutputError:
        """The error for a write that failed (a full disk, a file size limit): exit 3,
        the lines before it kept for ``--resume`` when there is a ledger. The
        files' buffers are dropped, so closing them does not fail again."""
        self._broken = True
        where = path or self.path
        reason = exc.strerror or str(exc)
        if not self._lines and not self.append:
            self._discard()  # nothing kept: no files that ask for a --resume
        if self.key is None or not self.holds_lines:
            return OutputError(f"{where}: cannot write: {reason}")
        return OutputError(
            f"{where}: cannot write: {reason}; the explanations written before are kept, "
            "and the same command with --resume goes on from them"
        )

    def _discard(self) -> None:
        """Close and remove the files this run made before it wrote a line (a write
        failed): a ledger with no line to vouch for would only ask for a --resume
        that has nothing to go on from."""
        for handle in (self._out, self._ledger):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        for name in (self.path, self._ledger_path):
            if os.path.isfile(name) and not os.path.islink(name):
                with contextlib.suppress(OSError):
                    os.unlink(name)

    def _open(self, mark_resumed: bool = True) -> None:
        """Open (and lock) the files; ``mark_resumed=False``: a resumed run that
        adds only its ended mark writes no ``{"resumed": true}`` before it."""
        try:
            if self.key is not None:
                # Opened without truncating, and locked for the run, before either file
                # is cut: a run still going that holds it is refused, not overwritten.
                ledger = open(self._ledger_path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115
                try:
                    if not self.locked:  # (a resume holds the lock from its start)
                        _lock(ledger, self.path)
                except UsageError:
                    ledger.close()
                    raise
                if not self.append:
                    ledger.truncate(0)
                elif self.cut is not None:
                    self._cut_to(self.cut, ledger)
                self._ledger = ledger
            self._out = open(self.path, "a" if self.append else "w", encoding="utf-8", newline="\n")
            if self._ledger is not None:
                if self.append:  # this run's records: a segment of their own (see Done)
                    if mark_resumed:
                        self._record(RESUMED, flush=False)
                else:
                    header = {
                        "lime_explain_resume": LEDGER_VERSION,
                        "settings": self.key,
                        "seed": self.seed,
                        **({"parts": self.key.parts} if isinstance(self.key, SettingsKey) else {}),
                    }
                    self._record(header, flush=False)
                held, self._failed = self._failed, []
                for failure in held:
                    self._record(failure, flush=False)
                # On disk before the first line: a line that cannot be written
                # must not leave a ledger without its header.
                try:
                    self._ledger.flush()
                except OSError as exc:
                    raise self._cannot_write(exc, self._ledger_path) from None
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write: {exc.strerror or exc}") from None

    def _cut_to(self, sizes: tuple[int, int], ledger: IO[str]) -> None:
        """A resumed run's first write: the output cut after the last line its
        ledger vouches for (a half-written line goes), the ledger where
        :func:`continue_from` says (after that line's record, unless only failed
        inputs' records and marks follow it). Not before: a resume that adds
        nothing changes neither file."""
        out_size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
        if out_size < sizes[0] or os.path.getsize(self._ledger_path) < sizes[1]:
            # Shorter than when this run read them: cut by hand meanwhile.
            raise OutputError(f"{self.path}: changed while this run read it; --resume again")
        if out_size != sizes[0]:
            os.truncate(self.path, sizes[0])
        if os.path.getsize(self._ledger_path) != sizes[1]:
            ledger.truncate(sizes[1])

    def close(self, finished: bool) -> None:
        """Close the files; a finished run's ledger is removed (nothing to resume),
        and so is an output it made and wrote nothing to (its inputs all failed,
        more of them than :data:`_HELD_FAILURES`): as when there were fewer.

        A finished run whose inputs failed keeps its ledger, ended by
        ``{"ended": true, "failed": N}``: ``--resume`` then tries exactly those
        inputs again (explained at the end of the file if they read now), as
        after a stop; without the ledger it could only call the file done. So
        does one given ``keep_ledger`` (``N`` 0), for inputs added later.
        """
        keeps = self.failures or self.keep_ledger
        if finished and keeps and self.key is not None and self.holds_lines:
            # A resumed run that added nothing to a ledger already ended so: both
            # files stay as they were, times and all.
            untouched = self._ledger is None and not self.failures
            if not (untouched and ended_with_failures(self.path) == 0):
                if self._ledger is None:  # a resumed run that added no line
                    # Its failures follow a mark of their own; an ended mark alone, none.
                    self._open(mark_resumed=bool(self.failures))
                self._record({"ended": True, "failed": self.failures})
            self.kept_for_failures = bool(self.failures)
            finished = False  # the ledger stays
        for handle in (self._out, self._ledger):
            if handle is not None:
                if handle is self._ledger and finished:
                    # Removed while still locked: a --resume that opened it meanwhile
                    # finds, once it has the lock, that the file is gone.
                    os.unlink(self._ledger_path)
                try:
                    handle.close()
                except OSError as exc:
                    if not self._broken:  # else already said: the same failure again
                        raise self._cannot_write(exc) from None
        made_empty = self._out is not None and not self.append and not self._lines
        if finished and made_empty and os.path.isfile(self.path) and not os.path.islink(self.path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        if finished and self._ledger is None and self.key is not None and self.append:
            # resumed with nothing left to write: the ledger is done with too
            try:
                os.unlink(self._ledger_path)
            except FileNotFoundError:
                pass
