"""``lime-explain text``: which words made a text classifier decide.

The modality's options, reading documents, and the task that explains one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import click

from lime_cli.errors import ModelError, UsageError
from lime_cli.inputs import expand_sources
from lime_cli.run.executor import Outcome, PerItemTask
from lime_cli.run.loop import Job
from lime_cli.run.modality import Modality, is_onnx
from lime_cli.run.options import F
from lime_cli.run.progress import progress_bar
from lime_cli.run.settings import ModelSpec, Settings
from lime_cli.text.reading import Document

DEFAULT_MAX_FEATURES = 100_000
#: Longest document explained by default: a 10 MB line passes, a file of
#: gigabytes is refused before it is read (explaining takes up to about 80 bytes
#: of memory per character, whatever the number of samples).
DEFAULT_MAX_CHARACTERS = 20_000_000
#: Files taken from a directory argument ("": no extension).
TEXT_SUFFIXES = (".txt", ".text", ".md", ".markdown", "")
#: The same, as --help and the skipped-files warning say it.
FOLDER_FILES = ".txt, .text, .md, .markdown and extension-less files"


def text_inputs(func: F) -> F:
    """The documents and how they are split into features."""
    options = [
        click.argument("files", nargs=-1, metavar="[FILE|DIR|-]..."),
        click.option("--input", "input_files", multiple=True, metavar="FILE",
                     help="Document to explain (repeatable; '-' reads stdin). "
                          "Positional FILEs and directories work too: a directory gives its "
                          f"{FOLDER_FILES} (sorted; others are skipped with a warning)."),
        click.option("--lines", is_flag=True,
                     help="Each non-empty line of each input (or stdin) is a separate document "
                          "(lines end at \\n or \\r\\n only)."),
        click.option("--encoding", default="utf-8", show_default=True, metavar="NAME",
                     help="Encoding of the documents (files and stdin): a Python codec name "
                          "such as latin-1, cp1252 or utf-16."),
        click.option("--errors", "decode_errors", type=click.Choice(["strict", "replace"]),
                     default="strict", show_default=True,
                     help="Bytes the encoding cannot decode: strict refuses the document "
                          "(exit 3, naming the byte's offset); replace makes them U+FFFD "
                          "(reported in the JSON's input)."),
        click.option("--split-expression", default=r"\W+", show_default=True, metavar="REGEX",
                     help="Regular expression that separates words (case-sensitive, as lime)."),
        click.option("--bow/--no-bow", default=True, show_default=True,
                     help="Bag of words (a removed word disappears everywhere) or positional "
                          "words (each occurrence is a feature, replaced by --mask-token)."),
        click.option("--char-level", is_flag=True, help="Characters instead of words as features."),
        click.option("--mask-token", metavar="TOKEN",
                     help="Replacement for removed words with --no-bow (default UNKWORDZ; NUL "
                          "for --char-level)."),
        click.option("--max-features", type=click.IntRange(min=1), default=DEFAULT_MAX_FEATURES,
                     show_default=True,
                     help="Refuse documents with more distinct features than this."),
        click.option("--max-characters", type=click.IntRange(min=1),
                     default=DEFAULT_MAX_CHARACTERS, show_default=True,
                     help="Refuse documents longer than this (explaining takes up to about 80 "
                          "bytes of memory per character)."),
        click.option("--tokenizer", metavar="FILE",
                     help="ONNX models that take token ids: the Hugging Face tokenizer.json "
                          "(default: MODEL.tokenizer.json or tokenizer.json beside the model)."),
        click.option("--max-length", type=click.IntRange(min=2), metavar="N",
                     help="ONNX token models: tokens read per document (default: the model's, "
                          "MODEL.json's, the tokenizer's, or 512); longer documents are cut "
                          "with a warning."),
        click.option("--output", "output_kind",
                     type=click.Choice(("probabilities", "logits", "auto")),
                     help="ONNX output: probabilities, or logits (softmax applied); auto "
                          "decides from the values (default)."),
        click.option("--class-names-file", metavar="FILE",
                     help="ONNX models: class names, one per line or a JSON list (default: "
                          "MODEL.json's, or config.json's id2label beside the model)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def prepare_text(settings: Settings, options: dict[str, Any]) -> Job:
    """Read the documents and build the task that explains one of them."""
    given = list(options["input_files"]) + list(options["files"])
    sources = expand_sources(given, suffixes=TEXT_SUFFIXES)
    skipped = skipped_files(given)
    if not sources:
        raise UsageError(
            "no document given: use --input FILE, FILE arguments, or - for stdin"
            + "".join(f" ({line})" for line in skipped)
        )
    for line in skipped:
        click.echo(f"lime-explain: warning: {line}", err=True)
    if sources.count("-") > 1:
        raise UsageError("stdin ('-') can be read only once")
    encoding = text_encoding(options["encoding"])
    spec = model_spec(settings, options)
    refuse_other_models(spec)  # fail fast (exit 4) before reading any input
    documents = read_documents(
        sources,
        options["lines"],
        options["max_characters"],
        encoding=encoding,
        errors=options["decode_errors"],
    )
    one = isinstance(documents, list) and len(documents) == 1
    reading = {"encoding": encoding}
    if options["decode_errors"] != "strict":
        reading["decode_errors"] = options["decode_errors"]
    domain_keys = (
        "split_expression", "bow", "char_level", "mask_token", "max_features", "max_characters",
    )  # fmt: skip
    task = TextTask(
        spec,
        settings.labels,
        settings.params,
        {key: options[key] for key in domain_keys},
        show_progress=not settings.quiet and one,
        reading=tuple(reading.items()),
    )
    return Job(documents, task, name_of=lambda d: d.name, content_of=document_content)


def document_content(document: Document) -> bytes | None:
    """A document's text as bytes, for the ``--resume`` ledger's digest (undecodable
    bytes kept as ``--decode-errors`` left them)."""
    if document.text is None:
        return None
    return document.text.encode("utf-8", "surrogatepass")


def skipped_files(sources: list[str]) -> list[str]:
    """A line for each directory whose files were not all taken as documents.

    Only files (and links to them) are named: an entry with a document's name
    is a document whatever it is (it fails as one, see
    :func:`lime_cli.inputs.folder_entries`), and a broken link, pipe or folder
    with another name is no document anyone missed.
    """
    import os

    from lime_cli.inputs import display_name, folder_names

    lines = []
    for folder in sources:
        if folder == "-" or not os.path.isdir(folder):
            continue
        skipped = [
            name
            for name in folder_names(folder)
            if os.path.isfile(os.path.join(folder, name))
            and os.path.splitext(name)[1].lower() not in TEXT_SUFFIXES
        ]
        if skipped:
            shown = ", ".join(display_name(n) for n in skipped[:3])
            more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
            lines.append(
                f"{display_name(folder)}: skipped {shown}{more}; "
                f"a directory gives only its {FOLDER_FILES}"
            )
    return lines


def text_encoding(name: str) -> str:
    """The canonical name of a text encoding Python knows; a usage error otherwise."""
    import codecs

    try:
        b"a".decode(name)  # refuses codecs that are not text encodings (rot13, base64)
    except UnicodeError:
        pass  # a text encoding in which one byte is not a character (UTF-16)
    except LookupError:
        raise UsageError(
            f"--encoding {name}: unknown text encoding; use a Python codec name such as "
            "utf-8, latin-1, cp1252 or utf-16"
        ) from None
    return codecs.lookup(name).name


#: The ONNX-only options and the model options they become.
ONNX_OPTIONS = {
    "tokenizer": "tokenizer",
    "max_length": "max_length",
    "output_kind": "output",
    "class_names_file": "class_names_file",
}


def model_spec(settings: Settings, options: dict[str, Any]) -> ModelSpec:
    """The model spec with the ONNX options (tokenizer, length, output) when the model is ONNX."""
    import dataclasses

    from lime_cli.models.loading import check_model_path, detect_format

    spec = settings.spec
    given = {key: options.get(flag) for flag, key in ONNX_OPTIONS.items()}
    given = {key: value for key, value in given.items() if value is not None}
    check_model_path(spec.path)
    fmt = spec.fmt or detect_format(spec.path)
    if fmt != "onnx":
        if given:
            flag = next(f for f, k in ONNX_OPTIONS.items() if k in given).replace("_kind", "")
            raise UsageError(f"--{flag.replace('_', '-')} applies to ONNX models only")
        return spec
    given["purpose"] = "text"
    if settings.params.batch_size:
        given["batch_size"] = settings.params.batch_size
    if settings.jobs > 1:
        given["threads"] = 1  # one thread per worker: the workers share the cores
    return dataclasses.replace(spec, fmt=fmt, options=tuple(sorted(given.items())))


def refuse_other_models(spec: ModelSpec) -> None:
    """Load the model; one that takes a table or an image cannot read documents.

    Says so in one line naming the right command, before any sampling.
    """
    model = spec.load()
    input_spec = model.input_spec
    if input_spec.kind in ("table", "array"):
        width = input_spec.shape[1] if input_spec.shape and len(input_spec.shape) == 2 else None
        columns = f" ({width} columns)" if width else ""
        pixels = input_spec.kind == "array" and model.describe().get("format") == "onnx"
        raise ModelError(
            f"{spec.path}: a tabular model: it takes rows of a table{columns}, not text; "
            "explain it with lime-explain tabular"
            + (" (or with the image command, if they are flattened pixels)" if pixels else "")
        )
    if input_spec.kind == "tensor":
        raise ModelError(
            f"{spec.path}: an image model: it takes a tensor of numbers, not text; "
            "explain it with lime-explain image"
        )


def read_documents(
    sources: list[str],
    lines: bool,
    max_characters: int | None = None,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
) -> list[Document] | Iterator[Document]:
    """The documents: one per source, or with ``lines`` one per non-blank line.

    Lines are read as the work goes (see :mod:`lime_cli.text.reading`), a
    chunk at a time. When they all fit in :data:`HEAD_CHARACTERS` they come
    back as a list (the progress bar then knows the count); otherwise as a
    stream of those read so far and the rest, read as they are needed.
    """
    from lime_cli.text import reading

    if not lines:
        return reading.read_documents(sources, max_characters, encoding=encoding, errors=errors)
    stream = reading.line_documents(sources, max_characters, encoding=encoding, errors=errors)
    head: list[Document] = []
    characters = 0
    for document in stream:
        head.append(document)
        characters += len(document.text or "") + 1
        if characters > HEAD_CHARACTERS:
            return itertools.chain(head, stream)
    return head


#: Characters of ``--lines`` documents read before the run starts: if that is all
#: of them they are a list of known length, otherwise they are read as the work goes.
HEAD_CHARACTERS = 1 << 20


@dataclass(frozen=True)
class TextTask(PerItemTask):
    """Explains one document at a time; picklable so --jobs can run it in worker processes."""

    domain_options: dict[str, Any]
    show_progress: bool = False
    #: How the documents were decoded, for the JSON's input: encoding, decode_errors.
    reading: tuple[tuple[str, str], ...] = ()

    @property
    def batch_size(self) -> int:
        """Documents per batch: as many as one stacked model call takes
        (:func:`lime_cli.text.stacked.documents_per_call`), else one."""
        from lime_cli.text.stacked import documents_per_call

        return documents_per_call(self.params)

    @property
    def share_size(self) -> int:
        """Documents per batch, at least, when processes share them: one (a
        document is a tenth of a second of work or more)."""
        return 1

    @property
    def stream_share_size(self) -> int:
        """Documents per batch of a stream of lines when processes share them: as
        many as share a model call (a stream is long: nothing to even out)."""
        return self.batch_size

    def explain_batch(self, documents: Sequence[Document]) -> list[Outcome]:
        """Every document's (explanation, None) or (None, error), in order; documents
        of a word-count pipeline share model calls (:mod:`lime_cli.text.stacked`)."""
        from lime_cli.text.stacked import explain_documents

        return explain_documents(self, documents)

    def explain_one(self, document: Document) -> Any:
        model = self.model.load()
        return self.explain_domain(document, self.domain_for(document, model), model)

    def domain_for(self, document: Document, model: Any) -> Any:
        """The document's domain, spliced for the model when it can be (raises its
        reading error)."""
        from lime_cli.text.domain import TextDomain
        from lime_cli.text.spliced import for_model

        if document.error is not None:
            raise document.error
        assert document.text is not None
        text_domain = TextDomain(document.text, name=document.name, **self.domain_options)
        # Token models may feed token ids spliced from the document's (same results).
        return for_model(text_domain, model)

    def document_rng(self, document: Document) -> Any:
        """The document's own random stream (from the seed and its text)."""
        assert document.text is not None
        return self.rng(document.text.encode("utf-8"))

    def explain_domain(self, document: Document, domain: Any, model: Any) -> Any:
        """Explain one document on its own: sample, predict, fit."""
        from lime_cli.engine import explain

        rng = self.document_rng(document)
        with progress_bar(f"explaining {document.name}", self.show_progress) as progress:
            explanation = explain(domain, model, self.labels, self.params, rng, progress)
        return self.finish(explanation, model, document)

    def finish(self, explanation: Any, model: Any, document: Document) -> Any:
        """What every document's explanation adds: how it was read, the model's notes."""
        explanation.input.update(self.reading)
        note = getattr(model, "input_note", None)  # e.g. tokens cut at the model's length
        if callable(note) and (warning := note(document.text)):
            explanation.warnings.append(warning)
        return explanation


def implied_files(options: dict[str, Any], model: ModelSpec) -> list[str]:
    """The files a text run reads without being named: for an ONNX model, its
    sidecar and what it leads to (see :func:`lime_cli.models.onnx_text.files_read`)."""
    from lime_cli.models.onnx_text import files_read

    if not is_onnx(model):
        return []
    return files_read(model.path, options.get("tokenizer"), model.class_names is not None)


MODALITY = Modality(
    name="text",
    help="""Explain a text classifier's prediction for each document.

    Words are removed at random from the document, the model is asked about
    each perturbed copy, and a weighted linear model shows which words pushed
    the prediction towards (positive) or away from (negative) each class.
    """,
    epilog="Examples:\n\n\b\n  lime-explain text --model rf.joblib --input post.txt\n"
    "  lime-explain text --model rf.joblib a.txt b.txt --format json\n"
    "  cat post.txt | lime-explain text --model rf.skops - --top-labels 2\n"
    "  lime-explain text --model rf.joblib posts/ --forbid posting --junit checks.xml\n"
    "  lime-explain text --model model.onnx --tokenizer tokenizer.json post.txt",
    inputs=text_inputs,
    prepare=prepare_text,
    shaping_files=("tokenizer", "class_names_file"),
    implied_files=implied_files,
)
