"""A model given to the wrong command, and other frameworks' files: one line, the right
command or the way out, before any sampling; error lines never echo the model's input."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from _cli import one_error_line as _one_error_line
from _cli import run
from _fakes import SPORTS_DOC, margin_classifier, text_classifier
from sklearn.linear_model import LogisticRegression

from lime_cli.errors import ModelError
from lime_cli.models.sklearn_adapter import MESSAGE_LIMIT, SklearnModel


def one_error_line(result, code: int) -> str:
    return _one_error_line(result, code, max_length=400)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("kinds")
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 7})
    y = (frame["a"] > 20).astype(int)
    frame.assign(label=y).to_csv(d / "data.csv", index=False)
    joblib.dump(LogisticRegression().fit(frame, y), d / "table.joblib")
    joblib.dump(text_classifier(), d / "text.joblib")
    (d / "doc.txt").write_text(SPORTS_DOC)
    return {
        "csv": d / "data.csv",
        "table": d / "table.joblib",
        "text": d / "text.joblib",
        "doc": d / "doc.txt",
        "dir": d,
    }


def test_a_tabular_model_given_to_text_names_the_tabular_command(files):
    line = one_error_line(run("text", "--model", files["table"], files["doc"]), 4)
    assert "a tabular model" in line and "lime-explain tabular" in line


def test_a_text_model_given_to_tabular_names_the_text_command(files):
    result = run("tabular", "--model", files["text"], "--train", files["csv"], "--target",
                 "label", "--row", "0", files["csv"])  # fmt: skip
    line = one_error_line(result, 4)
    assert "a text model" in line and "lime-explain text" in line
    assert "lower" not in line  # not the AttributeError from deep inside the vectoriser


def test_text_and_tabular_models_given_to_image_name_their_commands(files, tmp_path):
    from PIL import Image

    picture = tmp_path / "p.png"
    Image.new("RGB", (16, 16)).save(picture)
    assert "lime-explain text" in one_error_line(run("image", "--model", files["text"], picture), 4)
    assert "lime-explain tabular" in one_error_line(
        run("image", "--model", files["table"], picture), 4
    )


def test_an_image_onnx_model_given_to_text_names_the_image_command(files):
    model = Path(__file__).resolve().parents[1] / "sample_models" / "efficientnet_lite0.onnx"
    line = one_error_line(run("text", "--model", model, files["doc"]), 4)
    assert "an image model" in line and "lime-explain image" in line


def test_a_failing_model_s_message_is_cut_not_echoed_whole():
    class Echo:
        classes_ = np.array(["a", "b"])

        def predict_proba(self, batch):
            raise ValueError(f"could not convert: {list(batch)!r}")

    model = SklearnModel(Echo(), path="m.joblib", fmt="joblib")
    with pytest.raises(ModelError) as info:
        model.predict(["word " * 2000] * 50)
    message = str(info.value)
    assert len(message) < MESSAGE_LIMIT + 80
    assert message.endswith("…")


def test_decision_function_models_say_their_scores_are_not_probabilities():
    model = SklearnModel(margin_classifier(), path="svc.joblib", fmt="joblib")
    facts = model.describe()
    assert facts["output"] == "decision_function"
    assert facts["scores"].startswith("decision_function->")
    assert SklearnModel(text_classifier(), path="m", fmt="joblib").describe()["scores"] == (
        "probabilities"
    )


# -- other frameworks' files -------------------------------------------------------------


def torch_checkpoint(path: Path) -> Path:
    """The layout torch.save writes: a zip of <name>/data.pkl, <name>/version, tensors."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("model/version", b"3\n")
        archive.writestr("model/data/0", b"\x00" * 16)
    return path


def keras_archive(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return path


def safetensors_file(path: Path) -> Path:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 4)
    return path


def hdf5_file(path: Path) -> Path:
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    return path


@pytest.mark.parametrize(
    ("name", "make", "what"),
    [
        ("model.pt", torch_checkpoint, "PyTorch"),
        ("checkpoint.bin", torch_checkpoint, "PyTorch"),  # recognised by its bytes
        ("model.skops", torch_checkpoint, "PyTorch"),  # not "not a readable skops file"
        ("model.keras", keras_archive, "Keras"),
        ("weights.data", keras_archive, "Keras"),
        ("model.safetensors", safetensors_file, "safetensors"),
        ("weights.dat", safetensors_file, "safetensors"),
        ("model.h5", hdf5_file, "Keras"),
        ("weights.bin", hdf5_file, "Keras"),
    ],
)
def test_other_frameworks_files_are_answered_with_export_to_onnx(files, tmp_path, name, make, what):
    path = make(tmp_path / name)
    for command in (["text", "--model", path, files["doc"]],
                    ["tabular", "--model", path, "--train", files["csv"], "--row", "0",
                     files["csv"]]):  # fmt: skip
        line = one_error_line(run(*command), 4)
        assert what in line and "export it to ONNX" in line and "file.py:function" in line


def test_a_tensorflow_saved_model_folder_is_answered_with_export_to_onnx(files, tmp_path):
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    line = one_error_line(run("text", "--model", folder, files["doc"]), 4)
    assert "TensorFlow SavedModel" in line and "export it to ONNX" in line
