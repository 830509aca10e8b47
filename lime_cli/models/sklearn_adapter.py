"""Any scikit-learn estimator or Pipeline as ``predict(batch) -> (n, k)`` floats.

Classifiers answer with ``predict_proba``. Classifiers that only have
``decision_function`` get a documented conversion: a binary margin ``m``
becomes ``[1 - s(m), s(m)]`` with the logistic ``s``; multi-class margins go
through a softmax. Regressors (``mode='regression'``) answer with ``predict``
as a single column.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lime_cli.engine.protocols import InputSpec
from lime_cli.errors import ModelError, UsageError
from lime_cli.models.scores import softmax

#: Whether a scikit-learn model has predicted in this process (see SklearnModel.fork_safe).
_predicted_here = False


def _may_use_many_cores(estimator: Any) -> bool:
    """Whether any of the estimator's steps has ``n_jobs`` other than None or 1
    (or its parameters cannot be read)."""
    try:
        params = estimator.get_params(deep=True)
    except Exception:  # not a scikit-learn estimator after all
        return True
    return any(
        value not in (None, 1)
        for name, value in params.items()
        if name == "n_jobs" or name.endswith("__n_jobs")
    )


class SklearnModel:
    """Adapter around a fitted scikit-learn estimator."""

    def __init__(
        self,
        estimator: Any,
        *,
        path: str,
        fmt: str,
        mode: str | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        self.estimator = estimator
        self.path = path
        self.format = fmt
        if not hasattr(estimator, "predict") and not hasattr(estimator, "predict_proba"):
            raise ModelError(
                f"{path}: the file holds a {type(estimator).__name__}, not a model "
                "(it has no predict or predict_proba method)"
            )
        self.mode = mode or _guess_mode(estimator)
        if mode == "regression" and _is_classifier(estimator):
            raise UsageError(
                f"{path}: {_type_name(estimator)} is a classifier; drop --mode regression"
            )
        if self.mode == "classification":
            if hasattr(estimator, "predict_proba"):
                self.method = "predict_proba"
            elif hasattr(estimator, "decision_function"):
                self.method = "decision_function"
            else:
                raise ModelError(
                    f"{path}: {type(estimator).__name__} has neither predict_proba nor "
                    "decision_function; use --mode regression to explain predict"
                )
            classes = [str(c) for c in getattr(estimator, "classes_", [])]
        else:
            self.method = "predict"
            classes = ["value"]
        if class_names is not None:
            if classes and len(class_names) != len(classes):
                raise UsageError(
                    f"--class-names gives {len(class_names)} names but the model has "
                    f"{len(classes)} classes"
                )
            classes = list(class_names)
        self.classes: list[str] = classes

    @property
    def fork_safe(self) -> bool:
        """Whether a fork of this process may use the model: until any scikit-learn
        model predicts in this process (OpenMP runtimes start their threads then,
        and a fork's copy of them deadlocks), and unless its estimators spread
        their own work over cores (``n_jobs``: forks would share the same cores
        with them; see :mod:`lime_cli.run.forked`)."""
        return not _predicted_here and not _may_use_many_cores(self.estimator)

    @property
    def input_spec(self) -> InputSpec:
        """Columns by name (fitted on a DataFrame), by count (an array), or text.

        A model with neither ``feature_names_in_`` nor ``n_features_in_`` whose
        first step is a text vectorizer takes strings.
        """
        estimator = self.estimator
        names = getattr(estimator, "feature_names_in_", None)
        if names is not None:
            columns = tuple(str(n) for n in names)
            return InputSpec("table", columns, (None, len(columns)))
        count = getattr(estimator, "n_features_in_", None)
        if count is not None:
            return InputSpec("array", None, (None, int(count)))
        first = estimator.steps[0][1] if hasattr(estimator, "steps") else estimator
        if hasattr(first, "build_analyzer"):  # CountVectorizer, TfidfVectorizer, Hashing...
            return InputSpec("text", None, (None,))
        # scikit-learn's convention: a 2-D batch (samples x features) of unknown width.
        return InputSpec("unknown", None, (None, None))

    def token_splice(self, domain: Any) -> Any:
        """Word counts for any perturbed copy of ``domain``'s document without
        building or tokenising it (a :class:`~lime_cli.models.count_splice.CountSplice`),
        or None: for pipelines that start with a count or tf-idf vectorizer for
        which it is exact (see :mod:`lime_cli.models.count_splice`). The text
        command then hands :class:`~lime_cli.models.count_splice.CountedBatch`
        blocks to :meth:`predict`."""
        from lime_cli.models.count_splice import count_splice

        return count_splice(self.estimator, domain)

    def predict(self, batch: Any) -> np.ndarray:
        """Scores for a batch, shape (n, k); exceptions become model errors.

        ``batch`` is what the estimator takes, or a
        :class:`~lime_cli.models.count_splice.CountedBatch` (perturbed copies of
        one document as word counts: the pipeline's first step is skipped) or a
        :class:`~lime_cli.models.count_splice.StackedCounts` (of several).
        """
        from lime_cli.models.count_splice import CountedBatch, StackedCounts

        global _predicted_here
        estimator = self.estimator
        _predicted_here = True
        try:
            if isinstance(batch, (CountedBatch, StackedCounts)):
                estimator, batch = estimator[1:], batch.features()
            raw = getattr(estimator, self.method)(batch)
            if np.iscomplexobj(raw):
                raise TypeError("complex-valued predictions")
            out = np.asarray(raw, dtype=np.float64)
        except (Exception, SystemExit) as exc:  # foreign code: any failure is the model's
            raise ModelError(
                f"the model failed to predict: {type(exc).__name__}: {_bounded(exc)}"
            ) from exc
        if self.method == "decision_function":
            out = margins_to_probabilities(out)
        elif self.method == "predict" and out.ndim == 1:
            out = out[:, None]
        if not self.classes and out.ndim == 2:
            self.classes = [str(i) for i in range(out.shape[1])]
        return out

    def unused_columns(self, columns: list[str]) -> dict[str, str]:
        """Input columns the model provably never looks at, each with the reason.

        ``columns`` are the names of the columns the model is given, in order.
        See :func:`unused_input_columns`.
        """
        return unused_input_columns(self.estimator, columns)

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "mode": self.mode,
            "classes": list(self.classes),
            "type": _type_name(self.estimator),
            "output": self.method,
            "scores": self.scores,
        }

    @property
    def scores(self) -> str:
        """What the explained numbers are (see ``lime_cli.models.onnx_adapter.SCORES``):
        a decision function's margins are scores, not probabilities."""
        if self.method == "predict_proba":
            return "probabilities"
        if self.method == "predict":
            return "value"
        return (
            "decision_function->logistic"
            if len(self.classes) == 2
            else "decision_function->softmax"
        )


#: Longest foreign exception message an error line quotes: a model's error may
#: quote its whole input batch (thousands of perturbed documents).
MESSAGE_LIMIT = 300


def _bounded(exc: BaseException) -> str:
    """The exception's message on one line, at most :data:`MESSAGE_LIMIT` characters."""
    text = " ".join(str(exc).split()) or "no details"
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


# -- which input columns a model uses -----------------------------------------------


def unused_input_columns(estimator: Any, columns: list[str]) -> dict[str, str]:
    """Columns of ``columns`` that ``estimator`` provably ignores, with the reason.

    A model fitted on a DataFrame ignores the columns missing from its
    ``feature_names_in_``. A Pipeline uses what its first step uses; a fitted
    ColumnTransformer uses the columns its transformers select, except those
    of ``'drop'`` transformers and, with ``remainder='drop'``, those no
    transformer selects; a selected column may still be dropped by a nested
    Pipeline or ColumnTransformer; a FeatureUnion uses what any branch uses.
    Anything else, or a selection that cannot be resolved, uses every column:
    only columns that are certainly ignored are reported.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        known = {str(n) for n in names}
        unused = {
            c: "not among the model's input columns (its feature_names_in_)"
            for c in columns
            if c not in known
        }
        given = [str(n) for n in names]
    else:
        unused, given = {}, list(columns)
    try:
        unused.update(_unused(estimator, given))
    except (TypeError, ValueError, IndexError, KeyError, AttributeError):
        pass  # an estimator we cannot read: assume it uses everything
    return {c: unused[c] for c in columns if c in unused}


def _unused(est: Any, columns: list[str]) -> dict[str, str]:
    """Columns of ``columns`` (what ``est`` is given) that ``est`` ignores."""
    if _is_drop(est):
        return {c: "dropped by the model" for c in columns}
    steps = getattr(est, "steps", None)
    if isinstance(steps, list):  # Pipeline: its first real step decides
        for _, step in steps:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue
            return _unused(step, columns)
        return {}
    if hasattr(est, "transformers_"):
        return _column_transformer_unused(est, columns)
    branches = getattr(est, "transformer_list", None)
    if isinstance(branches, list) and branches:  # FeatureUnion: unused by every branch
        per_branch = [_unused(branch, columns) for _, branch in branches]
        return {c: per_branch[0][c] for c in columns if all(c in u for u in per_branch)}
    return {}


def _column_transformer_unused(est: Any, columns: list[str]) -> dict[str, str]:
    names = getattr(est, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else list(columns)
    used: set[str] = set()
    reasons: dict[str, str] = {}
    for name, transformer, selection in est.transformers_:
        selected = _selected(selection, names)
        if selected is None:
            return {}
        if _is_drop(transformer):
            why = (
                "dropped by the model's ColumnTransformer: remainder='drop'"
                if name == "remainder"
                else f"dropped by the model's ColumnTransformer: {name!r} is 'drop'"
            )
            for c in selected:
                reasons.setdefault(c, why)
            continue
        inner = _unused(transformer, selected)
        used.update(c for c in selected if c not in inner)
        for c, why in inner.items():
            reasons.setdefault(c, why)
    default = "dropped by the model's ColumnTransformer: remainder='drop'"
    return {c: reasons.get(c, default) for c in columns if c not in used}


def _selected(selection: Any, names: list[str]) -> list[str] | None:
    """The column names a fitted ColumnTransformer selection picks; ``None`` if unknown."""
    if isinstance(selection, str):
        return [selection]
    if isinstance(selection, (int, np.integer)) and not isinstance(selection, bool):
        return [names[int(selection)]]
    if isinstance(selection, slice):
        start, stop = selection.start, selection.stop
        if isinstance(start, str) or isinstance(stop, str):  # label slices include the end
            first = 0 if start is None else names.index(start)
            last = len(names) if stop is None else names.index(stop) + 1
            return names[first : last : selection.step]
        return names[selection]
    if isinstance(selection, (list, tuple, np.ndarray, _index_types())):
        items = list(selection)  # type: ignore[call-overload]
        if not items:
            return []
        if all(isinstance(v, (bool, np.bool_)) for v in items):
            return [n for n, keep in zip(names, items) if keep]
        if all(isinstance(v, str) for v in items):
            return [str(v) for v in items]
        if all(isinstance(v, (int, np.integer)) for v in items):
            return [names[int(v)] for v in items]
    return None


def _index_types() -> tuple[type, ...]:
    """pandas Index and Series (selections may be given as either)."""
    import pandas as pd

    return (pd.Index, pd.Series)


def _is_drop(est: Any) -> bool:
    return isinstance(est, str) and est == "drop"


def margins_to_probabilities(margins: np.ndarray) -> np.ndarray:
    """Logistic for one binary margin per row, softmax for one margin per class."""
    if margins.ndim == 1:
        with np.errstate(over="ignore"):  # exp overflow gives p = 0 exactly, as it should
            p = 1.0 / (1.0 + np.exp(-margins))
        return np.column_stack([1.0 - p, p])
    return softmax(margins)


def _guess_mode(estimator: Any) -> str:
    from sklearn.base import is_regressor

    try:
        if is_regressor(estimator):
            return "regression"
    except Exception:  # noqa: S110 - a foreign object without sklearn tags
        pass
    if hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function"):
        return "classification"
    return "regression"


def _is_classifier(estimator: Any) -> bool:
    from sklearn.base import is_classifier

    try:
        return bool(is_classifier(estimator))
    except Exception:  # a foreign object without sklearn tags
        return False


def _type_name(obj: Any) -> str:
    steps = getattr(obj, "steps", None)
    if steps:
        return "Pipeline(" + ", ".join(type(s).__name__ for _, s in steps) + ")"
    return type(obj).__name__
