"""How sure one label's explanation is: intervals, ties and the stability figure.

Composes :mod:`~lime_cli.engine.uncertainty` (sandwich standard errors of the
weighted ridge weights), :mod:`~lime_cli.engine.stability` (the expected top-K
agreement with a re-run, ties) and :mod:`~lime_cli.engine.adaptive` (when to
stop sampling) into what one label of an explanation reports. Everything is
computed from the samples already drawn: no model calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lime_cli.engine.adaptive import StopDecision, should_stop
from lime_cli.engine.selection_bias import selection_bias
from lime_cli.engine.simulation import SharedDraws
from lime_cli.engine.stability import (
    StabilityEstimate,
    TieReport,
    candidate_features,
    ranking_keys,
    resolve_method,
)
from lime_cli.engine.surrogate import WeightedDesign
from lime_cli.engine.uncertainty import (
    CoefficientErrors,
    Influence,
    coefficient_errors,
    influence,
    intervals,
)

#: The agreement measure of the stability figure: Jaccard of two top-K sets,
#: |A n B| / |A u B| (1: the same features; 0: none in common).
MEASURE = "jaccard"


@dataclass(frozen=True)
class LabelConfidence:
    """One label's uncertainty, aligned with the features of its fit.

    ``errors.features`` are the fitted features (as ``RidgeFit.features``);
    ``intervals`` is (p, 2) in the same order, centred on the estimate less
    ``selection_bias`` (the winner's curse of choosing these features,
    :mod:`lime_cli.engine.selection_bias`); ``ties`` lists features in
    display order (decreasing |weight|). ``decision`` is the stop rule's verdict
    at this sample count (whether or not the run is adaptive).
    """

    errors: CoefficientErrors
    intervals: np.ndarray
    stability: StabilityEstimate
    ties: TieReport
    decision: StopDecision
    k: int
    selection_bias: np.ndarray


def assess(
    design: WeightedDesign,
    y: np.ndarray,
    features: np.ndarray,
    *,
    alpha: float,
    method: str,
    k: int,
    level: float,
    tol: float,
    plan: list[int],
    target: float | None = None,
    seed: int = 0,
    reference: int | None = None,
    fitted: Influence | None = None,
) -> LabelConfidence:
    """Intervals, ties, stability and the stop verdict for one label's fit.

    Parameters
    ----------
    design, y
        The weighted sample matrix and the model's outputs for the label, (n,).
    features : ndarray of intp
        The fitted (selected) features.
    method : str
        The feature selection used (``auto`` resolved with ``k``).
    k : int
        Size of the top-K set whose stability is reported (the features shown).
    level : float
        Confidence of intervals and of tie statements (e.g. 0.95).
    tol : float
        Relative tolerance under which a difference is declared a tie.
    plan : list of int
        The rounds' cumulative sample counts (one entry when not adaptive):
        the stop rule corrects for that many looks.
    target : float, optional
        Stability at which an adaptive run may stop.
    seed : int
        Seed of the Monte-Carlo parts, so reports are reproducible.
    reference : int, optional
        An adaptive run may stop once as stable as this many samples would make it.
    fitted : Influence, optional
        :func:`~lime_cli.engine.uncertainty.influence` of the fit on ``features``
        with ``alpha``, when already computed (the explanation's own fit).
    """
    k = max(1, min(k, design.d))
    fit = fitted or influence(design, y, features, alpha)
    errors = coefficient_errors(design, y, features, alpha, fitted=fit)
    how = resolve_method(method, k)
    candidates = candidate_features(design, y, features, alpha, how)
    # Nothing outside the fit can reach the top K (a table with fewer columns
    # than K): the keys come from the same fit, not a second one.
    same = np.array_equal(candidates, fit.features)
    keys = ranking_keys(design, y, candidates, alpha, how, k, fitted=fit if same else None)
    # One simulation of re-runs serves the ties, the stability figure and the bias.
    shared = SharedDraws(keys, errors, seed=seed)
    decision = should_stop(
        errors, keys, k, design.n, plan, level=level, tol=tol, target=target, measure=MEASURE,
        seed=seed, reference=reference, shared=shared,
    )  # fmt: skip
    bias = selection_bias(errors, keys, shared=shared)
    return LabelConfidence(
        errors,
        intervals(errors.centre - bias, errors.stderr, level),
        decision.stability,
        decision.ties,
        decision,
        k,
        bias,
    )
