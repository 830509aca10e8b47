"""``lime-explain text``: which words made a text classifier decide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from lime_cli.commands.common import (
    ModelSpec,
    OutputPlan,
    build_rules,
    check_options,
    expand_sources,
    explain_each,
    guarded,
    jobs_option,
    json_writers,
    lime_options,
    model_options,
    output_options,
    progress_bar,
    resolve_seed,
    rng_for,
    split_names,
)
from lime_cli.errors import InputError, UsageError

DEFAULT_MAX_FEATURES = 100_000
#: Files taken from a directory argument.
TEXT_SUFFIXES = (".txt", ".text", "")


@click.command(
    epilog="Examples:\n\n\b\n  lime-explain text --model rf.joblib --input post.txt\n"
    "  lime-explain text --model rf.joblib a.txt b.txt --format json\n"
    "  cat post.txt | lime-explain text --model rf.skops - --top-labels 2"
)
@click.argument("files", nargs=-1, metavar="[FILE|DIR|-]...")
@click.option(
    "--input",
    "input_files",
    multiple=True,
    metavar="FILE",
    help="Document to explain (repeatable; '-' reads stdin). Positional FILEs work too.",
)
@model_options
@lime_options()
@click.option(
    "--split-expression",
    default=r"\W+",
    show_default=True,
    metavar="REGEX",
    help="Regular expression that separates words (case-sensitive, as lime).",
)
@click.option(
    "--bow/--no-bow",
    default=True,
    show_default=True,
    help="Bag of words (a removed word disappears everywhere) or positional words "
    "(each occurrence is a feature, replaced by --mask-token).",
)
@click.option("--char-level", is_flag=True, help="Characters instead of words as features.")
@click.option(
    "--mask-token",
    metavar="TOKEN",
    help="Replacement for removed words with --no-bow (default UNKWORDZ; NUL for --char-level).",
)
@click.option(
    "--max-features",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_FEATURES,
    show_default=True,
    help="Refuse documents with more distinct features than this.",
)
@click.option(
    "--lines",
    is_flag=True,
    help="Each non-empty line of each input (or of stdin) is a separate document.",
)
@jobs_option
@check_options
@output_options([".json", ".jsonl"])
def text(
    files: tuple[str, ...],
    input_files: tuple[str, ...],
    model_path: str,
    model_format: str | None,
    mode: str | None,
    class_names: str | None,
    trust_model: bool,
    trust_modules: tuple[str, ...],
    label_names: tuple[str, ...],
    top_labels: int | None,
    num_samples: int,
    num_features: int,
    feature_selection: str,
    kernel_width: float | None,
    batch_size: int | None,
    seed: int | None,
    split_expression: str,
    bow: bool,
    char_level: bool,
    mask_token: str | None,
    max_features: int,
    lines: bool,
    jobs: int,
    forbid: tuple[str, ...],
    require: tuple[str, ...],
    within: int | None,
    min_score: float | None,
    max_weight: tuple[str, ...],
    rules_file: str | None,
    junit_path: str | None,
    fmt: str,
    outs: tuple[str, ...],
    quiet: bool,
    debug: bool,
) -> None:
    """Explain a text classifier's prediction for each document.

    Words are removed at random from the document, the model is asked about
    each perturbed copy, and a weighted linear model shows which words pushed
    the prediction towards (positive) or away from (negative) each class.
    """

    def body() -> int:
        from lime_cli.engine import LabelRequest, LimeParams

        sources = expand_sources(list(input_files) + list(files), suffixes=TEXT_SUFFIXES)
        if not sources:
            raise UsageError("no document given: use --input FILE, FILE arguments, or - for stdin")
        if sources.count("-") > 1:
            raise UsageError("stdin ('-') can be read only once")
        if label_names and top_labels:
            raise UsageError("--labels and --top-labels cannot be used together")
        rules = build_rules(forbid, require, within, min_score, max_weight, rules_file)
        plan = OutputPlan(fmt, outs, quiet, json_writers(), rules=rules, junit=junit_path)
        plan.validate()
        params = LimeParams(
            num_samples=num_samples,
            num_features=num_features,
            feature_selection=feature_selection,
            kernel_width=kernel_width,
            batch_size=batch_size,
            seed=resolve_seed(seed),
        )
        params.validate()
        names = split_names(class_names)
        spec = ModelSpec(
            model_path,
            fmt=model_format,
            mode=mode,
            class_names=tuple(names) if names else None,
            trust_model=trust_model,
            trusted_modules=trust_modules,
        )
        spec.load()  # fail fast (exit 4) before reading any input
        documents = read_documents(sources, lines)
        task = TextTask(
            spec,
            LabelRequest(tuple(label_names), top_labels),
            params,
            dict(
                split_expression=split_expression,
                bow=bow,
                char_level=char_level,
                mask_token=mask_token,
                max_features=max_features,
            ),
            show_progress=not quiet and len(documents) == 1,
        )
        return explain_each(documents, task, plan, debug, jobs=jobs, name_of=lambda d: d.name)

    guarded(debug, body)


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
