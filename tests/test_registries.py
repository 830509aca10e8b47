"""The seams of part 6: a new output, a new modality and saved explanations.

Each test registers something new the way the README's recipes say (one
module plus one registry line) and checks that help, validation, output and
every command pick it up without any other module being edited; and that
every output can be drawn again from the saved JSON alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from _fakes import SPORTS_DOC, text_classifier
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from lime_cli.cli import cli
from lime_cli.modalities import MODALITIES
from lime_cli.render import registry

CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
REPO = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=CLEAN_ENV)


@pytest.fixture
def toy_format():
    fmt = registry.register(
        registry.OutputFormat(
            "toy",
            "one tab-separated line per explanation",
            extensions=(".toy",),
            writer="toy_writer:write",
            stream="toy_writer:stream",
        )
    )
    yield fmt
    del registry.FORMATS["toy"]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "lr.joblib"
    joblib.dump(text_classifier(), path)
    return path


def test_a_registered_writer_appears_in_help_validation_and_output(
    toy_format, text_model, tmp_path
):
    helped = run("text", "--help").output
    assert ".toy" in helped and "toy" in helped.split("--format")[1].split("--")[0]
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    out = tmp_path / "o.toy"
    result = run("text", "--model", text_model, doc, "--num-samples", "100", "--seed", "1",
                 "--out", out, "--format", "toy")  # fmt: skip
    assert result.exit_code == 0, result.output
    name, label, top = out.read_text(encoding="utf-8").strip().split("\t")
    assert name.endswith("doc.txt") and label == "sports" and top
    assert (
        result.stdout.startswith("TOY ") and result.stdout.strip()[4:] == f"{name}\t{label}\t{top}"
    )
    # Every modality, pick and compare see it too.
    assert ".toy" in run("tabular", "--help").output
    assert ".toy" in run("image", "--help").output
    bad = run("text", "--model", text_model, doc, "--out", tmp_path / "o.nope")
    assert bad.exit_code == 2 and ".toy" in bad.stderr


def test_without_the_registration_the_format_is_unknown(text_model, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    result = run("text", "--model", text_model, doc, "--out", tmp_path / "o.toy")
    assert result.exit_code == 2 and "unknown extension '.toy'" in result.stderr
    assert not (tmp_path / "o.toy").exists()


@pytest.fixture
def numbers_modality():
    MODALITIES["numbers"] = ("toy_modality", "Which numbers decided.")
    yield
    del MODALITIES["numbers"]


def test_a_registered_modality_gets_every_command(numbers_modality, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 2] > 0).astype(int)  # only x2 matters
    model = tmp_path / "lr.joblib"
    joblib.dump(LogisticRegression().fit(x, y), model)
    line = tmp_path / "one.txt"
    line.write_text("0.5,-1.0,2.0,0.3", encoding="utf-8")
    other = tmp_path / "two.txt"
    other.write_text("1.5,0.2,-2.0,0.1", encoding="utf-8")

    assert "numbers" in run("--help").output and "Which numbers decided." in run("--help").output
    result = run("numbers", "--model", model, line, "--seed", "4", "--format", "json")
    assert result.exit_code == 0, result.output
    explanation = json.loads(result.stdout)
    assert explanation["modality"] == "numbers"
    assert explanation["params"]["num_samples"] == 300  # the modality's own default
    assert explanation["explanations"][0]["features"][0]["feature"] == "x2=2"
    picked = run("pick", "numbers", "--model", model, line, other, "--budget", "1", "--seed", "4",
                 "--format", "json")  # fmt: skip
    assert picked.exit_code == 0, picked.output
    assert json.loads(picked.stdout)["picked_count"] == 1
    compared = run("compare", "numbers", "--model", model, "--model", model, line, "--seed", "4",
                   "--format", "json")  # fmt: skip
    assert compared.exit_code == 0, compared.output
    report = json.loads(compared.stdout)
    a, b = report["inputs"][0]["explanations"]
    assert a["explanations"] == b["explanations"]  # same model, same seed
    assert run("numbers", "--model", model, tmp_path / "missing.txt").exit_code == 3


def test_text_tables_are_drawn_again_from_saved_json(text_model, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    saved = tmp_path / "e.json"
    first = run("text", "--model", text_model, doc, "--num-samples", "200", "--seed", "5",
                "--out", saved)  # fmt: skip
    assert first.exit_code == 0, first.output
    again = run("render", saved)
    assert again.exit_code == 0, again.output
    assert again.stdout == first.stdout and "[+" in again.stdout  # words marked in the text
    as_json = run("render", saved, "--format", "json")
    assert json.loads(as_json.stdout) == json.loads(saved.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_image_pictures_are_drawn_again_from_saved_json(tmp_path):
    model = REPO / "sample_models" / "efficientnet_lite0.onnx"
    image = REPO / "sample_data" / "images" / "coffee.jpg"
    saved = tmp_path / "e.jsonl"
    first = run("image", "--model", model, image, "--num-samples", "60", "--seed", "2",
                "--top-labels", "2", "--out", tmp_path / "a.png", "--out", tmp_path / "a.npy",
                "--heatmap", tmp_path / "h.png", "--out", saved)  # fmt: skip
    assert first.exit_code == 0, first.output
    again = run("render", saved, "--out", tmp_path / "b.png", "--out", tmp_path / "b.npy",
                "--out", f"heatmap:{tmp_path / 'g.png'}", "--quiet")  # fmt: skip
    assert again.exit_code == 0, again.output
    firsts = sorted(p.name for p in tmp_path.glob("a-*.png"))
    assert len(firsts) == 2  # one per label
    for name in firsts:
        assert (tmp_path / name.replace("a-", "b-")).read_bytes() == (tmp_path / name).read_bytes()
        heat = name.replace("a-", "h-")
        assert (tmp_path / heat.replace("h-", "g-")).read_bytes() == (tmp_path / heat).read_bytes()
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert run("render", saved, "--quiet").exit_code == 0
    text_saved = tmp_path / "t.json"
    text_saved.write_text(json.dumps({**json.loads(saved.read_text().splitlines()[0]),
                                      "modality": "text"}))  # fmt: skip
    refused = run("render", text_saved, "--out", f"heatmap:{tmp_path / 'x.png'}")
    assert refused.exit_code == 2 and "no format named 'heatmap' here" in refused.stderr


def test_render_refuses_what_is_not_an_explanation(tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}', encoding="utf-8")
    result = run("render", junk)
    assert result.exit_code == 3 and "not a lime-explain explanation" in result.stderr
    text_only = tmp_path / "t.json"
    text_only.write_text("", encoding="utf-8")
    assert run("render", text_only).exit_code == 3
    # What is wrong, in the user's terms (not a KeyError's or AttributeError's text).
    for content, said in [
        ('{"hello": 1}', "(unsupported schema_version None (expected 1))"),
        ('{"schema_version": 1, "modality": "text"}', "(no 'model' field)"),
        ("[1, 2]", "(a JSON number, not an object)"),
        ("[]", "no explanation to draw"),
        ('{"kind": "pick", "picked": []}', "a pick report, not explanations"),
    ]:
        junk.write_text(content, encoding="utf-8")
        result = run("render", junk, "--out", str(tmp_path / "x.png"))
        assert result.exit_code == 3 and said in result.stderr, (content, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "x.png").exists()
