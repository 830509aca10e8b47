"""How text inputs are found and read: folders of Markdown, lines, encodings."""

from __future__ import annotations

import json

import joblib
import pytest
from _fakes import SPORTS_DOC, text_classifier
from click.testing import CliRunner

from lime_cli.cli import cli

FAST = ["--num-samples", "40", "--seed", "1", "--format", "json"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("model") / "text.joblib"
    joblib.dump(text_classifier(), path)
    return str(path)


def text(model: str, *args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, ["text", "--model", model, *FAST, *args], input=input)


def explained(result) -> list[dict]:
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return [json.loads(line) for line in result.stdout.splitlines()]


# -- folders ---------------------------------------------------------------------


def test_a_folder_of_markdown_files_is_explained(tmp_path, model):
    (tmp_path / "a.md").write_text(SPORTS_DOC)
    (tmp_path / "b.markdown").write_text(SPORTS_DOC)
    names = [d["input"]["name"] for d in explained(text(model, str(tmp_path)))]
    assert names == [str(tmp_path / "a.md"), str(tmp_path / "b.markdown")]


def test_files_a_folder_does_not_give_are_named_in_one_warning(tmp_path, model):
    for name in ("a.txt", "b.md", "c.pdf", "d.csv", ".hidden"):
        (tmp_path / name).write_text(SPORTS_DOC)
    result = text(model, str(tmp_path))
    assert [d["input"]["name"] for d in explained(result)] == [
        str(tmp_path / "a.txt"), str(tmp_path / "b.md"),
    ]  # fmt: skip
    assert result.stderr.splitlines() == [
        f"lime-explain: warning: {tmp_path}: skipped c.pdf, d.csv; a directory gives only "
        "its .txt, .text, .md, .markdown and extension-less files"
    ]


def test_a_folder_without_documents_names_what_it_skipped_in_the_one_error(tmp_path, model):
    (tmp_path / "notes.pdf").write_text(SPORTS_DOC)
    result = text(model, str(tmp_path))
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("lime-explain: usage error: no document given")
    assert f"({tmp_path}: skipped notes.pdf; a directory gives only" in line


def test_text_help_says_which_files_a_folder_gives(model):
    help_text = " ".join(CliRunner().invoke(cli, ["text", "--help"]).stdout.split())
    assert "a directory gives its .txt, .text, .md, .markdown and extension-less files" in (
        help_text
    )


# -- lines -----------------------------------------------------------------------


def test_lines_end_at_newlines_only(model):
    lines = [
        f"{SPORTS_DOC}\x0cpage two of the match report",  # a form feed
        "",
        "the team\u2028won the match\x85again",  # line and next-line separators
        "goal\rscored",  # a lone carriage return
        "the final whistle",
    ]
    stdin = "\n".join(lines[:1]) + "\r\n\r\n" + "\n".join(lines[2:]) + "\n"
    shown = explained(text(model, "-", "--lines", input=stdin.encode("utf-8")))
    assert [d["input"]["name"] for d in shown] == ["stdin:1", "stdin:3", "stdin:4", "stdin:5"]
    expected = [lines[0], lines[2], lines[3], lines[4]]
    assert [d["input"]["characters"] for d in shown] == [len(line) for line in expected]


# -- encodings -------------------------------------------------------------------


def test_encoding_reads_other_encodings_and_is_reported(tmp_path, model):
    doc = tmp_path / "latin.txt"
    doc.write_bytes("Le café: the team won the match with a goal\n".encode("cp1252"))
    refused = text(model, str(doc))
    assert refused.exit_code == 3
    assert refused.stderr.splitlines() == [
        f"lime-explain: input error: {doc}: not valid UTF-8 (byte 0xe9 at offset 6); "
        "--encoding NAME reads another encoding, --errors replace replaces such bytes"
    ]
    [data] = explained(text(model, str(doc), "--encoding", "cp1252"))
    assert data["input"]["encoding"] == "cp1252"
    assert "decode_errors" not in data["input"]
    assert data["input"]["characters"] == len("Le café: the team won the match with a goal\n")


def test_utf16_lines_are_read(model):
    stdin = "the team won\nthe cake was baked\n".encode("utf-16")
    shown = explained(text(model, "-", "--lines", "--encoding", "utf-16", input=stdin))
    assert [d["input"]["name"] for d in shown] == ["stdin:1", "stdin:2"]
    assert {d["input"]["encoding"] for d in shown} == {"utf-16"}


def test_errors_replace_explains_a_file_with_one_bad_byte(tmp_path, model):
    doc = tmp_path / "dirty.txt"
    doc.write_bytes(b"the team won\nthe match \xff was close\n")
    strict = text(model, str(doc), "--lines")
    assert strict.exit_code == 3 and "at offset 23" in strict.stderr and str(doc) in strict.stderr
    assert strict.stdout == ""
    shown = explained(text(model, str(doc), "--lines", "--errors", "replace"))
    assert [d["input"]["name"] for d in shown] == [f"{doc}:1", f"{doc}:2"]
    assert shown[1]["input"]["decode_errors"] == "replace"
    assert shown[1]["input"]["encoding"] == "utf-8"
    assert shown[1]["input"]["characters"] == len("the match \ufffd was close")


@pytest.mark.parametrize("name", ["no-such-codec", "rot13"])
def test_an_unknown_encoding_is_a_usage_error(tmp_path, model, name):
    doc = tmp_path / "doc.txt"
    doc.write_text(SPORTS_DOC)
    result = text(model, str(doc), "--encoding", name)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"lime-explain: usage error: --encoding {name}: unknown text encoding; use a Python "
        "codec name such as utf-8, latin-1, cp1252 or utf-16"
    ]
