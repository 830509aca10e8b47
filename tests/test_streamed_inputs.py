"""Inputs read as the work goes: ``tabular --all`` a chunk of rows at a time, and any
stream of inputs through the executor, give what reading everything first gives."""

from __future__ import annotations

import os

from click.testing import CliRunner
from test_parallel import Toy
from test_resume import build_data

from lime_cli.cli import cli
from lime_cli.run import executor
from lime_cli.tabular import data as tabular_data

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
