"""A toy output format for tests/test_registries.py: one line per explanation."""

from __future__ import annotations

import click

from lime_cli.output import atomic_write_text


def line(explanation) -> str:
    label = explanation.explanations[0]
    top = label.features[0].feature if label.features else "-"
    return f"{explanation.input.get('name')}\t{label.label}\t{top}"


def write(path: str, explanations) -> None:
    atomic_write_text(path, "".join(line(e) + "\n" for e in explanations))


def stream(explanation, quiet: bool) -> None:
    click.echo("TOY " + line(explanation))
