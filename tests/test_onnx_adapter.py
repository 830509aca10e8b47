"""ONNX models through onnxruntime: preprocessing, layouts, outputs and model errors.

Every model here is a tiny graph built with onnx.helper in the test itself.
"""

import json
import os

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper
from PIL import Image

from lime_cli.cli import cli
from lime_cli.errors import ModelError, UsageError
from lime_cli.image.domain import ImageDomain
from lime_cli.image.preprocess import Preprocessing, apply_geometry
from lime_cli.models.onnx_adapter import OnnxModel


def build(path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def tensor(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def flatten_model(path, input_shape, dtype=TensorProto.FLOAT):
    """Returns its input, flattened: the preprocessed tensor itself, as (batch, values)."""
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], axis=1)]
    if dtype != TensorProto.FLOAT:
        nodes = [
            helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
            helper.make_node("Flatten", ["xf"], ["flat"], axis=1),
        ]
    return build(path, nodes, [tensor("x", input_shape, dtype)], [tensor("flat", ["N", None])])


def channel_mean_model(path, size=6):
    """Probabilities over 3 classes: a softmax of the mean of each input channel."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Softmax", ["m"], ["p"], axis=1),
    ]
    return build(path, nodes, [tensor("x", ["N", 3, size, size])], [tensor("p", ["N", 3])])


def photo(width=20, height=10, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


SETTINGS = {
    "resize": 8,
    "crop": 6,
    "interpolation": "bilinear",
    "scale": 1 / 255,
    "mean": [0.1, 0.2, 0.3],
    "std": [0.5, 0.6, 0.7],
    "channels": "bgr",
    "output": "probabilities",
}


def hand_computed(picture, layout):
    """The reference: shorter side 10 -> 8 (20x10 -> 16x8), crop 6x6 at (5, 1), BGR, normalise."""
    resized = picture.resize((16, 8), Image.Resampling.BILINEAR)
    cropped = np.asarray(resized.crop((5, 1, 11, 7)), dtype=np.float64)
    bgr = cropped[..., ::-1]
    x = (bgr / 255 - np.array([0.1, 0.2, 0.3])) / np.array([0.5, 0.6, 0.7])
    if layout == "nchw":
        x = x.transpose(2, 0, 1)
    return x.ravel()


def tensor_for(model_path, settings_path, picture, *, flags=None):
    model = OnnxModel.load(model_path, output="probabilities")
    spec = Preprocessing.from_settings(settings_path, flags or {})
    model_input = model.input_spec
    spec = spec.resolve(model_input)
    geometry = apply_geometry(picture, spec, "photo")
    encoder = spec.encoder_for(geometry.size, model_input, "photo")
    pixels = np.asarray(geometry)
    domain = ImageDomain(pixels, np.zeros(pixels.shape[:2], int), encoder=encoder)
    return model.predict(domain.to_model_input(np.ones((1, 1), np.uint8)))[0], spec


@pytest.mark.parametrize("layout, shape", [("nchw", ["N", 3, 6, 6]), ("nhwc", ["N", 6, 6, 3])])
def test_preprocessing_matches_a_hand_computed_reference(tmp_path, layout, shape):
    model_path = flatten_model(tmp_path / "tiny.onnx", shape)
    settings = tmp_path / "tiny.json"
    settings.write_text(json.dumps(SETTINGS))
    picture = photo()
    values, spec = tensor_for(model_path, str(settings), picture)
    assert spec.layout == layout  # read from the model's input shape
    np.testing.assert_allclose(values, hand_computed(picture, layout), rtol=1e-5, atol=1e-5)


def test_flags_override_the_settings_file(tmp_path):
    model_path = flatten_model(tmp_path / "tiny.onnx", ["N", 3, 6, 6])
    settings = tmp_path / "tiny.json"
    settings.write_text(json.dumps(SETTINGS))
    picture = photo()
    values, spec = tensor_for(model_path, str(settings), picture, flags={"channels": "rgb"})
    assert spec.channels == "rgb"
    cropped = np.asarray(
        picture.resize((16, 8), Image.Resampling.BILINEAR).crop((5, 1, 11, 7)), dtype=np.float64
    )
    expected = ((cropped / 255 - [0.1, 0.2, 0.3]) / [0.5, 0.6, 0.7]).transpose(2, 0, 1).ravel()
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5)


def test_fixed_size_model_gets_resize_and_centre_crop_by_default(tmp_path):
    model_path = flatten_model(tmp_path / "tiny.onnx", ["N", 3, 6, 6])
    picture = photo()
    values, spec = tensor_for(model_path, None, picture)
    assert spec.resize == 6 and spec.crop == (6, 6)
    resized = picture.resize((12, 6), Image.Resampling.BICUBIC).crop((3, 0, 9, 6))
    expected = np.asarray(resized, dtype=np.float64).transpose(2, 0, 1).ravel()
    np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_greyscale_model_input(tmp_path):
    model_path = flatten_model(tmp_path / "grey.onnx", ["N", 1, 6, 6])
    picture = photo(6, 6)
    values, spec = tensor_for(model_path, None, picture)
    assert spec.channels == "grey"
    rgb = np.asarray(picture, dtype=np.float64)
    expected = rgb @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(values, expected.ravel(), rtol=1e-5)


def test_uint8_input_model_gets_rounded_bytes(tmp_path):
    model_path = flatten_model(tmp_path / "u8.onnx", ["N", 6, 6, 3], TensorProto.UINT8)
    picture = photo(6, 6)
    values, _ = tensor_for(model_path, None, picture)
    np.testing.assert_array_equal(values, np.asarray(picture, dtype=np.float64).ravel())


def test_fixed_batch_size_is_split_and_padded(tmp_path):
    model_path = flatten_model(tmp_path / "one.onnx", [1, 3, 2, 2])
    model = OnnxModel.load(model_path, output="probabilities")
    batch = np.random.default_rng(0).random((5, 3, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(model.predict(batch), batch.reshape(5, -1), rtol=1e-6)


def test_logits_get_a_softmax_and_probabilities_do_not(tmp_path):
    logits = OnnxModel.load(flatten_model(tmp_path / "l.onnx", ["N", 3, 1, 1]), output="auto")
    x = np.array([[[[1.0]], [[2.0]], [[3.0]]]], dtype=np.float32)
    expected = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(logits.predict(x)[0], expected, rtol=1e-6)
    assert logits.describe()["output"]["softmax"] is True
    probs = OnnxModel.load(channel_mean_model(tmp_path / "p.onnx", 1), output="auto")
    p = probs.predict(x)
    np.testing.assert_allclose(p[0], expected, rtol=1e-6)  # the model's own softmax, once
    assert probs.describe()["output"]["softmax"] is False


def test_class_names_must_match_the_output_size(tmp_path):
    with pytest.raises(UsageError, match="2 class names"):
        OnnxModel.load(channel_mean_model(tmp_path / "p.onnx"), class_names=["a", "b"])


def test_unexpected_input_rank_is_a_model_error(tmp_path):
    path = flatten_model(tmp_path / "r3.onnx", ["N", 6, 6])
    with pytest.raises(ModelError, match="input rank 3"):
        OnnxModel.load(path)


def test_unexpected_output_rank_is_a_model_error(tmp_path):
    path = build(
        tmp_path / "out4.onnx",
        [helper.make_node("Identity", ["x"], ["y"])],
        [tensor("x", ["N", 3, 6, 6])],
        [tensor("y", ["N", 3, 6, 6])],
    )
    with pytest.raises(ModelError, match="rank 2"):
        OnnxModel.load(path)


def test_two_inputs_are_a_model_error(tmp_path):
    path = build(
        tmp_path / "two.onnx",
        [helper.make_node("Add", ["a", "b"], ["c"])],
        [tensor("a", ["N", 3]), tensor("b", ["N", 3])],
        [tensor("c", ["N", 3])],
    )
    with pytest.raises(ModelError, match="2 inputs"):
        OnnxModel.load(path)


def test_garbage_file_is_a_model_error(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08this is not a protobuf of a model" * 10)
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        OnnxModel.load(str(path))


# -- through the command ------------------------------------------------------
def run(args):
    return CliRunner().invoke(cli, ["image"] + [str(a) for a in args])


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith(("out", ".lime")))


def test_command_uses_the_json_beside_the_model_and_reports_it(tmp_path):
    model_path = channel_mean_model(tmp_path / "means.onnx")
    (tmp_path / "means.json").write_text(json.dumps(SETTINGS))
    (tmp_path / "names.txt").write_text("blue\ngreen\nred\n")
    picture = photo()
    picture.save(tmp_path / "photo.png")
    result = run(
        [
            "--model", model_path, tmp_path / "photo.png", "--class-names-file",
            tmp_path / "names.txt", "--num-samples", 20, "--seed", 1, "--format", "json",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    pre = data["model"]["preprocessing"]
    assert pre["source"].endswith("means.json")
    assert pre["channels"] == "bgr" and pre["layout"] == "nchw" and pre["crop"] == "6x6"
    means = hand_computed(picture, "nchw").reshape(3, -1).mean(axis=1)
    expected = np.exp(means) / np.exp(means).sum()
    probs = data["prediction"]["probabilities"]
    np.testing.assert_allclose([probs[n] for n in ["blue", "green", "red"]], expected, rtol=1e-5)


def test_command_unknown_preprocessing_key_is_a_usage_error(tmp_path):
    model_path = channel_mean_model(tmp_path / "means.onnx")
    (tmp_path / "means.json").write_text(json.dumps({"resize": 8, "colour": "yes"}))
    photo().save(tmp_path / "photo.png")
    result = run(["--model", model_path, tmp_path / "photo.png", "--num-samples", 10])
    assert result.exit_code == 2
    assert "colour" in result.stderr


@pytest.mark.parametrize(
    "kind",
    ["input_rank", "output_rank", "nan"],
)
def test_command_model_errors_exit_4_and_write_nothing(tmp_path, kind):
    if kind == "input_rank":
        model_path = flatten_model(tmp_path / "m.onnx", ["N", 6, 6])
    elif kind == "output_rank":
        model_path = build(
            tmp_path / "m.onnx",
            [helper.make_node("Identity", ["x"], ["y"])],
            [tensor("x", ["N", 3, 6, 6])],
            [tensor("y", ["N", 3, 6, 6])],
        )
    else:
        model_path = build(
            tmp_path / "m.onnx",
            [
                helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
                helper.make_node("Sub", ["m", "m"], ["zero"]),
                helper.make_node("Div", ["zero", "zero"], ["nan"]),
            ],
            [tensor("x", ["N", 3, 6, 6])],
            [tensor("nan", ["N", 3])],
        )
    photo().save(tmp_path / "photo.png")
    result = run(
        [
            "--model", model_path, tmp_path / "photo.png", "--num-samples", 10,
            "--out", tmp_path / "out.png", "--out", tmp_path / "out.json",
        ]
    )  # fmt: skip
    assert result.exit_code == 4, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lime-explain: model error:")
    assert "Traceback" not in result.output
    assert leftovers(tmp_path) == []


def test_command_with_a_dynamic_number_of_outputs(tmp_path):
    model_path = flatten_model(tmp_path / "flat.onnx", ["N", 3, 2, 2])
    photo(4, 4).save(tmp_path / "photo.png")
    result = run(
        ["--model", model_path, tmp_path / "photo.png", "--num-samples", 10, "--seed", 0,
         "--segmenter", "slic", "--segments", 2, "--format", "json"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["model"]["classes"]) == 12
    assert data["model"]["preprocessing"]["crop"] == "2x2"
