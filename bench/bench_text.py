"""Text benchmark: lime-explain against lime 0.2.0.1 on the same documents and model.

For each document, both explain the model's predicted class with 5000 samples
and 10 features (lime's defaults), side by side in one run so machine noise
hits both. Reports wall-clock per explanation (model loading and start-up
aside), time inside the model (the floor for both), and top-10 agreement:
lime-explain vs lime, and each tool against itself under another seed.

lime-explain feeds the forest's pipeline word counts spliced from each
document's own, as the command does (``lime_cli.models.count_splice``: no
perturbed string built or tokenised); the counting is ours, so it is taken
out of lime-explain's model time. ``--no-splice`` builds and tokenises the
perturbed strings, as lime does.

    .venv/bin/python bench/bench_text.py [--docs N] [--num-samples 5000] [--no-splice]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sample_models"))

from lime.lime_text import LimeTextExplainer  # noqa: E402

from lime_cli.engine import LabelRequest, LimeParams, explain  # noqa: E402
from lime_cli.models import count_splice, load_model  # noqa: E402
from lime_cli.text.domain import TextDomain  # noqa: E402
from lime_cli.text.spliced import for_model  # noqa: E402

#: Whether lime-explain splices (``--no-splice`` turns it off).
SPLICE = True


class Counting:
    """Seconds spent counting spliced words (ours, though inside the model's call)."""

    seconds = 0.0
    original = count_splice.CountSplice.counts

    @staticmethod
    def counts(splice, z):
        t0 = time.perf_counter()
        try:
            return Counting.original(splice, z)
        finally:
            Counting.seconds += time.perf_counter() - t0


count_splice.CountSplice.counts = Counting.counts  # type: ignore[method-assign]


def domain_for(text: str, model):
    domain = TextDomain(text)
    return for_model(domain, model) if SPLICE else domain


class Timed:
    """Wraps a predict function and adds up the seconds spent inside it."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.seconds = 0.0

    def __call__(self, batch):
        t0 = time.perf_counter()
        try:
            return self.fn(batch)
        finally:
            self.seconds += time.perf_counter() - t0


def documents(count: int) -> list[tuple[str, str]]:
    """The shipped sample articles, then held-out BBC articles spread over lengths."""
    docs = [(p.name, p.read_text()) for p in sorted((ROOT / "sample_data" / "text").glob("*.txt"))]
    try:
        from build_text_model import load_bbc, split
    except ImportError:
        return docs[:count]
    _, x_test, _, _, _, ids = split(*load_bbc())
    order = np.argsort([len(t) for t in x_test], kind="stable")
    picks = np.linspace(0, len(order) - 1, max(0, count - len(docs))).astype(int)
    shipped = {text for _, text in docs}
    docs += [(ids[order[i]], x_test[order[i]]) for i in picks if x_test[order[i]] not in shipped]
    return docs[:count]


def top(pairs: list[tuple[str, float]], k: int = 10) -> set[str]:
    return {name for name, _ in sorted(pairs, key=lambda p: -abs(p[1]))[:k]}


def run_ours(model, text: str, seed: int, num_samples: int):
    timed = Timed(model.predict)
    model_view = type("M", (), {})()
    model_view.classes, model_view.mode = model.classes, model.mode
    model_view.predict, model_view.describe = timed, model.describe
    t0 = time.perf_counter()
    counted = Counting.seconds
    domain = domain_for(text, model)
    exp = explain(
        domain,
        model_view,
        LabelRequest(),
        LimeParams(num_samples=num_samples, seed=seed),
        np.random.default_rng(seed),
    )
    wall = time.perf_counter() - t0
    label = exp.explanations[0]
    in_model = timed.seconds - (Counting.seconds - counted)
    return wall, in_model, label.label_index, [(f.feature, f.weight) for f in label.features]


def run_lime(estimator, text: str, label: int, seed: int, num_samples: int):
    timed = Timed(estimator.predict_proba)
    t0 = time.perf_counter()
    exp = LimeTextExplainer(random_state=seed).explain_instance(
        text, timed, labels=(label,), num_features=10, num_samples=num_samples
    )
    wall = time.perf_counter() - t0
    return wall, timed.seconds, exp.as_list(label=label)


def _explain_in_worker(spec, text: str, seed: int, num_samples: int, splice: bool) -> str:
    model = spec.load()
    exp = explain(
        for_model(TextDomain(text), model) if splice else TextDomain(text),
        model,
        LabelRequest(),
        LimeParams(num_samples=num_samples, seed=seed),
        np.random.default_rng(seed),
    )
    return exp.explanations[0].label


def _warm(spec) -> None:
    spec.load()
    time.sleep(0.5)  # keep this worker busy so the other one gets a warm-up task too


def parallel_seconds(model_path: str, texts: list[str], jobs: int, num_samples: int) -> float:
    """Wall-clock for all documents over ``jobs`` processes, the workers already warm."""
    from joblib import Parallel, delayed

    from lime_cli.run.settings import ModelSpec

    spec = ModelSpec(model_path)
    with Parallel(n_jobs=jobs) as parallel:
        parallel(delayed(_warm)(spec) for _ in range(2 * jobs))
        t0 = time.perf_counter()
        parallel(delayed(_explain_in_worker)(spec, t, 1, num_samples, SPLICE) for t in texts)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20, help="documents to explain")
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--model", default=str(ROOT / "sample_models" / "bbc_rf.joblib"))
    parser.add_argument(
        "--no-splice", action="store_true", help="lime-explain builds and tokenises the copies"
    )
    args = parser.parse_args()
    global SPLICE
    SPLICE = not args.no_splice
    model = load_model(args.model)
    estimator = model.estimator
    rows = []
    header = f"{'document':<24}{'words':>6}{'ours s':>8}{'model':>7}{'lime s':>8}{'model':>7}"
    print(header + f"{'ratio':>7}{'agree':>7}{'lime/lime':>10}{'ours/ours':>10}")
    for name, text in documents(args.docs):
        ours_wall, ours_model, label, ours = run_ours(model, text, 1, args.num_samples)
        lime_wall, lime_model, lime1 = run_lime(estimator, text, label, 1, args.num_samples)
        _, _, lime2 = run_lime(estimator, text, label, 2, args.num_samples)
        _, _, _, ours2 = run_ours(model, text, 2, args.num_samples)
        # Cross-tool agreement over all four pairings of the two seeds, so it
        # is measured as precisely as the within-tool figures it is compared to.
        pairs = [(ours, lime1), (ours, lime2), (ours2, lime1), (ours2, lime2)]
        agree = sum(len(top(a) & top(b)) for a, b in pairs) / 40
        lime_self = len(top(lime1) & top(lime2)) / 10
        ours_self = len(top(ours) & top(ours2)) / 10
        words = TextDomain(text).num_features
        rows.append((ours_wall, ours_model, lime_wall, lime_model, agree, lime_self, ours_self))
        print(
            f"{name[:23]:<24}{words:>6}{ours_wall:>8.2f}{ours_model:>7.2f}{lime_wall:>8.2f}"
            f"{lime_model:>7.2f}{lime_wall / ours_wall:>7.2f}{agree:>7.2f}{lime_self:>10.1f}"
            f"{ours_self:>10.1f}"
        )
    texts = [text for _, text in documents(args.docs)]
    jobs2 = parallel_seconds(args.model, texts, 2, args.num_samples)
    cols = list(zip(*rows))
    ours_total, ours_model_total, lime_total, lime_model_total = (sum(c) for c in cols[:4])
    print()
    print(f"documents: {len(rows)}, samples per explanation: {args.num_samples}")
    print(
        f"lime-explain: {ours_total:.2f} s ({ours_total / len(rows):.3f} s per explanation), "
        f"inside the model {ours_model_total:.2f} s, outside {ours_total - ours_model_total:.2f} s"
    )
    print(
        f"lime 0.2.0.1: {lime_total:.2f} s ({lime_total / len(rows):.3f} s per explanation), "
        f"inside the model {lime_model_total:.2f} s, outside {lime_total - lime_model_total:.2f} s"
    )
    print(f"speed-up (lime / lime-explain, one process): {lime_total / ours_total:.2f}x")
    print(
        f"lime-explain --jobs 2 (workers warm): {jobs2:.2f} s for the same documents "
        f"({jobs2 / len(rows):.3f} s per explanation): {lime_total / jobs2:.2f}x lime's loop"
    )
    print(
        "time outside the model: "
        f"{(lime_total - lime_model_total) / max(ours_total - ours_model_total, 1e-9):.1f}x less"
    )
    print(
        f"top-10 agreement, mean: lime-explain vs lime (4 seed pairings) "
        f"{statistics.mean(cols[4]):.3f}; "
        f"lime vs lime (seeds 1, 2) {statistics.mean(cols[5]):.3f}; "
        f"lime-explain vs itself (seeds 1, 2) {statistics.mean(cols[6]):.3f}"
    )


if __name__ == "__main__":
    main()
