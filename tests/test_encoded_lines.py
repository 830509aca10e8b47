"""Workers send an explanation's JSON line instead of the explanation when the run
needs nothing else (lime_cli.run.encoded)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from click.testing import CliRunner
from test_resume import build_data

from lime_cli.cli import cli
from lime_cli.errors import InputError
from lime_cli.render.json import to_json
from lime_cli.run import executor, loop
from lime_cli.run.encoded import EncodedExplanation, LineEncodingTask, line_of

CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    return build_data(tmp_path_factory.mktemp("encoded"))


def argv(data: dict[str, str], *more: str) -> list[str]:
    return [
        "tabular", "--model", data["fast.joblib"], "--train", data["rows.csv"], "--all",
        data["rows.csv"], "--num-samples", "100", "--seed", "3", *more,
    ]  # fmt: skip


def tasks_run(monkeypatch) -> list[Any]:
    """The tasks the next runs hand the executor (their outcomes as usual)."""
    seen: list[Any] = []
    real = executor.run_pairs

    def recording(task: Any, *a: Any, **k: Any):
        seen.append(task)
        return real(task, *a, **k)

    monkeypatch.setattr(loop.executor, "run_pairs", recording)
    return seen


def test_a_run_writing_only_lines_gets_them_from_its_workers(data, tmp_path, monkeypatch):
    seen = tasks_run(monkeypatch)
    plain, lines = tmp_path / "plain.jsonl", tmp_path / "lines.jsonl"
    shown = CliRunner().invoke(cli, argv(data, "--format", "json", "--out", str(plain)),
                               env=CLEAN_ENV)  # fmt: skip
    assert shown.exit_code == 0, shown.stderr
    quiet = CliRunner().invoke(cli, argv(data, "-q", "--out", str(lines), "--jobs", "2"),
                               env=CLEAN_ENV)  # fmt: skip
    assert quiet.exit_code == 0, quiet.stderr
    checked = CliRunner().invoke(cli, argv(data, "-q", "--out", str(tmp_path / "c.jsonl"),
                                           "--forbid", "zzz"), env=CLEAN_ENV)  # fmt: skip
    assert checked.exit_code == 0, checked.stderr
    # Shown on stdout, or checked: the explanations themselves; only written: lines.
    assert [type(t) is LineEncodingTask for t in seen] == [False, True, False]
    assert lines.read_bytes() == plain.read_bytes()


class TwoOutcomes:
    """A task whose batch has an explanation and a failed input."""

    def __init__(self, explanation: Any) -> None:
        self.explanation = explanation

    def explain_batch(self, items: list[Any]) -> list[Any]:
        return [(self.explanation, None), (None, InputError("x.csv row 1: unreadable"))]


def test_lines_replace_explanations_and_errors_stay_errors(data, tmp_path):
    out = tmp_path / "all.jsonl"
    assert CliRunner().invoke(cli, argv(data, "-q", "--out", str(out)),
                              env=CLEAN_ENV).exit_code == 0  # fmt: skip
    from lime_cli.explanation import Explanation

    first = out.read_text(encoding="utf-8").splitlines()[0]
    explanation = Explanation.from_dict(json.loads(first))
    outcomes = LineEncodingTask(TwoOutcomes(explanation)).explain_batch(["a", "b"])
    assert outcomes[0] == (EncodedExplanation(to_json(explanation)), None)
    assert outcomes[1][0] is None and isinstance(outcomes[1][1], InputError)
    assert line_of(outcomes[0][0]) == line_of(explanation) == to_json(explanation)
    assert pickle.loads(pickle.dumps(outcomes[0][0])) == outcomes[0][0]
