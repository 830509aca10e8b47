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
    """

    feature: str
    weight: float
    index: int
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feature": self.feature, "weight": self.weight, "index": self.index}
        out.update(self.info)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureWeight:
        info = {k: v for k, v in data.items() if k not in ("feature", "weight", "index")}
        return cls(str(data["feature"]), float(data["weight"]), int(data.get("index", -1)), info)


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "label_index": self.label_index,
            "intercept": self.intercept,
            "score": self.score,
            "local_prediction": self.local_prediction,
            "model_prediction": self.model_prediction,
            "features": [f.to_dict() for f in self.features],
        }

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
        )


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
            raise ValueError(f"unsupported schema_version {version!r} (expected {SCHEMA_VERSION})")
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
        try:
            out.append(Explanation.from_dict(document))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{name}: not a lime-explain explanation ({exc})") from None
    return out
