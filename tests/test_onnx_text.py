"""ONNX text classifiers: token-id models with a tokenizer.json, and skl2onnx text pipelines.

Every model and tokenizer is built here, from a few sentences (no downloads).
"""

from __future__ import annotations

import json
import locale
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import one_error_line as _one_error_line
from _cli import run
from _onnx_text_fixtures import bag_of_tokens_graph, token_weights, word_piece_tokenizer

from lime_cli.errors import ModelError, UsageError
from lime_cli.models.loading import load_model

pytest.importorskip("tokenizers")
pytest.importorskip("onnx")

WORDS = {
    "goal": [3.0, 0.0, 0.0],
    "scored": [2.0, 0.0, 0.0],
    "bank": [0.0, 3.0, 0.0],
    "shares": [0.0, 2.0, 0.0],
    "phone": [0.0, 0.0, 3.0],
    "software": [0.0, 0.0, 2.0],
}
CLASSES = ["sport", "business", "tech"]
DOC = "The striker scored a late goal while the bank sold shares of the club."
FAST = ("--num-samples", "300", "--seed", "3")


def one_error_line(result, code: int) -> str:
    return _one_error_line(result, code, max_length=500)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.onnx (input_ids, attention_mask -> logits), tokenizer.json, model.json, doc.txt."""
    d = tmp_path_factory.mktemp("onnx_text")
    tok = word_piece_tokenizer(d / "tokenizer.json")
    bag_of_tokens_graph(d / "model.onnx", token_weights(tok, WORDS, 3))
    (d / "model.json").write_text(json.dumps({"class_names": CLASSES}))
    (d / "doc.txt").write_text(DOC)
    return d


def explain_json(*args: object) -> dict:
    result = run("text", *args, *FAST, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def weights_of(data: dict, label: str) -> dict[str, float]:
    for block in data["explanations"]:
        if block["label"] == label:
            return {f["feature"]: f["weight"] for f in block["features"]}
    raise AssertionError(f"no explanation for {label}")


def test_token_model_with_tokenizer_beside_it_names_the_decisive_words(folder: Path):
    data = explain_json("--model", folder / "model.onnx", folder / "doc.txt", "--top-labels", "1")
    assert data["model"]["classes"] == CLASSES  # from the model.json sidecar
    assert data["model"]["scores"] == "logits->softmax"
    assert data["model"]["tokenizer"].endswith("tokenizer.json")
    assert data["prediction"]["predicted"] == "sport"
    weights = weights_of(data, "sport")
    top = sorted(weights, key=lambda w: -abs(weights[w]))[:4]
    assert {"goal", "scored"} <= set(top)
    assert weights["goal"] > 0 and weights["bank"] < 0


def test_adapter_matches_the_graph_run_by_hand(folder: Path):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model = load_model(str(folder / "model.onnx"), purpose="text")
    texts = [DOC, "phone software", "bank", ""]
    got = model.predict(texts)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    for i, text in enumerate(texts):  # one at a time: no padding at all
        ids = np.array([tok.encode(text).ids], dtype=np.int64)
        (logits,) = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        expected = np.exp(logits[0]) / np.exp(logits[0]).sum()
        np.testing.assert_allclose(got[i], expected, rtol=1e-5, atol=1e-6)
    assert model.input_spec.kind == "text"


@pytest.mark.parametrize(
    ("inputs", "dtype"),
    [
        (("input_ids", "attention_mask", "token_type_ids"), "int64"),  # BERT-family
        (("input_ids",), "int32"),
    ],
)
def test_inputs_are_fed_by_name_with_the_declared_integer_type(
    folder: Path, tmp_path, inputs, dtype
):
    path = bag_of_tokens_graph(
        tmp_path / "m.onnx", token_weights(folder / "tokenizer.json", WORDS, 3), inputs=inputs,
        dtype=dtype,
    )  # fmt: skip
    model = load_model(str(path), purpose="text", tokenizer=str(folder / "tokenizer.json"))
    assert model.describe()["input"] == {"names": list(inputs), "dtype": dtype}
    probs = model.predict(["goal goal", "phone"])
    assert probs.shape == (2, 3)
    assert probs[0].argmax() == 0 and probs[1].argmax() == 2


def test_padding_does_not_change_a_document_s_scores(folder: Path):
    model = load_model(str(folder / "model.onnx"), purpose="text")
    alone = model.predict(["bank"])
    padded = model.predict(["bank", DOC * 3])  # "bank" padded to the long document's length
    np.testing.assert_allclose(alone[0], padded[0], rtol=1e-6)


def test_long_documents_are_cut_with_a_warning_naming_the_tokens_cut(folder: Path):
    data = explain_json("--model", folder / "model.onnx", folder / "doc.txt", "--max-length", "8")
    assert data["model"]["max_length"] == 8
    (warning,) = [w for w in data["warnings"] if "tokens cut" in w]
    model = load_model(str(folder / "model.onnx"), purpose="text")
    total = len(model._full.encode(DOC).ids)
    assert f"has {total} tokens" in warning and f"({total - 8} tokens cut" in warning
    full = explain_json("--model", folder / "model.onnx", folder / "doc.txt")
    assert not [w for w in full["warnings"] if "tokens cut" in w]
    assert full["model"]["max_length"] == 512  # nothing says: BERT's limit


def test_output_probabilities_are_not_softmaxed_again(folder: Path, tmp_path):
    table = token_weights(folder / "tokenizer.json", WORDS, 3)
    path = bag_of_tokens_graph(tmp_path / "p.onnx", table, softmax=True)
    auto = load_model(str(path), purpose="text", tokenizer=str(folder / "tokenizer.json"))
    probs = auto.predict(["goal"])
    assert auto.describe()["scores"] == "probabilities"
    forced = load_model(
        str(path), purpose="text", tokenizer=str(folder / "tokenizer.json"), output="logits"
    )
    assert not np.allclose(forced.predict(["goal"]), probs)  # softmax of probabilities


def test_class_names_file_and_hugging_face_config(folder: Path, tmp_path):
    path = bag_of_tokens_graph(
        tmp_path / "m.onnx", token_weights(folder / "tokenizer.json", WORDS, 3)
    )
    tok = str(folder / "tokenizer.json")
    (tmp_path / "config.json").write_text(
        json.dumps({"id2label": {"0": "SPORT", "2": "TECH", "1": "BUSINESS"}})
    )
    assert load_model(str(path), purpose="text", tokenizer=tok).classes == [
        "SPORT", "BUSINESS", "TECH",
    ]  # fmt: skip
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\n")
    model = load_model(str(path), purpose="text", tokenizer=tok, class_names_file=str(names))
    assert model.classes == ["a", "b", "c"]
    (tmp_path / "two.txt").write_text("a\nb\n")
    with pytest.raises(UsageError, match="2 class names"):
        load_model(
            str(path), purpose="text", tokenizer=tok, class_names_file=str(tmp_path / "two.txt")
        )


def test_a_token_model_without_a_tokenizer_says_how_to_give_one(folder: Path, tmp_path):
    path = bag_of_tokens_graph(tmp_path / "alone.onnx", np.zeros((10, 2), dtype=np.float32))
    line = one_error_line(run("text", "--model", path, folder / "doc.txt", *FAST), 2)
    assert "--tokenizer tokenizer.json" in line


def test_a_file_that_is_not_a_tokenizer_is_one_line(folder: Path, tmp_path):
    bad = tmp_path / "tok.json"
    bad.write_text('{"version": "1.0", "model": 3}')
    line = one_error_line(
        run("text", "--model", folder / "model.onnx", "--tokenizer", bad, folder / "doc.txt"), 3
    )
    assert "not a Hugging Face tokenizers file" in line


def test_tokenizer_options_are_for_onnx_models_only(folder: Path, tmp_path):
    import joblib
    from _fakes import text_classifier

    path = tmp_path / "m.joblib"
    joblib.dump(text_classifier(), path)
    line = one_error_line(
        run("text", "--model", path, "--tokenizer", folder / "tokenizer.json", folder / "doc.txt"),
        2,
    )
    assert "--tokenizer applies to ONNX models only" in line


def test_a_text_onnx_model_given_to_image_and_tabular_names_the_text_command(
    folder: Path, tmp_path
):
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    image = tmp_path / "i.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)
    for args in (
        ["image", "--model", folder / "model.onnx", image],
        ["tabular", "--model", folder / "model.onnx", "--train", csv, "--row", "0", csv],
    ):
        assert "explain it with lime-explain text" in one_error_line(run(*args), 4)


# -- scikit-learn text pipelines converted with skl2onnx ----------------------------------


def sklearn_text_onnx(path: Path, *, zipmap: bool, locale_name: str | None = "C.UTF-8") -> Path:
    pytest.importorskip("skl2onnx")
    from _onnx_text_fixtures import SENTENCES
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    labels = ["sport", "sport", "business", "business", "tech", "tech"] * 3
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(SENTENCES, labels)
    options: dict = {id(pipe.steps[-1][1]): {"zipmap": zipmap}}
    if locale_name:
        options[TfidfVectorizer] = {"locale": locale_name}
    onx = to_onnx(pipe, initial_types=[("text", StringTensorType([None, 1]))], options=options)
    path.write_bytes(onx.SerializeToString())
    return path


def test_converted_sklearn_text_pipeline_is_explained_with_its_class_labels(tmp_path):
    path = sklearn_text_onnx(tmp_path / "skl.onnx", zipmap=True)
    doc = tmp_path / "doc.txt"
    doc.write_text("the striker scored a goal for the team")
    data = explain_json("--model", path, doc)
    assert data["model"]["type"] == "onnx-sklearn-text"
    assert data["model"]["classes"] == ["business", "sport", "tech"]  # ZipMap's keys
    assert data["model"]["scores"] == "probabilities"
    assert data["prediction"]["predicted"] == "sport"


def test_converted_sklearn_text_pipeline_without_zipmap(tmp_path):
    path = sklearn_text_onnx(tmp_path / "skl.onnx", zipmap=False)
    model = load_model(str(path), purpose="text")
    probs = model.predict(["shares of the bank", "a faster chip for the phone"])
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert list(probs.argmax(axis=1)) == [0, 2]  # business, tech in sorted class order


def _has_locale(name: str) -> bool:
    try:
        saved = locale.setlocale(locale.LC_CTYPE)
        locale.setlocale(locale.LC_CTYPE, name)
        locale.setlocale(locale.LC_CTYPE, saved)
        return True
    except locale.Error:
        return False


@pytest.mark.skipif(_has_locale("en_US.UTF-8"), reason="this machine has en_US.UTF-8")
def test_a_missing_string_normaliser_locale_is_one_line_saying_so(tmp_path):
    path = sklearn_text_onnx(tmp_path / "skl.onnx", zipmap=True, locale_name=None)
    doc = tmp_path / "doc.txt"
    doc.write_text("goal")
    line = one_error_line(run("text", "--model", path, doc), 4)
    assert "en_US.UTF-8 locale" in line and "locale-gen" in line
    # In a process of its own: onnxruntime logs to the process's stderr (not
    # click's), and its coloured log line used to come before this one.
    cli = [sys.executable, "-m", "lime_cli", "text", "--model", str(path), str(doc)]
    real = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert real.returncode == 4 and real.stderr == line + "\n"
    with pytest.raises(ModelError, match="C.UTF-8"):
        load_model(str(path), purpose="text")


TRICKY = (
    "Café naïve — “quoted” e-mail: a+b=c, 3.14%! 東京 Ümlaut\u00a0nbsp\ttab striker's goal... "
    "x" * 120 + " scored"
)


def test_the_word_cache_gives_the_tokenizer_s_own_ids(folder: Path):
    import re

    model = load_model(str(folder / "model.onnx"), purpose="text")
    assert model.shortcut is not None  # a BERT-style WordPiece tokenizer
    words = re.split(r"(\W+)", TRICKY)
    rng = np.random.default_rng(0)
    for _ in range(200):
        keep = rng.random(len(words)) > rng.random()
        copy = "".join(w if k else "" for w, k in zip(words, keep))
        assert model.shortcut.agrees(copy), copy
    plain = load_model(str(folder / "model.onnx"), purpose="text")
    plain.shortcut = None
    texts = [TRICKY, "goal", "", TRICKY[:40]]
    np.testing.assert_allclose(model.predict(texts), plain.predict(texts), rtol=1e-6)


def test_the_word_cache_steps_aside_when_it_would_differ(folder: Path):
    model = load_model(str(folder / "model.onnx"), purpose="text")
    text = "[SEP] the bank [CLS] shares"  # special tokens written in the text
    assert not model.shortcut.agrees(text)
    expected = load_model(str(folder / "model.onnx"), purpose="text")
    expected.shortcut = None
    np.testing.assert_allclose(model.predict([text, "bank"]), expected.predict([text, "bank"]))
    assert model.shortcut is None


def test_worker_processes_load_the_model_with_its_tokenizer_options(folder: Path, tmp_path):
    tok = tmp_path / "elsewhere.json"
    tok.write_bytes((folder / "tokenizer.json").read_bytes())
    model = tmp_path / "m.onnx"
    model.write_bytes((folder / "model.onnx").read_bytes())  # no tokenizer beside it
    other = tmp_path / "other.txt"
    other.write_text("the bank sold shares")
    args = ("--model", model, "--tokenizer", tok, "--max-length", "16", folder / "doc.txt", other)
    outputs = []
    for jobs in ("1", "2"):
        result = run("text", *args, *FAST, "--format", "json", "--jobs", jobs)
        assert result.exit_code == 0, result.stderr
        outputs.append([json.loads(line) for line in result.stdout.splitlines()])
    assert [d["prediction"] for d in outputs[0]] == [d["prediction"] for d in outputs[1]]
    assert [d["explanations"] for d in outputs[0]] == [d["explanations"] for d in outputs[1]]
    assert outputs[1][0]["model"]["max_length"] == 16


def test_resume_refuses_a_tokenizer_or_sidecar_changed_beside_the_model(folder: Path, tmp_path):
    """The tokenizer and MODEL.json found beside the model shape every explanation:
    their content joins the settings' hash, as --tokenizer's does."""
    import shutil

    for name in ("model.onnx", "tokenizer.json", "model.json", "doc.txt"):
        shutil.copy(folder / name, tmp_path / name)
    out = tmp_path / "o.jsonl"
    argv = ["text", "--model", tmp_path / "model.onnx", tmp_path / "doc.txt", *FAST,
            "-q", "--out", out, "--resume"]  # fmt: skip
    assert run(*argv).exit_code == 0
    for name in ("tokenizer.json", "model.json"):
        edited = tmp_path / name
        saved = edited.read_bytes()
        edited.write_bytes(saved + b"\n")  # the same settings, other bytes
        refused = run(*argv)
        assert refused.exit_code == 2
        assert f"written with other settings (the content of {name} differs)" in refused.stderr
        edited.write_bytes(saved)
    assert run(*argv).exit_code == 0


def test_files_beside_the_model_count_by_name_and_content_not_by_folder(
    folder: Path, tmp_path, monkeypatch
):
    """A checkout moved elsewhere (relative paths) goes on; the sidecar of an ONNX
    model named without .onnx is read, so it counts too; a class names file the
    sidecar names does not count when --class-names is given (it is not read)."""
    import shutil

    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(folder / "model.onnx", first / "m.onnx")
    shutil.copy(folder / "tokenizer.json", first / "m.tokenizer.json")
    (first / "m.json").write_text(json.dumps({"class_names_file": "names.txt"}))
    (first / "names.txt").write_text("\n".join(CLASSES) + "\n")
    shutil.copy(folder / "doc.txt", first / "doc.txt")

    def gate(model: str, out: str, *more: str):
        return run("text", "--model", model, "doc.txt", *FAST, "-q", "--out", out, "--resume",
                   *more)  # fmt: skip

    monkeypatch.chdir(first)
    assert gate("m.onnx", "o.jsonl").exit_code == 0
    moved = tmp_path / "moved"
    first.rename(moved)
    monkeypatch.chdir(moved)
    assert gate("m.onnx", "o.jsonl").exit_code == 0  # the same files elsewhere
    (moved / "m.onnx").rename(moved / "m.bin")  # ONNX by --model-format: m.json is its sidecar
    assert gate("m.bin", "b.jsonl", "--model-format", "onnx").exit_code == 0
    (moved / "m.json").write_text(json.dumps({"class_names_file": "names.txt", "max_length": 16}))
    refused = gate("m.bin", "b.jsonl", "--model-format", "onnx")
    assert refused.exit_code == 2 and "(the content of m.json differs)" in refused.stderr
    named = ("--model-format", "onnx", "--class-names", ",".join(CLASSES))
    assert gate("m.bin", "n.jsonl", *named).exit_code == 0
    (moved / "names.txt").write_text("\n".join(c.upper() for c in CLASSES) + "\n")  # not read
    assert gate("m.bin", "n.jsonl", *named).exit_code == 0


def test_a_config_json_the_run_does_not_read_does_not_count(folder: Path, tmp_path):
    """config.json gives class names only when the sidecar does not: beside a
    sidecar with class names it is never read, so editing it refuses nothing."""
    import shutil

    for name in ("model.onnx", "tokenizer.json", "model.json", "doc.txt"):
        shutil.copy(folder / name, tmp_path / name)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"id2label": {"0": "x", "1": "y", "2": "z"}}))
    argv = ["text", "--model", tmp_path / "model.onnx", tmp_path / "doc.txt", *FAST, "-q",
            "--out", tmp_path / "o.jsonl", "--resume"]  # fmt: skip
    assert run(*argv).exit_code == 0
    config.write_text(json.dumps({"id2label": {"0": "p", "1": "q", "2": "r"}}))
    again = run(*argv)
    assert again.exit_code == 0, again.stderr
