"""``lime-explain pick``: SP-LIME, a few representative explanations instead of thousands."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from lime_cli.commands.modalities import PerModalityGroup
from lime_cli.run.guard import guarded
from lime_cli.run.loop import run_job
from lime_cli.run.options import jobs_option, lime_options, model_options, output_options
from lime_cli.run.outputs import OutputPlan
from lime_cli.run.settings import rng_for, settings_from

if TYPE_CHECKING:
    from lime_cli.run.modality import Modality


def _make_pick(modality: Modality) -> click.Command:
    @click.command(name=modality.name)
    @modality.inputs
    @model_options
    @lime_options(**modality.lime_defaults())
    @click.option(
        "--budget",
        "-B",
        type=click.IntRange(min=1),
        required=True,
        help="How many explanations to pick.",
    )
    @click.option(
        "--sample",
        type=click.IntRange(min=1),
        metavar="N",
        help="Explain only N inputs drawn at random (seeded) from the given ones.",
    )
    @jobs_option
    @output_options(role="report_writer")
    def command(**options: Any) -> None:
        budget = options.pop("budget")
        sample = options.pop("sample")

        def body() -> int:
            from lime_cli.sp_lime import coverage, feature_matrix, greedy_pick

            settings = settings_from(options)
            plan = OutputPlan.build(options, role="report_writer")
            job = modality.prepare(settings, options)
            items = list(job.items)  # picking needs every explanation in memory anyway
            job = replace(job, items=items)
            if sample is not None and sample < len(items):
                rng = rng_for(settings.params.seed or 0, b"pick-sample")
                chosen = sorted(rng.choice(len(items), size=sample, replace=False))
                job = replace(job, items=[items[i] for i in chosen])
            result = run_job(settings, job, replace(plan, show=False))
            explanations = result.explanations
            if not explanations:
                return result.code
            matrix = feature_matrix(explanations)
            picked = greedy_pick(matrix, budget)
            covered = coverage(matrix, [i for i, _ in picked])
            report = pick_result(explanations, matrix, picked, covered, budget)
            picks = [explanations[i] for i, _ in picked]
            plan.write_report(report, lambda: _render(report, picks))
            return result.code

        guarded(bool(options.get("debug")), body)

    command.help = (
        f"Pick representative {modality.name} explanations (SP-LIME).\n\n"
        "Explains every input, ranks features by global importance "
        "I_j = sqrt(sum_i |W_ij|) and greedily picks --budget explanations that "
        "together cover the most important features without redundancy."
    )
    return command


@click.group(cls=PerModalityGroup, factory=_make_pick)
def pick() -> None:
    """Pick a few representative explanations (SP-LIME) from many inputs."""


def pick_result(
    explanations: list[Any],
    matrix: Any,
    picked: list[tuple[int, float]],
    covered: float,
    budget: int,
) -> dict[str, Any]:
    """The JSON document of a pick."""
    importance = matrix.importance()
    order = sorted(range(len(matrix.features)), key=lambda j: -importance[j])
    return {
        "schema_version": 1,
        "kind": "pick",
        "budget": budget,
        "picked_count": len(picked),
        "inputs_explained": len(explanations),
        "coverage": covered,
        "total_importance": float(importance.sum()),
        "importance": [
            {"feature": matrix.features[j], "importance": float(importance[j])} for j in order
        ],
        "picked": [
            {
                "input": explanations[i].input.get("name"),
                "gain": gain,
                "explanation": explanations[i].to_dict(),
            }
            for i, gain in picked
        ],  # fmt: skip
    }


def _render(result: dict[str, Any], chosen: list[Any]) -> Any:
    from lime_cli.render.terminal import render_pick

    return render_pick(result, chosen)
