"""segment core: YOLO11-seg organs → class, confidence, box, polygon, pixel area.

Stages follow KServe's naming (load / preprocess / predict / postprocess); the public surface is
Cog-like: construct once (``setup``), then call :meth:`SegmentPredictor.predict` per image.
Everything returned is in original-image pixels: the letterbox of the model input is undone here.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..config import Settings
from ..models import load_yolo, model_info, resolve_device
from ..results import Organ, SegmentResult
from .classes import organ_class_map


@dataclass(frozen=True)
class Letterbox:
    """How Ultralytics mapped the original image into its (padded) model input."""

    gain: float
    pad_x: float
    pad_y: float

    @classmethod
    def fit(cls, orig_hw: tuple[int, int], input_hw: tuple[int, int]) -> "Letterbox":
        h, w = orig_hw
        ih, iw = input_hw
        gain = min(ih / h, iw / w)
        return cls(gain, (iw - round(w * gain)) / 2, (ih - round(h * gain)) / 2)


def mask_to_original(mask: np.ndarray, box: np.ndarray, lb: Letterbox, orig_hw: tuple[int, int]):
    """Resample one low-res model mask inside its box to original pixels.

    Working per box keeps memory at O(box) instead of O(image) per organ, which matters for
    100-megapixel sheets with dozens of organs. Returns (local mask, x0, y0) or None.
    """
    h, w = orig_hw
    x1, y1 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x2, y2 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    # Original pixel centres → coordinates in the model's mask grid.
    xs = (np.arange(x1, x2, dtype=np.float32) + 0.5) * lb.gain + lb.pad_x - 0.5
    ys = (np.arange(y1, y2, dtype=np.float32) + 0.5) * lb.gain + lb.pad_y - 0.5
    map_x = np.broadcast_to(xs[None, :], (y2 - y1, x2 - x1))
    map_y = np.broadcast_to(ys[:, None], (y2 - y1, x2 - x1))
    local = cv2.remap(mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    return local > 0.5, x1, y1


def mask_polygon(local: np.ndarray, x0: int, y0: int) -> list[list[float]]:
    """Outer contour of the largest component, lightly simplified, in original pixels."""
    contours, _ = cv2.findContours(local.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    c = max(contours, key=cv2.contourArea)
    eps = max(0.5, 0.002 * cv2.arcLength(c, True))
    c = cv2.approxPolyDP(c, eps, True).reshape(-1, 2)
    return [[round(float(x + x0), 1), round(float(y + y0), 1)] for x, y in c]


class SegmentPredictor:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.model = None
        self.info = None

    # -- load -------------------------------------------------------------------------------
    def setup(self) -> "SegmentPredictor":
        if self.model is None:
            self.model = load_yolo(self.settings.segment_weights, "segment")
            self.info = model_info(self.settings.segment_weights)
            # By name, never by index: a user's model may order, spell or extend its classes
            # otherwise (see segment.classes).
            self.class_map = organ_class_map(dict(self.model.names))
        return self

    # -- preprocess / predict / postprocess ---------------------------------------------------
    @staticmethod
    def preprocess(rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(rgb[..., ::-1])  # Ultralytics wants BGR arrays, like cv2

    def _infer(self, bgr: np.ndarray, imgsz: int, conf: float):
        return self.model.predict(bgr, imgsz=imgsz, conf=conf, verbose=False,
                                  device=resolve_device(self.settings.device), retina_masks=False)[0]

    def postprocess(self, res, orig_hw: tuple[int, int], imgsz: int, conf: float) -> SegmentResult:
        organs: list[Organ] = []
        if res.masks is not None and len(res.boxes):
            masks = res.masks.data.cpu().numpy()
            lb = Letterbox.fit(orig_hw, masks.shape[1:])
            boxes = res.boxes.xyxy.cpu().numpy()
            confs = res.boxes.conf.cpu().numpy()
            classes = res.boxes.cls.cpu().numpy().astype(int)
            for i in np.argsort(-confs, kind="stable"):
                organ_class = self.class_map.get(int(classes[i]))
                if organ_class is None:
                    continue  # a non-organ label of the user's model (a ruler, a barcode)
                out = mask_to_original(masks[i], boxes[i], lb, orig_hw)
                if out is None:
                    continue
                local, x0, y0 = out
                area = int(local.sum())
                polygon = mask_polygon(local, x0, y0)
                if area == 0 or len(polygon) < 3:
                    continue
                organs.append(Organ(
                    id=len(organs), class_=organ_class, confidence=round(float(confs[i]), 4),
                    bbox=[round(float(v), 1) for v in boxes[i]], polygon=polygon, area_px=float(area)))
        return SegmentResult(organs=organs, model=self.info, imgsz=imgsz, conf=conf)

    def predict(self, rgb: np.ndarray, imgsz: int | None = None, conf: float | None = None) -> SegmentResult:
        self.setup()
        imgsz = imgsz or self.settings.imgsz
        conf = self.settings.conf if conf is None else conf
        res = self._infer(self.preprocess(rgb), imgsz, conf)
        return self.postprocess(res, rgb.shape[:2], imgsz, conf)
