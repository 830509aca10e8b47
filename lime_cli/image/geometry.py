"""Where the model's input lies in the user's photo, and how to carry a map back onto it.

The preprocessing (:func:`lime_cli.image.preprocess.apply_geometry`) resizes
the photo, W x H, to W1 x H1 and cuts a centre crop of w x h from that. Pillow
resizes by mapping pixel centres linearly (resized x = photo x * W1 / W), so the
crop is a box ``[left, top, right, bottom)`` in photo pixel coordinates:
``left = crop_left * W / W1`` and so on. Its edges are floats: a crop edge can
fall inside a photo pixel when the resize is not by a whole factor, and with
an exact ``--resize WxH`` the two axes have different scales. That box, the
photo's size and the model input's size are all it takes to map anything
drawn at the model's resolution (the superpixel map) back onto the photo.

Mapping is nearest neighbour: the photo pixel whose centre is
``(x + 0.5, y + 0.5)`` shows the model pixel
``floor((x + 0.5 - left) * w / (right - left))`` (rows alike). Photo pixels
outside the box were never seen by the model (cut by the crop); they map to
-1. Nearest neighbour keeps superpixel labels exact (no blending of ids) and
costs two small index arrays, one per axis, whatever the photo's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

Size = tuple[int, int]  # (width, height)
Box = tuple[float, float, float, float]  # [left, top, right, bottom)

#: Box coordinates are stored with this many decimals: exact for whole and
#: half pixels, and a millionth of a pixel otherwise (invisible at any size).
DECIMALS = 6


@dataclass(frozen=True)
class Geometry:
    """The photo's size, the box of it the model saw, and the model input's size.

    ``photo`` is (width, height) of the photo as decoded (upright, after its
    EXIF orientation); ``box`` is [left, top, right, bottom) in the photo's
    pixel coordinates; ``model`` is (width, height) of the model's input
    picture (``input.width`` and ``input.height``).
    """

    photo: Size
    box: Box
    model: Size

    @classmethod
    def whole(cls, size: Size) -> Geometry:
        """No resize, no crop: the model saw the photo as it is."""
        return cls(size, (0.0, 0.0, float(size[0]), float(size[1])), size)

    @property
    def covers_photo(self) -> bool:
        """True when the model saw every photo pixel (nothing was cropped away)."""
        left, top, right, bottom = self.box
        return left <= 0 and top <= 0 and right >= self.photo[0] and bottom >= self.photo[1]

    @property
    def resized(self) -> bool:
        """True when the model's picture is not the box's pixels one for one."""
        left, top, right, bottom = self.box
        return abs(right - left - self.model[0]) > 1e-6 or abs(bottom - top - self.model[1]) > 1e-6

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``input.geometry`` object."""
        return {
            "photo_size": [int(self.photo[0]), int(self.photo[1])],
            "box": [round(float(v), DECIMALS) for v in self.box],
            "model_size": [int(self.model[0]), int(self.model[1])],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Geometry:
        """The geometry of a JSON ``input.geometry`` object; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("input.geometry is not an object")
        try:
            photo = _size(data["photo_size"])
            model = _size(data["model_size"])
            box = tuple(float(v) for v in data["box"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"input.geometry is incomplete ({exc})") from None
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise ValueError("input.geometry.box must be four numbers")
        left, top, right, bottom = box
        if not (right > left and bottom > top):
            raise ValueError("input.geometry.box is empty")
        return cls(photo, (left, top, right, bottom), model)

    def scaled_to(self, size: Size) -> Geometry:
        """The same geometry on a copy of the photo resized to ``size`` (width, height)."""
        sx, sy = size[0] / self.photo[0], size[1] / self.photo[1]
        left, top, right, bottom = self.box
        return Geometry(size, (left * sx, top * sy, right * sx, bottom * sy), self.model)

    def index_maps(self, size: Size | None = None) -> tuple[np.ndarray, np.ndarray]:
        """For a canvas of ``size`` (width, height; default the photo's) showing the
        whole photo: the model row of each canvas row and the model column of each
        canvas column (int64), -1 where the model saw nothing."""
        width, height = size or self.photo
        left, top, right, bottom = self.box
        cols = _axis(width, self.photo[0], left, right, self.model[0])
        rows = _axis(height, self.photo[1], top, bottom, self.model[1])
        return rows, cols

    def point(self, row: float, col: float, size: Size | None = None) -> tuple[float, float]:
        """(y, x) on a canvas of ``size`` showing the photo, of the centre of model
        pixel (row, col)."""
        width, height = size or self.photo
        left, top, right, bottom = self.box
        x = left + (col + 0.5) * (right - left) / self.model[0]
        y = top + (row + 0.5) * (bottom - top) / self.model[1]
        return y * height / self.photo[1], x * width / self.photo[0]


def _axis(n: int, photo: int, low: float, high: float, model: int) -> np.ndarray:
    """Model index for each of ``n`` canvas pixels spanning ``photo`` photo pixels."""
    centres = (np.arange(n, dtype=np.float64) + 0.5) * (photo / n)
    index = np.floor((centres - low) * (model / (high - low))).astype(np.int64)
    index[(centres < low) | (centres >= high) | (index < 0) | (index >= model)] = -1
    return index


def _size(value: Any) -> Size:
    width, height = (int(v) for v in value)
    if width < 1 or height < 1:
        raise ValueError("sizes in input.geometry must be positive")
    return (width, height)
