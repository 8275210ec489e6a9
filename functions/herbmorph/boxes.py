"""Axis-aligned box arithmetic on ``[x1, y1, x2, y2]`` lists, shared by the scale core and the evaluation."""
from __future__ import annotations

import numpy as np


def box_area(a) -> float:
    return max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])


def box_intersection(a, b) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    return ix * iy if ix > 0 and iy > 0 else 0.0


def box_iou(a, b) -> float:
    inter = box_intersection(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def covers_smaller(a, b, share: float) -> bool:
    """Their intersection covers at least ``share`` of the smaller box (a fragment of the other)."""
    return box_intersection(a, b) >= share * max(min(box_area(a), box_area(b)), 1e-9)


def covers_smaller_any(boxes: np.ndarray, b, share: float) -> bool:
    """:func:`covers_smaller` of ``b`` against each row of ``boxes`` (n × 4) at once: true if any."""
    if not len(boxes):
        return False
    ix = np.minimum(boxes[:, 2], b[2]) - np.maximum(boxes[:, 0], b[0])
    iy = np.minimum(boxes[:, 3], b[3]) - np.maximum(boxes[:, 1], b[1])
    inter = np.where((ix > 0) & (iy > 0), ix * iy, 0.0)
    areas = np.maximum(0.0, boxes[:, 2] - boxes[:, 0]) * np.maximum(0.0, boxes[:, 3] - boxes[:, 1])
    return bool(np.any(inter >= share * np.maximum(np.minimum(areas, box_area(b)), 1e-9)))
