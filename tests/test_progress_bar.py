"""The progress bar and the lines written under it, on a real (pseudo-)terminal.

The bar lives on stderr and is redrawn by rich's thread; explanations printed
on the same terminal must each start on a line of their own, never after the
bar (they used to: the first line always, later ones now and then).
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120", "LINES": "40"}

_CSI = re.compile(rb"\x1b\[([0-9;?]*)([A-Za-z])")


def screen_lines(output: bytes) -> list[str]:
    """What a terminal shows for ``output``, scrolled back: every line as left
    by carriage returns, erase-line and cursor-up sequences (colours dropped)."""
    lines: list[list[str]] = [[]]
    row = col = 0
    position = 0
    text = output
    while position < len(text):
        match = _CSI.match(text, position)
        if match:
            args, command = match.group(1), match.group(2)
            if command == b"K":  # erase in line: 2 = the whole line, else from the cursor
                lines[row] = [] if args == b"2" else lines[row][:col]
            elif command == b"A":  # cursor up
                row = max(0, row - int(args or b"1"))
            position = match.end()
            continue
        char = text[position : position + 1]
        if char == b"\r":
            col = 0
        elif char == b"\n":
            row += 1
            col = 0
            if row == len(lines):
                lines.append([])
        else:
            end = position + 1
            while end < len(text) and text[end] & 0xC0 == 0x80:  # UTF-8 continuation bytes
                end += 1
            char = text[position:end]
            line = lines[row]
            line.extend([" "] * (col - len(line)))
            glyph = char.decode("utf-8", "replace")
            if col < len(line):
                line[col] = glyph
            else:
                line.append(glyph)
            col += 1
            position = end
            continue
        position += 1
    return ["".join(line) for line in lines]


def test_the_screen_model_follows_redraws():
    shown = screen_lines(b'bar 10%\r\x1b[2Kbar 20%\r\x1b[2K{"a": 1}\r\nbar 30%\x1b[2K\rdone\n')
    assert shown == ['{"a": 1}', "done", ""]


def run_on_terminal(argv: list[str]) -> tuple[int, bytes]:
    """Run ``argv`` with stdout and stderr on one pseudo-terminal; its exit code and
    every byte the terminal received."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower,
                               stderr=follower, env=ENV)  # fmt: skip
    os.close(follower)
    received = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the last writer has gone
                    break
                if not chunk:
                    break
                received += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    return code, received


def explain_rows(tmp_path: Path, count: int, *options: str) -> list[str]:
    """The command line explaining ``count`` rows of a small table as JSON."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n" + "".join(f"{i % 17},{i % 3}\n" for i in range(count)), "utf-8")
    model = LogisticRegression().fit([[i, i % 3] for i in range(6)], [0, 1] * 3)
    joblib.dump(model, tmp_path / "m.joblib")
    return [sys.executable, "-m", "lime_cli", "tabular", "--model", str(tmp_path / "m.joblib"),
            "--train", str(rows), str(rows), "--all", "--num-samples", "300", "--seed", "1",
            "--format", "json", *options]  # fmt: skip


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_explanations_on_the_bar_terminal_each_get_a_line(tmp_path, jobs):
    code, received = run_on_terminal(explain_rows(tmp_path, 120, "--jobs", jobs))
    assert code == 0, received[-500:]
    assert b"\x1b[?25l" in received  # the bar was shown (rich hides the cursor)
    shown = [line for line in screen_lines(received) if line.strip()]
    assert len(shown) == 120, shown[:3]
    rows_seen = [json.loads(line)["input"]["row"] for line in shown]  # no bar in any line
    assert rows_seen == list(range(120))


def test_failures_under_the_bar_each_get_a_line(tmp_path):
    """Lines on stderr (a failed check per row) are written under the bar too."""
    out = str(tmp_path / "all.jsonl")
    code, received = run_on_terminal(explain_rows(tmp_path, 60, "--out", out, "--forbid", "a"))
    assert code == 1, received[-500:]
    shown = [line for line in screen_lines(received) if line.strip()]
    json_lines = [line for line in shown if line.startswith("{")]
    failures = [line for line in shown if not line.startswith("{")]
    assert len(json_lines) == 60
    assert all(json.loads(line) for line in json_lines)
    assert failures and all(line.startswith("lime-explain: check failed: ") for line in failures)


WARNING_MODEL = """
import time, warnings
import numpy as np
calls = [0]

def predict(x):
    calls[0] += 1
    time.sleep(0.3)  # the bar is drawn meanwhile
    if calls[0] == 2:
        warnings.warn("the model saw something odd")
    x = np.asarray(x, dtype=float)
    p = 1 / (1 + np.exp(-(2 * x[:, 0] - x[:, 1])))
    return np.column_stack([1 - p, p])
"""


def test_a_librarys_warning_under_the_bar_gets_a_line(tmp_path):
    """Python's warnings go to sys.stderr: rich's stand-in puts them above the bar."""
    (tmp_path / "warner.py").write_text(WARNING_MODEL, encoding="utf-8")
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n" + "".join(f"{i % 7},{i % 3}\n" for i in range(30)), encoding="utf-8")
    argv = [sys.executable, "-m", "lime_cli", "tabular", "--model",
            f"{tmp_path / 'warner.py'}:predict", "--train", str(rows), str(rows), "--all",
            "--num-samples", "300", "--seed", "1", "--format", "json"]  # fmt: skip
    code, received = run_on_terminal(argv)
    assert code == 0, received[-500:]
    shown = [line for line in screen_lines(received) if "UserWarning" in line]
    assert len(shown) == 1 and shown[0].startswith(str(tmp_path / "warner.py")), shown


def test_a_bar_over_inputs_read_as_they_go_counts_them(tmp_path):
    """``--all`` reads rows as the run goes (no total): the bar says how many are done
    and at what rate, not only that something moves."""
    (tmp_path / "warner.py").write_text(WARNING_MODEL, encoding="utf-8")
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n" + "".join(f"{i % 7},{i % 3}\n" for i in range(40)), encoding="utf-8")
    argv = [sys.executable, "-m", "lime_cli", "tabular", "--model",
            f"{tmp_path / 'warner.py'}:predict", "--train", str(rows), str(rows), "--all",
            "--num-samples", "300", "--seed", "1", "--batch-size", "4000",
            "--out", str(tmp_path / "o.jsonl")]  # fmt: skip
    code, received = run_on_terminal(argv)
    assert code == 0, received[-500:]
    plain = _CSI.sub(b"", received)
    counts = [int(n) for n in re.findall(rb"inputs[^\r\n]*? (\d+) done", plain)]
    assert counts and counts == sorted(counts) and max(counts) > 0, plain[-800:]
    assert re.search(rb" done +\d+\.\d/s", plain), plain[-800:]
