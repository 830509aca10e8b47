"""Tabular model formats built by their real converters and libraries at test time:
skl2onnx (one float tensor, and one input per column of mixed types), XGBoost
(.json, .ubj, and its scikit-learn wrapper in a joblib file) and LightGBM (its
text file and its wrapper), plus the audit that lets the wrappers load without
--trust-model and refuses crafted ones.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from _cli import one_error_line, run

from lime_cli.errors import ModelError
from lime_cli.models.loading import load_model

FAST = ("--num-samples", "300", "--seed", "5", "--format", "json")


@pytest.fixture(scope="module")
def numeric(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, np.ndarray]:
    """A CSV of 4 numeric columns whose class is decided by column x0 alone."""
    d = tmp_path_factory.mktemp("formats")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 4)), columns=["x0", "x1", "x2", "x3"])
    y = (frame["x0"] > 0).astype(int).to_numpy()
    frame.assign(label=y).to_csv(d / "data.csv", index=False)
    return d, frame, y


def explain(model: Path, csv: Path, row: int = 0, *extra: object) -> dict:
    result = run(
        "tabular", "--model", model, "--train", csv, "--target", "label", "--row", row, csv,
        *FAST, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def top_column(data: dict) -> str:
    features = data["explanations"][0]["features"]
    return max(features, key=lambda f: abs(f["weight"]))["column"]


# -- skl2onnx --------------------------------------------------------------------------


def test_skl2onnx_float_tensor_model_takes_the_columns_in_order(numeric):
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    d, frame, y = numeric
    clf = LogisticRegression().fit(frame.to_numpy(), y)
    path = d / "lr.onnx"
    path.write_bytes(to_onnx(clf, frame.to_numpy()[:1].astype(np.float32)).SerializeToString())
    data = explain(path, d / "data.csv")
    assert data["model"]["type"] == "onnx-table"
    assert data["model"]["classes"] == ["0", "1"]
    expected = clf.predict_proba(frame.to_numpy()[:1])[0]
    got = [data["prediction"]["probabilities"][c] for c in ("0", "1")]
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert top_column(data) == "x0"


def test_skl2onnx_mixed_type_pipeline_takes_columns_by_name(tmp_path):
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(1)
    n = 240
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=n).round(3),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "weight": rng.normal(size=n).round(3),
        }
    )
    y = np.where(frame["colour"] == "red", "hot", "cold")
    pipe = Pipeline(
        [
            ("cols", ColumnTransformer([("num", StandardScaler(), ["size", "weight"]),
                                        ("cat", OneHotEncoder(), ["colour"])])),
            ("rf", RandomForestClassifier(n_estimators=20, random_state=0)),
        ]
    ).fit(frame, y)  # fmt: skip
    types = [
        ("size", FloatTensorType([None, 1])),
        ("colour", StringTensorType([None, 1])),
        ("weight", FloatTensorType([None, 1])),
    ]
    path = tmp_path / "mixed.onnx"
    path.write_bytes(to_onnx(pipe, initial_types=types).SerializeToString())
    csv = tmp_path / "data.csv"
    frame.assign(label=y).to_csv(csv, index=False)
    row = int(np.flatnonzero(y == "hot")[0])
    data = explain(path, csv, row)
    assert data["model"]["input"] == {"names": ["size", "colour", "weight"], "by_name": True}
    assert data["model"]["classes"] == ["cold", "hot"]  # the ZipMap's labels
    assert data["prediction"]["predicted"] == "hot"
    assert top_column(data) == "colour"


def test_an_image_onnx_model_given_to_tabular_names_the_image_command(numeric, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0)
    graph = helper.make_graph(
        [node], "img", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "img.onnx"
    onnx.save(model, str(path))
    d, _, _ = numeric
    result = run("tabular", "--model", path, "--train", d / "data.csv", "--target", "label",
                 "--row", "0", d / "data.csv")  # fmt: skip
    assert "explain it with lime-explain image" in one_error_line(result, 4)


# -- XGBoost and LightGBM ------------------------------------------------------------------


@pytest.fixture(scope="module")
def boosters(numeric) -> dict[str, Path]:
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    d, frame, y = numeric
    xclf = xgb.XGBClassifier(n_estimators=15, max_depth=2, random_state=0).fit(frame, y)
    lclf = lgb.LGBMClassifier(n_estimators=15, random_state=0, verbose=-1).fit(frame, y)
    paths = {
        "xgb.json": d / "xgb.json",
        "xgb.ubj": d / "xgb.ubj",
        "lgb.txt": d / "lgb.txt",
        "xgb.joblib": d / "xgb.joblib",
        "lgb.joblib": d / "lgb.joblib",
        "lgb.pkl": d / "lgb.pkl",
    }
    xclf.get_booster().save_model(str(paths["xgb.json"]))
    xclf.get_booster().save_model(str(paths["xgb.ubj"]))
    lclf.booster_.save_model(str(paths["lgb.txt"]))
    joblib.dump(xclf, paths["xgb.joblib"])
    joblib.dump(lclf, paths["lgb.joblib"])
    paths["lgb.pkl"].write_bytes(pickle.dumps(lclf, protocol=2))
    expected = {"xgb": xclf.predict_proba(frame[:1])[0], "lgb": lclf.predict_proba(frame[:1])[0]}
    return {**paths, "expected": expected}  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "name", ["xgb.json", "xgb.ubj", "lgb.txt", "xgb.joblib", "lgb.joblib", "lgb.pkl"]
)
def test_boosters_load_without_trust_and_explain(numeric, boosters, name):
    d, _, _ = numeric
    data = explain(boosters[name], d / "data.csv")
    expected = boosters["expected"][name[:3]]
    got = [data["prediction"]["probabilities"][c] for c in data["model"]["classes"]]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert data["model"]["scores"] == "probabilities"
    assert top_column(data) == "x0"


def test_native_booster_files_are_detected_by_their_bytes(numeric, boosters, tmp_path):
    pairs = (("xgb.json", "xgboost"), ("lgb.txt", "lightgbm"), ("xgb.ubj", "xgboost"))
    for name, fmt in pairs:
        copy = tmp_path / f"model_{fmt}.bin"
        copy.write_bytes(boosters[name].read_bytes())
        assert load_model(str(copy)).describe()["format"] == fmt


def test_an_xgboost_margin_objective_is_reported_as_scores(numeric, tmp_path):
    xgb = pytest.importorskip("xgboost")
    _, frame, y = numeric
    booster = xgb.train({"objective": "binary:logitraw", "max_depth": 2}, xgb.DMatrix(frame, y), 5)
    path = tmp_path / "raw.json"
    booster.save_model(str(path))
    model = load_model(str(path))
    assert model.describe()["scores"] == "decision_function->logistic"
    probs = model.predict(frame[:3])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_a_json_file_that_is_not_an_xgboost_model_is_one_line(numeric, tmp_path):
    d, _, _ = numeric
    path = tmp_path / "model.json"
    path.write_text('{"weights": [1, 2]}')
    line = one_error_line(
        run("tabular", "--model", path, "--train", d / "data.csv", "--row", "0", d / "data.csv"), 4
    )
    assert "not an XGBoost model" in line


# -- the audit: crafted wrapper files are refused --------------------------------------------


class _Call:
    """Pickles as a call of ``func(*args)`` (what a crafted file can ask for)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def crafted_refusal(tmp_path: Path, payload: object, name: str = "bad.pkl") -> str:
    path = tmp_path / name
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(ModelError) as info:
        load_model(str(path), fmt="pickle")
    return str(info.value)


def test_calling_an_xgboost_booster_with_a_file_path_is_refused(tmp_path):
    xgb = pytest.importorskip("xgboost")
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    message = crafted_refusal(tmp_path, _Call(xgb.Booster, None, None, str(secret)))
    assert "xgboost.core.Booster" in message and "rebuilt from its saved state" in message


def test_calling_a_lightgbm_booster_is_refused(tmp_path):
    lgb = pytest.importorskip("lightgbm")
    message = crafted_refusal(tmp_path, _Call(lgb.Booster, {"machines": "10.0.0.1:1"}))
    assert "lightgbm.basic.Booster" in message and "--trust-model" in message


def test_reconstructing_with_a_booster_as_base_is_refused(tmp_path):
    import copyreg

    xgb = pytest.importorskip("xgboost")
    payload = _Call(copyreg._reconstructor, xgb.XGBClassifier, xgb.Booster, {"x": 1})
    assert "rebuilt from its saved state" in crafted_refusal(tmp_path, payload)


def test_other_classes_of_the_boosting_packages_stay_refused(tmp_path):
    xgb = pytest.importorskip("xgboost")
    pytest.importorskip("xgboost.callback")
    payload = _Call(xgb.callback.EarlyStopping, 3)
    message = crafted_refusal(tmp_path, payload)
    assert "EarlyStopping" in message and "--trust-model" in message


def test_a_lightgbm_wrapper_whose_parameters_name_machines_is_refused(numeric, boosters, tmp_path):
    model = joblib.load(boosters["lgb.joblib"])
    model.booster_.params["machines"] = "10.0.0.1:12400"
    path = tmp_path / "net.joblib"
    joblib.dump(model, path)
    with pytest.raises(ModelError, match="name files or machines"):
        load_model(str(path))


def test_an_xgboost_booster_without_its_model_bytes_is_refused(numeric, boosters, tmp_path):
    model = joblib.load(boosters["xgb.joblib"])
    booster = model.get_booster()
    state = booster.__getstate__()
    state["handle"] = None
    empty = object.__new__(type(booster))
    empty.__dict__.update(state)
    model._Booster = empty
    path = tmp_path / "empty.pkl"
    path.write_bytes(pickle.dumps(model, protocol=2))
    empty.__dict__["handle"] = None  # nothing for __del__ to free
    with pytest.raises(ModelError, match="holds no model"):
        load_model(str(path), fmt="pickle")


@pytest.mark.parametrize("name", ["breast_cancer_xgb.json", "breast_cancer_lgbm.txt"])
def test_the_committed_boosting_samples_explain_a_test_row(name):
    pytest.importorskip("xgboost" if name.endswith(".json") else "lightgbm")
    root = Path(__file__).resolve().parents[1]
    data = root / "sample_data" / "tabular"
    result = run(
        "tabular", "--model", root / "sample_models" / name, "--class-names", "benign,malignant",
        "--train", data / "breast_cancer_train.csv", "--target", "diagnosis", "--row", "0",
        data / "breast_cancer_test.csv", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    explanation = json.loads(result.stdout)
    assert explanation["model"]["classes"] == ["benign", "malignant"]
    test = pd.read_csv(data / "breast_cancer_test.csv")
    assert explanation["prediction"]["predicted"] == test["diagnosis"][0]


def test_boosting_wrappers_in_skops_files_load_without_trust(numeric, boosters, tmp_path):
    sio = pytest.importorskip("skops.io")
    _, frame, _ = numeric
    for name in ("xgb.joblib", "lgb.joblib"):
        path = tmp_path / name.replace(".joblib", ".skops")
        sio.dump(joblib.load(boosters[name]), path)
        model = load_model(str(path))
        np.testing.assert_allclose(
            model.predict(frame[:1])[0], boosters["expected"][name[:3]], rtol=1e-6
        )
