"""Plane geometry shared by the scale stage's frames and the generator's turned sheets: 3×3
affine matrices (pixel → pixel), the turn that keeps a whole image, and points and boxes mapped
through them."""
from __future__ import annotations

import cv2
import numpy as np


def scaling(f: float) -> np.ndarray:
    return np.diag([f, f, 1.0])


def shift(dx: float, dy: float) -> np.ndarray:
    m = np.eye(3)
    m[:2, 2] = (dx, dy)
    return m


def turn_keeping_all(shape: tuple[int, int], deg: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Rotation about the centre by ``deg`` (counter-clockwise, as cv2) onto a canvas that holds
    the whole turned image: the 3×3 matrix and the canvas (w, h)."""
    h, w = shape
    m = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0), [0, 0, 1]])
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(h * s + w * c)), int(np.ceil(h * c + w * s))
    return shift(nw / 2 - w / 2, nh / 2 - h / 2) @ m, (nw, nh)


def map_points(m: np.ndarray, pts) -> np.ndarray:
    """(N, 2) points through the affine ``m``."""
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    return p @ m[:2, :2].T + m[:2, 2]


def map_box(m: np.ndarray, box) -> list[float]:
    """The axis-aligned box around an (x1, y1, x2, y2) box's four corners mapped through ``m``."""
    x1, y1, x2, y2 = box
    q = map_points(m, [[x1, y1], [x2, y1], [x1, y2], [x2, y2]])
    return [float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())]
