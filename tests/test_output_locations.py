"""Output locations that cannot be written: refused before any work, or exit 3 naming the file.

Tests run as root, for whom a chmod'ed folder is writable: read-only and
permission errors are simulated by making file creation raise, a real
location that takes no new files is ``/proc/self``, and a full disk is a
write that raises ENOSPC.
"""

from __future__ import annotations

import errno
import os
import tempfile

import joblib
import numpy as np
import pytest
from _fakes import SPORTS_DOC, text_classifier
from click.testing import CliRunner
from PIL import Image
from sklearn.linear_model import LogisticRegression

from lime_cli.cli import cli

FAST = ["--num-samples", "60", "--seed", "1", "--format", "json"]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("model") / "text.joblib"
    joblib.dump(text_classifier(), path)
    return str(path)


@pytest.fixture(scope="module")
def grey_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A classifier of 8x8 grey pictures (64 values in 0..1)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (200, 64))
    model = LogisticRegression().fit(x, np.where(x[:, :8].mean(axis=1) > 0.5, "a", "b"))
    path = tmp_path_factory.mktemp("model") / "grey.joblib"
    joblib.dump(model, path)
    return str(path)


@pytest.fixture
def doc(tmp_path) -> str:
    path = tmp_path / "doc.txt"
    path.write_text(SPORTS_DOC, encoding="utf-8")
    return str(path)


@pytest.fixture
def picture(tmp_path) -> str:
    path = tmp_path / "p.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4, "L").save(path)
    return str(path)


def text(model: str, doc: str, *args: str):
    return CliRunner().invoke(cli, ["text", "--model", model, doc, *FAST, *args])


def image(model: str, picture: str, *args: str):
    options = ["--scale", str(1 / 255), "--segmenter", "slic", "--segments", "4"]
    return CliRunner().invoke(cli, ["image", "--model", model, picture, *options, *FAST, *args])


def refused_before_work(result, path: str, reason: str) -> None:
    """Exit 3, one line naming the path and the reason, and no explanation printed."""
    assert result.exit_code == 3, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""  # nothing was explained
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and path in lines[0] and reason in lines[0], lines
    assert "internal error" not in lines[0]


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.fixture
def refuse_creation(monkeypatch):
    """Make creating a file in a chosen folder fail with a chosen errno."""

    def install(folder, code: int) -> None:
        real = tempfile.mkstemp

        def mkstemp(*args, **kwargs):
            if os.path.abspath(str(kwargs.get("dir"))) == os.path.abspath(str(folder)):
                raise OSError(code, os.strerror(code))
            return real(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)

    return install


def test_out_in_a_folder_that_is_a_file_says_so(tmp_path, text_model, doc):
    (tmp_path / "empty.txt").write_text("")
    out = str(tmp_path / "empty.txt" / "o.json")
    result = text(text_model, doc, "--out", out)
    refused_before_work(result, out, f"{tmp_path / 'empty.txt'} is a file, not a folder")


def test_out_where_no_file_can_be_created_is_refused_before_the_work(text_model, doc):
    out = "/proc/self/lime-explain-test.json"
    refused_before_work(text(text_model, doc, "--out", out), out, "cannot write in /proc/self")


@pytest.mark.parametrize(
    "code, reason",
    [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied")],
)
@pytest.mark.parametrize("option", ["--out", "--junit"])
def test_read_only_text_outputs_are_refused_before_the_work(
    tmp_path, refuse_creation, text_model, doc, code, reason, option
):
    folder = tmp_path / "ro"
    folder.mkdir()
    refuse_creation(folder, code)
    out = str(folder / ("o.xml" if option == "--junit" else "o.jsonl"))
    refused_before_work(text(text_model, doc, option, out), out, reason)
    assert files_in(folder) == []


@pytest.mark.parametrize(
    "option, name", [("--out", "o.png"), ("--out", "o.npy"), ("--heatmap", "h.png")]
)
def test_read_only_image_outputs_are_refused_before_the_work(
    tmp_path, refuse_creation, grey_model, picture, option, name
):
    folder = tmp_path / "ro"
    folder.mkdir()
    refuse_creation(folder, errno.EROFS)
    out = str(folder / name)
    refused_before_work(image(grey_model, picture, option, out), out, "read-only file system")


def test_pick_and_compare_outputs_are_checked_before_the_work(
    tmp_path, refuse_creation, text_model, doc
):
    folder = tmp_path / "ro"
    folder.mkdir()
    refuse_creation(folder, errno.EROFS)
    out = str(folder / "o.json")
    pick = ["pick", "text", "--model", text_model, doc, "--budget", "1", *FAST, "--out", out]
    refused_before_work(CliRunner().invoke(cli, pick), out, "read-only file system")
    junit = str(folder / "c.xml")
    compare = ["compare", "text", "--model", text_model, "--model", text_model, doc, *FAST]
    result = CliRunner().invoke(cli, [*compare, "--junit", junit])
    refused_before_work(result, junit, "read-only file system")


@pytest.fixture
def full_disk(monkeypatch):
    """Every finished write fails as on a full disk."""

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("name", ["o.json", "checks.xml"])
def test_full_disk_is_exit_3_naming_the_file_and_leaves_nothing(
    tmp_path, full_disk, text_model, doc, name
):
    folder = tmp_path / "out"
    folder.mkdir()
    out = str(folder / name)
    option = "--junit" if name.endswith(".xml") else "--out"
    result = text(text_model, doc, option, out)
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    assert f"{out}: cannot write: no space left on device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert files_in(folder) == []  # neither the file nor a temporary copy


def test_full_disk_while_writing_a_png_is_exit_3(tmp_path, full_disk, grey_model, picture):
    folder = tmp_path / "out"
    folder.mkdir()
    out = str(folder / "o.png")
    result = image(grey_model, picture, "--out", out)
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    assert f"{out}: cannot write: no space left on device" in result.stderr
    assert files_in(folder) == []


@pytest.mark.parametrize("second", ["./a.jsonl", "link.jsonl"])
def test_one_file_given_twice_as_out_is_refused_before_the_work(
    tmp_path, monkeypatch, text_model, doc, second
):
    """a.jsonl and ./a.jsonl (or a link to it) are one file: the run wrote it twice
    over; a JSON Lines output's lock then refused the run's own second name, after
    its first line (exit 2, 'still running', a line and a ledger left)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link.jsonl").symlink_to("a.jsonl")
    result = text(text_model, doc, "--out", "a.jsonl", "--out", second)
    assert result.exit_code == 2
    assert result.stderr == (
        f"lime-explain: usage error: a.jsonl and {second} are the same file: give it once\n"
    )
    assert not (tmp_path / "a.jsonl").exists() and not (tmp_path / "a.jsonl.resume").exists()
