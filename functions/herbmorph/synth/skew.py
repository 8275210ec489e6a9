"""Sheets photographed askew: the whole image turned by an arbitrary angle on a grey table.

Some collections photograph sheets on a copy stand rather than scanning them, and a sheet can
lie 30° off (a real SERNEC image does). The image is turned about its centre onto a larger
canvas of table grey; every ground-truth coordinate is mapped with the same affine, so the
ground truth stays exact: polygons and points are mapped, boxes become the boxes of their mapped
corners, and areas (a rotation keeps them) are unchanged.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..affine import map_box, map_points, turn_keeping_all
from .masks import mask_truth

SKEW_P = 0.12               # share of sheets turned
SKEW_DEG = (3.0, 35.0)      # |angle| range
MAX_SKEW_SIDE = 6000        # larger sheets stay straight (the turned canvas would be huge)


def _box(m: np.ndarray, b) -> list[float]:
    return [round(v, 3) for v in map_box(m, b)]


def _digits(m: np.ndarray, digits: list[dict]) -> list[dict]:
    out = []
    for d in digits:
        c = map_points(m, [d["cx"], d["cy"]])[0]
        out.append({**d, "cx": round(float(c[0]), 3), "cy": round(float(c[1]), 3), "bbox": _box(m, d["bbox"])})
    return out


def skew_sample(rng: np.random.Generator, image: np.ndarray, labels: np.ndarray, gt: dict):
    """Turn the sheet with probability SKEW_P; returns (image, labels, gt), gt["skew_deg"] set."""
    h, w = image.shape[:2]
    if rng.random() >= SKEW_P or max(h, w) > MAX_SKEW_SIDE:
        gt["skew_deg"] = 0.0
        return image, labels, gt
    deg = float(rng.uniform(*SKEW_DEG) * rng.choice([-1.0, 1.0]))
    m, (nw, nh) = turn_keeping_all((h, w), deg)
    table = tuple(float(v) for v in np.clip(rng.uniform(80, 140) + rng.uniform(-6, 6, 3), 0, 255))
    image = cv2.warpAffine(image, m[:2], (nw, nh), flags=cv2.INTER_LINEAR, borderValue=table)
    # Outside the sheet is neither paper (0) nor organ: the non-plant label.
    labels = cv2.warpAffine(labels, m[:2], (nw, nh), flags=cv2.INTER_NEAREST, borderValue=255)
    gt["organs"], labels = organs_from_labels(gt["organs"], labels)
    sc = gt.get("scale")
    if sc:
        sc["bbox"] = _box(m, sc["bbox"])
        sc["tick0"] = [round(float(v), 3) for v in map_points(m, sc["tick0"])[0]]
        sc["axis"] = [round(float(v), 6) for v in (m[:2, :2] @ np.asarray(sc["axis"], float))]
        sc["digits"] = _digits(m, sc["digits"])
    for d in gt.get("distractors", []):
        d["bbox"] = _box(m, d["bbox"])
        d["digits"] = _digits(m, d.get("digits", []))
    x1, y1, x2, y2 = gt["paper_bbox"]
    gt["paper_corners"] = map_points(m, [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]).round(3).tolist()
    gt["paper_bbox"] = _box(m, gt["paper_bbox"])
    gt["width"], gt["height"] = int(nw), int(nh)
    gt["skew_deg"] = round(deg, 3)
    return image, labels, gt


def organs_from_labels(organs: list[dict], labels: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Organ ground truth read again from the turned label map, which is the truth the turned
    image shows (pixel counts, boxes and contours exactly as for a straight sheet). An organ
    that nearest-neighbour turning left without a pixel is dropped and the map renumbered."""
    out, lut = [], np.zeros(256, np.uint8)
    lut[255] = 255
    for k, o in enumerate(organs, start=1):
        truth = mask_truth((labels == k).astype(np.uint8))
        if truth is None:
            continue
        lut[k] = len(out) + 1
        out.append({**o, **truth})
    return out, lut[labels]
