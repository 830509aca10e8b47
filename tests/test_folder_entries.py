"""A folder's entries named like inputs that are not regular files fail as inputs.

A broken link (DVC and git-annex folders hold links that stay broken until
their data is pulled), a named pipe or a folder named ``x.txt`` used to vanish
from the run without a word. Each is now one of the inputs: it fails with its
own line on stderr and exit 3, while the others are still explained. A named
pipe is never opened (reading it would wait for a writer forever), so every
run here is a subprocess with a timeout: a hang fails the test instead of
stopping the suite.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from _fakes import SPORTS_DOC, text_classifier
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

TEXT_FAST = ["--num-samples", "40", "--seed", "1", "--format", "json"]
#: Digits' pixels are 0-16: --scale brings the PNG's 0-255 back to them.
IMAGE_FAST = ["--num-samples", "40", "--seed", "1", "--scale", str(16 / 255), "--format", "json"]
#: Seconds a run may take: far more than it needs, far less than a hang.
TIMEOUT = 120
ENV = {
    key: value
    for key, value in os.environ.items()
    if key not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
}
PIPE_REASON = (
    "(a folder's pipes are not read: reading one waits for a writer; "
    "name it on the command line to read it)"
)


def lime_explain(*args: object) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process; one stuck on a pipe fails the test on the timeout."""
    argv = [sys.executable, "-m", "lime_cli", *(str(a) for a in args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=ENV)


def names(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [json.loads(line)["input"]["name"] for line in result.stdout.splitlines()]


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The input errors on stderr, after checking the run failed cleanly with exit 3."""
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    prefix = "lime-explain: input error: "
    return [line[len(prefix) :] for line in result.stderr.splitlines() if line.startswith(prefix)]


def cached(folder: Path) -> Path:
    """Where the broken link in ``folder`` points: a data cache outside it, as DVC's."""
    return folder.parent / "cache" / folder.name


def odd_entries(folder: Path, extension: str) -> None:
    """A broken link, a folder and a named pipe, each named ``*{extension}``."""
    os.symlink(cached(folder), folder / f"broken{extension}")
    (folder / f"dir{extension}").mkdir()
    os.mkfifo(folder / f"pipe{extension}")


# -- text ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("model") / "text.joblib"
    joblib.dump(text_classifier(), path)
    return str(path)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two documents around the odd entries, a socket among them."""
    folder = tmp_path_factory.mktemp("docs")
    (folder / "a.txt").write_text(SPORTS_DOC)
    (folder / "z.txt").write_text(SPORTS_DOC)
    odd_entries(folder, ".txt")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(folder / "socket.txt"))  # the file stays once it is closed
    return folder


@pytest.fixture(scope="module")
def text_run(text_model: str, documents: Path) -> subprocess.CompletedProcess[str]:
    return lime_explain("text", "--model", text_model, *TEXT_FAST, documents)


def test_a_socket_in_a_folder_fails_as_not_a_regular_file(text_run, documents):
    line = f"{documents / 'socket.txt'}: not a regular file (a device or a socket)"
    assert line in errors(text_run)


def test_the_other_documents_are_explained_and_the_failures_come_in_order(text_run, documents):
    assert names(text_run) == [str(documents / "a.txt"), str(documents / "z.txt")]
    failed = [line.split(": ")[0] for line in errors(text_run)]
    assert failed == [
        str(documents / n) for n in ("broken.txt", "dir.txt", "pipe.txt", "socket.txt")
    ]


def test_lines_of_a_folder_fail_its_pipe_without_opening_it(text_model, documents):
    result = lime_explain("text", "--model", text_model, *TEXT_FAST, "--lines", documents)
    assert names(result) == [f"{documents / 'a.txt'}:1", f"{documents / 'z.txt'}:1"]
    assert f"{documents / 'pipe.txt'}: is a named pipe, not a regular file {PIPE_REASON}" in (
        errors(result)
    )


def test_resume_records_the_failed_entries_and_explains_a_link_once_pulled(text_model, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(SPORTS_DOC)
    odd_entries(folder, ".txt")
    out = tmp_path / "out.jsonl"
    args = ["text", "--model", text_model, *TEXT_FAST, folder, "--out", out]
    first = lime_explain(*args)
    assert len(errors(first)) == 3
    ledger = [json.loads(line) for line in Path(f"{out}.resume").read_text().splitlines()]
    failed = [record["failed"] for record in ledger if "failed" in record and "ended" not in record]
    assert failed == [str(folder / n) for n in ("broken.txt", "dir.txt", "pipe.txt")]

    cached(folder).parent.mkdir()
    cached(folder).write_text(SPORTS_DOC)  # the data is pulled
    resumed = lime_explain(*args, "--resume")
    assert [line.split(": ")[0] for line in errors(resumed)] == [
        str(folder / "dir.txt"), str(folder / "pipe.txt"),
    ]  # fmt: skip
    explained = [json.loads(line)["input"]["name"] for line in out.read_text().splitlines()]
    assert explained == [str(folder / "a.txt"), str(folder / "broken.txt")]


# -- images ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A digits model (small and quick) and a folder: digit 0 among the odd entries."""
    data = load_digits()
    folder = tmp_path_factory.mktemp("pictures")
    model = LogisticRegression(C=0.001, max_iter=200).fit(data.data[:400], data.target[:400])
    joblib.dump(model, folder.parent / "digits.joblib")
    picture = np.rint(data.images[0] * 255 / 16).astype(np.uint8)
    Image.fromarray(picture, "L").save(folder / "zero.png")
    odd_entries(folder, ".jpg")
    return str(folder.parent / "digits.joblib"), folder


@pytest.fixture(scope="module")
def image_run(pictures: tuple[str, Path]) -> subprocess.CompletedProcess[str]:
    model, folder = pictures
    return lime_explain("image", "--model", model, *IMAGE_FAST, folder)


# -- both ------------------------------------------------------------------------


@pytest.fixture(params=["text", "image"])
def odd_run(request: pytest.FixtureRequest) -> tuple[list[str], Path, str]:
    """A run's input errors over a folder with the odd entries, the folder, and
    the extension they were named with: text documents, then pictures."""
    if request.param == "text":
        return (
            errors(request.getfixturevalue("text_run")),
            request.getfixturevalue("documents"),
            ".txt",
        )
    return (
        errors(request.getfixturevalue("image_run")),
        request.getfixturevalue("pictures")[1],
        ".jpg",
    )


def test_a_broken_link_fails_naming_its_missing_target(odd_run):
    failed, folder, extension = odd_run
    link, target = folder / f"broken{extension}", cached(folder)
    assert f"{link}: no such file (a link to a missing file: {target})" in failed


def test_a_folder_named_like_an_input_fails_as_a_directory(odd_run):
    failed, folder, extension = odd_run
    assert f"{folder / f'dir{extension}'}: is a directory, not a file" in failed


def test_a_named_pipe_fails_without_being_opened(odd_run):
    failed, folder, extension = odd_run
    assert (
        f"{folder / f'pipe{extension}'}: is a named pipe, not a regular file {PIPE_REASON}"
        in failed
    )


def test_the_other_pictures_are_explained_and_the_run_exits_3(image_run, pictures):
    folder = pictures[1]
    assert len(errors(image_run)) == 3
    assert names(image_run) == [str(folder / "zero.png")]


def test_resume_never_opens_a_pipe_put_in_the_place_of_an_explained_picture(pictures, tmp_path):
    """--resume reads each explained picture again for its digest: a named pipe now
    under that name used to be opened there, and the resume waited forever."""
    model, source = pictures
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "zero.png").write_bytes((source / "zero.png").read_bytes())
    os.symlink(cached(folder), folder / "broken.jpg")  # fails: the ledger is kept
    out = tmp_path / "out.jsonl"
    args = ["image", "--model", model, *IMAGE_FAST, folder, "--out", out]
    assert len(errors(lime_explain(*args))) == 1 and Path(f"{out}.resume").exists()
    (folder / "zero.png").unlink()
    os.mkfifo(folder / "zero.png")
    resumed = lime_explain(*args, "--resume")
    assert resumed.returncode == 2
    assert f"{folder / 'zero.png'} has changed since {out} explained it" in resumed.stderr


def test_a_dask_worker_never_opens_a_pipe_of_a_folder_named_relative(pictures, tmp_path):
    """Workers find a relative input from the command's folder (ModelSpec.located):
    the joined path kept no mark, so a worker opened the folder's pipe and waited."""
    model, source = pictures
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "zero.png").write_bytes((source / "zero.png").read_bytes())
    os.mkfifo(folder / "pipe.jpg")
    argv = [sys.executable, "-m", "lime_cli", "image", "--model", model, *IMAGE_FAST,
            "--scheduler", "local:1", "pics"]  # fmt: skip
    env = {**ENV, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=env,
                            cwd=tmp_path)  # fmt: skip
    assert errors(result) == [f"pics/pipe.jpg: is a named pipe, not a regular file {PIPE_REASON}"]
    assert names(result) == ["pics/zero.png"]
