"""``lime-explain text`` through click's runner: outputs, files, seeds and exit codes.

Models are tiny real scikit-learn pipelines trained on a few sentences (and
misbehaving estimators from ``_fakes``), saved with joblib into a temporary
folder; every run uses few samples so the whole module stays fast.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
from _fakes import (
    SPORTS_DOC,
    ConstantClassifier,
    NaNClassifier,
    NoClassesClassifier,
    RaisingClassifier,
    WrongShapeClassifier,
    margin_classifier,
    text_classifier,
    text_regressor,
)
from click.testing import CliRunner

from lime_cli.cli import cli

REPO = Path(__file__).resolve().parents[1]
FOOD_DOC = "The chef baked bread and cooked fresh pasta with garlic for dinner."
TECH_DOC = "The new laptop has a faster chip, and the phone software update is out."
FAST = ["--num-samples", "150", "--seed", "3"]
#: Colour settings of the environment that would otherwise leak into the runs.
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("models")
    objects = {
        "lr": text_classifier(),
        "svc": margin_classifier(),
        "ridge": text_regressor(),
        "raising": RaisingClassifier(),
        "raising_multiline": RaisingClassifier("cannot score these documents\nsecond line\n"),
        "nan": NaNClassifier(),
        "wrong_shape": WrongShapeClassifier(),
        "constant": ConstantClassifier(),
        "no_classes": NoClassesClassifier(),
        "dict": {"coef": [1.0, 2.0], "classes": ["a", "b"]},
    }
    paths = {}
    for name, obj in objects.items():
        path = folder / f"{name}.joblib"
        joblib.dump(obj, path)
        paths[name] = str(path)
    return paths


@pytest.fixture
def docs(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, text in [("sports", SPORTS_DOC), ("food", FOOD_DOC), ("tech", TECH_DOC)]:
        path = tmp_path / f"{name}.txt"
        path.write_text(text + "\n", encoding="utf-8")
        paths[name] = str(path)
    return paths


def run(*args: str, input: str | bytes | None = None, env: dict | None = None):
    return CliRunner().invoke(cli, ["text", *args], input=input, env={**CLEAN_ENV, **(env or {})})


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result.stdout


def json_lines(result) -> list[dict]:
    return [json.loads(line) for line in ok(result).splitlines() if line.strip()]


def assert_error(result, code: int) -> str:
    """Exit ``code`` with exactly one line on stderr and no traceback anywhere."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stderr
    return lines[0]


# -- terminal and JSON output ------------------------------------------------------


def test_table_shows_prediction_features_and_score(models, docs):
    args = ["--model", models["lr"], "--input", docs["sports"], *FAST]
    table = ok(run(*args))
    (data,) = json_lines(run(*args, "--format", "json"))
    label = data["explanations"][0]
    assert label["label"] == "sports"
    assert "sports" in table
    assert "score" in table
    for feature in label["features"]:
        assert re.search(rf"\b{re.escape(feature['feature'])}\b", table), feature
    assert "\x1b[" not in table


def test_json_explains_the_predicted_class(models, docs):
    (data,) = json_lines(run("--model", models["lr"], docs["sports"], *FAST, "--format", "json"))
    probs = data["prediction"]["probabilities"]
    assert max(probs, key=probs.get) == "sports"
    assert [e["label"] for e in data["explanations"]] == ["sports"]
    assert data["params"]["num_samples"] == 150 and data["params"]["seed"] == 3
    assert data["model"]["path"] == models["lr"]


def test_several_inputs_give_json_lines_in_order(models, docs):
    args = ["--model", models["lr"], *FAST, "--format", "json"]
    forward = json_lines(run(*args, docs["sports"], docs["food"], docs["tech"]))
    assert [d["input"]["name"] for d in forward] == [docs["sports"], docs["food"], docs["tech"]]
    assert [d["explanations"][0]["label"] for d in forward] == ["sports", "food", "tech"]
    backward = json_lines(run(*args, docs["tech"], docs["sports"]))
    assert [d["input"]["name"] for d in backward] == [docs["tech"], docs["sports"]]
    mixed = json_lines(run(*args, "--input", docs["food"], docs["sports"]))
    assert [d["input"]["name"] for d in mixed] == [docs["food"], docs["sports"]]


def test_a_directory_stands_for_its_text_files_in_order(models, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "b.txt").write_text(SPORTS_DOC, encoding="utf-8")
    (folder / "a.txt").write_text(FOOD_DOC, encoding="utf-8")
    (folder / ".hidden.txt").write_text(TECH_DOC, encoding="utf-8")
    (folder / "notes.pdf").write_text(TECH_DOC, encoding="utf-8")  # not a text suffix
    shown = json_lines(run("--model", models["lr"], str(folder), *FAST, "--format", "json"))
    assert [d["input"]["name"] for d in shown] == [str(folder / "a.txt"), str(folder / "b.txt")]


def test_lines_makes_each_line_a_document(models):
    stdin = f"{SPORTS_DOC}\n\n{FOOD_DOC}\n"
    args = ["--model", models["lr"], "-", "--lines", *FAST, "--format", "json"]
    shown = json_lines(run(*args, input=stdin))
    assert [d["input"]["name"] for d in shown] == ["stdin:1", "stdin:3"]
    assert [d["explanations"][0]["label"] for d in shown] == ["sports", "food"]


def test_jobs_do_not_change_the_results(models, docs):
    args = ["--model", models["lr"], docs["sports"], docs["food"], *FAST, "--format", "json"]
    assert ok(run(*args, "--jobs", "2")) == ok(run(*args))


def test_stdin_dash_reads_the_document(models, docs):
    args = ["--model", models["lr"], *FAST, "--format", "json"]
    (from_stdin,) = json_lines(run(*args, "-", input=SPORTS_DOC + "\n"))
    (from_file,) = json_lines(run(*args, docs["sports"]))
    assert from_stdin["input"]["name"] == "stdin"
    assert from_stdin["explanations"] == from_file["explanations"]


def test_labels_and_top_labels_choose_what_is_explained(models, docs):
    args = ["--model", models["lr"], docs["sports"], *FAST, "--format", "json"]
    (named,) = json_lines(run(*args, "--labels", "food", "--labels", "tech"))
    assert [e["label"] for e in named["explanations"]] == ["food", "tech"]
    (top,) = json_lines(run(*args, "--top-labels", "2"))
    probs = top["prediction"]["probabilities"]
    assert [e["label"] for e in top["explanations"]] == sorted(probs, key=probs.get)[::-1][:2]
    (all_,) = json_lines(run(*args, "--top-labels", "10"))
    assert len(all_["explanations"]) == 3


def test_class_names_rename_the_model_classes(models, docs):
    (data,) = json_lines(
        run(
            "--model",
            models["lr"],
            docs["sports"],
            *FAST,
            "--format",
            "json",
            "--class-names",
            "Food,Sport,Tech",
        )
    )
    assert data["model"]["classes"] == ["Food", "Sport", "Tech"]
    assert data["explanations"][0]["label"] == "Sport"


def test_positional_and_character_features(models, tmp_path):
    doc = tmp_path / "repeat.txt"
    doc.write_text("goal goal team goal", encoding="utf-8")
    args = ["--model", models["lr"], str(doc), *FAST, "--format", "json", "--num-features", "3"]
    (bow,) = json_lines(run(*args))
    (positional,) = json_lines(run(*args, "--no-bow"))
    (chars,) = json_lines(run(*args, "--char-level"))
    assert bow["input"]["num_features"] == 2
    assert positional["input"]["num_features"] == 4
    assert all(len(f["feature"]) == 1 for f in chars["explanations"][0]["features"])


def test_decision_function_only_models_are_explained(models, docs):
    (data,) = json_lines(run("--model", models["svc"], docs["food"], *FAST, "--format", "json"))
    probs = data["prediction"]["probabilities"]
    assert sum(probs.values()) == pytest.approx(1.0)
    assert max(probs, key=probs.get) == "food"
    assert data["explanations"][0]["label"] == "food"
    assert data["explanations"][0]["features"]
    assert data["model"]["scores"].startswith("decision_function->")
    # Part 8: squashed margins are shown as scores, not as probabilities.
    table = run("--model", models["svc"], docs["food"], *FAST).stdout
    assert "score" in table.split("Why")[0] and "probability" not in table.split("Why")[0]
    assert "probability" in run("--model", models["lr"], docs["food"], *FAST).stdout


def test_regression_mode_explains_a_regressor(models, docs):
    args = ["--model", models["ridge"], docs["sports"], *FAST, "--format", "json"]
    for extra in ([], ["--mode", "regression"]):
        (data,) = json_lines(run(*args, *extra))
        assert data["model"]["mode"] == "regression"
        assert "value" in data["prediction"] and "probabilities" not in data["prediction"]
        (label,) = data["explanations"]
        assert label["model_prediction"] == pytest.approx(data["prediction"]["value"])
        assert label["features"]


def test_model_without_classes_attribute_gets_numbered_classes(models, tmp_path):
    doc = tmp_path / "mail.txt"
    doc.write_text("buy cheap spam now", encoding="utf-8")
    result = run(
        "--model",
        models["no_classes"],
        "--trust-module",
        "_fakes",
        str(doc),
        *FAST,
        "--format",
        "json",
    )
    (data,) = json_lines(result)
    assert data["model"]["classes"] == ["0", "1"]
    assert data["explanations"][0]["label"] == "1"
    assert data["explanations"][0]["features"][0]["feature"] == "spam"


def test_constant_model_reports_a_warning(models, docs):
    args = ["--model", models["constant"], "--trust-module", "_fakes", docs["sports"], *FAST]
    (data,) = json_lines(run(*args, "--format", "json"))
    assert data["warnings"]
    assert "warning" in ok(run(*args))


# -- files ------------------------------------------------------------------------


def test_out_json_writes_a_parsable_file(models, docs, tmp_path):
    out = tmp_path / "explanation.json"
    result = run(
        "--model", models["lr"], docs["sports"], *FAST, "--out", str(out), "--format", "json"
    )
    (shown,) = json_lines(result)
    assert json.loads(out.read_text(encoding="utf-8")) == shown


def test_out_twice_writes_both_files(models, docs, tmp_path):
    one, two = tmp_path / "one.json", tmp_path / "two.jsonl"
    table = ok(
        run(
            "--model",
            models["lr"],
            docs["sports"],
            docs["food"],
            *FAST,
            "--out",
            str(one),
            "--out",
            str(two),
        )
    )
    assert "sports" in table
    for path in (one, two):
        lines = path.read_text(encoding="utf-8").splitlines()
        parsed = [json.loads(line) for line in lines]
        assert [p["input"]["name"] for p in parsed] == [docs["sports"], docs["food"]]


@pytest.mark.parametrize("name", ["explanation.csv", "explanation", "explanation.json.txt"])
def test_unknown_out_extension_is_a_usage_error(models, docs, tmp_path, name):
    out = tmp_path / name
    result = run("--model", models["lr"], docs["sports"], *FAST, "--out", str(out))
    assert_error(result, 2)
    assert not out.exists()
    assert result.stdout == ""


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_no_output_file_after_a_failed_explanation(models, docs, tmp_path):
    out = tmp_path / "result.json"
    result = run(
        "--model",
        models["nan"],
        "--trust-module",
        "_fakes",
        docs["sports"],
        *FAST,
        "--out",
        str(out),
    )
    assert_error(result, 4)
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_failed_run_leaves_an_existing_output_file_alone(models, docs, tmp_path):
    out = tmp_path / "result.json"
    out.write_text("previous contents", encoding="utf-8")
    result = run(
        "--model",
        models["raising"],
        "--trust-module",
        "_fakes",
        docs["sports"],
        *FAST,
        "--out",
        str(out),
    )
    assert_error(result, 4)
    assert out.read_text(encoding="utf-8") == "previous contents"


def test_a_write_that_fails_half_way_leaves_no_file(models, docs, tmp_path, monkeypatch):
    import lime_cli.output

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lime_cli.output.os, "fsync", broken_fsync)
    out = tmp_path / "result.json"
    result = run("--model", models["lr"], docs["sports"], *FAST, "--out", str(out), "--quiet")
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not out.exists()
    assert leftovers(tmp_path) == []


# -- seeds -------------------------------------------------------------------------


def test_same_seed_gives_identical_json(models, docs):
    args = ["--model", models["lr"], docs["sports"], "--num-samples", "150", "--format", "json"]
    first = ok(run(*args, "--seed", "11"))
    assert ok(run(*args, "--seed", "11")) == first
    assert ok(run(*args, "--seed", "12")) != first


def test_same_seed_same_result_after_other_documents(models, docs):
    args = ["--model", models["lr"], "--seed", "5", "--num-samples", "150", "--format", "json"]
    alone = json_lines(run(*args, docs["sports"]))[0]
    after = json_lines(run(*args, docs["food"], docs["tech"], docs["sports"]))[2]
    assert after == alone


def test_without_seed_the_reported_seed_reproduces_the_run(models, docs):
    args = ["--model", models["lr"], docs["sports"], "--num-samples", "150", "--format", "json"]
    (first,) = json_lines(run(*args))
    seed = first["params"]["seed"]
    assert isinstance(seed, int) and seed >= 0
    (again,) = json_lines(run(*args, "--seed", str(seed)))
    assert again == first


# -- exit codes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        ["--no-such-option"],
        ["--num-samples", "1"],
        ["--num-samples", "many"],
        ["--feature-selection", "magic"],
        ["--top-labels", "0"],
        ["--min-stability", "nan"],
        ["--timeout", "nan"],
        ["--stability", "0.9"],
        ["--max-samples", "100"],
    ],
    ids=[
        "unknown-option",
        "too-few-samples",
        "not-a-number",
        "bad-choice",
        "zero-top-labels",
        "nan-min-stability",
        "nan-timeout",
        "stability-without-auto",
        "max-samples-without-auto",
    ],  # fmt: skip
)
def test_bad_options_exit_2(models, docs, extra):
    """One line naming the option (click's own four-line usage text is not shown)."""
    result = run("--model", models["lr"], docs["sports"], *FAST, *extra)
    line = assert_error(result, 2)
    assert line.startswith("lime-explain: usage error: ") and extra[0] in line
    assert "Usage:" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "extra",
    [
        ["--labels", "weather"],
        ["--labels", "sports", "--top-labels", "2"],
        ["--class-names", "only,two"],
    ],
    ids=["unknown-label", "labels-and-top-labels", "wrong-number-of-class-names"],
)
def test_impossible_requests_exit_2_with_one_line(models, docs, extra):
    line = assert_error(run("--model", models["lr"], docs["sports"], *FAST, *extra), 2)
    if "weather" in extra:
        assert "weather" in line


def test_no_input_and_stdin_twice_exit_2(models):
    assert_error(run("--model", models["lr"], *FAST), 2)
    assert_error(run("--model", models["lr"], "-", "-", *FAST, input="a b c"), 2)


@pytest.mark.parametrize(
    "content",
    [b"", b"  \n\t\n", b"caf\xe9 latin-1 text", b"some text\x00with NUL", b"!!! ... ???"],
    ids=["empty", "whitespace", "invalid-utf8", "nul-bytes", "no-words"],
)
def test_unusable_documents_exit_3(models, tmp_path, content):
    doc = tmp_path / "doc.txt"
    doc.write_bytes(content)
    line = assert_error(run("--model", models["lr"], str(doc), *FAST), 3)
    assert str(doc) in line


def test_missing_input_file_exits_3(models, tmp_path):
    missing = tmp_path / "nope.txt"
    line = assert_error(run("--model", models["lr"], str(missing), *FAST), 3)
    assert "nope.txt" in line


def test_missing_or_directory_model_exits_3(tmp_path, docs):
    assert_error(run("--model", str(tmp_path / "nope.joblib"), docs["sports"], *FAST), 3)
    assert_error(run("--model", str(tmp_path), docs["sports"], *FAST), 3)


def test_a_bad_document_among_good_ones_fails_only_itself(models, docs, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\xfa")
    result = run(
        "--model", models["lr"], docs["sports"], str(bad), docs["food"], *FAST, "--format", "json"
    )
    assert_error(result, 3)
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["input"]["name"] for d in shown] == [docs["sports"], docs["food"]]


def test_files_that_are_not_models_exit_4(models, docs, tmp_path):
    text_file = tmp_path / "notes.joblib"
    text_file.write_text("this is not a model", encoding="utf-8")
    noise = tmp_path / "noise.pkl"
    noise.write_bytes(bytes(range(256)) * 4)
    truncated = tmp_path / "truncated.joblib"
    truncated.write_bytes(Path(models["lr"]).read_bytes()[:200])
    for path in (text_file, noise, truncated, models["dict"]):
        assert_error(run("--model", str(path), docs["sports"], *FAST), 4)


@pytest.mark.parametrize("name", ["raising", "nan", "wrong_shape"])
def test_models_that_misbehave_exit_4(models, docs, name):
    result = run("--model", models[name], "--trust-module", "_fakes", docs["sports"], *FAST)
    line = assert_error(result, 4)
    assert "model" in line


def test_a_multi_line_model_error_is_reported_on_one_line(models, docs):
    result = run(
        "--model", models["raising_multiline"], "--trust-module", "_fakes", docs["sports"], *FAST
    )
    line = assert_error(result, 4)
    assert "cannot score these documents" in line and "second line" in line


def test_untrusted_code_in_a_model_file_is_refused_with_4(models, docs):
    line = assert_error(run("--model", models["constant"], docs["sports"], *FAST), 4)
    assert "_fakes" in line


def test_unexpected_internal_error_exits_5(models, docs, monkeypatch):
    from lime_cli.text.domain import TextDomain

    def boom(self, z):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(TextDomain, "distances", boom)
    line = assert_error(run("--model", models["lr"], docs["sports"], *FAST), 5)
    assert "simulated bug" in line
    debug = run("--model", models["lr"], docs["sports"], *FAST, "--debug")
    assert isinstance(debug.exception, ZeroDivisionError)


def test_a_multi_line_internal_error_is_reported_on_one_line(models, docs, monkeypatch):
    from lime_cli.text.domain import TextDomain

    def boom(self, z):
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(TextDomain, "distances", boom)
    line = assert_error(run("--model", models["lr"], docs["sports"], *FAST), 5)
    assert "first line" in line and "second line" in line


# -- colour, start-up, imports -------------------------------------------------------


@pytest.mark.parametrize("no_color", [None, "1"])
def test_piped_output_has_no_escape_codes(models, docs, no_color):
    table = ok(run("--model", models["lr"], docs["sports"], *FAST, env={"NO_COLOR": no_color}))
    assert "sports" in table
    assert "\x1b" not in table


#: SGR parameters that set a colour (foreground, background, 256/true colour).
COLOUR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


def test_no_color_removes_colour_even_on_a_terminal(models, docs):
    args = ["--model", models["lr"], docs["sports"], *FAST]
    coloured = ok(run(*args, env={"FORCE_COLOR": "1"}))
    assert COLOUR_SGR.search(coloured), "FORCE_COLOR should make rich colour the output"
    plain = ok(run(*args, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}))
    assert not COLOUR_SGR.search(plain)


def python(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=60
    )


def test_python_dash_m_help_works():
    result = python("-m", "lime_cli", "--help")
    assert result.returncode == 0, result.stderr
    assert "text" in result.stdout
    assert "Exit codes" in result.stdout


HEAVY = ("sklearn", "scipy", "onnxruntime", "pandas")


def test_cli_import_and_help_do_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import lime_cli.cli\n"
        "heavy = sys.argv[1:]\n"
        "after_import = [m for m in heavy if m in sys.modules]\n"
        "r1 = CliRunner().invoke(lime_cli.cli.cli, ['--help'])\n"
        "r2 = CliRunner().invoke(lime_cli.cli.cli, ['text', '--help'])\n"
        "assert r1.exit_code == 0 and r2.exit_code == 0, (r1.output, r2.output)\n"
        "after_help = [m for m in heavy if m in sys.modules]\n"
        "print(after_import, after_help)\n"
    )
    result = python("-c", code, *HEAVY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"


# -- the real sample model -----------------------------------------------------------

SAMPLE_MODEL = REPO / "sample_models" / "bbc_rf.joblib"
SAMPLE_DOC = REPO / "sample_data" / "text" / "sports_506.txt"


@pytest.mark.slow
@pytest.mark.skipif(
    not (SAMPLE_MODEL.exists() and SAMPLE_DOC.exists()), reason="run make sample-models"
)
def test_sample_forest_explains_a_real_sports_article():
    result = run(
        "--model",
        str(SAMPLE_MODEL),
        str(SAMPLE_DOC),
        "--num-samples",
        "300",
        "--seed",
        "7",
        "--format",
        "json",
    )
    (data,) = json_lines(result)
    probs = data["prediction"]["probabilities"]
    assert max(probs, key=probs.get) == "sports"
    label = data["explanations"][0]
    assert label["label"] == "sports"
    assert len(label["features"]) == 10
    assert 0.0 <= label["score"] <= 1.0


@pytest.mark.parametrize("command", [["text"], ["image"], ["tabular"], ["compare", "tabular"]])
def test_help_names_every_rules_key_and_no_empty_range(command):
    """Unbounded numbers show no range (click wrote ``[x<=None]``), and --rules
    lists every key a rules file may hold."""
    from lime_cli.checks import RULE_KEYS

    result = CliRunner().invoke(cli, [*command, "--help"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Usage: cli {' '.join(command)} ")
    assert "None]" not in result.stdout
    flat = " ".join(result.stdout.split())
    assert all(key in flat for key in RULE_KEYS)
