"""``lime-explain tabular`` through click's runner: explanations, statistics, jobs and errors.

Models are small real scikit-learn estimators trained on a synthetic table
whose label depends on two known columns, saved with joblib into a temporary
folder; runs use few samples so the module stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from _fakes import RaisingClassifier
from click.testing import CliRunner
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from lime_cli.cli import cli

REPO = Path(__file__).resolve().parents[1]
FAST = ["--num-samples", "600", "--seed", "5"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


def table(n: int, seed: int) -> pd.DataFrame:
    """a, b, c numeric; count integer; color text; flag boolean; y depends on a and b only."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n))
    color = rng.choice(["red", "green", "blue"], size=n)
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "c": c,
            "count": rng.integers(0, 10, size=n),
            "color": color,
            "flag": rng.random(n) < 0.5,
            "y": np.where(a - b + 0.3 * rng.normal(size=n) > 0, "yes", "no"),
            "red": np.where(color == "red", "red", "other"),
        }
    )


def onnx_logistic(path: str) -> None:
    """An ONNX model with a [batch, 3] float input whose logits are +-2 (a - b)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.array([[-2.0, 2.0], [2.0, -2.0], [0.0, 0.0]], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["logits"])],
        "logistic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("tabular")
    train = table(400, 0)
    features = train.drop(columns=["y", "red"])
    paths: dict[str, str] = {}

    def save(name: str, obj: object) -> None:
        paths[name] = str(folder / f"{name}.joblib")
        joblib.dump(obj, paths[name])

    only_ab = ColumnTransformer([("ab", "passthrough", ["a", "b"])], remainder="drop")
    save("ab", make_pipeline(only_ab, LogisticRegression()).fit(features, train["y"]))
    by_color = ColumnTransformer(
        [("color", OneHotEncoder(handle_unknown="ignore"), ["color", "flag"]),
         ("a", "passthrough", ["a"])]
    )  # fmt: skip
    save("color", make_pipeline(by_color, LogisticRegression()).fit(features, train["red"]))
    strict = ColumnTransformer(
        [("color", OneHotEncoder(handle_unknown="error"), ["color"]), ("a", "passthrough", ["a"])]
    )
    save("strict", make_pipeline(strict, LogisticRegression()).fit(features, train["y"]))
    numeric = train[["a", "b", "c"]]
    save("array", LogisticRegression().fit(numeric.to_numpy(), train["y"]))
    save("regressor", LinearRegression().fit(numeric, 3 * train["a"] - 2 * train["b"]))
    save("raising", RaisingClassifier())
    paths["onnx"] = str(folder / "logistic.onnx")
    onnx_logistic(paths["onnx"])
    (folder / "garbage.joblib").write_bytes(b"\x80\x04not a pickle at all")
    paths["garbage"] = str(folder / "garbage.joblib")

    def csv(name: str, frame: pd.DataFrame) -> None:
        paths[name] = str(folder / f"{name}.csv")
        frame.to_csv(paths[name], index=False)

    csv("train", train.drop(columns=["red"]))
    csv("train_red", train.drop(columns=["y"]))
    csv("train_num", train[["a", "b", "c", "y"]])
    gappy = train[["a", "b", "c", "y"]].copy()
    gappy.loc[::4, "c"] = np.nan
    csv("train_num_gappy", gappy)
    rows = table(8, 1).drop(columns=["red"])
    q = train[["a", "b"]].quantile([0.1, 0.9])
    # Row 0: a and b both high; row 1: both low; row 2: colour red.
    rows.loc[0, ["a", "b"]] = [q.loc[0.9, "a"] + 0.5, q.loc[0.9, "b"] + 0.5]
    rows.loc[1, ["a", "b"]] = [q.loc[0.1, "a"] - 0.5, q.loc[0.1, "b"] - 0.5]
    rows.loc[2, "color"] = "red"
    csv("rows", rows)
    csv("rows_num", rows[["a", "b", "c"]])
    csv("rows_features", rows.drop(columns=["y"]))
    csv("rows_purple", rows.assign(color=["red", "purple", "blue"] + ["green"] * 5))
    holes = rows[["a", "b", "c"]].astype(object)
    holes.loc[1, "a"] = np.nan
    holes.loc[2, "b"] = "inf"
    holes.loc[3, "c"] = "abc"
    csv("rows_holes", holes)
    csv("one_row", rows.iloc[[4]])
    csv("rows_extra", rows.assign(id=range(len(rows))))
    csv("rows_short", rows.drop(columns=["flag"]))
    (folder / "empty.csv").write_text("")
    paths["empty"] = str(folder / "empty.csv")
    (folder / "header.csv").write_text("a,b,c,count,color,flag\n")
    paths["header"] = str(folder / "header.csv")
    paths["folder"] = str(folder)
    return paths


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["tabular", *args], input=input, env=CLEAN_ENV)


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def explanations(result) -> list[dict]:
    return [json.loads(line) for line in ok(result).splitlines()]


def base(files, model="ab", train="train", rows="rows") -> list[str]:
    return ["--model", files[model], "--train", files[train], "--target", "y", files[rows], *FAST]


# -- what the explanations say ---------------------------------------------------------


def test_the_two_columns_the_model_uses_lead_with_the_right_signs(files):
    out = explanations(run(*base(files), "--row", "0", "--row", "1", "--labels", "yes",
                           "--num-samples", "3000", "--format", "json"))  # fmt: skip
    for exp, sign in zip(out, (+1, -1)):
        features = exp["explanations"][0]["features"]
        assert {f["column"] for f in features[:2]} == {"a", "b"}
        weight = {f["column"]: f["weight"] for f in features}
        # High a pushes towards "yes", high b away; low values the other way round.
        assert sign * weight["a"] > 0 and sign * weight["b"] < 0
        # The model's ColumnTransformer drops every other column: held, not explained.
        assert len(features) == 2
        assert [c["column"] for c in exp["input"]["ignored_columns"]] == [
            "c", "count", "color", "flag"
        ]  # fmt: skip
    names = [f["feature"] for f in out[0]["explanations"][0]["features"][:2]]
    assert all(n.startswith(("a > ", "b > ")) for n in names)


def test_categorical_features_read_column_equals_value(files):
    args = ["--model", files["color"], "--train", files["train_red"], "--target", "red"]
    out = explanations(run(*args, files["rows_features"], *FAST, "--row", "2", "--labels", "red",
                           "--format", "json"))  # fmt: skip
    features = out[0]["explanations"][0]["features"]
    assert features[0]["feature"] == "color = red" and features[0]["weight"] > 0
    assert features[0]["column"] == "color" and features[0]["value"] == "red"
    flag = next(f for f in features if f["column"] == "flag")
    assert flag["feature"] in ("flag = True", "flag = False")


def test_regressors_explain_their_value(files):
    args = ["--model", files["regressor"], "--train", files["train_num"], "--target", "y"]
    out = explanations(run(*args, files["rows_num"], *FAST, "--row", "0", "--format", "json"))
    exp = out[0]
    assert exp["model"]["mode"] == "regression" and "value" in exp["prediction"]
    weight = {f["column"]: f["weight"] for f in exp["explanations"][0]["features"]}
    assert weight["a"] > 0 and weight["b"] < 0 and abs(weight["c"]) < 0.1 * weight["a"]


@pytest.mark.parametrize("option", [["--top-labels", "3"], ["--labels", "1"]])
def test_label_options_on_a_regressor_are_usage_errors(files, option):
    """Part 12: --top-labels on a regressor was silently ignored for tables."""
    args = ["--model", files["regressor"], "--train", files["train_num"], "--target", "y"]
    result = run(*args, files["rows_num"], *FAST, "--row", "0", *option)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"lime-explain: usage error: {option[0]} applies to classifiers; this model is a regressor"
    )


def test_quiet_help_says_what_json_does():
    helped = run("--help").output
    assert "--format json still prints its JSON" in " ".join(helped.split())


def test_array_models_and_no_discretisation(files):
    args = ["--model", files["array"], "--train", files["train_num"], "--target", "y"]
    out = explanations(run(*args, files["rows_num"], *FAST, "--row", "0", "--labels", "yes",
                           "--discretizer", "none", "--format", "json"))  # fmt: skip
    features = out[0]["explanations"][0]["features"]
    assert [f["feature"] for f in features][:2] in (["a", "b"], ["b", "a"])
    assert out[0]["input"]["discretizer"] == "none"


def test_onnx_models_get_float_arrays(files):
    args = ["--model", files["onnx"], "--train", files["train_num"], "--target", "y"]
    out = explanations(run(*args, files["rows_num"], *FAST, "--row", "0", "--labels", "1",
                           "--format", "json"))  # fmt: skip
    weight = {f["column"]: f["weight"] for f in out[0]["explanations"][0]["features"]}
    assert weight["a"] > 0 and weight["b"] < 0 and abs(weight["c"]) < 0.25 * weight["a"]
    result = run("--model", files["onnx"], "--train", files["train"], "--target", "y",
                 files["rows"], "--row", "0")  # fmt: skip
    assert result.exit_code == 3 and "expects 3 columns" in result.stderr


def test_terminal_table_names_the_row(files):
    out = ok(run(*base(files), "--row", "3"))
    assert "row 3" in out and "Why class" in out


# -- statistics, jobs and order ---------------------------------------------------------


def test_saved_statistics_give_identical_explanations(files, tmp_path):
    stats = tmp_path / "stats.json"
    first = ok(run(*base(files), "--rows", "0:4", "--save-stats", str(stats), "--format", "json"))
    assert json.loads(stats.read_text())["target"] == "y"
    args = ["--model", files["ab"], "--train", str(stats), files["rows"], *FAST]
    second = ok(run(*args, "--rows", "0:4", "--format", "json"))
    assert first == second and len(first.splitlines()) == 4
    assert ok(run(*args, "--target", "y", "--rows", "0:4", "--format", "json")) == first
    # Another target than the one the statistics were saved with: said so.
    other = run(*args, "--target", "a", "--row", "0")
    assert other.exit_code == 2 and "was saved with --target y; --target a" in other.stderr


def test_statistics_alone_can_be_saved(files, tmp_path):
    stats = tmp_path / "s.json"
    result = run("--model", files["ab"], "--train", files["train"], "--target", "y",
                 "--discretizer", "decile", "--save-stats", str(stats))  # fmt: skip
    assert ok(result) == ""
    assert json.loads(stats.read_text())["discretizer"] == "decile"


def test_rows_are_the_same_for_any_job_count_and_order(files):
    by_row: dict[int, list[dict]] = {}
    for order, jobs in (([0, 1, 2, 3, 4, 5], "1"), ([5, 2, 0, 4, 1, 3], "2"), ([3, 1], "1")):
        picks = [arg for row in order for arg in ("--row", str(row))]
        out = explanations(run(*base(files), *picks, "--jobs", jobs, "--format", "json"))
        assert [e["input"]["row"] for e in out] == order  # output follows the request
        for exp in out:
            by_row.setdefault(exp["input"]["row"], []).append(exp)
    assert sorted(by_row) == list(range(6))
    for runs in by_row.values():
        assert all(r == runs[0] for r in runs)


def test_rows_explained_in_worker_processes_match(files):
    """The batch a row is in, and the process that explains it, do not change its result."""
    from joblib import Parallel, delayed

    from lime_cli.engine import LabelRequest, LimeParams
    from lime_cli.run.settings import ModelSpec
    from lime_cli.tabular.command import TableRow, TabularTask
    from lime_cli.tabular.data import compute_stats, convert_rows, read_table

    stats = compute_stats(read_table(files["train"]), target="y")
    frame = read_table(files["rows"], as_text=True)
    rows = [TableRow(i, v) for i, v in enumerate(convert_rows(frame, stats, list(range(6)), "r"))]
    task = TabularTask(ModelSpec(files["ab"]), LabelRequest(), LimeParams(500, seed=9), stats, "r")
    together = [e.to_dict() for e, _ in task.explain_batch(rows)]
    apart = Parallel(n_jobs=2)(delayed(task.explain_batch)([row]) for row in rows[::-1])
    assert [e.to_dict() for [(e, _)] in apart[::-1]] == together


@pytest.mark.parametrize("backend", [None, "threading"])
def test_the_executor_gives_the_same_rows_for_any_jobs_and_backend(files, backend):
    """One executor for every modality: batches over joblib workers (processes by
    default, threads or any joblib backend on request) change nothing."""
    from lime_cli.engine import LabelRequest, LimeParams
    from lime_cli.run import executor
    from lime_cli.run.settings import ModelSpec
    from lime_cli.tabular.command import TableRow, TabularTask
    from lime_cli.tabular.data import compute_stats, convert_rows, read_table

    stats = compute_stats(read_table(files["train"]), target="y")
    frame = read_table(files["rows"], as_text=True)
    rows = [TableRow(i, v) for i, v in enumerate(convert_rows(frame, stats, list(range(8)), "r"))]
    task = TabularTask(ModelSpec(files["ab"]), LabelRequest(), LimeParams(400, seed=2), stats, "r")
    assert len(executor.batches(rows, task.batch_size, 2)) > 1  # really shared out
    shared = [(e.to_dict(), err) for e, err in executor.run(task, rows, 2, backend)]
    alone = [(e.to_dict(), err) for e, err in executor.run(task, rows, 1)]
    assert shared == alone
    assert [e["input"]["row"] for e, _ in shared] == list(range(8))


def test_a_single_row_file_needs_no_row_option_and_stdin_works(files):
    text = Path(files["one_row"]).read_text()
    args = ["--model", files["ab"], "--train", files["train"], "--target", "y", "-", *FAST]
    out = explanations(run(*args, "--format", "json", input=text))
    assert out[0]["input"]["name"] == "stdin row 0"


def test_out_file_holds_every_row(files, tmp_path):
    path = tmp_path / "all.jsonl"
    ok(run(*base(files), "--all", "--out", str(path), "--quiet"))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["input"]["row"] for line in lines] == list(range(8))


# -- errors -------------------------------------------------------------------------------


def error_cases(files) -> list[tuple[list[str], int, str]]:
    f = files
    num = ["--model", f["array"], "--train", f["train_num"], "--target", "y"]
    return [
        # unknown column names
        (["--model", f["ab"], "--train", f["train"], "--target", "label", f["rows"], "--row", "0"],
         3, "--target names 'label'"),
        (base(f) + ["--categorical", "colour", "--row", "0"], 3, "--categorical names 'colour'"),
        # rows out of range
        (base(f) + ["--row", "8"], 3, "row 8 is out of range"),
        (base(f) + ["--rows", "2:20"], 3, "out of range"),
        (base(f) + ["--rows", "8:"], 3, "--rows 8: is out of range: "),
        (base(f) + ["--rows", "8:9"], 3, "--rows 8:9 is out of range: "),
        # empty CSVs
        (base(f, rows="empty") + ["--row", "0"], 3, "empty"),
        (base(f, rows="header") + ["--row", "0"], 3, "no data rows"),
        (["--model", f["ab"], "--train", f["empty"], f["rows"], "--row", "0"], 3, "empty"),
        # columns that do not match the training data or the model
        (base(f, rows="rows_extra") + ["--row", "0"], 3, "has 1 column the training data does not"),
        (base(f, rows="rows_short") + ["--row", "0"], 3, "lacks 1 column of the training data"),
        (base(f, train="train_num", rows="rows_num") + ["--row", "0"], 3, "lacks 3 columns"),
        (["--model", f["array"], "--train", f["train"], "--target", "y", f["rows"], "--row", "0"],
         3, "expects 3 columns"),
        # values that cannot be read, NaN and infinity the model cannot take
        (num + [f["rows_holes"], "--row", "3"], 3, "cannot read 'abc' in column 'c'"),
        (num + [f["rows_holes"], "--row", "1"], 3, "cannot take the missing value in 'a'"),
        (num + [f["rows_holes"], "--row", "2"], 3, "cannot take the infinite value in 'b'"),
        (num + [f["rows_holes"], "--row", "1", "--discretizer", "none"], 3, "is missing"),
        # option misuse
        (["--model", f["ab"], "--train", f["train"], f["rows"], "--row", "0",
          "--discretizer", "entropy"], 2, "--discretizer entropy needs --target"),
        (base(f) + ["--rows", "a:b"], 2, "whole numbers"),
        (base(f) + ["--rows", "3:3"], 2, "selects no rows"),
        (base(f) + ["--rows", "5:3"], 2, "--rows '5:3' selects no rows: A:B is rows A to B-1"),
        (base(f) + ["--all", "--row", "1"], 2, "--all cannot be combined"),
        (base(f), 2, "has 8 rows: choose them"),
        (base(f) + ["--row", "0", "--labels", "maybe"], 2, "unknown label 'maybe'"),
        (["--model", f["ab"], "--train", f["train"], "--target", "y", "--row", "0"], 2,
         "no CSV of rows"),
        (["--model", f["ab"], "--train", "-", "-", "--row", "0"], 2, "read only once"),
        # models that cannot be loaded or fail
        (base(f, model="garbage") + ["--row", "0"], 4, "garbage.joblib"),
        (base(f, model="raising") + ["--row", "0", "--trust-module", "_fakes"], 4,
         "failed to predict"),
        (["--model", f["array"], "--train", f["train_num_gappy"], "--target", "y", f["rows_num"],
          "--row", "0"], 4, "samples hold missing values"),
    ]  # fmt: skip


def test_each_error_has_its_exit_code_and_one_line(files):
    for args, code, message in error_cases(files):
        result = run(*args)
        assert result.exit_code == code, (args, result.exit_code, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_range_beyond_the_last_row_is_out_of_range_with_or_without_a_stop():
    """Exit 3 when the file has fewer rows than a range asks for, exit 2 when a range
    selects no rows in any file; a stop beyond the end is not clamped."""
    from lime_cli.errors import InputError, UsageError
    from lime_cli.tabular.command import RowSelection

    def resolve(text: str) -> list[int]:
        return RowSelection.parse((), text, False).resolve(2000, "rows.csv")

    assert resolve("1998:") == [1998, 1999] and resolve(":2") == [0, 1]
    assert resolve("1999:2000") == [1999] and len(resolve(":")) == 2000
    for text in ("3000:", "2000:", "3000:4000", "2000:2001", "1999:2001", ":2001"):
        with pytest.raises(InputError, match=f"--rows {text} is out of range: rows.csv has "
                                             "2000 data rows \\(0 to 1999\\)"):  # fmt: skip
            resolve(text)
    for text in ("5:3", "5:5", ":0", "3000:2500"):
        with pytest.raises(UsageError, match=f"--rows '{text}' selects no rows"):
            resolve(text)


def test_a_bad_row_fails_alone(files):
    num = ["--model", files["array"], "--train", files["train_num"], "--target", "y"]
    result = run(*num, files["rows_holes"], "--rows", "0:5", "--format", "json", *FAST)
    assert result.exit_code == 3
    rows = [json.loads(line)["input"]["row"] for line in result.stdout.splitlines()]
    assert rows == [0, 4]
    assert len(result.stderr.strip().splitlines()) == 3


def test_a_category_the_model_refuses_fails_its_row_only(files):
    args = base(files, model="strict", rows="rows_purple")
    result = run(*args, "--rows", "0:4", "--format", "json")
    assert result.exit_code == 3
    assert [json.loads(line)["input"]["row"] for line in result.stdout.splitlines()] == [0, 2, 3]
    assert "row 1: the model cannot take the value 'purple' in 'color', unseen" in result.stderr


def test_with_fresh_samples_a_refused_row_fails_alone_and_the_others_are_unchanged(files):
    """The model refuses the chunk's call; the rows it takes are asked about again
    without the refused one (their blocks of samples kept) and come out as alone."""
    args = [*base(files, model="strict", rows="rows_purple"), "--fresh-samples",
            "--format", "json"]  # fmt: skip
    for sampling in ([], ["--num-samples", "auto", "--max-samples", "2000"]):
        result = run(*args, *sampling, "--rows", "0:4")
        assert result.exit_code == 3
        together = [json.loads(line) for line in result.stdout.splitlines()]
        assert [e["input"]["row"] for e in together] == [0, 2, 3]
        for one in together:
            alone = run(*args, *sampling, "--row", str(one["input"]["row"]))
            assert alone.exit_code == 0, alone.stderr
            assert json.loads(alone.stdout) == one


def test_statistics_that_do_not_fit_the_options(files, tmp_path):
    stats = tmp_path / "stats.json"
    ok(run(*base(files), "--row", "0", "--save-stats", str(stats), "--quiet"))
    args = ["--model", files["ab"], "--train", str(stats), files["rows"], "--row", "0"]
    result = run(*args, "--discretizer", "decile")
    assert result.exit_code == 2 and "quartile statistics" in result.stderr
    result = run(*args, "--categorical", "a")
    assert result.exit_code == 2 and "as numeric" in result.stderr
    stats.write_text('{"format": "lime-explain/tabular-stats", "version": 1}')
    result = run(*args)
    assert result.exit_code == 3 and "not usable training statistics" in result.stderr


def test_nothing_is_half_written(files, tmp_path):
    out, stats = tmp_path / "out.json", tmp_path / "stats.json"
    num = ["--model", files["array"], "--train", files["train_num"], "--target", "y"]
    result = run(*num, files["rows_holes"], "--row", "1", "--row", "3", "--out", str(out))
    assert result.exit_code == 3 and not out.exists()
    result = run("--model", files["array"], "--train", files["train"], "--target", "y",
                 "--save-stats", str(stats), files["rows"], "--row", "0")  # fmt: skip
    assert result.exit_code == 3 and not stats.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- the sample models (built by `make sample-models`) -----------------------------------


SAMPLES = REPO / "sample_data" / "tabular"
MODELS = REPO / "sample_models"


@pytest.mark.slow
@pytest.mark.skipif(
    not (MODELS / "penguins_lr.joblib").exists(), reason="run `make sample-models` first"
)
def test_sample_models(tmp_path):
    penguins = ["--model", str(MODELS / "penguins_lr.joblib"),
                "--train", str(SAMPLES / "penguins_train.csv"), "--target", "species"]  # fmt: skip
    out = explanations(run(*penguins, str(SAMPLES / "penguins_test.csv"), "--row", "84",
                           "--seed", "1", "--num-samples", "1000", "--format", "json"))  # fmt: skip
    features = [f["feature"] for f in out[0]["explanations"][0]["features"]]
    assert "sex is missing" in features and "bill_length_mm is missing" in features
    cancer = ["--model", str(MODELS / "breast_cancer_rf.joblib"), "--target", "diagnosis",
              "--train", str(SAMPLES / "breast_cancer_train.csv")]  # fmt: skip
    out = explanations(run(*cancer, str(SAMPLES / "breast_cancer_test.csv"), "--rows", "0:2",
                           "--seed", "1", "--num-samples", "1000", "--format", "json"))  # fmt: skip
    assert [e["prediction"]["predicted"] for e in out] == ["malignant", "benign"]
    assert out[0]["explanations"][0]["features"][0]["feature"].startswith("worst ")
