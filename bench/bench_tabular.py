"""Tabular benchmark: lime-explain against lime 0.2.0.1 on breast cancer rows.

Both explain the predicted class of the same rows (the 200 held-out rows of
scikit-learn's breast cancer data) for the same 100-tree RandomForest, with
5000 samples, 10 features and quartile bins (lime's defaults). lime runs in
its usual loop, ``explain_instance`` once per row; lime-explain runs through
its Python API as the ``tabular`` command does: statistics from the training
CSV, rows read from the test CSV, samples of many rows predicted per model
call, ``--jobs 1`` and ``--jobs 2``. Model loading is left out of every
timing. ``--jobs 2`` is timed twice: cold, including starting the worker
process and loading the model in it (the command line starts it while it reads
the data, so it pays part of this), and warm, the worker already running (what
a long run converges to).

Then the same work end to end, as a user waits for it: the whole
``lime-explain tabular`` command (interpreter start, imports, model loading,
CSV reading) against a whole Python process running lime's loop.

Also reports how often the two agree on the columns of the five strongest
features (a sanity check: both are random, so not every column matches).

    .venv/bin/python bench/bench_tabular.py [--rows 200] [--rounds 2] [--no-end-to-end]

The machine may be shared: every measure is repeated ``--rounds`` times,
interleaved with the others, and the best of each is reported too.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from lime.lime_tabular import LimeTabularExplainer

from lime_cli.engine import LabelRequest, LimeParams
from lime_cli.run import executor
from lime_cli.run.settings import ModelSpec
from lime_cli.tabular.command import TableRow, TabularTask
from lime_cli.tabular.data import compute_stats, convert_rows, read_table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data" / "tabular"
TARGET = "diagnosis"
_BOUND = r"-?\d+(?:\.\d+)?"


def column_of(feature: str) -> str:
    """``0.03 < mean area <= 0.07`` -> ``mean area``: the column a condition is about."""
    name = re.sub(rf"^{_BOUND}\s*<\s*", "", feature)
    return re.sub(rf"\s*(<=|>|<|=)\s*{_BOUND}$", "", name)


def top_columns(features: list[tuple[str, float]], k: int = 5) -> set[str]:
    ranked = sorted(features, key=lambda f: -abs(f[1]))[:k]
    return {column_of(name) for name, _ in ranked}


def run_ours(spec: ModelSpec, count: int, num_samples: int, jobs: int, seed: int):
    """Seconds for the whole run, and each row's features for the predicted class."""
    t0 = time.perf_counter()
    stats = compute_stats(read_table(str(DATA / "breast_cancer_train.csv")), target=TARGET)
    frame = read_table(str(DATA / "breast_cancer_test.csv"), as_text=True).drop(columns=[TARGET])
    indices = list(range(count))
    rows = [TableRow(i, v) for i, v in zip(indices, convert_rows(frame, stats, indices, "test"))]
    params = LimeParams(num_samples=num_samples, seed=seed)
    task = TabularTask(spec, LabelRequest(), params, stats, "test")
    outcomes = list(executor.run(task, rows, jobs))
    seconds = time.perf_counter() - t0
    errors = [e for _, e in outcomes if e is not None]
    if errors:
        raise SystemExit(f"lime-explain failed: {errors[0]}")
    features = [
        [(f.feature, f.weight) for f in exp.explanations[0].features] for exp, _ in outcomes
    ]
    return seconds, features


def run_lime(estimator, count: int, num_samples: int, seed: int):
    """Seconds for lime's usual loop over the rows, and each row's features for its class."""
    train = read_table(str(DATA / "breast_cancer_train.csv"))
    test = read_table(str(DATA / "breast_cancer_test.csv"))
    names = [c for c in train.columns if c != TARGET]
    t0 = time.perf_counter()
    explainer = LimeTabularExplainer(
        train[names].to_numpy(),
        feature_names=names,
        class_names=[str(c) for c in estimator.classes_],
        discretize_continuous=True,
        random_state=seed,
    )
    features = []
    for row in test[names].to_numpy()[:count]:
        exp = explainer.explain_instance(
            row, estimator.predict_proba, top_labels=1, num_features=10, num_samples=num_samples
        )
        features.append(exp.as_list(label=exp.top_labels[0]))
    return time.perf_counter() - t0, features


def lime_process(model: str, count: int, num_samples: int, seed: int) -> None:
    """The whole lime run in this (fresh) process: imports, model loading, the loop."""
    from lime_cli.run.settings import ModelSpec as Spec

    run_lime(Spec(model).load().estimator, count, num_samples, seed)


def end_to_end(args: argparse.Namespace, count: int) -> dict[str, float]:
    """Wall-clock seconds of whole processes: lime-explain --jobs 1 and 2, and lime's loop."""
    command = [
        str(Path(sys.executable).parent / "lime-explain"), "tabular", "--model", args.model,
        "--train", str(DATA / "breast_cancer_train.csv"), "--target", TARGET,
        "--rows", f"0:{count}", "--num-samples", str(args.num_samples), "--seed", str(args.seed),
        "--format", "json", "--quiet", str(DATA / "breast_cancer_test.csv"),
    ]  # fmt: skip
    lime = [
        sys.executable, __file__, "--lime-process", "--rows", str(count), "--model", args.model,
        "--num-samples", str(args.num_samples), "--seed", str(args.seed),
    ]  # fmt: skip
    seconds = {}
    for name, argv in (("1", command + ["--jobs", "1"]), ("2", command + ["--jobs", "2"]),
                       ("lime", lime)):  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        seconds[name] = time.perf_counter() - t0
    return seconds


LABELS = {
    "lime": "lime 0.2.0.1 (explain_instance loop)",
    "1": "lime-explain --jobs 1",
    "2": "lime-explain --jobs 2",
    "2 warm": "lime-explain --jobs 2, workers warm",
    "e2e lime": "lime 0.2.0.1 script",
    "e2e 1": "lime-explain tabular --jobs 1",
    "e2e 2": "lime-explain tabular --jobs 2",
}


def one_round(args: argparse.Namespace, spec: ModelSpec, estimator, count: int):
    """Every measurement once, interleaved so that machine noise hits all of them."""
    seconds, features = {}, {}
    seconds["1"], features["1"] = run_ours(spec, count, args.num_samples, 1, args.seed)
    seconds["2"], features["2"] = run_ours(spec, count, args.num_samples, 2, args.seed)
    # joblib keeps its loky workers (and their loaded model) for the next call.
    seconds["2 warm"], features["2 warm"] = run_ours(spec, count, args.num_samples, 2, args.seed)
    seconds["lime"], features["lime"] = run_lime(estimator, count, args.num_samples, args.seed)
    if not args.no_end_to_end:
        whole = end_to_end(args, count)
        seconds.update({f"e2e {name}": s for name, s in whole.items()})
    return seconds, features


def report(seconds: dict[str, float], count: int) -> None:
    """Rows per second of each measurement, and lime-explain's against lime's."""
    for name in LABELS:
        if name not in seconds:
            continue
        if name == "e2e lime":
            print("  end to end (whole processes: start-up, imports, model loading, CSV reading):")
        base = seconds["e2e lime" if name.startswith("e2e") else "lime"]
        ratio = "" if "lime" in name else f"  ({base / seconds[name]:.1f}x lime)"
        print(
            f"  {LABELS[name]:<38}{seconds[name]:7.2f} s {count / seconds[name]:7.2f} rows/s{ratio}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200, help="rows to explain (at most 200)")
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default=str(ROOT / "sample_models" / "breast_cancer_rf.joblib"))
    parser.add_argument(
        "--rounds", type=int, default=2, help="repeat everything; each measure's best is reported"
    )
    parser.add_argument("--no-end-to-end", action="store_true", help="skip whole-process runs")
    parser.add_argument("--lime-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.lime_process:
        lime_process(args.model, args.rows, args.num_samples, args.seed)
        return
    if not Path(args.model).exists():
        raise SystemExit(f"{args.model} is missing: run `make sample-models` first")
    count = max(1, min(args.rows, 200))
    spec = ModelSpec(args.model)
    estimator = spec.load().estimator  # loaded once, outside every timing
    print(f"rows: {count}, samples per row: {args.num_samples}, model: {args.model}")
    rounds = []
    for number in range(1, max(1, args.rounds) + 1):
        seconds, features = one_round(args, spec, estimator, count)
        rounds.append(seconds)
        print(f"round {number} (load average {_load()[0]:.2f}):")
        report(seconds, count)
    if len(rounds) > 1:
        print(f"best of {len(rounds)} rounds:")
        report({name: min(r[name] for r in rounds) for name in rounds[0]}, count)
    same = all(a == b == c for a, b, c in zip(features["1"], features["2"], features["2 warm"]))
    agree = statistics.mean(
        len(top_columns(a) & top_columns(b)) / 5 for a, b in zip(features["1"], features["lime"])
    )
    print(f"--jobs 1 and --jobs 2 (cold and warm) give identical explanations: {same}")
    print(f"columns of the 5 strongest features shared with lime, mean: {agree:.2f}")
    print(f"(machine: {_cpus()} CPUs, load average {' '.join(f'{x:.2f}' for x in _load())})")


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


def _load() -> tuple[float, ...]:
    import os

    try:
        return os.getloadavg()
    except OSError:
        return (np.nan,)


if __name__ == "__main__":
    main()
