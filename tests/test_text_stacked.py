"""Documents of a word-count pipeline share model calls, and each keeps its own answers.

Pipelines are trained on test_count_splice's few sentences; the documents are
files of a temporary folder, explained with the command in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pytest
from _cli import run
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from test_count_splice import LABELS, TRAIN

from lime_cli.engine import LimeParams
from lime_cli.errors import ModelError
from lime_cli.models.count_splice import StackedCounts
from lime_cli.models.sklearn_adapter import SklearnModel
from lime_cli.text import stacked

REPO = Path(__file__).resolve().parents[1]

DOCUMENTS = {
    "a.txt": "The striker scored a late goal while the bank sold shares of the club.",
    "b.txt": "Shares rose and the BANK paid; the goal came late, and fans cheered the keeper.",
    "c.txt": "Markets fell, bonds rose, the striker saved nothing in the rain.",
    "d.txt": "A pill: the bank bought the club's shares and its goal.",
}
CLASSIFIERS = {
    "forest": lambda: RandomForestClassifier(n_estimators=20, random_state=0),
    "logistic": lambda: LogisticRegression(max_iter=1000),
    # Dense matrix products: a row's last bits may depend on its place in a call.
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0),
}


@pytest.fixture
def folder(tmp_path):
    for name, text in DOCUMENTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def model_file(folder, classifier, vectorizer=None):
    path = folder / "m.joblib"
    estimator = make_pipeline(vectorizer or TfidfVectorizer(sublinear_tf=True), classifier)
    joblib.dump(estimator.fit(TRAIN, LABELS), path)
    return path


def explain(folder, model, names, *extra):
    """Each document's JSON line, by document name."""
    out = folder / "out.jsonl"
    result = run(
        "text", "--model", model, *[folder / n for n in names], "--seed", "4",
        "--num-samples", "300", "-q", "--out", out, *extra,
    )  # fmt: skip
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return result, {line["input"]["name"].rsplit("/", 1)[-1]: line for line in lines}


@pytest.mark.parametrize("kind", sorted(CLASSIFIERS))
def test_a_documents_explanation_does_not_depend_on_who_shares_its_call(folder, kind):
    model = model_file(folder, CLASSIFIERS[kind]())
    calls = []
    honest = SklearnModel.predict

    def counted(self, batch):
        calls.append(len(batch))
        return honest(self, batch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SklearnModel, "predict", counted)
        together, many = explain(folder, model, ["a.txt", "b.txt", "c.txt"])
    assert together.exit_code == 0, together.stderr
    if kind == "mlp":  # dense matrix products: a call of its own for each document
        assert calls == [300, 300, 300]
    else:  # one call: three blocks of 300 copies padded to 304
        assert calls == [3 * 304]
    for name in ("a.txt", "b.txt", "c.txt"):
        alone, one = explain(folder, model, [name])
        assert alone.exit_code == 0, alone.stderr
        assert one[name] == many[name]


def test_pipelines_with_dense_products_keep_a_call_per_document(tmp_path):
    """OpenBLAS picks its kernel by a call's size: a dense step (an SVD, then an
    MLP) answers a row differently in calls of different sizes (in the last
    bits), so such a pipeline's documents are not stacked, and each explanation
    stays its own. Trained on the sample articles' sentences: on the few short
    sentences above no row came out differently."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import StandardScaler

    articles = sorted((REPO / "sample_data" / "text").glob("*.txt"))
    sentences = [s for a in articles for s in a.read_text("utf-8").split(". ") if len(s) > 20]
    estimator = make_pipeline(
        TfidfVectorizer(), TruncatedSVD(n_components=5, random_state=0), StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=2000, random_state=0),
    )  # fmt: skip
    path = tmp_path / "dense.joblib"
    joblib.dump(estimator.fit(sentences, [i % 3 for i in range(len(sentences))]), path)
    names = []
    for i, sentence in enumerate(sentences[:6]):
        (tmp_path / f"s{i}.txt").write_text(sentence, encoding="utf-8")
        names.append(f"s{i}.txt")
    _, together = explain(tmp_path, path, names, "--num-samples", "1000")
    for name in names[:2]:
        _, alone = explain(tmp_path, path, [name], "--num-samples", "1000")
        assert alone[name] == together[name]


@pytest.mark.parametrize("kind", ["forest", "logistic"])
def test_stacking_changes_nothing_for_models_of_independent_rows(folder, kind, monkeypatch):
    """Forests and linear models answer each row on its own: the explanation is the
    one each document gets in a call of its own copies (the way before stacking)."""
    model = model_file(folder, CLASSIFIERS[kind]())
    names = ["a.txt", "b.txt", "c.txt"]
    _, stacked_lines = explain(folder, model, names)
    monkeypatch.setattr(stacked, "stackable", lambda domain, params: False)
    _, own_lines = explain(folder, model, names)
    assert stacked_lines == own_lines


def test_a_document_the_model_refuses_fails_alone(folder, monkeypatch):
    model = model_file(folder, CLASSIFIERS["logistic"](), CountVectorizer())
    vocabulary = joblib.load(model)[0].vocabulary_
    honest = SklearnModel.predict

    def refuses_bought(self, batch):
        if isinstance(batch, StackedCounts) and any(
            vocabulary["bought"] in splice.terms for splice, _ in batch.parts
        ):
            raise ModelError("the model failed to predict: ValueError: bought")
        return honest(self, batch)

    monkeypatch.setattr(SklearnModel, "predict", refuses_bought)
    result, lines = explain(folder, model, ["a.txt", "d.txt", "b.txt"])
    assert result.exit_code != 0
    assert "bought" in result.stderr and "d.txt" in result.stderr
    assert "a.txt" not in result.stderr and "b.txt" not in result.stderr
    assert "Traceback" not in result.stderr
    _, clean = explain(folder, model, ["a.txt", "b.txt"])
    assert lines["a.txt"] == clean["a.txt"] and lines["b.txt"] == clean["b.txt"]


def test_which_runs_stack():
    assert stacked.documents_per_call(LimeParams(num_samples=5000)) == 3
    assert stacked.documents_per_call(LimeParams(num_samples=1000)) == 16
    assert stacked.documents_per_call(LimeParams(num_samples=1000, batch_size=500)) == 1
    auto = LimeParams(adaptive=True, min_samples=500, max_samples=4000)
    assert stacked.documents_per_call(auto) == 1


def test_long_documents_and_other_models_are_explained_on_their_own():
    class Spliced:
        splice = object()
        text = "word " * 10

    params = LimeParams(num_samples=1000)
    assert not stacked.stackable(Spliced(), params)  # not a word-count splice
    from lime_cli.models.count_splice import count_splice
    from lime_cli.text.domain import TextDomain

    estimator = make_pipeline(CountVectorizer(), LogisticRegression()).fit(TRAIN, LABELS)
    short, long_ = (TextDomain(" ".join(TRAIN[:k])) for k in (2, 6))

    class WithSplice:
        def __init__(self, domain):
            self.splice = count_splice(estimator, domain)
            self.text = domain.text

    assert stacked.stackable(WithSplice(short), params)
    # 32 Mi characters a call: 5008 copies of a 6,710-character document do not fit.
    long_doc = WithSplice(long_)
    long_doc.text = "x" * 6_710
    assert not stacked.stackable(long_doc, LimeParams(num_samples=5000))
    assert stacked.stackable(long_doc, LimeParams(num_samples=4000))
    assert stacked.padded(5000) == 5008 and stacked.padded(4992) == 4992


def test_a_stream_of_lines_shares_calls_with_two_jobs_too(tmp_path, monkeypatch):
    """Lines beyond the first megabyte are read as the work goes (a stream): with
    --jobs 2 its batches hold as many documents as share a model call, not one."""
    from lime_cli.run import executor
    from lime_cli.text import command

    monkeypatch.setattr(command, "HEAD_CHARACTERS", 200)  # a stream after 200 characters
    monkeypatch.setattr(executor, "_idle_cores", lambda: 0.2)  # no worker: batches seen here
    model = model_file(tmp_path, CLASSIFIERS["logistic"]())
    lines = tmp_path / "lines.txt"
    texts = [DOCUMENTS[name] for name in sorted(DOCUMENTS)] * 5
    lines.write_text("\n".join(texts) + "\n", encoding="utf-8")
    sizes = []
    honest = command.TextTask.explain_batch

    def recorded(self, documents):
        sizes.append(len(documents))
        return honest(self, documents)

    monkeypatch.setattr(command.TextTask, "explain_batch", recorded)
    out = tmp_path / "out.jsonl"
    args = ("text", "--model", model, lines, "--lines", "--seed", "4", "--num-samples", "300")
    result = run(*args, "-q", "--jobs", "2", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert sizes == [20]  # 16384 // 304 = 53 documents a call at most: all 20 in one
    alone = tmp_path / "alone.jsonl"
    assert run(*args, "-q", "--out", alone).exit_code == 0
    assert out.read_bytes() == alone.read_bytes()


def test_a_document_that_could_not_be_read_keeps_its_own_error():
    """When the model cannot be loaded (in a worker, say), a document that could not be
    read still fails with its reading error, as it would on its own."""
    from types import SimpleNamespace

    from lime_cli.errors import InputError
    from lime_cli.text.reading import Document

    def no_model():
        raise ModelError("m.joblib: cannot load")

    task = SimpleNamespace(model=SimpleNamespace(load=no_model))
    unread = Document("bad.txt", None, InputError("bad.txt: not UTF-8"))
    outcomes = stacked.explain_documents(task, [unread, Document("ok.txt", "a goal")])
    assert [str(error) for _, error in outcomes] == ["bad.txt: not UTF-8", "m.joblib: cannot load"]
