"""The fine texture of a scanned specimen, added to a training sheet at the size the model sees it.

Our renderer fills organs with smooth colour and soft veins, and the export's area downscale
smooths them further; real scans of dried plants carry fine texture (mottling, venation,
specks), sensor noise, the scanner's sharpening and JPEG compression. At the model's input size
the 19 real sheets have a median Laplacian variance of about 1000 (quartiles 880–1260), our
exported training sheets about 530 (270–940), and an organ model trained on the smooth ones
scores real plants low: blurring the real sheets raised its plant coverage at conf 0.5 from 0.27
to 0.41, which says what it learned to expect. So each training image gets, with its own
random strengths:

- organ mottling: inside the organs' masks, brightness varied by smoothed noise at 1–3 px;
- sensor noise over the whole sheet;
- an unsharp mask, as scanners and cameras apply;
- JPEG compression at a random quality.

Geometry is untouched, so the labels stay exact. The ranges were set by comparing the
distribution of that one statistic with the real sheets' (never by training on them): with them,
60 training sheets have a median of about 1060 (quartiles 520–1490). The held-out and
calibration sheets are not touched: only the training export is.
"""
from __future__ import annotations

import cv2
import numpy as np

MOTTLE = (0.04, 0.14)        # relative brightness variation inside organs
MOTTLE_SIGMAS = (0.7, 1.5, 3.0)  # px, the scales the mottling is made of
NOISE_SIGMA = (2.0, 6.0)     # grey levels, over the whole sheet
SHARPEN = (0.0, 0.8)         # unsharp-mask amount (sigma 1 px)
JPEG_QUALITY = (55, 92)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Zero-mean, unit-deviation noise made of a few spatial scales."""
    field = np.zeros(shape, np.float32)
    for s in MOTTLE_SIGMAS:
        n = rng.standard_normal(shape).astype(np.float32)
        field += cv2.GaussianBlur(n, (0, 0), s) * s  # coarser scales weigh a little more
    return field / max(float(field.std()), 1e-6)


def scan_look(img: np.ndarray, organs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The BGR sheet with scan texture, and the JPEG quality to write it at. ``organs``: a bool
    mask of the organs' pixels, same size."""
    out = img.astype(np.float32)
    if organs.any():
        gain = 1.0 + rng.uniform(*MOTTLE) * _smooth_noise(rng, organs.shape)
        out[organs] *= gain[organs][:, None]
    amount = rng.uniform(*SHARPEN)
    out = out + amount * (out - cv2.GaussianBlur(out, (0, 0), 1.0))
    sigma = rng.uniform(*NOISE_SIGMA)
    luma = rng.standard_normal(out.shape[:2]).astype(np.float32) * sigma
    chroma = rng.standard_normal(out.shape).astype(np.float32) * (0.3 * sigma)
    out += luma[..., None] + chroma
    return np.clip(out, 0, 255).astype(np.uint8), int(rng.integers(*JPEG_QUALITY, endpoint=True))


def organ_parts(organ: dict, sx: float, sy: float) -> list[np.ndarray]:
    """A ground-truth organ's polygons (N×2) scaled by (sx, sy). Contour vertices are pixel
    indices: +0.5 moves them to pixel centres before the scale."""
    return [(np.asarray(p, np.float64).reshape(-1, 2) + 0.5) * [sx, sy]
            for p in organ.get("polygons") or [organ["polygon"]]]


def organ_mask(gt: dict, sx: float, sy: float, hw: tuple[int, int]) -> np.ndarray:
    """The ground truth's organ polygons, filled, at the export's scale."""
    mask = np.zeros(hw, np.uint8)
    for o in gt.get("organs", []):
        for q in organ_parts(o, sx, sy):
            if len(q) >= 3:
                cv2.fillPoly(mask, [np.round(q).astype(np.int32)], 1)
    return mask.astype(bool)
