"""The image command's choice lists and defaults, importable without NumPy (for ``--help``)."""

from __future__ import annotations

#: lime's image explainer defaults: fewer samples than text (each is a model
#: call on a whole picture) and the five strongest superpixels shown.
NUM_SAMPLES = 1000
NUM_SHOWN = 5
#: ``--num-samples auto`` for images: a smaller first round and cap (each
#: sample is a forward pass of a network).
#: 125 -> 4000 gives 125, 250, 500, 1000, 2000, 4000 (one round on NUM_SAMPLES).
MIN_SAMPLES = 125
MAX_SAMPLES = 4000
SEGMENTERS = ("quickshift", "slic", "felzenszwalb")
#: Pillow's resampling filters by name.
INTERPOLATIONS = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")
INTERPOLATION = "bicubic"
CHANNELS = ("rgb", "bgr", "grey")
LAYOUTS = ("nchw", "nhwc", "flat")
OUTPUT_KINDS = ("probabilities", "logits", "auto")
#: Files a directory argument contributes.
SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: What the PNG, the heatmap and the report's pictures are drawn on: the
#: user's photo (default; the model's crop mapped back onto it) or the
#: model's input picture (the crop, as before).
DRAW_ON = ("photo", "model")
DRAW_ON_DEFAULT = "photo"
#: Photos with more pixels are stored in the JSON (and drawn) downscaled to
#: about this many: one megapixel (see lime_cli/image/photo.py for why).
PHOTO_MAX_PIXELS = 1 << 20
