"""The explain command of each modality (``lime-explain text|image|tabular``)."""

from __future__ import annotations

from typing import Any

import click

from lime_cli.run.guard import guarded
from lime_cli.run.loop import run_job
from lime_cli.run.modality import Modality
from lime_cli.run.options import (
    check_options,
    jobs_option,
    lime_options,
    model_options,
    output_options,
    with_help,
)
from lime_cli.run.outputs import OutputPlan
from lime_cli.run.settings import settings_from


def make_command(modality: Modality) -> click.Command:
    """The ``lime-explain NAME`` command: the modality's inputs plus the shared options."""

    def command(**options: Any) -> None:
        def body() -> int:
            settings = settings_from(options)
            plan = OutputPlan.build(options, modality.formats)
            job = modality.prepare(settings, options)
            return run_job(settings, job, plan).code

        guarded(bool(options.get("debug")), body)

    for decorate in reversed(
        [
            modality.inputs,
            model_options,
            lime_options(**modality.lime_defaults()),
            jobs_option,
            check_options,
            output_options(modality.formats),
        ]
    ):
        command = decorate(command)
    built = click.command(name=modality.name, help=modality.help, epilog=modality.epilog)(command)
    return with_help(built, modality.option_help)
