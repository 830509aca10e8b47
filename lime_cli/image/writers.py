"""The image modality's output files, drawn from the explanation alone.

Every writer reads the explained picture and its segment map from the
explanation's ``input`` (see :func:`lime_cli.image.pictures.picture_of`), and
the user's photo with the geometry that maps superpixels onto it
(:func:`lime_cli.image.photo.photo_of`), so ``lime-explain render saved.json
--out x.png`` draws the same file as the run that made the JSON, without the
model or the original image. The PNGs are drawn on the photo unless the run
said ``--draw-on model`` (``params.draw_on``) or the explanation carries no
photo (saved by an older version): then on the model's picture, as before.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import IO, Any

from lime_cli.explanation import Explanation, LabelExplanation
from lime_cli.image.choices import DRAW_ON_DEFAULT, NUM_SHOWN


def write_masked(path: str, explanations: list[Explanation]) -> None:
    """``--out PATH.png``: one masked picture per (image, label)."""
    _write_pictures(path, explanations, "masked")


def write_heatmap(path: str, explanations: list[Explanation]) -> None:
    """``--heatmap PATH.png``: one weight heatmap per (image, label)."""
    _write_pictures(path, explanations, "heatmap")


def _write_pictures(path: str, explanations: list[Explanation], kind: str) -> None:
    from lime_cli.image.pictures import picture_of, png_bytes
    from lime_cli.output import atomic_write

    canvases: dict[int, Any] = {}
    for target, explanation, label in label_paths(path, explanations):
        image, segments = picture_of(explanation)
        if id(explanation) not in canvases:  # decoded once per image, not per label
            canvases[id(explanation)] = canvas_for(explanation, image, segments)
        canvas = canvases[id(explanation)]
        pixels = draw_picture(explanation, label, image, segments, kind, canvas=canvas)
        atomic_write(target, _bytes_writer(png_bytes(pixels)))


def draws_on_photo(explanation: Explanation) -> bool:
    """True when the run asked for pictures on the photo (the default) and saved one."""
    return explanation.params.get("draw_on", DRAW_ON_DEFAULT) == "photo" and isinstance(
        explanation.input.get("photo"), dict
    )


def canvas_for(explanation: Explanation, image: Any, segments: Any) -> Any:
    """What the pictures of ``explanation`` are drawn on: the photo, or the model's picture."""
    from lime_cli.image.photo import photo_of
    from lime_cli.image.pictures import model_canvas, photo_canvas

    found = photo_of(explanation) if draws_on_photo(explanation) else None
    if found is None:
        return model_canvas(image, segments)
    photo, geometry = found
    return photo_canvas(photo, geometry)


def draw_picture(
    explanation: Explanation,
    label: LabelExplanation,
    image: Any,
    segments: Any,
    kind: str,
    canvas: Any = None,
) -> Any:
    """The (H, W, 3) uint8 picture of ``kind`` for one label, with its legend.

    Drawn on ``canvas`` (default: :func:`canvas_for`, the photo when there is
    one); on a photo the model saw only part of, the legend says the darkened
    parts were cut off, and a photo stored downscaled says so too.

    - ``heatmap``: every superpixel tinted by its weight, and a colour scale.
    - ``masked``: the K (``--num-features``) superpixels of largest |weight|, in
      colour and numbered by their rank in the table, outlined solid blue
      (towards the label) or dashed red (against it); with ``--positive-only``
      (``params.positive_only``) lime's ``get_image_and_mask`` picture instead:
      the K strongest towards the label, outlined in yellow.
    """
    from lime_cli.image.pictures import (
        draw_numbers,
        heatmap,
        masked_image,
        strongest_image,
        with_legend,
    )

    canvas = canvas if canvas is not None else canvas_for(explanation, image, segments)
    weights = [(f.index, f.weight) for f in label.features]
    shown = _shown(explanation)
    name = label.label
    notes = _photo_notes(explanation, canvas)
    if kind == "heatmap":
        top = max((abs(w) for _, w in weights), default=0.0)
        pixels = heatmap(image, segments, weights, canvas)
        lines = [f"Every superpixel's weight for {name!r}.", *notes]
        return with_legend(pixels, lines, scale=top)
    if explanation.params.get("positive_only"):
        pixels = masked_image(image, segments, weights, shown, canvas)
        return with_legend(pixels, [f"The {shown} superpixels most towards {name!r}.", *notes])
    pixels, placed = strongest_image(image, segments, weights, shown, canvas)
    draw_numbers(pixels, placed)
    return with_legend(
        pixels,
        [f"{len(placed)} strongest superpixels for {name!r}, numbered as in the table.",
         "Solid blue: towards it. Dashed red: against it.", *notes],
    )  # fmt: skip


def _photo_notes(explanation: Explanation, canvas: Any) -> list[str]:
    """Legend lines about the photo: what the model did not see, and its stored size."""
    from lime_cli.image.photo import crop_words, photo_note

    if canvas.geometry is None:
        return []
    notes = []
    if canvas.crops:
        notes.append(f"Darkened: outside the model's view (it saw {crop_words(explanation)}).")
    note = photo_note(explanation)
    if note:
        notes.append(note)
    return notes


def write_segment_maps(path: str, explanations: list[Explanation]) -> None:
    """``--out PATH.npy``: one int32 superpixel map per image."""
    import numpy as np

    from lime_cli.image.pictures import picture_of
    from lime_cli.output import atomic_write

    for explanation, part in zip(explanations, _image_parts(explanations)):
        segments = np.ascontiguousarray(picture_of(explanation)[1], dtype=np.int32)
        target = _with_suffix(path, [part] if part else [])
        atomic_write(target, _npy_writer(segments))


def _bytes_writer(data: bytes) -> Callable[[IO[bytes]], object]:
    return lambda fh: fh.write(data)


def _npy_writer(array: Any) -> Callable[[IO[bytes]], object]:
    import numpy as np

    return lambda fh: np.save(fh, array, allow_pickle=False)


def _shown(explanation: Explanation) -> int:
    return int(explanation.params.get("num_features_shown", NUM_SHOWN))


def label_paths(
    path: str, explanations: list[Explanation]
) -> list[tuple[str, Explanation, LabelExplanation]]:
    """One file per (image, label); PATH itself when there is only one."""
    several_labels = any(len(e.explanations) > 1 for e in explanations)
    out = []
    for explanation, image_part in zip(explanations, _image_parts(explanations)):
        for label in explanation.explanations:
            parts = [image_part] if image_part else []
            if several_labels:
                parts.append(_slug(label.label))
            out.append((_with_suffix(path, parts), explanation, label))
    return out


def _image_parts(explanations: list[Explanation]) -> list[str]:
    """A file-name part per image (its stem, numbered if stems repeat); '' for one image."""
    if len(explanations) <= 1:
        return [""] * len(explanations)
    stems = [_slug(_stem(str(e.input.get("name", "")))) for e in explanations]
    if len(set(stems)) < len(stems):
        stems = [f"{i}-{stem}" for i, stem in enumerate(stems, start=1)]
    return stems


def _stem(name: str) -> str:
    """An input's name without its folder and file extension, keeping what follows
    the extension: a table's row (``rows.csv row 3`` -> ``rows row 3``) or a
    document's line (``notes.txt:3`` -> ``notes:3``), so files of rows of one CSV
    are told apart by their row, not by a counter."""
    return re.sub(r"\.[A-Za-z0-9]{1,5}(?=( row \d+|:\d+)?$)", "", os.path.basename(name))


def _with_suffix(path: str, parts: list[str]) -> str:
    if not parts:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}-{'-'.join(parts)}{ext}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "_", text).strip("_.") or "image"
