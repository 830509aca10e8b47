"""What the HTML report shows of an image explanation: a backdrop and where superpixels are.

The report lays transparent overlays (outlines, heatmap tint) and numbers over
one backdrop per image: the user's photo by default, or the model's picture
(``--draw-on model``, or an explanation without a photo), as the PNGs are
drawn (:mod:`lime_cli.image.writers`).

The report shows each figure 20rem (320 CSS pixels) wide, so a photo is shown
at most :data:`PAGE_PHOTO_SIDE` pixels on its longer side (sharp at 2x zoom
or on a high-density screen): a larger stored photo gets a reduced JPEG
copy, which keeps a page with one image under 1 MB although the page also
embeds the explanation's JSON (with the stored photo) for programs.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Longer side, in pixels, of the photo and overlays shown in the report.
PAGE_PHOTO_SIDE = 640
#: JPEG quality of a reduced copy (the stored photo is used as it is when small enough).
PAGE_JPEG_QUALITY = 85


@dataclass(frozen=True)
class PageView:
    """The backdrop (``mime``, base64 ``data``) and, at the overlays' size, the
    superpixel of each pixel (``labels``, -1 where the model saw nothing);
    ``segments`` is the superpixel map at the model's resolution.

    ``count`` is the number of superpixels; ``line`` and ``dash`` the outline
    width and dash length in overlay pixels; ``smooth`` says the backdrop is a
    photo to be scaled smoothly (a small picture is shown with its pixels as
    blocks); ``caption`` says what the backdrop is.
    """

    mime: str
    data: str
    segments: np.ndarray
    labels: np.ndarray
    count: int
    line: int
    dash: int
    smooth: bool
    caption: str
    canvas: Any = None  # a photo's pictures.Canvas; None for the model's picture

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the overlays."""
        return (int(self.labels.shape[1]), int(self.labels.shape[0]))

    def position(self, row: int, col: int) -> tuple[float, float]:
        """(left, top) in percent of the figure, of the centre of superpixel-map
        pixel (row, col)."""
        width, height = self.size
        if self.canvas is None:
            return ((col + 0.5) / width * 100, (row + 0.5) / height * 100)
        y, x = self.canvas.point(row, col)
        return ((x + 0.5) / width * 100, (y + 0.5) / height * 100)


def page_view(explanation: Any, image: np.ndarray, segments: np.ndarray) -> PageView:
    """The report's view of an image explanation whose picture and map are given."""
    from lime_cli.image import pictures
    from lime_cli.image.photo import crop_words, photo_of
    from lime_cli.image.writers import draws_on_photo

    count = int(segments.max()) + 1 if segments.size else 0
    found = photo_of(explanation) if draws_on_photo(explanation) else None
    if found is None:
        height, width = segments.shape
        return PageView(
            "image/png",
            str(explanation.input["picture"].get("data", "")),
            segments,
            segments,
            count,
            line=2,
            dash=pictures.DASH,
            smooth=False,
            caption=f"Picture: what the model saw ({width}×{height}, after resizing and cropping).",
        )
    photo, geometry = found
    mime, data, shown = _backdrop(explanation.input["photo"], photo)
    geometry = geometry.scaled_to((shown.shape[1], shown.shape[0]))
    canvas = pictures.photo_canvas(shown, geometry)
    labels = pictures.canvas_labels(canvas, segments)
    line = max(2, round(max(labels.shape) / 150))  # about 2 CSS pixels at 20rem
    width, height = geometry.model
    stored = explanation.input["photo"]
    photo_width, photo_height = stored.get("downscaled_from") or (photo.shape[1], photo.shape[0])
    what = f"the photo ({photo_width}×{photo_height}"
    if stored.get("downscaled_from"):
        what += f", stored downscaled to {photo.shape[1]}×{photo.shape[0]}"
    if canvas.crops:
        caption = (
            f"Picture: {what}); the model saw the part inside the light frame "
            f"({crop_words(explanation, '×')}), not the darkened parts."
        )
    else:
        caption = f"Picture: {what}), all of which the model saw (as {width}×{height})."
    return PageView(
        mime,
        data,
        segments,
        labels,
        count,
        line=line,
        dash=max(pictures.DASH, 2 * line),
        smooth=canvas.k == 1,
        caption=caption,
        canvas=canvas,
    )


def _backdrop(stored: dict[str, Any], photo: np.ndarray) -> tuple[str, str, np.ndarray]:
    """(mime, base64 data, pixels) of the photo as the page shows it: the stored photo
    when its longer side is at most ``PAGE_PHOTO_SIDE``, else a reduced JPEG copy."""
    from PIL import Image

    height, width = photo.shape[:2]
    if max(width, height) <= PAGE_PHOTO_SIDE:
        mime = "image/png" if stored.get("format") == "png" else "image/jpeg"
        return mime, str(stored["data"]), photo
    factor = PAGE_PHOTO_SIDE / max(width, height)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    reduced = Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    reduced.save(buffer, format="JPEG", quality=PAGE_JPEG_QUALITY)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return "image/jpeg", data, np.asarray(reduced)
