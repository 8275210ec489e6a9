"""A model's class names, mapped to our organ classes by name, never by index.

Production users bring their own weights (a YOLO11x-seg trained on their herbarium's labels):
its classes may come in another order, spelt otherwise ("Leaves", "inflorescence"), or include
labels that are not organs ("ruler", "barcode"). Reading organs by index would silently call
every leaf a stem. So every class is matched by name (case-insensitive, with common synonyms);
non-organ labels and unknown names are dropped from the organs; a model with no organ class at
all is refused at start-up. The same mapping reads the class names of a herbarium's own label
files (``herbmorph train --labels``, :mod:`herbmorph.labels`).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..errors import ModelError
from ..results import ORGAN_CLASSES

log = logging.getLogger(__name__)

SYNONYMS: dict[str, tuple[str, ...]] = {
    "leaf": ("leaf", "leaves", "foliage", "lamina", "leaflet", "leaflets", "needle", "needles", "frond", "fronds"),
    "stem": ("stem", "stems", "stalk", "stalks", "branch", "branches", "twig", "twigs", "culm", "culms", "shoot"),
    "flower": ("flower", "flowers", "inflorescence", "inflorescences", "bloom", "blossom", "blossoms", "floret"),
    "fruit": ("fruit", "fruits", "infructescence", "berry", "berries", "pod", "pods", "capsule", "capsules", "cone",
              "cones"),
    "root": ("root", "roots", "rhizome", "rhizomes", "tuber", "tubers", "bulb", "bulbs"),
    "seed": ("seed", "seeds"),
}
assert set(SYNONYMS) == set(ORGAN_CLASSES)
NON_ORGANS = ("scale", "scale bar", "ruler", "label", "barcode", "colour chart", "color chart", "colour card",
              "color card", "colour target", "color target", "stamp", "envelope", "tape", "text", "background",
              "specimen label", "annotation", "coin")

_BY_NAME = {syn: organ for organ, syns in SYNONYMS.items() for syn in syns}


def normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()


def organ_for(name: str) -> str | None:
    """Our organ class for a class name ("Leaves" → "leaf"), or None."""
    return _BY_NAME.get(normalise(name))


@dataclass(frozen=True)
class ClassMapping:
    """Where each of a model's (or a label file's) classes goes."""

    organs: dict[int, str | None]  # class index → our organ class, None when dropped
    non_organs: tuple[str, ...]  # known non-organ labels (a ruler, a barcode): dropped quietly
    unknown: tuple[str, ...]  # names we do not know: dropped, with a warning

    @property
    def any_organ(self) -> bool:
        return any(self.organs.values())


def map_classes(names: dict[int, str]) -> ClassMapping:
    """Class index → our organ class, by name (case-insensitive, with synonyms), never by index."""
    organs: dict[int, str | None] = {}
    non_organs, unknown = [], []
    for idx, name in sorted(names.items()):
        organ = organ_for(name)
        if organ is None:
            (non_organs if normalise(name) in NON_ORGANS else unknown).append(str(name))
        organs[int(idx)] = organ
    return ClassMapping(organs, tuple(non_organs), tuple(unknown))


def organ_class_map(names: dict[int, str]) -> dict[int, str | None]:
    """Model class index → our organ class, or None where the class is not an organ.

    Raises ModelError for a model with no organ class at all: every sheet would come back with
    no organs, which looks like a result but is a misconfiguration."""
    mapping = map_classes(names)
    if mapping.unknown:
        log.warning("model classes %s are not organ classes we know; their detections are dropped",
                    ", ".join(repr(n) for n in mapping.unknown))
    if not mapping.any_organ:
        raise ModelError(
            f"the organ model has no organ class: its classes are {sorted(set(map(str, names.values())))}, none of "
            f"which is {', '.join(ORGAN_CLASSES)} or a common synonym. Point HERBMORPH_SEGMENT_WEIGHTS at an organ "
            "segmentation model.")
    return mapping.organs
