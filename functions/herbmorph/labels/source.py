"""What every label format is read into: images, each with its instances as polygons in
normalised [0, 1] image coordinates under the label file's own class names.

Class names stay the user's until :mod:`.dataset` maps them to ours, so the reader never needs
to know our classes and every report can name the user's classes as the user wrote them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HerbmorphError

# A labelling tool may put a vertex a pixel or so past the edge (CVAT rounds, Label Studio
# stores percentages); that much is clipped. Further out, the labels and the image disagree.
EDGE_TOLERANCE_PX = 2.0


class LabelError(HerbmorphError):
    """A label file that cannot be trained on: the message says what and where."""

    kind = "bad-labels"


@dataclass
class Instance:
    label: str  # the label file's class name
    polygons: list[np.ndarray]  # one or more (N, 2) float arrays, normalised to [0, 1]


@dataclass
class LabelledImage:
    key: str  # the image as the label file names it (file_name, or its path under the dataset root)
    path: Path | None  # the image file, or None where it was not found
    instances: list[Instance] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (width, height) the label file claims, when it does
    split: str | None = None  # "train" / "val" where the label file already says


@dataclass
class LabelSet:
    format: str  # "coco" or "yolo-seg"
    source: Path  # the JSON file or the data.yaml
    class_names: dict[int, str]  # the label file's classes, in its own order
    images: list[LabelledImage]
    dropped: Counter = field(default_factory=Counter)  # why annotations were not used → how many
    notes: list[str] = field(default_factory=list)  # what a user should know about how it was read


def out_of_bounds(points: np.ndarray, width: float, height: float) -> bool:
    """True when a polygon (in pixels) reaches further outside the image than a labelling tool's rounding."""
    t = EDGE_TOLERANCE_PX
    return bool((points[:, 0] < -t).any() or (points[:, 1] < -t).any()
                or (points[:, 0] > width + t).any() or (points[:, 1] > height + t).any())


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) as a labelling tool and Ultralytics see the image: EXIF orientation applied.
    Reads the header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError) as exc:
        raise LabelError(f"cannot read the image {path}: {exc}") from exc
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)  # 5–8: turned a quarter


def polygon_area(points: np.ndarray) -> float:
    """Shoelace area of an (N, 2) polygon, in its own units."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))
