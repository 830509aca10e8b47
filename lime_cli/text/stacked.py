"""Several documents' perturbed copies in one model call, for word-count pipelines.

A model call has a cost of its own besides its rows: a scikit-learn forest
calls each of its trees once per call (with a thread-pool dispatch, input
checks and a lock each), 0.05-0.1 ms a tree. For the 500-tree BBC forest,
1000 copies of an article took 131 ms in a call of their own and 106 ms in a
call shared by four articles; 500 copies 83 and 62 ms; 5000 copies 480 and
420 ms. Tabular rows share calls for the same reason
(:mod:`lime_cli.tabular.command`).

When it applies: the document's copies reach the model as spliced word
counts (:class:`~lime_cli.models.count_splice.CountSplice`, a scikit-learn
pipeline that starts with a count or tf-idf vectorizer) and the rest of the
pipeline answers each row on its own, in the same arithmetic whatever shares
its call (:func:`~lime_cli.models.count_splice.answers_rows_alone`: trees,
forests, naive Bayes and linear models on the sparse counts; not a dense
matrix product, whose OpenBLAS kernel depends on the call's size), a fixed number of
samples (not ``--num-samples auto``: its rounds end at each document's own
count) and no ``--batch-size``, and the document is short enough for its
copies to go to the model in one call anyway (the text domain's budget of
32 M characters a call). Every other document is explained on its own, as
before.

The layout keeps each document's answers its own, whichever documents share
its call (which changes with the batch, so with ``--jobs``): as in
:mod:`lime_cli.engine.blocks`, document ``k``'s ``n`` copies are rows ``k * stride`` to
``k * stride + n`` of the call, ``stride`` being ``n`` rounded up to a
multiple of 16, and the rest of its block repeats the document itself
(answers dropped). Some models' vectorised arithmetic rounds the last bits of
an answer by its place in a vector (tabular's tests caught it with dense
rows); each copy keeps its place. The models that share calls answer each
sparse row alone, so the padding (0.8% more rows at 1000 samples) is a
cheap guard rather than a need. The
explanation's ``batch_size`` is ``n``: the document's copies went to the model
in one call (how many other documents shared it depends on the run, not on
the document).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lime_cli.engine.blocks import padded
from lime_cli.engine.explain import LimeParams

if TYPE_CHECKING:
    from lime_cli.run.executor import Outcome
    from lime_cli.text.command import TextTask
    from lime_cli.text.reading import Document

#: Most sample rows in one stacked call: the calls above (four articles' 1000
#: copies) get most of the gain; memory grows with the rows.
STACK_ROWS = 16384


def _settings_stack(params: LimeParams) -> bool:
    """Whether the settings allow shared calls: a fixed number of samples, no
    ``--batch-size``."""
    return not (params.adaptive or params.batch_size)


def documents_per_call(params: LimeParams) -> int:
    """Documents a stacked call takes at most (1 when calls are not stacked)."""
    if not _settings_stack(params):
        return 1
    return max(1, STACK_ROWS // padded(params.num_samples))


def stackable(domain: Any, params: LimeParams) -> bool:
    """Whether the document's copies can share calls with other documents'."""
    from lime_cli.models.count_splice import CountSplice
    from lime_cli.text.domain import _BATCH_CHARACTERS

    if not _settings_stack(params):
        return False
    splice = getattr(domain, "splice", None)
    if not isinstance(splice, CountSplice) or not splice.shares_calls:
        return False
    return padded(params.num_samples) * max(1, len(domain.text)) <= _BATCH_CHARACTERS


def explain_documents(task: TextTask, documents: Sequence[Document]) -> list[Outcome]:
    """Every document's (explanation, None) or (None, error), in order."""
    from lime_cli.run.executor import attempt

    outcomes: list[Outcome] = [(None, None)] * len(documents)
    try:
        model = task.model.load()
    except Exception as exc:  # every document fails as it would on its own
        return [(None, document.error or exc) for document in documents]
    ready: list[tuple[int, Document, Any]] = []
    for i, document in enumerate(documents):
        try:
            domain = task.domain_for(document, model)
        except Exception as exc:
            outcomes[i] = (None, exc)
            continue
        if stackable(domain, task.params):
            ready.append((i, document, domain))
        else:
            outcomes[i] = attempt(functools.partial(task.explain_domain, document, domain), model)
    for group in _calls(ready, task.params.num_samples):
        for i, outcome in _explain_call(task, model, group):
            outcomes[i] = outcome
    return outcomes


def _calls(
    ready: list[tuple[int, Document, Any]], n: int
) -> Iterator[list[tuple[int, Document, Any]]]:
    """Consecutive documents, as many per call as fit :data:`STACK_ROWS` rows and the
    text domain's characters a call."""
    from lime_cli.text.domain import _BATCH_CHARACTERS

    stride = padded(n)
    group: list[tuple[int, Document, Any]] = []
    characters = 0
    for entry in ready:
        size = stride * max(1, len(entry[2].text))
        if group and (
            stride * (len(group) + 1) > STACK_ROWS or characters + size > _BATCH_CHARACTERS
        ):
            yield group
            group, characters = [], 0
        group.append(entry)
        characters += size
    if group:
        yield group


def _explain_call(
    task: TextTask, model: Any, group: list[tuple[int, Document, Any]]
) -> list[tuple[int, Outcome]]:
    """Sample the group's documents, predict their copies in one call, fit each.

    When the call fails, each document is tried in a call of its own, so one
    document the model refuses fails alone (its samples are drawn again from
    its own stream: the same ones).
    """
    from lime_cli.engine.explain import explain_predictions, finished, sample_plan
    from lime_cli.run.executor import attempt
    from lime_cli.run.progress import progress_bar

    params = task.params
    plan = sample_plan(params)
    n = plan[0]
    try:
        params.validate()
        samples = [domain.sample(n, task.document_rng(document)) for _, document, domain in group]
        with progress_bar(
            f"explaining {group[0][1].name}", task.show_progress and len(group) == 1
        ) as progress:
            answers = _predict(model, [domain for _, _, domain in group], samples, n)
            if progress is not None:
                progress(n, n)
    except Exception as exc:
        if len(group) == 1:
            return [(group[0][0], (None, exc))]
        return [pair for member in group for pair in _explain_call(task, model, [member])]

    def fit(k: int) -> Any:
        _, document, domain = group[k]
        explanation = explain_predictions(
            domain, model, samples[k], answers[k], task.labels, params, plan=plan
        )
        finished(explanation, params, plan)
        explanation.params["batch_size"] = n
        return task.finish(explanation, model, document)

    return [(i, attempt(fit, k)) for k, (i, _, _) in enumerate(group)]


def _predict(model: Any, domains: list[Any], samples: list[np.ndarray], n: int) -> list[Any]:
    """Each document's answers (n, classes), from one call over their padded blocks."""
    from lime_cli.engine.explain import checked_answers
    from lime_cli.models.count_splice import StackedCounts

    stride = padded(n)
    parts = []
    for domain, z in zip(domains, samples):
        z = np.asarray(z)
        filler = np.ones((stride - n, z.shape[1]), dtype=z.dtype)  # the document itself
        parts.append((domain.splice, np.concatenate([z, filler])))
    y = checked_answers(
        model.predict(StackedCounts(tuple(parts))), stride * len(parts), len(model.classes)
    )
    return [y[k * stride : k * stride + n] for k in range(len(parts))]
