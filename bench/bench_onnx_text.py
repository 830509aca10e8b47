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

With ``--graph transformer`` both tools explain, instead of the sample, a
transformer-encoder-shaped graph built at bench time in a temporary directory
(nothing is written to the repository; onnx.helper and numpy, no torch): the
sample's inputs, tokenizer and 5 classes, token and position embeddings, 2
encoder layers of width 128 with 4 attention heads (padding masked) and a
512-wide feed-forward block, masked mean pooling and a linear head: BERT-tiny's
layers (with 4 heads, not 2, and the sample's 8000-token vocabulary), about 1.5
million parameters (see :func:`transformer_graph`). Its
weights are random from a fixed seed, so its predictions and explanations mean
nothing; the timing does, since both tools call the same session through the
same tokenizer, and the graph costs per token what a small real exported model
costs (the share of time outside the model then shows what a real model's
would be; real Hugging Face models cannot be downloaded here). lime's
classifier_fn then runs the session in calls of ``--lime-batch`` copies (32),
as a lime user must for a transformer (one call of 5000 copies of 512 tokens
would need about 20 GB per attention map); the warm-up explanation uses 500 samples.

    PYTHONPATH=. .venv/bin/python bench/bench_onnx_text.py [--docs 20] [--num-samples 5000]
        [--no-splice] [--graph sample|transformer] [--lime-batch 32]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys
import tempfile
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


#: The transformer-shaped graph (``--graph transformer``): BERT-tiny's shape
#: (google/bert_uncased_L-2_H-128_A-2: 2 layers, width 128, FFN 512) with 4
#: heads and the sample tokenizer's vocabulary.
LAYERS, WIDTH, HEADS, FFN = 2, 128, 4, 512
GRAPH_SEED = 20261203


def transformer_graph(vocab: int, classes: int, max_length: int) -> Any:
    """A transformer encoder classifier with random weights, as an ``onnx.ModelProto``.

    Inputs ``input_ids`` and ``attention_mask`` (int64, batch x sequence),
    output ``logits`` (batch x ``classes``), as the sample declares. Token and
    position embeddings (``max_length`` positions) and a layer norm; per layer
    multi-head self-attention (padding masked out of the softmax), residual and
    layer norm, a GELU feed-forward block, residual and layer norm; the mean of
    the unmasked positions; a linear head. Weights are normal with a fixed seed
    (scaled by 1/sqrt(fan-in)): the graph costs what a small real model costs
    per token, but its predictions mean nothing.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(GRAPH_SEED)
    nodes: list[Any] = []
    weights: list[Any] = []

    def const(name: str, value: Any) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def dense(name: str, fan_in: int, fan_out: int) -> tuple[str, str]:
        w = rng.normal(0.0, fan_in**-0.5, (fan_in, fan_out)).astype(np.float32)
        return const(f"{name}.w", w), const(f"{name}.b", np.zeros(fan_out, np.float32))

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(x: str, name: str, fan_in: int, fan_out: int) -> str:
        w, b = dense(name, fan_in, fan_out)
        return node("Add", [node("MatMul", [x, w], f"{name}.xw"), b], f"{name}.out")

    def norm(x: str, name: str) -> str:
        scale = const(f"{name}.scale", np.ones(WIDTH, np.float32))
        bias = const(f"{name}.bias", np.zeros(WIDTH, np.float32))
        return node("LayerNormalization", [x, scale, bias], f"{name}.out", axis=-1, epsilon=1e-12)

    head_dim = WIDTH // HEADS
    split_heads = const("split_heads", np.array([0, 0, HEADS, head_dim], np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, WIDTH], np.int64))
    # Embeddings: tokens + positions 0..sequence-1, then a layer norm.
    tokens = const("tok_emb", rng.normal(0, 1, (vocab, WIDTH)).astype(np.float32))
    positions = const("pos_emb", rng.normal(0, 1, (max_length, WIDTH)).astype(np.float32))
    shape = node("Shape", ["input_ids"], "ids_shape")
    length = node("Gather", [shape, const("one", np.array(1, np.int64))], "length", axis=0)
    steps = node(
        "Range",
        [const("zero", np.array(0, np.int64)), length, "one"],
        "positions",
    )
    x = node(
        "Add",
        [
            node("Gather", [tokens, "input_ids"], "tok_vectors", axis=0),
            node("Gather", [positions, steps], "pos_vectors", axis=0),
        ],
        "embedded",
    )
    x = norm(x, "emb_norm")
    # The mask: 1 for tokens, 0 for padding; -1e4 added to padded keys' scores.
    mask = node("Cast", ["attention_mask"], "mask", to=TensorProto.FLOAT)
    hidden = node("Sub", [const("one_f", np.array(1.0, np.float32)), mask], "hidden")
    bias = node("Mul", [hidden, const("neg", np.array(-1e4, np.float32))], "mask_bias2")
    key_bias = node("Unsqueeze", [bias, const("axes12", np.array([1, 2], np.int64))], "key_bias")
    scale = const("score_scale", np.array(head_dim**-0.5, np.float32))
    for layer in range(LAYERS):
        p = f"l{layer}"
        q, k, v = (linear(x, f"{p}.{n}", WIDTH, WIDTH) for n in "qkv")
        qh = node(
            "Transpose",
            [node("Reshape", [q, split_heads], f"{p}.q4")],
            f"{p}.qh",
            perm=[0, 2, 1, 3],
        )
        kt = node(
            "Transpose",
            [node("Reshape", [k, split_heads], f"{p}.k4")],
            f"{p}.kt",
            perm=[0, 2, 3, 1],
        )
        vh = node(
            "Transpose",
            [node("Reshape", [v, split_heads], f"{p}.v4")],
            f"{p}.vh",
            perm=[0, 2, 1, 3],
        )
        scores = node("Mul", [node("MatMul", [qh, kt], f"{p}.qk"), scale], f"{p}.scaled")
        attn = node(
            "Softmax", [node("Add", [scores, key_bias], f"{p}.masked")], f"{p}.attn", axis=-1
        )
        context = node(
            "Transpose", [node("MatMul", [attn, vh], f"{p}.ctx4")], f"{p}.ctxt", perm=[0, 2, 1, 3]
        )
        merged = node("Reshape", [context, merge_heads], f"{p}.ctx")
        x = norm(
            node("Add", [x, linear(merged, f"{p}.o", WIDTH, WIDTH)], f"{p}.res1"), f"{p}.norm1"
        )
        up = linear(x, f"{p}.up", WIDTH, FFN)
        # GELU as 0.5 x (1 + erf(x / sqrt 2)) (opset 17 has no Gelu operator).
        erf = node(
            "Erf",
            [node("Mul", [up, const(f"{p}.rs2", np.array(2**-0.5, np.float32))], f"{p}.up_s")],
            f"{p}.erf",
        )
        gate = node("Add", [erf, "one_f"], f"{p}.gate1")
        gelu = node(
            "Mul",
            [node("Mul", [up, gate], f"{p}.ug"), const(f"{p}.half", np.array(0.5, np.float32))],
            f"{p}.gelu",
        )
        x = norm(node("Add", [x, linear(gelu, f"{p}.down", FFN, WIDTH)], f"{p}.res2"), f"{p}.norm2")
    # Mean over the unmasked positions, then the head.
    mask3 = node("Unsqueeze", [mask, const("last_axis", np.array([2], np.int64))], "mask3")
    seq_axis = const("seq_axis", np.array([1], np.int64))
    total = node("ReduceSum", [node("Mul", [x, mask3], "kept"), seq_axis], "total", keepdims=0)
    count = node("ReduceSum", [mask, seq_axis], "count", keepdims=1)
    pooled = node("Div", [total, count], "pooled")
    w, b = dense("head", WIDTH, classes)
    node("Add", [node("MatMul", [pooled, w], "head.xw"), b], "logits")
    dims = ["batch", "sequence"]
    graph = helper.make_graph(
        nodes,
        "transformer_shaped_random",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, dims),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, dims),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        weights,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="lime-explain bench"
    )
    model.ir_version = 8
    return model


def build_transformer(directory: Path) -> tuple[Path, int, int]:
    """Write :func:`transformer_graph` as ``DIRECTORY/bbc_transformer.onnx`` with its
    sidecar (the sample's class names and max_length), for the sample tokenizer.

    Returns the model's path, its parameter count and its file size in bytes.
    """
    import onnx
    from tokenizers import Tokenizer

    sidecar = json.loads(MODEL.with_suffix(".json").read_text())
    vocab = Tokenizer.from_file(str(TOKENIZER)).get_vocab_size()
    model = transformer_graph(vocab, len(sidecar["class_names"]), int(sidecar["max_length"]))
    onnx.checker.check_model(model)
    path = directory / "bbc_transformer.onnx"
    onnx.save(model, str(path))
    path.with_suffix(".json").write_text(json.dumps(sidecar) + "\n")
    params = sum(int(np.prod(w.dims)) for w in model.graph.initializer)
    return path, params, path.stat().st_size


def probe(session: Any, length: int, copies: int = 1000, rows: int = 64) -> float:
    """Seconds of ``session.run`` for ``copies`` documents of ``length`` tokens, in calls
    of ``rows`` (after one untimed call)."""
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 8000, (rows, length)).astype(np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    session.run(["logits"], feeds)
    t0 = time.perf_counter()
    for _ in range(copies // rows):
        session.run(["logits"], feeds)
    return (time.perf_counter() - t0) * copies / (rows * (copies // rows))


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


def plain_predict(session: Any, tokenizer_path: Path, clock: Clock, batch: int | None = None):
    """What a lime user writes: tokenise, run the session (once, or in calls of
    ``batch`` copies each padded to its own longest), softmax."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.enable_truncation(512)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"))

    def predict(texts):
        texts = list(texts)
        step = batch or len(texts)
        parts = []
        for start in range(0, len(texts), step):
            encodings = tok.encode_batch(texts[start : start + step])
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            }
            parts.append(session.run(["logits"], feeds)[0])
        logits = np.concatenate(parts)
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
    parser.add_argument(
        "--graph",
        choices=("sample", "transformer"),
        default="sample",
        help="the committed sample, or a transformer-shaped graph with random weights",
    )
    parser.add_argument(
        "--lime-batch", type=int, default=32, help="lime's copies per session call (transformer)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_onnx_text_") as tmp:
        run_bench(args, Path(tmp))


def run_bench(args: argparse.Namespace, tmp: Path) -> None:
    splice = not args.no_splice
    transformer = args.graph == "transformer"
    path, lime_batch, warm_samples = MODEL, None, args.num_samples
    if transformer:
        path, params, size = build_transformer(tmp)
        lime_batch, warm_samples = args.lime_batch, min(args.num_samples, 500)
    model = load_model(str(path), purpose="text", tokenizer=str(TOKENIZER))
    if transformer:
        costs = {n: probe(model.session, n) for n in (128, 512)}
        print(
            f"graph: transformer-shaped, random weights (seed {GRAPH_SEED}; its predictions "
            f"mean nothing, the timing does): {LAYERS} layers, width {WIDTH}, {HEADS} heads, "
            f"FFN {FFN}, {params:,} parameters, {size / 1e6:.1f} MB; session.run per 1000 "
            "copies: "
            + ", ".join(f"{costs[n]:.2f} s at {n} tokens" for n in costs)
            + f"; lime's classifier_fn calls it {lime_batch} copies at a time"
        )
    clock = Clock()
    instrument(model, clock)
    lime_predict = plain_predict(model.session, TOKENIZER, clock, lime_batch)  # the same session
    docs = documents(args.docs)
    # Warm-up (onnxruntime's first calls, caches), not counted.
    _, _, _, label, _ = run_ours(model, docs[0][1], 1, warm_samples, splice, clock)
    run_lime(lime_predict, docs[0][1], label, 1, warm_samples, clock)
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
    if transformer:
        per_copy = 1000 * phase["session"] / args.num_samples
        print(
            f"transformer-shaped graph: lime-explain's session.run {per_copy:.2f} s per 1000 "
            "perturbed copies (shortest first); random weights, so the explanations and the "
            "agreement mean nothing, only the times do"
        )


if __name__ == "__main__":
    main()
