"""An explanation does not depend on how many threads BLAS runs.

``--jobs N`` workers (forks, loky, Dask) run BLAS on one thread each, a
``--jobs 1`` process on every core: OpenBLAS splits large products by its
thread count, and their sums differ in the last bits (weights moved by 3e-15
at 40,000 samples), so a ``--jobs 2`` run, or a run resumed on a busier
machine, was not byte for byte the ``--jobs 1`` file. The surrogate's fits
now run on one BLAS thread whenever BLAS could split them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PENGUINS = REPO / "sample_models" / "penguins_lr.joblib"
TABLES = REPO / "sample_data" / "tabular"


def explain_with_blas_threads(threads: int, rows: Path, out: Path) -> bytes:
    """A ``--jobs 1`` run with OpenBLAS limited to ``threads`` (read at its start)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": str(threads)}
    argv = [sys.executable, "-m", "lime_cli", "tabular", "--model", str(PENGUINS),
            "--train", str(TABLES / "penguins_train.csv"), "--target", "species",
            "--all", str(rows), "--num-samples", "40000", "--fresh-samples", "--seed", "1",
            "-q", "--out", str(out)]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def test_one_and_two_blas_threads_give_the_same_bytes(tmp_path):
    rows = tmp_path / "rows.csv"
    lines = (TABLES / "penguins_test.csv").read_text(encoding="utf-8").splitlines()
    rows.write_text("\n".join(lines[:13]) + "\n", encoding="utf-8")  # 12 rows
    one = explain_with_blas_threads(1, rows, tmp_path / "one.jsonl")
    two = explain_with_blas_threads(2, rows, tmp_path / "two.jsonl")
    assert one.count(b"\n") == 12 and one == two
