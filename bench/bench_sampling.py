"""Does a sampling design make each model call worth more? (part 7's variance reduction)

LIME's text sampling removes a uniform number ``k`` in 1..d of distinct words
per sample. Two designs keep that distribution for every single sample:

- ``iid``: lime's (and lime-explain's) independent draws;
- ``stratified``: the sizes ``k`` of one run cover 1..d evenly (a stratified
  sequence with a random offset, shuffled over the rows), so each row's ``k``
  is still uniform but the run has no clumps of sizes; words removed as in iid.

For BBC test articles (the 500-tree forest) each design is run with ``--seeds``
seeds at ``--samples`` samples, and ``iid`` also at 4x the samples as a yard
stick. Printed per article: the mean pairwise top-K Jaccard of the seeds, and
the variance of the weights (features present in every run) as a ratio
against iid (``x2.00``: the design's weights vary half as much, as if it had
twice the samples). The same articles and seeds for every design.

    .venv/bin/python bench/bench_sampling.py [--inputs 4] [--samples 1250] [--seeds 12]

Quasi-random designs that also balance each word's removals across rows were
tried and discarded: balancing by cyclic arcs of a shared permutation
correlates neighbouring words across rows and made the weights far noisier.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "sample_models")]

from bench_trust import cases_for, jaccard  # noqa: E402

from lime_cli.engine import LabelRequest  # noqa: E402
from lime_cli.engine.explain import explain_predictions, predict_samples  # noqa: E402


def iid(d: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Row 0 the input; rows 1.. remove a uniform 1..d number of random words."""
    return _remove(d, n, rng.integers(1, d + 1, size=n - 1), rng)


def stratified(d: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """As iid, but the sizes of one run are a shuffled stratified sequence over 1..d."""
    m = n - 1
    sizes = 1 + np.floor(d * (rng.permutation(m) + rng.random()) / m).astype(int)
    return _remove(d, n, np.minimum(sizes, d), rng)


def _remove(d: int, n: int, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    z = np.ones((n, d), dtype=np.uint8)
    order = np.argsort(rng.random((n - 1, d)), axis=1)
    np.put_along_axis(z[1:], order, (np.arange(d) >= sizes[:, None]).astype(np.uint8), axis=1)
    return z


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=1250)
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--skip", type=int, default=1)
    args = parser.parse_args()
    designs: list[tuple[str, Callable[..., np.ndarray], int]] = [
        ("iid", iid, args.samples),
        ("stratified", stratified, args.samples),
        ("iid x4 samples", iid, 4 * args.samples),
    ]
    ratios: dict[str, list[float]] = {name: [] for name, _, _ in designs}
    for case in cases_for("text", args.inputs, args.skip, None):
        d = case.domain.num_features
        cells = []
        base = 0.0
        for name, draw, n in designs:
            weights, sets = [], []
            for seed in range(1, args.seeds + 1):
                rng = np.random.default_rng(seed * 7919)
                z = draw(d, n, rng)
                y = predict_samples(case.domain, case.model, z, case.domain.preferred_batch_size(n))
                params = dataclasses.replace(
                    case.params, num_samples=n, seed=seed, uncertainty=False
                )
                label = explain_predictions(case.domain, case.model, z, y, LabelRequest(), params)
                features = label.explanations[0].features
                sets.append({f.index for f in features[: case.k]})
                weights.append({f.index: f.weight for f in features})
            agreement = statistics.mean(jaccard(a, b) for a, b in itertools.combinations(sets, 2))
            common = set.intersection(*(set(w) for w in weights))
            var = float(np.mean([np.var([w[j] for w in weights]) for j in common]))
            base = base or var
            ratios[name].append(base / var)
            cells.append(f"{name}: J {agreement:.3f} var x{base / var:.2f}")
        print(f"{case.name[:22]:<22} d={d:<4} " + "   ".join(cells), flush=True)
    print(
        f"{args.samples} samples, {args.seeds} seeds: variance ratio against iid, median over "
        "inputs: " + ", ".join(f"{k} x{statistics.median(v):.2f}" for k, v in ratios.items())
    )


if __name__ == "__main__":
    main()
