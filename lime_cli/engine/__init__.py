"""The modality-agnostic LIME loop: sample, predict in batches, weigh, select, fit."""

from lime_cli.engine.explain import (
    LabelRequest,
    LimeParams,
    explain,
    explain_predictions,
    predict_samples,
)

__all__ = ["LabelRequest", "LimeParams", "explain", "explain_predictions", "predict_samples"]
