"""One LIME explanation: sample, predict in batches, weigh, select, fit per label."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lime_cli import defaults
from lime_cli.engine.kernels import exponential_kernel
from lime_cli.engine.matrix import column_major
from lime_cli.engine.protocols import Domain, Model
from lime_cli.engine.selection import METHODS, select_features
from lime_cli.engine.surrogate import WeightedDesign
from lime_cli.engine.uncertainty import Influence, influence
from lime_cli.errors import ModelError, UsageError
from lime_cli.explanation import Explanation, FeatureWeight, LabelExplanation

if TYPE_CHECKING:
    from lime_cli.engine.stability import TieReport

#: Predictions beyond this magnitude would overflow the surrogate's sums of squares.
_LARGEST_PREDICTION = 1e150

#: Up to this many cells (samples x features) a fit's BLAS thread count is not
#: touched: OpenBLAS runs such products on one thread by itself (tables of a few
#: columns at the default 5000 samples), and setting the limit (11 us) would
#: cost more than the fit.
_UNSPLIT_CELLS = 50_000

#: Progress callback: (samples predicted so far, total samples).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LimeParams:
    """Settings of the LIME loop; defaults are lime 0.2.0.1's text defaults."""

    num_samples: int = defaults.NUM_SAMPLES
    num_features: int = defaults.NUM_FEATURES
    feature_selection: str = defaults.FEATURE_SELECTION
    kernel_width: float | None = None
    #: Samples per model call; ``None`` lets the domain choose (large batches
    #: amortise per-call costs, the domain knows how big one model input is).
    batch_size: int | None = None
    seed: int | None = None
    ridge_alpha: float = defaults.RIDGE_ALPHA
    #: ``--num-samples auto``: draw in rounds from ``min_samples`` to
    #: ``max_samples`` (every earlier sample kept) and stop once the top K is
    #: settled up to ties (see :mod:`lime_cli.engine.adaptive`).
    adaptive: bool = False
    min_samples: int = defaults.MIN_SAMPLES
    max_samples: int = defaults.MAX_SAMPLES
    #: Confidence of intervals, ties and the stop rule.
    confidence: float = defaults.CONFIDENCE
    #: Weight differences within this share of the largest weight count as ties.
    tie_tolerance: float = defaults.TIE_TOLERANCE
    #: Stop an adaptive run once the stability's lower bound reaches this.
    stability_target: float | None = None
    #: Stop an adaptive run once its top K is as stable as a fixed run of this
    #: many samples would be (``--num-samples auto`` without ``--stability``
    #: sets the modality's fixed default; ``None``: no such rule).
    reference_samples: int | None = None
    #: Size of the top-K set whose stability is reported (default
    #: ``num_features``; images fit every superpixel but show a few).
    stability_k: int | None = None
    #: Compute intervals, ties and stability (cheap next to model calls).
    uncertainty: bool = True

    def validate(self) -> None:
        if self.num_samples < 2:
            raise UsageError("--num-samples must be at least 2")
        if self.adaptive and not 2 <= self.min_samples <= self.max_samples:
            raise UsageError(
                f"--min-samples ({self.min_samples}) must be at least 2 and at most "
                f"--max-samples ({self.max_samples})"
            )
        if not 0.5 <= self.confidence < 1:
            raise UsageError("--confidence must be at least 0.5 and below 1")
        if self.stability_target is not None and not 0 < self.stability_target <= 1:
            raise UsageError("--stability must be above 0 and at most 1")
        if self.num_features < 1:
            raise UsageError("--num-features must be at least 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        if self.kernel_width is not None and not self.kernel_width > 0:
            raise UsageError("--kernel-width must be positive")
        if self.feature_selection not in METHODS:
            raise UsageError(f"--feature-selection must be one of {', '.join(METHODS)}")


@dataclass(frozen=True)
class LabelRequest:
    """Which labels to explain: named ones, the K most probable, or (default) the predicted."""

    names: tuple[str, ...] = ()
    top: int | None = None


def explain(
    domain: Domain,
    model: Model,
    labels: LabelRequest,
    params: LimeParams,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> Explanation:
    """Explain the model's prediction for the input ``domain`` represents.

    With ``params.adaptive`` samples are drawn in rounds (each round's new
    samples predicted, every earlier one kept) until every label's top K is
    settled or ``max_samples`` is reached; otherwise ``num_samples`` at once.
    """
    params.validate()
    plan = sample_plan(params)
    batch_size = params.batch_size or domain.preferred_batch_size(plan[-1])
    z = domain.sample(plan[0], rng)
    y = predict_samples(domain, model, z, batch_size, _offset(progress, 0, plan[-1]))
    for look, total in enumerate(plan):
        if look > 0:
            extra = more_samples(domain, total - z.shape[0], rng)
            y_extra = predict_samples(
                domain, model, extra, batch_size, _offset(progress, z.shape[0], plan[-1])
            )
            z, y = stack_rows([z, extra]), np.vstack([y, y_extra])
        explanation = explain_predictions(domain, model, z, y, labels, params, plan=plan)
        if finished(explanation, params, plan):
            break
    explanation.params["batch_size"] = batch_size
    return explanation


def sample_plan(params: LimeParams) -> list[int]:
    """The cumulative sample counts of the rounds: one round unless adaptive.

    An adaptive run with a reference count has it as a round of its own, so
    "as stable as the reference" can stop there rather than a round later
    (``--min-samples 3000``: 3000, 5000, 10000, 20000, not 3000, 5646, ...).
    """
    if not params.adaptive:
        return [params.num_samples]
    from lime_cli.engine.adaptive import plan_rounds

    low, high, reference = params.min_samples, params.max_samples, params.reference_samples
    if reference is not None and low < reference < high:
        return plan_rounds(low, reference) + plan_rounds(reference, high)[1:]
    return plan_rounds(low, high)


def more_samples(domain: Domain, count: int, rng: np.random.Generator) -> Any:
    """``count`` further perturbed samples (without the unperturbed row 0)."""
    fresh = domain.sample(count + 1, rng)
    return fresh[1:]


def stack_rows(blocks: list[Any]) -> Any:
    """Sample matrices on top of each other: dense, sparse or a domain's own type."""
    kind = type(blocks[0])
    if hasattr(kind, "concatenate"):
        return kind.concatenate(blocks)
    if any(hasattr(b, "tocsr") for b in blocks):
        from scipy import sparse

        return sparse.vstack([sparse.csr_matrix(b) for b in blocks], format="csr")
    return np.concatenate(blocks, axis=0)


def finished(explanation: Explanation, params: LimeParams, plan: list[int]) -> bool:
    """Whether an adaptive run can stop: every label settled, or the plan exhausted.

    Records how many samples were used and why it stopped in ``params``.
    """
    used = int(explanation.params["num_samples"])
    if not params.adaptive:
        return True
    verdicts = [
        (label.stability or {}).get("verdict", "settled") for label in explanation.explanations
    ]
    done = all(v != "continue" for v in verdicts) or used >= plan[-1]
    if done:
        reasons = sorted(set(verdicts) - {"continue"}) or ["max samples"]
        explanation.params.update(
            {
                "num_samples_requested": "auto",
                "min_samples": params.min_samples,
                "max_samples": params.max_samples,
                "stop_reason": "max samples" if used >= plan[-1] and "continue" in verdicts
                else ", ".join(reasons),
                "rounds": [n for n in plan if n <= used],
            }
        )  # fmt: skip
        if explanation.params["stop_reason"] == "max samples":
            explanation.warnings += _target_warnings(explanation, params)
    return done


def _offset(progress: Progress | None, done: int, total: int) -> Progress | None:
    """A progress callback for a later round: counts continue from ``done``."""
    if progress is None:
        return None
    return lambda count, _: progress(done + count, total)


def explain_predictions(
    domain: Domain,
    model: Model,
    z: Any,
    y: np.ndarray,
    labels: LabelRequest,
    params: LimeParams,
    *,
    plan: list[int] | None = None,
) -> Explanation:
    """Weigh, select and fit, given the samples and the model's answers for them.

    Split from :func:`explain` so a caller can predict many inputs' samples in
    one batch (tabular rows) and fit each input's surrogate afterwards.
    ``plan`` lists an adaptive run's rounds (the stop rule corrects for that
    many looks); by default the samples given are the only round.
    """
    n = int(z.shape[0])
    plan = plan or [n]
    z = column_major(z)
    width = params.kernel_width or domain.default_kernel_width
    weights = exponential_kernel(domain.distances(z), width)
    if not np.any(weights[1:] > 0):
        raise UsageError(
            f"kernel width {width:g} is too small: every perturbed sample gets weight 0"
        )
    # One BLAS thread for every fit BLAS would split: OpenBLAS's sums depend on
    # its thread count (weights moved by 3e-15 at 20,000 samples), and an
    # explanation must not depend on --jobs (workers run one thread each), on
    # the backend or on a Dask worker's cores. Typical surrogate problems are
    # small, where one thread is also the faster; a tiny one is left alone
    # (see _UNSPLIT_CELLS; and 15 ms once per process to find the libraries).
    # Large ones (thousands of words) used to get every thread: 1230 words at
    # 5000 samples took 5.4-6.2 s end to end with them, about as long with one.
    tiny = z.shape[0] * z.shape[1] <= _UNSPLIT_CELLS
    limit = contextlib.nullcontext() if tiny else _blas_limit(1)
    with limit:
        design = WeightedDesign(z, weights)
        results = [
            _fit_label(domain, model, design, y, index, params, plan)
            for index in resolve_labels(model, y[0], labels)
        ]
    warnings = [
        f"the model's output for {r.label!r} is the same for every sample: "
        "nothing in this input changes it, so the explanation is empty"
        for r in results
        if np.ptp(y[:, r.label_index]) == 0
    ]
    warnings += _instability_warnings(results, params)
    return Explanation(
        modality=domain.modality,
        input=domain.describe(),
        model=model.describe(),
        prediction=_prediction(model, y[0]),
        params={
            "num_samples": n,
            "num_features": params.num_features,
            "kernel_width": float(width),
            "feature_selection": params.feature_selection,
            "seed": params.seed,
            **({"confidence": params.confidence} if params.uncertainty else {}),
        },
        explanations=results,
        warnings=warnings,
    )


def _fit_label(
    domain: Domain,
    model: Model,
    design: WeightedDesign,
    y: np.ndarray,
    index: int,
    params: LimeParams,
    plan: list[int],
) -> LabelExplanation:
    """Select features and fit the surrogate for one label (with its uncertainty)."""
    target = y[:, index]
    chosen = select_features(design, target, params.num_features, params.feature_selection)
    # With intervals, the sandwich's pieces include the fit itself: solve the ridge once.
    pieces = (
        influence(design, target, chosen, params.ridge_alpha)
        if params.uncertainty and chosen is not None and len(chosen)
        else None
    )
    fit = pieces.fit if pieces else design.fit(target, chosen, params.ridge_alpha)
    order = np.argsort(-np.abs(fit.coef), kind="stable")
    features = [
        FeatureWeight(
            domain.feature_names[int(fit.features[i])],
            float(fit.coef[i]),
            int(fit.features[i]),
            domain.feature_info(int(fit.features[i])),
        )
        for i in order
    ]
    result = LabelExplanation(
        label=model.classes[index],
        label_index=int(index),
        intercept=fit.intercept,
        score=fit.score,
        local_prediction=fit.local_prediction,
        model_prediction=float(y[0, index]),
        features=features,
    )
    if params.uncertainty and len(fit.features):
        _add_confidence(result, domain, design, target, fit.features, params, plan, pieces)
    return result


def _add_confidence(
    result: LabelExplanation,
    domain: Domain,
    design: WeightedDesign,
    target: np.ndarray,
    fitted: np.ndarray,
    params: LimeParams,
    plan: list[int],
    pieces: Influence | None = None,
) -> None:
    """Intervals and ties on the features, stability and the verdict on the label.

    ``pieces`` is :func:`~lime_cli.engine.uncertainty.influence` of the fit on
    ``fitted``, when the caller has it."""
    from lime_cli.engine.confidence import MEASURE, assess
    from lime_cli.engine.stability import resolve_method

    # The ranking that chose the features (images fit all superpixels with
    # ``highest`` and show the top few by |weight|: not ``forward``, which
    # ``auto`` would mean for the K shown).
    method = resolve_method(params.feature_selection, params.num_features)
    conf = assess(
        design, target, np.asarray(fitted, dtype=np.intp),
        alpha=params.ridge_alpha, method=method,
        k=params.stability_k or params.num_features, level=params.confidence,
        tol=params.tie_tolerance, plan=plan, target=params.stability_target,
        seed=params.seed or 0,
        reference=params.reference_samples if params.adaptive else None, fitted=pieces,
    )  # fmt: skip
    position = {int(j): i for i, j in enumerate(conf.errors.features)}
    tied_next = {int(j): bool(t) for j, t in zip(conf.ties.features, conf.ties.tied_with_next)}
    display = [int(j) for j in conf.ties.features]
    tied: set[int] = set()
    for a, b in zip(display, display[1:]):
        if tied_next[a]:
            tied.update((a, b))
    uncertain = {int(j) for j, u in zip(conf.ties.features, conf.ties.boundary) if u}
    for feature in result.features:
        i = position[feature.index]
        feature.stderr = float(conf.errors.stderr[i])
        feature.interval = (float(conf.intervals[i, 0]), float(conf.intervals[i, 1]))
        feature.tied = feature.index in tied
        feature.uncertain_rank = feature.index in uncertain
    names = domain.feature_names
    result.stability = {
        "measure": MEASURE,
        "k": conf.k,
        "value": float(conf.stability.value),
        "spread": float(conf.stability.spread),
        "verdict": conf.decision.reason if params.adaptive else _fixed_verdict(conf.ties),
    }
    result.ties = {
        "groups": [[names[int(j)] for j in group] for group in conf.ties.groups],
        "uncertain": [names[j] for j in display if j in uncertain],
        "contenders": [names[int(j)] for j in conf.ties.contenders],
    }


def _fixed_verdict(ties: TieReport) -> str:
    """How settled a fixed-count run's top K is: the stop rule's first two
    verdicts, else "unsettled" (its other verdicts are about sampling more)."""
    if ties.separated:
        return "settled"
    return "tied within tolerance" if ties.settled else "unsettled"


#: Below this expected top-K agreement an explanation gets a warning.
UNSTABLE_BELOW = 0.5


def _instability_warnings(results: list[LabelExplanation], params: LimeParams) -> list[str]:
    out = []
    for r in results:
        value = (r.stability or {}).get("value")
        if value is not None and value < UNSTABLE_BELOW and any(f.weight for f in r.features):
            k = (r.stability or {}).get("k")
            more = (
                "--stability S with a higher --max-samples sharpens it"
                if params.adaptive
                else "--num-samples auto (or more samples) sharpens it"
            )
            out.append(
                f"the top {k} features for {r.label!r} are unstable: a re-run with other samples "
                f"is expected to share only {value:.0%} of them (Jaccard); features marked as "
                f"tied cannot be told apart; {more}"
            )
    return out


def _target_warnings(explanation: Explanation, params: LimeParams) -> list[str]:
    """An adaptive run that reached ``--max-samples`` short of its ``--stability``."""
    target = params.stability_target
    if target is None:
        return []
    out = []
    for label in explanation.explanations:
        stability = label.stability or {}
        if stability.get("verdict") == "max samples":
            out.append(
                f"--stability {target:g} was not reached with confidence for {label.label!r} by "
                f"--max-samples {params.max_samples} (stability {stability['value']:.2f}): a "
                "higher --max-samples gets closer; near-ties may never settle"
            )
    return out


def _blas_limit(threads: int | None) -> Any:
    """A context that runs BLAS with ``threads`` threads (None: as many as it has)."""
    return _blas_controller().limit(limits=threads, user_api="blas")


@functools.cache
def _blas_controller() -> Any:
    """One threadpoolctl controller per process: scanning the loaded libraries
    takes milliseconds, which adds up over thousands of tabular rows."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def predict_samples(
    domain: Domain, model: Model, z: Any, batch_size: int, progress: Progress | None = None
) -> np.ndarray:
    """Ask the model about every sample, ``batch_size`` at a time, and check its answers."""
    n = z.shape[0]
    k = len(model.classes)
    out: np.ndarray | None = None
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        batch = domain.to_model_input(z[start:stop])
        pred = checked_answers(model.predict(batch), stop - start, k)
        del batch  # do not hold two batches of model input at once
        if out is None:
            # A model that does not name its classes learns their number here.
            k = pred.shape[1]
            out = np.empty((n, k), dtype=np.float64)
        out[start:stop] = pred
        if progress is not None:
            progress(stop, n)
    assert out is not None
    return out


def checked_answers(answers: Any, rows: int, k: int) -> np.ndarray:
    """The model's answers for ``rows`` inputs as (rows, k) floats, or a ModelError
    saying what is wrong with them (``k`` 0: any number of classes, as the model
    has not named them)."""
    pred = np.asarray(answers, dtype=np.float64)
    if pred.ndim == 1 and k <= 1:
        pred = pred[:, None]
    k = k or (pred.shape[1] if pred.ndim == 2 else 0)
    if pred.shape != (rows, k):
        raise ModelError(
            f"the model returned an array of shape {pred.shape} for {rows} inputs; "
            f"expected ({rows}, {k})"
        )
    if not np.isfinite(pred).all():
        raise ModelError("the model returned NaN or infinite predictions")
    if pred.size and np.abs(pred).max() > _LARGEST_PREDICTION:
        raise ModelError(
            f"the model returned predictions as large as {np.abs(pred).max():.3g}; "
            "weighted sums of their squares would overflow"
        )
    return pred


def resolve_labels(model: Model, first: np.ndarray, request: LabelRequest) -> list[int]:
    """Turn a label request into class indices (regression: the single output)."""
    if model.mode == "regression":
        return [0]
    if request.names:
        return [label_index(model.classes, name) for name in request.names]
    if request.top is not None:
        top = max(1, min(request.top, len(model.classes)))
        return [int(i) for i in np.argsort(-first, kind="stable")[:top]]
    return [int(np.argmax(first))]


def label_index(classes: list[str], name: str) -> int:
    """The index of a class given by name (or by its number)."""
    if name in classes:
        return classes.index(name)
    if name.isdigit() and int(name) < len(classes):
        return int(name)
    raise UsageError(f"unknown label {name!r}; the model's classes are: {', '.join(classes)}")


def _prediction(model: Model, first: np.ndarray) -> dict[str, Any]:
    if model.mode == "regression":
        return {"value": float(first[0])}
    probs = {name: float(p) for name, p in zip(model.classes, first)}
    return {"probabilities": probs, "predicted": model.classes[int(np.argmax(first))]}
