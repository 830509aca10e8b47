"""Checks on explanations, so a CI job can fail when a model relies on the wrong thing.

A rule set says which features must not (``forbid``) or must (``require``)
be among the K strongest features of every explained label, the lowest
surrogate score to trust (``min_score``), and caps on single features'
absolute weights (``max_weight``). Rules come from options or a TOML file.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

from lime_cli.errors import InputError, UsageError
from lime_cli.explanation import Explanation, FeatureWeight, LabelExplanation

RULE_KEYS = ("forbid", "require", "within", "min_score", "max_weight", "min_stability")


@dataclass(frozen=True)
class Rules:
    """The checks to run on every explanation."""

    forbid: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    within: int | None = None
    min_score: float | None = None
    max_weight: tuple[tuple[str, float], ...] = ()
    min_stability: float | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.forbid
            or self.require
            or self.min_score is not None
            or self.max_weight
            or self.min_stability is not None
        )

    def merged(self, other: Rules) -> Rules:
        """Options and a rules file together (options win for single values)."""
        return Rules(
            forbid=self.forbid + tuple(f for f in other.forbid if f not in self.forbid),
            require=self.require + tuple(f for f in other.require if f not in self.require),
            within=self.within if self.within is not None else other.within,
            min_score=self.min_score if self.min_score is not None else other.min_score,
            max_weight=self.max_weight + other.max_weight,
            min_stability=self.min_stability
            if self.min_stability is not None
            else other.min_stability,
        )


@dataclass
class CheckOutcome:
    """One rule applied to one label of one input."""

    input: str
    rule: str
    label: str
    passed: bool
    message: str
    feature: str | None = None
    rank: int | None = None
    weight: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "label": self.label, "passed": self.passed}
        for key in ("feature", "rank", "weight"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["message"] = self.message
        out.update(self.details)
        return out


def parse_max_weight(values: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """``FEATURE=W`` strings -> pairs; the feature may itself contain '='."""
    pairs = []
    for value in values:
        feature, sep, number = value.rpartition("=")
        try:
            limit = float(number)
        except ValueError:
            limit = float("nan")
        if not sep or not feature or not limit >= 0:
            raise UsageError(f"--max-weight {value!r}: expected FEATURE=W with W >= 0")
        pairs.append((feature, limit))
    return tuple(pairs)


def load_rules(path: str) -> Rules:
    """Rules from a TOML file; unknown keys and wrong types are usage errors (exit 2)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: rules file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a rules file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: the rules file is not valid UTF-8") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the rules file ({exc.strerror or exc})") from None
    unknown = sorted(set(data) - set(RULE_KEYS))
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r}; the keys are {', '.join(RULE_KEYS)}")

    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{path}: {key} must be a list of feature names")
        return tuple(value)

    within = data.get("within")
    if within is not None and (
        not isinstance(within, int) or isinstance(within, bool) or within < 1
    ):
        raise UsageError(f"{path}: within must be a positive integer")
    min_score = data.get("min_score")
    if min_score is not None and (
        isinstance(min_score, bool)
        or not isinstance(min_score, int | float)
        or not math.isfinite(min_score)
    ):
        raise UsageError(f"{path}: min_score must be a finite number")
    min_stability = data.get("min_stability")
    if min_stability is not None and (
        isinstance(min_stability, bool)
        or not isinstance(min_stability, int | float)
        or not 0 <= min_stability <= 1
    ):
        raise UsageError(f"{path}: min_stability must be a number from 0 to 1")
    caps = data.get("max_weight", {})
    if not isinstance(caps, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in caps.values()
    ):
        raise UsageError(f"{path}: max_weight must be a table of feature = non-negative number")
    return Rules(
        forbid=tuple(dict.fromkeys(strings("forbid"))),
        require=tuple(dict.fromkeys(strings("require"))),
        within=within,
        min_score=None if min_score is None else float(min_score),
        max_weight=tuple((str(k), float(v)) for k, v in caps.items()),
        min_stability=None if min_stability is None else float(min_stability),
    )


def matches(feature: FeatureWeight, name: str) -> bool:
    """A rule's feature name matches the feature or, for tabular data, its column.

    Case-insensitively: text features keep the document's case ("Posting"),
    and a policy that forbids "posting" means the word in any case.
    """
    wanted = name.casefold()
    column = feature.info.get("column")
    return feature.feature.casefold() == wanted or (
        isinstance(column, str) and column.casefold() == wanted
    )


def evaluate(rules: Rules, explanation: Explanation) -> list[CheckOutcome]:
    """Every rule on every explained label of one explanation."""
    outcomes: list[CheckOutcome] = []
    name = str(explanation.input.get("name", "-"))
    shown = explanation.params.get("num_features_shown", explanation.params.get("num_features"))
    k = rules.within or int(shown or 10)
    for label in explanation.explanations:
        strongest = label.features[:k]
        for wanted in rules.forbid:
            hit = _first_match(strongest, wanted)
            if hit is None:
                outcomes.append(
                    CheckOutcome(name, "forbid", label.label, True,
                                 f"{wanted!r} is not among the {k} strongest features", wanted)
                )  # fmt: skip
            else:
                rank, f = hit
                sure = _forbid_certainty(label, f, k)
                outcomes.append(
                    CheckOutcome(
                        name, "forbid", label.label, False,
                        f"forbidden feature {f.feature!r} is rank {rank} of {k} "
                        f"(weight {f.weight:+.4f}{_interval_text(f)}){_CERTAINTY[sure]}",
                        wanted, rank, f.weight, _certainty_details(sure),
                    )
                )  # fmt: skip
        for wanted in rules.require:
            hit = _first_match(strongest, wanted)
            if hit is None:
                sure = _require_certainty(label, wanted, k)
                outcomes.append(
                    CheckOutcome(name, "require", label.label, False,
                                 f"required feature {wanted!r} is not among the {k} "
                                 f"strongest{_CERTAINTY[sure]}",
                                 wanted, details=_certainty_details(sure))
                )  # fmt: skip
            else:
                rank, f = hit
                outcomes.append(
                    CheckOutcome(name, "require", label.label, True,
                                 f"{f.feature!r} is rank {rank} of {k}", wanted, rank, f.weight)
                )  # fmt: skip
        if rules.min_score is not None:
            ok = label.score >= rules.min_score
            outcomes.append(
                CheckOutcome(
                    name, "min_score", label.label, ok,
                    f"surrogate score {label.score:.4f} "
                    f"{'reaches' if ok else 'is below'} {rules.min_score:g}",
                    details={"score": label.score, "min_score": rules.min_score},
                )
            )  # fmt: skip
        if rules.min_stability is not None:
            outcomes.append(_stability_outcome(name, label, rules.min_stability))
        for wanted, cap in rules.max_weight:
            over = [
                (rank, f)
                for rank, f in enumerate(label.features, start=1)
                if matches(f, wanted) and abs(f.weight) > cap
            ]
            if over:
                rank, f = over[0]
                outcomes.append(
                    CheckOutcome(name, "max_weight", label.label, False,
                                 f"{f.feature!r} has weight {f.weight:+.4f}, beyond {cap:g}",
                                 wanted, rank, f.weight, {"max_weight": cap})
                )  # fmt: skip
            else:
                outcomes.append(
                    CheckOutcome(name, "max_weight", label.label, True,
                                 f"{wanted!r} stays within |weight| <= {cap:g}", wanted,
                                 details={"max_weight": cap})
                )  # fmt: skip
    return outcomes


#: How sure a failed forbid/require check is, as said in its message.
_CERTAINTY = {
    None: "",
    "clear": "; clear: outside the uncertainty of the weights",
    "uncertain": "; within the uncertainty: a re-run may rank it differently "
    "(more samples, or --num-samples auto, settle it)",
}


def _certainty_details(sure: str | None) -> dict[str, Any]:
    return {} if sure is None else {"certainty": sure}


def _interval_text(f: FeatureWeight) -> str:
    if f.interval is None:
        return ""
    return f", interval [{f.interval[0]:+.4f}, {f.interval[1]:+.4f}]"


def _forbid_certainty(label: LabelExplanation, f: FeatureWeight, k: int) -> str | None:
    """A forbidden feature in the top K: clearly in, or in only within the noise.

    Uncertain when its place in the top K is (it cannot be told apart from a
    feature left out), or when it is tied with a feature ranked beyond K.
    """
    if f.stderr is None:
        return None  # an explanation without uncertainty (read from older JSON)
    beyond = {g.feature for g in label.features[k:]}
    for group in (label.ties or {}).get("groups", []):
        if f.feature in group and beyond.intersection(group):
            return "uncertain"
    return "uncertain" if f.uncertain_rank and k >= len(label.features[:k]) else "clear"


def _require_certainty(label: LabelExplanation, wanted: str, k: int) -> str | None:
    """A required feature missing from the top K: clearly out, or a contender."""
    if label.ties is None:
        return None
    contenders = [str(c).casefold() for c in label.ties.get("contenders", [])]
    beyond = [f for f in label.features[k:] if matches(f, wanted)]
    if wanted.casefold() in contenders or any(f.tied or f.uncertain_rank for f in beyond):
        return "uncertain"
    return "clear"


def _stability_outcome(name: str, label: LabelExplanation, minimum: float) -> CheckOutcome:
    stability = label.stability or {}
    value = stability.get("value")
    if value is None:
        return CheckOutcome(name, "min_stability", label.label, False,
                            "the explanation has no stability figure to check",
                            details={"min_stability": minimum})  # fmt: skip
    ok = value >= minimum
    k = stability.get("k")
    return CheckOutcome(
        name, "min_stability", label.label, ok,
        f"expected top-{k} agreement with a re-run {value:.3f} "
        f"{'reaches' if ok else 'is below'} {minimum:g}",
        details={"stability": value, "min_stability": minimum},
    )  # fmt: skip


def failure_line(outcome: CheckOutcome) -> str:
    """The stderr line for a failed check: input, label, feature, rank and weight."""
    return f"{outcome.input}: label {outcome.label!r}: {outcome.message}"


def _first_match(features: list[FeatureWeight], name: str) -> tuple[int, FeatureWeight] | None:
    for rank, f in enumerate(features, start=1):
        if matches(f, name):
            return rank, f
    return None
