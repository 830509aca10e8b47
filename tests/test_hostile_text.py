"""Broken and hostile documents through ``text``, ``pick text`` and ``compare text``.

The promise under test: whatever the input, the command ends with the
documented exit code (2 usage, 3 input, 4 model), one line on stderr and no
traceback, and a failure leaves no output file and no temporary file behind.
Hypothesis feeds random bytes (NULs, invalid UTF-8) and random Unicode.
The 10 MB single line is in ``test_scale.py``.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import joblib
import pytest
from _fakes import SPORTS_DOC, text_classifier
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lime_cli.cli import cli

FAST = ["--num-samples", "40", "--seed", "1"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
#: Documented exit codes of a run that did not succeed.
FAILURE_CODES = (2, 3, 4)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("model") / "lr.joblib"
    joblib.dump(text_classifier(), path)
    return str(path)


def invoke(*args: str, input: bytes | str | None = None):
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
        result = CliRunner().invoke(cli, list(args), input=input, env=CLEAN_ENV)
    result.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    return result


def files_in(folder: Path) -> set[str]:
    return set(os.listdir(folder))


def assert_clean_failure(result, code: int, folder: Path, before: set[str]) -> str:
    """Exit ``code``, one stderr line, no traceback, and nothing new in ``folder``."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert not result.warnings, result.warnings  # each would be more lines on stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lime-explain: "), result.stderr
    assert files_in(folder) == before, "an output or temporary file was left behind"
    return lines[0]


#: Documents that cannot be explained, and a word their error line must contain.
BROKEN = {
    "empty": (b"", "empty"),
    "whitespace": (b" \t\r\n\n  ", "empty"),
    "bom-only": (b"\xef\xbb\xbf", "no words"),
    "nul-bytes": (b"the team\x00won the match", "NUL"),
    "utf16": ("the team won".encode("utf-16"), "NUL"),
    "latin1": ("the café won".encode("latin-1"), "UTF-8"),
    "lone-continuation": (b"the team \x80 won", "UTF-8"),
    "cut-multibyte": ("the team won €".encode()[:-1], "UTF-8"),
    "overlong": (b"the team \xc0\xaf won", "UTF-8"),
    "encoded-surrogate": (b"the team \xed\xa0\x80 won", "UTF-8"),
    "separators-only": (b"!!! ... ??? --- ***", "no words"),
}


#: compare writes its report even when no input could be compared (see the lead's report:
#: commands/compare.py should return before ``emit`` when both result lists are empty).
COMMANDS = [
    "text",
    "pick",
    "compare",
]


def commands(model: str, doc: str, folder: Path) -> dict[str, list[str]]:
    """The same document through every text command, each asked to write a file."""
    return {
        "text": ["text", "--model", model, doc, *FAST, "--out", str(folder / "out.json")],
        "pick": ["pick", "text", "--model", model, doc, *FAST, "--budget", "1",
                 "--out", str(folder / "pick.json")],
        "compare": ["compare", "text", "--model", model, "--model", model, doc, *FAST,
                    "--out", str(folder / "compare.json")],
    }  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_unusable_documents_exit_3_in_every_command(model, tmp_path, command, case):
    content, word = BROKEN[case]
    doc = tmp_path / "doc.txt"
    doc.write_bytes(content)
    before = files_in(tmp_path)
    result = invoke(*commands(model, str(doc), tmp_path)[command])
    line = assert_clean_failure(result, 3, tmp_path, before)
    assert str(doc) in line and word in line


@pytest.mark.parametrize("command", COMMANDS)
def test_missing_document_exits_3_in_every_command(model, tmp_path, command):
    before = files_in(tmp_path)
    result = invoke(*commands(model, str(tmp_path / "nope.txt"), tmp_path)[command])
    line = assert_clean_failure(result, 3, tmp_path, before)
    assert "nope.txt" in line and "no such file" in line


@pytest.mark.parametrize("command", ["text", "pick", "compare"])
def test_a_directory_without_documents_is_a_usage_error(model, tmp_path, command):
    folder = tmp_path / "empty_dir"
    folder.mkdir()
    (folder / "picture.png").write_bytes(b"\x89PNG not text")  # not a text file suffix
    before = files_in(tmp_path)
    result = invoke(*commands(model, str(folder), tmp_path)[command])
    assert "no document" in assert_clean_failure(result, 2, tmp_path, before)


@pytest.mark.parametrize(
    "content",
    [b"", b"\n\n", b"\x00\x01\x02binary", b"caf\xe9", b"\xef\xbb\xbf"],
    ids=["empty", "blank", "binary", "latin1", "bom"],
)
def test_unusable_stdin_exits_3(model, tmp_path, content):
    before = files_in(tmp_path)
    result = invoke("text", "--model", model, "-", *FAST, "--out", str(tmp_path / "o.json"),
                    input=content)  # fmt: skip
    assert "stdin" in assert_clean_failure(result, 3, tmp_path, before)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_device_files_are_refused_not_read_forever(model, tmp_path, device):
    before = files_in(tmp_path)
    result = invoke("text", "--model", model, device, *FAST, "--out", str(tmp_path / "o.json"))
    assert "not a regular file" in assert_clean_failure(result, 3, tmp_path, before)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_still_read(model, tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "w", encoding="utf-8") as fh:
            fh.write(SPORTS_DOC)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result = invoke("text", "--model", model, str(fifo), *FAST, "--format", "json")
    writer.join(timeout=10)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["input"]["characters"] == len(SPORTS_DOC)


def test_output_targets_that_are_directories_or_missing_folders_exit_3(model, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    (tmp_path / "taken.json").mkdir()
    before = files_in(tmp_path)
    for target in (tmp_path / "taken.json", tmp_path / "missing" / "out.json"):
        result = invoke("text", "--model", model, str(doc), *FAST, "--out", str(target))
        assert str(target) in assert_clean_failure(result, 3, tmp_path, before)


def test_a_directory_or_undecodable_rules_file_is_an_input_error(model, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    rules_dir = tmp_path / "rules.toml"
    rules_dir.mkdir()
    before = files_in(tmp_path)
    result = invoke("text", "--model", model, str(doc), *FAST, "--rules", str(rules_dir),
                    "--junit", str(tmp_path / "j.xml"))  # fmt: skip
    assert_clean_failure(result, 3, tmp_path, before)


def test_an_undecodable_rules_file_is_an_input_error(model, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    rules = tmp_path / "rules.toml"
    rules.write_bytes(b'forbid = ["caf\xe9"]\n')
    before = files_in(tmp_path)
    result = invoke("text", "--model", model, str(doc), *FAST, "--rules", str(rules))
    assert_clean_failure(result, 3, tmp_path, before)


def test_undecodable_file_names_are_reported_and_written_without_crashing(model, tmp_path):
    good = os.fsdecode(bytes(tmp_path) + b"/good\xffname.txt")
    bad = os.fsdecode(bytes(tmp_path) + b"/bad\xfe\nname.txt")
    Path(good).write_text(SPORTS_DOC, encoding="utf-8")
    Path(bad).write_bytes(b"caf\xe9")
    out, junit = tmp_path / "out.jsonl", tmp_path / "checks.xml"
    result = invoke("text", "--model", model, good, bad, *FAST, "--out", str(out),
                    "--forbid", "nothing", "--junit", str(junit))  # fmt: skip
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    line, kept = result.stderr.splitlines()  # the bad file, its newline flattened
    assert "bad\ufffd name.txt: not valid UTF-8" in line
    assert kept == f"lime-explain: {out}.resume is kept: 1 input failed; the same command " + (
        "with --resume tries it again"
    )
    (written,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written["input"]["name"] == str(tmp_path / "good\ufffdname.txt")
    assert "good\ufffd" in result.stdout  # the terminal table, on a strict UTF-8 stdout
    root = ET.parse(junit).getroot()
    assert root.get("errors") == "1" and root.get("tests") == "2"


def test_a_junit_report_after_a_failed_input_is_whole_and_records_it(model, tmp_path):
    """A bad input is an error case of a complete JUnit file (CI shows it), not a torn file."""
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"\x00\x01")
    junit = tmp_path / "checks.xml"
    result = invoke("text", "--model", model, str(doc), *FAST, "--forbid", "team",
                    "--junit", str(junit), "--out", str(tmp_path / "out.json"))  # fmt: skip
    assert result.exit_code == 3
    assert not (tmp_path / "out.json").exists()
    (case,) = ET.parse(junit).getroot().iter("testcase")
    assert case.find("error") is not None and str(doc) in case.get("classname")
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".lime")]


def test_a_model_that_cannot_load_writes_no_junit(tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    fake = tmp_path / "model.joblib"
    fake.write_text("not a model", encoding="utf-8")
    before = files_in(tmp_path)
    outs = ["--junit", str(tmp_path / "j.xml"), "--out", str(tmp_path / "o.json")]
    result = invoke("text", "--model", str(fake), str(doc), *FAST, "--forbid", "team", *outs)
    assert_clean_failure(result, 4, tmp_path, before)


def test_an_onnx_model_given_to_the_text_command_is_a_model_error(tmp_path):
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["p"], axis=1)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 3])],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    path = tmp_path / "model.onnx"
    save(onnx_model, str(path))
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    before = files_in(tmp_path)
    for args in (
        ["text", "--model", str(path), str(doc)],
        ["pick", "text", "--model", str(path), str(doc), "--budget", "1"],
    ):
        result = invoke(*args, *FAST, "--out", str(tmp_path / "o.json"))
        assert "image command" in assert_clean_failure(result, 4, tmp_path, before)


# -- property-based ---------------------------------------------------------------

HYPOTHESIS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: Bytes that make hostile documents: NULs, bytes that are never UTF-8, separators, words.
hostile_bytes = st.lists(
    st.one_of(
        st.binary(max_size=12),
        st.sampled_from([b"\x00", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"]),
        st.sampled_from([b"team ", b"won ", b"goal ", b"chip ", b"pasta ", b" ", b"\n", b"..."]),
    ),
    max_size=25,
).map(b"".join)


def expected_for(data: bytes) -> int:
    """The exit code the README promises for a document of these bytes."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if not data.strip() or b"\x00" in data:
        return 3
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return 3
    import re

    return 0 if re.search(r"\w", text) else 3


@HYPOTHESIS
@given(data=hostile_bytes)
def test_random_bytes_give_the_documented_exit_code_and_whole_files(model, data):
    with tempfile.TemporaryDirectory() as folder:
        doc = Path(folder) / "doc.txt"
        doc.write_bytes(data)
        out = Path(folder) / "out.json"
        result = invoke("text", "--model", model, str(doc), *FAST, "--out", str(out))
        assert result.exit_code == expected_for(data), (data, result.stderr)
        assert "Traceback" not in result.stderr
        if result.exit_code == 0:
            assert json.loads(out.read_text(encoding="utf-8"))["input"]["name"] == str(doc)
        else:
            assert len(result.stderr.splitlines()) == 1
            assert sorted(os.listdir(folder)) == ["doc.txt"]


@HYPOTHESIS
@given(text=st.text(min_size=0, max_size=60))
def test_random_unicode_on_stdin_never_crashes(model, text):
    """Any Unicode (controls, NULs, surrogate-free astral planes): explained or exit 3."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        data = text.encode("utf-8")
        result = invoke("text", "--model", model, "-", *FAST, "--out", str(out), input=data)
        assert result.exit_code == expected_for(data), (text, result.stderr)
        assert "Traceback" not in result.stderr
        assert out.exists() == (result.exit_code == 0)
        assert not [n for n in os.listdir(folder) if n.startswith(".lime")]


@HYPOTHESIS
@given(lines=st.lists(hostile_bytes, min_size=1, max_size=4))
def test_lines_fail_one_by_one_and_the_out_file_holds_the_rest(model, lines):
    with tempfile.TemporaryDirectory() as folder:
        doc = Path(folder) / "docs.txt"
        doc.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
        out = Path(folder) / "out.jsonl"
        result = invoke("text", "--model", model, "--lines", str(doc), *FAST, "--out", str(out))
        assert result.exit_code in (0,) + FAILURE_CODES, result.stderr
        assert "Traceback" not in result.stderr
        if out.exists():
            written = out.read_text(encoding="utf-8").splitlines()
            assert written and all(json.loads(line)["explanations"] for line in written)
        assert not [n for n in os.listdir(folder) if n.startswith(".lime")]
