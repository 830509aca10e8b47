"""Explanations with known contents for the report tests (no model needed).

Each builder returns an :class:`Explanation` as a run would save it, with
weights chosen so the right rendering is known in advance.
"""

from __future__ import annotations

import numpy as np

from lime_cli.explanation import Explanation, FeatureWeight, LabelExplanation

TEXT = "Cheap pills! Buy cheap pills now.\nMeeting moved to Friday, see agenda."
#: (word, weight); positions are found in TEXT.
TEXT_WEIGHTS = [("cheap", 0.0), ("pills", 0.31), ("Buy", 0.22), ("Meeting", -0.18),
                ("agenda", -0.07), ("now", 0.05)]  # fmt: skip


def _label(name, index, features, **extra):
    label = LabelExplanation(name, index, 0.1, 0.87, 0.6, 0.62, features)
    for key, value in extra.items():
        setattr(label, key, value)
    return label


def text_explanation(*, uncertainty=False, checks=None, name="mail.txt") -> Explanation:
    features = []
    for index, (word, weight) in enumerate(TEXT_WEIGHTS):
        positions = [i for i in range(len(TEXT)) if TEXT.startswith(word, i)]
        feature = FeatureWeight(word, weight, index, {"positions": positions})
        if uncertainty:  # as the engine sets them (lime_cli.engine.explain._add_confidence)
            feature.stderr, feature.interval = 0.01, (weight - 0.02, weight + 0.02)
            feature.tied = index in (4, 5)  # agenda and now
        features.append(feature)
    features = [f for f in features if f.weight != 0]
    features.sort(key=lambda f: -abs(f.weight))
    extra = {}
    if uncertainty:
        extra["stability"] = {"measure": "jaccard", "k": 10, "value": 0.83, "spread": 0.04,
                              "verdict": "stable"}  # fmt: skip
        extra["ties"] = {"groups": [["agenda", "now"]], "uncertain": [], "contenders": []}
    params = {"num_samples": 500, "num_features": 10, "kernel_width": 25.0, "seed": 7,
              "feature_selection": "auto"}  # fmt: skip
    if uncertainty:  # an auto run's record (lime_cli.engine.explain.finished)
        params.update(num_samples=400, num_samples_requested="auto", min_samples=200,
                      max_samples=20000, stop_reason="stable", rounds=[200, 400],
                      confidence=0.95)  # fmt: skip
    return Explanation(
        modality="text",
        input={"name": name, "text": TEXT, "num_features": len(TEXT_WEIGHTS)},
        model={
            "path": "spam.joblib",
            "mode": "classification",
            "classes": ["ham", "spam"],
            "type": "Pipeline(TfidfVectorizer, LogisticRegression)",
        },  # fmt: skip
        prediction={"probabilities": {"ham": 0.38, "spam": 0.62}, "predicted": "spam"},
        params=params,
        explanations=[_label("spam", 1, features, **extra)],
        checks=list(checks or []),
    )


def image_explanation(size: int = 48, photo: tuple[int, int] | None = None) -> Explanation:
    """A size x size picture cut in four quadrants: 0 and 3 towards, 1 against, 2 nothing.

    With ``photo`` (width, height): the picture is the centre of a photo of that size
    (shorter side resized to ``size``, centre crop), which the explanation carries.
    """
    from lime_cli.image.pictures import encode_picture, encode_segments

    rng = np.random.default_rng(0)
    pixels = rng.integers(60, 200, size=(size, size, 3), dtype=np.uint8)
    extra = {}
    if photo is not None:
        from PIL import Image

        from lime_cli.image.photo import encode_photo
        from lime_cli.image.preprocess import Preprocessing, apply_geometry, geometry_of

        spec = Preprocessing(resize=size, crop=(size, size))
        image = Image.fromarray(photo_pixels(*photo), "RGB")
        pixels = np.asarray(apply_geometry(image, spec, "photo.png"))
        extra = {"geometry": geometry_of(image.size, spec).to_dict(),
                 "photo": encode_photo(image)}  # fmt: skip
    segments = np.zeros((size, size), dtype=np.int32)
    half = size // 2
    segments[:half, half:] = 1
    segments[half:, :half] = 2
    segments[half:, half:] = 3
    features = [
        FeatureWeight("superpixel 3", 0.4, 3),
        FeatureWeight("superpixel 1", -0.3, 1),
        FeatureWeight("superpixel 0", 0.1, 0),
        FeatureWeight("superpixel 2", 0.0, 2),
    ]
    return Explanation(
        modality="image",
        input={"name": "quadrants.png", "width": size, "height": size,
               "picture": encode_picture(pixels), "segment_map": encode_segments(segments),
               **extra},
        model={"path": "net.onnx", "mode": "classification", "classes": ["cat", "dog"]},
        prediction={"probabilities": {"cat": 0.7, "dog": 0.3}, "predicted": "cat"},
        params={"num_samples": 100, "num_features": 4, "num_features_shown": 3, "seed": 3},
        explanations=[_label("cat", 0, features)],
    )  # fmt: skip


def photo_pixels(width: int, height: int) -> np.ndarray:
    """A smooth colour photo (gradients and stripes: small as PNG or JPEG, not flat)."""
    ys, xs = np.mgrid[0:height, 0:width]
    red = 40 + 160 * xs / max(1, width - 1)
    green = 40 + 160 * ys / max(1, height - 1)
    blue = 120 + 60 * np.sin(xs / 7.0) * np.cos(ys / 5.0)
    return np.clip(np.stack([red, green, blue], axis=2), 0, 255).astype(np.uint8)


def tabular_explanation(row: int = 0) -> Explanation:
    features = [
        FeatureWeight(
            "bill_length_mm > 48.50", 0.51, 1, {"column": "bill_length_mm", "value": 52.0}
        ),
        FeatureWeight("sex = male", -0.1, 5, {"column": "sex", "value": "male"}),
        FeatureWeight("island = Dream", 0.23, 0, {"column": "island", "value": "Dream"}),
    ]
    return Explanation(
        modality="tabular",
        input={"name": f"penguins.csv row {row}", "row": row,
               "values": {"island": "Dream", "bill_length_mm": 52.0, "sex": "male"}},
        model={"path": "penguins.joblib", "mode": "classification",
               "classes": ["Adelie", "Chinstrap", "Gentoo"]},
        prediction={"probabilities": {"Adelie": 0.01, "Chinstrap": 0.98, "Gentoo": 0.01},
                    "predicted": "Chinstrap"},
        params={"num_samples": 500, "num_features": 10, "seed": 11},
        explanations=[_label("Chinstrap", 1, features)],
    )  # fmt: skip
