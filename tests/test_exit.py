"""The console entry point ends the process without the interpreter's teardown
(:func:`lime_cli.cli.leave`): the same exit codes, every byte of output flushed,
exit handlers run; the usual exit while other threads run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lime_cli.cli import leave

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def python(code: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, env=ENV, timeout=60)


@pytest.mark.parametrize(("code", "status"), [("3", 3), ("None", 0), ("0", 0), ("'bye'", 1)])
def test_leave_flushes_runs_exit_handlers_and_keeps_the_code(tmp_path, code, status):
    mark = tmp_path / "handler ran"
    done = python(
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(mark)!r}, 'w').close())\n"
        "sys.stdout.write('x' * 200_000)\n"  # more than any buffer: must all arrive
        "sys.stderr.write('last words')\n"
        "from lime_cli.cli import leave\n"
        f"leave(SystemExit({code}))\n"
        "sys.exit(99)  # not reached\n"
    )
    assert done.returncode == status
    assert done.stdout == b"x" * 200_000
    assert done.stderr.startswith(b"last words")
    assert mark.exists()
    if status == 1:
        assert done.stderr == b"last wordsbye\n"


def test_leave_returns_while_another_thread_runs():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert leave(SystemExit(0)) is None  # the caller exits the usual way
    finally:
        stop.set()
        other.join()


def small_run(tmp_path: Path, count: int, *options: str) -> list[str]:
    """The command line explaining ``count`` rows of a two-column CSV for a logistic
    regression (both made in ``tmp_path``), with ``options`` added."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(count)), encoding="utf-8")
    joblib.dump(LogisticRegression().fit([[i, i % 3] for i in range(6)], [0, 1] * 3),
                tmp_path / "m.joblib")  # fmt: skip
    return [sys.executable, "-m", "lime_cli", "tabular", "--model", str(tmp_path / "m.joblib"),
            "--train", str(rows), str(rows), "--all", "--num-samples", "50", *options]  # fmt: skip


def test_the_command_ends_with_its_code_and_all_its_output(tmp_path):
    argv = small_run(tmp_path, 6, "--seed", "1", "--format", "json", "-q")
    done = subprocess.run(argv, capture_output=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["input"]["row"] for line in done.stdout.splitlines()] == list(range(6))
    failed = subprocess.run([*argv, "--require", "nothing"], capture_output=True, env=ENV,
                            timeout=120)  # fmt: skip
    assert failed.returncode == 1 and len(failed.stdout.splitlines()) == 6
    assert failed.stderr.count(b"check failed") == 6


def test_a_second_ctrl_c_does_not_cut_the_tidying_up_short(capsys):
    """The first Ctrl-C in a command stops it; one pressed while its outputs are
    being closed is ignored (it used to land in that code with a traceback)."""
    import os
    import signal
    import time

    from lime_cli.run.guard import guarded

    tidied = []

    def body() -> int:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            os.kill(os.getpid(), signal.SIGINT)  # impatience, while tidying up
            time.sleep(0.2)
            tidied.append(True)
            raise
        return 0

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit) as done:
        guarded(False, body)
    assert done.value.code == 130 and tidied == [True]
    assert capsys.readouterr().err.strip() == "lime-explain: interrupted"
    assert signal.getsignal(signal.SIGINT) is before


def test_a_ctrl_c_swallowed_by_a_library_still_stops_the_command(capsys):
    """Some code run while importing catches every exception: a Ctrl-C whose
    KeyboardInterrupt it swallows still ends the command (exit 130, one line)."""
    import os
    import signal
    import time

    from lime_cli.run.guard import guarded

    def body() -> int:
        try:  # a library that catches everything
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except BaseException:
            pass
        return 0

    with pytest.raises(SystemExit) as done:
        guarded(False, body)
    assert done.value.code == 130
    assert capsys.readouterr().err.strip() == "lime-explain: interrupted"


@pytest.mark.parametrize(("output", "jobs"), [("json", "1"), ("table", "1"), ("json", "2")])
def test_a_reader_that_stops_reading_ends_the_run_quietly(tmp_path, output, jobs):
    """``lime-explain ... | head -1``: once the reader has gone, the run ends with
    exit 141 (a closed pipe, as shells report it) and nothing on stderr (it used
    to report ``internal error: BrokenPipeError``, exit 5)."""
    argv = small_run(tmp_path, 300, "--seed", "1", "--format", output, "--jobs", jobs)
    # 300 explanations are several times a pipe's 64 KiB: writing must meet the closed end.
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV) as run:
        assert run.stdout is not None and run.stderr is not None
        first = run.stdout.readline()
        run.stdout.close()
        stderr = run.stderr.read()
        code = run.wait(timeout=120)
    assert first.strip()
    assert stderr == b""
    assert code == 141


def test_a_reader_that_leaves_early_costs_nothing_when_stdout_had_nothing(tmp_path):
    """``... --out all.jsonl | true``: the reader leaves at once, but nothing was to be
    written to it, so nothing was lost: exit 0, not 141."""
    out = tmp_path / "all.jsonl"
    argv = small_run(tmp_path, 20, "-q", "--out", str(out))
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV) as run:
        assert run.stdout is not None and run.stderr is not None
        run.stdout.close()  # as `| true` does
        stderr = run.stderr.read()
        code = run.wait(timeout=120)
    assert (code, stderr) == (0, b"")
    assert len(out.read_text(encoding="utf-8").splitlines()) == 20


def test_ctrl_c_landing_in_a_finalizer_stops_the_run_with_one_line(capsys, monkeypatch):
    """A Ctrl-C whose KeyboardInterrupt lands in a ``__del__`` (a Dask future's, once)
    cannot be raised there: Python printed "Exception ignored in ..." and its
    traceback before the command's line. Now only the line, exit 130; other errors
    in finalizers still reach the hook that was there before."""
    import gc
    import signal

    from lime_cli.run import guard

    seen: list[type] = []

    def hook(unraisable: object) -> None:
        seen.append(type(unraisable.exc_value))  # type: ignore[attr-defined]

    monkeypatch.setattr(sys, "unraisablehook", hook)

    class Interrupted:
        def __del__(self) -> None:
            guard.interrupt_once(signal.SIGINT, None)  # as the handler runs, inside __del__

    class Broken:
        def __del__(self) -> None:
            raise ValueError("a bug in a finalizer")

    def body() -> int:
        Broken()
        Interrupted()
        gc.collect()
        return 0  # the run would go on: the interrupt was remembered

    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit) as done:
        guard.guarded(False, body)
    assert done.value.code == 130
    assert capsys.readouterr().err == "lime-explain: interrupted\n"
    assert seen == [ValueError]  # KeyboardInterrupt dropped, the rest passed on
    assert sys.unraisablehook is hook  # the hook before is back
    assert signal.getsignal(signal.SIGINT) == previous
