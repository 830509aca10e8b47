"""Ordinary models load without ``--trust-model``; files of the wrong kind fail cleanly.

The estimators are the ones the README promises (random forest, gradient
boosting, logistic regression, SVC with probabilities, TF-IDF, a column
transformer with one-hot encoding, imputation and scaling, an MLP), fitted
on tiny data and saved in every format the loader reads; each must come
back predicting exactly what it predicted before saving.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zlib
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from click.testing import CliRunner
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from lime_cli.cli import cli
from lime_cli.errors import InputError, ModelError
from lime_cli.models.loading import detect_format, load_estimator, load_model, sniff_kind

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    "the match ended with a late goal",
    "shares fell as the market closed",
    "the striker scored twice in the final",
    "profits rose and the bank cut rates",
] * 3
TOPICS = ["sport", "business", "sport", "business"] * 3
FORMATS = ["joblib", "joblib-compressed", "pickle-2", "pickle-5", "skops"]


def tabular() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 60),
            "income": rng.normal(3, 1, 60),
            "city": rng.choice(["paris", "oslo", "rome"], 60),
        }
    )
    frame.loc[::7, "age"] = np.nan
    return frame, rng.integers(0, 3, 60)


def build(name: str) -> tuple[Any, Any]:
    """A fitted estimator and inputs to compare its predictions on."""
    with warnings.catch_warnings():
        # SVC(probability=True) is deprecated from scikit-learn 1.9 but still
        # common in saved models; tiny MLPs do not converge.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _build(name)


def _build(name: str) -> tuple[Any, Any]:
    frame, y = tabular()
    numbers = frame[["age", "income"]].fillna(0).to_numpy()
    if name == "random_forest_tfidf":
        model = make_pipeline(TfidfVectorizer(), RandomForestClassifier(5, random_state=0))
        return model.fit(DOCS, TOPICS), DOCS
    if name == "logistic_tfidf":
        return make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(DOCS, TOPICS), DOCS
    if name == "gradient_boosting":
        return GradientBoostingClassifier(n_estimators=5).fit(numbers, y), numbers
    if name == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(max_iter=5).fit(numbers, y), numbers
    if name == "svc_probability":
        model = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0))
        return model.fit(numbers, y), numbers
    if name == "calibrated_svc":
        model = CalibratedClassifierCV(SVC(), ensemble=False)
        return model.fit(numbers, y), numbers
    if name == "mlp":
        model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0)
        return model.fit(numbers, y), numbers
    if name == "column_transformer":
        prepare = ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ]
        )
        return Pipeline([("prepare", prepare), ("clf", LogisticRegression())]).fit(frame, y), frame
    if name == "ufunc_transformer":
        model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression())
        return model.fit(np.abs(numbers), y), np.abs(numbers)
    raise AssertionError(name)


MODELS = [
    "random_forest_tfidf",
    "logistic_tfidf",
    "gradient_boosting",
    "hist_gradient_boosting",
    "svc_probability",
    "calibrated_svc",
    "mlp",
    "column_transformer",
    "ufunc_transformer",
]


def save(obj: Any, folder: Path, fmt: str) -> Path:
    if fmt == "skops":
        path = folder / "model.skops"
        sio.dump(obj, path)
    elif fmt.startswith("joblib"):
        path = folder / "model.joblib"
        joblib.dump(obj, path, compress=3 if fmt == "joblib-compressed" else 0)
    else:
        path = folder / "model.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=int(fmt.split("-")[1])))
    return path


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[Any, Any]]:
    return {name: build(name) for name in MODELS}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", MODELS)
def test_ordinary_models_load_without_trust(tmp_path, fitted, name, fmt):
    model, inputs = fitted[name]
    path = save(model, tmp_path, fmt)
    loaded = load_estimator(str(path), detect_format(str(path)))
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict_proba(inputs), model.predict_proba(inputs))


@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_cli_explains_an_ordinary_model_without_trust(tmp_path, fitted, fmt):
    path = save(fitted["random_forest_tfidf"][0], tmp_path, fmt)
    doc = tmp_path / "doc.txt"
    doc.write_text("the striker scored a goal\n", encoding="utf-8")
    args = ["text", "--model", str(path), str(doc), "--num-samples", "60", "--seed", "2"]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert '"sport"' in result.stdout


SAMPLES = ["bbc_rf.joblib", "bbc_rf.skops", "breast_cancer_rf.joblib", "penguins_lr.skops"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SAMPLES)
def test_sample_models_load_without_trust(name):
    path = REPO / "sample_models" / name
    if not path.exists():
        pytest.skip(f"{name} not built (make sample-models)")
    model = load_model(str(path))
    assert len(model.classes) >= 2


# -- files of the wrong kind --------------------------------------------------


def tiny_onnx(path: Path) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    onnx.save(helper.make_model(graph), path)
    return path


def model_error(path: Path, fmt: str | None = None) -> str:
    with pytest.raises(ModelError) as info:
        load_model(str(path), fmt=fmt)
    assert "\n" not in info.value.message
    return info.value.message


def test_onnx_given_as_joblib_is_named_as_onnx(tmp_path):
    onnx_path = tiny_onnx(tmp_path / "model.onnx")
    wrong = tmp_path / "model.joblib"
    wrong.write_bytes(onnx_path.read_bytes())
    message = model_error(wrong)
    assert "this is an ONNX model" in message and "--model-format onnx" in message
    assert sniff_kind(str(onnx_path)) == "onnx"


def test_skops_and_joblib_swapped_are_named(tmp_path, fitted):
    model = fitted["logistic_tfidf"][0]
    as_joblib = tmp_path / "a.joblib"
    as_joblib.write_bytes(save(model, tmp_path, "skops").read_bytes())
    assert "--model-format skops" in model_error(as_joblib)
    as_skops = tmp_path / "b.skops"
    as_skops.write_bytes(save(model, tmp_path, "joblib").read_bytes())
    assert "not a skops model: this is a pickle" in model_error(as_skops)
    as_onnx = tmp_path / "c.onnx"
    as_onnx.write_bytes(as_skops.read_bytes())
    assert "not an onnx model" in model_error(as_onnx)


def test_unknown_extension_is_sniffed(tmp_path, fitted):
    model, inputs = fitted["logistic_tfidf"]
    path = tmp_path / "model.bin"
    path.write_bytes(save(model, tmp_path, "joblib-compressed").read_bytes())
    assert detect_format(str(path)) == "joblib"
    assert load_model(str(path)).predict(inputs[:2]).shape == (2, 2)
    skops_path = tmp_path / "model.dat"
    skops_path.write_bytes(save(model, tmp_path, "skops").read_bytes())
    assert detect_format(str(skops_path)) == "skops"


@pytest.mark.parametrize("name", ["notes.joblib", "notes.pkl", "notes.skops", "notes.model"])
def test_text_file_is_not_a_model(tmp_path, name):
    path = tmp_path / name
    path.write_text("This is a README, not a model.\nIt has two lines.\n", encoding="utf-8")
    assert "text file" in model_error(path)


def test_joblib_holding_a_dict_is_not_a_model(tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump({"coef": [1.0, 2.0], "classes": ["a", "b"]}, path)
    assert "holds a dict, not a model" in model_error(path)


@pytest.mark.parametrize("fmt", ["joblib", "joblib-compressed", "pickle-5", "skops"])
def test_truncated_files_fail_cleanly(tmp_path, fitted, fmt):
    path = save(fitted["random_forest_tfidf"][0], tmp_path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = model_error(path)
    assert str(path) in message and "Traceback" not in message


@pytest.mark.parametrize("suffix", [".joblib", ".pkl", ".skops", ".onnx", ".bin"])
def test_random_bytes_fail_cleanly(tmp_path, suffix):
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(np.random.default_rng(7).bytes(4096))
    model_error(path)


def test_corrupted_compressed_stream_fails_cleanly(tmp_path):
    path = tmp_path / "model.joblib"
    path.write_bytes(zlib.compress(b"\x80\x04not a pickle at all")[:-4] + b"\x00\x01")
    model_error(path)


def test_missing_empty_and_directory_are_input_errors(tmp_path):
    empty = tmp_path / "empty.joblib"
    empty.write_bytes(b"")
    for path in (tmp_path / "missing.joblib", empty, tmp_path):
        with pytest.raises(InputError):
            load_model(str(path))


# -- the same through the command line ------------------------------------------


def cli_error(model: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    doc = tmp_path / "doc.txt"
    doc.write_text("the match ended\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["text", "--model", str(model), str(doc), *extra])
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return result.exit_code, lines[0]


def test_cli_wrong_kinds_exit_4_with_one_line(tmp_path):
    onnx_as_joblib = tmp_path / "onnx.joblib"
    onnx_as_joblib.write_bytes(tiny_onnx(tmp_path / "m.onnx").read_bytes())
    text = tmp_path / "text.joblib"
    text.write_text("hello\n", encoding="utf-8")
    holding_dict = tmp_path / "dict.joblib"
    joblib.dump({"a": 1}, holding_dict)
    noise = tmp_path / "noise.pkl"
    noise.write_bytes(os.urandom(2048))
    truncated = tmp_path / "truncated.joblib"
    joblib.dump(make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(DOCS, TOPICS), truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    for path in (onnx_as_joblib, text, holding_dict, noise, truncated):
        code, line = cli_error(path, tmp_path)
        assert code == 4 and line.startswith("lime-explain: model error: "), line


def test_cli_missing_empty_and_directory_exit_3(tmp_path):
    empty = tmp_path / "empty.joblib"
    empty.write_bytes(b"")
    folder = tmp_path / "folder"
    folder.mkdir()
    for path in (tmp_path / "missing.joblib", empty, folder):
        code, line = cli_error(path, tmp_path)
        assert code == 3 and line.startswith("lime-explain: input error: "), line


# -- crafted trees: refused before they can crash the process when predicting ----


def _tree_model() -> RandomForestClassifier:
    x = np.random.default_rng(1).normal(size=(40, 3))
    return RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(x, x[:, 0] > 0)


@pytest.mark.parametrize(
    "field, value", [("left_child", 10**9), ("right_child", 0), ("feature", 99)]
)
@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_crafted_tree_nodes_are_refused(tmp_path, field, value, fmt):
    model = _tree_model()
    tree = model.estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field][0] = value  # node 0 is a split: its children and feature are read
    tree.__setstate__({**state, "nodes": nodes})
    path = save(model, tmp_path, fmt)
    with pytest.raises(ModelError, match="damaged or crafted"):
        load_estimator(str(path), fmt)


def test_crafted_histogram_boosting_nodes_are_refused(tmp_path, fitted):
    model = pickle.loads(pickle.dumps(fitted["hist_gradient_boosting"][0]))
    nodes = model._predictors[0][0].nodes
    split = int(np.flatnonzero(nodes["is_leaf"] == 0)[0])
    nodes["left"][split] = len(nodes) + 5
    path = save(model, tmp_path, "joblib")
    with pytest.raises(ModelError, match="child index is out of range"):
        load_estimator(str(path), "joblib")


def test_untouched_trees_pass_the_check(tmp_path):
    model = _tree_model()
    path = save(model, tmp_path, "joblib")
    loaded = load_estimator(str(path), "joblib")
    assert loaded.estimators_[0].tree_.node_count == model.estimators_[0].tree_.node_count
