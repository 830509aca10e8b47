"""Defaults and choice lists shared by the engine and the command-line options.

One place, so the engine, the options and the help text cannot disagree.
Plain constants only: importing this module must stay free (no NumPy), so
``--help`` can use it. A modality's own choices live in its package's
``choices`` module.
"""

from __future__ import annotations

#: Perturbed samples per explanation (lime 0.2.0.1's default for text and tables).
NUM_SAMPLES = 5000
#: Features reported per explained label (lime's default).
NUM_FEATURES = 10
#: How the surrogate's features are chosen; ``auto`` is forward selection up
#: to :data:`AUTO_FORWARD_LIMIT` features and the highest weights above, as lime.
FEATURE_SELECTIONS = ("auto", "forward", "highest", "lasso", "none")
FEATURE_SELECTION = "auto"
AUTO_FORWARD_LIMIT = 6
#: The surrogate's ridge penalty (lime's Ridge(alpha=1)).
RIDGE_ALPHA = 1.0

#: Model file formats the loader reads.
MODEL_FORMATS = ("joblib", "pickle", "skops", "onnx", "xgboost", "lightgbm")
#: What an explanation explains: class probabilities or a regressor's value.
MODES = ("classification", "regression")

#: ``--num-samples auto``: the first round and the cap (rounds at most double).
#: 625 -> 20000 gives the rounds 625, 1250, 2500, 5000, 10000, 20000: one
#: lands on :data:`NUM_SAMPLES` (where auto, without ``--stability``, is as
#: stable as a fixed run and stops) and one at a quarter of it.
MIN_SAMPLES = 625
MAX_SAMPLES = 20000
#: Confidence of intervals, ties and the adaptive stop rule.
CONFIDENCE = 0.95
#: Weight differences within this share of the largest weight are ties.
TIE_TOLERANCE = 0.05
