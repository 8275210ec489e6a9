"""A model's class names, mapped to our organ classes by name, never by index.

Production users bring their own weights (a YOLO11x-seg trained on their herbarium's labels):
its classes may come in another order, spelt otherwise ("Leaves", "inflorescence"), or include
labels that are not organs ("ruler", "barcode"). Reading organs by index would silently call
every leaf a stem. So every class is matched by name (case-insensitive, with common synonyms);
non-organ labels and unknown names are dropped from the organs; a model with no organ class at
all is refused at start-up.
"""
from __future__ import annotations

import logging
import re

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


def organ_class_map(names: dict[int, str]) -> dict[int, str | None]:
    """Model class index → our organ class, or None where the class is not an organ."""
    out: dict[int, str | None] = {}
    for idx, name in sorted(names.items()):
        organ = _BY_NAME.get(normalise(name))
        if organ is None and normalise(name) not in NON_ORGANS:
            log.warning("model class %r is not an organ class we know; its detections are dropped", name)
        out[int(idx)] = organ
    if not any(out.values()):
        raise ModelError(
            f"the organ model has no organ class: its classes are {sorted(set(names.values()))}, none of which is "
            f"{', '.join(ORGAN_CLASSES)} or a common synonym. Point HERBMORPH_SEGMENT_WEIGHTS at an organ "
            "segmentation model.")
    return out
