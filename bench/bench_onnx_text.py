"""ONNX text benchmark: lime-explain against lime 0.2.0.1 on the ONNX token-id sample.

Both tools explain ``sample_models/bbc_tokens.onnx`` (input_ids, attention_mask
-> logits) through the same onnxruntime session and the same ``tokenizers``
tokenizer: lime 0.2.0.1 calls a plain ``classifier_fn`` that tokenises every
perturbed copy (padding to the longest, truncating at 512), runs the session
once and applies a softmax, as a user of lime would write it; lime-explain uses
its ONNX text adapter (the same steps, in memory-bounded calls). Each document
is explained for its predicted class with 5000 samples and 10 features,
side by side in one run. "Model" time is everything inside the predict
function (tokenising included), the floor for both tools; the rest is the
tool's own overhead.

    .venv/bin/python bench/bench_onnx_text.py [--docs 20] [--num-samples 5000]
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
sys.path.insert(0, str(ROOT / "bench"))

from bench_text import Timed, documents, top  # noqa: E402
from lime.lime_text import LimeTextExplainer  # noqa: E402

from lime_cli.engine import LabelRequest, LimeParams, explain  # noqa: E402
from lime_cli.models import load_model  # noqa: E402
from lime_cli.text.domain import TextDomain  # noqa: E402

MODEL = ROOT / "sample_models" / "bbc_tokens.onnx"
TOKENIZER = ROOT / "sample_models" / "bbc_tokens.tokenizer.json"


def plain_predict(session, tokenizer_path: Path):
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

    return predict


def run_ours(model, text: str, seed: int, num_samples: int):
    timed = Timed(model.predict)
    view = type("M", (), {})()
    view.classes, view.mode, view.input_spec = model.classes, model.mode, model.input_spec
    view.predict, view.describe = timed, model.describe
    t0 = time.perf_counter()
    exp = explain(
        TextDomain(text),
        view,
        LabelRequest(),
        LimeParams(num_samples=num_samples, seed=seed),
        np.random.default_rng(seed),
    )
    wall = time.perf_counter() - t0
    label = exp.explanations[0]
    return wall, timed.seconds, label.label_index, [(f.feature, f.weight) for f in label.features]


def run_lime(predict, text: str, label: int, seed: int, num_samples: int):
    timed = Timed(predict)
    t0 = time.perf_counter()
    exp = LimeTextExplainer(random_state=seed).explain_instance(
        text, timed, labels=(label,), num_features=10, num_samples=num_samples
    )
    wall = time.perf_counter() - t0
    return wall, timed.seconds, exp.as_list(label=label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20, help="documents to explain")
    parser.add_argument("--num-samples", type=int, default=5000)
    args = parser.parse_args()
    model = load_model(str(MODEL), purpose="text", tokenizer=str(TOKENIZER))
    lime_predict = plain_predict(model.session, TOKENIZER)  # the same session
    rows = []
    print(
        f"{'document':<24}{'words':>6}{'ours s':>8}{'model':>7}{'lime s':>8}{'model':>7}"
        f"{'ratio':>7}{'agree':>7}"
    )
    for name, text in documents(args.docs):
        ours_wall, ours_model, label, ours = run_ours(model, text, 1, args.num_samples)
        lime_wall, lime_model, lime1 = run_lime(lime_predict, text, label, 1, args.num_samples)
        agree = len(top(ours) & top(lime1)) / 10
        words = TextDomain(text).num_features
        rows.append((ours_wall, ours_model, lime_wall, lime_model, agree))
        print(
            f"{name[:23]:<24}{words:>6}{ours_wall:>8.2f}{ours_model:>7.2f}{lime_wall:>8.2f}"
            f"{lime_model:>7.2f}{lime_wall / ours_wall:>7.2f}{agree:>7.2f}"
        )
    cols = list(zip(*rows))
    ours_total, ours_model_total, lime_total, lime_model_total = (sum(c) for c in cols[:4])
    n = len(rows)
    print()
    print(f"documents: {n}, samples per explanation: {args.num_samples}")
    print(
        f"lime-explain: {ours_total / n:.3f} s per explanation, inside the model "
        f"{ours_model_total / n:.3f} s, outside {(ours_total - ours_model_total) / n:.3f} s "
        f"({100 * (ours_total - ours_model_total) / ours_total:.1f}% of its time)"
    )
    print(
        f"lime 0.2.0.1: {lime_total / n:.3f} s per explanation, inside the model "
        f"{lime_model_total / n:.3f} s, outside {(lime_total - lime_model_total) / n:.3f} s "
        f"({100 * (lime_total - lime_model_total) / lime_total:.1f}% of its time)"
    )
    print(f"speed-up (lime / lime-explain): {lime_total / ours_total:.2f}x")
    print(f"top-10 agreement with lime (seed 1 each), mean: {statistics.mean(cols[4]):.3f}")


if __name__ == "__main__":
    main()
