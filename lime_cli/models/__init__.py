"""Loading model files and adapting any model to ``predict(batch) -> (n, k)``."""

from lime_cli.models.loading import detect_format, load_model

__all__ = ["detect_format", "load_model"]
