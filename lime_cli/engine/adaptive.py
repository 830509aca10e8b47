"""Adaptive sampling (``--num-samples auto``): draw in rounds, stop when the top K is settled.

The integrator draws samples in rounds whose cumulative sizes come from
:func:`plan_rounds`, keeps every earlier sample, refits, and after each round
asks :func:`should_stop`. The rule stops when the explanation's top-K set is
settled up to declared ties at the stated confidence, or at the last round:

- **settled**: every (selected, left-out) pair of candidate features is clearly
  ordered: simultaneous intervals over all such pairs (see
  :func:`lime_cli.engine.stability.declare_ties`) exclude 0;
- **tied within tolerance**: every such pair is clearly ordered or *equivalent*:
  its whole interval lies within ``+-tol * max |key|``. A rule without a
  tolerance never stops on exact ties (their interval always straddles 0);
  with it, features whose difference is known to be negligible are declared
  tied and sampling stops;
- **stable** (only with a ``target``): a lower credible bound of the estimated
  top-K Jaccard stability reaches the target;
- **as stable as the reference** (only with a ``reference`` count, which
  ``--num-samples auto`` sets to the fixed default, 5000 or 1000 for images):
  the estimated stability now is at least the stability estimated for a run
  of ``reference`` samples (the same keys, their covariance scaled by
  ``samples / reference``), or ``samples >= reference``. An input whose top
  K is as settled at 1250 samples as it would be at 5000 stops there; a hard
  one stops at 5000, as stable as a fixed run. Measured in
  ``bench/bench_trust.py``: without it the pairwise rules above almost never
  stopped on 30 correlated tabular columns or on long articles (nearly every
  run went to the 20000 cap, 4x lime's model calls).
- **max samples**: the plan is exhausted.

No rule stops before :data:`MIN_SAMPLES_PER_FEATURE` samples per fitted
feature (except at the last round).

Repeated looks: looking after every round and stopping at the first success
inflates the error rate. With ``L`` planned looks the error rate ``1 - level`` is
split evenly between them (Bonferroni alpha spending), so the probability that
*any* look stops on a wrongly ordered pair is at most ``1 - level``. Rounds
grow geometrically, so ``L`` is about ``log2(max / min) + 1``: the price of
looking is small (at 95% and 5 looks, per-look intervals use 99%).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from lime_cli.engine.simulation import SharedDraws
from lime_cli.engine.stability import (
    RankingKeys,
    StabilityEstimate,
    TieReport,
    declare_ties,
    topk_agreement,
)
from lime_cli.engine.uncertainty import CoefficientErrors, z_value

STOP_REASONS = (
    "settled",
    "tied within tolerance",
    "stable",
    "as stable as the reference",
    "max samples",
    "continue",
)


#: No stop before this many samples per fitted feature: with fewer the sandwich
#: standard errors are too small and "settled" is premature. Measured
#: (bench/bench_trust.py): EfficientNet on chelsea.jpg, 36 superpixels all
#: fitted, stopped "settled" at 125 samples while re-runs shared a top-5
#: Jaccard of only 0.46 (lime at 1000 samples: 0.68).
MIN_SAMPLES_PER_FEATURE = 10


def plan_rounds(min_samples: int, max_samples: int, growth: float = 2.0) -> list[int]:
    """Cumulative sample counts of the rounds, from ``min_samples`` to ``max_samples``.

    Parameters
    ----------
    min_samples, max_samples : int
        First and last cumulative counts (``2 <= min_samples <= max_samples``).
    growth : float
        Largest ratio between consecutive counts (default 2: each round at
        most doubles the samples, so a stop comes at most a factor 2 after the
        count that sufficed).

    Returns
    -------
    list of int
        Strictly increasing counts, geometrically spaced with the fewest looks
        ``L = ceil(log_growth(max / min)) + 1`` (500 -> 5000: 500, 889, 1581,
        2812, 5000). ``len`` is the number of looks to correct for.
    """
    if min_samples < 2 or max_samples < min_samples:
        raise ValueError("need 2 <= min_samples <= max_samples")
    if growth <= 1.0:
        raise ValueError("growth must be above 1")
    if max_samples == min_samples:
        return [int(min_samples)]
    steps = math.ceil(math.log(max_samples / min_samples) / math.log(growth) - 1e-9)
    ratio = (max_samples / min_samples) ** (1.0 / steps)
    counts = [int(round(min_samples * ratio**i)) for i in range(steps + 1)]
    counts[-1] = int(max_samples)
    out: list[int] = []
    for c in counts:
        if not out or c > out[-1]:
            out.append(c)
    return out


@dataclass(frozen=True)
class StopDecision:
    """What the rule decided after one round.

    Attributes
    ----------
    stop : bool
    reason : str
        One of ``STOP_REASONS`` ("continue" when ``stop`` is False).
    samples : int
        Samples used so far.
    look, looks : int
        This look's number (1-based) and the planned number of looks.
    stability : StabilityEstimate
        Estimated top-K Jaccard stability at this look.
    ties : TieReport
        Ties at the look-corrected confidence (the one the decision used).
    """

    stop: bool
    reason: str
    samples: int
    look: int
    looks: int
    stability: StabilityEstimate
    ties: TieReport


def should_stop(
    errors: CoefficientErrors,
    keys: RankingKeys,
    k: int,
    samples: int,
    plan: Sequence[int],
    *,
    level: float = 0.95,
    tol: float = 0.05,
    target: float | None = None,
    measure: str = "jaccard",
    seed: int = 0,
    reference: int | None = None,
    shared: SharedDraws | None = None,
) -> StopDecision:
    """Decide after a round whether to stop sampling.

    Parameters
    ----------
    errors : CoefficientErrors
        The explanation's fit on its selected features at this round
        (:func:`lime_cli.engine.uncertainty.coefficient_errors`).
    keys : RankingKeys
        Ranking keys over the candidates at this round
        (:func:`lime_cli.engine.stability.candidate_features`, then
        :func:`~lime_cli.engine.stability.ranking_keys`).
    k : int
        Number of features explained.
    samples : int
        Cumulative samples drawn (an entry of ``plan``, or beyond it).
    plan : sequence of int
        The rounds from :func:`plan_rounds`; ``len(plan)`` looks are corrected for.
    level : float
        Confidence of the statement "the top-K set is settled up to ties"
        (default 0.95), over all looks.
    tol : float
        Relative tolerance for declaring ties (see
        :func:`~lime_cli.engine.stability.declare_ties`; default 0.05 of the
        largest key).
    target : float, optional
        Stop as soon as the stability's lower credible bound (at the
        look-corrected level) reaches this top-K agreement, e.g. 0.9.
    measure : {"jaccard", "overlap"}
        Agreement measure of ``target``.
    seed : int
        Seed of the Monte-Carlo parts (reproducible decisions).
    reference : int, optional
        Stop once the estimated stability is at least what a run of this many
        samples would have (see the module docstring); ``None``: no such rule.
    shared : SharedDraws, optional
        Re-runs simulated once for ``keys`` (:class:`lime_cli.engine.simulation.SharedDraws`),
        used by the ties, the stability figure and its projection (default:
        simulated here from ``seed``).

    Returns
    -------
    StopDecision
    """
    looks = max(1, len(plan))
    if shared is None:
        shared = SharedDraws(keys, seed=seed)
    look = bisect.bisect_right(plan, samples)
    look = min(max(look, 1), looks)
    ties = declare_ties(
        errors.coef,
        errors.cov,
        errors.features,
        keys,
        level=level,
        tol=tol,
        looks=looks,
        seed=seed,
        k=k,
        shared=shared,
    )
    stability = topk_agreement(keys.keys, keys.cov, k, measure=measure, shared=shared)
    if samples < MIN_SAMPLES_PER_FEATURE * len(errors.features) and samples < plan[-1]:
        reason = "continue"  # too few samples per fitted feature to trust the errors
    elif ties.separated:
        reason = "settled"
    elif ties.settled:
        reason = "tied within tolerance"
    elif target is not None and _lower(stability, level, looks) >= target:
        reason = "stable"
    elif reference is not None and _as_stable_as(keys, k, samples, reference, stability, shared):
        reason = "as stable as the reference"
    elif samples >= plan[-1]:
        reason = "max samples"
    else:
        reason = "continue"
    return StopDecision(reason != "continue", reason, int(samples), look, looks, stability, ties)


def _as_stable_as(
    keys: RankingKeys,
    k: int,
    samples: int,
    reference: int,
    stability: StabilityEstimate,
    shared: SharedDraws,
) -> bool:
    """Whether ``samples`` give a top K as stable as ``reference`` samples would.

    The keys' covariance shrinks as ``1 / samples``; the projection reuses the
    same truths and noise, scaled by ``sqrt(samples / reference)``, so the two
    figures differ only by the noise level (common random numbers: no
    Monte-Carlo jitter between them).
    """
    if samples >= reference:
        return True
    projected = topk_agreement(
        keys.keys, keys.cov, k, measure=stability.measure, shared=shared,
        noise_scale=math.sqrt(samples / reference),
    )  # fmt: skip
    return stability.value >= projected.value


def _lower(stability: StabilityEstimate, level: float, looks: int) -> float:
    """One-sided lower bound of the stability at the look-corrected level."""
    alpha = (1.0 - level) / looks
    return stability.value - z_value(1.0 - 2.0 * alpha) * stability.spread
