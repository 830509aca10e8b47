"""JSON Lines written as results arrive, --resume, and Ctrl-C at any moment.

In-process runs stop themselves (the executor raises KeyboardInterrupt after
some rows, as Ctrl-C does); the slow tests send SIGINT to a real
``lime-explain`` process, including while its workers start, and check one
line on stderr, exit 130 and a file that ``--resume`` finishes byte for byte
as an uninterrupted run writes it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from lime_cli.cli import cli
from lime_cli.errors import UsageError
from lime_cli.run import executor, loop, resume

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


class SlowLogistic:
    """A logistic model that takes 0.1 ms per sample: batches worth sharing with workers."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes_ = model.classes_
        self.n_features_in_ = model.n_features_in_

    def predict(self, x: Any) -> Any:
        return self.model.predict(x)

    def predict_proba(self, x: Any) -> Any:
        time.sleep(1e-4 * len(x))
        return self.model.predict_proba(x)


class GatedLogistic(SlowLogistic):
    """A logistic model that, once ``out`` has a line, waits while the file ``gate``
    exists (60 s at most): a run that is surely still going while a test looks at it."""

    def __init__(self, model: Any, gate: str, out: str) -> None:
        super().__init__(model)
        self.gate, self.out = gate, out

    def predict_proba(self, x: Any) -> Any:
        deadline = time.monotonic() + 60
        while os.path.exists(self.gate) and time.monotonic() < deadline:
            if os.path.exists(self.out) and os.path.getsize(self.out) > 0:
                time.sleep(0.05)
            else:
                break
        return self.model.predict_proba(x)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    return build_data(tmp_path_factory.mktemp("resume"))


def build_data(folder: Path) -> dict[str, str]:
    """320 rows of a, b, c; a logistic model of them, fast and slow (SlowLogistic)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(320, 3)), columns=["a", "b", "c"])
    y = np.where(frame.a - frame.b > 0, "yes", "no")
    model = LogisticRegression().fit(frame.to_numpy(), y)
    frame.to_csv(folder / "rows.csv", index=False)
    joblib.dump(model, folder / "fast.joblib")
    joblib.dump(SlowLogistic(model), folder / "slow.joblib")
    return {name: str(folder / name) for name in ("rows.csv", "fast.joblib", "slow.joblib")}


def args(data: dict[str, str], out: Path, *more: str) -> list[str]:
    return [
        "tabular", "--model", data["fast.joblib"], "--train", data["rows.csv"], "--all",
        data["rows.csv"], "--num-samples", "100", "-q", "--out", str(out), *more,
    ]  # fmt: skip


def run(*argv: str):
    return CliRunner().invoke(cli, list(argv), env=CLEAN_ENV)


def stopped(argv: list[str], monkeypatch, count: int = 50) -> None:
    """Run ``argv``, stopped (as by Ctrl-C) after ``count`` outcomes."""
    stopping_after(count, monkeypatch)
    assert run(*argv).exit_code == 130
    monkeypatch.undo()


def ended_cleanly(ledger: Path) -> bool:
    """Whether ``ledger`` is kept by a run given --resume that ended with no input
    failed (its last line says so), for a later --resume to check."""
    last = ledger.read_text(encoding="utf-8").splitlines()[-1]
    return json.loads(last) == {"ended": True, "failed": 0}


def stopping_after(count: int, monkeypatch) -> None:
    """The next run stops (KeyboardInterrupt, as Ctrl-C) after ``count`` outcomes."""
    real = executor.run_pairs

    def interrupted(*a: Any, **k: Any):
        for done, pair in enumerate(real(*a, **k)):
            if done == count:
                raise KeyboardInterrupt
            yield pair

    monkeypatch.setattr(loop.executor, "run_pairs", interrupted)


def test_a_finished_run_leaves_its_lines_and_no_ledger(data, tmp_path):
    out = tmp_path / "all.jsonl"
    result = run(*args(data, out, "--seed", "1"))
    assert result.exit_code == 0, result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 320
    assert not (tmp_path / "all.jsonl.resume").exists()


def test_ctrl_c_keeps_the_lines_written_and_resume_finishes_them(data, tmp_path, monkeypatch):
    whole = tmp_path / "whole.jsonl"
    assert run(*args(data, whole, "--seed", "7")).exit_code == 0
    out = tmp_path / "part.jsonl"
    stopping_after(50, monkeypatch)
    stopped = run(*args(data, out))  # no --seed: a fresh one, kept in the ledger
    assert stopped.exit_code == 130
    assert stopped.stderr == "lime-explain: interrupted\n"
    assert len(out.read_text(encoding="utf-8").splitlines()) == 50
    ledger = (tmp_path / "part.jsonl.resume").read_text(encoding="utf-8").splitlines()
    header = json.loads(ledger[0])
    first = json.loads(ledger[1])
    assert len(ledger) == 51 and first["input"] == f"{data['rows.csv']} row 0"
    assert len(first["content"]) == 16 and int(first["content"], 16) >= 0  # the row's digest
    monkeypatch.undo()
    with out.open("a", encoding="utf-8") as half:
        half.write('{"schema_version": 1, "modali')  # killed in the middle of a line
    resumed = run(*args(data, out, "--resume", "--jobs", "2"))
    assert resumed.exit_code == 0, resumed.stderr
    assert ended_cleanly(tmp_path / "part.jsonl.resume")  # kept for a later --resume
    again = tmp_path / "again.jsonl"
    assert run(*args(data, again, "--seed", str(header["seed"]))).exit_code == 0
    assert out.read_bytes() == again.read_bytes()
    assert whole.read_bytes() != again.read_bytes()  # the seed did come from the ledger


def test_a_line_the_ledger_does_not_vouch_for_is_redone(data, tmp_path, monkeypatch):
    out = tmp_path / "part.jsonl"
    stopping_after(10, monkeypatch)
    assert run(*args(data, out, "--seed", "3")).exit_code == 130
    monkeypatch.undo()
    ledger = tmp_path / "part.jsonl.resume"
    lines = ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    ledger.write_text("".join(lines[:-1]), encoding="utf-8")  # stopped between the two writes
    assert run(*args(data, out, "--seed", "3", "--resume")).exit_code == 0
    whole = tmp_path / "whole.jsonl"
    assert run(*args(data, whole, "--seed", "3")).exit_code == 0
    assert out.read_bytes() == whole.read_bytes()


def test_a_run_resumed_twice_finishes_byte_for_byte(data, tmp_path, monkeypatch):
    out = tmp_path / "part.jsonl"
    stopping_after(40, monkeypatch)
    assert run(*args(data, out, "--seed", "5")).exit_code == 130
    monkeypatch.undo()
    stopping_after(60, monkeypatch)  # the resumed run stops too, after 60 more
    assert run(*args(data, out, "--seed", "5", "--resume")).exit_code == 130
    records = (tmp_path / "part.jsonl.resume").read_text(encoding="utf-8").splitlines()
    assert len(records) == 1 + 40 + 1 + 60 and json.loads(records[41]) == {"resumed": True}
    monkeypatch.undo()
    assert run(*args(data, out, "--seed", "5", "--resume")).exit_code == 0
    whole = tmp_path / "whole.jsonl"
    assert run(*args(data, whole, "--seed", "5")).exit_code == 0
    assert out.read_bytes() == whole.read_bytes()


def write_stopped_run(
    out: Path, segments: list[list[str]], key: str = "k", digests: bool = False
) -> None:
    """A ledger of runs that wrote ``segments`` (the first run's, each resumed run's),
    and the output lines they vouch for plus a half-written one. With ``digests``,
    each record's content digest is that of its name's bytes."""
    header = {"lime_explain_resume": resume.LEDGER_VERSION, "settings": key, "seed": 1}
    lines = [json.dumps(header)]
    for k, names in enumerate(segments):
        lines += ([json.dumps(resume.RESUMED)] if k else []) + [
            json.dumps(
                {"input": name, "content": resume.content_digest(name.encode())}
                if digests
                else {"input": name}
            )
            for name in names
        ]
    Path(resume.ledger_path(str(out))).write_text("\n".join(lines) + "\n", encoding="utf-8")
    written = sum(len(names) for names in segments)
    out.write_text("".join(f'{{"line": {i}}}\n' for i in range(written)) + '{"li', encoding="utf-8")


def test_resume_matches_the_inputs_against_each_runs_records_in_order(tmp_path):
    # The first run wrote a, c, d (b failed); a resumed run wrote b (it worked then) and e.
    out = tmp_path / "x.jsonl"
    write_stopped_run(out, [["a", "c", "d"], ["b", "e"]])
    before = out.read_bytes()
    progress = resume.continue_from(str(out), "k")
    assert len(progress.done) == 5 and not progress.finished
    assert [progress.done.skips(name) for name in "abcdef"] == [True] * 5 + [False]
    assert not progress.done.unmatched
    assert out.read_bytes() == before  # nothing is cut until the run writes
    first_write(out, progress)
    assert out.read_text(encoding="utf-8").splitlines()[4:] == ['{"line": 4}', '{"new": 1}']
    progress.done.close()


def first_write(out: Path, progress: resume.Progress) -> None:
    """What a resumed run's writer does with one new line: cut the files where
    ``progress`` says they agree, append the line and its record, close."""
    writer = resume.LineWriter(
        str(out), "k", 0, append=True, cut=progress.sizes, locked=progress.lock is not None
    )
    writer.write('{"new": 1}', "new input")
    writer.close(finished=False)
    progress.release()


def test_resume_holds_a_record_per_run_not_one_per_input(tmp_path):
    out = tmp_path / "x.jsonl"
    names = [f"rows.csv row {i}" for i in range(5000)]
    write_stopped_run(out, [names[:3000], names[3000:4000]])
    done = resume.continue_from(str(out), "k").done
    assert len(done) == 4000 and len(done._heads) == 2
    assert all(done.skips(name) for name in names[:4000])
    assert not done.unmatched and not done._heads and not done.skips(names[4000])


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_a_ledger_of_many_runs_is_read_through_one_file(tmp_path):
    """A CI job that resumes daily adds a segment a day to its kept ledger: each
    segment used to hold a file open, and at about a thousand the run died
    (Too many open files, exit 5)."""
    out = tmp_path / "x.jsonl"
    names = [f"rows.csv row {i}" for i in range(3000)]
    write_stopped_run(out, [[name] for name in names])
    before = len(os.listdir("/proc/self/fd"))
    progress = resume.continue_from(str(out), "k")
    assert len(os.listdir("/proc/self/fd")) - before <= 2  # the lock and the reader
    assert len(progress.done) == 3000 and all(progress.done.skips(name) for name in names)
    assert not progress.done.unmatched
    progress.done.close()
    progress.release()


def test_a_ledger_removed_while_a_resume_waited_for_its_lock_is_looked_for_again(
    tmp_path, monkeypatch
):
    """A run that ends removes its ledger after unlocking it: a resume that opened
    it just before must not go on with the removed file (it read 'not a
    lime-explain ledger', or its writer made the ledger again full of zeros)."""
    out = tmp_path / "x.jsonl"
    write_stopped_run(out, [["a", "b"]])
    real = resume._lock
    calls: list[int] = []

    def ended_meanwhile(handle: Any, path: str, *, shared: bool = False) -> bool:
        if not calls:
            os.unlink(resume.ledger_path(path))  # the other run ended just now
        calls.append(1)
        return real(handle, path, shared=shared)

    monkeypatch.setattr(resume, "_lock", ended_meanwhile)
    progress = resume.continue_from(str(out), "k")
    assert progress.finished and progress.lock is None  # a finished run's output now


def test_a_refused_resume_puts_back_any_number_of_failed_inputs_records(tmp_path):
    """Failed inputs' records after the last explained one stay where they are, so
    a resume refused after it wrote (an explained row edited further on) leaves the
    ledger byte for byte as it was, however many there are (past 1 MiB only the
    ended mark used to come back)."""
    out = tmp_path / "x.jsonl"
    write_stopped_run(out, [["a"]])
    ledger = Path(resume.ledger_path(str(out)))
    with ledger.open("a", encoding="utf-8") as book:
        book.writelines(json.dumps({"failed": f"row {i}"}) + "\n" for i in range(60_000))
        book.write(json.dumps({"ended": True, "failed": 60_000}) + "\n")
    assert ledger.stat().st_size > 1 << 20
    before = ledger.read_bytes()
    progress = resume.continue_from(str(out), "k")
    first_write(out, progress)  # a line added, then the run is refused:
    progress.cut_back(str(out))
    assert ledger.read_bytes() == before
    assert out.read_text(encoding="utf-8").splitlines() == ['{"line": 0}']


def test_a_ledger_of_a_newer_version_is_named_so(tmp_path):
    out = tmp_path / "x.jsonl"
    write_stopped_run(out, [["a"]])
    ledger = Path(resume.ledger_path(str(out)))
    newer = f'"lime_explain_resume": {resume.LEDGER_VERSION + 1}'
    ledger.write_text(
        ledger.read_text(encoding="utf-8").replace(
            f'"lime_explain_resume": {resume.LEDGER_VERSION}', newer
        ),
        encoding="utf-8",
    )
    with pytest.raises(UsageError, match=r"written by a newer lime-explain \(ledger version"):
        resume.continue_from(str(out), "k")


def test_resume_reads_names_with_quotes_backslashes_and_accents(tmp_path):
    out = tmp_path / "x.jsonl"
    names = ['say "hi".txt:1', "C:\\docs\\a.txt:2", "café\ttab.txt:3", "plain.txt:4"]
    write_stopped_run(out, [names[:2], names[2:]])
    done = resume.continue_from(str(out), "k").done
    assert len(done) == 4 and [done.skips(name) for name in names] == [True] * 4


@pytest.mark.parametrize(
    "names", [list("abcd"), ['say "hi".txt:1', "C:\\a.txt:2", "café:3", "x:4"]]
)
def test_resume_checks_each_input_against_the_digest_of_what_was_explained(tmp_path, names):
    out = tmp_path / "x.jsonl"
    write_stopped_run(out, [names[:2], names[2:3]], digests=True)
    done = resume.continue_from(str(out), "k").done
    asked: list[str] = []

    def digest_of(name: str, data: bytes | None) -> Any:
        return lambda: asked.append(name) or resume.content_digest(data)

    assert done.skips(names[0], digest_of(names[0], names[0].encode()))
    with pytest.raises(resume.ChangedInputError, match="has changed"):  # no longer reads
        done.skips(names[1], digest_of(names[1], None))
    with pytest.raises(resume.ChangedInputError, match="has changed"):
        done.skips(names[2], digest_of(names[2], b"edited since"))
    assert asked == names[:3]  # the digest is computed only for an input the output has
    done.close()


def ledger_of(out: Path, *records: Any) -> resume.Done:
    """The Done of a stopped run whose ledger holds ``records`` (a name: explained;
    ``("failed", name)``, ``("unread", name)``, or ``"resumed"``)."""
    header = {"lime_explain_resume": resume.LEDGER_VERSION, "settings": "k", "seed": 1}
    lines, written = [json.dumps(header)], 0
    for record in records:
        if record == "resumed":
            lines.append(json.dumps(resume.RESUMED))
        elif isinstance(record, tuple):
            kind, name = record
            lines.append(
                json.dumps({"failed": name, **({"unread": True} if kind == "unread" else {})})
            )
        else:
            lines.append(json.dumps({"input": record}))
            written += 1
    Path(resume.ledger_path(str(out))).write_text("\n".join(lines) + "\n", encoding="utf-8")
    out.write_text("{}\n" * written, encoding="utf-8")
    return resume.continue_from(str(out), "k").done


def test_resume_knows_the_inputs_that_failed_and_refuses_one_never_met(tmp_path):
    out = tmp_path / "x.jsonl"
    # b failed in the first run, and was explained by a resumed one after c: passed.
    done = ledger_of(out, "a", ("failed", "b"), "c", "resumed", "b", "d")
    assert [done.skips(name) for name in "abcde"] == [True, True, True, True, False]
    # b failed and was not explained since: tried again; the rest goes on.
    done = ledger_of(out, "a", ("failed", "b"), "c")
    assert [done.skips(name) for name in "abcd"] == [True, False, True, False]
    # x between a and b: the stopped run went past its place without meeting it.
    done = ledger_of(out, "a", ("failed", "b"), "c")
    assert done.skips("a")
    with pytest.raises(resume.MisplacedInputError):
        done.skips("x")
    done.close()
    # A source failed part way: its rest was never met, so nothing is misplaced.
    done = ledger_of(out, "a", ("unread", "src"), "c")
    assert [done.skips(name) for name in ["a", "src:2", "c"]] == [True, False, True]
    # b failed and has been removed since: it had no line, so c, d go on.
    done = ledger_of(out, "a", ("failed", "b"), ("failed", "b2"), "c")
    assert [done.skips(name) for name in "acd"] == [True, True, False]
    # An input that does not read now is not refused here: it fails on its own.
    done = ledger_of(out, "a", "b")
    assert done.skips("a") and not done.skips("broken", lambda: None) and done.skips("b")


def test_a_name_given_twice_is_matched_to_each_runs_record_in_turn(tmp_path):
    """a, b, a, c: the first run wrote a and b, a resumed one the second a (and c
    in the second case). Each a takes one record: the first run's, then the
    resumed run's (both used to be taken by the first a)."""
    out = tmp_path / "x.jsonl"
    done = ledger_of(out, "a", "b", "resumed", "a")
    assert [done.skips(name) for name in "abac"] == [True, True, True, False]
    done = ledger_of(out, "a", "b", "resumed", "a", "c")
    assert [done.skips(name) for name in "abac"] == [True, True, True, True]
    # b failed in the first run; the resumed run wrote it, then the second a.
    done = ledger_of(out, "a", ("failed", "b"), "resumed", "b", "a")
    assert [done.skips(name) for name in "abac"] == [True, True, True, False]


def test_records_without_digests_are_not_checked(tmp_path):
    """A modality whose inputs have no content writes names only; they still resume."""
    out = tmp_path / "x.jsonl"
    write_stopped_run(out, [["a", 'q"uote'], ["b"]])
    done = resume.continue_from(str(out), "k").done
    digest = resume.content_digest
    assert [done.skips(n, lambda: digest(b"any")) for n in ["a", 'q"uote', "b"]] == [True] * 3
    assert not done.unmatched


def test_a_ledger_of_an_older_version_is_refused_by_name(tmp_path):
    out = tmp_path / "x.jsonl"
    write_stopped_run(out, [["a"]])
    ledger = Path(resume.ledger_path(str(out)))
    ledger.write_text(
        ledger.read_text().replace(
            f'"lime_explain_resume": {resume.LEDGER_VERSION}', '"lime_explain_resume": 1'
        )
    )
    with pytest.raises(UsageError, match=r"written by an older lime-explain \(ledger version 1\)"):
        resume.continue_from(str(out), "k")


def stopped_copy(
    data: dict[str, str], tmp_path: Path, monkeypatch: Any, *more: str, select: str = "--all"
) -> tuple[list[str], Path, Path]:
    """A copy of the rows (rows.csv) explained whole into whole.jsonl, then by a run
    into part.jsonl stopped after 50: the stopped run's arguments, the copy, the
    output. ``select`` ``--all`` streams the CSV; ``--rows 0:320`` reads it whole."""
    rows = tmp_path / "rows.csv"
    rows.write_text(Path(data["rows.csv"]).read_text(encoding="utf-8"), encoding="utf-8")
    argv = args(data, tmp_path / "whole.jsonl", *more)
    at = argv.index("--all")
    argv[at : at + 2] = [*select.split(), str(rows)]
    assert run(*argv).exit_code == 0
    out = tmp_path / "part.jsonl"
    argv[argv.index("--out") + 1] = str(out)
    stopped(argv, monkeypatch)
    return argv, rows, out


def edit_row(csv: Path, row: int) -> str:
    """Change data row ``row``'s first value in ``csv``; returns the original text."""
    text = csv.read_text(encoding="utf-8")
    lines = text.splitlines()
    cells = lines[row + 1].split(",")
    cells[0] = str(float(cells[0]) + 1.0)
    lines[row + 1] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return text


@pytest.mark.parametrize(
    "select, more",
    [("--all", []), ("--all", ["--jobs", "2"]), ("--rows 0:320", [])],
    ids=["stream", "jobs2", "list"],
)
def test_resume_refuses_an_input_edited_since_it_was_explained(
    data, tmp_path, monkeypatch, select, more
):
    """Row 10 of 50 explained is edited before --resume: exit 2, one line, the files
    as they were and the ledger kept (the output's line explains the row as it was;
    the resume used to skip it and finish a file that said so silently). A row not
    yet explained may change: restored, the run resumes to the whole file's bytes."""
    argv, rows, out = stopped_copy(data, tmp_path, monkeypatch, "--seed", "4", *more, select=select)
    before = out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()
    original = edit_row(rows, 10)
    refused = run(*argv, "--resume")
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"lime-explain: usage error: {rows} row 10 has changed since {out} explained it: "
        f"nothing was added; restore the input to resume, or remove {out} and {out}.resume "
        "to start over\n"
    )
    assert (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()) == before
    rows.write_text(original, encoding="utf-8")
    assert run(*argv, "--resume").exit_code == 0
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


def test_a_row_edited_before_it_was_explained_is_explained_as_it_is(data, tmp_path, monkeypatch):
    argv, rows, out = stopped_copy(data, tmp_path, monkeypatch, "--seed", "4")
    edit_row(rows, 200)
    assert run(*argv, "--resume").exit_code == 0
    whole = tmp_path / "whole.jsonl"
    argv[argv.index("--out") + 1] = str(whole)
    assert run(*argv).exit_code == 0  # over the edited file
    assert out.read_bytes() == whole.read_bytes()


def test_what_a_resume_wrote_before_it_met_an_edited_row_is_cut_back(data, tmp_path, monkeypatch):
    """Row 5 failed in the stopped run (a value that does not read) and is fixed
    since; row 10 was explained and is edited since. The resume explains row 5,
    writes it (with the mark that starts its records in the ledger), then meets
    row 10: exit 2, and both files are cut back to what they were."""
    rows = tmp_path / "rows.csv"
    lines = Path(data["rows.csv"]).read_text(encoding="utf-8").splitlines()
    broken = lines[:6] + ["not a number," + lines[6].split(",", 1)[1]] + lines[7:]
    rows.write_text("\n".join(broken) + "\n", encoding="utf-8")
    out = tmp_path / "part.jsonl"
    argv = args(data, out, "--seed", "4")
    argv[argv.index("--all") + 1] = str(rows)
    stopped(argv, monkeypatch)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 49  # row 5 failed
    before = out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    edit_row(rows, 10)
    written: list[str] = []
    real = resume.LineWriter.write

    def noting(self: Any, line: str, name: str, content: Any = None) -> None:
        written.append(name)
        real(self, line, name, content)

    monkeypatch.setattr(resume.LineWriter, "write", noting)
    refused = run(*argv, "--resume")
    assert refused.exit_code == 2 and f"{rows} row 10 has changed since" in refused.stderr
    assert written == [f"{rows} row 5"]  # written, then cut back
    assert (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()) == before


def test_a_row_that_no_longer_reads_counts_as_changed(data, tmp_path, monkeypatch):
    argv, rows, out = stopped_copy(data, tmp_path, monkeypatch, "--seed", "4")
    lines = rows.read_text(encoding="utf-8").splitlines()
    lines[11] = "not a number," + lines[11].split(",", 1)[1]  # data row 10
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = run(*argv, "--resume")
    assert refused.exit_code == 2 and f"{rows} row 10 has changed since" in refused.stderr


def test_resume_after_the_training_data_changed_is_refused(data, tmp_path, monkeypatch):
    train = tmp_path / "train.csv"
    text = Path(data["rows.csv"]).read_text(encoding="utf-8")
    train.write_text(text, encoding="utf-8")
    out = tmp_path / "part.jsonl"
    argv = args(data, out, "--seed", "4")
    argv[argv.index("--train") + 1] = str(train)
    stopped(argv, monkeypatch)
    train.write_text(text + text.splitlines()[1] + "\n", encoding="utf-8")  # one row more
    refused = run(*argv, "--resume")
    assert (
        refused.exit_code == 2
        and "written with other settings (the --train file's content differs)" in (refused.stderr)
    )
    # The same bytes again, with a new time (a fresh checkout): the run goes on.
    train.write_text(text, encoding="utf-8")
    os.utime(train, ns=(0, 0))
    assert run(*argv, "--resume").exit_code == 0


def test_a_ledger_cut_short_keeps_only_the_lines_it_vouches_for(tmp_path):
    out = tmp_path / "x.jsonl"
    write_stopped_run(out, [["a", "b", "c"]])
    with out.open("a", encoding="utf-8") as extra:  # a whole line the ledger has no record of
        extra.write('ne": 3}\n')
    progress = resume.continue_from(str(out), "k")
    done = progress.done
    assert len(done) == 3 and [done.skips(name) for name in "abcd"] == [True, True, True, False]
    first_write(out, progress)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == ['{"line": 0}', '{"line": 1}', '{"line": 2}', '{"new": 1}']
    ledger = Path(resume.ledger_path(str(out))).read_text(encoding="utf-8").splitlines()
    assert json.loads(ledger[-2]) == {"resumed": True}
    assert json.loads(ledger[-1]) == {"input": "new input"}


def test_resume_with_other_settings_is_refused(data, tmp_path, monkeypatch):
    out = tmp_path / "part.jsonl"
    stopping_after(10, monkeypatch)
    assert run(*args(data, out, "--seed", "3")).exit_code == 130
    monkeypatch.undo()
    before = out.read_bytes()
    result = run(*args(data, out, "--seed", "3", "--resume", "--num-features", "2"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"lime-explain: usage error: {out} was written with other settings (--num-features "
        "differs); give the same ones, or remove it and its .resume file to start over\n"
    )
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "other, named",
    [
        (("--seed", "4"), "--seed differs"),
        (("--fresh-samples",), "--fresh-samples differs"),
        (("--num-samples", "auto"), "--num-samples differs"),
        (("--top-labels", "1"), "--top-labels differs"),
        (("--within", "7"), "--within differs"),
        (
            ("--num-samples", "50", "--ignore-columns", "c"),
            "--ignore-columns, --num-samples differ",
        ),
        (("--train",), "the --train file's content differs"),
        # The seed not given: the ledger's is taken, and only what differs is named.
        (("--no-seed", "--num-features", "2"), "--num-features differs"),
    ],
)
def test_a_refused_resume_names_what_differs(data, tmp_path, monkeypatch, other, named):
    """The ledger keeps a hash of each setting, so a refusal names the ones that
    differ, as typed (it used to list 'model, training data, options, inputs or
    seed'; a first version named inner fields: --adaptive, --labels)."""
    train = tmp_path / "train.csv"
    train.write_bytes(Path(data["rows.csv"]).read_bytes())
    argv = args(data, tmp_path / "part.jsonl", "--seed", "3")
    argv[argv.index("--train") + 1] = str(train)
    stopped(argv, monkeypatch, count=10)
    if other == ("--train",):
        with train.open("a", encoding="utf-8") as more:  # one row more
            more.write(Path(data["rows.csv"]).read_text(encoding="utf-8").splitlines()[1] + "\n")
        other = ()
    if other[:1] == ("--no-seed",):
        argv, other = argv[: argv.index("--seed")] + argv[argv.index("--seed") + 2 :], other[1:]
    result = run(*argv, "--resume", *other)  # a second --seed wins over the first
    assert result.exit_code == 2
    assert f"written with other settings ({named}); give the same ones" in result.stderr


def test_a_stopped_run_is_not_overwritten_without_resume(data, tmp_path, monkeypatch):
    """Running the stopped command again without --resume would throw away what
    it did: exit 2 saying how to go on, both files untouched."""
    out = tmp_path / "part.jsonl"
    stopping_after(10, monkeypatch)
    assert run(*args(data, out, "--seed", "3")).exit_code == 130
    monkeypatch.undo()
    before, ledger = out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()
    result = run(*args(data, out, "--seed", "3"))
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "holds a stopped run" in result.stderr and "--resume" in result.stderr
    assert out.read_bytes() == before
    assert (tmp_path / "part.jsonl.resume").read_bytes() == ledger


@pytest.mark.parametrize("resume", [(), ("--resume",)])
@pytest.mark.parametrize(
    "ledger", ["", '{"lime_explain_resume": 0}\n', '{"lime_explain_resume": true}\n']
)
def test_a_file_beside_the_output_that_is_no_ledger_gets_the_same_advice_either_way(
    data, tmp_path, resume, ledger
):
    """An empty .resume file (made by hand), or one of no version, is no run's: with
    or without --resume the command says so and how to start over (without, it
    used to say 'add --resume', which then said to remove both files)."""
    out = tmp_path / "all.jsonl"
    out.write_text("", encoding="utf-8")
    (tmp_path / "all.jsonl.resume").write_text(ledger, encoding="utf-8")
    result = run(*args(data, out, "--seed", "1", *resume))
    assert result.exit_code == 2
    assert result.stderr == (
        f"lime-explain: usage error: {out}.resume is not a lime-explain ledger; "
        f"remove {out} and {out}.resume to start over\n"
    )
    assert out.read_bytes() == b""
    assert (tmp_path / "all.jsonl.resume").read_text(encoding="utf-8") == ledger


def test_resume_of_a_finished_run_does_nothing(data, tmp_path):
    out = tmp_path / "all.jsonl"
    assert run(*args(data, out, "--seed", "1")).exit_code == 0
    before = out.read_bytes()
    result = run(*args(data, out, "--seed", "1", "--resume"))
    assert result.exit_code == 0
    assert result.stderr == (
        f"lime-explain: {out} has {len(before.splitlines())} explanations and no "
        f"{out}.resume, so the run that wrote it ended: nothing to do (inputs added "
        "since are not looked for: a run given --resume keeps its ledger for that)\n"
    )
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "other, named",
    [
        (("--seed", "2"), "--seed 1 there, 2 here"),
        (("--num-samples", "200"), "--num-samples 100 there, 200 here"),
        (("--num-features", "2"), "--num-features"),
        (("--model", "slow"), "model"),
    ],
)
def test_resume_of_a_finished_run_with_other_settings_is_refused(data, tmp_path, other, named):
    """Without a ledger, the output's own first line is checked: a script that
    always adds --resume must not keep another run's output as if it were done."""
    out = tmp_path / "all.jsonl"
    assert run(*args(data, out, "--seed", "1")).exit_code == 0
    before = out.read_bytes()
    argv = args(data, out, "--seed", "1", "--resume")
    if other[0] == "--model":
        argv[argv.index("--model") + 1] = data["slow.joblib"]
    else:
        argv += list(other)
    result = run(*argv)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "other settings" in result.stderr
    assert named in result.stderr
    assert out.read_bytes() == before
    # Without --seed, the file's seed is taken as given: the rest matches, nothing to do.
    same = run(*args(data, out, "--resume"))
    assert same.exit_code == 0 and " has 320 explanations and no " in same.stderr


def test_resume_refuses_an_output_that_is_not_lime_explain_json_lines(data, tmp_path):
    out = tmp_path / "all.jsonl"
    out.write_text("not json\n", encoding="utf-8")
    result = run(*args(data, out, "--resume"))
    assert result.exit_code == 2 and "not a lime-explain JSON Lines output" in result.stderr
    assert out.read_text(encoding="utf-8") == "not json\n"


def test_two_json_lines_outputs_are_resumed_each_on_its_own(data, tmp_path, monkeypatch):
    """A run may write two JSON Lines files; stopped, each has its own ledger, and
    --resume says to resume each alone (it said it needs one --out), which works."""
    argv = args(data, tmp_path / "a.jsonl", "--seed", "8", "--out", str(tmp_path / "b.jsonl"))
    stopped(argv, monkeypatch, count=20)
    both = run(*argv, "--resume")
    assert both.exit_code == 2
    assert both.stderr == (
        "lime-explain: usage error: --resume goes on with one --out FILE.jsonl at a time: "
        f"resume {tmp_path / 'a.jsonl'} and {tmp_path / 'b.jsonl'} each with a command of "
        "its own\n"
    )
    whole = tmp_path / "whole.jsonl"
    assert run(*args(data, whole, "--seed", "8")).exit_code == 0
    for name in ("a.jsonl", "b.jsonl"):
        assert run(*args(data, tmp_path / name, "--seed", "8", "--resume")).exit_code == 0
        assert (tmp_path / name).read_bytes() == whole.read_bytes()


@pytest.mark.parametrize("outs", [(), ("x.json",)])
def test_resume_needs_one_json_lines_output(data, tmp_path, outs):
    argv = args(data, tmp_path / "unused.jsonl", "--resume")
    at = argv.index("--out")
    del argv[at : at + 2]
    for name in outs:
        argv += ["--out", str(tmp_path / name)]
    result = run(*argv)
    assert result.exit_code == 2
    assert "--resume needs one --out FILE.jsonl" in result.stderr


def test_resume_refuses_files_written_at_the_end(data, tmp_path):
    result = run(*args(data, tmp_path / "a.jsonl", "--resume", "--out", str(tmp_path / "b.json")))
    assert result.exit_code == 2 and "b.json" in result.stderr
    assert not (tmp_path / "a.jsonl").exists()


def test_no_file_when_nothing_was_explained(data, tmp_path):
    out = tmp_path / "none.jsonl"
    result = run(*args(data, out, "--seed", "1", "--labels", "maybe"))
    assert result.exit_code != 0
    assert not out.exists() and not (tmp_path / "none.jsonl.resume").exists()


def unreadable_rows(data: dict[str, str], folder: Path) -> str:
    """The rows with a word in column a: every row fails on its own (exit 3)."""
    frame = pd.read_csv(data["rows.csv"]).astype({"a": object})
    frame["a"] = "abc"
    path = folder / "unreadable.csv"
    frame.to_csv(path, index=False)
    return str(path)


def failing_args(data: dict[str, str], out: Path, rows: str) -> list[str]:
    """The usual command (trained on the good rows) over ``rows``."""
    argv = args(data, out)
    argv[argv.index("--all") + 1] = rows
    return argv


def test_no_file_when_failures_alone_opened_the_files(data, tmp_path, monkeypatch):
    """Past _HELD_FAILURES failed inputs the files open before any explanation; a run
    that then explains nothing still leaves none, as with fewer failures."""
    monkeypatch.setattr(resume, "_HELD_FAILURES", 5)
    opened = []
    real = resume.LineWriter._open

    def noting(self: Any) -> None:
        opened.append(self.path)
        real(self)

    monkeypatch.setattr(resume.LineWriter, "_open", noting)
    out = tmp_path / "none.jsonl"
    result = run(*failing_args(data, out, unreadable_rows(data, tmp_path)))
    assert result.exit_code == 3 and opened == [str(out)]
    assert result.stderr.count("cannot read 'abc'") == 320
    assert not out.exists() and not (tmp_path / "none.jsonl.resume").exists()


def test_a_stopped_run_of_failures_alone_keeps_its_ledger(data, tmp_path, monkeypatch):
    """Stopped after the failures opened the files: the empty output and its ledger
    stay (the run is resumable), only a finished run removes them."""
    monkeypatch.setattr(resume, "_HELD_FAILURES", 5)
    out = tmp_path / "none.jsonl"
    stopping_after(20, monkeypatch)
    result = run(*failing_args(data, out, unreadable_rows(data, tmp_path)))
    assert result.exit_code == 130
    assert out.read_bytes() == b""
    records = (tmp_path / "none.jsonl.resume").read_text().splitlines()
    assert len(records) == 1 + 20 and all('"failed"' in r for r in records[1:])


# -- Ctrl-C to a real process ---------------------------------------------------------


#: The command as its console script runs it, on a machine taken to be idle: the
#: moments below need workers to start, and on a busy machine --jobs 2 explains
#: alone, in --jobs 1's batches (here one batch of all 320 rows).
IDLE_MACHINE_COMMAND = (
    "from lime_cli.run import executor; executor._idle_cores = lambda: 2.0; "
    "from lime_cli.cli import main; main()"
)


def spawn(data: dict[str, str], out: Path, *more: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    argv = [
        sys.executable, "-c", IDLE_MACHINE_COMMAND, "tabular", "--model", data["slow.joblib"],
        "--trust-module", "test_resume", "--train", data["rows.csv"], "--all", data["rows.csv"],
        "--num-samples", "200", "--seed", "11", "-q", "--out", str(out),
        # Each row's own samples: the slow model then takes seconds (on shared draws
        # it is asked about far fewer rows), and forks start (16-row batches).
        "--fresh-samples", *more,
    ]  # fmt: skip
    return subprocess.Popen(
        argv, env=env, cwd=str(TESTS), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's job
    )  # fmt: skip


def lines_in(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_ctrl_c_at_any_moment_says_one_line_and_leaves_a_resumable_file(data, tmp_path):
    whole = tmp_path / "whole.jsonl"
    reference = spawn(data, whole)
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    # Moments: while importing; workers importing (the first batch of 20 rows is
    # written, then they start); in the middle of the run (workers at work).
    # Ctrl-C at a terminal reaches every process of the job: so does this.
    for moment, wait_for in (("start-up", 0), ("workers starting", 20), ("midway", 160)):
        out = tmp_path / f"{moment}.jsonl"
        process = spawn(data, out, "--jobs", "2")
        deadline = time.monotonic() + 120
        while lines_in(out) < wait_for and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130, (moment, err)
        assert err.decode() == "lime-explain: interrupted\n", moment
        assert lines_in(out) < 320, moment
        finish = spawn(data, out, "--jobs", "2", "--resume")
        _, err = finish.communicate(timeout=300)
        assert finish.returncode == 0, (moment, err)
        assert out.read_bytes() == whole.read_bytes(), moment


def test_a_finished_images_output_is_checked_against_the_superpixels_shown(tmp_path):
    """An image fits every superpixel (params.num_features) and shows K
    (num_features_shown): --num-features is checked against the K shown."""
    from types import SimpleNamespace

    from lime_cli.engine import LimeParams
    from lime_cli.errors import UsageError

    line = {"modality": "image", "model": {"path": "m.onnx"},
            "params": {"num_samples": 50, "num_features": 28, "num_features_shown": 5,
                       "feature_selection": "auto", "seed": 2, "kernel_width": 0.25}}  # fmt: skip
    out = tmp_path / "im.jsonl"
    out.write_text(json.dumps(line) + "\n", encoding="utf-8")

    def settings(k: int) -> SimpleNamespace:
        params = LimeParams(num_samples=50, num_features=k, seed=2)
        return SimpleNamespace(params=params, spec=SimpleNamespace(path="m.onnx"))

    assert resume.check_finished(str(out), "image", settings(5), seed_given=True) == 1
    with pytest.raises(UsageError, match="--num-features 5 there, 6 here"):
        resume.check_finished(str(out), "image", settings(6), seed_given=True)


def failed_checks(stderr: str) -> list[str]:
    return sorted(line for line in stderr.splitlines() if "check failed" in line)


def test_a_run_given_resume_keeps_its_ledger_so_rows_added_later_are_explained(data, tmp_path):
    """A CI gate that always adds --resume over a CSV that grows: the ledger stays
    when the run ends, so the next run explains the rows added (not 'nothing to
    do' with rows missing) and still checks every setting; a run without
    --resume removes it, as before."""
    rows = pd.read_csv(data["rows.csv"])
    csv = tmp_path / "rows.csv"
    out, ledger = tmp_path / "gate.jsonl", tmp_path / "gate.jsonl.resume"

    def explain(into: Path, *more: str):
        return run(
            "tabular", "--model", data["fast.joblib"], "--train", data["rows.csv"], "--all",
            str(csv), "--num-samples", "100", "-q", "--seed", "4", "--out", str(into), *more,
        )  # fmt: skip

    rows.head(30).to_csv(csv, index=False)
    first = explain(out, "--resume")
    assert first.exit_code == 0, first.stderr
    assert ended_cleanly(ledger)
    lines, kept = out.read_bytes(), ledger.read_bytes()
    again = explain(out, "--resume")  # nothing added: both files as they were
    assert again.exit_code == 0 and out.read_bytes() == lines and ledger.read_bytes() == kept
    other = explain(out, "--resume", "--confidence", "0.9")
    assert other.exit_code == 2
    assert "written with other settings (--confidence differs)" in other.stderr
    rows.head(45).to_csv(csv, index=False)  # the CSV grew
    grown = explain(out, "--resume")
    assert grown.exit_code == 0, grown.stderr
    assert len(out.read_bytes().splitlines()) == 45 and ended_cleanly(ledger)
    whole = tmp_path / "whole.jsonl"
    assert explain(whole).exit_code == 0
    assert out.read_bytes() == whole.read_bytes()
    assert not (tmp_path / "whole.jsonl.resume").exists()  # not given --resume: none kept
    plain = explain(out)
    assert plain.exit_code == 0 and out.read_bytes() == whole.read_bytes()
    assert not ledger.exists()


def junit_counts(path: Path) -> tuple[str, str]:
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    return suite.get("tests", ""), suite.get("failures", "")


def test_a_resumed_run_reports_the_stopped_runs_failed_checks(data, tmp_path, monkeypatch):
    """Exit code, stderr and JUnit of a stopped-then-resumed run are the uninterrupted
    run's: a CI gate that resumes must fail on checks the first part failed."""
    checks = ("--seed", "5", "--forbid", "a", "--within", "1")
    whole = run(*args(data, tmp_path / "whole.jsonl", *checks, "--junit", str(tmp_path / "w.xml")))
    assert whole.exit_code == 1 and failed_checks(whole.stderr)
    out = tmp_path / "part.jsonl"
    stopping_after(200, monkeypatch)  # most rows in the stopped part
    assert run(*args(data, out, *checks)).exit_code == 130
    monkeypatch.undo()
    resumed = run(*args(data, out, *checks, "--resume", "--junit", str(tmp_path / "r.xml")))
    assert resumed.exit_code == 1, resumed.stderr
    assert failed_checks(resumed.stderr) == failed_checks(whole.stderr)
    assert junit_counts(tmp_path / "r.xml") == junit_counts(tmp_path / "w.xml")
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    # --resume again (the ledger kept): nothing to add, but its checks still fail the gate.
    again = run(*args(data, out, *checks, "--resume", "--junit", str(tmp_path / "f.xml")))
    assert again.exit_code == 1 and out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert failed_checks(again.stderr) == failed_checks(whole.stderr)
    assert junit_counts(tmp_path / "f.xml") == junit_counts(tmp_path / "w.xml")


def test_a_resume_given_other_inputs_keeps_the_ledger(data, tmp_path, monkeypatch):
    """Inputs of the stopped run not met again (its CSV cut short since): exit 2 and
    the ledger kept, so the right inputs still finish the run (it used to warn,
    remove the ledger and then call the stopped run complete)."""
    argv, rows, out = stopped_copy(data, tmp_path, monkeypatch, "--seed", "2")
    full = rows.read_text(encoding="utf-8")
    rows.write_text("\n".join(full.splitlines()[:11]) + "\n", encoding="utf-8")  # 10 rows
    before = out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()
    wrong = run(*argv, "--resume")
    assert wrong.exit_code == 2 and "not given this time" in wrong.stderr
    assert f"(the first not met: {rows} row 10)" in wrong.stderr  # named
    assert (out.read_bytes(), (tmp_path / "part.jsonl.resume").read_bytes()) == before
    rows.write_text(full, encoding="utf-8")
    assert run(*argv, "--resume").exit_code == 0
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


def test_an_output_named_through_a_link_shares_the_files_ledger_and_lock(
    data, tmp_path, monkeypatch
):
    """A symlink to the output is the same output: a run through the link is refused
    while the file's run holds its ledger (before, the link had a ledger of its own:
    the second run overwrote the first one's file while it was being written, and
    both exited 0), and --resume through the link finishes the stopped run."""
    import fcntl

    argv, _, out = stopped_copy(data, tmp_path, monkeypatch, "--seed", "3")
    link = tmp_path / "link.jsonl"
    link.symlink_to(out.name)
    through_link = [str(link) if a == str(out) else a for a in argv]
    before = out.read_bytes()
    with open(f"{out}.resume", "rb") as held:  # as the file's own run holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        for more in ((), ("--resume",)):
            refused = run(*through_link, *more)
            assert refused.exit_code == 2
            assert refused.stderr == (
                f"lime-explain: usage error: {link} is being written by a lime-explain that "
                f"is still running (it holds {out}.resume): wait for it to end, or stop it "
                "and then --resume\n"
            )
        fcntl.flock(held, fcntl.LOCK_UN)
    assert out.read_bytes() == before and not (tmp_path / "link.jsonl.resume").exists()
    assert run(*through_link, "--resume").exit_code == 0
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert ended_cleanly(tmp_path / "part.jsonl.resume")
    assert not (tmp_path / "link.jsonl.resume").exists()


def limited_to(size: int) -> Any:
    """A preexec function: files the process writes are cut at ``size`` bytes (a
    full disk's EFBIG; Python ignores SIGXFSZ, so writes fail instead)."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_full_disk_says_so_in_one_line_and_the_run_resumes(data, tmp_path):
    """A write that fails (here a file size limit; ENOSPC alike) was an internal error,
    exit 5; now exit 3, one line, and --resume finishes the file byte for byte."""
    whole = tmp_path / "whole.jsonl"
    assert run(*args(data, whole, "--seed", "4")).exit_code == 0
    out = tmp_path / "full.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "lime_cli", *args(data, out, "--seed", "4")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=limited_to(40_000))  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert done.stderr == (
        f"lime-explain: output error: {out}: cannot write: File too large; the explanations "
        "written before are kept, and the same command with --resume goes on from them\n"
    )
    kept = out.read_bytes()
    assert 0 < len(kept) <= 40_000 and whole.read_bytes().startswith(kept[: kept.rfind(b"\n")])
    resumed = subprocess.run([*argv, "--resume"], env=env, capture_output=True, timeout=300)
    assert resumed.returncode == 0
    assert out.read_bytes() == whole.read_bytes()


def test_an_output_that_is_a_full_device_gets_one_line_and_no_ledger(data, tmp_path):
    """/dev/full behind a link: exit 3 and one line (was exit 5), and no ledger beside
    the device (an output that is not a regular file cannot be resumed)."""
    link = tmp_path / "full.jsonl"
    link.symlink_to("/dev/full")
    had = os.path.exists("/dev/full.resume")
    result = run(*args(data, link, "--seed", "4"))
    assert result.exit_code == 3
    assert result.stderr == (
        f"lime-explain: output error: {link}: cannot write: No space left on device\n"
    )
    assert (
        os.path.exists("/dev/full.resume") == had and not (tmp_path / "full.jsonl.resume").exists()
    )


def test_a_run_that_ended_with_failed_inputs_keeps_its_ledger_to_try_them_again(data, tmp_path):
    """Row 7 does not read: the run ends (exit 3) keeping its ledger, so --resume
    tries row 7 again: exit 3 while it fails, then, fixed, its line at the end and
    the ledger gone. Before, the ledger was removed and --resume said 'nothing to
    do' with exit 0: a CI gate that always adds --resume passed with a row missing."""
    rows = tmp_path / "rows.csv"
    good = Path(data["rows.csv"]).read_text(encoding="utf-8")
    lines = good.splitlines()
    bad_row = 7
    cells = lines[bad_row + 1].split(",")
    lines[bad_row + 1] = ",".join(["abc", *cells[1:]])
    rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, ledger = tmp_path / "o.jsonl", tmp_path / "o.jsonl.resume"
    argv = args(data, out, "--seed", "6")
    argv[argv.index("--all") + 1] = str(rows)
    failed = (
        f"lime-explain: input error: {rows} row {bad_row}: cannot read 'abc' in column 'a' "
        "as a number\n"
    )
    kept = (
        f"lime-explain: {ledger} is kept: 1 input failed; the same command with --resume "
        "tries it again\n"
    )
    first = run(*argv)
    assert first.exit_code == 3 and first.stderr == failed + kept
    assert json.loads(ledger.read_text(encoding="utf-8").splitlines()[-1]) == {
        "ended": True,
        "failed": 1,
    }
    before = out.read_bytes()
    again = run(*argv, "--resume")
    assert again.exit_code == 3 and again.stderr.endswith(failed + kept)
    assert out.read_bytes() == before and ledger.exists()
    rows.write_text(good, encoding="utf-8")
    fixed = run(*argv, "--resume")
    assert fixed.exit_code == 0 and ended_cleanly(ledger)
    whole = tmp_path / "whole.jsonl"
    assert run(*[str(whole) if a == str(out) else a for a in argv]).exit_code == 0
    expected = whole.read_bytes().splitlines(keepends=True)
    # Row 7's line comes at the end (the others were written in order before).
    assert out.read_bytes() == b"".join(
        expected[:bad_row] + expected[bad_row + 1 :] + [expected[bad_row]]
    )


def test_a_run_without_resume_starts_over_on_a_run_that_ended_with_failures(data, tmp_path):
    """Only a stopped run's ledger stops a run without --resume: one that ended with
    failures holds nothing a new run would not write again."""
    rows = tmp_path / "rows.csv"
    good = Path(data["rows.csv"]).read_text(encoding="utf-8")
    rows.write_text(good.replace("\n", "\nabc,1,2\n", 1), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    argv = args(data, out, "--seed", "6")
    argv[argv.index("--all") + 1] = str(rows)
    assert run(*argv).exit_code == 3 and (tmp_path / "o.jsonl.resume").exists()
    rows.write_text(good, encoding="utf-8")
    assert run(*argv).exit_code == 0 and not (tmp_path / "o.jsonl.resume").exists()
    whole = tmp_path / "whole.jsonl"
    assert run(*[str(whole) if a == str(out) else a for a in argv]).exit_code == 0
    assert out.read_bytes() == whole.read_bytes()


def bad_rows(data: dict[str, str], folder: Path, row: int = 7) -> Path:
    """The rows with data row ``row`` unreadable ('abc' in column a)."""
    lines = Path(data["rows.csv"]).read_text(encoding="utf-8").splitlines()
    cells = lines[row + 1].split(",")
    lines[row + 1] = ",".join(["abc", *cells[1:]])
    path = folder / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_first_run_with_resume_writes_a_ledger_that_resume_takes(data, tmp_path):
    """--resume with nothing to resume is a new run: its ledger has a header (it had
    none, only the resumed mark, so the next --resume called it 'not a ledger')."""
    out = tmp_path / "o.jsonl"
    argv = args(data, out, "--seed", "6", "--resume")
    argv[argv.index("--all") + 1] = str(bad_rows(data, tmp_path))
    first = run(*argv)
    assert first.exit_code == 3 and "is kept: 1 input failed" in first.stderr
    header = json.loads(Path(f"{out}.resume").read_text(encoding="utf-8").splitlines()[0])
    assert header["lime_explain_resume"] == resume.LEDGER_VERSION
    again = run(*argv)
    assert again.exit_code == 3 and "is kept: 1 input failed" in again.stderr


def test_a_refused_resume_of_an_ended_run_keeps_it_ended(data, tmp_path):
    """The resume cuts the ledger after its last explained input (the ended mark and
    failed inputs after it), and a refusal puts them back: the file stays one that
    ended (a run without --resume may start over), not a stopped one."""
    out = tmp_path / "o.jsonl"
    rows = bad_rows(data, tmp_path, row=319)  # its record comes after the last line's
    argv = args(data, out, "--seed", "6")
    argv[argv.index("--all") + 1] = str(rows)
    assert run(*argv).exit_code == 3
    ledger = Path(f"{out}.resume")
    before = ledger.read_bytes()
    assert before.endswith(b'{"ended": true, "failed": 1}\n')
    edit_row(rows, 3)  # an explained row edited: the resume is refused
    refused = run(*argv, "--resume")
    assert refused.exit_code == 2 and "has changed since" in refused.stderr
    assert ledger.read_bytes() == before
    assert resume.ended_with_failures(str(out)) == 1


def test_a_resume_stopped_before_its_first_record_leaves_the_ledger_as_it_was(
    data, tmp_path, monkeypatch
):
    """The resume cuts the records after the last explained input; stopped before it
    wrote one (Ctrl-C here; a Dask scheduler out of reach alike) it used to leave
    them cut, the ended mark with them: the file then looked stopped."""
    out = tmp_path / "o.jsonl"
    rows = bad_rows(data, tmp_path, row=319)
    argv = args(data, out, "--seed", "6")
    argv[argv.index("--all") + 1] = str(rows)
    assert run(*argv).exit_code == 3
    ledger = Path(f"{out}.resume")
    before = ledger.read_bytes()
    stopping_after(0, monkeypatch)
    assert run(*argv, "--resume").exit_code == 130
    assert ledger.read_bytes() == before


def test_an_all_failing_run_through_a_symlink_leaves_the_link_and_no_ledger(
    data, tmp_path, monkeypatch
):
    """Past _HELD_FAILURES failures the files open: at the end the output made empty
    was removed through the link and the ledger then looked for beside the link
    (exit 5, a stopped run's ledger left). Now: exit 3, the link kept, no ledger."""
    monkeypatch.setattr(resume, "_HELD_FAILURES", 5)
    target, link = tmp_path / "t.jsonl", tmp_path / "l.jsonl"
    link.symlink_to(target.name)
    result = run(*failing_args(data, link, unreadable_rows(data, tmp_path)))
    assert result.exit_code == 3
    assert link.is_symlink() and not Path(f"{target}.resume").exists()
    assert not Path(f"{link}.resume").exists()


@pytest.mark.parametrize("limit, failing", [(1_000, "z.jsonl.resume"), (1_600, "z.jsonl")])
def test_a_first_line_that_cannot_be_written_leaves_no_files(data, tmp_path, limit, failing):
    """Nothing written: no ledger that would ask for a --resume with nothing to go
    on from (its header was not even on disk: --resume then said 'not a ledger',
    and a run without it 'add --resume'). 1,000 bytes: the ledger's header (about
    1.3 kB) fails; 1,600: the first line (about 2 kB)."""
    out = tmp_path / "z.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "lime_cli", *args(data, out, "--seed", "4")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=limited_to(limit))  # fmt: skip
    assert done.returncode == 3
    named = tmp_path / failing
    assert done.stderr == f"lime-explain: output error: {named}: cannot write: File too large\n"
    assert not out.exists() and not Path(f"{out}.resume").exists()
    assert subprocess.run(argv, env=env, capture_output=True, timeout=300).returncode == 0


def test_the_kept_ledger_line_names_its_output_when_there_are_two(data, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    argv = args(data, a, "--seed", "6", "--out", str(b))
    argv[argv.index("--all") + 1] = str(bad_rows(data, tmp_path))
    result = run(*argv)
    assert result.exit_code == 3
    for out in (a, b):
        assert (
            f"lime-explain: {out}.resume is kept: 1 input failed; the same command with "
            f"--resume and only --out {out} tries it again"
        ) in result.stderr.splitlines()
    alone = args(data, a, "--seed", "6", "--resume")
    alone[alone.index("--all") + 1] = str(tmp_path / "bad.csv")
    assert run(*alone).exit_code == 3  # as the line says: taken, the row fails again


def test_resume_with_nothing_to_resume_says_so_and_names_the_seed(data, tmp_path):
    out = tmp_path / "new.jsonl"
    result = run(*args(data, out, "--resume"))
    assert result.exit_code == 0, result.stderr
    seed = json.loads(out.read_text(encoding="utf-8").splitlines()[0])["params"]["seed"]
    assert f"nothing to resume (no output, no {out}.resume): a new run, --seed {seed}" in (
        result.stderr
    )


def test_resume_refuses_an_output_that_is_not_a_regular_file(data, tmp_path):
    """A pipe as --out with --resume was read as a finished output: it hung."""
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "lime_cli", *args(data, fifo, "--resume")],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    refusal = f"--resume needs --out to be a file: {fifo} is not a regular file"
    assert done.stderr == f"lime-explain: usage error: {refusal}\n"


def test_resume_of_a_finished_file_applies_this_commands_checks(data, tmp_path):
    """The checks are evaluated again on the finished lines: a file made without
    checks (or with others) is checked against the rules given now."""
    checks = ("--forbid", "a", "--within", "1")
    checked = run(*args(data, tmp_path / "c.jsonl", "--seed", "5", *checks,
                        "--junit", str(tmp_path / "c.xml")))  # fmt: skip
    assert checked.exit_code == 1
    out = tmp_path / "plain.jsonl"
    assert run(*args(data, out, "--seed", "5")).exit_code == 0
    again = run(*args(data, out, *checks, "--resume", "--junit", str(tmp_path / "r.xml")))
    assert again.exit_code == 1, again.stderr
    assert failed_checks(again.stderr) == failed_checks(checked.stderr)
    assert junit_counts(tmp_path / "r.xml") == junit_counts(tmp_path / "c.xml")
    other = run(*args(data, out, "--forbid", "zzz", "--resume"))
    assert other.exit_code == 0 and not failed_checks(other.stderr)


def test_nothing_to_resume_is_not_said_before_a_refusal(data, tmp_path):
    argv = args(data, tmp_path / "z.jsonl", "--resume", "--out", str(tmp_path / "z.json"))
    result = run(*argv)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "nothing to resume" not in result.stderr


def test_a_run_still_going_is_not_resumed_nor_overwritten(data, tmp_path):
    """A second command on the output of a run still going (its ledger locked) is
    refused, with or without --resume: resuming it used to write the file from two
    processes (lines twice, one cut in two, then exit 5 when the first removed the
    ledger). Once the run is stopped, --resume finishes it."""
    gate, out = tmp_path / "gate", tmp_path / "live.jsonl"
    gate.touch()
    model = tmp_path / "gated.joblib"
    joblib.dump(GatedLogistic(joblib.load(data["fast.joblib"]), str(gate), str(out)), model)
    rows = tmp_path / "rows.csv"  # more rows than a batch: lines come before the last call
    header, *body = Path(data["rows.csv"]).read_text(encoding="utf-8").splitlines()
    rows.write_text("\n".join([header] + body * 4) + "\n", encoding="utf-8")
    argv = [
        "tabular", "--model", str(model), "--trust-module", "test_resume", "--train",
        data["rows.csv"], "--all", str(rows), "--num-samples", "100", "--seed", "11",
        "-q", "--out", str(out), "--fresh-samples",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    live = subprocess.Popen(  # held at its first line's next model call while the gate is there
        [sys.executable, "-m", "lime_cli", *argv], env=env, cwd=str(TESTS),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while lines_in(out) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lines_in(out) >= 1, "the run wrote nothing"
        for more in (["--resume"], []):
            refused = run(*argv, *more)
            assert refused.exit_code == 2, refused.stderr
            assert refused.stderr == (
                f"lime-explain: usage error: {out} is being written by a lime-explain that is "
                f"still running (it holds {out}.resume): wait for it to end, or stop it and "
                "then --resume\n"
            )
        assert live.poll() is None  # still going: the refusals met a live run
    finally:
        live.send_signal(signal.SIGINT)
        live.communicate(timeout=120)
    assert live.returncode == 130
    gate.unlink()
    finished = run(*argv, "--resume")
    assert finished.exit_code == 0, finished.stderr
    names = [json.loads(line)["input"]["name"] for line in out.read_text().splitlines()]
    assert names == [f"{rows} row {i}" for i in range(1280)]


def test_a_changed_rules_file_is_named_and_the_same_bytes_under_a_new_time_go_on(
    data, tmp_path, monkeypatch
):
    """A --rules file's checks go into every line's JSON: its content joins the
    settings' hash and a refusal names it (it used to say 'model, training data,
    options, inputs or seed'); a model file copied anew (new time) goes on."""
    rules, model = tmp_path / "rules.toml", tmp_path / "model.joblib"
    rules.write_text('forbid = ["a"]\nwithin = 1\n', encoding="utf-8")
    model.write_bytes(Path(data["fast.joblib"]).read_bytes())
    argv = args(data, tmp_path / "part.jsonl", "--seed", "3", "--rules", str(rules))
    argv[argv.index("--model") + 1] = str(model)
    stopped(argv, monkeypatch, count=10)
    rules.write_text('forbid = ["b"]\nwithin = 1\n', encoding="utf-8")
    refused = run(*argv, "--resume")
    assert refused.exit_code == 2
    assert "written with other settings (the --rules file's content differs)" in refused.stderr
    rules.write_text('forbid = ["a"]\nwithin = 1\n', encoding="utf-8")
    model.write_bytes(Path(data["fast.joblib"]).read_bytes())  # a fresh copy: a new time
    os.utime(model, ns=(0, 0))
    resumed = run(*argv, "--resume")
    assert resumed.exit_code in (0, 1), resumed.stderr  # 1: a check failed, as it may
    assert "written with other settings" not in resumed.stderr


def test_only_a_run_with_a_ledger_reads_files_for_its_settings_hash(data, tmp_path, monkeypatch):
    """Hashing a multi-gigabyte model or training CSV is for the ledger: a run
    without a JSON Lines output does not read them for it."""
    hashed: list[str] = []
    real = resume._file_content
    monkeypatch.setattr(resume, "_file_content", lambda path: hashed.append(path) or real(path))
    base = ["tabular", "--model", data["fast.joblib"], "--train", data["rows.csv"], "--row", "0",
            data["rows.csv"], "--num-samples", "100", "-q"]  # fmt: skip
    assert run(*base, "--format", "json", "--out", str(tmp_path / "x.json")).exit_code == 0
    assert hashed == []
    assert run(*base, "--out", str(tmp_path / "x.jsonl")).exit_code == 0
    assert data["fast.joblib"] in hashed


def test_a_finished_run_removes_its_ledger_while_it_still_holds_the_lock(tmp_path, monkeypatch):
    """Removed after the lock ended, a --resume starting in between could lock the
    ledger, read it as a stopped run's and write beside a file about to vanish."""
    out = tmp_path / "x.jsonl"
    writer = resume.LineWriter(str(out), "k", 1, append=False)
    writer.write('{"line": 0}', "a")
    locked_when_removed: list[bool] = []
    real = os.unlink

    def unlink(path: Any) -> None:
        if str(path).endswith(resume.LEDGER_SUFFIX):
            try:
                resume.refuse_if_running(str(out))
                locked_when_removed.append(False)
            except UsageError:
                locked_when_removed.append(True)
        real(path)

    monkeypatch.setattr(resume.os, "unlink", unlink)
    writer.close(finished=True)
    assert locked_when_removed == [True] and not Path(f"{out}.resume").exists()


def test_where_run_statistics_are_saved_is_no_setting(data, tmp_path, monkeypatch):
    """--save-stats writes the training statistics somewhere and changes no line:
    a dated path each day used to refuse the resume, unnamed."""
    argv = args(data, tmp_path / "part.jsonl", "--seed", "3")
    stopped([*argv, "--save-stats", str(tmp_path / "day1.json")], monkeypatch)
    resumed = run(*argv, "--resume", "--save-stats", str(tmp_path / "day2.json"))
    assert resumed.exit_code == 0, resumed.stderr
