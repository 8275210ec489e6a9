"""Ultralytics' segmentation predictor, stopped before it builds box-cropped masks.

Ultralytics' ``SegmentationPredictor.construct_result`` turns prototypes and coefficients into
masks cropped to each predicted box (``ops.process_mask``). We keep its preprocessing, forward
pass and NMS, and take the detections as they come out of NMS: boxes in model-input pixels,
scores, classes, mask coefficients, and the image's prototypes; :mod:`.masks` makes the masks.
The predictor class is built on first use, so importing this module does not import torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class RawDetections:
    """What NMS kept for one image, before any mask is made."""

    boxes: np.ndarray  # (N, 4) xyxy in model-input pixels
    scores: np.ndarray  # (N,) the model's own scores
    classes: np.ndarray  # (N,) model class indices
    coeffs: np.ndarray  # (N, C) mask coefficients
    protos: np.ndarray  # (C, mh, mw) prototype masks (logit space)
    input_hw: tuple[int, int]  # the letterboxed model input

    def __len__(self) -> int:
        return len(self.scores)


@lru_cache(maxsize=1)
def raw_predictor_class():
    from ultralytics.engine.results import Results
    from ultralytics.models.yolo.segment import SegmentationPredictor

    class RawSegmentationPredictor(SegmentationPredictor):
        def construct_result(self, pred, img, orig_img, img_path, proto):
            res = Results(orig_img, path=img_path, names=self.model.names)
            p = pred.detach().float().cpu().numpy()
            res.herbmorph_raw = RawDetections(
                boxes=p[:, :4].copy(), scores=p[:, 4].copy(), classes=p[:, 5].astype(int), coeffs=p[:, 6:].copy(),
                protos=proto.detach().float().cpu().numpy(), input_hw=tuple(int(v) for v in img.shape[2:]))
            return res

    return RawSegmentationPredictor


def predict_raw(model, bgr: np.ndarray, imgsz: int, conf: float, device) -> RawDetections:
    """One image through Ultralytics (letterbox, forward, NMS at ``conf``), masks not yet made."""
    res = model.predict(bgr, imgsz=imgsz, conf=conf, verbose=False, device=device, retina_masks=False,
                        predictor=raw_predictor_class())[0]
    return res.herbmorph_raw
