"""The area core: pixel areas + px/cm -> cm², and the final result document.

Pure functions: no storage, no network, no torch. Everything here runs in the area container.
"""
from __future__ import annotations

import math
import time
from typing import Iterable, Mapping, Optional

from herbmorph.results import ImageInfo, ModelInfo, Organ, ResultDocument, ScaleResult, SegmentResult

CM2_DECIMALS = 4


def usable_px_per_cm(scale: ScaleResult) -> Optional[float]:
    """The scale factor if it may be used for physical units, else None.

    Only ``status == "ok"`` with a finite, positive ``px_per_cm`` counts: a wrong factor silently
    corrupts every area, a null is a visible absence.
    """
    if scale.status != "ok" or scale.px_per_cm is None:
        return None
    ppc = float(scale.px_per_cm)
    if not math.isfinite(ppc) or ppc <= 0:
        return None
    return ppc


def area_cm2(area_px: float, px_per_cm: Optional[float]) -> Optional[float]:
    """``area_px / px_per_cm²`` rounded to 4 decimals; None without a usable factor."""
    if px_per_cm is None or area_px is None:
        return None
    a = float(area_px)
    if not math.isfinite(a):
        return None
    return round(a / (px_per_cm * px_per_cm), CM2_DECIMALS)


def organs_with_area(organs: list[Organ], scale: ScaleResult) -> list[Organ]:
    """Copies of ``organs`` with ``area_cm2`` set (None everywhere when the scale is null)."""
    ppc = usable_px_per_cm(scale)
    return [o.model_copy(update={"area_cm2": area_cm2(o.area_px, ppc)}) for o in organs]


def build_document(
    image: ImageInfo,
    segment: SegmentResult,
    scale: ScaleResult,
    timings_ms: Mapping[str, float],
    errors: Iterable[str] = (),
) -> ResultDocument:
    """Join the segment and scale results into the final ``herbmorph/result/1`` document.

    ``models`` holds ``segment`` (always) and ``scale`` (when the scale result names its model).
    ``timings_ms["area"]`` is filled with this function's own time unless the caller gave one
    (an adapter that also writes the overlay and openDS files usually times the whole stage).
    """
    t0 = time.perf_counter()
    organs = organs_with_area(list(segment.organs), scale)
    models: dict[str, ModelInfo] = {}
    if segment.model is not None:
        models["segment"] = segment.model
    if scale.model is not None:
        models["scale"] = scale.model
    timings = {str(k): float(v) for k, v in dict(timings_ms).items()}
    if "area" not in timings:
        timings["area"] = round((time.perf_counter() - t0) * 1000.0, 3)
    return ResultDocument(
        image=image,
        scale=scale,
        organs=organs,
        models=models,
        timings_ms=timings,
        errors=[str(e) for e in errors],
    )
