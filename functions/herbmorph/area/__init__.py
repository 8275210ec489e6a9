"""Stage 3, area: px/cm + pixel areas -> cm², the final result document, openDS annotations and
the overlay PNG. CPU only; importing this package never imports torch, ultralytics or
tesserocr (the area container has none of them).

``render_overlay`` (OpenCV + Pillow) is imported on first use.
"""
from __future__ import annotations

from herbmorph.area.core import area_cm2, build_document, organs_with_area, usable_px_per_cm
from herbmorph.area.opends import annotation_event, default_creator, to_annotations
from herbmorph.area.opends_schema import validate_annotations, validate_event

__all__ = [
    "annotation_event",
    "area_cm2",
    "build_document",
    "default_creator",
    "organs_with_area",
    "render_overlay",
    "to_annotations",
    "usable_px_per_cm",
    "validate_annotations",
    "validate_event",
]


def __getattr__(name: str):
    if name == "render_overlay":
        from herbmorph.area.overlay import render_overlay

        return render_overlay
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
