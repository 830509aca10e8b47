"""One LIME explanation: sample, predict in batches, weigh, select, fit per label."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lime_cli import defaults
from lime_cli.engine.kernels import exponential_kernel
from lime_cli.engine.protocols import Domain, Model
from lime_cli.engine.selection import METHODS, select_features
from lime_cli.engine.surrogate import WeightedDesign
from lime_cli.errors import ModelError, UsageError
from lime_cli.explanation import Explanation, FeatureWeight, LabelExplanation

#: Predictions beyond this magnitude would overflow the surrogate's sums of squares.
_LARGEST_PREDICTION = 1e150

#: Below this many features (or samples) surrogate fits use a single BLAS thread.
_SMALL_PROBLEM = 1000

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

    def validate(self) -> None:
        if self.num_samples < 2:
            raise UsageError("--num-samples must be at least 2")
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
    """Explain the model's prediction for the input ``domain`` represents."""
    params.validate()
    z = domain.sample(params.num_samples, rng)
    batch_size = params.batch_size or domain.preferred_batch_size(params.num_samples)
    y = predict_samples(domain, model, z, batch_size, progress)
    explanation = explain_predictions(domain, model, z, y, labels, params)
    explanation.params["batch_size"] = batch_size
    return explanation


def explain_predictions(
    domain: Domain,
    model: Model,
    z: Any,
    y: np.ndarray,
    labels: LabelRequest,
    params: LimeParams,
) -> Explanation:
    """Weigh, select and fit, given the samples and the model's answers for them.

    Split from :func:`explain` so a caller can predict many inputs' samples in
    one batch (tabular rows) and fit each input's surrogate afterwards.
    """
    width = params.kernel_width or domain.default_kernel_width
    weights = exponential_kernel(domain.distances(z), width)
    if not np.any(weights[1:] > 0):
        raise UsageError(
            f"kernel width {width:g} is too small: every perturbed sample gets weight 0"
        )
    # Typical surrogate problems are small: one BLAS thread is faster than
    # several spinning on a busy machine (and right when inputs run in
    # parallel). Large ones (thousands of words) get every thread.
    small = min(z.shape) < _SMALL_PROBLEM
    with _blas_controller().limit(limits=1 if small else None, user_api="blas"):
        design = WeightedDesign(z, weights)
        results = [
            _fit_label(domain, model, design, y, index, params)
            for index in resolve_labels(model, y[0], labels)
        ]
    warnings = [
        f"the model's output for {r.label!r} is the same for every sample: "
        "nothing in this input changes it, so the explanation is empty"
        for r in results
        if np.ptp(y[:, r.label_index]) == 0
    ]
    return Explanation(
        modality=domain.modality,
        input=domain.describe(),
        model=model.describe(),
        prediction=_prediction(model, y[0]),
        params={
            "num_samples": params.num_samples,
            "num_features": params.num_features,
            "kernel_width": float(width),
            "feature_selection": params.feature_selection,
            "seed": params.seed,
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
) -> LabelExplanation:
    """Select features and fit the surrogate for one label."""
    target = y[:, index]
    chosen = select_features(design, target, params.num_features, params.feature_selection)
    fit = design.fit(target, chosen, params.ridge_alpha)
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
    return LabelExplanation(
        label=model.classes[index],
        label_index=int(index),
        intercept=fit.intercept,
        score=fit.score,
        local_prediction=fit.local_prediction,
        model_prediction=float(y[0, index]),
        features=features,
    )


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
        pred = np.asarray(model.predict(batch), dtype=np.float64)
        del batch  # do not hold two batches of model input at once
        if pred.ndim == 1 and k <= 1:
            pred = pred[:, None]
        if out is None:
            # A model that does not name its classes learns their number here.
            k = k or (pred.shape[1] if pred.ndim == 2 else 0)
            out = np.empty((n, k), dtype=np.float64)
        if pred.shape != (stop - start, k):
            raise ModelError(
                f"the model returned an array of shape {pred.shape} for {stop - start} inputs; "
                f"expected ({stop - start}, {k})"
            )
        if not np.isfinite(pred).all():
            raise ModelError("the model returned NaN or infinite predictions")
        if pred.size and np.abs(pred).max() > _LARGEST_PREDICTION:
            raise ModelError(
                f"the model returned predictions as large as {np.abs(pred).max():.3g}; "
                "weighted sums of their squares would overflow"
            )
        out[start:stop] = pred
        if progress is not None:
            progress(stop, n)
    assert out is not None
    return out


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
