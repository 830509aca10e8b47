"""Peak memory of the scale cases (issue 6), each run in a fresh process.

- text: a 100,000-word document with 20,000 distinct words, default settings
  (5000 samples, 10 features, auto selection), explained in-process with a
  cheap word-counting model so the figure is lime-explain's own memory.

Prints each case's wall-clock time and peak resident memory (ru_maxrss of the
child process). Run: .venv/bin/python bench/bench_memory.py [--case text]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

CASES = ("text",)


class WordCountModel:
    """P(pos) grows with the counts of two known words; about as cheap as a model can be."""

    classes = ["neg", "pos"]
    mode = "classification"

    def predict(self, docs: list[str]) -> np.ndarray:
        p = np.array([(d.count("w00001 ") + d.count("w00007 ")) / 4000.0 for d in docs])
        p = p.clip(0, 1)
        return np.column_stack([1 - p, p])

    def describe(self) -> dict:
        return {"path": "word-count", "format": "python", "mode": "classification"}


def long_document(words: int = 100_000, distinct: int = 20_000, seed: int = 0) -> str:
    """Every vocabulary word once, the rest drawn with Zipf-like frequencies."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i:05d}" for i in range(distinct)])
    p = 1.0 / np.arange(1, distinct + 1)
    tokens = np.concatenate([vocab, rng.choice(vocab, size=words - distinct, p=p / p.sum())])
    rng.shuffle(tokens)
    return " ".join(tokens.tolist())


def run_text() -> dict:
    from lime_cli.domains.text import TextDomain
    from lime_cli.engine import LabelRequest, LimeParams, explain

    text = long_document()
    t0 = time.perf_counter()
    domain = TextDomain(text)
    exp = explain(domain, WordCountModel(), LabelRequest(), LimeParams(seed=0),
                  np.random.default_rng(0))  # fmt: skip
    top = [f.feature for f in exp.explanations[0].features[:2]]
    return {
        "case": "text: 100,000 words, 20,000 distinct, 5000 samples",
        "seconds": time.perf_counter() - t0,
        "features": domain.num_features,
        "top": top,
    }


def child(case: str) -> None:
    result = {"text": run_text}[case]()
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, action="append")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    for case in args.case or CASES:
        out = subprocess.run(
            [sys.executable, __file__, "--child", case], capture_output=True, text=True, check=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{result['case']}: {result['seconds']:.1f} s, peak resident memory "
            f"{result['peak_mb']:.0f} MB (top features: {', '.join(result['top'])})"
        )


if __name__ == "__main__":
    main()
