"""Organ coverage on real sheets: the union of organ polygons against hand-checked plant masks.

``masks/<stem>.png`` beside (or given apart from) the sheets: white = plant material, black =
everything else, the size of the sheet. For each sheet, the polygons of every organ the model
found (at the settings' confidence) are filled into one mask, and compared pixel by pixel:
IoU, recall (share of the plant covered) and precision (share of the covered pixels that are
plant). No class is involved: the masks know plant from not-plant only.

It also counts the organs whose mask is cut by its own box (:func:`cut_by_box`): a mask must
follow the organ, and one that ends on a straight side of its box, away from the image border,
was clipped where the box was too small.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .results import ResultDocument


def organ_union(doc: ResultDocument, hw: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(hw, np.uint8)
    for o in doc.organs:
        if len(o.polygon) >= 3:
            cv2.fillPoly(mask, [np.round(np.asarray(o.polygon, np.float64)).astype(np.int32)], 1)
    return mask.astype(bool)


#: a side counts as cut when the polygon runs along it, within this many pixels, over this share
#: of its length: an organ's outline touches its box at a point or two, a clipped mask along it
CUT_TOLERANCE_PX = 1.5
CUT_SHARE = 0.5


def cut_by_box(polygon, bbox, hw: tuple[int, int]) -> list[str]:
    """The sides (``left``, ``top``, ``right``, ``bottom``) of ``bbox`` along which ``polygon``
    runs straight for at least half the side's length, sides at the image border left out."""
    pts = np.asarray(polygon, np.float64)
    if len(pts) < 3:
        return []
    x1, y1, x2, y2 = bbox
    h, w = hw
    cut = []
    for name, axis, at, length, border in (("left", 0, x1, y2 - y1, x1 <= CUT_TOLERANCE_PX),
                                           ("right", 0, x2, y2 - y1, x2 >= w - 1 - CUT_TOLERANCE_PX),
                                           ("top", 1, y1, x2 - x1, y1 <= CUT_TOLERANCE_PX),
                                           ("bottom", 1, y2, x2 - x1, y2 >= h - 1 - CUT_TOLERANCE_PX)):
        if border or length <= 0:
            continue
        on = np.abs(pts[:, axis] - at) <= CUT_TOLERANCE_PX
        run = 0.0  # the length of the polygon's edges whose both ends lie on this side
        for i in range(len(pts)):
            j = (i + 1) % len(pts)
            if on[i] and on[j]:
                run += abs(pts[j, 1 - axis] - pts[i, 1 - axis])
        if run >= CUT_SHARE * length:
            cut.append(name)
    return cut


def coverage(pred: np.ndarray, truth: np.ndarray) -> dict:
    inter = int(np.logical_and(pred, truth).sum())
    union = int(np.logical_or(pred, truth).sum())
    p, t = int(pred.sum()), int(truth.sum())
    return {"iou": inter / union if union else 1.0, "recall": inter / t if t else 1.0,
            "precision": inter / p if p else (1.0 if t == 0 else 0.0)}


def evaluate_plant_masks(pipeline, sheets: Path, masks: Path, progress=None) -> dict:
    rows = []
    for mask_path in sorted(masks.glob("*.png")):
        image = next((p for p in sorted(sheets.glob(mask_path.stem + ".*")) if p != mask_path), None)
        truth = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if image is None or truth is None:
            continue
        m = pipeline.measure(image, str(image))
        row = {"sheet": image.name, "organs": None, "cut_by_box": None, "iou": None, "recall": None,
               "precision": None, "error": None}
        if not isinstance(m.doc, ResultDocument):
            row["error"] = f"{m.doc.error.kind}: {m.doc.error.message[:100]}"
        else:
            hw = (m.doc.image.height, m.doc.image.width)
            if truth.shape != hw:  # a mask made at another size: compare at the sheet's
                truth = cv2.resize(truth, hw[::-1], interpolation=cv2.INTER_NEAREST)
            row["cut_by_box"] = sum(bool(cut_by_box(o.polygon, o.bbox, hw)) for o in m.doc.organs)
            row.update(organs=len(m.doc.organs), **{k: round(v, 3) for k, v in
                                                    coverage(organ_union(m.doc, hw), truth > 127).items()})
        rows.append(row)
        if progress:
            progress()
    done = [r for r in rows if r["error"] is None]

    def median(key):
        return round(float(np.median([r[key] for r in done])), 3) if done else None

    return {"sheets": len(rows), "errors": len(rows) - len(done), "iou_median": median("iou"),
            "recall_median": median("recall"), "precision_median": median("precision"),
            "iou_min": min((r["iou"] for r in done), default=None),
            "organs": sum(r["organs"] for r in done), "cut_by_box": sum(r["cut_by_box"] for r in done), "rows": rows}
