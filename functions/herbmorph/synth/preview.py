"""Draw a sheet's ground truth over its image, for eyeballing the generator."""
from __future__ import annotations

import cv2
import numpy as np

from ..results import ORGAN_CLASSES

CLASS_COLOURS = {  # RGB
    "leaf": (40, 200, 40), "stem": (230, 140, 20), "flower": (230, 40, 200),
    "fruit": (230, 30, 30), "root": (120, 70, 20), "seed": (30, 90, 230),
}


def draw_gt(image: np.ndarray, gt: dict, max_side: int = 1600) -> np.ndarray:
    """RGB preview (long side ≤ max_side): organ polygons by class, ruler box, digit centres."""
    H, W = image.shape[:2]
    f = min(1.0, max_side / max(H, W))
    out = cv2.resize(image, (round(W * f), round(H * f)), interpolation=cv2.INTER_AREA) if f < 1 else image.copy()
    t = max(1, round(2 * max(out.shape) / 1600))
    for o in gt.get("organs", []):
        col = CLASS_COLOURS.get(o["class"], (255, 255, 0))
        for p in o.get("polygons") or [o["polygon"]]:
            q = np.round((np.asarray(p, np.float64) + 0.5) * f - 0.5).astype(np.int32)
            cv2.polylines(out, [q], True, col, t, cv2.LINE_AA)
        x1, y1 = o["bbox"][:2]
        cv2.putText(out, f"{o['class']} {o['area_px']}", (int(x1 * f), max(10, int(y1 * f) - 3)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35 * t, col, 1, cv2.LINE_AA)
    sc = gt.get("scale")
    boxes = ([("scale", sc)] if sc else []) + [(d["kind"], d) for d in gt.get("distractors", [])]
    for kind, b in boxes:
        x1, y1, x2, y2 = [v * f for v in b["bbox"]]
        col = (255, 0, 0) if kind == "scale" else (0, 160, 255)
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), col, t)
        for d in b.get("digits", []):
            c = (0, 200, 0) if d["unit"] == "cm" else (200, 0, 200) if d["unit"] == "inch" else (0, 120, 255)
            cv2.drawMarker(out, (int(d["cx"] * f), int(d["cy"] * f)), c, cv2.MARKER_CROSS, 6 * t, 1)
    if sc:
        x, y = sc["tick0"]
        dx, dy = sc["axis"]
        L = gt["px_per_cm"] * f
        cv2.arrowedLine(out, (int(x * f), int(y * f)), (int(x * f + dx * L), int(y * f + dy * L)),
                        (255, 0, 0), t, cv2.LINE_AA, tipLength=0.3)
    return out


__all__ = ["draw_gt", "CLASS_COLOURS", "ORGAN_CLASSES"]
