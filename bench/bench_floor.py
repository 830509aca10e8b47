"""How small can the time outside the model be for a table row with its own samples?

Issue 14 asks that a row's time outside the model stay <= 10%. For the
GradientBoosting pipeline of ``bench_scale.py`` (imputer + one-hot encoder,
3 columns) with each row's own 5000 samples, lime-explain spends 20-27% outside
(``bench_overhead.py --case tabular-fresh``). This script asks what the least
possible is: it times, in one process and on the same samples, the model and
a bare LIME written for this one table, with nothing a general tool needs (no
column types, missing values, clipping, settings or feature selection):

- model: the pipeline's ``predict_proba``, in calls of 6 rows' samples
  (30,000; lime-explain's calls hold up to 32,768);
- frame: the DataFrames of those calls, made from the arrays the draw wrote
  into, the city as a pandas ``Categorical`` (cheaper than strings, which
  pandas converts and checks cell by cell, and answered the same: checked);
- draw: each row's samples, one uniform per cell: a quartile bin (or city) by
  frequency and a numeric value inside its bin from the bin's normal by
  inverse CDF, exact; and each sample's pattern, which columns share the row's
  bin (LIME's 0/1 sample as a number 0..7);
- fit with intervals: LIME's kernel, the weighted ridge with an intercept
  and part 7's HC3 sandwich, exact, from three ``bincount`` calls over the
  patterns: a sample's kernel weight, fitted value and leverage depend only on
  its pattern, and three columns have 8 patterns, so every sum over samples
  the fit needs is a sum over patterns of counts, sums of the answers and sums
  of their squares (checked against the engine's ``exponential_kernel``,
  ``influence`` and ``coefficient_errors`` on the 0/1 samples);
- JSON: each row's result (label, intercept, three weights with intervals) as
  a JSON line, written to memory.

Beside the floor, not in its sums: ``engine``, what lime-explain's engine takes
for the same fit on the same 0/1 samples (kernel, weighted design, the ridge
with its HC3 pieces by ``influence``, and ``confidence.assess``: intervals,
ranking keys, ties and the stop rule, at the command's defaults). Its surplus
over the grouped fit is mostly fixed cost a call, not passes over the samples.

Each step is the fastest of ``--repeat`` passes over ``--rows`` rows, in ms per
row; a share is the steps' sum over that sum plus the model's. Run:

    PYTHONPATH=. .venv/bin/python bench/bench_floor.py [--rows 120] [--samples 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.special import ndtr, ndtri

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_stacked_fit import fastest  # noqa: E402

from lime_cli.engine.confidence import assess  # noqa: E402
from lime_cli.engine.kernels import euclidean_distance_to_first, exponential_kernel  # noqa: E402
from lime_cli.engine.surrogate import WeightedDesign  # noqa: E402
from lime_cli.engine.uncertainty import coefficient_errors, influence  # noqa: E402

COLUMNS = ("age", "income", "city")
ROWS_PER_CALL = 6
WIDTH = 0.75 * np.sqrt(3)  # LIME's kernel width for 3 columns
#: Pattern p's 0/1 sample (8, 3): column j shares the row's bin when bit j of p is set.
PATTERNS = np.array([[(p >> j) & 1 for j in range(3)] for p in range(8)], dtype=np.float64)
#: LIME's kernel weight of each pattern: the distance to the row is sqrt(columns unlike it).
PATTERN_WEIGHTS = np.exp(-0.5 * (3 - PATTERNS.sum(axis=1)) / WIDTH**2)


class BareTable:
    """What a bare LIME keeps of the training CSV: quartile bins and city frequencies."""

    def __init__(self, train: object) -> None:
        import pandas as pd

        assert isinstance(train, pd.DataFrame)
        self.edges, self.bin_cdf, self.tables = [], [], []
        for name in COLUMNS[:2]:
            values = train[name].to_numpy(dtype=np.float64)
            values = values[~np.isnan(values)]
            edges = np.quantile(values, [0.25, 0.5, 0.75])
            level = np.searchsorted(edges, values, side="left")
            counts = np.bincount(level, minlength=4)
            self.edges.append(edges)
            self.bin_cdf.append(np.cumsum(counts)[:-1] / counts.sum())
            low = np.r_[values.min(), edges]
            high = np.r_[edges, values.max()]
            mean = np.array([values[level == b].mean() for b in range(4)])
            scale = np.array([values[level == b].std() + 1e-9 for b in range(4)])
            p_low, p_high = ndtr((low - mean) / scale), ndtr((high - mean) / scale)
            below = np.r_[0.0, self.bin_cdf[-1]]
            share = np.diff(np.r_[below, 1.0])
            # rows: below, slope, p_low, scale, mean (as columns of a bin)
            self.tables.append(np.array([below, (p_high - p_low) / share, p_low, scale, mean]))
        counts = train["city"].value_counts()
        self.cities = counts.index.to_numpy(dtype=object)
        self.city_cdf = (np.cumsum(counts.to_numpy()) / counts.sum())[:-1]

    def levels(self, row: tuple[float, float, str]) -> np.ndarray:
        """The row's own bins and city level (3,)."""
        bins = [int(np.searchsorted(e, v, side="left")) for e, v in zip(self.edges, row[:2])]
        return np.array([*bins, int(np.flatnonzero(self.cities == row[2])[0])])

    def draw(
        self,
        rng: np.random.Generator,
        row: tuple[float, float, str],
        own: np.ndarray,
        out: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        """Write ``row``'s samples (its levels ``own``) into ``out``: numeric values
        (2, n), city levels (n,) and patterns (n,), all uint8 but the values;
        sample 0 is the row itself."""
        values, city, patterns = out
        n = len(city)
        u = rng.random((3, n))
        passed = np.empty(n, dtype=bool)
        bit = np.empty(n, dtype=np.uint8)
        patterns.fill(0)
        for k in range(3):
            level = city if k == 2 else np.empty(n, dtype=np.uint8)
            level.fill(0)
            for edge in self.city_cdf if k == 2 else self.bin_cdf[k]:
                np.greater_equal(u[k], edge, out=passed)
                level += passed.view(np.uint8)
            np.equal(level, own[k], out=passed)
            np.left_shift(passed.view(np.uint8), k, out=bit)
            patterns |= bit
            if k == 2:
                break
            g = self.tables[k].take(level, axis=1)
            p = np.subtract(u[k], g[0], out=g[0])
            p *= g[1]
            p += g[2]
            x = ndtri(p, out=values[k])
            x *= g[3]
            x += g[4]
        values[:, 0], city[0], patterns[0] = row[:2], own[2], 7


def grouped_fit(patterns: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """LIME's weighted ridge (alpha 1, intercept not penalised) with its HC3 standard
    errors, from each sample's pattern (n,) and answer (n,).

    Returns the weights (3,), the intercept and the standard errors (3,).
    """
    count = np.bincount(patterns, minlength=8).astype(np.float64)
    total = np.bincount(patterns, y, minlength=8)
    squares = np.bincount(patterns, y * y, minlength=8)
    kw = PATTERN_WEIGHTS
    weight = count * kw
    sw = weight.sum()
    mean = weight @ PATTERNS / sw
    xc = PATTERNS - mean
    ybar = kw @ total / sw
    a_inv = np.linalg.inv((xc.T * weight) @ xc + np.eye(3))
    coef = a_inv @ (xc.T @ (kw * (total - count * ybar)))
    fitted = ybar + xc @ coef
    leverage = kw * np.einsum("pj,jk,pk->p", xc, a_inv, xc) + kw / sw
    kept = 1.0 - np.minimum(leverage, 0.99)
    residual_squares = squares - 2.0 * fitted * total + count * fitted * fitted
    meat = (xc.T * (kw * kw * residual_squares / (kept * kept))) @ xc
    cov = a_inv @ meat @ a_inv
    return coef, float(ybar - mean @ coef), np.sqrt(np.diag(cov))


def zero_one(patterns: np.ndarray) -> np.ndarray:
    """The 0/1 samples (n, 3) of the patterns (n,), in column order as the engine keeps them."""
    return np.asfortranarray(PATTERNS[patterns])


def engine_design(z: np.ndarray) -> WeightedDesign:
    """The engine's weighted design of the 0/1 samples ``z`` (n, 3), with LIME's kernel."""
    return WeightedDesign(z, exponential_kernel(euclidean_distance_to_first(z), WIDTH))


def engine_gap(patterns: np.ndarray, y: np.ndarray) -> float:
    """Largest difference, relative to each quantity's largest size, between
    :func:`grouped_fit` and the engine on the same 0/1 samples."""
    design = engine_design(zero_one(patterns))
    errors = coefficient_errors(design, y, np.arange(3), 1.0, fitted=influence(
        design, y, np.arange(3), 1.0))  # fmt: skip
    coef, intercept, stderr = grouped_fit(patterns, y)
    pairs = ((PATTERN_WEIGHTS[patterns], design.w), (coef, errors.coef), (stderr, errors.stderr),
             (np.array([intercept]), np.array([errors.intercept])))  # fmt: skip
    return max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=120)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import joblib
    import pandas as pd
    from bench_scale import make_tabular

    rows_count = -(-args.rows // ROWS_PER_CALL) * ROWS_PER_CALL  # whole calls
    with tempfile.TemporaryDirectory() as folder:
        paths = make_tabular(Path(folder), [rows_count])
        model = joblib.load(paths["model"])
        train = pd.read_csv(paths["train"])
        rows = pd.read_csv(paths[str(rows_count)])
    table = BareTable(train)
    rows["income"] = rows["income"].fillna(float(train["income"].mean()))
    inputs = list(rows[list(COLUMNS)].itertuples(index=False, name=None))
    own = [table.levels(row) for row in inputs]
    n, calls = args.samples, rows_count // ROWS_PER_CALL
    size = ROWS_PER_CALL * n
    values = [np.empty((2, size)) for _ in range(calls)]
    cities = [np.empty(size, dtype=np.uint8) for _ in range(calls)]
    patterns = [np.empty(size, dtype=np.uint8) for _ in range(calls)]

    def draw() -> None:
        for i, (row, levels) in enumerate(zip(inputs, own)):
            c, at = divmod(i, ROWS_PER_CALL)
            part = slice(at * n, (at + 1) * n)
            out = (values[c][:, part], cities[c][part], patterns[c][part])
            table.draw(np.random.default_rng(i), row, levels, out)

    categories = pd.Index(table.cities, dtype="str")
    frames: list[pd.DataFrame] = []

    def frame() -> None:
        frames[:] = [
            pd.DataFrame(
                {"age": v[0], "income": v[1], "city": pd.Categorical.from_codes(c, categories)}
            )
            for v, c in zip(values, cities)
        ]

    answers: list[np.ndarray] = []

    def predict() -> None:
        answers[:] = [model.predict_proba(f) for f in frames]

    draw(), frame(), predict()
    strings = [f.assign(city=f["city"].astype(str)) for f in frames]
    answer_gap = max(
        float(np.abs(model.predict_proba(s) - a).max()) for s, a in zip(strings, answers)
    )
    every = np.concatenate(answers)
    problems = []
    for i in range(rows_count):
        c, at = divmod(i, ROWS_PER_CALL)
        y = every[i * n : (i + 1) * n]
        label = int(np.argmax(y[0]))
        problems.append((patterns[c][at * n : (at + 1) * n], y[:, label], label))
    fits: list[tuple[np.ndarray, float, np.ndarray]] = []

    def fit() -> None:
        fits[:] = [grouped_fit(p, y) for p, y, _ in problems]

    written = io.StringIO()

    def to_json() -> None:
        written.seek(0)
        for (_, _, label), (coef, intercept, stderr) in zip(problems, fits):
            weights = [
                {"feature": name, "weight": float(w), "interval": [float(w - h), float(w + h)]}
                for name, w, h in zip(COLUMNS, coef, 1.96 * stderr)
            ]
            record = {"label": label, "intercept": intercept, "weights": weights}
            written.write(json.dumps(record) + "\n")

    fit()
    fit_gap = max(engine_gap(p, y) for p, y, _ in problems[:20])
    samples = [zero_one(p) for p, _, _ in problems]  # as the engine is given them

    def engine() -> None:
        features = np.arange(3)
        for z, (_, y, _) in zip(samples, problems):
            design = engine_design(z)
            fitted = influence(design, y, features, 1.0)
            assess(design, y, features, alpha=1.0, method="highest", k=10, level=0.95,
                   tol=0.05, plan=[n], seed=1, fitted=fitted)  # fmt: skip

    per_row = {}
    steps = (("model", predict), ("frame", frame), ("draw", draw), ("fit with intervals", fit),
             ("JSON", to_json), ("engine", engine))  # fmt: skip
    for name, step in steps:
        per_row[name] = fastest(step, args.repeat) / rows_count * 1000
    model_ms = per_row["model"]
    print(f"{rows_count} rows of {n} samples; ms per row, fastest of {args.repeat}")
    print(f"checks: the model's answers for the Categorical frames and the strings' differ by "
          f"{answer_gap:.1e}; the grouped fit against the engine's kernel, weights, intercept "
          f"and standard errors: within {fit_gap:.1e} of each's size")  # fmt: skip
    print("  ".join(f"{k} {v:.3f}" for k, v in per_row.items()))
    print(f"10% outside the model allows {model_ms / 9:.3f} ms a row")
    totals = (
        ("draw + frame + fit with intervals", ("draw", "frame", "fit with intervals")),
        ("  and its JSON line", ("draw", "frame", "fit with intervals", "JSON")),
    )
    for label, parts in totals:
        ours = sum(per_row[s] for s in parts)
        print(f"{label:34s} {ours:.3f} ms, {ours / (ours + model_ms):.1%} outside the model")


if __name__ == "__main__":
    main()
