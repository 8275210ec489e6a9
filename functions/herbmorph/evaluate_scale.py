"""Scale evaluation on real sheets: a folder of images plus a ``truth.json`` of measured px/cm.

``truth.json`` maps a file name to at least ``{"px_per_cm": float}`` (the format of
``../shared/samples/real-scans/truth.json``). Every sheet is one of: within 2% of the truth,
a wrong factor (more than 2% off: the one outcome that must never happen), a null (with its
reason), or an error document.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .evaluate import WRONG_REL
from .results import ResultDocument


def sheet_row(name: str, truth: float, doc) -> dict:
    row = {"sheet": name, "truth_px_per_cm": truth, "px_per_cm": None, "rel_err_pct": None,
           "outcome": "error", "detail": "", "segment_ms": None, "scale_ms": None}
    if not isinstance(doc, ResultDocument):
        row["detail"] = f"{doc.error.kind}: {doc.error.message[:120]}"
        return row
    row["segment_ms"], row["scale_ms"] = doc.timings_ms.get("segment"), doc.timings_ms.get("scale")
    s = doc.scale
    if s.px_per_cm is None:
        row.update(outcome="null", detail=s.reason or "")
        return row
    err = s.px_per_cm / truth - 1.0
    row.update(px_per_cm=s.px_per_cm, rel_err_pct=round(100 * err, 2), detail=s.method or "",
               outcome="within 2%" if abs(err) <= WRONG_REL else "WRONG")
    return row


def evaluate_truth(pipeline, folder: Path, progress=None) -> dict:
    truth = json.loads((folder / "truth.json").read_text())
    rows = []
    for name in sorted(truth):
        m = pipeline.measure(folder / name, str(folder / name))
        rows.append(sheet_row(name, float(truth[name]["px_per_cm"]), m.doc))
        if progress:
            progress()
    count = {k: sum(r["outcome"] == k for r in rows) for k in ("within 2%", "WRONG", "null", "error")}

    def median(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return round(float(np.median(vals)), 1) if vals else None

    return {"sheets": len(rows), "within_2pct": count["within 2%"], "wrong": count["WRONG"],
            "null": count["null"], "errors": count["error"],
            "segment_ms_median": median("segment_ms"), "scale_ms_median": median("scale_ms"),
            "rows": rows}
