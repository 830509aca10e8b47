"""How sure an explanation is, as the HTML, Markdown and chart outputs read it.

The engine stores the uncertainty on the explanation's own fields
(:func:`lime_cli.engine.explain._add_confidence` and ``finished``), and
:meth:`lime_cli.explanation.Explanation.from_dict` restores the same fields
from JSON:

- each feature: ``interval`` ((low, high) at ``params["confidence"]``),
  ``stderr``, ``tied`` (≈: its order against a neighbour is not significant)
  and ``uncertain_rank`` (?: a feature left out may take its place);
- each label: ``stability`` ({"measure", "k", "value", "spread", "verdict"})
  and ``ties`` ({"groups", "uncertain", "contenders"});
- ``--num-samples auto``: ``params["num_samples_requested"] == "auto"``, with
  ``num_samples`` the samples used, ``stop_reason``, ``rounds``,
  ``min_samples`` and ``max_samples``.

The report renderers read them only through this module, so none of them looks
in the wrong place (they once read ``FeatureWeight.info``, where the engine
never put them). An explanation without uncertainty
(``LimeParams(uncertainty=False)``, JSON from older runs) gives
``None``/``False``/nothing everywhere, and the reports look as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lime_cli.explanation import FeatureWeight, LabelExplanation

#: The interval's confidence when the explanation does not say (the engine's default).
DEFAULT_LEVEL = 0.95

#: Rank marks, as in the terminal's table.
TIED_MARK = "≈"
UNCERTAIN_MARK = "?"


# -- one feature ----------------------------------------------------------------------


def interval(f: FeatureWeight) -> tuple[float, float] | None:
    """The feature's (low, high) interval, or None when it has none."""
    value: Any = f.interval
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    low, high = _number(value[0]), _number(value[1])
    return (low, high) if low is not None and high is not None else None


def stderr(f: FeatureWeight) -> float | None:
    """The weight's standard error, or None."""
    return _number(f.stderr)


def tied(f: FeatureWeight) -> bool:
    """Whether the feature's order against a neighbour is not significant."""
    return bool(f.tied)


def uncertain_rank(f: FeatureWeight) -> bool:
    """Whether the feature's place in the top K could go to a feature left out."""
    return bool(f.uncertain_rank)


def rank_mark(f: FeatureWeight) -> str:
    """``≈`` for a tied feature, else ``?`` for an uncertain place, else ``""`` (the
    terminal's marks)."""
    if tied(f):
        return TIED_MARK
    return UNCERTAIN_MARK if uncertain_rank(f) else ""


def all_marks(f: FeatureWeight) -> str:
    """Every mark that applies (``≈?`` for a tied feature whose place is also
    uncertain): for outputs with no room to name the uncertain places apart."""
    return (TIED_MARK if tied(f) else "") + (UNCERTAIN_MARK if uncertain_rank(f) else "")


def any_interval(features: Iterable[FeatureWeight]) -> bool:
    """Whether any of ``features`` has an interval (then a table gets its column)."""
    return any(interval(f) is not None for f in features)


def any_stderr(features: Iterable[FeatureWeight]) -> bool:
    """Whether any of ``features`` has a standard error."""
    return any(stderr(f) is not None for f in features)


def extent(features: Iterable[FeatureWeight]) -> float:
    """The largest |weight| or |interval end|: what a bar scale must reach so that
    no interval is cut short."""
    return max(
        (max([abs(f.weight), *(abs(v) for v in (interval(f) or ()))]) for f in features),
        default=0.0,
    )


def feature_note(f: FeatureWeight, params: Mapping[str, Any], k: int | None = None) -> str:
    """What a hover says of a feature's uncertainty (``""`` without any):
    ``95% interval [+0.0582, +0.0614], tied with a neighbour``."""
    parts = []
    span = interval(f)
    if span is not None:
        parts.append(f"{level(params):.0%} interval [{span[0]:+.4f}, {span[1]:+.4f}]")
    if tied(f):
        parts.append(f"{TIED_MARK} tied with a neighbour")
    if uncertain_rank(f):
        parts.append(f"{UNCERTAIN_MARK} place in the top {k or 'K'} uncertain")
    return ", ".join(parts)


# -- one label ------------------------------------------------------------------------


@dataclass(frozen=True)
class Stability:
    """A label's stability figure: the expected Jaccard agreement of its top ``k``
    with a re-run's (``k``, ``spread`` and ``verdict`` None when not recorded)."""

    value: float
    k: int | None = None
    spread: float | None = None
    verdict: str | None = None

    @property
    def top(self) -> str:
        """``top 10``, or ``top K`` when the size is not recorded."""
        return f"top {self.k if self.k is not None else 'K'}"


def stability(label: LabelExplanation) -> Stability | None:
    """The label's stability figure, or None when it was not computed."""
    raw: Any = label.stability
    if not isinstance(raw, Mapping):
        return None
    value = _number(raw.get("value"))
    if value is None:
        return None
    k = raw.get("k")
    verdict = raw.get("verdict")
    return Stability(
        value,
        k=int(k) if isinstance(k, (int, float)) and not isinstance(k, bool) else None,
        spread=_number(raw.get("spread")),
        verdict=str(verdict) if verdict else None,
    )


def tie_notes(
    label: LabelExplanation,
    params: Mapping[str, Any],
    shown: Sequence[FeatureWeight] | None = None,
) -> list[str]:
    """Plain-text lines naming the tied groups and the features whose place is
    uncertain (with the features left out that could take it), as under the
    terminal's table. Groups name the ``shown`` features (default: all) and
    count the rest, so a tie chain through 36 superpixels stays one short line.
    """
    ties: Any = label.ties if isinstance(label.ties, Mapping) else {}
    figure = stability(label)
    top = figure.top if figure is not None else "top K"
    visible = {f.feature for f in (label.features if shown is None else shown)}
    chains = []
    for group in ties.get("groups") or []:
        named = [str(name) for name in group if name in visible]
        if len(named) < 2 and len(named) < len(group):
            continue  # a tie among features the table does not show
        hidden = len(group) - len(named)
        more = f" {TIED_MARK} {hidden} more not shown" if hidden else ""
        chains.append(f" {TIED_MARK} ".join(named) + more)
    lines = []
    if chains:
        lines.append(
            f"{TIED_MARK} tied (order not significant at {level(params):.0%}): "
            + "; ".join(chains[:4])
        )
    uncertain = [str(name) for name in ties.get("uncertain") or []]
    if uncertain:
        contenders = ", ".join(str(name) for name in (ties.get("contenders") or [])[:4])
        lines.append(
            f"{UNCERTAIN_MARK} place in the {top} uncertain: {', '.join(uncertain[:6])}"
            + (f" (could be replaced by {contenders})" if contenders else "")
        )
    return lines


# -- the run --------------------------------------------------------------------------


def level(params: Mapping[str, Any]) -> float:
    """The confidence of the intervals (``params["confidence"]``, default 0.95)."""
    value = _number(params.get("confidence"))
    return value if value is not None else DEFAULT_LEVEL


@dataclass(frozen=True)
class AutoRun:
    """How a ``--num-samples auto`` run ended: ``requested`` says what was asked
    (``auto (625 to 20000)``), ``used`` how many samples were drawn and
    ``reason`` why sampling stopped; ``rounds`` are the cumulative sample counts."""

    requested: str
    used: int
    reason: str
    rounds: tuple[int, ...] = ()


def auto_run(params: Mapping[str, Any]) -> AutoRun | None:
    """The adaptive run's outcome, or None for a fixed sample count."""
    if params.get("num_samples_requested") != "auto":
        return None
    used: Any = params.get("num_samples")
    low, high = params.get("min_samples"), params.get("max_samples")
    requested = f"auto ({low} to {high})" if low is not None and high is not None else "auto"
    if not isinstance(used, (int, float)) or isinstance(used, bool):
        return None
    rounds = params.get("rounds") or ()
    return AutoRun(
        requested=requested,
        used=int(used),
        reason=str(params.get("stop_reason") or ""),
        rounds=tuple(int(n) for n in rounds if isinstance(n, (int, float))),
    )


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, not a number, a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None
