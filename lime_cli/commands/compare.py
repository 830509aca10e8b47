"""``lime-explain compare``: the same inputs, the same seed, two models side by side."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import click

from lime_cli.checks import Rules
from lime_cli.commands.modalities import PerModalityGroup
from lime_cli.errors import UsageError, worst_exit_code
from lime_cli.run.guard import guarded
from lime_cli.run.loop import run_job
from lime_cli.run.options import (
    check_options,
    compare_model_options,
    jobs_option,
    lime_options,
    output_options,
)
from lime_cli.run.outputs import OutputPlan
from lime_cli.run.settings import settings_from

if TYPE_CHECKING:
    from lime_cli.run.modality import Modality


def _make_compare(modality: Modality) -> click.Command:
    @click.command(name=modality.name)
    @modality.inputs
    @compare_model_options
    @lime_options(**modality.lime_defaults())
    @jobs_option
    @check_options
    @output_options(role="report_writer")
    def command(**options: Any) -> None:
        def body() -> int:
            paths = options["model_path"]
            if len(paths) != 2:
                raise UsageError("compare needs --model exactly twice (model A, then model B)")
            user_format = options.get("model_format")
            settings = settings_from(options)
            plan = OutputPlan.build(options, role="report_writer")
            # Each model's explanations are collected, not shown; compare writes its
            # own report, checks and JUnit once for both models.
            inner_plan = dataclasses.replace(plan, show=False, junit=None)
            inner = dataclasses.replace(settings, rules=Rules())
            job = modality.prepare(settings, dict(options))
            if _reads_stdin(options):
                # stdin can be read once: B explains A's inputs with A's task settings
                # (held: a stream of lines would be used up by A).
                job = dataclasses.replace(job, items=list(job.items))
                spec_b = _spec_for_b(job.task.model, paths[1], user_format)
                job_b = dataclasses.replace(job, task=job.task.with_model(spec_b))
            else:
                # B gets its own preparation: its preprocessing file, class names, format.
                own = dataclasses.replace(settings.spec, path=paths[1], fmt=user_format)
                job_b = modality.prepare(dataclasses.replace(settings, spec=own), dict(options))
            job_b.task.model.load()
            results, failures, codes = [], [], []
            for side_job in (job, job_b):
                side = dataclasses.replace(inner, spec=side_job.task.model)
                outcome = run_job(side, side_job, inner_plan, report_failures=False)
                results.append(outcome.explanations)
                failures.append(outcome.failures)
                codes.append(outcome.code)
            failed_inputs = _report_failures(failures, paths)
            report = comparison(results[0], results[1], settings.params.num_features)
            check_code = _checks(settings.rules, results, paths, report, plan.junit,
                                 failed_inputs, plan.annotations)  # fmt: skip
            if results[0] and results[1]:
                plan.write_report(report, lambda: _render(report))
            return worst_exit_code(codes + [check_code])

        guarded(bool(options.get("debug")), body)

    command.help = (
        f"Compare two models' {modality.name} explanations on the same inputs.\n\n"
        "Both models explain every input with the same seed (so the same "
        "perturbed samples); the report shows their predictions and strongest "
        "features side by side and which features one model relies on that the "
        "other does not, aggregated over the inputs. Checks (--forbid, ...) "
        "apply to both models."
    )
    return command


@click.group(cls=PerModalityGroup, factory=_make_compare)
def compare() -> None:
    """Compare two models' explanations of the same inputs."""


def comparison(a: list[Any], b: list[Any], top: int) -> dict[str, Any]:
    """Side-by-side results and the features only one model relies on."""
    from lime_cli.sp_lime import feature_matrix

    by_name_b = {e.input.get("name"): e for e in b}
    pairs = [(e, by_name_b.get(e.input.get("name"))) for e in a]
    imp_a = _importance(feature_matrix(a))
    imp_b = _importance(feature_matrix(b))

    def only(first: dict[str, float], second: dict[str, float]) -> list[dict[str, Any]]:
        ranked = sorted(first.items(), key=lambda kv: -kv[1])
        return [
            {"feature": f, "importance": v, "other_importance": second.get(f, 0.0)}
            for f, v in ranked
            if second.get(f, 0.0) == 0.0
        ][:top]

    return {
        "schema_version": 1,
        "kind": "compare",
        "models": [a[0].model if a else {}, b[0].model if b else {}],
        "inputs": [
            {
                "input": ea.input.get("name"),
                "explanations": [ea.to_dict(), eb.to_dict() if eb is not None else None],
            }
            for ea, eb in pairs
        ],  # fmt: skip
        "importance": {"a": imp_a, "b": imp_b},
        "only_a": only(imp_a, imp_b),
        "only_b": only(imp_b, imp_a),
    }


def _importance(matrix: Any) -> dict[str, float]:
    values = matrix.importance()
    return {f: float(v) for f, v in zip(matrix.features, values)}


def _reads_stdin(options: dict[str, Any]) -> bool:
    """Whether any input argument is '-' (stdin, which can be read only once)."""
    for value in options.values():
        if value == "-" or (isinstance(value, tuple | list) and "-" in value):
            return True
    return False


def _spec_for_b(spec_a: Any, path: str, user_format: str | None) -> Any:
    """Model B's spec: A's settings, but its own file format (and ONNX options only for ONNX).

    A's format may have been filled in by the modality (an image command knows
    it loads ONNX); B can be another kind of model file.
    """
    from lime_cli.models.loading import check_model_path, detect_format

    check_model_path(path)
    fmt = user_format or detect_format(path)
    # ONNX options (image), or a served model's (--protocol, --concurrency, ...).
    options = spec_a.options if fmt in ("onnx", "http") else ()
    return dataclasses.replace(spec_a, path=path, fmt=user_format, options=options)


def _report_failures(
    failures: list[list[tuple[str, Any]]], paths: tuple[str, ...]
) -> list[tuple[str, str]]:
    """One stderr line per failed input: input errors once, model errors per model."""
    from lime_cli.errors import ModelError
    from lime_cli.run.guard import report_error

    seen: set[tuple[str, str]] = set()
    failed: list[tuple[str, str]] = []
    for side, side_failures in zip("AB", failures):
        for name, error in side_failures:
            if isinstance(error, ModelError):
                path = paths[0 if side == "A" else 1]
                error = ModelError(f"[model {side}: {path}] {error.message}")
            key = (type(error).__name__, error.message)
            if key not in seen:
                seen.add(key)
                report_error(error)
                failed.append((name, error.message))
    return failed


def _checks(
    rules: Any, results: list[list[Any]], paths: tuple[str, ...], report: dict[str, Any],
    junit: str | None, failed_inputs: list[tuple[str, str]], annotations: str | None = None,
) -> int:  # fmt: skip
    """Run the checks on both models' explanations; failures name the model."""
    if annotations:
        from lime_cli.render.annotations import emit
    if rules is None or rules.empty:
        if junit:
            _write_junit(junit, [], failed_inputs)
        if annotations:
            emit(annotations, [], failed_inputs)
        return 0
    from lime_cli.checks import evaluate, failure_line

    failed = 0
    outcomes_all = []
    report["checks"] = []
    for side, explanations in zip("ab", results):
        path = paths[0 if side == "a" else 1]
        for explanation in explanations:
            outcomes = evaluate(rules, explanation)
            for o in outcomes:
                o.input = f"{o.input} [model {side.upper()}: {path}]"
                report["checks"].append({"model": side, "input": o.input, **o.to_dict()})
                if not o.passed:
                    failed += 1
                    click.echo(f"lime-explain: check failed: {failure_line(o)}", err=True)
            outcomes_all.extend(outcomes)
    if junit:
        _write_junit(junit, outcomes_all, failed_inputs)
    if annotations:
        emit(annotations, outcomes_all, failed_inputs)
    return 1 if failed else 0


def _write_junit(path: str, outcomes: list[Any], failed_inputs: list[tuple[str, str]]) -> None:
    from lime_cli.output import atomic_write_text
    from lime_cli.render.junit import to_junit_xml

    atomic_write_text(path, to_junit_xml(outcomes, failed_inputs, "lime-explain compare"))


def _render(report: dict[str, Any]) -> Any:
    from lime_cli.render.terminal import render_compare

    return render_compare(report)
