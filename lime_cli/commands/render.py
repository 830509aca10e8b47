"""``lime-explain render``: draw saved explanations again, without the model."""

from __future__ import annotations

from typing import Any

import click

from lime_cli.run.guard import guarded


@click.command(
    epilog="Examples:\n\n\b\n"
    "  lime-explain image --model net.onnx cat.jpg --out cat.json\n"
    "  lime-explain render cat.json --out cat.png --out heatmap:cat_heat.png\n"
    "  lime-explain render runs.jsonl --format table\n"
    "  lime-explain render text.jsonl image.json rows.jsonl --out report.html\n"
)
@click.argument("sources", nargs=-1, required=True, metavar="EXPLANATION.json|.jsonl|-...")
@click.option(
    "--out",
    "outs",
    multiple=True,
    metavar="PATH",
    help="Write to PATH; its extension picks the format (any format the explanations' "
    "modality writes), or NAME:PATH names it (heatmap:h.png). Repeatable.",
)
@click.option(
    "--format",
    "fmt",
    default="table",
    show_default=True,
    metavar="NAME",
    help="What stdout shows (table, json, or any stream format registered).",
)
@click.option("--quiet", "-q", is_flag=True, help="Nothing on stdout (files only).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def render(**options: Any) -> None:
    """Draw saved explanations (JSON or JSON Lines) to stdout and files.

    Every output an explanation run (text, image, tabular) writes can be
    made again from its JSON (pick and compare reports are their own): the
    explanation carries what a renderer needs (a document's text, an image's
    picture and superpixels, a row's values), so neither the model nor the
    original input is needed. Explanations of several modalities can share
    one report (.html, .md, .json); a modality's own files (an image's .png,
    .npy, heatmap) need explanations of that modality only.
    """

    def body() -> int:
        from lime_cli.errors import InputError
        from lime_cli.explanation import read_explanations
        from lime_cli.modalities import MODALITIES, load
        from lime_cli.run.outputs import OutputPlan

        sources = options.pop("sources")
        explanations = [e for source in sources for e in read_explanations(source)]
        if not explanations:
            raise InputError(f"{', '.join(sources)}: no explanation to draw")
        kinds = sorted({e.modality for e in explanations})
        # Several modalities (one report of text, image and tabular runs): the formats
        # every modality shares (json, html, md, charts), not one modality's own.
        one = len(kinds) == 1 and kinds[0] in MODALITIES
        formats = load(kinds[0]).formats if one else ()
        plan = OutputPlan.build(options, formats)
        for explanation in explanations:
            plan.emit(explanation)
        plan.write_files(explanations)
        return 0

    guarded(bool(options.get("debug")), body)
