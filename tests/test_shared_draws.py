"""Rows of a tabular run share one set of drawn samples (lime_cli.tabular.shared).

The model is asked about the draws once and about each row itself, not about
every row's own samples; a row's explanation then depends on the seed and its
values only. --fresh-samples, and columns held at a row's value that the model
uses, give each row its own draws as before.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _cli import run

#: A model of three columns: the class follows a - b; c is noise it ignores.
MODEL = """
import os
import numpy as np

def predict(x):
    x = np.asarray(x, dtype=float)
    with open(os.environ["CALLS_LOG"], "a") as log:
        log.write(f"{len(x)}\\n")
    p = 1 / (1 + np.exp(-(2 * x[:, 0] - 2 * x[:, 1])))
    return np.column_stack([1 - p, p])

def close(x):  # b and c matter about as much: some rows need more samples to rank them
    x = np.asarray(x, dtype=float)
    with open(os.environ["CALLS_LOG"], "a") as log:
        log.write(f"{len(x)}\\n")
    p = 1 / (1 + np.exp(-(2 * x[:, 0] - 0.3 * x[:, 1] + 0.25 * x[:, 2])))
    return np.column_stack([1 - p, p])

def by_position(x):  # close, rounded as a vectorised kernel rounds: by a row's place in the call
    x = np.asarray(x, dtype=float)
    with open(os.environ["CALLS_LOG"], "a") as log:
        log.write(f"{len(x)}\\n")
    a, b, c = 2 * x[:, 0], -0.3 * x[:, 1], 0.25 * x[:, 2]
    # Rows 0-3 of each 8-row vector add one way, rows 4-7 another, and the rows of
    # the call's last, partial vector a third (a remainder loop).
    lanes = np.arange(len(x)) % 8 < 4
    z = np.where(lanes, (a + b) + c, a + (b + c))
    whole = len(x) // 8 * 8
    z[whole:] = (c[whole:] + b[whole:]) + a[whole:]
    p = 1 / (1 + np.exp(-z))
    return np.column_stack([1 - p, p])
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    train = rng.normal(size=(400, 3))
    rows = rng.normal(size=(30, 3))
    rows[7] = rows[2]  # the same values at two row numbers
    header = "a,b,c\n"
    (tmp_path / "train.csv").write_text(header + "".join(f"{a},{b},{c}\n" for a, b, c in train))
    (tmp_path / "rows.csv").write_text(header + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    (tmp_path / "counted.py").write_text(MODEL)
    monkeypatch.setenv("CALLS_LOG", str(tmp_path / "calls.log"))
    return tmp_path


def explain(files, *options: str, function: str = "predict") -> tuple[list[dict], int]:
    """The run's explanations and how many rows the model was asked about."""
    log = files / "calls.log"
    log.unlink(missing_ok=True)
    result = run("tabular", "--model", f"{files / 'counted.py'}:{function}", "--train",
                 files / "train.csv", files / "rows.csv", "--seed", "11", "--format", "json",
                 "-q", *options, *([] if "--rows" in options else ["--all"]))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    explanations = [json.loads(line) for line in result.stdout.splitlines()]
    asked = sum(int(n) for n in log.read_text().split())
    return explanations, asked


def weights(explanation: dict) -> dict[str, float]:
    return {f["column"]: f["weight"] for f in explanation["explanations"][0]["features"]}


def test_the_model_is_asked_about_the_draws_once_and_each_row(files):
    from lime_cli.tabular.domain import BLOCK_ROWS as ROW_COPIES
    from lime_cli.tabular.domain import padded

    shared, asked = explain(files, "--num-samples", "500")
    assert asked == 499 + 30 * ROW_COPIES
    assert {e["params"]["samples"] for e in shared} == {"shared"}
    fresh, asked_fresh = explain(files, "--num-samples", "500", "--fresh-samples")
    assert asked_fresh == 30 * padded(500)  # each row's 500 in a block of 512
    assert {e["params"]["samples"] for e in fresh} == {"per row"}


def test_a_rows_explanation_depends_on_its_values_not_its_number(files):
    shared, _ = explain(files, "--num-samples", "500")
    assert shared[2]["explanations"] == shared[7]["explanations"]
    alone, _ = explain(files, "--num-samples", "500", "--rows", "7:8")
    assert alone[0]["explanations"] == shared[7]["explanations"]
    fresh, _ = explain(files, "--num-samples", "500", "--fresh-samples")
    assert fresh[2]["explanations"] != fresh[7]["explanations"]  # each row its own stream


def test_rows_holding_a_column_the_model_uses_draw_their_own(files):
    from lime_cli.tabular.domain import padded

    held, asked = explain(files, "--num-samples", "300", "--freeze-columns", "c")
    assert asked == 30 * padded(300)
    assert {e["params"]["samples"] for e in held} == {"per row"}


def test_shared_draws_say_what_each_rows_own_draws_say(files):
    """Each row's explanation on shared draws is a LIME explanation like any other:
    the same leading columns as with its own draws, and weights within sampling error."""
    shared, _ = explain(files, "--num-samples", "2000")
    fresh, _ = explain(files, "--num-samples", "2000", "--fresh-samples")
    apart = []
    for one, other in zip(shared, fresh):
        w, v = weights(one), weights(other)
        assert abs(w["a"]) > abs(w["c"]) and abs(w["b"]) > abs(w["c"])
        assert abs(v["a"]) > abs(v["c"]) and abs(v["b"]) > abs(v["c"])
        errors = {f["column"]: f["stderr"] for f in one["explanations"][0]["features"]}
        apart += [abs(w[c] - v[c]) / (errors[c] * 2**0.5) for c in "abc"]
    # Two independent estimates: their difference over its standard error is about
    # standard normal, so hardly any lies beyond 4.
    assert np.mean(np.array(apart) > 4) < 0.02, sorted(apart)[-5:]


def test_adaptive_rows_stop_at_their_own_counts_on_growing_draws(files):
    from lime_cli.tabular.domain import BLOCK_ROWS as ROW_COPIES

    auto = ["--num-samples", "auto", "--min-samples", "500", "--max-samples", "4000",
            "--num-features", "2"]  # fmt: skip
    every, asked = explain(files, *auto, function="close")
    used = [e["params"]["num_samples"] for e in every]
    assert min(used) >= 500 and max(used) <= 4000 and len(set(used)) > 1
    # The draws grew to the most any row used; each row was asked about once.
    assert asked == max(used) - 1 + 30 * ROW_COPIES
    # A row comes out the same whatever the others needed.
    some, _ = explain(files, *auto, "--rows", "20:30", function="close")
    assert [e["explanations"] for e in some] == [e["explanations"] for e in every[20:]]


def test_a_rows_answer_does_not_depend_on_its_call_with_any_batch_size(files):
    """A row is given to the model 16 times in a row and its first copy's answer kept;
    calls are cut at whole multiples of 16, so with --batch-size 50 too a row's first
    copy is never in a call's last, partial vector (an MLP rounds those differently)."""
    import joblib
    from sklearn.neural_network import MLPClassifier

    train = np.loadtxt(files / "train.csv", delimiter=",", skiprows=1)
    mlp = MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=50, random_state=0)
    with pytest.warns(Warning):  # not converged in 50 iterations: no matter here
        mlp.fit(train, train[:, 0] > train[:, 1])
    joblib.dump(mlp, files / "mlp.joblib")

    def rows(*selection: str) -> list[dict]:
        result = run("tabular", "--model", files / "mlp.joblib", "--trust-model", "--train",
                     files / "train.csv", files / "rows.csv", "--seed", "3", "--format",
                     "json", "-q", "--num-samples", "300", "--batch-size", "50",
                     *selection)  # fmt: skip
        assert result.exit_code == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    every = rows("--all")
    for later in (rows("--rows", "1:30"), rows("--rows", "3:30")):
        for one in later:
            same = every[one["input"]["row"]]
            assert one["prediction"] == same["prediction"]
            assert one["explanations"] == same["explanations"]


def test_a_rows_own_samples_are_answered_the_same_in_any_call(files):
    """With its own samples a row's answers depend on its samples only, not on the rows
    sharing its model calls: some models round a sample's answer by its place in the
    call (a LogisticRegression's or an MLP's matrix products, here ``by_position``), and
    the rows sharing a call change with the selection, --batch-size and --jobs (and, with
    --num-samples auto, with which rows are still unsettled in a later round). Each
    row's block of samples starts at a multiple of 16 rows, padded to a multiple of 16,
    and calls are cut at multiples of 16."""
    auto = ["--fresh-samples", "--num-samples", "auto", "--min-samples", "300",
            "--max-samples", "2400", "--num-features", "2"]  # fmt: skip

    def same(explanations: list[dict], given: list[dict]) -> None:
        assert explanations
        for one in explanations:
            other = given[one["input"]["row"]]
            assert one["params"]["num_samples"] == other["params"]["num_samples"]
            assert one["prediction"] == other["prediction"]
            assert one["explanations"] == other["explanations"], one["input"]["row"]

    every, _ = explain(files, *auto, function="by_position")
    assert len({e["params"]["num_samples"] for e in every}) > 1  # rows stop at different rounds
    for selection in (["--rows", "1:30"], ["--rows", "3:30", "--batch-size", "700"],
                      ["--rows", "29:30"], ["--jobs", "2"]):  # fmt: skip
        # (--jobs 2 with 30 rows: batches of 16 rows, explained in this process)
        same(explain(files, *auto, *selection, function="by_position")[0], every)
    fixed = ["--fresh-samples", "--num-samples", "300"]
    every, _ = explain(files, *fixed, function="by_position")
    for selection in (["--rows", "1:30"], ["--rows", "3:30", "--batch-size", "1000"]):
        same(explain(files, *fixed, *selection, function="by_position")[0], every)


def test_a_short_selection_on_shared_draws_is_not_cut_into_enough_batches_to_fork():
    """--rows 0:200 --jobs 2 made 16 batches of 13 rows (0.1 s of work), forked and
    was slower than --jobs 1; batches of a selection respect the task's share size."""
    from lime_cli.run import executor
    from lime_cli.tabular.command import SHARED_BATCH_PER_JOB, TabularTask

    task = TabularTask(None, None, None, None, "rows")  # type: ignore[arg-type]
    assert task.share_size == SHARED_BATCH_PER_JOB
    rows = list(range(200))
    cut = executor.batches(rows, task.batch_size, 2, task.share_size)
    assert len(cut) < executor.FORK_MIN_BATCHES and sum(map(len, cut)) == 200
    many = executor.batches(list(range(5000)), task.batch_size, 2, task.share_size)
    assert len(many) >= executor.FORK_MIN_BATCHES  # long runs still share the work
