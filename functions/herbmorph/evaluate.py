"""Paper-style evaluation on a labelled (synthetic) set: images/<stem>.jpg + gt/<stem>.json.

Tables: per-class true vs detected counts (paper Tables 2/3), scale detection and OCR character
accuracy (Table 4), px/cm error with wrong factors against nulls, and organ area error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .boxes import box_iou
from .results import ORGAN_CLASSES, ResultDocument

WRONG_REL = 0.02  # a px/cm off by more than this is a wrong factor


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def ocr_chars(gt_digits: list[dict], read: list, tol_px: float) -> tuple[int, int]:
    """(correct characters, total characters) of the ruler numbers; a number counts as read where
    a token's centre lies within tol_px of its printed centre."""
    correct = total = 0
    for g in gt_digits:
        text = g["text"] if g["text"].isdigit() else str(g["value"])  # a bar's "5 cm": its number
        total += len(text)
        near = [d for d in read if abs(d.x - g["cx"]) <= tol_px and abs(d.y - g["cy"]) <= tol_px]
        if near:
            best = min(near, key=lambda d: (d.x - g["cx"]) ** 2 + (d.y - g["cy"]) ** 2)
            correct += max(0, len(text) - levenshtein(text, str(best.value)))
    return correct, total


MATCH_IOU = 0.5


def match_organs(truth: list[dict], found: list[tuple[str, float, list[float]]]) -> list[int | None]:
    """For each found organ ``(class, confidence, bbox)``: the index of the true organ it matches,
    or None. Highest confidence first, each takes the true organ of its class with the highest box
    IoU, at least MATCH_IOU, not already taken."""
    used: set[int] = set()
    out: list[int | None] = [None] * len(found)
    for k in sorted(range(len(found)), key=lambda k: -found[k][1]):
        cls_, _, bbox = found[k]
        best, best_iou = None, MATCH_IOU
        for i, g in enumerate(truth):
            if i in used or g["class"] != cls_:
                continue
            iou = box_iou(bbox, g["bbox"])
            if iou >= best_iou:
                best, best_iou = i, iou
        if best is not None:
            used.add(best)
            out[k] = best
    return out


@dataclass
class Tally:
    true_counts: dict = field(default_factory=lambda: {c: 0 for c in ORGAN_CLASSES})
    det_counts: dict = field(default_factory=lambda: {c: 0 for c in ORGAN_CLASSES})
    matched: dict = field(default_factory=lambda: {c: 0 for c in ORGAN_CLASSES})
    sheets: int = 0
    with_scale: int = 0
    scale_detected: int = 0
    ocr_correct: int = 0
    ocr_total: int = 0
    ppc_errors: list = field(default_factory=list)
    nulls: int = 0
    wrong: list = field(default_factory=list)
    area_px_err: dict = field(default_factory=lambda: {c: [] for c in ORGAN_CLASSES})
    area_cm2_err: dict = field(default_factory=lambda: {c: [] for c in ORGAN_CLASSES})
    failures: list = field(default_factory=list)

    def add(self, stem: str, gt: dict, doc: ResultDocument, conf: float = 0.5) -> None:
        self.sheets += 1
        for o in gt["organs"]:
            self.true_counts[o["class"]] += 1
        organs = [o for o in doc.organs if o.confidence >= conf]
        for o in organs:
            self.det_counts[o.class_] += 1
        self._match_organs(gt, organs, doc)
        sc = gt.get("scale")
        if not sc:
            return
        self.with_scale += 1
        if doc.scale.bbox is not None and box_iou(doc.scale.bbox, sc["bbox"]) >= 0.5:
            self.scale_detected += 1
            spacing = gt["px_per_cm"]
            c, t = ocr_chars(sc["digits"], doc.scale.digits, tol_px=0.4 * spacing)
            self.ocr_correct += c
            self.ocr_total += t
        if doc.scale.status == "ok":
            err = (doc.scale.px_per_cm - gt["px_per_cm"]) / gt["px_per_cm"]
            self.ppc_errors.append(abs(err))
            if abs(err) > WRONG_REL:
                self.wrong.append((stem, gt["px_per_cm"], doc.scale.px_per_cm, doc.scale.method))
        else:
            self.nulls += 1

    def _match_organs(self, gt: dict, organs, doc: ResultDocument) -> None:
        ppc = gt["px_per_cm"]
        found = [(o.class_, o.confidence, o.bbox) for o in organs]
        for o, best in zip(organs, match_organs(gt["organs"], found)):
            if best is None:
                continue
            g = gt["organs"][best]
            self.matched[o.class_] += 1
            self.area_px_err[o.class_].append(abs(o.area_px - g["area_px"]) / g["area_px"])
            if o.area_cm2 is not None:
                gt_cm2 = g["area_px"] / ppc**2
                self.area_cm2_err[o.class_].append(abs(o.area_cm2 - gt_cm2) / gt_cm2)

    def summary(self) -> dict:
        e = np.array(self.ppc_errors) if self.ppc_errors else np.array([np.nan])
        pct = lambda a, q: None if not len(a) else round(float(np.percentile(a, q)) * 100, 2)  # noqa: E731
        within = int(np.sum(e <= WRONG_REL)) if self.ppc_errors else 0
        return {
            "sheets": self.sheets,
            "organs": {c: {"true": self.true_counts[c], "detected": self.det_counts[c], "matched": self.matched[c],
                           "area_px_err_median_pct": pct(self.area_px_err[c], 50),
                           "area_cm2_err_median_pct": pct(self.area_cm2_err[c], 50)} for c in ORGAN_CLASSES},
            "scale": {
                "sheets_with_ruler": self.with_scale,
                "detected": self.scale_detected,
                "detected_share": round(self.scale_detected / max(self.with_scale, 1), 4),
                "ocr_char_accuracy": round(self.ocr_correct / max(self.ocr_total, 1), 4),
                "px_per_cm_ok": len(self.ppc_errors),
                "px_per_cm_null": self.nulls,
                "within_2pct": within,
                "within_2pct_share": round(within / max(self.with_scale, 1), 4),
                "wrong_factors": len(self.wrong),
                "wrong_examples": self.wrong[:10],
                "rel_err_median_pct": pct(self.ppc_errors, 50),
                "rel_err_p90_pct": pct(self.ppc_errors, 90),
            },
            "failures": self.failures,
        }


def evaluate(pipeline, dataset: Path, limit: int | None = None, progress=None) -> dict:
    gts = sorted((dataset / "gt").glob("*.json"))[:limit]
    tally = Tally()
    for gt_path in gts:
        gt = json.loads(gt_path.read_text())
        image = dataset / "images" / (gt_path.stem + ".jpg")
        m = pipeline.measure(image, str(image))
        if m.ok:
            tally.add(gt_path.stem, gt, m.doc, conf=pipeline.settings.conf)
        else:
            tally.failures.append((gt_path.stem, m.doc.error.kind, m.doc.error.message))
        if progress:
            progress()
    return tally.summary()
