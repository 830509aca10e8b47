"""``lime-explain text``: which words made a text classifier decide."""

from __future__ import annotations

import click

from lime_cli.commands.common import (
    OutputPlan,
    explain_each,
    guarded,
    json_writers,
    lime_options,
    model_options,
    output_options,
    progress_bar,
    resolve_seed,
    rng_for,
    split_names,
)
from lime_cli.errors import UsageError

DEFAULT_MAX_FEATURES = 100_000


@click.command(
    epilog="Examples:\n\n\b\n  lime-explain text --model rf.joblib --input post.txt\n"
    "  lime-explain text --model rf.joblib a.txt b.txt --format json\n"
    "  cat post.txt | lime-explain text --model rf.skops - --top-labels 2"
)
@click.argument("files", nargs=-1, metavar="[FILE]...")
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
    batch_size: int,
    seed: int | None,
    split_expression: str,
    bow: bool,
    char_level: bool,
    mask_token: str | None,
    max_features: int,
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
        from lime_cli.domains.text import TextDomain
        from lime_cli.engine import LabelRequest, LimeParams, explain
        from lime_cli.inputs import read_text
        from lime_cli.models import load_model

        sources = list(input_files) + list(files)
        if not sources:
            raise UsageError("no document given: use --input FILE, FILE arguments, or - for stdin")
        if sources.count("-") > 1:
            raise UsageError("stdin ('-') can be read only once")
        if label_names and top_labels:
            raise UsageError("--labels and --top-labels cannot be used together")
        plan = OutputPlan(fmt, outs, quiet, json_writers())
        plan.validate()
        run_seed = resolve_seed(seed)
        params = LimeParams(
            num_samples=num_samples,
            num_features=num_features,
            feature_selection=feature_selection,
            kernel_width=kernel_width,
            batch_size=batch_size,
            seed=run_seed,
        )
        params.validate()
        model = load_model(
            model_path,
            fmt=model_format,
            mode=mode,
            class_names=split_names(class_names),
            trust_model=trust_model,
            trusted_modules=trust_modules,
        )
        labels = LabelRequest(tuple(label_names), top_labels)

        def explain_one(source: str):  # noqa: ANN202 - returns an Explanation
            content = read_text(source)
            domain = TextDomain(
                content,
                name="stdin" if source == "-" else source,
                split_expression=split_expression,
                bow=bow,
                char_level=char_level,
                mask_token=mask_token,
                max_features=max_features,
            )
            rng = rng_for(run_seed, content.encode("utf-8"))
            with progress_bar(f"explaining {domain.name}", not quiet) as progress:
                return explain(domain, model, labels, params, rng, progress)

        return explain_each(sources, explain_one, plan, debug)

    guarded(debug, body)
