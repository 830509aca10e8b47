"""Inputs read as the work goes: ``tabular --all`` a chunk of rows at a time, ``text
--lines`` a chunk of bytes at a time, and any stream of inputs through the executor,
give what reading everything first gives."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from _fakes import text_classifier
from click.testing import CliRunner
from test_parallel import Toy
from test_resume import build_data, ended_cleanly, stopping_after

from lime_cli.cli import cli
from lime_cli.errors import InputError
from lime_cli.run import executor, loop, resume
from lime_cli.tabular import data as tabular_data
from lime_cli.text import command as text_command
from lime_cli.text import reading

executor_run_pairs = executor.run_pairs

CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


def explain(paths: dict[str, str], *rows: str, csv: str = "rows.csv") -> str:
    argv = ["tabular", "--model", paths["fast.joblib"], "--train", paths["rows.csv"],
            "--num-samples", "50", "--seed", "2", "--format", "json", "-q",
            paths.get(csv, csv), *rows]  # fmt: skip
    result = CliRunner().invoke(cli, argv, env=CLEAN_ENV)
    assert result.exit_code in (0, 3), result.stderr
    return result.stdout + result.stderr


def test_all_rows_read_in_chunks_match_rows_read_at_once(tmp_path, monkeypatch):
    paths = build_data(tmp_path)
    monkeypatch.setattr(tabular_data, "CHUNK_ROWS", 7)  # many chunk boundaries
    assert explain(paths, "--all") == explain(paths, "--rows", "0:320")


def test_a_bad_row_in_a_later_chunk_is_named_by_its_row_number(tmp_path, monkeypatch):
    paths = build_data(tmp_path)
    lines = open(paths["rows.csv"], encoding="utf-8").read().splitlines()
    lines[1 + 25] = "x,1,2"  # data row 25, in the fourth chunk of 7
    bad = str(tmp_path / "bad.csv")
    with open(bad, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    monkeypatch.setattr(tabular_data, "CHUNK_ROWS", 7)
    streamed = explain(paths, "--all", csv=bad)
    assert "bad.csv row 25: " in streamed and "'x'" in streamed
    assert streamed == explain(paths, "--rows", "0:320", csv=bad)


def test_a_stream_of_inputs_is_shared_with_workers_in_order(monkeypatch):
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(executor, "_idle_cores", lambda: 2.0)  # whatever this machine's load
    items = (i for i in range(300))  # a generator: its length is not known
    results = [r for r, _ in executor.run(Toy(os.getpid()), items, 2)]
    assert [item for item, _ in results] == list(range(300))
    assert len({pid for _, pid in results}) == 2


# -- text --lines: a file read a chunk at a time ---------------------------------------

WORDS = ["the", "team", "won", "goal", "match", "laptop", "chip", "pasta", "café", "score"]


def many_lines(count: int) -> list[str]:
    """``count`` short documents of the test words (some with accents: two bytes in UTF-8)."""
    return [
        " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(3 + i % 5)) for i in range(count)
    ]


def read_lines(data: bytes, chunk: int, **options: Any) -> list[tuple[str, str | None, str]]:
    handle = io.BytesIO(data)
    found = []
    try:
        for document in reading.lines_of(handle, "doc", chunk_bytes=chunk, **options):
            found.append((document.name, document.text, str(document.error or "")))
    except InputError as exc:
        found.append(("doc", None, str(exc)))
    return found


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "cp1252"])
def test_lines_read_in_small_chunks_are_the_lines_read_whole(chunk, encoding):
    """Characters and line ends cut by a chunk's edge (é, \\r|\\n, a UTF-16 pair, a BOM)."""
    text = "\ufeffthe café\r\n\r\nwon\x0cthe\u2028match\n  \n\rgoal\r\nlast line without end"
    data = text.encode(encoding, errors="replace")
    whole = read_lines(data, len(data) + 1, encoding=encoding)
    assert read_lines(data, chunk, encoding=encoding) == whole
    decoded = data.decode(encoding).removeprefix("\ufeff")  # as reading the file whole did
    lines = [line.removesuffix("\r") for line in decoded.split("\n")]
    expected = [(f"doc:{n}", line, "") for n, line in enumerate(lines, 1) if line.strip()]
    assert whole == expected
    assert [name for name, _, _ in whole] == ["doc:1", "doc:3", "doc:5", "doc:6"]
    if encoding != "cp1252":  # it has no U+2028
        assert whole[1][1] == "won\x0cthe\u2028match"  # a form feed and U+2028 stay inside


def test_the_reader_yields_the_first_lines_before_reading_the_rest():
    data = "\n".join(many_lines(1000)).encode("utf-8")
    handle = io.BytesIO(data)
    documents = reading.lines_of(handle, "doc", chunk_bytes=64)
    first = next(documents)
    assert first.name == "doc:1" and first.text == many_lines(1)[0]
    assert handle.tell() == 64  # one chunk read of the file's
    assert len(data) > 100 * 64
    assert sum(1 for _ in documents) == 999


@pytest.mark.parametrize("chunk", [4, 64])
def test_a_bad_byte_after_the_first_chunk_fails_the_rest_of_the_file_at_its_offset(chunk):
    data = b"the team won\nthe match was close\n" * 4 + b"goal \xff here\nlast\n"
    found = read_lines(data, chunk)
    offset = data.index(b"\xff")
    error = f"doc: not valid UTF-8 (byte 0xff at offset {offset}); --encoding NAME"
    assert found[-1][0] == "doc" and found[-1][2].startswith(error)
    if chunk >= len(data):  # in the first chunk: the whole file fails, as read whole
        assert len(found) == 1
    else:  # the lines of the chunks before it were handed out already
        assert [name for name, _, _ in found[:-1]] == [f"doc:{i}" for i in range(1, len(found))]
    replaced = read_lines(data, chunk, errors="replace")
    assert replaced[-2] == ("doc:9", "goal \ufffd here", "")


BAD_LINES = "\n".join(many_lines(12)).encode("utf-8") + b"\nthe caf\xc3\xa9"


def lines_before(data: bytes, bad: int) -> list[tuple[str, str | None, str]]:
    """The complete lines before the byte at ``bad``, as read whole (all non-blank)."""
    lines = data[:bad].decode("utf-8").split("\n")[:-1]
    return [(f"doc:{n}", line, "") for n, line in enumerate(lines, 1)]


@pytest.mark.parametrize("bad", [b"\xff", b"\x00"])
def test_the_lines_before_a_bad_byte_in_a_later_chunk_are_all_handed_out(bad):
    """Every chunk size, so the byte falls at every place in its chunk (first, last, after
    an é cut by the chunk's edge): the lines of its chunk before it were dropped."""
    data = BAD_LINES + bad + b" here\nafter it\n"
    offset = data.index(bad)
    for chunk in range(1, len(data) + 2):
        found = read_lines(data, chunk)
        error = found[-1][2]
        if bad == b"\xff":
            assert error.startswith(f"doc: not valid UTF-8 (byte 0xff at offset {offset}); ")
        else:
            assert error == "doc: contains NUL bytes; this looks like a binary file, not text"
        if offset < chunk:  # in the first chunk: the whole file fails, as read whole
            assert found[:-1] == [], chunk
        else:
            assert found[:-1] == lines_before(data, offset), chunk


@pytest.mark.parametrize(
    ("rest", "at", "lines"),
    [
        (b"\xa9\nnew chip\n\xff x\n", 11, ["the team won", "the caf\u00e9", "new chip"]),
        (b"\xa9\n\xc3\xff x\n", 2, ["the team won", "the caf\u00e9"]),  # a character begun
        (b"\xa9\xff\n", 1, ["the team won"]),  # right after the character cut by the edge
        (b"A b\n", -1, ["the team won"]),  # the cut character is never finished
        (b"\xa9\n\xff", 2, ["the team won", "the caf\u00e9"]),  # the chunk's last byte
    ],
)
def test_a_bad_byte_after_a_character_cut_by_the_chunk_edge(rest, at, lines):
    """The first chunk ends inside "é" (the decoder holds its first byte back); the bad
    byte (``at`` bytes into the second chunk) is named at its offset in the file, after
    the lines before it."""
    first = b"the team won\nthe caf\xc3"
    data = first + rest + b"after it\n"
    assert len(rest) <= len(first)  # the bad byte is in the second chunk
    found = read_lines(data, len(first))
    offset = len(first) + at
    error = f"doc: not valid UTF-8 (byte 0x{data[offset]:02x} at offset {offset}); "
    assert found[-1][2].startswith(error)
    assert found[:-1] == [(f"doc:{n}", line, "") for n, line in enumerate(lines, 1)]


@pytest.mark.parametrize(
    ("encoding", "bad"),
    [
        ("utf-16", "\ud800".encode("utf-16-le", "surrogatepass")),  # half a surrogate pair
        ("utf-32", b"\x00\x00\x11\x00"),  # past U+10FFFF
        ("shift_jis", b"\xff"),  # its decoder forgets a held byte when it fails
    ],
)
def test_the_lines_before_a_bad_character_in_other_encodings(encoding, bad):
    """Every chunk size: characters of 2 or 4 bytes are cut by a chunk's edge before
    the bad one, whose offset is the one reading the file whole names."""
    lines = [*(line.replace("é", "e") for line in many_lines(4)), "日本語 テキスト", "the cafe"]
    rest = "x\nafter\n".encode(encoding if encoding == "shift_jis" else f"{encoding}-le")
    data = ("\n".join(lines) + "\n").encode(encoding) + bad + rest
    [(_, _, error)] = read_lines(data, len(data) + 1, encoding=encoding)  # read whole
    offset = int(error.split(" at offset ")[1].split(")")[0])
    assert offset == len(data) - len(bad + rest)
    expected = [(f"doc:{n}", line, "") for n, line in enumerate(lines, 1)]
    for chunk in range(1, len(data) + 2):
        found = read_lines(data, chunk, encoding=encoding)
        assert found[-1] == ("doc", None, error)
        if offset >= chunk:  # not in the first chunk
            assert found[:-1] == expected, chunk
        else:  # in it, or found there only once the next one is read
            assert found[:-1] in ([], expected), chunk


def test_the_lines_before_a_nul_character_in_a_later_chunk_are_handed_out():
    """UTF-16 has zero bytes in every character: a NUL is found once decoded."""
    data = ("\n".join(many_lines(12)) + "\nlast\x00 line\nafter\n").encode("utf-16")
    found = read_lines(data, 64, encoding="utf-16")
    assert found[-1] == ("doc", None, "doc: contains NUL characters; this looks like a binary file")
    assert found[:-1] == [(f"doc:{n}", line, "") for n, line in enumerate(many_lines(12), 1)]


def test_a_line_longer_than_the_limit_fails_alone_without_being_kept():
    data = b"short one\n" + b"x" * 500 + b"\r\nshort two\n"
    found = read_lines(data, 16, max_characters=100)
    assert [(name, text) for name, text, _ in found] == [
        ("doc:1", "short one"), ("doc:2", None), ("doc:3", "short two")
    ]  # fmt: skip
    assert found[1][2].startswith("doc:2: 500 characters exceed --max-characters 100; ")


@pytest.mark.parametrize("data", [b"", b" \n\r\n\t", "  \n".encode("utf-16")])
def test_an_empty_input_is_refused(data):
    assert read_lines(data, 2, encoding="utf-16" if len(data) == 8 else "utf-8") == [
        ("doc", None, "doc: the input is empty")
    ]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lines_model") / "text.joblib"
    joblib.dump(text_classifier(), path)
    return str(path)


def text_run(model: str, *more: str):
    argv = ["text", "--model", model, "--num-samples", "30", "--num-features", "3", "--seed", "4",
            "--lines", "-q", *more]  # fmt: skip
    return CliRunner().invoke(cli, argv, env=CLEAN_ENV)


def test_a_file_of_many_chunks_is_explained_completely_and_in_order(
    text_model, tmp_path, monkeypatch
):
    doc = tmp_path / "docs.txt"
    doc.write_text("\n".join(many_lines(300)) + "\n", encoding="utf-8")
    whole = tmp_path / "whole.jsonl"
    assert text_run(text_model, str(doc), "--out", str(whole)).exit_code == 0
    monkeypatch.setattr(reading, "CHUNK_BYTES", 50)  # about 150 chunks of the file
    monkeypatch.setattr(text_command, "HEAD_CHARACTERS", 100)  # a stream, not a list
    streamed = tmp_path / "streamed.jsonl"
    read = []
    real = reading.lines_of

    def counting(*a: Any, **k: Any) -> Iterator[Any]:
        for document in real(*a, **k):
            read.append(document.name)
            yield document

    monkeypatch.setattr(reading, "lines_of", counting)
    monkeypatch.setattr(executor, "_idle_cores", lambda: 0.0)  # no workers: this process
    result = text_run(text_model, str(doc), "--out", str(streamed), "--jobs", "2")
    assert result.exit_code == 0, result.stderr
    assert streamed.read_bytes() == whole.read_bytes()
    names = [json.loads(line)["input"]["name"] for line in streamed.read_text().splitlines()]
    assert names == [f"{doc}:{i}" for i in range(1, 301)] == read


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_every_line_before_a_bad_byte_in_a_later_chunk_is_explained(
    text_model, tmp_path, monkeypatch, jobs
):
    doc = tmp_path / "bad.txt"
    good = ("\n".join(many_lines(40)) + "\n").encode("utf-8")
    doc.write_bytes(good + b"the team \xff won\nafter it\n")
    monkeypatch.setattr(reading, "CHUNK_BYTES", 400)  # the bad byte in the third chunk
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(executor, "_idle_cores", lambda: 2.0)  # workers with --jobs 2
    out = tmp_path / "out.jsonl"
    result = text_run(text_model, str(doc), "--out", str(out), "--jobs", jobs)
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"lime-explain: input error: {doc}: not valid UTF-8 (byte 0xff at offset {len(good) + 9}); "
    )
    names = [json.loads(line)["input"]["name"] for line in out.read_text().splitlines()]
    assert len(good) > 2 * 400 and names == [f"{doc}:{i}" for i in range(1, 41)]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_bad_byte_in_a_later_chunk_keeps_the_ledger_and_resume_finishes_the_fixed_file(
    text_model, tmp_path, monkeypatch, jobs
):
    """The rest of the file was never read: the run is not finished. Its ledger used
    to be removed as a finished run's, so the lines after the byte could never be added."""
    good = ("\n".join(many_lines(40)) + "\n").encode("utf-8")
    source = tmp_path / "docs.txt"
    source.write_bytes(good + b"the team \xff won\nafter it\n")
    fixed = tmp_path / "fixed.txt"
    fixed.write_bytes(good + b"the team won\nafter it\n")
    monkeypatch.setattr(reading, "CHUNK_BYTES", 400)  # the bad byte in the third chunk
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(executor, "_idle_cores", lambda: 2.0)  # workers with --jobs 2
    whole = tmp_path / "whole.jsonl"
    assert text_run(text_model, str(fixed), "--out", str(whole)).exit_code == 0
    out = tmp_path / "out.jsonl"
    failed = text_run(text_model, str(source), "--out", str(out), "--jobs", jobs)
    assert failed.exit_code == 3
    assert failed.stderr.rstrip("\n").endswith(
        f"; {out} keeps what came before, and --resume explains the rest once it is fixed"
    )
    assert len(out.read_text().splitlines()) == 40
    assert (tmp_path / "out.jsonl.resume").exists()
    source.write_bytes(fixed.read_bytes())
    resumed = text_run(text_model, str(source), "--out", str(out), "--resume", "--jobs", jobs)
    assert resumed.exit_code == 0, resumed.stderr
    assert ended_cleanly(tmp_path / "out.jsonl.resume")
    assert out.read_bytes() == whole.read_bytes().replace(str(fixed).encode(), str(source).encode())


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_malformed_csv_line_stops_the_run_after_every_row_read_before_it(
    tmp_path, monkeypatch, jobs
):
    """Rows read before the chunk the line is in used to be dropped with the batch
    being gathered; now they are explained, the ledger is kept, and once the line is
    fixed --resume gives the output of a run over the good file."""
    paths = build_data(tmp_path)
    lines = open(paths["rows.csv"], encoding="utf-8").read().splitlines()
    good = tmp_path / "good.csv"
    good.write_text("\n".join(lines[:41]) + "\n", encoding="utf-8")
    bad = tmp_path / "rows40.csv"
    bad.write_text("\n".join(lines[:26] + [lines[26] + ",1,2"] + lines[27:41]) + "\n")
    monkeypatch.setattr(tabular_data, "CHUNK_ROWS", 7)  # data row 25 in the fourth chunk
    monkeypatch.setattr(executor, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(executor, "_idle_cores", lambda: 2.0)

    def run(csv, out, *more):
        argv = ["tabular", "--model", paths["fast.joblib"], "--train", paths["rows.csv"],
                "--num-samples", "50", "--seed", "2", "-q", "--all", str(csv), "--out",
                str(out), "--jobs", jobs, *more]  # fmt: skip
        return CliRunner().invoke(cli, argv, env=CLEAN_ENV)

    whole = tmp_path / "whole.jsonl"
    assert run(good, whole).exit_code == 0
    out = tmp_path / "out.jsonl"
    failed = run(bad, out)
    assert failed.exit_code == 3
    assert "not a readable CSV file" in failed.stderr and len(failed.stderr.splitlines()) == 1
    # The line says the rows before are kept and --resume goes on (as for a bad byte).
    assert failed.stderr.endswith(
        f"; {out} keeps what came before, and --resume explains the rest once it is fixed\n"
    )
    assert len(out.read_text().splitlines()) == 21  # the three chunks before the bad line's
    assert (tmp_path / "out.jsonl.resume").exists()
    bad.write_text(good.read_text())
    resumed = run(bad, out, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert out.read_bytes() == whole.read_bytes().replace(b"good.csv", b"rows40.csv")


def stopped_lines_run(
    text_model: str, tmp_path: Path, monkeypatch: Any, lines: list[str]
) -> tuple[Path, Path, Path]:
    """``lines`` in docs.txt, explained whole into whole.jsonl, then read in 50-byte
    chunks (a stream) by a run into part.jsonl stopped after 70: the three paths."""
    doc = tmp_path / "docs.txt"
    doc.write_text("\n".join(lines), encoding="utf-8")
    whole = tmp_path / "whole.jsonl"
    assert text_run(text_model, str(doc), "--out", str(whole)).exit_code == 0
    monkeypatch.setattr(reading, "CHUNK_BYTES", 50)
    monkeypatch.setattr(text_command, "HEAD_CHARACTERS", 100)
    out = tmp_path / "part.jsonl"
    stopping_after(70, monkeypatch)
    assert text_run(text_model, str(doc), "--out", str(out)).exit_code == 130
    monkeypatch.setattr(loop.executor, "run_pairs", executor_run_pairs)
    return doc, whole, out


def test_resume_of_streamed_lines_finishes_the_file_byte_for_byte(
    text_model, tmp_path, monkeypatch
):
    doc, whole, out = stopped_lines_run(text_model, tmp_path, monkeypatch, many_lines(120))
    assert len(out.read_text().splitlines()) == 70
    resumed = text_run(text_model, str(doc), "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert out.read_bytes() == whole.read_bytes()


def test_resume_over_a_folder_whose_files_changed_says_so(text_model, tmp_path, monkeypatch):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, line in zip("abc", many_lines(3)):
        (folder / f"{name}.txt").write_text(line, encoding="utf-8")
    out = tmp_path / "part.jsonl"
    stopping_after(2, monkeypatch)
    assert text_run(text_model, str(folder), "--out", str(out)).exit_code == 130
    monkeypatch.setattr(loop.executor, "run_pairs", executor_run_pairs)
    (folder / "b.txt").rename(folder / "z.txt")  # b was explained; now it is not an input
    before = (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes())
    resumed = text_run(text_model, str(folder), "--out", str(out), "--resume")
    assert resumed.exit_code == 2, resumed.stderr
    assert resumed.stderr.splitlines() == [
        f"lime-explain: usage error: {folder / 'c.txt'}:1 is not the input the runs that wrote "
        f"{out} met next there ({folder / 'b.txt'}:1): inputs were added, removed or reordered "
        f"since; nothing was added; resume with their inputs, or remove {out} and {out}.resume "
        "to start over"
    ]
    # Refused at c, where the stopped run had met b: before any work (it used to
    # explain c and z, then find b never met and cut them off again).
    assert (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()) == before
    (folder / "z.txt").rename(folder / "b.txt")  # the stopped run's inputs finish it
    assert text_run(text_model, str(folder), "--out", str(out), "--resume").exit_code == 0
    names = [json.loads(line)["input"]["name"] for line in out.read_text().splitlines()]
    assert names == [f"{folder / name}.txt:1" for name in "abc"]


def test_resume_of_lines_one_of_which_was_edited_adds_nothing(text_model, tmp_path, monkeypatch):
    """Line 60 of 70 explained is edited before --resume, the input read in small
    chunks: the files stay as they were, whatever the resumed run did before it
    met the line, and the ledger stays; the line restored, the run finishes."""
    lines = many_lines(120)
    doc, whole, out = stopped_lines_run(text_model, tmp_path, monkeypatch, lines)
    before = (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes())
    doc.write_text("\n".join(lines[:59] + [lines[59] + " and more"] + lines[60:]), "utf-8")
    resumed = text_run(text_model, str(doc), "--out", str(out), "--resume")
    assert resumed.exit_code == 2
    assert resumed.stderr.startswith(f"lime-explain: usage error: {doc}:60 has changed since ")
    assert (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()) == before
    doc.write_text("\n".join(lines), encoding="utf-8")
    assert text_run(text_model, str(doc), "--out", str(out), "--resume").exit_code == 0
    assert out.read_bytes() == whole.read_bytes()


def test_resume_refuses_a_line_new_among_those_explained(text_model, tmp_path, monkeypatch):
    """Line 4 was blank (no input) when the run stopped after 70 lines, and has text
    since: it would be explained after line 120, out of input order. Refused with
    the files as they were; blank again, the run finishes byte for byte."""
    lines = many_lines(120)
    lines[3] = ""
    doc, whole, out = stopped_lines_run(text_model, tmp_path, monkeypatch, lines)
    before = (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes())
    doc.write_text("\n".join(lines[:3] + ["now a line about the election"] + lines[4:]), "utf-8")
    refused = text_run(text_model, str(doc), "--out", str(out), "--resume")
    assert refused.exit_code == 2
    assert refused.stderr.startswith(
        f"lime-explain: usage error: {doc}:4 is not the input the runs that wrote {out} met "
        f"next there ({doc}:5)"
    )
    assert (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()) == before
    doc.write_text("\n".join(lines), encoding="utf-8")
    assert text_run(text_model, str(doc), "--out", str(out), "--resume").exit_code == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_file_failed_part_way_before_another_resumes_once_fixed(
    text_model, tmp_path, monkeypatch
):
    """The rest of the first file was never met, the second file was explained: the
    ledger says a source's rest is unread, so its lines are not taken for new ones
    slipped in among the explained (the resume explains them after the second's)."""
    good = ("\n".join(many_lines(40)) + "\n").encode("utf-8")
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_bytes(good + b"the team \xff won\nafter it\n")
    second.write_text("\n".join(many_lines(5)) + "\n", encoding="utf-8")
    monkeypatch.setattr(reading, "CHUNK_BYTES", 400)  # the bad byte in the third chunk
    out = tmp_path / "out.jsonl"
    failed = text_run(text_model, str(first), str(second), "--out", str(out))
    assert failed.exit_code == 3 and len(out.read_text().splitlines()) == 45
    first.write_bytes(good + b"the team won\nafter it\n")
    resumed = text_run(text_model, str(first), str(second), "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    names = [json.loads(line)["input"]["name"] for line in out.read_text().splitlines()]
    expected = [f"{first}:{i}" for i in range(1, 41)] + [f"{second}:{i}" for i in range(1, 6)]
    assert names == expected + [f"{first}:41", f"{first}:42"]


@pytest.mark.parametrize("fault", ["missing", "bad byte"])
def test_a_file_that_failed_whole_before_another_resumes_once_fixed(text_model, tmp_path, fault):
    """The middle of three --lines files did not read at all (missing, or a bad byte
    in its first chunk): the run said --resume would try it again, and --resume
    refused its first line as misplaced (the third file's were explained after
    it). Its lines are explained at the end, as a fresh run over the files in that
    order would; a second resume adds nothing."""
    first, middle, last = (tmp_path / f"{name}.txt" for name in "abc")
    first.write_text("\n".join(many_lines(4)) + "\n", encoding="utf-8")
    last.write_text("\n".join(many_lines(6)[3:]) + "\n", encoding="utf-8")
    fixed = "the match ended in a draw\nshares fell on the news\n"
    if fault == "bad byte":
        middle.write_bytes(b"the match \xff ended\nshares fell\n")
    out = tmp_path / "out.jsonl"
    files = [str(first), str(middle), str(last)]
    failed = text_run(text_model, *files, "--out", str(out))
    assert failed.exit_code == 3
    assert failed.stderr.splitlines()[-1].endswith("the same command with --resume tries it again")
    assert len(out.read_text().splitlines()) == 7
    middle.write_text(fixed, encoding="utf-8")
    resumed = text_run(text_model, *files, "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    fresh = tmp_path / "fresh.jsonl"
    assert (
        text_run(text_model, str(first), str(last), str(middle), "--out", str(fresh)).exit_code == 0
    )
    assert out.read_bytes() == fresh.read_bytes()
    again = text_run(text_model, *files, "--out", str(out), "--resume")
    assert again.exit_code == 0, again.stderr
    assert out.read_bytes() == fresh.read_bytes()


def test_the_inputs_of_a_source_are_named_by_it_and_a_number_only():
    """A failed source b claims b:1 and b row 1, not the lines of a file named b:x
    (those were explained again, then the run refused as missing b)."""
    from lime_cli.run.resume import part_of

    assert part_of("b", "b") and part_of("b:12", "b") and part_of("b row 3", "b")
    assert not part_of("b:x:1", "b") and not part_of("b:", "b") and not part_of("bc:1", "b")
    assert not part_of("b row x", "b")


def test_a_refused_resume_of_a_kept_ledger_leaves_both_files_as_they_were(text_model, tmp_path):
    """A text file edited under an ended run given --resume: the refusal used to cut
    the ledger's ended mark, and a run without --resume then took the output for
    a stopped run's and refused it."""
    doc, out = tmp_path / "lines.txt", tmp_path / "o.jsonl"
    ledger = tmp_path / "o.jsonl.resume"
    doc.write_text("\n".join(many_lines(6)) + "\n", encoding="utf-8")
    assert text_run(text_model, str(doc), "--out", str(out), "--resume").exit_code == 0
    files = out.read_bytes(), ledger.read_bytes()
    lines = doc.read_text(encoding="utf-8").splitlines()
    doc.write_text("\n".join([lines[0], "edited since", *lines[2:]]) + "\n", encoding="utf-8")
    refused = text_run(text_model, str(doc), "--out", str(out), "--resume")
    assert refused.exit_code == 2 and "has changed since" in refused.stderr
    assert (out.read_bytes(), ledger.read_bytes()) == files
    assert text_run(text_model, str(doc), "--out", str(out)).exit_code == 0  # starts over
    assert not ledger.exists()


def test_a_resume_that_adds_nothing_does_not_touch_the_files(text_model, tmp_path):
    """Not even their times: a CI job watching the output sees no change."""
    doc, out = tmp_path / "lines.txt", tmp_path / "o.jsonl"
    ledger = tmp_path / "o.jsonl.resume"
    doc.write_text("\n".join(many_lines(5)) + "\n", encoding="utf-8")
    assert text_run(text_model, str(doc), "--out", str(out), "--resume").exit_code == 0
    for path in (out, ledger):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    again = text_run(text_model, str(doc), "--out", str(out), "--resume")
    assert again.exit_code == 0, again.stderr
    assert [os.stat(p).st_mtime_ns for p in (out, ledger)] == [1_000_000_000] * 2


def test_a_second_resume_is_refused_while_the_first_holds_the_ledger(text_model, tmp_path):
    """The lock is held from the moment a resume reads the ledger, not from its first
    write: two --resume runs started together both used to append the new lines."""
    doc, out = tmp_path / "lines.txt", tmp_path / "o.jsonl"
    doc.write_text("\n".join(many_lines(4)) + "\n", encoding="utf-8")
    assert text_run(text_model, str(doc), "--out", str(out), "--resume").exit_code == 0
    with doc.open("a", encoding="utf-8") as more:
        more.write("\n".join(many_lines(8)[4:]) + "\n")
    header = json.loads((tmp_path / "o.jsonl.resume").read_text(encoding="utf-8").splitlines()[0])
    first = resume.continue_from(str(out), header["settings"])  # as a resume that runs on
    try:
        second = text_run(text_model, str(doc), "--out", str(out), "--resume")
        assert second.exit_code == 2
        assert "is being written by a lime-explain that is still running" in second.stderr
    finally:
        first.done.close()
        first.release()
    assert text_run(text_model, str(doc), "--out", str(out), "--resume").exit_code == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 8


def test_a_bad_byte_appended_under_a_kept_ledger_is_the_input_error_alone(text_model, tmp_path):
    """The file no longer decodes, so none of its lines is met: that is the input
    error (exit 3, one line), not 'inputs not given this time' (exit 2); once the
    byte is fixed, --resume adds the new line."""
    doc, out = tmp_path / "lines.txt", tmp_path / "o.jsonl"
    doc.write_text("\n".join(many_lines(3)) + "\n", encoding="utf-8")
    assert text_run(text_model, str(doc), "--out", str(out), "--resume").exit_code == 0
    files = out.read_bytes(), (tmp_path / "o.jsonl.resume").read_bytes()
    with doc.open("ab") as more:
        more.write(b"a new line with a bad byte \xff here\n")
    bad = text_run(text_model, str(doc), "--out", str(out), "--resume")
    assert bad.exit_code == 3 and len(bad.stderr.splitlines()) == 1
    assert "not valid UTF-8" in bad.stderr
    assert (out.read_bytes(), (tmp_path / "o.jsonl.resume").read_bytes()) == files
    doc.write_bytes(doc.read_bytes().replace(b"\xff", b"x"))
    assert text_run(text_model, str(doc), "--out", str(out), "--resume").exit_code == 0
    whole = tmp_path / "whole.jsonl"
    assert text_run(text_model, str(doc), "--out", str(whole)).exit_code == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_failed_input_does_not_hide_inputs_missing_since(text_model, tmp_path):
    """Only inputs of a source that failed to read go unmet for that reason: a
    document removed since is still 'not given this time' (exit 2, nothing added),
    whatever other input fails in the same run."""
    folder, out = tmp_path / "docs", tmp_path / "o.jsonl"
    folder.mkdir()
    (folder / "a.txt").write_text(many_lines(1)[0], encoding="utf-8")
    (folder / "f.txt").write_bytes(b"a bad byte \xff here")
    (folder / "m.txt").write_text(many_lines(2)[1], encoding="utf-8")

    def gate():
        argv = ["text", "--model", text_model, "--num-samples", "30", "--num-features", "3",
                "--seed", "4", "-q", str(folder), "--out", str(out), "--resume"]  # fmt: skip
        return CliRunner().invoke(cli, argv, env=CLEAN_ENV)

    assert gate().exit_code == 3  # f.txt does not read
    files = out.read_bytes(), (tmp_path / "o.jsonl.resume").read_bytes()
    (folder / "f.txt").write_text(many_lines(3)[2], encoding="utf-8")  # fixed
    (folder / "m.txt").unlink()  # explained, then removed
    (folder / "x.txt").write_bytes(b"another bad byte \xff")
    refused = gate()
    assert refused.exit_code == 2, refused.stderr
    assert f"(the first not met: {folder / 'm.txt'})" in refused.stderr
    assert (out.read_bytes(), (tmp_path / "o.jsonl.resume").read_bytes()) == files
