"""The result of one explanation and its JSON form (schema_version 1).

Everything a renderer, a check or a script needs is here; how it was computed
is not. ``to_dict``/``from_dict`` are the only place that knows the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class FeatureWeight:
    """One interpretable feature and its weight in the local surrogate.

    ``index`` is the feature's column in the interpretable representation;
    ``info`` holds modality-specific facts (word positions, a superpixel's
    bounding box, a tabular column) and is merged into the JSON object.

    Uncertainty (``None``/``False`` when not computed): ``stderr`` is the
    weight's robust standard error over re-runs with fresh samples;
    ``interval`` its confidence interval (at ``params.confidence``), centred
    on the penalty-corrected estimate, so it need not be symmetric about
    ``weight``; ``tied`` says its rank cannot be told apart from a
    neighbour's; ``uncertain_rank`` that its place in the top K is not clear
    against a feature left out.
    """

    feature: str
    weight: float
    index: int
    info: dict[str, Any] = field(default_factory=dict)
    stderr: float | None = None
    interval: tuple[float, float] | None = None
    tied: bool = False
    uncertain_rank: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feature": self.feature, "weight": self.weight, "index": self.index}
        if self.stderr is not None:
            out["stderr"] = self.stderr
        if self.interval is not None:
            out["interval"] = [self.interval[0], self.interval[1]]
        if self.tied:
            out["tied"] = True
        if self.uncertain_rank:
            out["uncertain_rank"] = True
        out.update(self.info)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureWeight:
        own = ("feature", "weight", "index", "stderr", "interval", "tied", "uncertain_rank")
        info = {k: v for k, v in data.items() if k not in own}
        interval = data.get("interval")
        return cls(
            str(data["feature"]),
            float(data["weight"]),
            int(data.get("index", -1)),
            info,
            stderr=float(data["stderr"]) if data.get("stderr") is not None else None,
            interval=(float(interval[0]), float(interval[1])) if interval is not None else None,
            tied=bool(data.get("tied", False)),
            uncertain_rank=bool(data.get("uncertain_rank", False)),
        )


@dataclass
class LabelExplanation:
    """The surrogate fitted for one label: its own intercept, score and predictions."""

    label: str
    label_index: int
    intercept: float
    score: float
    local_prediction: float
    model_prediction: float
    features: list[FeatureWeight]
    #: How sure the explanation is (``None`` when not computed):
    #: {"measure": "jaccard", "k": K, "value": v, "spread": s} - the expected
    #: top-K agreement with an independent re-run with the same settings -
    #: and {"groups": [[names tied together]], "uncertain": [names whose place in
    #: the top K is unclear], "contenders": [names left out that may belong]}.
    stability: dict[str, Any] | None = None
    ties: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "label_index": self.label_index,
            "intercept": self.intercept,
            "score": self.score,
            "local_prediction": self.local_prediction,
            "model_prediction": self.model_prediction,
        }
        if self.stability is not None:
            out["stability"] = self.stability
        if self.ties is not None:
            out["ties"] = self.ties
        out["features"] = [f.to_dict() for f in self.features]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelExplanation:
        return cls(
            label=str(data["label"]),
            label_index=int(data.get("label_index", -1)),
            intercept=float(data["intercept"]),
            score=float(data["score"]),
            local_prediction=float(data["local_prediction"]),
            model_prediction=float(data["model_prediction"]),
            features=[FeatureWeight.from_dict(f) for f in data["features"]],
            stability=data.get("stability"),
            ties=data.get("ties"),
        )


class SchemaError(ValueError):
    """JSON of another schema version (or none): said as it is."""


@dataclass
class Explanation:
    """Why the model predicted what it did for one input.

    It stands alone: ``input`` holds what a renderer needs to draw it again
    (a document's text, an image's picture and segment map, a row's values),
    so every output can be made from the JSON without the model.
    """

    modality: str
    input: dict[str, Any]
    model: dict[str, Any]
    prediction: dict[str, Any]
    params: dict[str, Any]
    explanations: list[LabelExplanation]
    warnings: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "modality": self.modality,
            "input": self.input,
            "model": self.model,
            "prediction": self.prediction,
            "params": self.params,
            "explanations": [e.to_dict() for e in self.explanations],
            "warnings": list(self.warnings),
        }
        if self.checks:
            out["checks"] = list(self.checks)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Explanation:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaError(f"unsupported schema_version {version!r} (expected {SCHEMA_VERSION})")
        return cls(
            modality=data["modality"],
            input=dict(data.get("input", {})),
            model=dict(data["model"]),
            prediction=dict(data["prediction"]),
            params=dict(data["params"]),
            explanations=[LabelExplanation.from_dict(e) for e in data["explanations"]],
            warnings=list(data.get("warnings", [])),
            checks=list(data.get("checks", [])),
        )


def read_explanations(source: str) -> list[Explanation]:
    """Every explanation in a ``.json`` file (one object) or JSON Lines file ('-': stdin).

    Raises InputError (exit 3) naming the file and line when it cannot be read.
    """
    import json

    from lime_cli.errors import InputError
    from lime_cli.inputs import read_text

    text = read_text(source)
    name = "stdin" if source == "-" else source
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{name}: no explanation in it")
    try:
        documents = [json.loads(stripped)]
        if isinstance(documents[0], list):
            documents = documents[0]
    except json.JSONDecodeError:
        documents = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                documents.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{name} line {number}: not JSON ({exc.msg})") from None
    out = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") in ("pick", "compare"):
            raise InputError(
                f"{name}: a {document['kind']} report, not explanations: render draws "
                f"explanations (the {document['kind']} command writes its own reports)"
            )
        try:
            out.append(Explanation.from_dict(document))
        except SchemaError as exc:
            raise InputError(f"{name}: not a lime-explain explanation ({exc})") from None
        except KeyError as exc:
            raise InputError(
                f"{name}: not a lime-explain explanation (no {exc.args[0]!r} field)"
            ) from None
        except (TypeError, ValueError, AttributeError):
            if isinstance(document, dict):
                what = "an object with fields of other kinds"
            else:
                kinds = {bool: "true/false", int: "number", float: "number", str: "string"}
                what = f"a JSON {kinds.get(type(document), 'value')}, not an object"
            raise InputError(f"{name}: not a lime-explain explanation ({what})") from None
    return out
