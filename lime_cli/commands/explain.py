"""The explain command of each modality (``lime-explain text|image|tabular``)."""

from __future__ import annotations

from typing import Any

import click

from lime_cli.run.guard import guarded
from lime_cli.run.loop import replay_finished, run_job
from lime_cli.run.modality import Modality
from lime_cli.run.options import (
    check_options,
    jobs_option,
    lime_options,
    model_options,
    output_options,
    resume_option,
    with_help,
)
from lime_cli.run.outputs import OutputPlan
from lime_cli.run.resume import (
    Progress,
    SettingsKey,
    check_finished,
    continue_from,
    ledger_path,
    saved_seed,
    settings_key,
)
from lime_cli.run.settings import Settings, settings_from


def make_command(modality: Modality) -> click.Command:
    """The ``lime-explain NAME`` command: the modality's inputs plus the shared options."""

    def command(**options: Any) -> None:
        def body() -> int:
            resume = bool(options.pop("resume", False))
            given_seed = options.get("seed")
            settings = settings_from(options)
            plan = OutputPlan.build(options, modality.formats)
            progress = None
            if resume:
                settings, progress = _resuming(modality, settings, plan, options, given_seed)
                if progress.finished:
                    return replay_finished(settings, plan)
            else:
                _refuse_to_overwrite_a_stopped_run(plan)
            try:
                # Only a JSON Lines output has a ledger to keep the key in (the key
                # reads every file that shapes the explanations).
                key = _key(modality, settings, options) if plan.streamed() else None
                job = modality.prepare(settings, options)
                return run_job(settings, job, plan, key=key, resumed=progress, keep=False).code
            finally:
                if progress is not None:
                    progress.release()  # the ledger's lock, held since _resuming

        guarded(bool(options.get("debug")), body)

    for decorate in reversed(
        [
            modality.inputs,
            model_options,
            lime_options(**modality.lime_defaults()),
            jobs_option,
            resume_option,
            check_options,
            output_options(modality.formats),
        ]
    ):
        command = decorate(command)
    built = click.command(name=modality.name, help=modality.help, epilog=modality.epilog)(command)
    return with_help(built, modality.option_help)


def _refuse_to_overwrite_a_stopped_run(plan: OutputPlan) -> None:
    """Exit 2 rather than start over on top of a stopped run's output (its work
    would be lost): the user goes on with ``--resume`` or removes the files."""
    import os

    from lime_cli.errors import UsageError
    from lime_cli.run.resume import ended_with_failures, is_ledger, not_a_ledger, refuse_if_running

    for path in plan.streamed():
        if os.path.exists(ledger_path(path)):
            refuse_if_running(path)
            if ended_with_failures(path) is not None:
                continue  # a run that ended: overwritten, as a finished run's output is
            if not is_ledger(path):
                raise not_a_ledger(path)  # what --resume would say: not "add --resume"
            raise UsageError(
                f"{path} holds a stopped run ({ledger_path(path)} is beside it): add --resume "
                "to go on with it, or remove both files to start over"
            )


def _resuming(
    modality: Modality,
    settings: Settings,
    plan: OutputPlan,
    options: dict[str, Any],
    seed: int | None,
) -> tuple[Settings, Progress]:
    """The settings to go on with (the stopped run's seed unless --seed is given) and
    what is done already; exit 2 without exactly one JSON Lines --out."""
    import dataclasses
    import os

    from lime_cli.errors import UsageError

    streamed = plan.streamed()
    if len(streamed) > 1:  # each has a ledger of its own: each goes on by itself
        raise UsageError(
            "--resume goes on with one --out FILE.jsonl at a time: resume "
            f"{' and '.join(streamed)} each with a command of its own"
        )
    if len(streamed) != 1:
        raise UsageError("--resume needs one --out FILE.jsonl (the output to go on with)")
    path = streamed[0]
    if os.path.exists(path) and not os.path.isfile(path):
        raise UsageError(f"--resume needs --out to be a file: {path} is not a regular file")
    saved = saved_seed(path)
    if seed is None and saved is not None:
        params = dataclasses.replace(settings.params, seed=saved)
        settings = dataclasses.replace(settings, params=params)
    key = _key(modality, settings, options)
    progress = continue_from(path, key)
    if progress.finished:  # said even with --quiet: the only sign nothing was done
        count = check_finished(path, modality.name, settings, seed_given=seed is not None)
        click.echo(
            # Only the missing ledger says the run ended: its lines are not counted
            # against the inputs (a ledger removed by hand looks the same).
            f"lime-explain: {path} has {count} explanation{'s' * (count != 1)} and no "
            f"{ledger_path(path)}, so the run that wrote it ended: nothing to do (inputs "
            "added since are not looked for: a run given --resume keeps its ledger for that)",
            err=True,
        )
    return settings, progress


def _key(modality: Modality, settings: Settings, options: dict[str, Any]) -> SettingsKey:
    """The settings' hash of this command (see :func:`~lime_cli.run.resume.settings_key`)."""
    return settings_key(
        modality.name, settings, options, modality.shaping_files,
        modality.files_implied(options, settings.spec),
    )  # fmt: skip
