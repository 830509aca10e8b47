"""Workers forked from this process: only for models a fork can go on using.

The executor's use of forks (order kept, a killed fork's batch redone here,
forks gone with their parent) is in test_parallel.py; here is when forking
is chosen, and a real command with an OpenMP model (HistGradientBoosting)
whose forks would deadlock had the parent predicted before forking.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lime_cli.run import forked
from lime_cli.run.settings import ModelSpec

REPO = Path(__file__).resolve().parents[1]


def table(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])
    return frame, np.where(frame.a - frame.b > 0, "yes", "no")


def saved(model: object, path: Path) -> ModelSpec:
    joblib.dump(model, path)
    return ModelSpec(str(path), trust_model=True)


def task_of(spec: ModelSpec) -> SimpleNamespace:
    return SimpleNamespace(model=spec)


@pytest.fixture
def fresh_process(monkeypatch):
    """No model loaded and none predicted yet, as in a new command's process."""
    from lime_cli.models import sklearn_adapter
    from lime_cli.run import settings

    monkeypatch.setattr(settings, "_LOADED_MODELS", {})
    monkeypatch.setattr(sklearn_adapter, "_predicted_here", False)
    # Earlier tests in this process may have imported XGBoost or LightGBM (restored after).
    for name in forked.THREADED_LIBRARIES:
        monkeypatch.delitem(sys.modules, name, raising=False)


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or sys.version_info < (3, 11),
    reason="forks are used on Linux with Python 3.11 or later only",
)


@linux_only
def test_scikit_learn_models_are_forked_until_one_predicts_here(fresh_process, tmp_path):
    frame, y = table(50, 0)
    first = saved(LogisticRegression().fit(frame.to_numpy(), y), tmp_path / "first.joblib")
    second = saved(LogisticRegression(C=0.5).fit(frame.to_numpy(), y), tmp_path / "second.joblib")
    model = first.load()
    assert model.fork_safe and forked.forkable(task_of(first))
    model.predict(frame.to_numpy()[:3])
    assert not model.fork_safe and not forked.forkable(task_of(first))
    # Another model, not called yet: this process's OpenMP threads may exist all the same.
    assert not second.load().fork_safe and not forked.forkable(task_of(second))


@linux_only
def test_a_model_that_spreads_its_work_over_cores_is_not_forked(fresh_process, tmp_path):
    frame, y = table(50, 0)
    forest = RandomForestClassifier(n_estimators=3, n_jobs=-1).fit(frame, y)
    nested = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, n_jobs=2))
    single = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3))
    for model, expected in (
        (forest, False),
        (nested.fit(frame, y), False),
        (single.fit(frame, y), True),
    ):
        spec = saved(model, tmp_path / "m.joblib")
        assert forked.forkable(task_of(spec)) is expected, model
        settings_cache_clear()


def settings_cache_clear() -> None:
    from lime_cli.run import settings

    settings._LOADED_MODELS.clear()


@linux_only
def test_no_forks_once_a_library_with_its_own_thread_pools_is_imported(
    fresh_process, tmp_path, monkeypatch
):
    frame, y = table(50, 0)
    spec = saved(LogisticRegression().fit(frame.to_numpy(), y), tmp_path / "lr.joblib")
    assert forked.forkable(task_of(spec))
    monkeypatch.setitem(sys.modules, "xgboost", SimpleNamespace())
    assert not forked.forkable(task_of(spec))


def test_a_model_that_makes_no_promise_is_not_forked(fresh_process):
    without = SimpleNamespace(load=lambda: SimpleNamespace(classes=["a"]))
    assert not forked.forkable(task_of(without))


def test_a_model_that_cannot_be_loaded_is_not_forked(fresh_process, tmp_path):
    assert not forked.forkable(task_of(ModelSpec(str(tmp_path / "missing.joblib"))))


RECORDING_MAIN = """
import os, sys
from lime_cli.run import executor, forked
executor._idle_cores = lambda: 2.0  # whatever else runs on this machine
os.cpu_count = lambda: 4  # each of 2 processes gets 2 threads: OpenMP's pool is used
start = forked.start
def recorded(*args):
    sys.stderr.write("forked workers\\n")
    return start(*args)
forked.start = recorded
from lime_cli.cli import main
main()
"""


#: Rows enough for forks (executor.FORK_MIN_BATCHES batches of a task's share_size):
#: on shared draws, or with each row's own (--fresh-samples).
SAMPLINGS = pytest.mark.parametrize(
    ("rows", "sampling"), [(1200, []), (160, ["--fresh-samples"])], ids=["shared", "fresh"]
)


@pytest.mark.slow
@SAMPLINGS
def test_an_openmp_model_explained_by_forks_matches_one_process(tmp_path, rows, sampling):
    """HistGradientBoosting predicts with OpenMP threads: forks made before this
    process's first prediction run it; made after, they would hang."""
    frame, y = table(1300, 1)
    spec = saved(HistGradientBoostingClassifier(max_iter=20).fit(frame, y), tmp_path / "h.joblib")
    frame.head(rows).to_csv(tmp_path / "rows.csv", index=False)
    frame.to_csv(tmp_path / "train.csv", index=False)

    def explain(jobs: str) -> tuple[bytes, str]:
        argv = [sys.executable, "-c", RECORDING_MAIN, "tabular", "--model", spec.path,
                "--trust-model", "--train", str(tmp_path / "train.csv"), "--all",
                str(tmp_path / "rows.csv"), "--num-samples", "300", "--seed", "4",
                "--format", "json", "-q", "--jobs", jobs, *sampling]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run(argv, capture_output=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return done.stdout, done.stderr.decode()

    alone, said = explain("1")
    shared, said_shared = explain("2")
    assert "forked workers" not in said and "forked workers" in said_shared
    assert shared == alone
    assert alone.count(b"\n") == rows


@pytest.mark.slow
@SAMPLINGS
def test_compare_forks_for_the_first_model_only(tmp_path, rows, sampling):
    """Once model A has predicted here, OpenMP's pool exists: model B's workers are
    new processes (forks of this process would hang on B's parallel loops)."""
    frame, y = table(1300, 2)
    first = saved(HistGradientBoostingClassifier(max_iter=20).fit(frame, y), tmp_path / "a.joblib")
    second = saved(
        HistGradientBoostingClassifier(max_iter=10, max_depth=3).fit(frame, y),
        tmp_path / "b.joblib",
    )
    frame.head(rows).to_csv(tmp_path / "rows.csv", index=False)
    frame.to_csv(tmp_path / "train.csv", index=False)

    def compare(jobs: str) -> tuple[str, str]:
        report = tmp_path / f"report{jobs}.json"
        argv = [sys.executable, "-c", RECORDING_MAIN, "compare", "tabular", "--model",
                first.path, "--model", second.path, "--trust-model", "--train",
                str(tmp_path / "train.csv"), "--all", str(tmp_path / "rows.csv"),
                "--num-samples", "300", "--seed", "4", "-q", "--out", str(report),
                "--jobs", jobs, *sampling]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run(argv, capture_output=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return report.read_text(encoding="utf-8"), done.stderr.decode()

    alone, said = compare("1")
    shared, said_shared = compare("2")
    assert said.count("forked workers") == 0 and said_shared.count("forked workers") == 1
    assert shared == alone
