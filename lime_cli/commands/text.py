"""``lime-explain text``: which words made a text classifier decide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from lime_cli.commands.common import (
    F,
    Job,
    ModelSpec,
    Settings,
    check_options,
    expand_sources,
    guarded,
    jobs_option,
    json_writers,
    lime_options,
    model_options,
    output_options,
    progress_bar,
    rng_for,
    run_job,
    settings_from,
)
from lime_cli.errors import InputError, UsageError

DEFAULT_MAX_FEATURES = 100_000
#: Files taken from a directory argument.
TEXT_SUFFIXES = (".txt", ".text", "")


def text_inputs(func: F) -> F:
    """The documents and how they are split into features."""
    options = [
        click.argument("files", nargs=-1, metavar="[FILE|DIR|-]..."),
        click.option("--input", "input_files", multiple=True, metavar="FILE",
                     help="Document to explain (repeatable; '-' reads stdin). "
                          "Positional FILEs and directories work too."),
        click.option("--lines", is_flag=True,
                     help="Each non-empty line of each input (or stdin) is a separate document."),
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
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def prepare_text(settings: Settings, options: dict[str, Any]) -> Job:
    """Read the documents and build the task that explains one of them."""
    sources = expand_sources(
        list(options["input_files"]) + list(options["files"]), suffixes=TEXT_SUFFIXES
    )
    if not sources:
        raise UsageError("no document given: use --input FILE, FILE arguments, or - for stdin")
    if sources.count("-") > 1:
        raise UsageError("stdin ('-') can be read only once")
    settings.spec.load()  # fail fast (exit 4) before reading any input
    documents = read_documents(sources, options["lines"])
    task = TextTask(
        settings.spec,
        settings.labels,
        settings.params,
        {
            key: options[key]
            for key in ("split_expression", "bow", "char_level", "mask_token", "max_features")
        },
        show_progress=not settings.quiet and len(documents) == 1,
    )
    return Job(documents, task, name_of=lambda d: d.name)


@click.command(
    epilog="Examples:\n\n\b\n  lime-explain text --model rf.joblib --input post.txt\n"
    "  lime-explain text --model rf.joblib a.txt b.txt --format json\n"
    "  cat post.txt | lime-explain text --model rf.skops - --top-labels 2\n"
    "  lime-explain text --model rf.joblib posts/ --forbid posting --junit checks.xml"
)
@text_inputs
@model_options
@lime_options()
@jobs_option
@check_options
@output_options([".json", ".jsonl"])
def text(**options: Any) -> None:
    """Explain a text classifier's prediction for each document.

    Words are removed at random from the document, the model is asked about
    each perturbed copy, and a weighted linear model shows which words pushed
    the prediction towards (positive) or away from (negative) each class.
    """

    def body() -> int:
        settings = settings_from(options, json_writers())
        return run_job(settings, prepare_text(settings, options))

    guarded(bool(options.get("debug")), body)


@dataclass(frozen=True)
class Document:
    """One text to explain: where it came from, and its content or the error reading it."""

    name: str
    text: str | None
    error: InputError | None = None


def read_documents(sources: list[str], lines: bool) -> list[Document]:
    """Read every source; a source that cannot be read becomes a failed document."""
    from lime_cli.inputs import read_text

    documents: list[Document] = []
    for source in sources:
        name = "stdin" if source == "-" else source
        try:
            content = read_text(source)
        except InputError as exc:
            documents.append(Document(name, None, exc))
            continue
        if not lines:
            documents.append(Document(name, content))
            continue
        for number, line in enumerate(content.splitlines(), start=1):
            if line.strip():
                documents.append(Document(f"{name}:{number}", line))
    return documents


@dataclass(frozen=True)
class TextTask:
    """Explains one document; picklable so --jobs can run it in worker processes."""

    model: ModelSpec
    labels: Any
    params: Any
    domain_options: dict[str, Any]
    show_progress: bool = False

    def __call__(self, document: Document) -> Any:
        from lime_cli.domains.text import TextDomain
        from lime_cli.engine import explain

        if document.error is not None:
            raise document.error
        assert document.text is not None
        domain = TextDomain(document.text, name=document.name, **self.domain_options)
        rng = rng_for(self.params.seed, document.text.encode("utf-8"))
        with progress_bar(f"explaining {document.name}", self.show_progress) as progress:
            return explain(domain, self.model.load(), self.labels, self.params, rng, progress)
