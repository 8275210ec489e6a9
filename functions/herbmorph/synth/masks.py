"""Organ ground truth from a binary mask: the one way both straight and turned sheets read it."""
from __future__ import annotations

import cv2
import numpy as np


def mask_truth(mask: np.ndarray, ox: int = 0, oy: int = 0) -> dict | None:
    """Polygons (largest first), box and pixel area of a uint8 mask placed at (ox, oy); None
    when it has no pixel."""
    area = int(mask.sum())
    if area == 0:
        return None
    cs, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cs = sorted(cs, key=lambda c: (cv2.contourArea(c), len(c)), reverse=True)
    polys = [(c.reshape(-1, 2) + [ox, oy]).tolist() for c in cs]
    ys, xs = np.nonzero(mask)
    bbox = [float(ox + xs.min()), float(oy + ys.min()), float(ox + xs.max() + 1), float(oy + ys.max() + 1)]
    return {"polygon": polys[0], "polygons": polys, "bbox": bbox, "area_px": area}
