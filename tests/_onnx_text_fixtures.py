"""Tiny ONNX text models and tokenizers, built at test time (no downloads).

``word_piece_tokenizer`` trains a WordPiece tokenizer (BERT's post-processing:
[CLS] ... [SEP]) on a few sentences; ``bag_of_tokens_graph`` writes a graph
taking ``input_ids`` (and ``attention_mask``, ``token_type_ids``) whose logits
are the mean over unmasked tokens of one row per token id: a few KB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SENTENCES = [
    "the team won the match with a late goal",
    "the striker scored twice and the coach smiled",
    "shares fell as the bank cut its profit forecast",
    "the market rallied after the central bank decision",
    "the new phone has a faster chip and a better camera",
    "software update fixes the battery problem on laptops",
] * 3


def word_piece_tokenizer(path: Path, *, max_length: int | None = None) -> Path:
    """Train a small WordPiece tokenizer and save it as tokenizer.json at ``path``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    )
    tok.train_from_iterator(SENTENCES, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    if max_length:
        tok.enable_truncation(max_length)
    tok.save(str(path))
    return path


def token_weights(tokenizer_path: Path, words: dict[str, list[float]], k: int) -> np.ndarray:
    """(vocab, k) rows: each listed word's token gets its scores, the rest zeros."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    table = np.zeros((tok.get_vocab_size(), k), dtype=np.float32)
    for word, scores in words.items():
        for token_id in tok.encode(word, add_special_tokens=False).ids:
            table[token_id] = scores
    return table


def bag_of_tokens_graph(
    path: Path,
    table: np.ndarray,
    *,
    inputs: tuple[str, ...] = ("input_ids", "attention_mask"),
    dtype: str = "int64",
    length: int | None = None,
    softmax: bool = False,
) -> Path:
    """Write an ONNX model: logits = mean of ``table[input_ids]`` over unmasked tokens."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.INT64 if dtype == "int64" else TensorProto.INT32
    graph_inputs = [
        helper.make_tensor_value_info(n, elem, ["batch", length or "seq"]) for n in inputs
    ]
    k = table.shape[1]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["emb"], axis=0),
    ]
    if "attention_mask" in inputs:
        nodes.append(helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT))
    else:
        nodes += [
            helper.make_node("Shape", ["input_ids"], ["shape"]),
            helper.make_node("ConstantOfShape", ["shape"], ["maskf"],
                             value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])),
        ]  # fmt: skip
    if "token_type_ids" in inputs:  # read, so the input is used: adds 0 * types
        nodes += [
            helper.make_node("Cast", ["token_type_ids"], ["typesf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["typesf", "zero"], ["typesz"]),
            helper.make_node("Add", ["maskf", "typesz"], ["maskt"]),
        ]
        mask = "maskt"
    else:
        mask = "maskf"
    nodes += [
        helper.make_node("Unsqueeze", [mask, "axis2"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["total"], keepdims=0),
        helper.make_node("ReduceSum", [mask, "axis1"], ["count"], keepdims=1),
        helper.make_node("Div", ["total", "count"], ["logits" if not softmax else "raw"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["raw"], ["logits"], axis=1))
    inits = [
        numpy_helper.from_array(table.astype(np.float32), "table"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", k])
    graph = helper.make_graph(nodes, "bag_of_tokens", graph_inputs, [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
