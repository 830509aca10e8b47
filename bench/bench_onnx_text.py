"""ONNX text benchmark: lime-explain against lime 0.2.0.1 on the ONNX token-id sample.

Both tools explain ``sample_models/bbc_tokens.onnx`` (input_ids, attention_mask
-> logits) through the same onnxruntime session and the same ``tokenizers``
tokenizer: lime 0.2.0.1 calls a plain ``classifier_fn`` that tokenises every
perturbed copy (padding to the longest, truncating at 512), runs the session
once and applies a softmax, as a user of lime would write it; lime-explain
runs as the text command does (token ids spliced from the document's own
where that is checked exact, see lime_cli/models/token_splice.py; with
``--no-splice`` it tokenises the perturbed strings as lime does). Each document
is explained for its predicted class with 5000 samples and 10 features, side
by side in one run, after one warm-up explanation each.

"In the model" is ``session.run`` alone for lime-explain (its token ids are its
own work, counted outside) and, for lime, everything inside its classifier_fn
(tokenising included, the floor lime's design gives it); lime's
``session.run`` alone is printed too. lime-explain's time outside the model is
split into phases (each exclusive of the others), timed by wrapping the
functions named below.

    PYTHONPATH=. .venv/bin/python bench/bench_onnx_text.py [--docs 20] [--num-samples 5000]
        [--no-splice]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sample_models"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_text import documents, top  # noqa: E402
from lime.lime_text import LimeTextExplainer  # noqa: E402

import lime_cli.engine.confidence as confidence  # noqa: E402
from lime_cli.engine import LabelRequest, LimeParams, explain  # noqa: E402
from lime_cli.models import load_model  # noqa: E402
from lime_cli.models.onnx_text import OnnxTextModel  # noqa: E402
from lime_cli.models.token_splice import Splicer, TokenSplice  # noqa: E402
from lime_cli.text.domain import TextDomain  # noqa: E402
from lime_cli.text.spliced import SplicedTextDomain, for_model  # noqa: E402

#: The module (``lime_cli.engine`` exports a function of the same name).
engine = importlib.import_module("lime_cli.engine.explain")
MODEL = ROOT / "sample_models" / "bbc_tokens.onnx"
TOKENIZER = ROOT / "sample_models" / "bbc_tokens.tokenizer.json"

#: lime-explain's phases outside the model, in print order: (key, label).
PHASES = (
    ("feeds", "token ids spliced (TokenSplice.calls, .feeds)"),
    ("tokenise", "tokenising (string path)"),
    ("strings", "perturbed strings (TextDomain.to_model_input)"),
    ("splice", "splice built and checked against the tokenizer (per document)"),
    ("sample", "sampling (TextDomain.sample)"),
    ("scores", "model calls: batching, softmax, checks"),
    ("surrogate", "kernel, feature selection, fit"),
    ("uncertainty", "intervals, ties, stability (confidence.assess)"),
    ("other", "the rest"),
)


class Clock:
    """Seconds per phase, each exclusive of the timed phases called inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list[Any]] = []
        self._patched: list[tuple[Any, str, Any]] = []

    def reset(self) -> None:
        self.seconds.clear()

    def timed(self, phase: str, fn: Any, absorb: bool = False) -> Any:
        """``fn`` adding its time to ``phase``, less that of timed calls inside it
        (``absorb``: calls inside it count as ``phase`` too)."""

        def run(*args: Any, **kwargs: Any) -> Any:
            if self._stack and self._stack[-1][2]:  # inside an absorbing phase
                return fn(*args, **kwargs)
            frame = [phase, 0.0, absorb]
            self._stack.append(frame)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                self._stack.pop()
                self.seconds[phase] += elapsed - frame[1]
                if self._stack:
                    self._stack[-1][1] += elapsed

        return run

    def timed_generator(self, phase: str, fn: Any) -> Any:
        """``fn`` returning a generator: each step of it timed as ``phase``."""
        step = self.timed(phase, next)

        def run(*args: Any, **kwargs: Any) -> Any:
            items = fn(*args, **kwargs)
            while True:
                try:
                    yield step(items)
                except StopIteration:
                    return

        return run

    def patch(
        self, owner: Any, name: str, phase: str, absorb: bool = False, generator: bool = False
    ) -> None:
        original = getattr(owner, name)
        self._patched.append((owner, name, original))
        wrap = self.timed_generator(phase, original) if generator else None
        setattr(owner, name, wrap or self.timed(phase, original, absorb))


class TimedSession:
    """The onnxruntime session, its ``run`` timed as the phase "session"."""

    def __init__(self, session: Any, clock: Clock) -> None:
        self._session = session
        self.run = clock.timed("session", session.run)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def instrument(model: OnnxTextModel, clock: Clock) -> None:
    model.session = TimedSession(model.session, clock)
    clock.patch(TokenSplice, "feeds", "feeds")
    clock.patch(TokenSplice, "calls", "feeds", generator=True)
    clock.patch(OnnxTextModel, "_feeds", "tokenise")
    clock.patch(OnnxTextModel, "predict", "scores")
    clock.patch(engine, "predict_samples", "scores")
    clock.patch(TextDomain, "to_model_input", "strings")
    clock.patch(TextDomain, "sample", "sample")
    clock.patch(Splicer, "splice", "splice", absorb=True)
    clock.patch(engine, "explain_predictions", "surrogate")
    clock.patch(confidence, "assess", "uncertainty")


def plain_predict(session: Any, tokenizer_path: Path, clock: Clock):
    """What a lime user writes: tokenise all, run the session once, softmax."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.enable_truncation(512)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"))

    def predict(texts):
        encodings = tok.encode_batch(list(texts))
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        }
        (logits,) = session.run(["logits"], feeds)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    return clock.timed("classifier_fn", predict)


def run_ours(model, text: str, seed: int, num_samples: int, splice: bool, clock: Clock):
    clock.reset()
    t0 = time.perf_counter()
    domain = TextDomain(text)
    if splice:
        domain = for_model(domain, model)
    exp = explain(
        domain,
        model,
        LabelRequest(),
        LimeParams(num_samples=num_samples, seed=seed),
        np.random.default_rng(seed),
    )
    wall = time.perf_counter() - t0
    phases = dict(clock.seconds)
    phases["other"] = wall - sum(phases.values())
    label = exp.explanations[0]
    spliced = isinstance(domain, SplicedTextDomain)
    pairs = [(f.feature, f.weight) for f in label.features]
    return wall, phases, spliced, label.label_index, pairs


def run_lime(predict, text: str, label: int, seed: int, num_samples: int, clock: Clock):
    clock.reset()
    t0 = time.perf_counter()
    exp = LimeTextExplainer(random_state=seed).explain_instance(
        text, predict, labels=(label,), num_features=10, num_samples=num_samples
    )
    wall = time.perf_counter() - t0
    session = clock.seconds["session"]
    return wall, clock.seconds["classifier_fn"] + session, session, exp.as_list(label=label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20, help="documents to explain")
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument(
        "--no-splice", action="store_true", help="lime-explain tokenises perturbed strings"
    )
    args = parser.parse_args()
    splice = not args.no_splice
    model = load_model(str(MODEL), purpose="text", tokenizer=str(TOKENIZER))
    clock = Clock()
    instrument(model, clock)
    lime_predict = plain_predict(model.session, TOKENIZER, clock)  # the same session
    docs = documents(args.docs)
    # Warm-up (onnxruntime's first calls, caches), not counted.
    _, _, _, label, _ = run_ours(model, docs[0][1], 1, args.num_samples, splice, clock)
    run_lime(lime_predict, docs[0][1], label, 1, args.num_samples, clock)
    rows = []
    print(
        f"{'document':<24}{'words':>6}{'ours s':>8}{'model':>7}{'lime s':>8}{'model':>7}"
        f"{'ratio':>7}{'agree':>7}{'spliced':>8}"
    )
    for name, text in docs:
        ours_wall, phases, spliced, label, ours = run_ours(
            model, text, 1, args.num_samples, splice, clock
        )
        lime_wall, lime_model, lime_session, lime1 = run_lime(
            lime_predict, text, label, 1, args.num_samples, clock
        )
        agree = len(top(ours) & top(lime1)) / 10
        words = TextDomain(text).num_features
        rows.append((ours_wall, phases, lime_wall, lime_model, lime_session, agree, spliced))
        print(
            f"{name[:23]:<24}{words:>6}{ours_wall:>8.3f}{phases.get('session', 0):>7.3f}"
            f"{lime_wall:>8.3f}{lime_model:>7.3f}{lime_wall / ours_wall:>7.2f}{agree:>7.2f}"
            f"{'yes' if spliced else 'no':>8}"
        )
    n = len(rows)
    ours_total = sum(r[0] for r in rows) / n
    phase = {key: sum(r[1].get(key, 0.0) for r in rows) / n for key in ("session", *dict(PHASES))}
    lime_total = sum(r[2] for r in rows) / n
    lime_model = sum(r[3] for r in rows) / n
    lime_session = sum(r[4] for r in rows) / n
    outside = ours_total - phase["session"]
    print()
    print(
        f"documents: {n}, samples per explanation: {args.num_samples}, "
        f"spliced: {sum(r[6] for r in rows)}/{n}, load average: "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print(
        f"lime-explain: {ours_total:.3f} s per explanation, inside the model (session.run) "
        f"{phase['session']:.3f} s, outside {outside:.3f} s "
        f"({100 * outside / ours_total:.1f}% of its time):"
    )
    for key, text in PHASES:
        if phase[key] > 0.00005 or key == "other":
            print(f"    {text:<66}{phase[key]:>7.3f} s {100 * phase[key] / ours_total:>5.1f}%")
    feeding = phase["feeds"] + phase["tokenise"] + phase["strings"] + phase["splice"]
    rest = outside - feeding
    print(
        f"  outside the model and its input (session.run + token ids, what lime's "
        f"classifier_fn covers): {rest:.3f} s ({100 * rest / ours_total:.1f}%)"
    )
    print(
        f"lime 0.2.0.1: {lime_total:.3f} s per explanation, inside the model (classifier_fn: "
        f"tokenising + session.run) {lime_model:.3f} s, of which session.run {lime_session:.3f} s; "
        f"outside {lime_total - lime_model:.3f} s "
        f"({100 * (lime_total - lime_model) / lime_total:.1f}% of its time)"
    )
    print(f"speed-up (lime / lime-explain): {lime_total / ours_total:.2f}x")
    agreement = statistics.mean(r[5] for r in rows)
    print(f"top-10 agreement with lime (seed 1 each), mean: {agreement:.3f}")


if __name__ == "__main__":
    main()
