"""Organ confidences calibrated per class: the model's raw score → the probability that the
detection is a true organ (same class, box IoU ≥ 0.5 with an organ not already taken, the rule of
:func:`herbmorph.evaluate.match_organs`).

The calibration is fitted on synthetic sheets only (``herbmorph calibrate``, :mod:`.calibrate`)
and stored beside the weights as ``<weights stem>.calibration.json``, tied to them by sha256: a
file fitted on other weights is refused (a warning, and the model runs uncalibrated), so a user's
own weights never get ours. Each class's curve is an isotonic (monotone, pool-adjacent-violators)
fit, read with linear interpolation between its steps and held flat beyond its ends, as
scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

KIND = "herbmorph/segment-calibration/1"
#: a class with fewer detections or true ones than this gets the curve of all classes pooled
MIN_DETECTIONS = 50
MIN_TRUE = 5
POOLED = "*"


def calibration_path(weights: Path) -> Path:
    """Where a weights file's calibration lives: ``models/segment.pt`` → ``models/segment.calibration.json``."""
    weights = Path(weights)
    return weights.with_name(weights.stem + ".calibration.json")


def isotonic_fit(scores, truth) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators: the non-decreasing fit of ``truth`` (0/1) on ``scores``, as
    breakpoints (x ascending, y non-decreasing): each pooled block's lowest and highest score."""
    order = np.argsort(np.asarray(scores, np.float64), kind="stable")
    x = np.asarray(scores, np.float64)[order]
    y = np.asarray(truth, np.float64)[order]
    # ties first: equal scores are one point
    ux, start = np.unique(x, return_index=True)
    sums = np.add.reduceat(y, start)
    counts = np.diff(np.append(start, len(x))).astype(np.float64)
    blocks: list[list[float]] = []  # [sum, count, x_lo, x_hi]
    for s, c, xv in zip(sums, counts, ux):
        blocks.append([s, c, xv, xv])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s2, c2, _, hi = blocks.pop()
            blocks[-1][0] += s2
            blocks[-1][1] += c2
            blocks[-1][3] = hi
    xs, ys = [], []
    for s, c, lo, hi in blocks:
        v = s / c
        xs.append(float(lo))
        ys.append(float(v))
        if hi > lo:
            xs.append(float(hi))
            ys.append(float(v))
    return xs, ys


@dataclass(frozen=True)
class Curve:
    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, raw) -> np.ndarray:
        return np.interp(np.asarray(raw, np.float64), self.x, self.y)

    def raw_for(self, p: float) -> float | None:
        """The lowest raw score calibrated to at least ``p``; None when none is."""
        x, y = np.asarray(self.x), np.asarray(self.y)
        if y[-1] < p:
            return None
        if y[0] >= p:
            return 0.0
        k = int(np.argmax(y >= p))
        return float(x[k - 1] + (p - y[k - 1]) / (y[k] - y[k - 1]) * (x[k] - x[k - 1]))


@dataclass(frozen=True)
class Calibration:
    weights_sha256: str
    curves: dict[str, Curve]  # organ class (or POOLED) → curve
    raw_floor: float  # the lowest raw score the fit saw: Ultralytics is never asked for less
    source: dict = field(default_factory=dict)

    def curve(self, organ_class: str) -> Curve | None:
        return self.curves.get(organ_class) or self.curves.get(POOLED)

    def apply(self, organ_class: str, raw) -> np.ndarray:
        c = self.curve(organ_class)
        return np.asarray(raw, np.float64) if c is None else c(raw)

    def raw_threshold(self, conf: float, classes) -> float:
        """The raw score Ultralytics must keep so that every detection calibrated to ≥ ``conf``
        reaches us: the lowest over the classes, never under the fit's floor."""
        need = [c.raw_for(conf) for c in (self.curve(k) for k in classes) if c is not None]
        need = [v for v in need if v is not None]
        return max(self.raw_floor, min(need)) if need else 1.0

    def to_dict(self) -> dict:
        return {"kind": KIND, "weights_sha256": self.weights_sha256, "raw_floor": self.raw_floor,
                "source": self.source,
                "curves": {k: {"x": [round(v, 6) for v in c.x], "y": [round(v, 6) for v in c.y]}
                           for k, c in self.curves.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        if d.get("kind") != KIND:
            raise ValueError(f"not a {KIND} document")
        curves = {k: Curve(tuple(map(float, v["x"])), tuple(map(float, v["y"]))) for k, v in d["curves"].items()}
        for k, c in curves.items():
            if not c.x or len(c.x) != len(c.y) or np.any(np.diff(c.x) < 0) or np.any(np.diff(c.y) < 0):
                raise ValueError(f"curve {k!r} is not monotone")
        return cls(str(d["weights_sha256"]), curves, float(d.get("raw_floor", 0.0)), dict(d.get("source", {})))


def fit(samples: dict[str, tuple[list[float], list[int]]], weights_sha256: str, raw_floor: float,
        source: dict | None = None) -> Calibration:
    """Per class ``(raw scores, 1 if a true organ else 0)`` → a calibration. Classes with fewer than
    MIN_DETECTIONS detections or MIN_TRUE true ones take the pooled curve (recorded in ``source``)."""
    curves, counts, pooled_for = {}, {}, []
    all_s, all_t = [], []
    for cls_, (s, t) in samples.items():
        all_s += list(s)
        all_t += list(t)
        counts[cls_] = {"detections": len(s), "true": int(np.sum(t))}
        if len(s) >= MIN_DETECTIONS and int(np.sum(t)) >= MIN_TRUE:
            curves[cls_] = Curve(*map(tuple, isotonic_fit(s, t)))
        else:
            pooled_for.append(cls_)
    if all_s:
        curves[POOLED] = Curve(*map(tuple, isotonic_fit(all_s, all_t)))
    src = dict(source or {})
    src.update(method="isotonic (pool adjacent violators)", counts=counts, pooled_for=sorted(pooled_for))
    return Calibration(weights_sha256, curves, float(raw_floor), src)


def load_for(weights: Path, weights_sha256: str) -> tuple[Calibration | None, str]:
    """The calibration beside ``weights`` when it was fitted on them, and what the result's model
    info says about it: ``<file>@<sha256 of the weights, 12>`` or ``none (<why>)``."""
    path = calibration_path(weights)
    if not path.is_file():
        return None, "none (no calibration beside the weights: raw scores)"
    try:
        cal = Calibration.from_dict(json.loads(path.read_text("utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("calibration %s unreadable (%s): organ confidences are the model's raw scores", path.name, exc)
        return None, "none (calibration unreadable: raw scores)"
    if cal.weights_sha256 != weights_sha256:
        log.warning("calibration %s was fitted on other weights (sha256 %s…, these are %s…): not applied, organ "
                    "confidences are the model's raw scores", path.name, cal.weights_sha256[:12], weights_sha256[:12])
        return None, "none (calibration fitted on other weights: raw scores)"
    return cal, f"{path.name}@{weights_sha256[:12]}"


def save(cal: Calibration, path: Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(cal.to_dict(), indent=2) + "\n", "utf-8")
    return path
