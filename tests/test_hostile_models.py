"""Models that misbehave, and files that are not the model they claim to be.

Misbehaving estimators live at module level so joblib can save them; runs
load them with ``--trust-module test_hostile_models`` (the test folder is on
``sys.path`` under pytest). ONNX models are tiny graphs built here. Every
failure must be exit 4 (or 3 for a model file that is missing, empty or a
directory) with one line on stderr and no output file; a model whose answer
never changes is explained (exit 0) with a warning that the explanation is
empty.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnx
import pytest
from _fakes import SPORTS_DOC, text_classifier
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from sklearn.linear_model import LogisticRegression

from lime_cli.cli import cli

TRUST = ["--trust-module", "test_hostile_models"]
FAST_TEXT = ["--num-samples", "40", "--seed", "2"]
#: slic cuts the noise picture below into 7 superpixels (asked for 4, into one: a warning).
FAST_IMAGE = ["--num-samples", "24", "--seed", "2", "--segmenter", "slic", "--segments", "16"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


class Misbehaving:
    """A two-class estimator whose predict_proba does what ``behaviour`` says."""

    classes_ = np.array(["ham", "spam"])

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour

    def predict(self, x: Any) -> np.ndarray:
        return np.zeros(len(x), dtype=int)

    def predict_proba(self, x: Any) -> Any:
        n = len(x)
        half = np.full((n, 2), 0.5)
        answers = {
            "nan-one-row": lambda: np.vstack([half[:-1], [[np.nan, 0.5]]]),
            "inf": lambda: np.full((n, 2), np.inf),
            "one-column-too-many": lambda: np.full((n, 3), 1 / 3),
            "one-dimensional": lambda: np.full(n, 0.5),
            "one-row-too-many": lambda: np.full((n + 1, 2), 0.5),
            "a-scalar": lambda: 0.5,
            "none": lambda: None,
            "strings": lambda: np.array([["a", "b"]] * n),
            "ragged": lambda: [[0.5, 0.5]] * (n - 1) + [[1.0]],
            "complex": lambda: np.full((n, 2), 0.5 + 0.5j),
        }
        if self.behaviour == "memory":
            raise MemoryError("cannot allocate 8 GiB")
        if self.behaviour == "recursion":
            return self.predict_proba(x)
        if self.behaviour == "key":
            raise KeyError("feature 'x' not found\nin the frame")
        return answers[self.behaviour]()


class Garbage:
    """Answers with an array of ``shape_of(n)`` filled with ``value`` (for the property test)."""

    classes_ = np.array(["ham", "spam"])

    def __init__(self, extra_rows: int, columns: int, one_dim: bool, value: float) -> None:
        self.extra_rows, self.columns, self.one_dim, self.value = (
            extra_rows,
            columns,
            one_dim,
            value,
        )

    def predict(self, x: Any) -> np.ndarray:
        return np.zeros(len(x), dtype=int)

    def predict_proba(self, x: Any) -> np.ndarray:
        rows = len(x) + self.extra_rows
        shape = (rows,) if self.one_dim else (rows, self.columns)
        return np.full(shape, self.value)


class Brightness:
    """A well-behaved image classifier on flattened pixels of any size: bright or dark."""

    classes_ = np.array(["dark", "bright"])

    def predict(self, x: Any) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] > 0.5).astype(int)

    def predict_proba(self, x: Any) -> np.ndarray:
        p = np.clip(np.asarray(x, dtype=float).mean(axis=1) / 255.0, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])


class Constant:
    """The same probabilities for every input."""

    classes_ = np.array(["ham", "spam"])

    def predict(self, x: Any) -> np.ndarray:
        return np.ones(len(x), dtype=int)

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.tile([0.25, 0.75], (len(x), 1))


#: Behaviours the README maps to exit 4 and which the adapters already catch.
FAILING = ["memory", "recursion", "key", "nan-one-row", "inf", "one-column-too-many",
           "one-dimensional", "one-row-too-many", "a-scalar", "none"]  # fmt: skip
#: Non-numeric answers still escape the scikit-learn adapter as internal errors (exit 5),
#: or pass with a NumPy warning on stderr (complex); see the report to the lead.
NOT_NUMBERS = ["strings", "ragged", "complex"]


def invoke(*args: Any, input: bytes | None = None):
    """Run the CLI in-process; warnings it would print on stderr are kept in ``.warnings``.

    pytest intercepts warnings, so they are recorded here under Python's
    default filters (what a user's terminal would show) to be checked.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for hidden in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.simplefilter("ignore", hidden)
        result = CliRunner().invoke(cli, [str(a) for a in args], input=input, env=CLEAN_ENV)
    result.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    return result


def files_in(folder: Path) -> set[str]:
    return set(os.listdir(folder))


def assert_clean_failure(result, code: int, folder: Path, before: set[str]) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert not result.warnings, result.warnings  # each would be more lines on stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lime-explain: "), result.stderr
    assert files_in(folder) == before, "an output or temporary file was left behind"
    return lines[0]


def assert_compare_failure(result, code: int, folder: Path, before: set[str]) -> str:
    """Like assert_clean_failure, but a report of model A's side may be written.

    When model B loads but fails on every input, compare still writes its
    report (see the report to the lead); it must then be whole JSON.
    """
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert not result.warnings, result.warnings  # each would be more lines on stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lime-explain: "), result.stderr
    new = files_in(folder) - before
    assert new <= {"out.json"}, new
    if new:
        assert json.loads((folder / "out.json").read_text(encoding="utf-8"))["kind"] == "compare"
    return lines[0]


def dump(obj: Any, path: Path) -> str:
    joblib.dump(obj, path)
    return str(path)


# -- ONNX graphs ------------------------------------------------------------------


def onnx_model(path: Path, nodes: list, output_shape: list, initializers: tuple = ()) -> str:
    graph = helper.make_graph(
        nodes,
        "hostile",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def channel_means(path: Path) -> str:
    """Softmax over the three channel means: a well-behaved model of any image size."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Softmax", ["m"], ["y"], axis=1),
    ]
    return onnx_model(path, nodes, ["N", 3])


def onnx_misbehaving(path: Path, kind: str) -> str:
    mean = helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0)
    const = {
        "seven": numpy_helper.from_array(np.array([-1, 7], dtype=np.int64), "seven"),
        "zero": numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
        "logits": numpy_helper.from_array(np.array([0.1, 2.0, -1.0], np.float32), "logits"),
    }
    if kind == "fails-to-run":  # 3 values per row cannot be reshaped into rows of 7
        nodes = [mean, helper.make_node("Reshape", ["m", "seven"], ["y"])]
        return onnx_model(path, nodes, ["N", 7], [const["seven"]])
    if kind == "nan":
        nodes = [mean, helper.make_node("Sub", ["m", "m"], ["z"]),
                 helper.make_node("Div", ["z", "z"], ["y"])]  # fmt: skip
        return onnx_model(path, nodes, ["N", 3])
    if kind == "inf":
        nodes = [mean, helper.make_node("Div", ["m", "zero"], ["y"])]
        return onnx_model(path, nodes, ["N", 3], [const["zero"]])
    if kind == "one-row-for-the-batch":  # averages the batch away
        nodes = [helper.make_node("ReduceMean", ["x"], ["y"], axes=[0, 2, 3], keepdims=0),
                 ]  # fmt: skip
        nodes = [
            helper.make_node("ReduceMean", ["x"], ["b"], axes=[0, 2, 3], keepdims=1),
            helper.make_node("Flatten", ["b"], ["y"], axis=1),
        ]
        return onnx_model(path, nodes, [1, 3])
    if kind == "constant":  # the input times zero, plus fixed logits
        nodes = [
            mean,
            helper.make_node("Mul", ["m", "zero"], ["z"]),
            helper.make_node("Add", ["z", "logits"], ["y"]),
        ]
        return onnx_model(path, nodes, ["N", 3], [const["zero"], const["logits"]])
    raise ValueError(kind)


# -- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile_models")


@pytest.fixture(scope="module")
def good(folder: Path) -> dict[str, str]:
    return {
        "text": dump(text_classifier(), folder / "lr.joblib"),
        "image": channel_means(folder / "means.onnx"),
        "image-sklearn": dump(Brightness(), folder / "brightness.joblib"),
    }


def write_inputs(tmp_path: Path) -> dict[str, str]:
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    pixels = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    picture = tmp_path / "picture.png"
    Image.fromarray(pixels, "RGB").save(picture)
    return {"text": str(doc), "image": str(picture)}


def command_line(command: str, modality: str, model: str, good_model: str, item: str,
                 out: Path) -> list[Any]:  # fmt: skip
    """A run of ``command`` on one input with ``model`` (compare: as model B)."""
    fast = FAST_TEXT if modality == "text" else FAST_IMAGE
    if command == "explain":
        return [modality, "--model", model, item, *fast, "--out", out]
    if command == "pick":
        return ["pick", modality, "--model", model, item, *fast, "--budget", 1, "--out", out]
    return ["compare", modality, "--model", good_model, "--model", model, item, *fast,
            "--out", out]  # fmt: skip


# -- misbehaving predictions ------------------------------------------------------


@pytest.mark.parametrize("modality", ["text", "image"])
@pytest.mark.parametrize("behaviour", FAILING)
def test_predictions_that_are_unusable_exit_4(tmp_path, folder, modality, behaviour):
    model = dump(Misbehaving(behaviour), folder / f"{behaviour}.joblib")
    item = write_inputs(tmp_path)[modality]
    before = files_in(tmp_path)
    fast = FAST_TEXT if modality == "text" else FAST_IMAGE
    result = invoke(modality, "--model", model, *TRUST, item, *fast,
                    "--out", tmp_path / "out.json")  # fmt: skip
    line = assert_clean_failure(result, 4, tmp_path, before)
    assert line.startswith("lime-explain: model error:") and item in line


@pytest.mark.parametrize(
    "behaviour",
    NOT_NUMBERS,
)  # fmt: skip
def test_answers_that_are_not_numbers_exit_4(tmp_path, folder, behaviour):
    model = dump(Misbehaving(behaviour), folder / f"{behaviour}.joblib")
    item = write_inputs(tmp_path)["text"]
    before = files_in(tmp_path)
    result = invoke("text", "--model", model, *TRUST, item, *FAST_TEXT,
                    "--out", tmp_path / "out.json")  # fmt: skip
    assert_clean_failure(result, 4, tmp_path, before)


@pytest.mark.parametrize("command", ["pick", "compare"])
@pytest.mark.parametrize("modality", ["text", "image"])
def test_a_raising_model_in_pick_and_compare_exits_4(tmp_path, folder, good, command, modality):
    model = dump(Misbehaving("key"), folder / "key.joblib")
    item = write_inputs(tmp_path)[modality]
    before = files_in(tmp_path)
    # compare image takes model B in model A's format: both scikit-learn here.
    model_a = good["image-sklearn" if modality == "image" else "text"]
    args = command_line(command, modality, model, model_a, item, tmp_path / "out.json")
    result = invoke(*args, *TRUST)
    if command == "compare":
        assert "[model B:" in assert_compare_failure(result, 4, tmp_path, before)
    else:
        assert_clean_failure(result, 4, tmp_path, before)


@pytest.mark.parametrize("kind", ["fails-to-run", "nan", "inf", "one-row-for-the-batch"])
@pytest.mark.parametrize("command", ["explain", "pick", "compare"])
def test_onnx_models_that_misbehave_exit_4(tmp_path, folder, good, kind, command):
    model = onnx_misbehaving(folder / f"{kind}.onnx", kind)
    item = write_inputs(tmp_path)["image"]
    before = files_in(tmp_path)
    args = command_line(command, "image", model, good["image"], item, tmp_path / "out.json")
    if command == "explain":
        args += ["--heatmap", tmp_path / "heat.png"]
    result = invoke(*args)
    check = assert_compare_failure if command == "compare" else assert_clean_failure
    assert check(result, 4, tmp_path, before).startswith("lime-explain: model error:")


# -- constant predictions ---------------------------------------------------------


def assert_empty_with_warning(result, labels: int = 1) -> dict:
    assert result.exit_code == 0, result.stderr
    assert not result.warnings and result.stderr == ""
    data = json.loads(result.stdout)
    assert len(data["explanations"]) == labels
    for label in data["explanations"]:
        assert all(abs(f["weight"]) < 1e-9 for f in label["features"])
        assert label["local_prediction"] == pytest.approx(label["model_prediction"])
    assert len(data["warnings"]) == labels
    assert all("explanation is empty" in w for w in data["warnings"])
    return data


@pytest.mark.parametrize("modality", ["text", "image"])
def test_a_constant_model_is_explained_with_a_warning(tmp_path, folder, modality):
    model = dump(Constant(), folder / "constant.joblib")
    item = write_inputs(tmp_path)[modality]
    fast = FAST_TEXT if modality == "text" else FAST_IMAGE
    out = tmp_path / "out.json"
    args = [modality, "--model", model, *TRUST, item, *fast, "--top-labels", 2]
    data = assert_empty_with_warning(invoke(*args, "--format", "json", "--out", out), labels=2)
    assert json.loads(out.read_text(encoding="utf-8")) == data
    table = invoke(*args)
    assert table.exit_code == 0 and table.stderr == ""
    assert table.stdout.count("explanation is empty") == 2  # shown on the terminal


def test_a_constant_onnx_model_is_explained_with_a_warning(tmp_path, folder):
    model = onnx_misbehaving(folder / "constant.onnx", "constant")
    item = write_inputs(tmp_path)["image"]
    args = ["image", "--model", model, item, *FAST_IMAGE]
    assert_empty_with_warning(invoke(*args, "--format", "json"))
    assert "explanation is empty" in invoke(*args).stdout


def test_pick_and_compare_of_constant_models_still_succeed(tmp_path, folder, good):
    model = dump(Constant(), folder / "constant.joblib")
    item = write_inputs(tmp_path)["text"]
    for command in ("pick", "compare"):
        args = command_line(command, "text", model, good["text"], item, tmp_path / "o.json")
        result = invoke(*args, *TRUST)
        assert result.exit_code == 0, result.stderr
        assert json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))


# -- files that are not the model they claim to be --------------------------------


def wrong_model_files(folder: Path, good: dict[str, str]) -> dict[str, tuple[str, int]]:
    """name -> (path, expected exit code)."""
    onnx_bytes = Path(good["image"]).read_bytes()
    pickle_bytes = Path(good["text"]).read_bytes()
    files = {
        "onnx-as-joblib": ("m.joblib", onnx_bytes, 4),
        "onnx-as-skops": ("m.skops", onnx_bytes, 4),
        "pickle-as-onnx": ("p.onnx", pickle_bytes, 4),
        "text-as-joblib": ("notes.joblib", b"model = 'logistic regression'\n", 4),
        "text-as-onnx": ("notes.onnx", b"not a graph\n", 4),
        "truncated-joblib": ("cut.joblib", pickle_bytes[:150], 4),
        "truncated-onnx": ("cut.onnx", onnx_bytes[: len(onnx_bytes) // 2], 4),
        "random-bytes": ("noise.pkl", bytes(np.random.default_rng(5).integers(0, 256, 999,
                                                                               dtype=np.uint8)), 4),
        "empty": ("empty.joblib", b"", 3),
    }  # fmt: skip
    out: dict[str, tuple[str, int]] = {}
    for name, (file_name, data, code) in files.items():
        path = folder / "wrong" / file_name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        out[name] = (str(path), code)
    out["joblib-dict"] = (dump({"coef": [1.0], "classes": ["a"]}, folder / "wrong" / "d.joblib"), 4)
    out["joblib-array"] = (dump(np.eye(3), folder / "wrong" / "a.joblib"), 4)
    out["unfitted"] = (dump(LogisticRegression(), folder / "wrong" / "unfitted.joblib"), 4)
    out["directory"] = (str(folder / "wrong"), 3)
    out["missing"] = (str(folder / "wrong" / "nope.joblib"), 3)
    return out


WRONG = ["onnx-as-joblib", "onnx-as-skops", "pickle-as-onnx", "text-as-joblib", "text-as-onnx",
         "truncated-joblib", "truncated-onnx", "random-bytes", "empty", "joblib-dict",
         "joblib-array", "unfitted", "directory", "missing"]  # fmt: skip


@pytest.mark.parametrize("command", ["explain", "pick", "compare"])
@pytest.mark.parametrize("modality", ["text", "image"])
@pytest.mark.parametrize("case", WRONG)
def test_model_files_of_the_wrong_kind(tmp_path, folder, good, command, modality, case, request):
    path, code = wrong_model_files(folder, good)[case]
    item = write_inputs(tmp_path)[modality]
    before = files_in(tmp_path)
    args = command_line(command, modality, path, good[modality], item, tmp_path / "out.json")
    result = invoke(*args)
    check = assert_compare_failure if command == "compare" else assert_clean_failure
    line = check(result, code, tmp_path, before)
    kind = "model error" if code == 4 else "input error"
    assert line.startswith(f"lime-explain: {kind}:")


def test_a_model_given_as_stdin_is_not_read_from_it(tmp_path):
    item = write_inputs(tmp_path)["text"]
    before = files_in(tmp_path)
    result = invoke("text", "--model", "-", item, *FAST_TEXT, input=b"\x80\x04junk")
    assert_clean_failure(result, 3, tmp_path, before)


# -- property-based: any answer is explained or refused, never half-written ----------

HYPOTHESIS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
garbage = st.builds(
    Garbage,
    extra_rows=st.sampled_from([0, 0, 0, -1, 1]),
    columns=st.sampled_from([2, 2, 1, 3]),
    one_dim=st.booleans(),
    value=st.one_of(
        st.floats(min_value=0, max_value=1),
        st.sampled_from([np.nan, np.inf, -np.inf, 1e6, -5.0]),
    ),
)


@HYPOTHESIS
@given(model=garbage, modality=st.sampled_from(["text", "image"]))
def test_any_answer_is_explained_or_refused_with_exit_4(model, modality):
    valid = (
        model.extra_rows == 0
        and not model.one_dim
        and model.columns == 2
        and np.isfinite(model.value)
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        item = write_inputs(tmp)[modality]
        path = dump(model, tmp / "garbage.joblib")
        out = tmp / "out.json"
        before = files_in(tmp) - {"garbage.joblib"} | {"garbage.joblib"}
        fast = FAST_TEXT if modality == "text" else FAST_IMAGE
        # JSON on stdout: the terminal table of huge "probabilities" is another matter (below).
        result = invoke(modality, "--model", path, *TRUST, item, *fast, "--out", out,
                        "--format", "json")  # fmt: skip
        if valid:
            assert result.exit_code == 0, result.stderr
            assert json.loads(out.read_text(encoding="utf-8"))["warnings"]  # constant answers
        else:
            assert_clean_failure(result, 4, tmp, before)


def test_huge_but_finite_answers_are_a_model_error_not_a_crash(tmp_path):
    """1e308 is finite, but its square overflows the surrogate's sums: exit 4, one line."""
    item = write_inputs(tmp_path)["text"]
    model = dump(Garbage(0, 2, False, 1e308), tmp_path / "huge.joblib")
    before = files_in(tmp_path)
    result = invoke("text", "--model", model, *TRUST, item, *FAST_TEXT)
    line = assert_clean_failure(result, 4, tmp_path, before)
    assert "as large as 1e+308" in line and "overflow" in line


def test_the_table_of_out_of_range_probabilities_is_drawn(tmp_path):
    item = write_inputs(tmp_path)["text"]
    model = dump(Garbage(0, 2, False, 1e12), tmp_path / "huge.joblib")
    result = invoke("text", "--model", model, *TRUST, item, *FAST_TEXT)
    assert result.exit_code == 0, result.stderr
    # The table shows the values as they are, with bars clipped to the column.
    rows = [line for line in result.stdout.splitlines() if "1000000000000.000" in line]
    assert any("ham" in row for row in rows) and any("spam" in row for row in rows)
    assert max(row.count("█") for row in rows) == 24  # BAR_WIDTH, not a trillion cells
