"""How small can the time outside the model be for a table row with its own samples?

Issue 14 asks that a row's time outside the model stay <= 10%. For the
GradientBoosting pipeline of ``bench_scale.py`` (imputer + one-hot encoder,
3 columns) with each row's own 5000 samples, lime-explain spends 15-22% outside
(``bench_overhead.py --case tabular-fresh``). This script asks what the least
possible is: it times, in one process and on the same samples, the model and
a bare LIME written here for this one table, with nothing a general tool needs
(no column types, missing values, settings, feature selection or output):

- model: the pipeline's ``predict_proba`` on the samples as a DataFrame, in
  calls of 6 rows' samples (30,000; lime-explain's calls hold up to 32,768);
- frame: building those DataFrames from the drawn arrays (the model's input);
- draw: each row's samples, one uniform per cell: a quartile bin (or city)
  by frequency, and a numeric value inside its bin from the bin's normal by
  inverse CDF (not clipped, not rounded, no missing level); then whether each
  cell is in the row's bin (LIME's 0/1 samples);
- fit: the kernel on those 0/1 samples and one weighted least squares with an
  intercept for the row's predicted class (LIME's surrogate; 3 features, so
  no selection);
- fit with intervals: the same ridge with part 7's HC3 sandwich, by the
  engine's own ``influence`` and ``coefficient_errors`` (the ridge solved once
  for both, as an explanation does; its weights are checked against the bare
  fit's). This is what saying how sure a weight is costs at the least; ties,
  the stability figure and the verdict add more.

Each step is the fastest of ``--repeat`` passes over ``--rows`` rows, in ms per
row; a share is the steps' sum over that sum plus the model's. Run:

    PYTHONPATH=. .venv/bin/python bench/bench_floor.py [--rows 120] [--samples 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.special import ndtr, ndtri

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from lime_cli.engine.surrogate import WeightedDesign  # noqa: E402
from lime_cli.engine.uncertainty import coefficient_errors, influence  # noqa: E402

NUMERIC = ("age", "income")
ROWS_PER_CALL = 6


class BareTable:
    """What a bare LIME keeps of the training CSV: quartile bins and city frequencies."""

    def __init__(self, train: object) -> None:
        import pandas as pd

        assert isinstance(train, pd.DataFrame)
        self.edges, self.bin_cdf, self.tables = [], [], []
        for name in NUMERIC:
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
        self, n: int, rng: np.random.Generator, row: tuple[float, float, str], own: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Numeric values (2, n), city levels (n,) and the 0/1 samples (3, n) for ``row``
        (its levels ``own``); sample 0 is the row itself."""
        u = rng.random((3, n))
        values = np.empty((2, n))
        z = np.empty((3, n))  # column by column, as each is written whole
        passed = np.empty(n, dtype=bool)
        for k in range(3):
            cdf = self.bin_cdf[k] if k < 2 else self.city_cdf
            level = np.zeros(n, dtype=np.uint8)
            for edge in cdf:
                np.greater_equal(u[k], edge, out=passed)
                level += passed.view(np.uint8)
            np.equal(level, own[k], out=z[k])
            if k == 2:
                city = level
                break
            g = self.tables[k].take(level, axis=1)
            p = np.subtract(u[k], g[0], out=g[0])
            p *= g[1]
            p += g[2]
            x = ndtri(p, out=values[k])
            x *= g[3]
            x += g[4]
        values[:, 0], city[0], z[:, 0] = row[:2], own[2], 1.0
        return values, city, z


def bare_fit(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LIME's kernel (width 0.75 sqrt(d)) and weighted ridge with an intercept.

    ``z``: 0/1 samples (d, n), sample 0 the row; ``y``: answers (n,). Returns
    the intercept and d weights (d + 1,), and the kernel weights (n,).
    """
    d = len(z)
    # sqrt(exp(-distance^2 / width^2)), the distance^2 being the columns unlike the row's
    w = np.exp((z.sum(axis=0) - d) / (2 * 0.75**2 * d))
    zw = z * w
    a = np.empty((d + 1, d + 1))
    a[0, 0] = w.sum()
    a[0, 1:] = a[1:, 0] = zw.sum(axis=1)
    a[1:, 1:] = zw @ z.T + np.eye(d)  # the ridge's penalty, not on the intercept
    b = np.r_[w @ y, zw @ y]
    return np.linalg.solve(a, b), w


def fastest(step: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=120)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import joblib
    import pandas as pd
    from bench_scale import make_tabular

    with tempfile.TemporaryDirectory() as folder:
        paths = make_tabular(Path(folder), [args.rows])
        model = joblib.load(paths["model"])
        train = pd.read_csv(paths["train"])
        rows = pd.read_csv(paths[str(args.rows)])
    table = BareTable(train)
    rows["income"] = rows["income"].fillna(float(train["income"].mean()))
    inputs = list(rows[["age", "income", "city"]].itertuples(index=False, name=None))
    own = [table.levels(row) for row in inputs]
    n = args.samples

    drawn: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def draw() -> None:
        drawn.clear()
        for i, (row, levels) in enumerate(zip(inputs, own)):
            drawn.append(table.draw(n, np.random.default_rng(i), row, levels))

    def frames() -> list[pd.DataFrame]:
        out = []
        for s in range(0, len(drawn), ROWS_PER_CALL):
            part = drawn[s : s + ROWS_PER_CALL]
            out.append(pd.DataFrame({
                "age": np.concatenate([v[0] for v, _, _ in part]),
                "income": np.concatenate([v[1] for v, _, _ in part]),
                "city": table.cities.take(np.concatenate([c for _, c, _ in part])),
            }))  # fmt: skip
        return out

    built: list[pd.DataFrame] = []
    answers: list[np.ndarray] = []

    def frame() -> None:
        built[:] = frames()

    def predict() -> None:
        answers[:] = [model.predict_proba(f) for f in built]

    def labels() -> list[tuple[np.ndarray, np.ndarray]]:
        every = np.concatenate(answers)
        out = []
        for i, (_, _, z) in enumerate(drawn):
            y = every[i * n : (i + 1) * n]
            out.append((z, y[:, int(np.argmax(y[0]))]))
        return out

    draw(), frame(), predict()
    problems = labels()
    fits: list[np.ndarray] = []

    def fit() -> None:
        fits[:] = [bare_fit(z, y)[1] for z, y in problems]

    def fit_with_intervals() -> None:
        features = np.arange(3)
        for (z, y), w in zip(problems, fits):
            design = WeightedDesign(z.T, w)  # (n, d) in column order, as the engine keeps it
            fitted = influence(design, y, features, 1.0)
            coefficient_errors(design, y, features, 1.0, fitted=fitted)

    fit()
    engine = [influence(WeightedDesign(z.T, w), y, np.arange(3), 1.0).coef
              for (z, y), w in zip(problems, fits)]  # fmt: skip
    gap = max(float(np.abs(bare_fit(z, y)[0][1:] - e).max()) for (z, y), e in zip(problems, engine))
    per_row = {}
    for name, step in (("model", predict), ("frame", frame), ("draw", draw), ("fit", fit),
                       ("fit with intervals", fit_with_intervals)):  # fmt: skip
        per_row[name] = fastest(step, args.repeat) / len(own) * 1000
    model_ms = per_row["model"]
    print(f"{len(own)} rows of {n} samples; ms per row, fastest of {args.repeat}")
    print(f"bare fit against the engine's ridge: weights within {gap:.1e}")
    print("  ".join(f"{k} {v:.3f}" for k, v in per_row.items()))
    print(f"10% outside the model allows {model_ms / 9:.3f} ms a row")
    totals = (
        ("bare LIME: draw + fit", ("draw", "fit")),
        ("  + the model's DataFrame", ("draw", "fit", "frame")),
        ("  the fit with intervals", ("draw", "frame", "fit with intervals")),
    )
    for label, steps in totals:
        ours = sum(per_row[s] for s in steps)
        print(f"{label:27s} {ours:.3f} ms, {ours / (ours + model_ms):.1%} outside the model")


if __name__ == "__main__":
    main()
