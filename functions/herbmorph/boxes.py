"""Axis-aligned box arithmetic on ``[x1, y1, x2, y2]`` lists, shared by the scale core and the evaluation."""
from __future__ import annotations


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
